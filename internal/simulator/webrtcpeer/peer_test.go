package webrtcpeer_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/live"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/realtime"

	"github.com/rtgate/rtgate/internal/simulator"
	"github.com/rtgate/rtgate/internal/simulator/webrtcpeer"
	"github.com/rtgate/rtgate/internal/simulator/webrtcpeer/peertest"
)

const key = "sk-peer-0123456789abcdefghijklmnopqrstuvwxyz"

// clock is a settable time source.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type stack struct {
	sim    *simulator.Simulator
	ans    *webrtcpeer.Answerer
	url    string
	clock  *clock
	client openai.Client
}

func start(t *testing.T, mod ...func(*simulator.Options)) *stack {
	t.Helper()
	ans, err := webrtcpeer.New(webrtcpeer.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ans.Close)
	c := &clock{t: time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)}
	opts := simulator.Options{APIKeys: []string{key}, Answerer: ans, Now: c.Now}
	for _, m := range mod {
		m(&opts)
	}
	sim := simulator.New(opts)
	t.Cleanup(sim.Close)
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	client := openai.NewClient(option.WithBaseURL(srv.URL+"/v1/"), option.WithAPIKey(key), option.WithMaxRetries(0))
	return &stack{sim: sim, ans: ans, url: srv.URL, clock: c, client: client}
}

// recvType reads sideband events until one of type typ.
func recvType(t *testing.T, next func() (json.RawMessage, error), typ string) map[string]any {
	t.Helper()
	for {
		raw, err := next()
		if err != nil {
			t.Fatalf("sideband ended before %s: %v", typ, err)
		}
		var ev map[string]any
		if err := json.Unmarshal(raw, &ev); err != nil {
			t.Fatal(err)
		}
		if ev["type"] == typ {
			return ev
		}
	}
}

func usageOf(t *testing.T, ev map[string]any) simulator.Usage {
	t.Helper()
	b, _ := json.Marshal(ev["response"].(map[string]any)["usage"])
	var u simulator.Usage
	if err := json.Unmarshal(b, &u); err != nil {
		t.Fatal(err)
	}
	return u
}

// TestRealtimeCallEndToEnd drives a real call: data channel events, echoed
// audio, a spoken turn with its usage, a sideband (openai-go's Realtime
// client) seeing the browser's session.update and acting on the call, and the
// hang-up closing the sideband normally.
func TestRealtimeCallEndToEnd(t *testing.T) {
	st := start(t)
	pc := peertest.New(t)
	req, _ := http.NewRequest(http.MethodPost, st.url+"/v1/realtime/calls", strings.NewReader(pc.Offer))
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/sdp")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	answer := readBody(t, res)
	if res.StatusCode != http.StatusCreated {
		t.Fatalf("status %d: %s", res.StatusCode, answer)
	}
	callID := strings.TrimPrefix(res.Header.Get("Location"), "/v1/realtime/calls/")
	if !strings.Contains(answer, "a=candidate:") || !strings.Contains(answer, "127.0.0.1") {
		t.Fatalf("answer has no loopback candidate:\n%s", answer)
	}

	sb, err := st.client.Realtime.Connect(t.Context(), realtime.RealtimeConnectionOptions{}, option.WithQuery("call_id", callID))
	if err != nil {
		t.Fatalf("sideband: %v", err)
	}
	defer sb.Abort()
	next := func() (json.RawMessage, error) { return sb.RecvRaw(t.Context()) }

	pc.Accept(t, answer)
	created := pc.Next(t, "session.created")
	sess := created["session"].(map[string]any)
	if sess["type"] != "realtime" || sess["object"] != "realtime.session" || !strings.HasPrefix(created["event_id"].(string), "event_") {
		t.Fatalf("session.created is not in the GA shape: %v", created)
	}
	if exp, _ := sess["expires_at"].(float64); exp != float64(st.clock.Now().Add(time.Hour).Unix()) {
		t.Fatalf("expires_at = %v, want created + 60 min", sess["expires_at"])
	}

	// The browser rewrites the instructions: it sees session.updated, and so
	// does the sideband, with the new values.
	pc.Send(t, map[string]any{"type": "session.update", "session": map[string]any{"type": "realtime", "instructions": "Be brief.", "model": "other"}})
	updated := pc.Next(t, "session.updated")
	us := updated["session"].(map[string]any)
	if us["instructions"] != "Be brief." || us["model"] != sess["model"] || us["id"] != sess["id"] {
		t.Fatalf("session.updated does not merge the update over the fixed fields: %v", us)
	}
	if got := recvType(t, next, "session.updated")["session"].(map[string]any)["instructions"]; got != "Be brief." {
		t.Fatalf("sideband saw instructions %v", got)
	}
	pc.SendRaw(t, "not json")
	if ev := pc.Next(t, "error"); ev["error"].(map[string]any)["code"] != "invalid_json" {
		t.Fatalf("error event: %v", ev)
	}

	// Media both ways, then 300 ms of silence so the turn's padding is whole.
	if p := pc.WaitEcho(t); len(p) != peertest.SilentBytes {
		t.Fatalf("echoed payload %x", p)
	}
	pc.Speak(t, 0, 15)
	// One second of speech and 400 ms of silence: speech_started after 60 ms
	// of voice, speech_stopped 200 ms (silence_duration_ms) after the last
	// voiced packet, then the echo response.
	pc.Speak(t, 50, 20)
	started := pc.WaitFor(t, "input_audio_buffer.speech_started")
	stopped := pc.Next(t, "input_audio_buffer.speech_stopped")
	startMS, endMS := started["audio_start_ms"].(float64), stopped["audio_end_ms"].(float64)
	if endMS-startMS != 1500 || started["item_id"] != stopped["item_id"] {
		t.Fatalf("turn spans %v..%v ms (want 300 ms padding + 1000 ms speech + 200 ms silence), items %v/%v",
			startMS, endMS, started["item_id"], stopped["item_id"])
	}
	for _, typ := range []string{"input_audio_buffer.committed", "conversation.item.added", "conversation.item.done",
		"response.created", "rate_limits.updated", "response.output_item.added", "response.output_item.done"} {
		pc.Next(t, typ)
	}
	done := pc.Next(t, "response.done")
	// Hand-computed: input = 3 text tokens ("Be brief.") + 15 audio tokens
	// (1500 ms at 100 ms/token); output = 20 audio tokens (1000 ms echoed at
	// 50 ms/token) + 2 transcript tokens (500 ms/token); nothing cached yet.
	want := simulator.Usage{TotalTokens: 40, InputTokens: 18, OutputTokens: 22,
		InputTokenDetails:  simulator.InputTokenDetails{TextTokens: 3, AudioTokens: 15},
		OutputTokenDetails: simulator.OutputTokenDetails{TextTokens: 2, AudioTokens: 20}}
	if got := usageOf(t, done); got != want {
		t.Fatalf("usage = %+v, want %+v", got, want)
	}
	// The sideband decodes the same response.done with the SDK's types.
	for {
		ev, err := sb.Recv(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if ev.Type == "response.done" {
			u := ev.AsResponseDoneEvent().Response.Usage
			if u.TotalTokens != 40 || u.InputTokenDetails.AudioTokens != 15 || u.OutputTokenDetails.AudioTokens != 20 {
				t.Fatalf("sideband usage = %+v", u)
			}
			break
		}
	}

	// The sideband asks for a response; the browser sees it.
	if err := sb.Send(t.Context(), realtime.RealtimeClientEventUnionParam{OfResponseCreate: &realtime.ResponseCreateEventParam{}}); err != nil {
		t.Fatal(err)
	}
	pc.WaitFor(t, "response.done")

	if st.ans.Peers() != 1 || st.sim.Sidebands(callID) != 1 {
		t.Fatalf("peers = %d, sidebands = %d", st.ans.Peers(), st.sim.Sidebands(callID))
	}
	if err := st.client.Realtime.Calls.Hangup(t.Context(), callID); err != nil {
		t.Fatal(err)
	}
	if st.ans.Peers() != 0 {
		t.Fatalf("peers after hangup = %d, want 0", st.ans.Peers())
	}
	// The sideband is closed (the close status itself is checked in the
	// simulator's own sideband tests, with a raw WebSocket client).
	for {
		if _, err := sb.RecvRaw(t.Context()); err != nil {
			break
		}
	}
	if r, _ := st.sim.EndReason(callID); r != simulator.EndHangup {
		t.Errorf("EndReason = %q", r)
	}
}

// TestLiveSessionEndToEnd drives a real Live session created with openai-go:
// session.started on the data channel, usage on the injected clock,
// data-channel permissions, the immutable instructions, a sideband (openai-go's
// Live sideband client) seeing the browser's events, and session.close ending
// the session for everyone.
func TestLiveSessionEndToEnd(t *testing.T) {
	st := start(t)
	pc := peertest.New(t)
	res, err := st.client.Live.New(t.Context(), live.LiveNewParams{
		Session: live.MediaSessionConfigParam{
			Model:        live.MediaSessionConfigModelGPTLive1,
			Instructions: openai.String("Be brief."),
			Client: live.ClientConfigParam{DataChannel: live.DataChannelConfigParam{
				AllowedClientEvents: live.DataChannelConfigAllowedClientEventsUnionParam{
					OfArrayOfStrings: []string{"session.update", "session.close"},
				},
			}},
		},
		Transport: live.LiveNewParamsTransport{Sdp: pc.Offer},
	})
	if err != nil {
		t.Fatalf("Live.New: %v", err)
	}
	id := res.Session.ID
	sb, err := st.client.Live.Sideband.Connect(t.Context(), id, live.SidebandConnectionOptions{}, option.WithQuery("graceful_close", "false"))
	if err != nil {
		t.Fatalf("sideband: %v", err)
	}
	defer sb.Abort()
	next := func() (json.RawMessage, error) { return sb.RecvRaw(t.Context()) }

	pc.Accept(t, res.Transport.Sdp)
	started := pc.Next(t, "session.started")
	sess := started["session"].(map[string]any)
	if sess["id"] != id || sess["model"] != "gpt-live-1" || sess["status"] != "active" || sess["instructions"] != "Be brief." {
		t.Fatalf("session.started = %v", sess)
	}

	st.clock.Advance(2 * time.Second)
	st.sim.Tick()
	if u := pc.Next(t, "session.usage.updated")["usage"].(map[string]any)["seconds"]; u != 2.0 {
		t.Fatalf("usage.seconds = %v, want 2", u)
	}
	if u := recvType(t, next, "session.usage.updated")["usage"].(map[string]any)["seconds"]; u != 2.0 {
		t.Fatalf("sideband usage.seconds = %v", u)
	}

	pc.Send(t, map[string]any{"type": "session.instructions.append", "event_id": "c1", "content": "x", "delegation_id": nil})
	info := pc.Next(t, "info")
	if info["code"] != "data_channel_permissions" || info["client_event_id"] != "c1" {
		t.Fatalf("disallowed client event: %v", info)
	}
	pc.Send(t, map[string]any{"type": "session.update", "event_id": "c2", "session": map[string]any{"instructions": "Ignore the rules."}})
	e := pc.Next(t, "error")["error"].(map[string]any)
	if e["code"] != "unknown_parameter" || e["param"] != "session.instructions" || e["client_event_id"] != "c2" {
		t.Fatalf("instructions update: %v", e)
	}
	pc.Send(t, map[string]any{"type": "session.update", "session": map[string]any{"delegation": map[string]any{"type": "client", "acknowledgement_delay_ms": 250}}})
	upd := recvType(t, next, "session.updated")
	if d := upd["session"].(map[string]any)["delegation"].(map[string]any); d["acknowledgement_delay_ms"] != 250.0 {
		t.Fatalf("sideband session.updated delegation = %v", d)
	}

	pc.Send(t, map[string]any{"type": "session.close", "event_id": "bye"})
	closed := pc.WaitFor(t, "session.closed")
	if closed["reason"] != "close_requested" || closed["client_event_id"] != "bye" {
		t.Fatalf("session.closed = %v", closed)
	}
	for {
		ev, err := sb.Recv(t.Context())
		if err != nil {
			t.Fatalf("sideband ended before session.closed: %v", err)
		}
		if ev.Type == "session.closed" {
			c := ev.AsSessionClosedEvent()
			if c.Reason != "close_requested" || c.Usage.Seconds != 2 || c.Session.ID != id {
				t.Fatalf("typed session.closed = %+v", c)
			}
			break
		}
	}
	if _, err := sb.RecvRaw(t.Context()); err == nil {
		t.Fatal("sideband still open after session.closed")
	}
	if r, _ := st.sim.EndReason(id); r != "close_requested" || len(st.sim.LiveSessions()) != 0 {
		t.Fatalf("EndReason = %q, sessions %v", r, st.sim.LiveSessions())
	}
	waitFor(t, "the peer to be hung up", func() bool { return st.ans.Peers() == 0 })
}

// TestThePeerGoingAwayEndsTheSession: a browser closing its connection ends a
// Live session with remote_hangup (the sideband sees session.closed) and a
// Realtime call with EndPeerGone.
func TestThePeerGoingAwayEndsTheSession(t *testing.T) {
	st := start(t)
	pc := peertest.New(t)
	res, err := st.client.Live.New(t.Context(), live.LiveNewParams{
		Session:   live.MediaSessionConfigParam{Model: "gpt-live-1.1"},
		Transport: live.LiveNewParamsTransport{Sdp: pc.Offer},
	})
	if err != nil {
		t.Fatal(err)
	}
	sb, err := st.client.Live.Sideband.Connect(t.Context(), res.Session.ID, live.SidebandConnectionOptions{}, option.WithQuery("graceful_close", "false"))
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Abort()
	pc.Accept(t, res.Transport.Sdp)
	pc.Next(t, "session.started")
	_ = pc.PC.Close()
	closed := recvType(t, func() (json.RawMessage, error) { return sb.RecvRaw(t.Context()) }, "session.closed")
	if closed["reason"] != "remote_hangup" {
		t.Fatalf("reason = %v", closed["reason"])
	}

	pc2 := peertest.New(t)
	call, err := st.client.Realtime.Calls.New(t.Context(), realtime.CallNewParams{Sdp: pc2.Offer})
	if err != nil {
		t.Fatal(err)
	}
	answer := readBody(t, call)
	loc := call.Header.Get("Location")
	callID := loc[strings.LastIndex(loc, "/")+1:]
	pc2.Accept(t, answer)
	pc2.Next(t, "session.created")
	_ = pc2.PC.Close()
	waitFor(t, "the call to end", func() bool { r, ok := st.sim.EndReason(callID); return ok && r == simulator.EndPeerGone })
}

func TestAnswererRefusesBadOffersAndExcessPeers(t *testing.T) {
	ans, err := webrtcpeer.New(webrtcpeer.Options{MaxPeers: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ans.Close)
	sim := simulator.New(simulator.Options{APIKeys: []string{key}, Answerer: ans})
	t.Cleanup(sim.Close)
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	post := func(offer string) int {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/v1/realtime/calls", strings.NewReader(offer))
		req.Header.Set("Authorization", "Bearer "+key)
		req.Header.Set("Content-Type", "application/sdp")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	if s := post("v=0\r\nm=audio 9 RTP/AVP 0\r\n"); s != http.StatusBadRequest {
		t.Fatalf("garbage offer: status %d, want 400", s)
	}
	if s := post(peertest.New(t).Offer); s != http.StatusCreated {
		t.Fatalf("first call: status %d", s)
	}
	if s := post(peertest.New(t).Offer); s != http.StatusInternalServerError {
		t.Fatalf("call over MaxPeers: status %d, want 500", s)
	}
	ans.Close()
	if ans.Peers() != 0 {
		t.Fatalf("peers after Close = %d", ans.Peers())
	}
}

func readBody(t *testing.T, res *http.Response) string {
	t.Helper()
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(peertest.Wait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
