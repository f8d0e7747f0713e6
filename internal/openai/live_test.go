package openai_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/rtgate/rtgate/internal/openai"
	"github.com/rtgate/rtgate/internal/simulator"
)

func liveParams() openai.LiveParams {
	return openai.LiveParams{Model: "gpt-live-1", Voice: "cedar", Instructions: "Be brief.",
		AllowedClientEvents: []string{"session.input_audio.mute", "session.close"}}
}

func TestLiveSessionJSON(t *testing.T) {
	for _, tc := range []struct {
		name string
		p    openai.LiveParams
		want string
	}{
		{"everything", liveParams(), `{"model":"gpt-live-1","instructions":"Be brief.","audio":{"output":{"voice":"cedar"}},"client":{"data_channel":{"allowed_client_events":["session.input_audio.mute","session.close"]}}}`},
		{"the model alone leaves the rest to OpenAI", openai.LiveParams{Model: "gpt-live-1.1"}, `{"model":"gpt-live-1.1"}`},
		{"an empty allowlist allows nothing", openai.LiveParams{Model: "gpt-live-1", AllowedClientEvents: []string{}}, `{"model":"gpt-live-1","client":{"data_channel":{"allowed_client_events":[]}}}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := openai.LiveSessionJSON(tc.p)
			if err != nil || string(b) != tc.want {
				t.Fatalf("got %s (%v)\nwant %s", b, err, tc.want)
			}
		})
	}
}

// TestCreateLiveAndEndLive: the create sends the server's session and the
// offer as JSON and returns the session id and answer; EndLive ends the
// session with session.close on a sideband (not the SIP-only hangup), and
// a second EndLive is the upstream's 404.
func TestCreateLiveAndEndLive(t *testing.T) {
	r := newRig(t, []string{primaryKey}, openai.Options{APIKey: primaryKey})
	call, err := r.client.CreateLive(context.Background(), offer, liveParams())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(call.ID, "live_") || !strings.HasPrefix(call.Answer, "v=0") {
		t.Fatalf("call %+v", call)
	}
	up := r.sim.LastRequest()
	var body struct {
		Session   map[string]any    `json:"session"`
		Transport map[string]string `json:"transport"`
	}
	if err := json.Unmarshal(up.Body, &body); err != nil || up.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("upstream body %s (%v), type %q", up.Body, err, up.Header.Get("Content-Type"))
	}
	if body.Session["model"] != "gpt-live-1" || body.Session["instructions"] != "Be brief." || body.Transport["type"] != "webrtc" || body.Transport["sdp"] != offer {
		t.Fatalf("upstream body %s", up.Body)
	}
	ls, ok := r.sim.LookupLive(call.ID)
	if !ok || !strings.Contains(string(ls.Session), `"allowed_client_events":["session.input_audio.mute","session.close"]`) {
		t.Fatalf("simulator session %s (%v)", ls.Session, ok)
	}

	if err := r.client.EndLive(context.Background(), call.ID); err != nil {
		t.Fatal(err)
	}
	if _, ok := r.sim.LookupLive(call.ID); ok {
		t.Fatal("session still running after EndLive")
	}
	if reason, _ := r.sim.EndReason(call.ID); reason != "close_requested" {
		t.Errorf("end reason %q, want close_requested", reason)
	}
	if n := r.sim.Hits("/v1/live/sessions/" + call.ID + "/hangup"); n != 0 {
		t.Errorf("EndLive used the SIP hangup endpoint %d times", n)
	}
	var se *openai.StatusError
	if err := r.client.EndLive(context.Background(), call.ID); !errors.As(err, &se) || se.Status != 404 {
		t.Fatalf("second EndLive: %v", err)
	}
	if err := r.client.EndLive(context.Background(), "../x"); err == nil {
		t.Fatal("a path-like id was accepted")
	}
}

// TestCreateLiveIsNeverRetriedOnceItMayHaveActed: a 5xx may have created
// (and billed) a session, so it is not retried; a 429 refused before
// acting, so it is.
func TestCreateLiveIsNeverRetriedOnceItMayHaveActed(t *testing.T) {
	for _, tc := range []struct {
		name     string
		fault    simulator.Fault
		requests int
		ok       bool
	}{
		{"500 is not retried", simulator.Fault{Kind: simulator.FaultServerError, Count: 1}, 1, false},
		{"503 is not retried", simulator.Fault{Kind: simulator.FaultOverloaded, Count: 1}, 1, false},
		{"dropped connection is not retried", simulator.Fault{Kind: simulator.FaultDrop, Count: 1}, 1, false},
		{"429 is retried", simulator.Fault{Kind: simulator.FaultRateLimited, RetryAfter: time.Second, Count: 1}, 2, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, []string{primaryKey}, openai.Options{APIKey: primaryKey, Retries: 2})
			r.sim.SetFault(tc.fault)
			_, err := r.client.CreateLive(context.Background(), offer, liveParams())
			if (err == nil) != tc.ok || r.sim.Requests() != tc.requests {
				t.Fatalf("err %v after %d upstream requests, want ok=%v after %d", err, r.sim.Requests(), tc.ok, tc.requests)
			}
		})
	}
}

// readUntil reads sideband events until one of type typ arrives.
func readUntil(t *testing.T, sb *openai.Sideband, typ string) map[string]any {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		b, err := sb.Read(ctx)
		if err != nil {
			t.Fatalf("waiting for %s: %v", typ, err)
		}
		var ev map[string]any
		if err := json.Unmarshal(b, &ev); err != nil {
			t.Fatal(err)
		}
		if ev["type"] == typ {
			return ev
		}
	}
}

// TestDialSidebandSeesEventsAndSendsThem: a Realtime sideband dialled
// with a refused primary fails over to the backup, sees a browser's
// session.update (the simulator's ClientEvent) and can send its own; its
// connection holds no slot of the REST pool; unknown ids are 404.
func TestDialSidebandSeesEventsAndSendsThem(t *testing.T) {
	r := newRig(t, []string{backupKey}, openai.Options{Keys: keyRing(t, primaryKey, backupKey), MaxConcurrency: 1})
	call, err := r.client.CreateCall(context.Background(), offer, params())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	sb, err := r.client.DialSideband(ctx, openai.SidebandRealtime, call.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	if n := r.sim.Sidebands(call.ID); n != 1 {
		t.Fatalf("simulator sidebands %d", n)
	}
	if err := r.sim.ClientEvent(call.ID, []byte(`{"type":"session.update","session":{"type":"realtime","instructions":"browser"}}`)); err != nil {
		t.Fatal(err)
	}
	if ev := readUntil(t, sb, "session.updated"); ev["session"].(map[string]any)["instructions"] != "browser" {
		t.Fatalf("session.updated %v", ev)
	}
	if err := sb.Write(ctx, []byte(`{"type":"session.update","session":{"type":"realtime","instructions":"server"}}`)); err != nil {
		t.Fatal(err)
	}
	if ev := readUntil(t, sb, "session.updated"); ev["session"].(map[string]any)["instructions"] != "server" {
		t.Fatalf("session.updated %v", ev)
	}
	// One REST slot (MaxConcurrency 1) and an open sideband: REST still works.
	if _, err := r.client.MintClientSecret(ctx, params()); err != nil {
		t.Fatalf("a mint while a sideband is open: %v", err)
	}

	var se *openai.StatusError
	for _, kind := range []openai.SidebandKind{openai.SidebandRealtime, openai.SidebandLive} {
		if _, err := r.client.DialSideband(ctx, kind, "rtc_nope"); !errors.As(err, &se) || se.Status != 404 {
			t.Errorf("%s sideband of an unknown id: %v", kind, err)
		}
	}
	before := r.sim.Requests()
	if _, err := r.client.DialSideband(ctx, openai.SidebandLive, "a/b"); err == nil || r.sim.Requests() != before {
		t.Errorf("a malformed id: %v after %d requests", err, r.sim.Requests()-before)
	}
	if r.obs.count(openai.OutcomeKeyFailover) != 1 {
		t.Errorf("outcomes %v", r.obs.n)
	}
}

// TestLiveSidebandLeavesTheSessionRunning: a Live sideband is attached with
// graceful_close=false, so closing it (or losing it) never ends the session.
func TestLiveSidebandLeavesTheSessionRunning(t *testing.T) {
	r := newRig(t, []string{primaryKey}, openai.Options{APIKey: primaryKey})
	call, err := r.client.CreateLive(context.Background(), offer, liveParams())
	if err != nil {
		t.Fatal(err)
	}
	sb, err := r.client.DialSideband(context.Background(), openai.SidebandLive, call.ID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.sim.AdvanceLiveUsage(call.ID, 1.5); err != nil {
		t.Fatal(err)
	}
	if ev := readUntil(t, sb, "session.usage.updated"); ev["usage"].(map[string]any)["seconds"].(float64) < 1.5 {
		t.Fatalf("usage %v", ev)
	}
	if err := sb.Close(); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); r.sim.Sidebands(call.ID) != 0; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the simulator still counts the closed sideband")
		}
	}
	if _, ok := r.sim.LookupLive(call.ID); !ok {
		t.Fatal("closing the sideband ended the session")
	}
}
