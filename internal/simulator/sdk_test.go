package simulator_test

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/realtime"

	"github.com/rtgate/rtgate/internal/simulator"
)

// These tests check the simulator against a client nobody here wrote: OpenAI's
// official Go SDK must decode its answers into the SDK's typed results and errors.

const sdkKey = "sk-sdk-0123456789abcdefghijklmnopqrstuvwxyz"

func sdkSetup(t *testing.T, opts ...option.RequestOption) (*simulator.Simulator, openai.Client, time.Time) {
	t.Helper()
	now := time.Date(2026, 8, 27, 12, 0, 0, 0, time.UTC)
	sim := simulator.New(simulator.Options{APIKeys: []string{sdkKey}, Now: func() time.Time { return now }})
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	base := []option.RequestOption{
		option.WithBaseURL(srv.URL + "/v1/"),
		option.WithAPIKey(sdkKey),
		option.WithMaxRetries(0),
	}
	return sim, openai.NewClient(append(base, opts...)...), now
}

func TestSDKDecodesRealtimeClientSecret(t *testing.T) {
	sim, client, now := sdkSetup(t)
	res, err := client.Realtime.ClientSecrets.New(t.Context(), realtime.ClientSecretNewParams{
		ExpiresAfter: realtime.ClientSecretNewParamsExpiresAfter{Anchor: "created_at", Seconds: openai.Int(60)},
		Session: realtime.ClientSecretNewParamsSessionUnion{OfRealtime: &realtime.RealtimeSessionCreateRequestParam{
			Model:        "gpt-realtime",
			Instructions: openai.String("Be brief."),
			Audio: realtime.RealtimeAudioConfigParam{Output: realtime.RealtimeAudioConfigOutputParam{
				Voice: realtime.RealtimeAudioConfigOutputVoiceUnionParam{OfString: openai.String("marin")},
			}},
		}},
	})
	if err != nil {
		t.Fatalf("ClientSecrets.New: %v", err)
	}
	if !strings.HasPrefix(res.Value, "ek_") || !sim.ValidSecret(res.Value) {
		t.Errorf("Value = %q (valid %v)", res.Value, sim.ValidSecret(res.Value))
	}
	if res.ExpiresAt != now.Unix()+60 {
		t.Errorf("ExpiresAt = %d, want %d", res.ExpiresAt, now.Unix()+60)
	}
	if !res.JSON.Value.Valid() || !res.JSON.ExpiresAt.Valid() || !res.JSON.Session.Valid() {
		t.Error("required fields not reported as present by the SDK")
	}
	if !strings.HasPrefix(res.Session.ID, "sess_") || res.Session.Type != "realtime" || res.Session.Object != "realtime.session" {
		t.Errorf("session id/type/object = %q/%q/%q", res.Session.ID, res.Session.Type, res.Session.Object)
	}
	rt, ok := res.Session.AsAny().(realtime.RealtimeSessionCreateResponse)
	if !ok {
		t.Fatalf("AsAny() = %T, want RealtimeSessionCreateResponse", res.Session.AsAny())
	}
	if rt.Model != "gpt-realtime" || rt.Instructions != "Be brief." || rt.Audio.Output.Voice != "marin" || rt.Audio.Output.Speed != 1 {
		t.Errorf("model/instructions/voice/speed = %q/%q/%q/%v", rt.Model, rt.Instructions, rt.Audio.Output.Voice, rt.Audio.Output.Speed)
	}
	if rt.Audio.Input.Format.Type != "audio/pcm" || rt.Audio.Input.Format.Rate != 24000 {
		t.Errorf("input format = %+v", rt.Audio.Input.Format)
	}
	if rt.Audio.Input.TurnDetection.Type != "server_vad" {
		t.Errorf("turn detection = %q", rt.Audio.Input.TurnDetection.Type)
	}
	if rt.MaxOutputTokens.AsInf() != "inf" || len(rt.OutputModalities) != 1 || rt.OutputModalities[0] != "audio" {
		t.Errorf("max_output_tokens/output_modalities = %s/%v", rt.MaxOutputTokens.RawJSON(), rt.OutputModalities)
	}
	if id := res.Session.ID; sim.Minted()[0] != res.Value || id == "" {
		t.Error("Minted() does not hold the SDK's secret")
	}
}

func TestSDKDecodesTranscriptionClientSecret(t *testing.T) {
	_, client, _ := sdkSetup(t)
	res, err := client.Realtime.ClientSecrets.New(t.Context(), realtime.ClientSecretNewParams{
		Session: realtime.ClientSecretNewParamsSessionUnion{OfTranscription: &realtime.RealtimeTranscriptionSessionCreateRequestParam{
			Audio: realtime.RealtimeTranscriptionSessionAudioParam{Input: realtime.RealtimeTranscriptionSessionAudioInputParam{
				Transcription: realtime.AudioTranscriptionParam{Model: "gpt-4o-transcribe"},
			}},
		}},
	})
	if err != nil {
		t.Fatalf("ClientSecrets.New: %v", err)
	}
	tr, ok := res.Session.AsAny().(realtime.RealtimeTranscriptionSessionCreateResponse)
	if !ok {
		t.Fatalf("AsAny() = %T", res.Session.AsAny())
	}
	if tr.Object != "realtime.transcription_session" || tr.Audio.Input.Transcription.Model != "gpt-4o-transcribe" {
		t.Errorf("object/model = %q/%q", tr.Object, tr.Audio.Input.Transcription.Model)
	}
}

func TestSDKSurfacesTypedErrors(t *testing.T) {
	tests := []struct {
		name   string
		key    string
		fault  simulator.Fault
		status int
		code   string
		typ    string
		param  string
	}{
		{name: "bad key is a typed 401 invalid_api_key", key: "sk-wrong-0123456789abcdefghijklmnop",
			status: 401, code: "invalid_api_key", typ: "invalid_request_error"},
		{name: "rate limit is a typed 429", fault: simulator.Fault{Kind: simulator.FaultRateLimited, RetryAfter: 2 * time.Second},
			status: 429, code: "rate_limit_exceeded", typ: "requests"},
		{name: "outage is a typed 500", fault: simulator.Fault{Kind: simulator.FaultServerError},
			status: 500, typ: "server_error"},
		{name: "overload is a typed 503", fault: simulator.Fault{Kind: simulator.FaultOverloaded},
			status: 503, code: "server_is_overloaded", typ: "service_unavailable_error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var opts []option.RequestOption
			if tt.key != "" {
				opts = append(opts, option.WithAPIKey(tt.key))
			}
			sim, client, _ := sdkSetup(t, opts...)
			sim.SetFault(tt.fault)
			_, err := client.Realtime.ClientSecrets.New(t.Context(), realtime.ClientSecretNewParams{})
			var apiErr *openai.Error
			if !errors.As(err, &apiErr) {
				t.Fatalf("err = %v (%T), want *openai.Error", err, err)
			}
			if apiErr.StatusCode != tt.status || apiErr.Code != tt.code || apiErr.Type != tt.typ {
				t.Errorf("status/code/type = %d/%q/%q, want %d/%q/%q", apiErr.StatusCode, apiErr.Code, apiErr.Type, tt.status, tt.code, tt.typ)
			}
			if apiErr.Message == "" || !apiErr.JSON.Message.Valid() {
				t.Error("error message not decoded")
			}
			if strings.Contains(apiErr.Message, tt.key) && tt.key != "" {
				t.Error("401 message echoes the key unmasked")
			}
			if tt.status == 429 && apiErr.Response.Header.Get("Retry-After") != "2" {
				t.Errorf("Retry-After = %q", apiErr.Response.Header.Get("Retry-After"))
			}
			if sim.Requests() != 1 {
				t.Errorf("SDK sent %d requests with retries off", sim.Requests())
			}
		})
	}
}

func TestSDKRetriesAServerErrorAndSucceeds(t *testing.T) {
	sim, client, _ := sdkSetup(t, option.WithMaxRetries(1))
	sim.SetFault(simulator.Fault{Kind: simulator.FaultServerError, Count: 1})
	res, err := client.Realtime.ClientSecrets.New(t.Context(), realtime.ClientSecretNewParams{})
	if err != nil {
		t.Fatalf("ClientSecrets.New: %v", err)
	}
	if !sim.ValidSecret(res.Value) || sim.Requests() != 2 {
		t.Errorf("valid=%v requests=%d, want a valid secret after 2 requests", sim.ValidSecret(res.Value), sim.Requests())
	}
}

func TestSDKCreatesAndHangsUpCalls(t *testing.T) {
	sim, client, _ := sdkSetup(t)
	const offer = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:0\r\n"
	res, err := client.Realtime.Calls.New(t.Context(), realtime.CallNewParams{
		Sdp: offer,
		Session: realtime.RealtimeSessionCreateRequestParam{
			Model: "gpt-realtime",
		},
	})
	if err != nil {
		t.Fatalf("Calls.New: %v", err)
	}
	defer res.Body.Close()
	answer, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusCreated || !strings.HasPrefix(string(answer), "v=0") {
		t.Fatalf("status %d, answer %q", res.StatusCode, answer)
	}
	loc := res.Header.Get("Location")
	callID := loc[strings.LastIndex(loc, "/")+1:]
	if got := sim.Calls(); len(got) != 1 || got[0] != callID {
		t.Fatalf("Calls() = %v, Location %q", got, loc)
	}
	if !strings.Contains(string(sim.LastRequest().Body), `"model":"gpt-realtime"`) {
		t.Errorf("SDK session part not seen: %s", sim.LastRequest().Body)
	}
	if err := client.Realtime.Calls.Hangup(t.Context(), callID); err != nil {
		t.Fatalf("Calls.Hangup: %v", err)
	}
	if len(sim.Calls()) != 0 {
		t.Error("call still live after SDK hangup")
	}
	err = client.Realtime.Calls.Hangup(t.Context(), callID)
	var apiErr *openai.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 404 || apiErr.Code != "call_id_not_found" {
		t.Errorf("second hangup err = %v", err)
	}
}
