package calls_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rtgate/rtgate/internal/calls"
	"github.com/rtgate/rtgate/internal/calls/callstest"
	"github.com/rtgate/rtgate/internal/ratelimit/redistest"
)

var T0 = callstest.T0

// fakeUpstream stands in for OpenAI's hang-up endpoints.
type fakeUpstream struct {
	mu       sync.Mutex
	hangups  map[string]int // upstream id -> hang-ups asked
	failures map[string]int // upstream id -> failures left; < 0 fails forever
	gone     map[string]bool
	stall    map[string]chan struct{} // upstream id -> the first hang-up waits for it to close
	stalled  chan string              // receives the upstream id of a stalled hang-up
}

var errUpstream = errors.New("upstream: 502 Bad Gateway")

func (u *fakeUpstream) hangup(_ context.Context, c calls.Call) error {
	u.mu.Lock()
	if wait, ok := u.stall[c.UpstreamID]; ok {
		delete(u.stall, c.UpstreamID)
		u.mu.Unlock()
		u.stalled <- c.UpstreamID
		<-wait
		u.mu.Lock()
	}
	defer u.mu.Unlock()
	u.hangups[c.UpstreamID]++
	if n := u.failures[c.UpstreamID]; n != 0 {
		if n > 0 {
			u.failures[c.UpstreamID]--
		}
		return errUpstream
	}
	if u.gone[c.UpstreamID] {
		return fmt.Errorf("upstream: 404: %w", calls.ErrGone)
	}
	return nil
}

func (u *fakeUpstream) count(upstreamID string) int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.hangups[upstreamID]
}

func (u *fakeUpstream) fail(upstreamID string, n int) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.failures[upstreamID] = n
}

type ended struct{ instance, id, reason string }

// harness is several Registries ("instances") on one backend, one fake
// clock and one fake upstream.
type harness struct {
	t      *testing.T
	clock  *callstest.Clock
	up     *fakeUpstream
	stores [2]calls.Store

	mu      sync.Mutex
	ended   []ended
	adopted []ended
	logs    bytes.Buffer
}

func newHarness(t *testing.T, newStores callstest.NewStores) *harness {
	a, b := newStores(t)
	return &harness{
		t: t, clock: callstest.NewClock(T0), stores: [2]calls.Store{a, b},
		up: &fakeUpstream{hangups: map[string]int{}, failures: map[string]int{}, gone: map[string]bool{},
			stall: map[string]chan struct{}{}, stalled: make(chan string, 1)},
	}
}

func (h *harness) Write(p []byte) (int, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.logs.Write(p)
}

func (h *harness) logText() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.logs.String()
}

// registry starts an instance on the backend's store handle i (0 or 1).
func (h *harness) registry(i int, mod ...func(*calls.Options)) *calls.Registry {
	h.t.Helper()
	var r *calls.Registry
	o := calls.Options{
		Store: h.stores[i], Hangup: h.up.hangup, Clock: h.clock,
		Logger: slog.New(slog.NewJSONHandler(h, &slog.HandlerOptions{Level: slog.LevelDebug})),
		OnEnded: func(_ context.Context, c calls.Call, reason string) error {
			h.mu.Lock()
			defer h.mu.Unlock()
			h.ended = append(h.ended, ended{r.Instance(), c.ID, reason})
			return nil
		},
		OnAdopt: func(_ context.Context, c calls.Call) {
			h.mu.Lock()
			defer h.mu.Unlock()
			h.adopted = append(h.adopted, ended{r.Instance(), c.ID, ""})
		},
	}
	for _, m := range mod {
		m(&o)
	}
	r, err := calls.NewRegistry(o)
	if err != nil {
		h.t.Fatal(err)
	}
	return r
}

func (h *harness) endedCalls() []ended {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]ended(nil), h.ended...)
}

func (h *harness) adoptedCalls() []ended {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]ended(nil), h.adopted...)
}

func (h *harness) create(r *calls.Registry, user string, d time.Duration) (calls.Call, string) {
	h.t.Helper()
	c, token, err := r.Create(context.Background(), calls.NewCall{
		Kind: calls.KindRealtime, UpstreamID: "rtc_" + callstest.NewID()[5:], User: user,
		Reservation: "res-" + user, Model: "gpt-realtime", MaxDuration: d,
	})
	if err != nil {
		h.t.Fatalf("Create: %v", err)
	}
	return c, token
}

func (h *harness) sweep(rs ...*calls.Registry) {
	h.t.Helper()
	for _, r := range rs {
		if err := r.Sweep(context.Background()); err != nil {
			h.t.Fatalf("Sweep: %v", err)
		}
	}
}

// sweepAtOnce sweeps every r concurrently.
func (h *harness) sweepAtOnce(rs ...*calls.Registry) {
	h.t.Helper()
	var wg sync.WaitGroup
	for _, r := range rs {
		wg.Go(func() {
			if err := r.Sweep(context.Background()); err != nil {
				h.t.Error(err)
			}
		})
	}
	wg.Wait()
}

// wantEndedBy fails unless the only ended call was ended by r after
// hangups upstream hang-ups.
func (h *harness) wantEndedBy(r *calls.Registry, c calls.Call, hangups int) {
	h.t.Helper()
	got := h.endedCalls()
	if len(got) != 1 || got[0].id != c.ID || got[0].instance != r.Instance() || h.up.count(c.UpstreamID) != hangups {
		h.t.Fatalf("ended %v after %d hang-ups; want %s by %s after %d", got, h.up.count(c.UpstreamID), c.ID, r.Instance(), hangups)
	}
}

// wantEnded fails unless exactly the calls in want ended, each once, with
// its reason.
func (h *harness) wantEnded(want map[string]string) {
	h.t.Helper()
	got := map[string]string{}
	for _, e := range h.endedCalls() {
		if _, dup := got[e.id]; dup {
			h.t.Fatalf("%s ended twice", e.id)
		}
		got[e.id] = e.reason
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		h.t.Fatalf("ended %v, want %v", got, want)
	}
}

func (h *harness) wantTracked(r *calls.Registry, id string, tracked bool) {
	h.t.Helper()
	_, err := r.Lookup(context.Background(), id)
	switch {
	case tracked && err != nil:
		h.t.Fatalf("Lookup(%s): %v, want tracked", id, err)
	case !tracked && !errors.Is(err, calls.ErrNotFound):
		h.t.Fatalf("Lookup(%s): %v, want ErrNotFound", id, err)
	}
}

func TestRegistry(t *testing.T) {
	t.Run("memory", func(t *testing.T) {
		registryScenarios(t, func(t *testing.T) (calls.Store, calls.Store) {
			m := calls.NewMemory()
			return m, m
		})
	})
	t.Run("redis", func(t *testing.T) {
		srv := redistest.Start(t)
		a, b := newClient(t, srv.Addr()), newClient(t, srv.Addr())
		registryScenarios(t, func(t *testing.T) (calls.Store, calls.Store) {
			p := freshPrefix()
			return calls.NewRedis(a, p), calls.NewRedis(b, p)
		})
	})
}

func registryScenarios(t *testing.T, newStores callstest.NewStores) {
	ctx := context.Background()

	t.Run("create makes a call id, and a hang-up token only for an anonymous caller", func(t *testing.T) {
		h := newHarness(t, newStores)
		a, b := h.registry(0), h.registry(1)
		c, token := h.create(a, "alice", 0)
		if !calls.ValidID(c.ID) || token != "" || c.TokenHash != "" || c.User != "alice" || c.Instance != a.Instance() {
			t.Fatalf("user call %+v, token %q", c, token)
		}
		if !c.CreatedAt.Equal(T0) || !c.Deadline.Equal(T0.Add(calls.DefaultMaxDuration)) {
			t.Fatalf("created %v, deadline %v", c.CreatedAt, c.Deadline)
		}
		anon, token := h.create(a, "", 5*time.Minute)
		if len(token) != 43 || anon.TokenHash != calls.HashToken(token) || !anon.Deadline.Equal(T0.Add(5*time.Minute)) {
			t.Fatalf("anonymous call %+v, token %q", anon, token)
		}
		got, err := b.Lookup(ctx, anon.ID)
		if err != nil {
			t.Fatal(err)
		}
		callstest.Same(t, got, anon)
		if !got.OwnedBy("", token) {
			t.Fatal("the token does not own the call on the other instance")
		}
		for _, n := range []calls.NewCall{{Kind: "sip", UpstreamID: "rtc_1"}, {Kind: calls.KindLive}} {
			if _, _, err := a.Create(ctx, n); !errors.Is(err, calls.ErrInvalid) {
				t.Errorf("Create(%+v) = %v, want ErrInvalid", n, err)
			}
		}
		for _, id := range []string{"", "call_", "call_short", c.ID + "x", "../" + c.ID, strings.ToUpper(c.ID[:5]) + c.ID[5:]} {
			if _, err := b.Lookup(ctx, id); !errors.Is(err, calls.ErrNotFound) {
				t.Errorf("Lookup(%q) = %v, want ErrNotFound", id, err)
			}
		}
	})

	t.Run("a due call is hung up exactly once, by one of the instances", func(t *testing.T) {
		h := newHarness(t, newStores)
		a, b := h.registry(0), h.registry(1)
		var cs []calls.Call
		for i := range 20 {
			c, _ := h.create(a, fmt.Sprintf("user-%d", i%3), time.Minute)
			cs = append(cs, c)
		}
		h.clock.Advance(time.Minute - time.Millisecond)
		h.sweep(a, b)
		h.wantEnded(map[string]string{})
		h.clock.Advance(time.Millisecond)
		h.sweepAtOnce(a, b, a, b)
		want := map[string]string{}
		for _, c := range cs {
			want[c.ID] = calls.ReasonMaxDuration
			if n := h.up.count(c.UpstreamID); n != 1 {
				t.Errorf("%s hung up %d times", c.ID, n)
			}
			h.wantTracked(b, c.ID, false)
		}
		h.wantEnded(want)
		if n, _ := a.Count(ctx); n != 0 {
			t.Fatalf("Count = %d", n)
		}
	})

	t.Run("an instance that dies: another adopts its calls once and hangs them up at their deadline", func(t *testing.T) {
		h := newHarness(t, newStores)
		a, b, c := h.registry(0), h.registry(1), h.registry(1)
		h.sweep(a, b, c)
		x, _ := h.create(a, "alice", 10*time.Minute)
		y, _ := h.create(a, "", 10*time.Minute)
		// a is killed: it sweeps no more.
		h.clock.Advance(calls.DefaultLiveness - time.Millisecond)
		h.sweep(b, c)
		if got := h.adoptedCalls(); len(got) != 0 {
			t.Fatalf("adopted from a live instance: %v", got)
		}
		h.clock.Advance(time.Millisecond)
		h.sweepAtOnce(b, c)
		adopted := h.adoptedCalls()
		if len(adopted) != 2 || adopted[0].id == adopted[1].id {
			t.Fatalf("adopted %v, want both calls once", adopted)
		}
		for _, ad := range adopted {
			got, err := a.Lookup(ctx, ad.id)
			if err != nil || got.Instance != ad.instance || ad.instance == a.Instance() {
				t.Fatalf("adopted call %s owned by %q (adopter %s): %v", ad.id, got.Instance, ad.instance, err)
			}
		}
		h.clock.Advance(10*time.Minute - calls.DefaultLiveness)
		h.sweep(b, c)
		h.wantEnded(map[string]string{x.ID: calls.ReasonMaxDuration, y.ID: calls.ReasonMaxDuration})
		for _, e := range h.endedCalls() {
			if e.instance == a.Instance() {
				t.Fatalf("the dead instance ended %s", e.id)
			}
		}
		if h.up.count(x.UpstreamID) != 1 || h.up.count(y.UpstreamID) != 1 {
			t.Fatal("not hung up exactly once")
		}
	})

	t.Run("leave hands an instance's calls over at the next sweep", func(t *testing.T) {
		h := newHarness(t, newStores)
		a, b := h.registry(0), h.registry(1)
		h.sweep(a)
		x, _ := h.create(a, "alice", 10*time.Minute)
		if err := a.Leave(ctx); err != nil {
			t.Fatal(err)
		}
		h.sweep(b)
		if got := h.adoptedCalls(); len(got) != 1 || got[0] != (ended{b.Instance(), x.ID, ""}) {
			t.Fatalf("adopted %v", got)
		}
	})

	t.Run("a restarted instance still knows its calls and their deadlines", func(t *testing.T) {
		h := newHarness(t, newStores)
		a := h.registry(0, func(o *calls.Options) { o.Instance = "host-1" })
		h.sweep(a)
		x, _ := h.create(a, "alice", 10*time.Minute)
		y, token := h.create(a, "", 10*time.Minute)
		z, _ := h.create(a, "bob", 20*time.Minute)
		h.clock.Advance(time.Minute)
		// The process restarts: a new Registry, a new store client.
		a2 := h.registry(0)
		got, err := a2.Lookup(ctx, y.ID)
		if err != nil || !got.OwnedBy("", token) {
			t.Fatalf("after restart: %v, owned %v", err, got.OwnedBy("", token))
		}
		if n, _ := a2.Count(ctx); n != 3 {
			t.Fatalf("Count after restart = %d", n)
		}
		if err := a2.End(ctx, y.ID, calls.ReasonHangup); err != nil {
			t.Fatal(err)
		}
		h.clock.Advance(calls.DefaultLiveness)
		h.sweep(a2)
		if got := h.adoptedCalls(); len(got) != 2 {
			t.Fatalf("the restarted instance adopted %v, want the two calls left", got)
		}
		h.clock.Advance(10*time.Minute - time.Minute - calls.DefaultLiveness)
		h.sweep(a2)
		h.wantEnded(map[string]string{y.ID: calls.ReasonHangup, x.ID: calls.ReasonMaxDuration})
		h.wantTracked(a2, z.ID, true)
	})

	t.Run("the owner hangs up through the other instance", func(t *testing.T) {
		h := newHarness(t, newStores)
		a, b := h.registry(0), h.registry(1)
		x, _ := h.create(a, "alice", 10*time.Minute)
		got, err := b.Lookup(ctx, x.ID)
		if err != nil || !got.OwnedBy("alice", "") || got.OwnedBy("bob", "") {
			t.Fatalf("lookup on b: %+v, %v", got, err)
		}
		if err := b.End(ctx, x.ID, calls.ReasonHangup); err != nil {
			t.Fatal(err)
		}
		if err := a.End(ctx, x.ID, calls.ReasonHangup); !errors.Is(err, calls.ErrNotFound) {
			t.Fatalf("second End = %v, want ErrNotFound", err)
		}
		h.wantEnded(map[string]string{x.ID: calls.ReasonHangup})
		h.wantEndedBy(b, x, 1)
	})

	t.Run("concurrent ends of one call hang it up once", func(t *testing.T) {
		h := newHarness(t, newStores)
		a, b := h.registry(0), h.registry(1)
		x, _ := h.create(a, "alice", 10*time.Minute)
		var (
			wg sync.WaitGroup
			mu sync.Mutex
			ok int
		)
		for i := range 16 {
			r := a
			if i%2 == 1 {
				r = b
			}
			wg.Go(func() {
				err := r.End(ctx, x.ID, calls.ReasonHangup)
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					ok++
				case !errors.Is(err, calls.ErrEnding) && !errors.Is(err, calls.ErrNotFound):
					t.Error(err)
				}
			})
		}
		wg.Wait()
		if ok != 1 || h.up.count(x.UpstreamID) != 1 {
			t.Fatalf("%d ends succeeded, %d hang-ups; want 1 and 1", ok, h.up.count(x.UpstreamID))
		}
		h.wantEnded(map[string]string{x.ID: calls.ReasonHangup})
	})

	t.Run("ending a user ends their calls from every instance, and only theirs", func(t *testing.T) {
		h := newHarness(t, newStores)
		a, b := h.registry(0), h.registry(1)
		x, _ := h.create(a, "alice", 10*time.Minute)
		y, _ := h.create(b, "alice", 10*time.Minute)
		bob, _ := h.create(a, "bob", 10*time.Minute)
		anon, _ := h.create(a, "", 10*time.Minute)
		n, err := b.EndUser(ctx, "alice", calls.ReasonOperator)
		if err != nil || n != 2 {
			t.Fatalf("EndUser = %d, %v; want 2", n, err)
		}
		if n, err := b.EndUser(ctx, "", calls.ReasonOperator); err != nil || n != 0 {
			t.Fatalf("EndUser(\"\") = %d, %v", n, err)
		}
		if n, err := a.EndUser(ctx, "alice", calls.ReasonOperator); err != nil || n != 0 {
			t.Fatalf("second EndUser = %d, %v", n, err)
		}
		h.wantEnded(map[string]string{x.ID: calls.ReasonOperator, y.ID: calls.ReasonOperator})
		h.wantTracked(a, bob.ID, true)
		h.wantTracked(a, anon.ID, true)
	})

	t.Run("a failed hang-up is retried no sooner than the retry delay, then given up", func(t *testing.T) {
		h := newHarness(t, newStores)
		a, b := h.registry(0), h.registry(1)
		x, _ := h.create(a, "alice", time.Minute)
		h.up.fail(x.UpstreamID, -1)
		err := a.End(ctx, x.ID, calls.ReasonHangup)
		if !errors.Is(err, errUpstream) {
			t.Fatalf("End = %v, want the upstream's error", err)
		}
		h.wantTracked(b, x.ID, true)
		// The owner may retry at once.
		if err := b.End(ctx, x.ID, calls.ReasonHangup); !errors.Is(err, errUpstream) {
			t.Fatalf("retry = %v", err)
		}
		attempts := 2
		// The sweeper waits for the deadline (later than the retry delay).
		h.clock.Advance(time.Minute - time.Millisecond)
		h.sweep(a, b)
		if n := h.up.count(x.UpstreamID); n != attempts {
			t.Fatalf("%d hang-ups before the deadline, want %d", n, attempts)
		}
		h.clock.Advance(time.Millisecond)
		for past := time.Duration(0); past <= calls.DefaultGiveUp; past += calls.DefaultRetryDelay {
			h.sweep(a, b)
			attempts++
			if n := h.up.count(x.UpstreamID); n != attempts {
				t.Fatalf("%v past the deadline: %d hang-ups, want %d", past, n, attempts)
			}
			h.wantTracked(a, x.ID, true)
			h.clock.Advance(calls.DefaultRetryDelay - time.Millisecond)
			h.sweep(a, b)
			if n := h.up.count(x.UpstreamID); n != attempts {
				t.Fatalf("retried within the delay: %d hang-ups", n)
			}
			h.clock.Advance(time.Millisecond)
		}
		// 10m30s past the deadline: the last try fails, and the call is dropped.
		h.sweep(a, b)
		h.wantTracked(a, x.ID, false)
		h.wantEnded(map[string]string{x.ID: calls.ReasonGivenUp})
		if !strings.Contains(h.logText(), `"msg":"call hangup given up"`) {
			t.Fatal("no give-up log")
		}
	})

	t.Run("a hang-up that fails once is ended by the retry", func(t *testing.T) {
		h := newHarness(t, newStores)
		a, b := h.registry(0), h.registry(1)
		x, _ := h.create(a, "alice", time.Minute)
		h.up.fail(x.UpstreamID, 1)
		h.clock.Advance(time.Minute)
		h.sweep(a)
		h.wantEnded(map[string]string{})
		h.clock.Advance(calls.DefaultRetryDelay)
		h.sweep(b)
		h.wantEnded(map[string]string{x.ID: calls.ReasonMaxDuration})
		if n := h.up.count(x.UpstreamID); n != 2 {
			t.Fatalf("%d hang-ups, want 2", n)
		}
	})

	t.Run("an upstream that no longer knows the call counts as ended", func(t *testing.T) {
		h := newHarness(t, newStores)
		a := h.registry(0)
		x, _ := h.create(a, "alice", time.Minute)
		h.up.gone[x.UpstreamID] = true
		if err := a.End(ctx, x.ID, calls.ReasonHangup); err != nil {
			t.Fatal(err)
		}
		h.wantEnded(map[string]string{x.ID: calls.ReasonHangup})
		if !strings.Contains(h.logText(), `"already_ended_upstream":true`) {
			t.Fatal("log does not say the call was already over")
		}
	})

	t.Run("an instance that dies while ending a call: another ends it after the lease, with the reason", func(t *testing.T) {
		h := newHarness(t, newStores)
		a, b := h.registry(0), h.registry(1)
		x, _ := h.create(a, "alice", 10*time.Minute)
		// a claims the call for the owner's hang-up and dies before it
		// hangs up.
		lease := calls.DefaultHangupTimeout + 15*time.Second
		if _, err := h.stores[0].Claim(ctx, x.ID, a.Instance()+":1", calls.ReasonHangup, T0, T0.Add(lease)); err != nil {
			t.Fatal(err)
		}
		if err := b.End(ctx, x.ID, calls.ReasonHangup); !errors.Is(err, calls.ErrEnding) {
			t.Fatalf("End while claimed = %v, want ErrEnding", err)
		}
		h.clock.Advance(lease - time.Millisecond)
		h.sweep(b)
		h.wantEnded(map[string]string{})
		h.clock.Advance(time.Millisecond)
		h.sweep(b)
		h.wantEnded(map[string]string{x.ID: calls.ReasonHangup})
	})

	t.Run("a hang-up slower than its lease: the call is reported ended once", func(t *testing.T) {
		h := newHarness(t, newStores)
		a, b := h.registry(0), h.registry(1)
		x, _ := h.create(a, "alice", 10*time.Minute)
		release := make(chan struct{})
		h.up.stall[x.UpstreamID] = release
		errA := make(chan error, 1)
		go func() { errA <- a.End(ctx, x.ID, calls.ReasonHangup) }()
		<-h.up.stalled
		// a's hang-up hangs past its lease; b's sweeper takes the call over.
		h.clock.Advance(calls.DefaultHangupTimeout + 15*time.Second)
		h.sweep(b)
		close(release)
		if err := <-errA; err != nil {
			t.Fatalf("the slow End: %v", err)
		}
		h.wantEnded(map[string]string{x.ID: calls.ReasonHangup})
		h.wantEndedBy(b, x, 2)
	})

	t.Run("a call created before its instance's first sweep is not adopted while it lives", func(t *testing.T) {
		h := newHarness(t, newStores)
		a, b := h.registry(0), h.registry(1)
		h.create(a, "alice", 10*time.Minute)
		h.clock.Advance(calls.DefaultLiveness / 2)
		h.create(a, "alice", 10*time.Minute) // renews a's liveness
		h.clock.Advance(calls.DefaultLiveness - time.Millisecond)
		h.sweep(b)
		if got := h.adoptedCalls(); len(got) != 0 {
			t.Fatalf("adopted from a live instance: %v", got)
		}
	})

	t.Run("one sweep ends and adopts more calls than its batch", func(t *testing.T) {
		h := newHarness(t, newStores)
		batch := func(o *calls.Options) { o.Batch = 2 }
		a, b := h.registry(0, batch), h.registry(1, batch)
		want := map[string]string{}
		for range 5 {
			c, _ := h.create(a, "alice", time.Minute)
			want[c.ID] = calls.ReasonMaxDuration
		}
		h.clock.Advance(calls.DefaultLiveness)
		h.sweep(b)
		if got := h.adoptedCalls(); len(got) != 5 {
			t.Fatalf("adopted %d calls in one sweep, want 5", len(got))
		}
		h.clock.Advance(time.Minute)
		h.sweep(b)
		h.wantEnded(want)
	})

	t.Run("no more calls than the bound are tracked, across instances", func(t *testing.T) {
		h := newHarness(t, newStores)
		small := func(o *calls.Options) { o.MaxCalls = 3 }
		a, b := h.registry(0, small), h.registry(1, small)
		h.create(a, "alice", time.Minute)
		h.create(a, "bob", time.Minute)
		x, _ := h.create(b, "", time.Minute)
		if err := a.CheckCapacity(ctx); !errors.Is(err, calls.ErrFull) {
			t.Fatalf("CheckCapacity = %v, want ErrFull", err)
		}
		if _, _, err := b.Create(ctx, calls.NewCall{Kind: calls.KindLive, UpstreamID: "sess_1"}); !errors.Is(err, calls.ErrFull) {
			t.Fatalf("Create = %v, want ErrFull", err)
		}
		if err := a.End(ctx, x.ID, calls.ReasonHangup); err != nil {
			t.Fatal(err)
		}
		h.create(b, "carol", time.Minute)
	})

	t.Run("run sweeps on its clock's ticks until its context ends", func(t *testing.T) {
		h := newHarness(t, newStores)
		endedCh := make(chan string, 10)
		a := h.registry(0, func(o *calls.Options) {
			o.OnEnded = func(_ context.Context, c calls.Call, _ string) error { endedCh <- c.ID; return nil }
		})
		runCtx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { defer close(done); a.Run(runCtx) }()
		h.clock.WaitTickers(1)
		for range 3 {
			x, _ := h.create(a, "alice", time.Minute)
			h.clock.Advance(time.Minute)
			select {
			case id := <-endedCh:
				if id != x.ID {
					t.Fatalf("ended %s, want %s", id, x.ID)
				}
			case <-time.After(time.Minute): // a hang guard only, not a timing assertion
				t.Fatal("Run did not end the due call")
			}
		}
		cancel()
		<-done
	})

	t.Run("logs name the call and never its token", func(t *testing.T) {
		h := newHarness(t, newStores)
		a := h.registry(0)
		x, token := h.create(a, "", time.Minute)
		h.up.fail(x.UpstreamID, 1)
		if err := a.End(ctx, x.ID, calls.ReasonHangup); err == nil {
			t.Fatal("the first hang-up should fail")
		}
		if err := a.End(ctx, x.ID, calls.ReasonHangup); err != nil {
			t.Fatal(err)
		}
		logs := h.logText()
		for _, want := range []string{`"msg":"call hangup failed"`, `"msg":"call ended"`, `"call":"` + x.ID, `"upstream_call_id":"` + x.UpstreamID, `"reason":"hangup"`, `"user":""`} {
			if !strings.Contains(logs, want) {
				t.Errorf("logs lack %s:\n%s", want, logs)
			}
		}
		for _, secret := range []string{token, x.TokenHash} {
			if strings.Contains(logs, secret) {
				t.Fatalf("logs show the token or its hash:\n%s", logs)
			}
		}
	})
}

func TestOwnedBy(t *testing.T) {
	const token = "t0ken-of-the-anonymous-caller"
	user := calls.Call{User: "alice"}
	anon := calls.Call{TokenHash: calls.HashToken(token)}
	for _, tc := range []struct {
		name        string
		c           calls.Call
		user, token string
		want        bool
	}{
		{"the same user", user, "alice", "", true},
		{"the same user showing a token", user, "alice", token, true},
		{"another user", user, "bob", "", false},
		{"a user id differing in case", user, "Alice", "", false},
		{"an anonymous caller on a user's call", user, "", token, false},
		{"the token's holder", anon, "", token, true},
		{"a wrong token", anon, "", token + "x", false},
		{"a token prefix", anon, "", token[:10], false},
		{"no token", anon, "", "", false},
		{"an authenticated user holding the token", anon, "alice", token, false},
		{"the hash shown as the token", anon, "", anon.TokenHash, false},
		{"a call with neither owner", calls.Call{}, "", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.c.OwnedBy(tc.user, tc.token); got != tc.want {
				t.Fatalf("OwnedBy(%q, %q) = %v, want %v", tc.user, tc.token, got, tc.want)
			}
		})
	}
}

func TestNewRegistryChecksOptions(t *testing.T) {
	hangup := func(context.Context, calls.Call) error { return nil }
	m := calls.NewMemory()
	for _, tc := range []struct {
		name string
		o    calls.Options
		ok   bool
	}{
		{"defaults", calls.Options{Store: m, Hangup: hangup}, true},
		{"a named instance", calls.Options{Store: m, Hangup: hangup, Instance: "rtgate-0.eu_west"}, true},
		{"no store", calls.Options{Hangup: hangup}, false},
		{"no hangup", calls.Options{Store: m}, false},
		{"an instance with a colon", calls.Options{Store: m, Hangup: hangup, Instance: "a:b"}, false},
		{"liveness within a sweep period", calls.Options{Store: m, Hangup: hangup, Liveness: time.Second}, false},
		{"a lease within the hangup timeout", calls.Options{Store: m, Hangup: hangup, Lease: 30 * time.Second}, false},
		{"giving up after Linger", calls.Options{Store: m, Hangup: hangup, GiveUp: calls.Linger}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := calls.NewRegistry(tc.o)
			if (err == nil) != tc.ok {
				t.Fatalf("NewRegistry: %v, want ok %v", err, tc.ok)
			}
			if err == nil && !calls.ValidInstance(r.Instance()) {
				t.Fatalf("instance %q", r.Instance())
			}
		})
	}
	a, _ := calls.NewRegistry(calls.Options{Store: m, Hangup: hangup})
	b, _ := calls.NewRegistry(calls.Options{Store: m, Hangup: hangup})
	if a.Instance() == b.Instance() {
		t.Fatal("two registries drew the same instance id")
	}
}

// flakyStore fails heartbeats on demand and reports each sweep's claim, so
// a test can step Run in lockstep.
type flakyStore struct {
	calls.Store
	fail   atomic.Bool
	sweeps chan struct{}
}

func (s *flakyStore) Heartbeat(ctx context.Context, instance string, until, now time.Time) error {
	if s.fail.Load() {
		return errors.New("redis: connection refused")
	}
	return s.Store.Heartbeat(ctx, instance, until, now)
}

func (s *flakyStore) ClaimDue(ctx context.Context, holder string, now, until time.Time, max int) ([]calls.Claimed, error) {
	select {
	case s.sweeps <- struct{}{}:
	case <-ctx.Done():
	}
	return s.Store.ClaimDue(ctx, holder, now, until, max)
}

func TestRunLogsAFailingStoreOnceAndItsRecovery(t *testing.T) {
	store := &flakyStore{Store: calls.NewMemory(), sweeps: make(chan struct{})}
	h := newHarness(t, func(*testing.T) (calls.Store, calls.Store) { return store, store })
	r := h.registry(0)
	store.fail.Store(true)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { defer close(done); r.Run(ctx) }()
	// Each receive means the sweep before it has finished and been logged.
	step := func() {
		<-store.sweeps
		h.clock.Advance(calls.DefaultSweepEvery)
	}
	for range 3 {
		step()
	}
	store.fail.Store(false)
	for range 3 {
		step()
	}
	<-store.sweeps
	cancel()
	<-done
	logs := h.logText()
	if n := strings.Count(logs, `"msg":"call sweep failing"`); n != 1 {
		t.Errorf("%d failing logs, want 1:\n%s", n, logs)
	}
	if n := strings.Count(logs, `"msg":"call sweep recovered"`); n != 1 {
		t.Errorf("%d recovery logs, want 1:\n%s", n, logs)
	}
	if !strings.Contains(logs, "connection refused") {
		t.Errorf("the failure's cause is not logged:\n%s", logs)
	}
}
