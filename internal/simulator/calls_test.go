package simulator

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"strings"
	"sync"
	"testing"
	"time"
)

// offer is a browser-like SDP offer: audio plus the oai-events data channel.
const offer = "v=0\r\n" +
	"o=- 4611731400430051336 2 IN IP4 127.0.0.1\r\n" +
	"s=-\r\n" +
	"t=0 0\r\n" +
	"a=group:BUNDLE 0 1\r\n" +
	"m=audio 9 UDP/TLS/RTP/SAVPF 111 0 8\r\n" +
	"c=IN IP4 0.0.0.0\r\n" +
	"a=mid:0\r\n" +
	"a=sendrecv\r\n" +
	"a=rtpmap:111 opus/48000/2\r\n" +
	"m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n" +
	"c=IN IP4 0.0.0.0\r\n" +
	"a=mid:1\r\n" +
	"a=sctp-port:5000\r\n"

// form builds a multipart body; fields are name, content type, value triples.
func form(t *testing.T, fields ...[3]string) (string, string) {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for _, f := range fields {
		h := textproto.MIMEHeader{}
		h.Set("Content-Disposition", `form-data; name="`+f[0]+`"`)
		if f[1] != "" {
			h.Set("Content-Type", f[1])
		}
		pw, err := mw.CreatePart(h)
		if err != nil {
			t.Fatal(err)
		}
		pw.Write([]byte(f[2]))
	}
	mw.Close()
	return buf.String(), mw.FormDataContentType()
}

func sdpPart(v string) [3]string     { return [3]string{"sdp", "application/sdp", v} }
func sessionPart(v string) [3]string { return [3]string{"session", "application/json", v} }

func TestCreateCallAnswersSDPOffers(t *testing.T) {
	bare, bareCT := form(t, sdpPart(offer), sessionPart(`{"type":"realtime","model":"gpt-realtime-2.1","audio":{"output":{"voice":"marin"}}}`))
	wrapped, wrappedCT := form(t, sdpPart(offer), sessionPart(`{"session":{"type":"realtime","model":"gpt-realtime-1.5","instructions":"hi"}}`))
	noSession, noSessionCT := form(t, sdpPart(offer))
	tests := []struct {
		name      string
		ephemeral bool
		ct, body  string
		model     string
		ephFlag   bool
	}{
		{name: "browser: ephemeral secret with application/sdp uses the secret's session", ephemeral: true,
			ct: "application/sdp", body: offer, model: "gpt-realtime-mini", ephFlag: true},
		{name: "server: standard key with multipart and a bare session", ct: bareCT, body: bare, model: "gpt-realtime-2.1"},
		{name: "server: standard key with multipart and a wrapped session", ct: wrappedCT, body: wrapped, model: "gpt-realtime-1.5"},
		{name: "server: multipart without session gets defaults", ct: noSessionCT, body: noSession, model: "gpt-realtime"},
		{name: "standard key with application/sdp gets defaults", ct: "application/sdp", body: offer, model: "gpt-realtime"},
		{name: "ephemeral secret with multipart", ephemeral: true, ct: bareCT, body: bare, model: "gpt-realtime-2.1", ephFlag: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			hdr := map[string]string{"Content-Type": tt.ct, "OpenAI-Safety-Identifier": "hdr-user"}
			wantSafety := "hdr-user"
			if tt.ephemeral {
				res := e.do(t, http.MethodPost, "/v1/realtime/client_secrets", map[string]string{"OpenAI-Safety-Identifier": "minted-user"},
					`{"session":{"type":"realtime","model":"gpt-realtime-mini"}}`)
				hdr["Authorization"] = "Bearer " + res.json(t)["value"].(string)
				wantSafety = "minted-user"
			}
			res := e.do(t, http.MethodPost, "/v1/realtime/calls", hdr, tt.body)
			if res.status != http.StatusCreated {
				t.Fatalf("status %d: %s", res.status, res.body)
			}
			assertOpenAIHeaders(t, res.header)
			if ct := res.header.Get("Content-Type"); ct != "application/sdp" {
				t.Errorf("Content-Type = %q", ct)
			}
			m := callLocation.FindStringSubmatch(res.header.Get("Location"))
			if m == nil {
				t.Fatalf("Location = %q", res.header.Get("Location"))
			}
			answer := string(res.body)
			for _, want := range []string{"v=0\r\n", "a=group:BUNDLE 0 1\r\n", "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\n",
				"m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n", "a=mid:0\r\n", "a=mid:1\r\n", "a=setup:active\r\n", "a=fingerprint:sha-256 "} {
				if !strings.Contains(answer, want) {
					t.Errorf("answer lacks %q:\n%s", want, answer)
				}
			}
			if checkOffer(answer) != nil {
				t.Error("answer does not itself look like SDP")
			}
			if got := e.sim.Calls(); len(got) != 1 || got[0] != m[1] {
				t.Errorf("Calls() = %v, want [%s]", got, m[1])
			}
			call, ok := e.sim.LookupCall(m[1])
			if !ok {
				t.Fatal("LookupCall failed")
			}
			var sess map[string]any
			if err := json.Unmarshal(call.Session, &sess); err != nil {
				t.Fatal(err)
			}
			if sess["model"] != tt.model || sess["type"] != "realtime" {
				t.Errorf("call session model/type = %v/%v, want %s", sess["model"], sess["type"], tt.model)
			}
			if call.Ephemeral != tt.ephFlag || call.SafetyIdentifier != wantSafety {
				t.Errorf("call = %+v", call)
			}
		})
	}
}

func TestCreateCallRejectsBadRequests(t *testing.T) {
	unknown, unknownCT := form(t, sdpPart(offer), [3]string{"model", "", "gpt-realtime"})
	noSDP, noSDPCT := form(t, sessionPart(`{"type":"realtime"}`))
	untyped, untypedCT := form(t, sdpPart(offer), sessionPart(`{"model":"gpt-realtime"}`))
	transcription, transcriptionCT := form(t, sdpPart(offer), sessionPart(`{"type":"transcription"}`))
	badVoice, badVoiceCT := form(t, sdpPart(offer), sessionPart(`{"session":{"type":"realtime","audio":{"output":{"voice":"robot"}}}}`))
	notJSON, notJSONCT := form(t, sdpPart(offer), sessionPart(`type=realtime`))
	tests := []struct {
		name        string
		auth        string // "std", "none", "wrong", "expired", "unknown-ek"
		ct, body    string
		status      int
		code, param string
	}{
		{name: "no key", auth: "none", ct: "application/sdp", body: offer, status: 401},
		{name: "wrong standard key", auth: "wrong", ct: "application/sdp", body: offer, status: 401, code: "invalid_api_key"},
		{name: "expired ephemeral secret", auth: "expired", ct: "application/sdp", body: offer, status: 401, code: "invalid_api_key"},
		{name: "ephemeral secret never issued", auth: "unknown-ek", ct: "application/sdp", body: offer, status: 401, code: "invalid_api_key"},
		{name: "JSON is not an accepted content type", auth: "std", ct: "application/json", body: `{"sdp":"v=0"}`,
			status: 400, code: "unsupported_content_type"},
		{name: "empty offer", auth: "std", ct: "application/sdp", body: "", status: 400, code: "invalid_offer", param: "sdp"},
		{name: "offer not starting with v=0", auth: "std", ct: "application/sdp", body: "hello\r\nm=audio 9 RTP 0\r\n", status: 400, code: "invalid_offer", param: "sdp"},
		{name: "offer without media", auth: "std", ct: "application/sdp", body: "v=0\r\ns=-\r\n", status: 400, code: "invalid_offer", param: "sdp"},
		{name: "multipart unknown field", auth: "std", ct: unknownCT, body: unknown, status: 400, code: "unknown_parameter", param: "model"},
		{name: "multipart without sdp", auth: "std", ct: noSDPCT, body: noSDP, status: 400, code: "missing_required_parameter", param: "sdp"},
		{name: "multipart session without type", auth: "std", ct: untypedCT, body: untyped, status: 400, code: "missing_required_parameter", param: "session.type"},
		{name: "multipart session must be realtime", auth: "std", ct: transcriptionCT, body: transcription, status: 400, code: "invalid_value", param: "session.type"},
		{name: "wrapped session is validated", auth: "std", ct: badVoiceCT, body: badVoice, status: 400, code: "invalid_value", param: "session.audio.output.voice"},
		{name: "session part must be JSON", auth: "std", ct: notJSONCT, body: notJSON, status: 400, code: "invalid_value", param: "session"},
		{name: "multipart without boundary", auth: "std", ct: "multipart/form-data", body: "x", status: 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			hdr := map[string]string{"Content-Type": tt.ct}
			switch tt.auth {
			case "none":
				hdr["Authorization"] = ""
			case "wrong":
				hdr["Authorization"] = "Bearer sk-wrong-0123456789abcdefghij"
			case "unknown-ek":
				hdr["Authorization"] = "Bearer ek_" + strings.Repeat("a", 32)
			case "expired":
				v := e.mint(t, `{"expires_after":{"seconds":10}}`)["value"].(string)
				e.clock.Advance(10 * time.Second)
				hdr["Authorization"] = "Bearer " + v
			}
			res := e.do(t, http.MethodPost, "/v1/realtime/calls", hdr, tt.body)
			wantError(t, res, tt.status, "invalid_request_error", tt.code, tt.param)
			if len(e.sim.Calls()) != 0 {
				t.Errorf("a rejected call was recorded: %v", e.sim.Calls())
			}
		})
	}
}

// recordingAnswerer is a test Answerer that records what it is given.
type recordingAnswerer struct {
	mu      sync.Mutex
	offers  []string
	ids     []string
	kinds   []Kind
	hungUp  []string
	answer  string
	err     error
	ctxLive bool
}

func (a *recordingAnswerer) Answer(ctx context.Context, offer string, link *Link) (string, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.offers = append(a.offers, offer)
	a.ids = append(a.ids, link.ID())
	a.kinds = append(a.kinds, link.Kind())
	a.ctxLive = ctx.Err() == nil
	return a.answer, a.err
}

func (a *recordingAnswerer) Hangup(id string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.hungUp = append(a.hungUp, id)
}

func TestCustomAnswererIsPluggedIn(t *testing.T) {
	ans := &recordingAnswerer{answer: "v=0\r\nm=audio 1 RTP/AVP 0\r\n"}
	e := newEnv(t, func(o *Options) { o.Answerer = ans })
	res := e.do(t, http.MethodPost, "/v1/realtime/calls", map[string]string{"Content-Type": "application/sdp"}, offer)
	if res.status != http.StatusCreated || string(res.body) != ans.answer {
		t.Fatalf("status %d, body %q", res.status, res.body)
	}
	id := callLocation.FindStringSubmatch(res.header.Get("Location"))[1]
	if len(ans.offers) != 1 || ans.offers[0] != offer || ans.ids[0] != id || ans.kinds[0] != KindRealtime || !ans.ctxLive {
		t.Errorf("answerer saw offers=%d ids=%v kinds=%v ctxLive=%v", len(ans.offers), ans.ids, ans.kinds, ans.ctxLive)
	}
	res = e.do(t, http.MethodPost, "/v1/realtime/calls/"+id+"/hangup", map[string]string{"Content-Type": ""}, "")
	if res.status != http.StatusOK || len(ans.hungUp) != 1 || ans.hungUp[0] != id {
		t.Errorf("hangup status %d, answerer hung up %v", res.status, ans.hungUp)
	}
}

func TestAnswererErrorsMapToStatus(t *testing.T) {
	tests := []struct {
		name   string
		err    error
		status int
		typ    string
		code   string
		param  string
	}{
		{name: "invalid offer is 400", err: errors.Join(ErrInvalidOffer, errors.New("no ice")), status: 400, typ: "invalid_request_error", code: "invalid_offer", param: "sdp"},
		{name: "other errors are 500", err: errors.New("peer failed"), status: 500, typ: "server_error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ans := &recordingAnswerer{err: tt.err}
			e := newEnv(t, func(o *Options) { o.Answerer = ans })
			res := e.do(t, http.MethodPost, "/v1/realtime/calls", map[string]string{"Content-Type": "application/sdp"}, offer)
			got := wantError(t, res, tt.status, tt.typ, tt.code, tt.param)
			if strings.Contains(got["message"].(string), "no ice") || strings.Contains(got["message"].(string), "peer failed") {
				t.Error("internal answerer error leaked into the response")
			}
			if len(e.sim.Calls()) != 0 {
				t.Error("failed call recorded")
			}
		})
	}
}

func TestHangupEndsKnownCallsOnly(t *testing.T) {
	e := newEnv(t)
	res := e.do(t, http.MethodPost, "/v1/realtime/calls", map[string]string{"Content-Type": "application/sdp"}, offer)
	id := callLocation.FindStringSubmatch(res.header.Get("Location"))[1]
	secret := e.mint(t, "{}")["value"].(string)

	res = e.do(t, http.MethodPost, "/v1/realtime/calls/"+id+"/hangup", map[string]string{"Authorization": "Bearer " + secret}, "")
	wantError(t, res, 401, "invalid_request_error", "invalid_api_key", "")
	res = e.do(t, http.MethodPost, "/v1/realtime/calls/"+id+"/hangup", map[string]string{"Authorization": ""}, "")
	wantError(t, res, 401, "invalid_request_error", "", "")
	if len(e.sim.Calls()) != 1 {
		t.Fatal("unauthorised hangup ended the call")
	}

	res = e.do(t, http.MethodPost, "/v1/realtime/calls/"+id+"/hangup", nil, "")
	if res.status != http.StatusOK || len(res.body) != 0 {
		t.Fatalf("hangup: status %d body %q", res.status, res.body)
	}
	assertOpenAIHeaders(t, res.header)
	if len(e.sim.Calls()) != 0 {
		t.Errorf("Calls() = %v after hangup", e.sim.Calls())
	}
	if _, ok := e.sim.LookupCall(id); ok {
		t.Error("LookupCall finds a hung-up call")
	}
	res = e.do(t, http.MethodPost, "/v1/realtime/calls/"+id+"/hangup", nil, "")
	wantError(t, res, 404, "invalid_request_error", "call_id_not_found", "call_id")
	res = e.do(t, http.MethodPost, "/v1/realtime/calls/rtc_unknown/hangup", nil, "")
	wantError(t, res, 404, "invalid_request_error", "call_id_not_found", "call_id")
}

func TestCannedAnswerRejectsUnsupportedMedia(t *testing.T) {
	withVideo := offer + "m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:2\r\n"
	ans, err := CannedAnswer(t.Context(), withVideo, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(ans, "m=video 0 UDP/TLS/RTP/SAVPF 0\r\na=mid:2\r\n") {
		t.Errorf("video not rejected with port 0:\n%s", ans)
	}
	if _, err := CannedAnswer(t.Context(), "v=0\r\n", nil); !errors.Is(err, ErrInvalidOffer) {
		t.Errorf("offer without media: err = %v, want ErrInvalidOffer", err)
	}
}
