package simulator

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"
)

func liveBody(session, transport string) string {
	return `{"session":` + session + `,"transport":` + transport + `}`
}

var webrtcOffer = `{"type":"webrtc","sdp":` + mustQuote(offer) + `}`

func TestLiveCreateValidation(t *testing.T) {
	tests := []struct {
		name   string
		hdr    map[string]string
		body   string
		status int
		typ    string
		code   string
		param  string
		msg    string
	}{
		{name: "no key", hdr: map[string]string{"Authorization": ""}, body: liveBody(`{"model":"gpt-live-1"}`, webrtcOffer), status: 401},
		{name: "an ephemeral secret is not a standard key", hdr: map[string]string{"Authorization": "Bearer ek_0123456789abcdef0123456789abcdef"},
			body: liveBody(`{"model":"gpt-live-1"}`, webrtcOffer), status: 401, code: "invalid_api_key"},
		{name: "not JSON", hdr: map[string]string{"Content-Type": "application/sdp"}, body: offer, status: 400, code: "unsupported_content_type"},
		{name: "unknown top-level member", body: `{"session":{"model":"gpt-live-1"},"transport":` + webrtcOffer + `,"model":"x"}`,
			status: 400, code: "unknown_parameter", param: "model", msg: "Unknown parameter: 'model'."},
		{name: "unknown session member", body: liveBody(`{"model":"gpt-live-1","voice":"marin"}`, webrtcOffer),
			status: 400, code: "unknown_parameter", param: "session.voice"},
		{name: "audio.format is not for WebRTC", body: liveBody(`{"model":"gpt-live-1","audio":{"format":{"type":"audio/pcm"}}}`, webrtcOffer),
			status: 400, code: "unknown_parameter", param: "session.audio.format"},
		{name: "unknown member deep in delegation", body: liveBody(`{"model":"gpt-live-1","delegation":{"type":"responses","responses":{"model":"gpt-5","temperature":1}}}`, webrtcOffer),
			status: 400, code: "unknown_parameter", param: "session.delegation.responses.temperature"},
		{name: "unknown data channel member", body: liveBody(`{"model":"gpt-live-1","client":{"data_channel":{"allowed_events":"all"}}}`, webrtcOffer),
			status: 400, code: "unknown_parameter", param: "session.client.data_channel.allowed_events"},
		{name: "unknown transport member", body: liveBody(`{"model":"gpt-live-1"}`, `{"type":"webrtc","sdp":"v=0","ice":[]}`),
			status: 400, code: "unknown_parameter", param: "transport.ice"},
		{name: "missing session", body: `{"transport":` + webrtcOffer + `}`, status: 400, code: "missing_required_parameter", param: "session"},
		{name: "missing transport", body: `{"session":{"model":"gpt-live-1"}}`, status: 400, code: "missing_required_parameter", param: "transport"},
		{name: "missing model", body: liveBody(`{"instructions":"hi"}`, webrtcOffer), status: 400, code: "missing_required_parameter", param: "session.model"},
		{name: "a Realtime model", body: liveBody(`{"model":"gpt-realtime"}`, webrtcOffer), status: 400, code: "invalid_value", param: "session.model",
			msg: "Invalid value: 'gpt-realtime'. Supported values are: 'gpt-live-1' and 'gpt-live-1.1'."},
		{name: "missing sdp", body: liveBody(`{"model":"gpt-live-1"}`, `{"type":"webrtc"}`), status: 400, code: "invalid_value", param: "transport.sdp",
			msg: "An SDP offer is required."},
		{name: "empty sdp", body: liveBody(`{"model":"gpt-live-1"}`, `{"type":"webrtc","sdp":""}`), status: 400, code: "invalid_value", param: "transport.sdp",
			msg: "An SDP offer is required."},
		{name: "sdp not a string", body: liveBody(`{"model":"gpt-live-1"}`, `{"type":"webrtc","sdp":5}`), status: 400, code: "invalid_type", param: "transport.sdp"},
		{name: "not an SDP offer", body: liveBody(`{"model":"gpt-live-1"}`, `{"type":"webrtc","sdp":"hello"}`), status: 400, code: "invalid_offer", param: "transport.sdp"},
		{name: "outbound SIP", body: liveBody(`{"model":"gpt-live-1"}`, `{"type":"sip"}`), status: 403, code: "outbound_sip_not_enabled", param: "transport.type"},
		{name: "unknown voice", body: liveBody(`{"model":"gpt-live-1","audio":{"output":{"voice":"robot"}}}`, webrtcOffer),
			status: 400, code: "invalid_value", param: "session.audio.output.voice"},
		{name: "unknown delegation type", body: liveBody(`{"model":"gpt-live-1","delegation":{"type":"agents"}}`, webrtcOffer),
			status: 400, code: "invalid_value", param: "session.delegation.type"},
		{name: "responses delegation needs a model", body: liveBody(`{"model":"gpt-live-1","delegation":{"type":"responses","responses":{}}}`, webrtcOffer),
			status: 400, code: "missing_required_parameter", param: "session.delegation.responses.model"},
		{name: "unknown allowed client event", body: liveBody(`{"model":"gpt-live-1","client":{"data_channel":{"allowed_client_events":["session.hack"]}}}`, webrtcOffer),
			status: 400, code: "invalid_value", param: "session.client.data_channel.allowed_client_events[0]"},
		{name: "response.event selector needs response_event", body: liveBody(`{"model":"gpt-live-1","client":{"data_channel":{"allowed_server_events":[{"type":"response.event"}]}}}`, webrtcOffer),
			status: 400, code: "missing_required_parameter", param: "session.client.data_channel.allowed_server_events[0].response_event"},
		{name: "response_event only for response.event", body: liveBody(`{"model":"gpt-live-1","client":{"data_channel":{"allowed_server_events":[{"type":"error","response_event":"x"}]}}}`, webrtcOffer),
			status: 400, code: "invalid_value", param: "session.client.data_channel.allowed_server_events[0].response_event"},
		{name: "client needs data_channel", body: liveBody(`{"model":"gpt-live-1","client":{}}`, webrtcOffer),
			status: 400, code: "missing_required_parameter", param: "session.client.data_channel"},
		{name: "input item with two parts", body: liveBody(`{"model":"gpt-live-1","input":[{"role":"user","content":[{"text":"a"},{"text":"b"}]}]}`, webrtcOffer),
			status: 400, code: "invalid_value", param: "session.input[0].content"},
		{name: "input item with a wrong role", body: liveBody(`{"model":"gpt-live-1","input":[{"role":"system","content":[{"text":"a"}]}]}`, webrtcOffer),
			status: 400, code: "invalid_value", param: "session.input[0].role"},
		{name: "too many input items", body: liveBody(`{"model":"gpt-live-1","input":[`+strings.Repeat(`{"role":"user","content":[{"text":"a"}]},`, 128)+`{"role":"user","content":[{"text":"a"}]}]}`, webrtcOffer),
			status: 400, code: "array_above_max_length", param: "session.input"},
		{name: "store must be a boolean", body: liveBody(`{"model":"gpt-live-1","store":"yes"}`, webrtcOffer), status: 400, code: "invalid_type", param: "session.store"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, _ := busEnv(t)
			res := e.do(t, http.MethodPost, "/v1/live/sessions", tt.hdr, tt.body)
			typ := tt.typ
			if typ == "" {
				typ = "invalid_request_error"
			}
			got := wantError(t, res, tt.status, typ, tt.code, tt.param)
			if tt.msg != "" && got["message"] != tt.msg {
				t.Errorf("message = %q, want %q", got["message"], tt.msg)
			}
			if n := len(e.sim.LiveSessions()); n != 0 {
				t.Errorf("a refused request created %d sessions", n)
			}
		})
	}
}

func TestLiveCreateAnswersWithTheSessionAndResolvesDefaults(t *testing.T) {
	e, _ := busEnv(t)
	res := e.do(t, http.MethodPost, "/v1/live/sessions", nil, liveBody(`{"model":"gpt-live-1.1","input":[{"role":"developer","content":[{"type":"input_text","text":"ctx"}]}]}`, webrtcOffer))
	if res.status != http.StatusCreated || res.header.Get("Location") != "" || res.header.Get("Content-Type") != "application/json" {
		t.Fatalf("status %d, Location %q, type %q: %s", res.status, res.header.Get("Location"), res.header.Get("Content-Type"), res.body)
	}
	assertOpenAIHeaders(t, res.header)
	var body struct {
		Session   map[string]any `json:"session"`
		Transport map[string]any `json:"transport"`
	}
	dec := json.NewDecoder(strings.NewReader(string(res.body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil {
		t.Fatal(err)
	}
	id, _ := body.Session["id"].(string)
	if len(body.Session) != 1 || !strings.HasPrefix(id, "live_") || len(id) != len("live_")+24 {
		t.Fatalf("session = %v", body.Session)
	}
	if body.Transport["type"] != "webrtc" || !strings.HasPrefix(body.Transport["sdp"].(string), "v=0") || len(body.Transport) != 2 {
		t.Fatalf("transport = %v", body.Transport)
	}
	got, ok := e.sim.LookupLive(id)
	if !ok {
		t.Fatal("LookupLive does not find the session")
	}
	var sess map[string]any
	if err := json.Unmarshal(got.Session, &sess); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"id": id, "model": "gpt-live-1.1", "status": "active", "instructions": nil, "store": false,
		"expires_at": float64(e.clock.Now().Add(time.Hour).Unix()),
		"audio":      map[string]any{"output": map[string]any{"voice": "marin"}},
		"client":     map[string]any{"data_channel": map[string]any{"allowed_client_events": "all", "allowed_server_events": "all"}},
		"delegation": map[string]any{"type": "client", "acknowledgement_delay_ms": 0.0},
		"input":      []any{map[string]any{"role": "developer", "content": []any{map[string]any{"type": "input_text", "text": "ctx"}}}},
		"triggers":   []any{},
	}
	if a, b := mustJSON(sess), mustJSON(want); string(a) != string(b) {
		t.Errorf("SessionResource =\n%s\nwant\n%s", a, b)
	}
	if got.UsageSeconds != 0 || !got.CreatedAt.Equal(e.clock.Now()) {
		t.Errorf("usage %v, created %v", got.UsageSeconds, got.CreatedAt)
	}
}

// TestLiveClientEvents: what each client event does, on the data channel
// (with allowed_client_events) and on a sideband (trusted).
func TestLiveClientEvents(t *testing.T) {
	const session = `{"model":"gpt-live-1","instructions":"Be kind.","delegation":{"type":"responses","responses":{"model":"gpt-5","instructions":"Look it up."}},` +
		`"client":{"data_channel":{"allowed_client_events":["session.update","session.instructions.append","response.create","session.input_audio.mute"]}}}`
	tests := []struct {
		name     string
		sideband bool
		event    map[string]any
		want     []string // event types everyone sees, in order
		check    func(t *testing.T, evs []map[string]any)
	}{
		{name: "a refused client event is an info notice", event: map[string]any{"type": "session.close", "event_id": "c1"},
			want: []string{"info"}, check: func(t *testing.T, evs []map[string]any) {
				if evs[0]["code"] != "data_channel_permissions" || evs[0]["client_event_id"] != "c1" || evs[0]["message"] == "" {
					t.Errorf("info = %v", evs[0])
				}
			}},
		{name: "the sideband is not bound by the data channel's permissions", sideband: true,
			event: map[string]any{"type": "session.input_audio.unmute"}, want: []string{"session.input_audio.unmuted"}},
		{name: "mute", event: map[string]any{"type": "session.input_audio.mute", "event_id": "m"}, want: []string{"session.input_audio.muted"},
			check: func(t *testing.T, evs []map[string]any) {
				if evs[0]["client_event_id"] != "m" {
					t.Errorf("muted = %v", evs[0])
				}
			}},
		{name: "instructions cannot change", event: map[string]any{"type": "session.update", "session": map[string]any{"instructions": "Be rude."}},
			want: []string{"error"}, check: wantLiveError("unknown_parameter", "session.instructions")},
		{name: "the model cannot change", event: map[string]any{"type": "session.update", "session": map[string]any{"model": "gpt-live-1.1"}},
			want: []string{"error"}, check: wantLiveError("unknown_parameter", "session.model")},
		{name: "the voice cannot change", sideband: true, event: map[string]any{"type": "session.update", "session": map[string]any{"audio": map[string]any{"output": map[string]any{"voice": "cedar"}}}},
			want: []string{"error"}, check: wantLiveError("unknown_parameter", "session.audio")},
		{name: "the delegation type cannot change", event: map[string]any{"type": "session.update", "session": map[string]any{"delegation": map[string]any{"type": "client"}}},
			want: []string{"error"}, check: wantLiveError("invalid_value", "session.delegation.type")},
		{name: "delegation settings change", event: map[string]any{"type": "session.update", "event_id": "u1", "session": map[string]any{
			"delegation": map[string]any{"type": "responses", "responses": map[string]any{"instructions": "Be thorough.", "max_output_tokens": 300}}}},
			want: []string{"session.updated"}, check: func(t *testing.T, evs []map[string]any) {
				s := evs[0]["session"].(map[string]any)
				r := s["delegation"].(map[string]any)["responses"].(map[string]any)
				if r["instructions"] != "Be thorough." || r["model"] != "gpt-5" || r["max_output_tokens"] != 300.0 || s["instructions"] != "Be kind." || evs[0]["client_event_id"] != "u1" {
					t.Errorf("session.updated = %v", s)
				}
			}},
		{name: "instructions.append", event: map[string]any{"type": "session.instructions.append", "content": "The user is on a train.", "delegation_id": nil},
			want: []string{"session.instructions.appended"}, check: func(t *testing.T, evs []map[string]any) {
				if evs[0]["start_ms"] != 0.0 || evs[0]["end_ms"] != 0.0 {
					t.Errorf("appended = %v", evs[0])
				}
			}},
		{name: "instructions.append needs delegation_id", event: map[string]any{"type": "session.instructions.append", "content": "x"},
			want: []string{"error"}, check: wantLiveError("missing_required_parameter", "delegation_id")},
		{name: "a delegation id is refused under Responses delegation", event: map[string]any{"type": "session.instructions.append", "content": "x", "delegation_id": "del_1"},
			want: []string{"error"}, check: wantLiveError("invalid_value", "delegation_id")},
		{name: "instructions.append is at most 500 tokens", event: map[string]any{"type": "session.instructions.append", "content": strings.Repeat("abcd", 501), "delegation_id": nil},
			want: []string{"error"}, check: wantLiveError("string_above_max_length", "content")},
		{name: "response.create runs the Responses backend", event: map[string]any{"type": "response.create"},
			want: []string{"response.event", "response.event"}, check: func(t *testing.T, evs []map[string]any) {
				done := evs[1]["event"].(map[string]any)
				u := done["response"].(map[string]any)["usage"].(map[string]any)
				// "Look it up." is 11 characters: 3 tokens; output is 20.
				if done["type"] != "response.completed" || u["input_tokens"] != 3.0 || u["output_tokens"] != 20.0 || u["total_tokens"] != 23.0 {
					t.Errorf("response.event = %v", evs[1])
				}
			}},
		{name: "session.start is for a primary WebSocket", sideband: true, event: map[string]any{"type": "session.start", "session": map[string]any{"model": "gpt-live-1"}},
			want: []string{"error"}, check: wantLiveError("invalid_value", "type")},
		{name: "input audio is for a primary WebSocket", sideband: true, event: map[string]any{"type": "session.input_audio.append", "audio": ""},
			want: []string{"error"}, check: wantLiveError("invalid_value", "type")},
		{name: "an unknown event", sideband: true, event: map[string]any{"type": "conversation.item.create"},
			want: []string{"error"}, check: wantLiveError("invalid_value", "type")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, ans := busEnv(t)
			id := e.createLive(t, session)
			br := openBrowser(t, ans.link(id))
			br.next(t, "session.started")
			sb := e.attach(t, "/v1/live/sessions/"+id+"/attach?graceful_close=false")
			if tt.sideband {
				sb.send(t, tt.event)
			} else {
				br.send(t, tt.event)
			}
			var fromBrowser, fromSideband []map[string]any
			for _, typ := range tt.want {
				fromBrowser = append(fromBrowser, br.next(t, typ))
				fromSideband = append(fromSideband, sb.next(t, typ))
			}
			if tt.check != nil {
				tt.check(t, fromBrowser)
				tt.check(t, fromSideband)
			}
			if extra := br.types(t); len(extra) != 0 {
				t.Errorf("unexpected further events: %v", extra)
			}
			if len(e.sim.LiveSessions()) != 1 {
				t.Error("the session ended")
			}
		})
	}
}

func wantLiveError(code, param string) func(*testing.T, []map[string]any) {
	return func(t *testing.T, evs []map[string]any) {
		t.Helper()
		e := evs[0]["error"].(map[string]any)
		if e["code"] != code || e["param"] != param || e["type"] != "invalid_request_error" || e["message"] == "" {
			t.Errorf("error = %v, want code %s param %s", e, code, param)
		}
	}
}

func TestLiveServerEventAllowlistFiltersTheDataChannelOnly(t *testing.T) {
	e, ans := busEnv(t)
	id := e.createLive(t, `{"model":"gpt-live-1","delegation":{"type":"responses","responses":{"model":"gpt-5"}},"client":{"data_channel":{`+
		`"allowed_server_events":[{"type":"session.started"},{"type":"response.event","response_event":"response.completed"},{"type":"session.closed"}]}}}`)
	br := openBrowser(t, ans.link(id))
	br.next(t, "session.started")
	sb := e.attach(t, "/v1/live/sessions/"+id+"/attach?graceful_close=false")
	sb.send(t, map[string]any{"type": "session.input_audio.mute"})
	sb.next(t, "session.input_audio.muted")
	sb.send(t, map[string]any{"type": "response.create"})
	sb.next(t, "response.event")
	sb.next(t, "response.event")
	e.clock.Advance(3 * time.Second)
	e.sim.Tick()
	sb.next(t, "session.usage.updated")
	sb.send(t, map[string]any{"type": "session.close"})
	sb.next(t, "session.closed")
	if ev := br.next(t, "response.event"); ev["event"].(map[string]any)["type"] != "response.completed" {
		t.Errorf("the data channel got %v", ev)
	}
	br.next(t, "session.closed")
	if extra := br.types(t); len(extra) != 0 {
		t.Errorf("filtered events reached the data channel: %v", extra)
	}
}

// TestLiveUsageFollowsTheInjectedClock: usage.seconds is time since creation
// on Options.Now plus AdvanceLiveUsage, emitted every LiveUsageInterval of
// that clock and in session.closed; the session expires at LiveMaxDuration.
func TestLiveUsageFollowsTheInjectedClock(t *testing.T) {
	e, ans := busEnv(t, func(o *Options) { o.LiveMaxDuration = 30 * time.Second })
	id := e.createLive(t, `{"model":"gpt-live-1"}`)
	e.clock.Advance(1500 * time.Millisecond)
	e.sim.Tick()
	// The data channel opens late: it gets session.started, then what it missed.
	br := openBrowser(t, ans.link(id))
	br.next(t, "session.started")
	seconds := func(ev map[string]any) any { return ev["usage"].(map[string]any)["seconds"] }
	if s := seconds(br.next(t, "session.usage.updated")); s != 1.5 {
		t.Fatalf("usage = %v, want 1.5", s)
	}
	sb := e.attach(t, "/v1/live/sessions/"+id+"/attach?graceful_close=false")
	e.clock.Advance(200 * time.Millisecond) // 1.7 s: the next update is due at 2 s
	e.sim.Tick()
	e.clock.Advance(300 * time.Millisecond)
	e.sim.Tick()
	if s := seconds(sb.next(t, "session.usage.updated")); s != 2.0 {
		t.Fatalf("usage = %v, want 2", s)
	}
	total, err := e.sim.AdvanceLiveUsage(id, 90)
	if err != nil || total != 92 {
		t.Fatalf("AdvanceLiveUsage = %v, %v", total, err)
	}
	if s := seconds(sb.next(t, "session.usage.updated")); s != 92.0 {
		t.Fatalf("usage = %v, want 92", s)
	}
	if got, _ := e.sim.LookupLive(id); got.UsageSeconds != 92 {
		t.Errorf("LookupLive usage = %v", got.UsageSeconds)
	}
	e.clock.Advance(time.Minute) // past the 30 s maximum
	e.sim.Tick()
	closed := sb.next(t, "session.closed")
	if closed["reason"] != "expired" || seconds(closed) != 120.0 {
		t.Fatalf("session.closed = %v (usage is capped at 30 s + 90 s advanced)", closed)
	}
	if r, _ := e.sim.EndReason(id); r != "expired" {
		t.Errorf("EndReason = %q", r)
	}
	if _, err := e.sim.AdvanceLiveUsage(id, 1); err != ErrUnknownSession {
		t.Errorf("AdvanceLiveUsage on an ended session: %v", err)
	}
}

func TestLiveHangupClosesAWebRTCSession(t *testing.T) {
	e, ans := busEnv(t)
	id := e.createLive(t, `{"model":"gpt-live-1"}`)
	br := openBrowser(t, ans.link(id))
	br.next(t, "session.started")
	sb := e.attach(t, "/v1/live/sessions/"+id+"/attach?graceful_close=false")
	secret := e.mint(t, "{}")["value"].(string)
	res := e.do(t, http.MethodPost, "/v1/live/sessions/"+id+"/hangup", map[string]string{"Authorization": "Bearer " + secret}, "")
	wantError(t, res, 401, "invalid_request_error", "invalid_api_key", "")
	e.clock.Advance(42 * time.Second)
	res = e.do(t, http.MethodPost, "/v1/live/sessions/"+id+"/hangup", nil, "")
	if res.status != http.StatusOK || len(res.body) != 0 {
		t.Fatalf("hangup: %d %s", res.status, res.body)
	}
	for _, ev := range []map[string]any{sb.next(t, "session.closed"), br.next(t, "session.closed")} {
		if ev["reason"] != "close_requested" || ev["usage"].(map[string]any)["seconds"] != 42.0 || ev["session"].(map[string]any)["id"] != id {
			t.Errorf("session.closed = %v", ev)
		}
	}
	if len(ans.hungUp) != 1 {
		t.Errorf("peer hung up %v", ans.hungUp)
	}
	res = e.do(t, http.MethodPost, "/v1/live/sessions/"+id+"/hangup", nil, "")
	wantError(t, res, 404, "invalid_request_error", "session_not_found", "session_id")
}

func TestLivePeerGoingAway(t *testing.T) {
	for _, tt := range []struct {
		graceful bool
		reason   string
	}{{true, "remote_hangup"}, {false, "connection_lost"}} {
		t.Run(tt.reason, func(t *testing.T) {
			e, ans := busEnv(t)
			id := e.createLive(t, `{"model":"gpt-live-1"}`)
			sb := e.attach(t, "/v1/live/sessions/"+id+"/attach?graceful_close=false")
			ans.link(id).Gone(tt.graceful)
			if ev := sb.next(t, "session.closed"); ev["reason"] != tt.reason {
				t.Fatalf("session.closed = %v", ev)
			}
			ans.link(id).Gone(!tt.graceful) // later reports change nothing
			if r, _ := e.sim.EndReason(id); r != tt.reason {
				t.Errorf("EndReason = %q", r)
			}
		})
	}
}
