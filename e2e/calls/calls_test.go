// Package callse2e runs the shared call registry end to end: real rtgate
// processes on one real redis-server and one simulator, JWT users. A call
// made on one instance is owned, ended and timed out from any other, and
// survives the death or restart of the instance that made it.
package callse2e

import (
	"context"
	"errors"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/rtgate/rtgate/e2e/clustertest"
	"github.com/rtgate/rtgate/internal/calls"
)

func TestMain(m *testing.M) { os.Exit(clustertest.Main(m)) }

// logLine returns the first line of in's log with msg about call, or "".
func logLine(in *clustertest.Instance, msg string, call *clustertest.Call) string {
	for line := range strings.Lines(in.Logs()) {
		if strings.Contains(line, `"msg":"`+msg+`"`) && strings.Contains(line, `"upstream_call_id":"`+call.UpstreamID+`"`) {
			return line
		}
	}
	return ""
}

// waitLine waits until in's log has a line with msg about call.
func waitLine(t *testing.T, in *clustertest.Instance, msg string, call *clustertest.Call) string {
	t.Helper()
	for deadline := time.Now().Add(clustertest.WaitTimeout); ; {
		if line := logLine(in, msg, call); line != "" {
			return line
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s logged no %q for %s:\n%s", in.URL, msg, call.UpstreamID, in.Logs())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// endedBy waits until in's log records the end of call, and fails unless
// it gives reason.
func endedBy(t *testing.T, in *clustertest.Instance, call *clustertest.Call, reason string) {
	t.Helper()
	if line := waitLine(t, in, "call ended", call); !strings.Contains(line, `"reason":"`+reason+`"`) {
		t.Fatalf("call ended with another reason than %s: %s", reason, line)
	}
}

// TestOwnerHangsUpThroughAnotherInstance: a call created on A is hung up
// by its owner through B; nobody else can, through either.
func TestOwnerHangsUpThroughAnotherInstance(t *testing.T) {
	t.Parallel()
	c := clustertest.New(t, nil)
	a, b := c.Start(t), c.Start(t)
	alice := c.Bearer(t, "alice")
	call := a.CreateCall(t, alice)

	for _, tc := range []struct {
		name    string
		headers []string
		status  int
	}{
		{"another user", []string{c.Bearer(t, "bob")}, http.StatusNotFound},
		{"no credentials", nil, http.StatusUnauthorized},
	} {
		for _, in := range []*clustertest.Instance{a, b} {
			if r := in.Hangup(t, call, tc.headers...); r.StatusCode != tc.status {
				t.Fatalf("%s through %s: %d %s, want %d", tc.name, in.URL, r.StatusCode, r.Body, tc.status)
			}
		}
	}
	if c.HungUp(call) {
		t.Fatal("hung up by a stranger")
	}
	if r := b.Hangup(t, call, alice); r.StatusCode != http.StatusNoContent {
		t.Fatalf("owner's hang-up through B: %d %s", r.StatusCode, r.Body)
	}
	if !c.HungUp(call) {
		t.Fatal("the simulator did not see the hang-up")
	}
	endedBy(t, b, call, "hangup")
	if r := a.Hangup(t, call, alice); r.StatusCode != http.StatusNotFound {
		t.Fatalf("second hang-up through A: %d, want 404", r.StatusCode)
	}
}

// TestBlockThroughAnotherInstanceEndsTheCall: an operator's block through
// B's admin API ends the user's call made on A, and only theirs.
func TestBlockThroughAnotherInstanceEndsTheCall(t *testing.T) {
	t.Parallel()
	c := clustertest.New(t, nil)
	a, b := c.Start(t), c.Start(t)
	aliceCall := a.CreateCall(t, c.Bearer(t, "alice"))
	bobCall := a.CreateCall(t, c.Bearer(t, "bob"))

	r := b.Admin(t, "POST", "/admin/users/alice/block", `{"reason":"e2e"}`)
	if r.StatusCode != http.StatusOK || !strings.Contains(r.Body, `"calls_ended":1`) {
		t.Fatalf("block through B: %d %s", r.StatusCode, r.Body)
	}
	if !c.HungUp(aliceCall) {
		t.Fatal("the simulator did not see alice's call hung up")
	}
	endedBy(t, b, aliceCall, "ended_by_operator")
	if c.HungUp(bobCall) {
		t.Fatal("bob's call was hung up too")
	}
	if r := a.Do(t, "POST", "/api/realtime-call", clustertest.Offer, "Content-Type: application/sdp", c.Bearer(t, "alice")); r.StatusCode != http.StatusForbidden {
		t.Fatalf("blocked alice creating on A: %d", r.StatusCode)
	}
}

// TestDeadlineFiresAfterTheCreatorIsKilled: A is killed (no drain, no
// leave); B hangs A's call up at its deadline.
func TestDeadlineFiresAfterTheCreatorIsKilled(t *testing.T) {
	t.Parallel()
	c := clustertest.New(t, map[string]string{"USER_SESSION_MAX_SECONDS": "3"})
	a, b := c.Start(t), c.Start(t)
	call := a.CreateCall(t, c.Bearer(t, "alice"))
	a.Kill(t)
	if c.HungUp(call) {
		t.Fatal("the call ended before A was killed: nothing left to prove")
	}
	c.WaitHungUp(t, call)
	endedBy(t, b, call, "max_duration")
}

// TestRestartedInstanceStillKnowsItsCalls: an instance killed, or stopped
// gracefully, and started again on the same Redis hangs up the calls made
// before the restart for their owner, and ends them at their deadline.
func TestRestartedInstanceStillKnowsItsCalls(t *testing.T) {
	t.Parallel()
	c := clustertest.New(t, nil)
	alice := c.Bearer(t, "alice")

	t.Run("killed, then hang-up", func(t *testing.T) {
		a := c.Start(t)
		call := a.CreateCall(t, alice)
		a.Kill(t)
		a = a.Restart(t)
		defer a.Stop(t)
		if r := a.Hangup(t, call, alice); r.StatusCode != http.StatusNoContent {
			t.Fatalf("hang-up after the restart: %d %s", r.StatusCode, r.Body)
		}
		if !c.HungUp(call) {
			t.Fatal("the simulator did not see the hang-up")
		}
	})
	t.Run("stopped gracefully, then hang-up", func(t *testing.T) {
		a := c.Start(t)
		call := a.CreateCall(t, alice)
		a.Stop(t) // SIGTERM: drains and leaves the registry
		// It left, so any instance's next sweep adopts its calls at once,
		// rather than after the liveness period: a probe's first does.
		if adopted := probeAdopts(t, c); len(adopted) != 1 || adopted[0].UpstreamID != call.UpstreamID {
			t.Fatalf("a sweep after the graceful stop adopted %v; want the stopped instance's call", adopted)
		}
		a = a.Restart(t)
		defer a.Stop(t)
		if r := a.Hangup(t, call, alice); r.StatusCode != http.StatusNoContent {
			t.Fatalf("hang-up after the restart: %d %s", r.StatusCode, r.Body)
		}
		if !c.HungUp(call) {
			t.Fatal("the simulator did not see the hang-up")
		}
	})
	t.Run("killed, then deadline", func(t *testing.T) {
		a := c.Start(t, map[string]string{"USER_SESSION_MAX_SECONDS": "3"})
		call := a.CreateCall(t, alice)
		a.Kill(t)
		if c.HungUp(call) {
			t.Fatal("the call ended before A was killed: nothing left to prove")
		}
		a = a.Restart(t) // the only instance alive
		defer a.Stop(t)
		c.WaitHungUp(t, call)
		endedBy(t, a, call, "max_duration")
	})
}

// probeAdopts sweeps once as a fresh instance on the cluster's Redis and
// returns the calls it adopted from instances whose liveness lapsed. It
// ends no call (the probe's hang-up fails) and goes away after.
func probeAdopts(t *testing.T, c *clustertest.Cluster) []calls.Call {
	t.Helper()
	client := redis.NewClient(&redis.Options{Addr: c.Redis.Addr()})
	defer client.Close()
	var adopted []calls.Call
	reg, err := calls.NewRegistry(calls.Options{
		Store:   calls.NewRedis(client, c.Env()["REDIS_KEY_PREFIX"]+"c:"),
		Hangup:  func(context.Context, calls.Call) error { return errors.New("the probe hangs up nothing") },
		OnAdopt: func(_ context.Context, cl calls.Call) { adopted = append(adopted, cl) },
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := reg.Sweep(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := reg.Leave(context.Background()); err != nil {
		t.Fatal(err)
	}
	return adopted
}
