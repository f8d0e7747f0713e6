package simulator

import (
	"net/http"
	"testing"
	"time"
)

// TestControlEndpoints: the /_simulator endpoints script sessions from
// another process, behind the standard key.
func TestControlEndpoints(t *testing.T) {
	e, ans := busEnv(t)
	call := e.createCall(t)
	live := e.createLive(t, `{"model":"gpt-live-1"}`)
	br := openBrowser(t, ans.link(call))
	br.next(t, "session.created")
	sb := e.attach(t, "/v1/live/sessions/"+live+"/attach?graceful_close=false")
	secret := e.mint(t, "{}")["value"].(string)

	refusals := []struct {
		name, method, path, body string
		hdr                      map[string]string
		status                   int
		code, param              string
	}{
		{"no key", "POST", "/_simulator/calls/" + call + "/response", `{"usage":{}}`, map[string]string{"Authorization": ""}, 401, "", ""},
		{"an ephemeral secret", "POST", "/_simulator/live/" + live + "/usage", `{"seconds":1}`, map[string]string{"Authorization": "Bearer " + secret}, 401, "invalid_api_key", ""},
		{"unknown call", "POST", "/_simulator/calls/rtc_nope/response", `{"usage":{}}`, nil, 404, "session_not_found", ""},
		{"a Live id is not a call", "POST", "/_simulator/calls/" + live + "/turn", `{"speech_ms":100}`, nil, 404, "session_not_found", ""},
		{"unknown usage member", "POST", "/_simulator/calls/" + call + "/response", `{"usage":{"input_tokens":1,"cost":2}}`, nil, 400, "invalid_value", ""},
		{"no usage", "POST", "/_simulator/calls/" + call + "/response", `{}`, nil, 400, "missing_required_parameter", "usage"},
		{"speech_ms out of range", "POST", "/_simulator/calls/" + call + "/turn", `{"speech_ms":0}`, nil, 400, "invalid_value", "speech_ms"},
		{"negative seconds", "POST", "/_simulator/live/" + live + "/usage", `{"seconds":-1}`, nil, 400, "invalid_value", "seconds"},
		{"seconds missing", "POST", "/_simulator/live/" + live + "/usage", `{}`, nil, 400, "invalid_value", "seconds"},
		{"a client event without type", "POST", "/_simulator/sessions/" + call + "/client_event", `{"session":{}}`, nil, 400, "invalid_value", ""},
		{"unknown session", "GET", "/_simulator/sessions/nope", ``, nil, 404, "session_not_found", ""},
		{"wrong method", "GET", "/_simulator/calls/" + call + "/response", ``, nil, 405, "", ""},
	}
	for _, tt := range refusals {
		t.Run(tt.name, func(t *testing.T) {
			res := e.do(t, tt.method, tt.path, tt.hdr, tt.body)
			wantError(t, res, tt.status, "invalid_request_error", tt.code, tt.param)
		})
	}
	if extra := br.types(t); len(extra) != 0 {
		t.Fatalf("refused control calls emitted %v", extra)
	}

	res := e.do(t, http.MethodPost, "/_simulator/calls/"+call+"/response", nil,
		`{"usage":{"input_token_details":{"text_tokens":10,"audio_tokens":200,"cached_tokens_details":{"audio_tokens":50}},"output_token_details":{"audio_tokens":300}}}`)
	if res.status != http.StatusOK || res.json(t)["response_id"] == nil {
		t.Fatalf("response: %d %s", res.status, res.body)
	}
	u := usageFrom(t, br.waitFor(t, "response.done"))
	want := Usage{TotalTokens: 510, InputTokens: 210, OutputTokens: 300,
		InputTokenDetails:  InputTokenDetails{TextTokens: 10, AudioTokens: 200, CachedTokens: 50, CachedTokensDetails: CachedDetails{AudioTokens: 50}},
		OutputTokenDetails: OutputTokenDetails{AudioTokens: 300}}
	if u != want {
		t.Errorf("usage = %+v, want %+v", u, want)
	}

	if res := e.do(t, http.MethodPost, "/_simulator/calls/"+call+"/turn", nil, `{"speech_ms":700}`); res.status != http.StatusOK {
		t.Fatalf("turn: %d %s", res.status, res.body)
	}
	if ev := br.waitFor(t, "input_audio_buffer.speech_stopped"); ev["audio_end_ms"] != 1200.0 {
		t.Errorf("speech_stopped = %v", ev)
	}
	br.waitFor(t, "response.done")

	if res := e.do(t, http.MethodPost, "/_simulator/sessions/"+call+"/client_event", nil,
		`{"type":"session.update","session":{"type":"realtime","instructions":"Changed by the browser."}}`); res.status != http.StatusOK {
		t.Fatalf("client_event: %d %s", res.status, res.body)
	}
	if s := br.waitFor(t, "session.updated")["session"].(map[string]any); s["instructions"] != "Changed by the browser." {
		t.Errorf("session.updated = %v", s)
	}

	e.clock.Advance(5 * time.Second)
	res = e.do(t, http.MethodPost, "/_simulator/live/"+live+"/usage", nil, `{"seconds":30.5}`)
	if res.status != http.StatusOK || res.json(t)["seconds"] != 35.5 {
		t.Fatalf("live usage: %d %s", res.status, res.body)
	}
	if ev := sb.waitFor(t, "session.usage.updated"); ev["usage"].(map[string]any)["seconds"] != 35.5 {
		t.Errorf("usage event = %v", ev)
	}

	got := e.do(t, http.MethodGet, "/_simulator/sessions/"+live, nil, "").json(t)
	if got["kind"] != "live" || got["ended"] != false || got["sidebands"] != 1.0 || got["usage_seconds"] != 35.5 || got["session"].(map[string]any)["id"] != live {
		t.Errorf("GET live = %v", got)
	}
	got = e.do(t, http.MethodGet, "/_simulator/sessions/"+call, nil, "").json(t)
	if got["kind"] != "realtime" || got["session"].(map[string]any)["instructions"] != "Changed by the browser." {
		t.Errorf("GET call = %v", got)
	}
	e.do(t, http.MethodPost, "/v1/realtime/calls/"+call+"/hangup", nil, "")
	got = e.do(t, http.MethodGet, "/_simulator/sessions/"+call, nil, "").json(t)
	if got["ended"] != true || got["end_reason"] != "hangup" {
		t.Errorf("GET ended call = %v", got)
	}
}
