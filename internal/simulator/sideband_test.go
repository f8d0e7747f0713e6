package simulator

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/coder/websocket"
)

func TestSidebandHandshakeRefusals(t *testing.T) {
	e, _ := busEnv(t)
	call := e.createCall(t)
	live := e.createLive(t, `{"model":"gpt-live-1"}`)
	ended := e.createCall(t)
	if r := e.do(t, http.MethodPost, "/v1/realtime/calls/"+ended+"/hangup", nil, ""); r.status != 200 {
		t.Fatal(r.status)
	}
	secret := e.mint(t, "{}")["value"].(string)
	tests := []struct {
		name   string
		path   string
		hdr    map[string]string
		status int
		code   string
	}{
		{"realtime without a key", "/v1/realtime?call_id=" + call, map[string]string{"Authorization": ""}, 401, ""},
		{"realtime with an ephemeral secret", "/v1/realtime?call_id=" + call, map[string]string{"Authorization": "Bearer " + secret}, 401, "invalid_api_key"},
		{"realtime with a wrong key", "/v1/realtime?call_id=" + call, map[string]string{"Authorization": "Bearer sk-wrong-0123456789abcdef"}, 401, "invalid_api_key"},
		{"realtime unknown call", "/v1/realtime?call_id=rtc_nope", nil, 404, "call_id_not_found"},
		{"realtime ended call", "/v1/realtime?call_id=" + ended, nil, 404, "call_id_not_found"},
		{"realtime live id", "/v1/realtime?call_id=" + live, nil, 404, "call_id_not_found"},
		{"realtime without call_id", "/v1/realtime?model=gpt-realtime", nil, 400, "missing_required_parameter"},
		{"live without a key", "/v1/live/sessions/" + live + "/attach", map[string]string{"Authorization": ""}, 401, ""},
		{"live with an ephemeral secret", "/v1/live/sessions/" + live + "/attach", map[string]string{"Authorization": "Bearer " + secret}, 401, "invalid_api_key"},
		{"live unknown session", "/v1/live/sessions/live_nope/attach", nil, 404, "session_not_found"},
		{"live call id", "/v1/live/sessions/" + call + "/attach", nil, 404, "session_not_found"},
		{"live bad graceful_close", "/v1/live/sessions/" + live + "/attach?graceful_close=maybe", nil, 400, "invalid_value"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, res, err := e.dial(t, tt.path, tt.hdr)
			if err == nil || res == nil {
				t.Fatalf("handshake succeeded (err %v)", err)
			}
			body, _ := io.ReadAll(res.Body)
			res.Body.Close()
			var b struct {
				Error struct {
					Code *string `json:"code"`
				} `json:"error"`
			}
			if res.StatusCode != tt.status || json.Unmarshal(body, &b) != nil {
				t.Fatalf("status %d, body %s", res.StatusCode, body)
			}
			code := ""
			if b.Error.Code != nil {
				code = *b.Error.Code
			}
			if code != tt.code {
				t.Errorf("code = %q, want %q", code, tt.code)
			}
			if e.sim.Sidebands(call)+e.sim.Sidebands(live) != 0 {
				t.Error("a refused handshake attached a sideband")
			}
		})
	}
}

// TestRealtimeSidebandsSeeEveryEvent: attaching replays nothing; from then
// on every sideband and the browser see every server event, whoever caused
// it; the hang-up closes every sideband normally after the last events.
func TestRealtimeSidebandsSeeEveryEvent(t *testing.T) {
	e, ans := busEnv(t)
	id := e.createCall(t)
	br := openBrowser(t, ans.link(id))
	created := br.next(t, "session.created")
	a := e.attach(t, "/v1/realtime?call_id="+id)

	// A browser's session.update reaches the sideband with the new values.
	br.send(t, map[string]any{"type": "session.update", "session": map[string]any{"type": "realtime",
		"instructions": "You are a pirate.", "tools": []any{map[string]any{"type": "function", "name": "open_door"}}}})
	got := a.next(t, "session.updated")["session"].(map[string]any)
	if got["instructions"] != "You are a pirate." || len(got["tools"].([]any)) != 1 || got["id"] != created["session"].(map[string]any)["id"] {
		t.Fatalf("sideband session.updated = %v", got)
	}
	br.next(t, "session.updated")

	// A second sideband sees what the first one does, and so does the browser.
	b := e.attach(t, "/v1/realtime?call_id="+id)
	if n := e.sim.Sidebands(id); n != 2 {
		t.Fatalf("Sidebands = %d", n)
	}
	a.send(t, map[string]any{"type": "session.update", "event_id": "srv1", "session": map[string]any{"type": "realtime", "instructions": "Be brief."}})
	for _, who := range []func(*testing.T, string) map[string]any{a.next, b.next, br.next} {
		if s := who(t, "session.updated")["session"].(map[string]any); s["instructions"] != "Be brief." || len(s["tools"].([]any)) != 1 {
			t.Fatalf("session.updated = %v", s)
		}
	}
	if c, _ := e.sim.LookupCall(id); !strings.Contains(string(c.Session), `"instructions":"Be brief."`) {
		t.Errorf("LookupCall session = %s", c.Session)
	}
	b.send(t, map[string]any{"type": "conversation.item.create", "item": map[string]any{"type": "message", "role": "user",
		"content": []any{map[string]any{"type": "input_text", "text": "hello"}}}})
	for _, who := range []func(*testing.T, string) map[string]any{a.next, b.next, br.next} {
		who(t, "conversation.item.added")
		who(t, "conversation.item.done")
	}
	// A bad event from one client is an error every listener sees.
	b.send(t, map[string]any{"type": "session.update", "event_id": "bad1", "session": map[string]any{"type": "realtime", "voice": "x"}})
	for _, who := range []func(*testing.T, string) map[string]any{a.next, b.next, br.next} {
		e := who(t, "error")["error"].(map[string]any)
		if e["code"] != "unknown_parameter" || e["param"] != "session.voice" || e["event_id"] != "bad1" {
			t.Fatalf("error = %v", e)
		}
	}
	if err := b.conn.Write(t.Context(), websocket.MessageText, []byte("{not json")); err != nil {
		t.Fatal(err)
	}
	if ev := a.next(t, "error"); ev["error"].(map[string]any)["code"] != "invalid_json" {
		t.Fatalf("invalid JSON: %v", ev)
	}
	b.next(t, "error")
	br.next(t, "error")

	if r := e.do(t, http.MethodPost, "/v1/realtime/calls/"+id+"/hangup", nil, ""); r.status != 200 {
		t.Fatalf("hangup %d", r.status)
	}
	for _, c := range []*wsClient{a, b} {
		code, reason := c.closed(t)
		if code != websocket.StatusNormalClosure || reason != "session ended: hangup" {
			t.Errorf("close = %d %q", code, reason)
		}
	}
	if e.sim.Sidebands(id) != 0 || len(ans.hungUp) != 1 || ans.hungUp[0] != id {
		t.Errorf("sidebands %d, peers hung up %v", e.sim.Sidebands(id), ans.hungUp)
	}
	if extra := br.types(t); len(extra) != 0 {
		t.Errorf("the data channel got events after the hang-up: %v", extra)
	}
}

func TestBetaSidebandGetsTheShutdownError(t *testing.T) {
	e, _ := busEnv(t)
	id := e.createCall(t)
	c, _, err := e.dial(t, "/v1/realtime?call_id="+id, map[string]string{"OpenAI-Beta": "realtime=v1"})
	if err != nil {
		t.Fatal(err)
	}
	ev := c.next(t, "error")["error"].(map[string]any)
	if ev["code"] != "beta_api_shape_disabled" || ev["type"] != "invalid_request_error" {
		t.Fatalf("error = %v", ev)
	}
	if code, _ := c.closed(t); code != 4000 {
		t.Fatalf("close code = %d, want 4000", code)
	}
}

// TestLiveSidebandGracefulClose: by default a Live sideband owns the session
// (closing it closes the session); graceful_close=false only observes.
func TestLiveSidebandGracefulClose(t *testing.T) {
	e, ans := busEnv(t)
	id := e.createLive(t, `{"model":"gpt-live-1"}`)
	br := openBrowser(t, ans.link(id))
	br.next(t, "session.started")
	observer := e.attach(t, "/v1/live/sessions/"+id+"/attach?graceful_close=false")
	owner := e.attach(t, "/v1/live/sessions/"+id+"/attach")

	_ = observer.conn.Close(websocket.StatusNormalClosure, "")
	owner.send(t, map[string]any{"type": "session.input_audio.mute"})
	owner.next(t, "session.input_audio.muted")
	if len(e.sim.LiveSessions()) != 1 {
		t.Fatal("closing a graceful_close=false sideband ended the session")
	}
	third := e.attach(t, "/v1/live/sessions/"+id+"/attach?graceful_close=false")
	_ = owner.conn.Close(websocket.StatusNormalClosure, "")
	closed := third.next(t, "session.closed")
	if closed["reason"] != "close_requested" {
		t.Fatalf("session.closed = %v", closed)
	}
	br.next(t, "session.input_audio.muted")
	br.next(t, "session.closed")
	if code, reason := third.closed(t); code != websocket.StatusNormalClosure || reason != "session ended: close_requested" {
		t.Errorf("close = %d %q", code, reason)
	}
	if r, _ := e.sim.EndReason(id); r != "close_requested" {
		t.Errorf("EndReason = %q", r)
	}
}
