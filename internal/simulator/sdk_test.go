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
	"github.com/openai/openai-go/v3/live"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/packages/param"
	"github.com/openai/openai-go/v3/realtime"
	"github.com/openai/openai-go/v3/responses"

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

// sdkOffer is a syntactically valid offer for the canned answerer.
const sdkOffer = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:0\r\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\na=mid:1\r\n"

func TestSDKCreatesLiveSessionsAndSurfacesLiveErrors(t *testing.T) {
	sim, client, now := sdkSetup(t)
	t.Cleanup(sim.Close)
	res, err := client.Live.New(t.Context(), live.LiveNewParams{
		Session: live.MediaSessionConfigParam{
			Model:        live.MediaSessionConfigModelGPTLive1,
			Instructions: openai.String("Be kind."),
			Audio: live.MediaSessionConfigAudioParam{Output: live.MediaSessionConfigAudioOutputParam{
				Voice: live.MediaSessionConfigAudioOutputVoiceUnionParam{OfBuiltIn: param.NewOpt(live.BuiltInVoiceCedar)},
			}},
			Delegation: live.MediaSessionConfigDelegationUnionParam{OfResponses: &live.MediaSessionConfigDelegationResponsesParam{
				Responses: live.ResponsesDelegationConfigParam{Model: "gpt-5", MaxOutputTokens: openai.Int(400)},
			}},
		},
		Transport: live.LiveNewParamsTransport{Sdp: sdkOffer},
	})
	if err != nil {
		t.Fatalf("Live.New: %v", err)
	}
	if !strings.HasPrefix(res.Session.ID, "live_") || res.Transport.Type != "webrtc" || !strings.HasPrefix(res.Transport.Sdp, "v=0") ||
		!res.JSON.Session.Valid() || !res.JSON.Transport.Valid() {
		t.Fatalf("LiveNewResponse = %+v", res)
	}
	got, ok := sim.LookupLive(res.Session.ID)
	if !ok {
		t.Fatal("session not found")
	}
	var sess live.SessionResource
	if err := sess.UnmarshalJSON(got.Session); err != nil {
		t.Fatal(err)
	}
	if sess.ID != res.Session.ID || sess.Model != "gpt-live-1" || sess.Instructions != "Be kind." || sess.Audio.Output.Voice.OfString != "cedar" ||
		sess.ExpiresAt != now.Add(time.Hour).Unix() || sess.Delegation.Type != "responses" || sess.Delegation.AsSessionResourceDelegationResponses().Responses.MaxOutputTokens != 400 {
		t.Errorf("SessionResource = %+v", sess)
	}

	_, err = client.Live.New(t.Context(), live.LiveNewParams{
		Session:   live.MediaSessionConfigParam{Model: "gpt-live-1"},
		Transport: live.LiveNewParamsTransport{Sdp: sdkOffer},
	}, option.WithJSONSet("session.voice", "marin"))
	var apiErr *openai.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 400 || apiErr.Code != "unknown_parameter" || apiErr.Param != "session.voice" {
		t.Fatalf("unknown parameter: %v", err)
	}
	// The SDK drops a transport whose sdp is empty; send one without sdp.
	_, err = client.Live.New(t.Context(), live.LiveNewParams{Session: live.MediaSessionConfigParam{Model: "gpt-live-1"}},
		option.WithJSONSet("transport", map[string]string{"type": "webrtc"}))
	if !errors.As(err, &apiErr) || apiErr.Code != "invalid_value" || apiErr.Param != "transport.sdp" || apiErr.Message != "An SDP offer is required." {
		t.Fatalf("missing sdp: %v", err)
	}
}

// TestSDKLiveSideband: openai-go's Live sideband client attaches, receives
// the browser's events and typed usage, sends session.update and
// session.close, and sees the session end.
func TestSDKLiveSideband(t *testing.T) {
	sim, client, _ := sdkSetup(t)
	t.Cleanup(sim.Close)
	res, err := client.Live.New(t.Context(), live.LiveNewParams{
		Session:   live.MediaSessionConfigParam{Model: "gpt-live-1.1"},
		Transport: live.LiveNewParamsTransport{Sdp: sdkOffer},
	})
	if err != nil {
		t.Fatal(err)
	}
	id := res.Session.ID
	if _, err := client.Live.Sideband.Connect(t.Context(), "live_nope", live.SidebandConnectionOptions{}); err == nil || !strings.Contains(err.Error(), "404") {
		t.Fatalf("unknown session: %v", err)
	}
	sb, err := client.Live.Sideband.Connect(t.Context(), id, live.SidebandConnectionOptions{}, option.WithQuery("graceful_close", "false"))
	if err != nil {
		t.Fatalf("Sideband.Connect: %v", err)
	}
	defer sb.Abort()
	recv := func(typ string) live.ConnectServerEventUnion {
		t.Helper()
		ev, err := sb.Recv(t.Context())
		if err != nil || ev.Type != typ {
			t.Fatalf("Recv = %q, %v; want %s", ev.Type, err, typ)
		}
		return ev
	}

	// The browser (played through ClientEvent) is refused an immutable change;
	// the sideband sees the error.
	if err := sim.ClientEvent(id, []byte(`{"type":"session.update","event_id":"b1","session":{"instructions":"x"}}`)); err != nil {
		t.Fatal(err)
	}
	if e := recv("error").AsErrorEvent(); e.Error.Code != "unknown_parameter" || e.Error.Param != "session.instructions" || e.Error.ClientEventID != "b1" {
		t.Fatalf("error event = %+v", e)
	}
	if total, err := sim.AdvanceLiveUsage(id, 90.5); err != nil || total != 90.5 {
		t.Fatal(total, err)
	}
	if u := recv("session.usage.updated").AsSessionUsageUpdatedEvent(); u.Usage.Seconds != 90.5 {
		t.Fatalf("usage = %+v", u.Usage)
	}
	update := live.ConnectClientEventParamOfSessionUpdate(live.SessionUpdateConfigParam{
		Delegation: live.SessionUpdateConfigDelegationUnionParam{OfClient: &live.ClientDelegationParam{AcknowledgementDelayMs: openai.Int(300)}},
	})
	update.OfSessionUpdate.EventID = openai.String("s1")
	if err := sb.Send(t.Context(), update); err != nil {
		t.Fatal(err)
	}
	if u := recv("session.updated").AsSessionUpdatedEvent(); u.Session.Delegation.AcknowledgementDelayMs != 300 || u.ClientEventID != "s1" {
		t.Fatalf("session.updated = %+v", u)
	}
	if err := sb.Send(t.Context(), live.ConnectClientEventUnionParam{OfSessionClose: &live.SessionCloseEventParam{}}); err != nil {
		t.Fatal(err)
	}
	closed := recv("session.closed").AsSessionClosedEvent()
	if closed.Reason != "close_requested" || closed.Usage.Seconds != 90.5 || closed.Session.ID != id || closed.Session.Status != "active" {
		t.Fatalf("session.closed = %+v", closed)
	}
	if _, err := sb.Recv(t.Context()); err == nil {
		t.Fatal("the sideband stayed open after session.closed")
	}
	if err := client.Live.Sessions.Hangup(t.Context(), id); err == nil {
		t.Fatal("hangup of a closed session succeeded")
	}
}

func TestSDKLiveHangup(t *testing.T) {
	sim, client, _ := sdkSetup(t)
	t.Cleanup(sim.Close)
	res, err := client.Live.New(t.Context(), live.LiveNewParams{
		Session: live.MediaSessionConfigParam{Model: "gpt-live-1"}, Transport: live.LiveNewParamsTransport{Sdp: sdkOffer}})
	if err != nil {
		t.Fatal(err)
	}
	sb, err := client.Live.Sideband.Connect(t.Context(), res.Session.ID, live.SidebandConnectionOptions{}, option.WithQuery("graceful_close", "false"))
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Abort()
	if err := client.Live.Sessions.Hangup(t.Context(), res.Session.ID); err != nil {
		t.Fatalf("Sessions.Hangup: %v", err)
	}
	ev, err := sb.Recv(t.Context())
	if err != nil || ev.AsSessionClosedEvent().Reason != "close_requested" {
		t.Fatalf("after hangup: %q %v", ev.Type, err)
	}
}

// TestSDKRealtimeSideband: openai-go's Realtime client with call_id is the
// sideband: it sees the browser's session.update, decodes response.done
// usage into its types, sends session.update, and ends with the hang-up.
func TestSDKRealtimeSideband(t *testing.T) {
	sim, client, _ := sdkSetup(t)
	t.Cleanup(sim.Close)
	call, err := client.Realtime.Calls.New(t.Context(), realtime.CallNewParams{Sdp: sdkOffer,
		Session: realtime.RealtimeSessionCreateRequestParam{Model: "gpt-realtime-2.1", Instructions: openai.String("Server rules.")}})
	if err != nil {
		t.Fatal(err)
	}
	call.Body.Close()
	loc := call.Header.Get("Location")
	id := loc[strings.LastIndex(loc, "/")+1:]
	if _, err := client.Realtime.Connect(t.Context(), realtime.RealtimeConnectionOptions{}, option.WithQuery("call_id", "rtc_nope")); err == nil || !strings.Contains(err.Error(), "404") {
		t.Fatalf("unknown call: %v", err)
	}
	sb, err := client.Realtime.Connect(t.Context(), realtime.RealtimeConnectionOptions{}, option.WithQuery("call_id", id))
	if err != nil {
		t.Fatalf("Realtime.Connect: %v", err)
	}
	defer sb.Abort()

	if err := sim.ClientEvent(id, []byte(`{"type":"session.update","session":{"type":"realtime","instructions":"Browser rules.","tool_choice":"required"}}`)); err != nil {
		t.Fatal(err)
	}
	ev, err := sb.Recv(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	upd := ev.AsSessionUpdatedEvent().Session.AsRealtimeSessionCreateRequest()
	if ev.Type != "session.updated" || upd.Instructions != "Browser rules." || upd.ToolChoice.OfToolChoiceMode != "required" || upd.Model != "gpt-realtime-2.1" {
		t.Fatalf("session.updated = %s", ev.RawJSON())
	}
	// The server puts its own instructions back.
	back := realtime.RealtimeClientEventUnionParam{OfSessionUpdate: &realtime.SessionUpdateEventParam{
		Session: realtime.SessionUpdateEventSessionUnionParam{OfRealtime: &realtime.RealtimeSessionCreateRequestParam{
			Instructions: openai.String("Server rules."), ToolChoice: realtime.RealtimeToolChoiceConfigUnionParam{OfToolChoiceMode: param.NewOpt(responses.ToolChoiceOptionsAuto)}}}}}
	if err := sb.Send(t.Context(), back); err != nil {
		t.Fatal(err)
	}
	if ev, err := sb.Recv(t.Context()); err != nil || ev.AsSessionUpdatedEvent().Session.AsRealtimeSessionCreateRequest().Instructions != "Server rules." {
		t.Fatalf("revert: %s %v", ev.RawJSON(), err)
	}

	usage := simulator.Usage{InputTokenDetails: simulator.InputTokenDetails{TextTokens: 1200, AudioTokens: 3000, ImageTokens: 10,
		CachedTokensDetails: simulator.CachedDetails{TextTokens: 1000, AudioTokens: 2000}},
		OutputTokenDetails: simulator.OutputTokenDetails{TextTokens: 80, AudioTokens: 1500}}
	if _, err := sim.EmitResponse(id, usage); err != nil {
		t.Fatal(err)
	}
	for {
		ev, err := sb.Recv(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if ev.Type != "response.done" {
			continue
		}
		u := ev.AsResponseDoneEvent().Response.Usage
		d := u.InputTokenDetails
		if u.InputTokens != 4210 || u.OutputTokens != 1580 || u.TotalTokens != 5790 || d.TextTokens != 1200 || d.AudioTokens != 3000 ||
			d.ImageTokens != 10 || d.CachedTokens != 3000 || d.CachedTokensDetails.TextTokens != 1000 || d.CachedTokensDetails.AudioTokens != 2000 ||
			u.OutputTokenDetails.TextTokens != 80 || u.OutputTokenDetails.AudioTokens != 1500 || ev.AsResponseDoneEvent().Response.Status != "completed" {
			t.Fatalf("typed usage = %+v", u)
		}
		break
	}
	if err := client.Realtime.Calls.Hangup(t.Context(), id); err != nil {
		t.Fatal(err)
	}
	if _, err := sb.Recv(t.Context()); err == nil {
		t.Fatal("the sideband stayed open after the hang-up")
	}
}

// TestSDKAgainstAzureMode: openai-go pointed at the Azure v1 base URL with
// the api-key header (the azure package's option targets the dated
// /openai/…?api-version= paths, not the v1 API, so it does not fit) mints with
// a deployment name, creates a call with the ek_ and hangs it up.
func TestSDKAgainstAzureMode(t *testing.T) {
	sim := simulator.New(simulator.Options{APIKeys: []string{sdkKey}, Azure: true, Deployments: []string{"my-realtime"}})
	t.Cleanup(sim.Close)
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	client := openai.NewClient(option.WithBaseURL(srv.URL+"/openai/v1/"), option.WithAPIKey(""), option.WithHeader("api-key", sdkKey), option.WithMaxRetries(0))
	secret, err := client.Realtime.ClientSecrets.New(t.Context(), realtime.ClientSecretNewParams{
		Session: realtime.ClientSecretNewParamsSessionUnion{OfRealtime: &realtime.RealtimeSessionCreateRequestParam{Model: "my-realtime"}}})
	if err != nil {
		t.Fatalf("ClientSecrets.New: %v", err)
	}
	if !strings.HasPrefix(secret.Value, "ek_") || secret.Session.AsAny().(realtime.RealtimeSessionCreateResponse).Model != "my-realtime" {
		t.Fatalf("secret = %+v", secret)
	}
	_, err = client.Realtime.ClientSecrets.New(t.Context(), realtime.ClientSecretNewParams{
		Session: realtime.ClientSecretNewParamsSessionUnion{OfRealtime: &realtime.RealtimeSessionCreateRequestParam{Model: "gpt-realtime"}}})
	var apiErr *openai.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 404 || apiErr.Code != "DeploymentNotFound" {
		t.Fatalf("unknown deployment: %v", err)
	}
	call, err := client.Realtime.Calls.New(t.Context(), realtime.CallNewParams{Sdp: sdkOffer},
		option.WithHeaderDel("api-key"), option.WithHeader("Authorization", "Bearer "+secret.Value))
	if err != nil {
		t.Fatalf("Calls.New with the ek_: %v", err)
	}
	call.Body.Close()
	loc := call.Header.Get("Location")
	if err := client.Realtime.Calls.Hangup(t.Context(), loc[strings.LastIndex(loc, "/")+1:]); err != nil {
		t.Fatalf("Calls.Hangup: %v", err)
	}
}
