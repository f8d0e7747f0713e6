package ratelimit_test

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

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/rtgate/rtgate/internal/ratelimit"
	"github.com/rtgate/rtgate/internal/ratelimit/redistest"
	"github.com/rtgate/rtgate/internal/ratelimit/storetest"
)

// TestRedisKilledMidRun kills a real redis-server under each failure policy,
// checks the policy holds, restarts it, and checks recovery is automatic.
func TestRedisKilledMidRun(t *testing.T) {
	p := ratelimit.Policy{Limit: 3, Window: time.Hour}
	ctx := context.Background()
	for _, policy := range []ratelimit.FailurePolicy{ratelimit.FailLocal, ratelimit.FailOpen, ratelimit.FailClosed} {
		t.Run(string(policy), func(t *testing.T) {
			srv := redistest.Start(t)
			clock := storetest.NewClock()
			reg := prometheus.NewRegistry()
			m, err := ratelimit.NewMetrics(reg)
			if err != nil {
				t.Fatal(err)
			}
			var logs bytes.Buffer
			local := ratelimit.NewMemory(ratelimit.MemoryOptions{Now: clock.Now})
			f, err := ratelimit.NewFallback(ratelimit.NewRedis(newClient(t, srv.URL()), freshPrefix(t)), local, ratelimit.FallbackOptions{
				Policy: policy, Logger: slog.New(slog.NewJSONHandler(&logs, nil)), Metrics: m, Now: clock.Now,
			})
			if err != nil {
				t.Fatal(err)
			}
			redisErrors, fallbacks, recoveries := m.Counters()

			// Healthy: Redis decides; exhaust the shared limit.
			for range 3 {
				if d, err := f.Allow(ctx, "k", p); err != nil || !d.Allowed {
					t.Fatalf("healthy: %+v %v", d, err)
				}
			}
			if d, err := f.Allow(ctx, "k", p); err != nil || d.Allowed {
				t.Fatalf("healthy 4th: %+v %v", d, err)
			}
			if !f.Healthy() || f.Status() != "ok" {
				t.Fatalf("Status = %q", f.Status())
			}

			srv.Kill()
			for i := range 5 {
				d, err := f.Allow(ctx, "k", p)
				switch policy {
				case ratelimit.FailLocal: // per-instance limit from a fresh memory store
					if err != nil || d.Allowed != (i < 3) || d.Skipped {
						t.Fatalf("local, request %d: %+v %v", i, d, err)
					}
				case ratelimit.FailOpen:
					if err != nil || !d.Allowed || !d.Skipped {
						t.Fatalf("open: %+v %v", d, err)
					}
				case ratelimit.FailClosed:
					if !errors.Is(err, ratelimit.ErrStoreUnavailable) || d.Allowed {
						t.Fatalf("closed: %+v %v", d, err)
					}
				}
			}
			if f.Healthy() || !strings.Contains(f.Status(), "degraded (policy "+string(policy)+")") {
				t.Fatalf("Status = %q", f.Status())
			}
			// Within the probe interval Redis is tried once, not per request.
			if got := testutil.ToFloat64(redisErrors); got != 1 {
				t.Fatalf("redis errors = %v; want 1 (no probe before the interval)", got)
			}
			if got := testutil.ToFloat64(fallbacks); got != 1 {
				t.Fatalf("fallback activations = %v", got)
			}

			// A probe while still down keeps it degraded and logs nothing new.
			clock.Advance(time.Second)
			if _, err := f.Allow(ctx, "k", p); policy != ratelimit.FailClosed && err != nil {
				t.Fatal(err)
			}
			if got := testutil.ToFloat64(redisErrors); got != 2 {
				t.Fatalf("redis errors after one probe = %v; want 2", got)
			}

			srv.Restart()
			recovered := false
			for range 5 { // a stale pooled connection may fail one probe
				clock.Advance(time.Second)
				d, err := f.Allow(ctx, "fresh", p)
				if f.Healthy() {
					if err != nil || !d.Allowed || d.Remaining != 2 || d.Skipped {
						t.Fatalf("first decision after recovery: %+v %v", d, err)
					}
					recovered = true
					break
				}
			}
			if !recovered {
				t.Fatalf("did not recover: %s", f.Status())
			}
			if got := testutil.ToFloat64(recoveries); got != 1 {
				t.Fatalf("recoveries = %v", got)
			}
			if got := testutil.ToFloat64(fallbacks); got != 1 {
				t.Fatalf("fallback activations = %v; want exactly one transition", got)
			}
			if n := strings.Count(logs.String(), "rate limit store unavailable"); n != 1 {
				t.Fatalf("degraded logged %d times:\n%s", n, logs.String())
			}
			if n := strings.Count(logs.String(), "rate limit store recovered"); n != 1 {
				t.Fatalf("recovery logged %d times:\n%s", n, logs.String())
			}
		})
	}
}

type scriptedStore struct {
	errs  []error
	calls int
}

func (s *scriptedStore) Allow(context.Context, string, ratelimit.Policy) (ratelimit.Decision, error) {
	s.calls++
	if len(s.errs) > 0 {
		err := s.errs[0]
		s.errs = s.errs[1:]
		if err != nil {
			return ratelimit.Decision{}, err
		}
	}
	return ratelimit.Decision{Allowed: true, Limit: 1, Window: time.Second}, nil
}

func TestFallbackIgnoresCallerCancellation(t *testing.T) {
	primary := &scriptedStore{errs: []error{context.Canceled}}
	f, err := ratelimit.NewFallback(primary, nil, ratelimit.FallbackOptions{Policy: ratelimit.FailClosed})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := f.Allow(ctx, "k", ratelimit.Policy{Limit: 1, Window: time.Second}); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
	if !f.Healthy() {
		t.Fatal("a cancelled caller degraded the store")
	}
}

func TestNewFallbackValidates(t *testing.T) {
	if _, err := ratelimit.NewFallback(&scriptedStore{}, nil, ratelimit.FallbackOptions{}); err == nil {
		t.Error("local policy without a local store accepted")
	}
	if _, err := ratelimit.NewFallback(&scriptedStore{}, nil, ratelimit.FallbackOptions{Policy: "sometimes"}); err == nil {
		t.Error("unknown policy accepted")
	}
	for in, want := range map[string]ratelimit.FailurePolicy{"": "local", "local": "local", "open": "open", "closed": "closed"} {
		if got, err := ratelimit.ParseFailurePolicy(in); err != nil || got != want {
			t.Errorf("ParseFailurePolicy(%q) = %q, %v", in, got, err)
		}
	}
}

// TestFallbackProbeRecoversWithoutTraffic: readiness probes alone bring a
// degraded store back once Redis returns, paced by the probe interval.
func TestFallbackProbeRecoversWithoutTraffic(t *testing.T) {
	srv := redistest.Start(t)
	clock := storetest.NewClock()
	reg := prometheus.NewRegistry()
	m, err := ratelimit.NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	f, err := ratelimit.NewFallback(ratelimit.NewRedis(newClient(t, srv.URL()), freshPrefix(t)), nil,
		ratelimit.FallbackOptions{Policy: ratelimit.FailClosed, Metrics: m, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	redisErrors, _, recoveries := m.Counters()
	if !f.Probe(ctx) {
		t.Fatal("healthy store probed unhealthy")
	}
	srv.Kill()
	if _, err := f.Allow(ctx, "k", ratelimit.Policy{Limit: 1, Window: time.Minute}); !errors.Is(err, ratelimit.ErrStoreUnavailable) {
		t.Fatalf("closed while down: %v", err)
	}
	if f.Probe(ctx) || testutil.ToFloat64(redisErrors) != 1 {
		t.Fatalf("probe before the interval reached Redis (errors %v)", testutil.ToFloat64(redisErrors))
	}
	clock.Advance(time.Second)
	if f.Probe(ctx) || testutil.ToFloat64(redisErrors) != 2 {
		t.Fatalf("probe while down: errors %v", testutil.ToFloat64(redisErrors))
	}
	srv.Restart()
	recovered := false
	for range 5 {
		clock.Advance(time.Second)
		if f.Probe(ctx) {
			recovered = true
			break
		}
	}
	if !recovered || !f.Healthy() || testutil.ToFloat64(recoveries) != 1 {
		t.Fatalf("not recovered by probes: %s", f.Status())
	}
}

type flakyStore struct{ down atomic.Bool }

func (s *flakyStore) Allow(context.Context, string, ratelimit.Policy) (ratelimit.Decision, error) {
	if s.down.Load() {
		return ratelimit.Decision{}, errors.New("connection refused")
	}
	return ratelimit.Decision{Allowed: true, Limit: 1, Window: time.Second}, nil
}

// TestFallbackConcurrentTransitions flips the primary up and down under
// concurrent callers: transitions alternate (never two outages in a row),
// and every call gets an answer under the policy.
func TestFallbackConcurrentTransitions(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := ratelimit.NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	clock := storetest.NewClock()
	primary := &flakyStore{}
	f, err := ratelimit.NewFallback(primary, nil, ratelimit.FallbackOptions{Policy: ratelimit.FailOpen, Metrics: m, Now: clock.Now, ProbeInterval: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	_, fallbacks, recoveries := m.Counters()
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				if g == 0 && i%20 == 0 {
					primary.down.Store(!primary.down.Load())
				}
				clock.Advance(time.Millisecond)
				d, err := f.Allow(context.Background(), "k", ratelimit.Policy{Limit: 1, Window: time.Second})
				if err != nil || !d.Allowed {
					t.Errorf("open policy refused: %+v %v", d, err)
					return
				}
				_ = f.Probe(context.Background())
				_ = f.Status()
			}
		})
	}
	wg.Wait()
	down, up := testutil.ToFloat64(fallbacks), testutil.ToFloat64(recoveries)
	if down < 1 || down-up < 0 || down-up > 1 {
		t.Fatalf("activations %v, recoveries %v: transitions must alternate", down, up)
	}
	if healthy := f.Healthy(); healthy != (down == up) {
		t.Fatalf("Healthy()=%v with %v activations and %v recoveries", healthy, down, up)
	}
}

// pingableFlaky is a flakyStore whose Ping answers like its Allow.
type pingableFlaky struct{ flakyStore }

func (s *pingableFlaky) Ping(context.Context) error {
	if s.down.Load() {
		return errors.New("connection refused")
	}
	return nil
}

// TestFallbackHealth: what readiness says per policy while the primary is
// down: unready only when nothing is decided (closed).
func TestFallbackHealth(t *testing.T) {
	for _, tc := range []struct {
		policy   ratelimit.FailurePolicy
		degraded bool
		unready  bool
	}{
		{ratelimit.FailLocal, true, false},
		{ratelimit.FailOpen, true, false},
		{ratelimit.FailClosed, false, true},
	} {
		t.Run(string(tc.policy), func(t *testing.T) {
			clock := storetest.NewClock()
			primary := &pingableFlaky{}
			f, err := ratelimit.NewFallback(primary, ratelimit.NewMemory(ratelimit.MemoryOptions{}), ratelimit.FallbackOptions{Policy: tc.policy, Now: clock.Now})
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			if d, err := f.Health(ctx); d != "" || err != nil {
				t.Fatalf("healthy: %q %v", d, err)
			}
			primary.down.Store(true)
			_, _ = f.Allow(ctx, "k", ratelimit.Policy{Limit: 1, Window: time.Second})
			d, err := f.Health(ctx)
			if (d != "") != tc.degraded || (err != nil) != tc.unready {
				t.Fatalf("down: degraded %q, error %v", d, err)
			}
			if detail := d + fmt.Sprint(err); !strings.Contains(detail, "policy "+string(tc.policy)) {
				t.Errorf("detail %q does not name the policy", detail)
			}
			primary.down.Store(false)
			clock.Advance(time.Second)
			if d, err := f.Health(ctx); d != "" || err != nil {
				t.Fatalf("back: %q %v", d, err)
			}
		})
	}
}
