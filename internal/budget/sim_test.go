package budget_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/rtgate/rtgate/internal/budget"
	"github.com/rtgate/rtgate/internal/pricing"
	"github.com/rtgate/rtgate/internal/simulator"
)

// These tests script calls on the simulator (which follows OpenAI's
// documented event shapes), read the usage events from a real sideband
// WebSocket as the sideband controller will, decode them into the budget's
// usage types unchanged, and check the charge to the micro-dollar against
// the hand-computed figures of budget_test.go (docs/budgets.md).

const simKey = "sk-simulator-budget-test-0123456789"

const simOffer = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\na=rtpmap:111 opus/48000/2\r\n"

func startSim(t *testing.T) (*simulator.Simulator, string) {
	t.Helper()
	frozen := time.Date(2026, 3, 31, 12, 0, 0, 0, time.UTC)
	sim := simulator.New(simulator.Options{APIKeys: []string{simKey}, Now: func() time.Time { return frozen }, TickInterval: time.Hour})
	srv := httptest.NewServer(sim)
	t.Cleanup(func() { srv.Close(); sim.Close() })
	return sim, srv.URL
}

func simPost(t *testing.T, url, contentType, body string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+simKey)
	req.Header.Set("Content-Type", contentType)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { res.Body.Close() })
	if res.StatusCode != http.StatusCreated {
		t.Fatalf("POST %s: %d", url, res.StatusCode)
	}
	return res
}

func attachSideband(t *testing.T, url string) *websocket.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(url, "http"), &websocket.DialOptions{HTTPHeader: http.Header{"Authorization": {"Bearer " + simKey}}})
	if err != nil {
		t.Fatal(err)
	}
	c.SetReadLimit(1 << 20)
	t.Cleanup(func() { _ = c.CloseNow() })
	return c
}

// nextOf reads sideband events until one of the given types.
func nextOf(t *testing.T, c *websocket.Conn, types ...string) (string, []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		_, data, err := c.Read(ctx)
		if err != nil {
			t.Fatalf("sideband: %v (waiting for %v)", err, types)
		}
		var ev struct {
			Type string `json:"type"`
		}
		if err := json.Unmarshal(data, &ev); err != nil {
			t.Fatal(err)
		}
		for _, typ := range types {
			if ev.Type == typ {
				return typ, data
			}
		}
	}
}

func simUsage(textIn, cachedText, audioIn, cachedAudio, textOut, audioOut int64) simulator.Usage {
	var u simulator.Usage
	u.InputTokenDetails.TextTokens, u.InputTokenDetails.AudioTokens = textIn, audioIn
	u.InputTokenDetails.CachedTokensDetails.TextTokens, u.InputTokenDetails.CachedTokensDetails.AudioTokens = cachedText, cachedAudio
	u.OutputTokenDetails.TextTokens, u.OutputTokenDetails.AudioTokens = textOut, audioOut
	return u
}

func TestRealtimeCallOnTheSimulatorIsChargedToTheCent(t *testing.T) {
	sim, url := startSim(t)
	body := "--b\r\nContent-Disposition: form-data; name=\"sdp\"\r\nContent-Type: application/sdp\r\n\r\n" + simOffer +
		"\r\n--b\r\nContent-Disposition: form-data; name=\"session\"\r\nContent-Type: application/json\r\n\r\n" +
		`{"type":"realtime","model":"gpt-realtime-2.1"}` + "\r\n--b--\r\n"
	res := simPost(t, url+"/v1/realtime/calls", "multipart/form-data; boundary=b", body)
	id := strings.TrimPrefix(res.Header.Get("Location"), "/v1/realtime/calls/")
	sb := attachSideband(t, url+"/v1/realtime?call_id="+id)

	b, _, _ := newBudget(t, budget.Options{Limits: budget.Unlimited})
	ctl := newControl()
	meter, err := b.NewMeter(budget.EnderOptions{Control: ctl})
	if err != nil {
		t.Fatal(err)
	}
	call := budget.Call{ID: "call_sim", User: "alice", Kind: budget.KindRealtime, Model: "gpt-realtime-2.1"}
	// The three responses of TestScriptedRealtimeCallIsChargedToTheCent.
	for _, u := range []simulator.Usage{simUsage(300, 0, 150, 0, 20, 240), simUsage(320, 300, 490, 150, 30, 400), simUsage(1200, 1000, 800, 500, 100, 600)} {
		if _, err := sim.EmitResponse(id, u); err != nil {
			t.Fatal(err)
		}
		_, data := nextOf(t, sb, "response.done")
		var done struct {
			Response struct {
				Usage pricing.RealtimeUsage `json:"usage"`
			} `json:"response"`
		}
		if err := json.Unmarshal(data, &done); err != nil {
			t.Fatal(err)
		}
		meter.Usage(context.Background(), call, budget.Usage{Realtime: &done.Response.Usage})
	}
	st, err := b.Status(context.Background(), "alice")
	if err != nil {
		t.Fatal(err)
	}
	// $0.02184 + $0.03746 + $0.0518 = $0.1111.
	if st.Daily.Spent != 111_100 {
		t.Fatalf("charged %s, want 0.1111", st.Daily.Spent)
	}
}

func TestLiveSessionOnTheSimulatorIsChargedToTheCent(t *testing.T) {
	sim, url := startSim(t)
	offer, _ := json.Marshal(simOffer)
	res := simPost(t, url+"/v1/live/sessions", "application/json", `{"session":{"model":"gpt-live-1"},"transport":{"type":"webrtc","sdp":`+string(offer)+`}}`)
	var created struct {
		Session struct {
			ID string `json:"id"`
		} `json:"session"`
	}
	if err := json.NewDecoder(res.Body).Decode(&created); err != nil {
		t.Fatal(err)
	}
	id := created.Session.ID
	sb := attachSideband(t, url+"/v1/live/sessions/"+id+"/attach")

	b, _, _ := newBudget(t, budget.Options{Limits: budget.Unlimited})
	meter, err := b.NewMeter(budget.EnderOptions{Control: newControl()})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	call := budget.Call{ID: "call_live", User: "alice", Kind: budget.KindLive, Model: "gpt-live-1"}
	if _, err := b.Created(ctx, call); err != nil {
		t.Fatal(err)
	}
	// usage.seconds is cumulative: the controller turns it into steps.
	var prev time.Duration
	step := func(data []byte) {
		var ev struct {
			Usage struct {
				Seconds float64 `json:"seconds"`
			} `json:"usage"`
		}
		if err := json.Unmarshal(data, &ev); err != nil {
			t.Fatal(err)
		}
		total, err := pricing.Seconds(ev.Usage.Seconds)
		if err != nil {
			t.Fatal(err)
		}
		meter.Usage(ctx, call, budget.Usage{LiveTotal: total, LiveDelta: total - prev})
		prev = total
	}
	// The totals of TestScriptedLiveSessionIsChargedToTheCent: 4, 10,
	// 16.2, 60, 90.5 s.
	for _, s := range []float64{4, 6, 6.2, 43.8, 30.5} {
		if _, err := sim.AdvanceLiveUsage(id, s); err != nil {
			t.Fatal(err)
		}
		_, data := nextOf(t, sb, "session.usage.updated")
		step(data)
	}
	if err := sb.Write(ctx, websocket.MessageText, []byte(`{"type":"session.close"}`)); err != nil {
		t.Fatal(err)
	}
	_, data := nextOf(t, sb, "session.closed")
	step(data) // the final total; nothing new since the last update
	st, err := b.Status(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	// 90.5 s × $0.05/60 = $0.0754166… → $0.075417; 90.5 s of call time.
	if st.Daily.Spent != 75_417 || st.DailyTime.Used != "90.5" {
		t.Fatalf("charged %s and %s s, want 0.075417 and 90.5", st.Daily.Spent, st.DailyTime.Used)
	}
}
