package callse2e

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/rtgate/rtgate/e2e/clustertest"
	"github.com/rtgate/rtgate/internal/simulator"
)

// The sideband across instances: every call's sideband is held by the
// instance that owns the call; the call can be hung up through any other;
// when the owner dies another re-attaches and keeps enforcing the deadline,
// the server's session and the metering.

const serverInstructions = "Instructions of the server."

// userData reads user's /api/me/data through in.
func userData(t *testing.T, c *clustertest.Cluster, in *clustertest.Instance, user string) (data struct {
	Sessions []struct {
		SessionID string         `json:"session_id"`
		Usage     map[string]int `json:"usage"`
	} `json:"sessions"`
	ActiveSessions int            `json:"active_sessions"`
	Usage          map[string]int `json:"usage"`
}) {
	t.Helper()
	r := in.Do(t, "GET", "/api/me/data", "", c.Bearer(t, user))
	if r.StatusCode != http.StatusOK || json.Unmarshal([]byte(r.Body), &data) != nil {
		t.Fatalf("user data through %s: %d %s", in.URL, r.StatusCode, r.Body)
	}
	return data
}

// instructions is the upstream session's current instructions.
func instructions(c *clustertest.Cluster, call *clustertest.Call) string {
	sc, ok := c.Sim.LookupCall(call.UpstreamID)
	if !ok {
		return ""
	}
	var s struct {
		Instructions string `json:"instructions"`
	}
	_ = json.Unmarshal(sc.Session, &s)
	return s.Instructions
}

// TestSidebandOwnedByOneInstanceHungUpThroughAnother: A holds the call's
// sideband (and meters it); the owner hangs up through B; A sees the end,
// lets its sideband go and ends nothing twice.
func TestSidebandOwnedByOneInstanceHungUpThroughAnother(t *testing.T) {
	t.Parallel()
	c := clustertest.New(t, map[string]string{"REALTIME_INSTRUCTIONS": serverInstructions})
	a, b := c.Start(t), c.Start(t)
	alice := c.Bearer(t, "alice")
	call := a.CreateCall(t, alice)
	a.WaitLine(t, `"msg":"sideband attached"`, `"upstream_call_id":"`+call.UpstreamID+`"`)
	if n := c.Sim.Sidebands(call.UpstreamID); n != 1 {
		t.Fatalf("sidebands %d, want A's alone", n)
	}
	if strings.Contains(b.Logs(), call.UpstreamID) {
		t.Fatal("B touched the call before anyone asked it to")
	}
	if _, err := c.Sim.EmitResponse(call.UpstreamID, simulator.Usage{OutputTokenDetails: simulator.OutputTokenDetails{AudioTokens: 240}}); err != nil {
		t.Fatal(err)
	}
	id := strings.TrimPrefix(call.Location, "/api/realtime-call/")
	clustertest.WaitFor(t, "A's metering, read through B", func() bool {
		d := userData(t, c, b, "alice")
		return len(d.Sessions) == 1 && d.Sessions[0].SessionID == id && d.Usage["output_audio_tokens"] == 240
	})

	if r := b.Hangup(t, call, alice); r.StatusCode != http.StatusNoContent {
		t.Fatalf("hang-up through B: %d %s", r.StatusCode, r.Body)
	}
	c.WaitHungUp(t, call)
	b.WaitLine(t, `"msg":"call ended"`, `"upstream_call_id":"`+call.UpstreamID+`"`, `"reason":"hangup"`)
	clustertest.WaitFor(t, "A's sideband to go", func() bool { return c.Sim.Sidebands(call.UpstreamID) == 0 })
	if d := userData(t, c, a, "alice"); d.ActiveSessions != 0 {
		t.Fatalf("the slot is still held: %+v", d)
	}
	for _, bad := range []string{`"reason":"sideband_lost"`, `"msg":"sideband attach failed"`} {
		if strings.Contains(a.Logs(), bad) {
			t.Errorf("A logged %s for a call hung up elsewhere", bad)
		}
	}
	if strings.Count(a.Logs()+b.Logs(), `"msg":"call ended"`) != 1 {
		t.Error("the call was ended more than once")
	}
}

// TestTakeoverKeepsTheCallUnderControl: A, which holds the sidebands of a
// Realtime call and a GPT-Live session, is killed. B adopts both from the
// registry, re-attaches their sidebands, and goes on enforcing: a client's
// session.update is reverted, a response after the takeover is metered on
// top of what A metered, Live seconds continue without counting twice, and
// the deadline ends the call.
func TestTakeoverKeepsTheCallUnderControl(t *testing.T) {
	t.Parallel()
	c := clustertest.New(t, map[string]string{"REALTIME_INSTRUCTIONS": serverInstructions, "USER_SESSION_MAX_SECONDS": "40"})
	a, b := c.Start(t), c.Start(t)
	alice := c.Bearer(t, "alice")
	call := a.CreateCall(t, alice)
	live := a.CreateLive(t, alice)
	if _, err := c.Sim.EmitResponse(call.UpstreamID, simulator.Usage{OutputTokenDetails: simulator.OutputTokenDetails{AudioTokens: 100}}); err != nil {
		t.Fatal(err)
	}
	clustertest.WaitFor(t, "A's metering", func() bool {
		d := userData(t, c, b, "alice")
		return d.Usage["output_audio_tokens"] == 100 && d.Usage["live_ms"] > 0
	})

	a.Kill(t)
	for _, up := range []string{call.UpstreamID, live.UpstreamID} {
		b.WaitLine(t, `"msg":"call adopted"`, `"upstream_call_id":"`+up+`"`)
		b.WaitLine(t, `"msg":"sideband attached"`, `"upstream_call_id":"`+up+`"`, `"reattached":true`)
	}
	if _, ok := c.Sim.LookupLive(live.UpstreamID); !ok {
		t.Fatal("A's death ended the Live session (its sideband must not be graceful)")
	}

	// Policy: a browser's change after the takeover is put back by B.
	if err := c.Sim.ClientEvent(call.UpstreamID, []byte(`{"type":"session.update","session":{"type":"realtime","instructions":"The browser's instructions."}}`)); err != nil {
		t.Fatal(err)
	}
	b.WaitLine(t, `"msg":"session security event"`, `"upstream_call_id":"`+call.UpstreamID+`"`, `"action":"reverted"`)
	clustertest.WaitFor(t, "the server's instructions back", func() bool { return instructions(c, call) == serverInstructions })

	// Usage: a response after the takeover adds to A's; Live seconds go on
	// from where A left them.
	if _, err := c.Sim.EmitResponse(call.UpstreamID, simulator.Usage{OutputTokenDetails: simulator.OutputTokenDetails{AudioTokens: 7}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Sim.AdvanceLiveUsage(live.UpstreamID, 60); err != nil {
		t.Fatal(err)
	}
	clustertest.WaitFor(t, "B's metering on top of A's", func() bool {
		d := userData(t, c, b, "alice")
		return d.Usage["output_audio_tokens"] == 107 && d.Usage["live_ms"] >= 60_000
	})
	ls, _ := c.Sim.LookupLive(live.UpstreamID)
	if d := userData(t, c, b, "alice"); d.Usage["live_ms"] > int(ls.UsageSeconds*1000)+5000 {
		t.Fatalf("metered %d ms of Live voice; the simulator is at %.3f s: counted twice", d.Usage["live_ms"], ls.UsageSeconds)
	}
	st := b.Do(t, "GET", call.Location, "", alice)
	if st.StatusCode != http.StatusOK || !strings.Contains(st.Body, `"output_audio_tokens":107`) {
		t.Fatalf("the owner's status through B: %d %s", st.StatusCode, st.Body)
	}

	// Deadline: B ends both at USER_SESSION_MAX_SECONDS.
	c.WaitHungUp(t, call)
	b.WaitLine(t, `"msg":"call ended"`, `"upstream_call_id":"`+call.UpstreamID+`"`, `"reason":"max_duration"`)
	b.WaitLine(t, `"msg":"call ended"`, `"upstream_call_id":"`+live.UpstreamID+`"`, `"reason":"max_duration"`)
	if _, ok := c.Sim.LookupLive(live.UpstreamID); ok {
		t.Fatal("the Live session outlived its deadline")
	}
	if d := userData(t, c, b, "alice"); d.ActiveSessions != 0 {
		t.Fatalf("slots still held after the deadline: %d", d.ActiveSessions)
	}
}
