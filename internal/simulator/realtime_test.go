package simulator

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"
)

// packets feeds a call's Link 20 ms packets of the given payload sizes,
// starting at RTP timestamp from.
func packets(link *Link, from uint32, sizes ...int) uint32 {
	ts := from
	for _, n := range sizes {
		link.Audio(ts, n)
		ts += 960
	}
	return ts
}

func repeat(n, size int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = size
	}
	return out
}

func concat(parts ...[]int) []int {
	var out []int
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// callWithSession creates a call whose multipart session is session (JSON).
func (e *env) callWithSession(t *testing.T, session string) string {
	t.Helper()
	body := "--b\r\nContent-Disposition: form-data; name=\"sdp\"\r\nContent-Type: application/sdp\r\n\r\n" + offer +
		"\r\n--b\r\nContent-Disposition: form-data; name=\"session\"\r\nContent-Type: application/json\r\n\r\n" + session + "\r\n--b--\r\n"
	res := e.do(t, http.MethodPost, "/v1/realtime/calls", map[string]string{"Content-Type": "multipart/form-data; boundary=b"}, body)
	if res.status != http.StatusCreated {
		t.Fatalf("create call: %d %s", res.status, res.body)
	}
	return callLocation.FindStringSubmatch(res.header.Get("Location"))[1]
}

// TestTurnDetectionOnPackets: speech is found from Opus payload sizes and
// RTP timestamps alone (see the package doc for the rule).
func TestTurnDetectionOnPackets(t *testing.T) {
	const v, s = 80, 3 // a voiced and a silent payload
	tests := []struct {
		name          string
		turnDetection string // the session's audio.input.turn_detection
		sizes         []int
		want          []string // event types in order
		startMS       float64
		endMS         float64
	}{
		{name: "one second of speech then silence", sizes: concat(repeat(20, s), repeat(50, v), repeat(15, s)),
			want:    []string{"input_audio_buffer.speech_started", "input_audio_buffer.speech_stopped", "input_audio_buffer.committed", "conversation.item.added", "conversation.item.done", "response.created", "rate_limits.updated", "response.output_item.added", "response.output_item.done", "response.done"},
			startMS: 400 - 300, endMS: 400 + 1000 + 200},
		{name: "prefix padding stops at the start of the audio", sizes: concat(repeat(5, v), repeat(15, s)),
			want:    []string{"input_audio_buffer.speech_started", "input_audio_buffer.speech_stopped", "input_audio_buffer.committed", "conversation.item.added", "conversation.item.done", "response.created", "rate_limits.updated", "response.output_item.added", "response.output_item.done", "response.done"},
			startMS: 0, endMS: 100 + 200},
		{name: "two voiced packets are a click, not speech", sizes: concat(repeat(10, s), repeat(2, v), repeat(20, s))},
		{name: "gaps shorter than silence_duration_ms keep one turn going", sizes: concat(repeat(10, v), repeat(9, s), repeat(10, v), repeat(5, s)),
			want: []string{"input_audio_buffer.speech_started"}, startMS: 0},
		{name: "a longer silence_duration_ms waits longer", turnDetection: `{"type":"server_vad","silence_duration_ms":500,"prefix_padding_ms":0}`,
			sizes: concat(repeat(10, s), repeat(10, v), repeat(20, s)), want: []string{"input_audio_buffer.speech_started"}, startMS: 200},
		{name: "create_response false commits without a response", turnDetection: `{"type":"server_vad","create_response":false}`,
			sizes:   concat(repeat(20, s), repeat(10, v), repeat(15, s)),
			want:    []string{"input_audio_buffer.speech_started", "input_audio_buffer.speech_stopped", "input_audio_buffer.committed", "conversation.item.added", "conversation.item.done"},
			startMS: 100, endMS: 400 + 200 + 200},
		{name: "semantic_vad waits 500 ms of silence", turnDetection: `{"type":"semantic_vad"}`,
			sizes:   concat(repeat(20, s), repeat(10, v), repeat(26, s)),
			want:    []string{"input_audio_buffer.speech_started", "input_audio_buffer.speech_stopped", "input_audio_buffer.committed", "conversation.item.added", "conversation.item.done", "response.created", "rate_limits.updated", "response.output_item.added", "response.output_item.done", "response.done"},
			startMS: 100, endMS: 400 + 200 + 500},
		{name: "no turn detection, no events", turnDetection: `null`, sizes: concat(repeat(10, v), repeat(50, s))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, ans := busEnv(t)
			session := `{"type":"realtime","instructions":"Be brief."}`
			if tt.turnDetection != "" {
				session = `{"type":"realtime","instructions":"Be brief.","audio":{"input":{"turn_detection":` + tt.turnDetection + `}}}`
			}
			id := e.callWithSession(t, session)
			br := openBrowser(t, ans.link(id))
			br.next(t, "session.created")
			packets(ans.link(id), 123456, tt.sizes...)
			var evs []map[string]any
			for _, typ := range tt.want {
				evs = append(evs, br.next(t, typ))
			}
			if extra := br.types(t); len(extra) != 0 {
				t.Fatalf("unexpected events %v", extra)
			}
			if len(evs) > 0 && evs[0]["audio_start_ms"] != tt.startMS {
				t.Errorf("audio_start_ms = %v, want %v", evs[0]["audio_start_ms"], tt.startMS)
			}
			if len(evs) > 1 {
				if evs[1]["audio_end_ms"] != tt.endMS || evs[1]["item_id"] != evs[0]["item_id"] || evs[2]["item_id"] != evs[0]["item_id"] {
					t.Errorf("speech_stopped = %v, committed %v, want audio_end_ms %v", evs[1], evs[2], tt.endMS)
				}
			}
		})
	}
}

func usageFrom(t *testing.T, done map[string]any) Usage {
	t.Helper()
	var u Usage
	if err := json.Unmarshal(mustJSON(done["response"].(map[string]any)["usage"]), &u); err != nil {
		t.Fatal(err)
	}
	return u
}

// TestUsageAccountingAcrossTurns checks the token rules of the package doc
// against hand-computed figures over a conversation.
func TestUsageAccountingAcrossTurns(t *testing.T) {
	e, ans := busEnv(t)
	// "Be brief." is 9 characters: 3 text tokens.
	id := e.callWithSession(t, `{"type":"realtime","instructions":"Be brief."}`)
	br := openBrowser(t, ans.link(id))
	br.next(t, "session.created")
	sb := e.attach(t, "/v1/realtime?call_id="+id)
	done := func() Usage {
		t.Helper()
		u := usageFrom(t, br.waitFor(t, "response.done"))
		if su := usageFrom(t, sb.waitFor(t, "response.done")); su != u {
			t.Fatalf("sideband usage %+v, browser %+v", su, u)
		}
		return u
	}

	// Turn 1: 1000 ms of speech, 300 ms padding and 200 ms silence buffered:
	// 15 audio tokens in; 1000 ms echoed: 20 audio + 2 transcript tokens out.
	if err := e.sim.SimulateTurn(id, time.Second); err != nil {
		t.Fatal(err)
	}
	u1 := Usage{TotalTokens: 40, InputTokens: 18, OutputTokens: 22,
		InputTokenDetails:  InputTokenDetails{TextTokens: 3, AudioTokens: 15},
		OutputTokenDetails: OutputTokenDetails{TextTokens: 2, AudioTokens: 20}}
	if got := done(); got != u1 {
		t.Fatalf("turn 1 usage = %+v, want %+v", got, u1)
	}

	// A text item (11 characters: 3 tokens) and an image part (85 tokens).
	sb.send(t, map[string]any{"type": "conversation.item.create", "item": map[string]any{"type": "message", "role": "user",
		"content": []any{map[string]any{"type": "input_text", "text": "What's this"}, map[string]any{"type": "input_image", "image_url": "data:image/png;base64,AA=="}}}})
	item := br.waitFor(t, "conversation.item.done")["item"].(map[string]any)
	if item["object"] != "realtime.item" || !strings.HasPrefix(item["id"].(string), "item_") {
		t.Fatalf("item = %v", item)
	}

	// Turn 2: 500 ms of speech (10 tokens buffered; 10 audio + 1 text out).
	// Input: text 3 + 2 (reply 1) + 3 (item) = 8; audio 15 + 20 + 10 = 45;
	// image 85. Cached: what turn 1's response read: the instructions (3
	// text) and turn 1's user audio (15).
	if err := e.sim.SimulateTurn(id, 500*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	u2 := Usage{TotalTokens: 149, InputTokens: 138, OutputTokens: 11,
		InputTokenDetails: InputTokenDetails{TextTokens: 8, AudioTokens: 45, ImageTokens: 85, CachedTokens: 18,
			CachedTokensDetails: CachedDetails{TextTokens: 3, AudioTokens: 15}},
		OutputTokenDetails: OutputTokenDetails{TextTokens: 1, AudioTokens: 10}}
	if got := done(); got != u2 {
		t.Fatalf("turn 2 usage = %+v, want %+v", got, u2)
	}

	// A sideband's response.create with extra instructions ("Say bye." is 8
	// characters: 2 tokens) replies 1000 ms. Input: text 8 + 1 + 2 = 11;
	// audio 45 + 10 = 55; image 85. Cached: everything turn 2 read (text 8,
	// audio 45, image 85).
	sb.send(t, map[string]any{"type": "response.create", "response": map[string]any{"instructions": "Say bye."}})
	u3 := Usage{TotalTokens: 173, InputTokens: 151, OutputTokens: 22,
		InputTokenDetails: InputTokenDetails{TextTokens: 11, AudioTokens: 55, ImageTokens: 85, CachedTokens: 138,
			CachedTokensDetails: CachedDetails{TextTokens: 8, AudioTokens: 45, ImageTokens: 85}},
		OutputTokenDetails: OutputTokenDetails{TextTokens: 2, AudioTokens: 20}}
	if got := done(); got != u3 {
		t.Fatalf("response.create usage = %+v, want %+v", got, u3)
	}
}

func TestResponseShapeAndLimits(t *testing.T) {
	e, ans := busEnv(t)
	id := e.callWithSession(t, `{"type":"realtime","instructions":"","max_output_tokens":10,"output_modalities":["text"]}`)
	br := openBrowser(t, ans.link(id))
	br.next(t, "session.created")
	if err := e.sim.SimulateTurn(id, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	created := br.waitFor(t, "response.created")["response"].(map[string]any)
	done := br.waitFor(t, "response.done")["response"].(map[string]any)
	if created["status"] != "in_progress" || created["usage"] != nil || created["id"] != done["id"] || !strings.HasPrefix(done["id"].(string), "resp_") {
		t.Errorf("response.created = %v", created)
	}
	// Text output only: 10 s of transcript is 20 tokens, cut to 10.
	if done["status"] != "incomplete" || done["status_details"].(map[string]any)["reason"] != "max_output_tokens" {
		t.Errorf("status = %v %v", done["status"], done["status_details"])
	}
	u := usageFrom(t, map[string]any{"response": done})
	if u.OutputTokenDetails != (OutputTokenDetails{TextTokens: 10}) || u.OutputTokens != 10 {
		t.Errorf("output = %+v", u.OutputTokenDetails)
	}
	out := done["output"].([]any)[0].(map[string]any)
	if out["role"] != "assistant" || out["content"].([]any)[0].(map[string]any)["type"] != "output_text" {
		t.Errorf("output item = %v", out)
	}
}

func TestSessionUpdateRules(t *testing.T) {
	e, ans := busEnv(t)
	id := e.createCall(t)
	br := openBrowser(t, ans.link(id))
	created := br.next(t, "session.created")["session"].(map[string]any)

	br.send(t, map[string]any{"type": "session.update", "session": map[string]any{"type": "realtime", "audio": map[string]any{"output": map[string]any{"voice": "cedar"}}}})
	s := br.next(t, "session.updated")["session"].(map[string]any)
	audio := s["audio"].(map[string]any)
	if audio["output"].(map[string]any)["voice"] != "cedar" || audio["input"] == nil || audio["output"].(map[string]any)["speed"] != 1.0 {
		t.Fatalf("objects do not merge member by member: %v", audio)
	}
	if s["id"] != created["id"] || s["expires_at"] != created["expires_at"] {
		t.Errorf("fixed fields changed: %v", s)
	}
	for _, tt := range []struct {
		name  string
		sess  any
		code  string
		param string
	}{
		{"type is required", map[string]any{"instructions": "x"}, "missing_required_parameter", "session.type"},
		{"a transcription session is not this session", map[string]any{"type": "transcription"}, "invalid_value", "session.type"},
		{"unknown member", map[string]any{"type": "realtime", "temperature": 0.8}, "unknown_parameter", "session.temperature"},
		{"bad speed", map[string]any{"type": "realtime", "audio": map[string]any{"output": map[string]any{"speed": 3}}}, "decimal_above_max_value", "session.audio.output.speed"},
		{"no session", nil, "invalid_type", "session"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			br.send(t, map[string]any{"type": "session.update", "event_id": "evt", "session": tt.sess})
			ev := br.next(t, "error")["error"].(map[string]any)
			if ev["code"] != tt.code || ev["param"] != tt.param || ev["event_id"] != "evt" {
				t.Errorf("error = %v", ev)
			}
		})
	}
	br.send(t, map[string]any{"type": "input_audio_buffer.clear"})
	br.send(t, map[string]any{"type": "made.up"})
	if ev := br.next(t, "error")["error"].(map[string]any); ev["code"] != "invalid_value" || ev["param"] != "type" {
		t.Errorf("unknown event: %v", ev)
	}

	// Once the assistant has spoken, the voice is fixed.
	if err := e.sim.SimulateTurn(id, 200*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	br.waitFor(t, "response.done")
	br.send(t, map[string]any{"type": "session.update", "session": map[string]any{"type": "realtime", "audio": map[string]any{"output": map[string]any{"voice": "marin"}}}})
	if ev := br.next(t, "error")["error"].(map[string]any); ev["code"] != "cannot_update_voice" {
		t.Errorf("voice change after audio: %v", ev)
	}
	br.send(t, map[string]any{"type": "session.update", "session": map[string]any{"type": "realtime", "audio": map[string]any{"output": map[string]any{"voice": "cedar"}}, "instructions": "Same voice."}})
	if s := br.next(t, "session.updated")["session"].(map[string]any); s["instructions"] != "Same voice." {
		t.Errorf("restating the voice is not a change: %v", s)
	}
}

func TestScriptingHooks(t *testing.T) {
	e, ans := busEnv(t)
	id := e.callWithSession(t, `{"type":"realtime","audio":{"input":{"turn_detection":null}}}`)
	br := openBrowser(t, ans.link(id))
	br.next(t, "session.created")
	if err := e.sim.SimulateTurn(id, time.Second); err != ErrTurnDetectionOff {
		t.Errorf("SimulateTurn without turn detection: %v", err)
	}
	if err := e.sim.SimulateTurn("rtc_nope", time.Second); err != ErrUnknownSession {
		t.Errorf("SimulateTurn on an unknown call: %v", err)
	}
	given := Usage{InputTokenDetails: InputTokenDetails{TextTokens: 100, AudioTokens: 1000, ImageTokens: 7,
		CachedTokensDetails: CachedDetails{TextTokens: 50, AudioTokens: 400}},
		OutputTokenDetails: OutputTokenDetails{TextTokens: 30, AudioTokens: 600}}
	respID, err := e.sim.EmitResponse(id, given)
	if err != nil || !strings.HasPrefix(respID, "resp_") {
		t.Fatalf("EmitResponse = %q, %v", respID, err)
	}
	done := br.waitFor(t, "response.done")
	want := given
	want.InputTokens, want.OutputTokens, want.TotalTokens, want.InputTokenDetails.CachedTokens = 1107, 630, 1737, 450
	if got := usageFrom(t, done); got != want || done["response"].(map[string]any)["id"] != respID {
		t.Errorf("usage = %+v, want %+v", got, want)
	}
	if _, err := e.sim.EmitResponse("live_nope", given); err != ErrUnknownSession {
		t.Errorf("EmitResponse on an unknown call: %v", err)
	}
	if _, err := e.sim.AdvanceLiveUsage(id, 1); err != ErrUnknownSession {
		t.Errorf("AdvanceLiveUsage on a Realtime call: %v", err)
	}
	if err := e.sim.ClientEvent("rtc_nope", []byte(`{"type":"response.create"}`)); err != ErrUnknownSession {
		t.Errorf("ClientEvent on an unknown id: %v", err)
	}
}

func TestCallExpiresOnTheInjectedClock(t *testing.T) {
	e, ans := busEnv(t, func(o *Options) { o.MaxCallDuration = 10 * time.Minute })
	id := e.createCall(t)
	br := openBrowser(t, ans.link(id))
	br.next(t, "session.created")
	sb := e.attach(t, "/v1/realtime?call_id="+id)
	e.clock.Advance(10*time.Minute - time.Second)
	e.sim.Tick()
	if len(e.sim.Calls()) != 1 {
		t.Fatal("the call ended early")
	}
	e.clock.Advance(time.Second)
	e.sim.Tick()
	for _, ev := range []map[string]any{br.next(t, "error"), sb.next(t, "error")} {
		if er := ev["error"].(map[string]any); er["code"] != "session_expired" || er["message"] != "Your session hit the maximum duration of 10 minutes." {
			t.Errorf("expiry error = %v", er)
		}
	}
	if code, reason := sb.closed(t); code != 1000 || reason != "session ended: expired" {
		t.Errorf("close = %d %q", code, reason)
	}
	if r, _ := e.sim.EndReason(id); r != EndExpired || len(e.sim.Calls()) != 0 || len(ans.hungUp) != 1 {
		t.Errorf("EndReason %q, calls %v, hung up %v", r, e.sim.Calls(), ans.hungUp)
	}
}

func TestPeerGoneEndsACall(t *testing.T) {
	e, ans := busEnv(t)
	id := e.createCall(t)
	sb := e.attach(t, "/v1/realtime?call_id="+id)
	ans.link(id).Gone(true)
	if code, reason := sb.closed(t); code != 1000 || reason != "session ended: peer_gone" {
		t.Errorf("close = %d %q", code, reason)
	}
	if r, _ := e.sim.EndReason(id); r != EndPeerGone {
		t.Errorf("EndReason = %q", r)
	}
	res := e.do(t, http.MethodPost, "/v1/realtime/calls/"+id+"/hangup", nil, "")
	wantError(t, res, 404, "invalid_request_error", "call_id_not_found", "call_id")
}
