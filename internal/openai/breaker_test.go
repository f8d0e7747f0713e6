package openai

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time          { return c.t }
func (c *fakeClock) advance(d time.Duration) { c.t = c.t.Add(d) }

func newFakeClock() *fakeClock { return &fakeClock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)} }

// run admits one call and records v; it reports whether the call was admitted.
func run(b *Breaker, v verdict) bool {
	done, _, ok := b.admit()
	if ok {
		done(v)
	}
	return ok
}

func TestBreakerOpensAfterConsecutiveFailuresAndProbesAfterCooldown(t *testing.T) {
	clk := newFakeClock()
	b := NewBreaker(BreakerOptions{Failures: 3, Cooldown: 10 * time.Second}, clk.now)
	for i := 0; i < 2; i++ {
		run(b, verdictFailure)
	}
	if s := b.State(); s.State != BreakerClosed || s.Consecutive != 2 {
		t.Fatalf("after 2 failures: %+v", s)
	}
	run(b, verdictSuccess)
	if s := b.State(); s.Consecutive != 0 {
		t.Fatalf("a success must reset the count: %+v", s)
	}
	for i := 0; i < 3; i++ {
		if !run(b, verdictFailure) {
			t.Fatalf("call %d refused while closed", i)
		}
	}
	if s := b.State(); s.State != BreakerOpen || s.RetryIn != 10*time.Second || s.Opened != 1 {
		t.Fatalf("after 3 failures: %+v", s)
	}
	if err := b.Check(context.Background()); err == nil {
		t.Error("readiness passes while open")
	}
	clk.advance(9 * time.Second)
	if wait, open := b.openFor(); !open || wait != time.Second {
		t.Fatalf("openFor = %v %v, want open for 1s", wait, open)
	}
	if _, wait, ok := b.admit(); ok || wait != time.Second {
		t.Fatalf("admitted while open (wait %v)", wait)
	}
	clk.advance(time.Second)
	if err := b.Check(context.Background()); err != nil {
		t.Errorf("readiness must pass once the cool-down is over, so a probe can come: %v", err)
	}
	done, _, ok := b.admit()
	if !ok {
		t.Fatal("probe refused after the cool-down")
	}
	if _, _, ok := b.admit(); ok {
		t.Fatal("a second call admitted while the probe is in flight")
	}
	if _, open := b.openFor(); !open {
		t.Fatal("openFor must refuse while the probe is in flight")
	}
	done(verdictFailure)
	if s := b.State(); s.State != BreakerOpen || s.RetryIn != 10*time.Second || s.Opened != 2 {
		t.Fatalf("failed probe must reopen for a full cool-down: %+v", s)
	}
	clk.advance(10 * time.Second)
	if !run(b, verdictSuccess) {
		t.Fatal("second probe refused")
	}
	if s := b.State(); s.State != BreakerClosed || s.Consecutive != 0 {
		t.Fatalf("successful probe must close: %+v", s)
	}
}

func TestBreakerNeutralProbeLetsAnotherProbe(t *testing.T) {
	clk := newFakeClock()
	b := NewBreaker(BreakerOptions{Failures: 1, Cooldown: time.Second}, clk.now)
	run(b, verdictFailure)
	clk.advance(time.Second)
	if !run(b, verdictNeutral) {
		t.Fatal("probe refused")
	}
	if s := b.State(); s.State != BreakerHalfOpen {
		t.Fatalf("cancelled probe: %+v", s)
	}
	if !run(b, verdictSuccess) {
		t.Fatal("next probe refused after a cancelled one")
	}
	if s := b.State(); s.State != BreakerClosed {
		t.Fatalf("%+v", s)
	}
}

func TestBreakerDisabledWithZeroFailures(t *testing.T) {
	b := NewBreaker(BreakerOptions{}, nil)
	for i := 0; i < 100; i++ {
		if !run(b, verdictFailure) {
			t.Fatal("disabled breaker refused a call")
		}
	}
	if _, open := b.openFor(); open {
		t.Fatal("disabled breaker open")
	}
}

func TestBreakerVerdicts(t *testing.T) {
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	cases := []struct {
		name string
		ctx  context.Context
		err  error
		want verdict
	}{
		{"success", context.Background(), nil, verdictSuccess},
		{"400 is the request's fault, the upstream is up", context.Background(), &StatusError{Status: 400}, verdictSuccess},
		{"401 is the key's fault, the upstream is up", context.Background(), &StatusError{Status: 401}, verdictSuccess},
		{"429 counts", context.Background(), &StatusError{Status: 429}, verdictFailure},
		{"500 counts", context.Background(), &StatusError{Status: 500}, verdictFailure},
		{"503 counts", context.Background(), &StatusError{Status: 503}, verdictFailure},
		{"timeout counts", context.Background(), fmt.Errorf("%w: x", ErrTimeout), verdictFailure},
		{"network error counts", context.Background(), errors.New("connection refused"), verdictFailure},
		{"malformed answer counts", context.Background(), fmt.Errorf("%w: x", ErrBadResponse), verdictFailure},
		{"caller gave up says nothing", cancelled, fmt.Errorf("upstream call canceled: %w", context.Canceled), verdictNeutral},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := breakerVerdict(tc.ctx, tc.err); got != tc.want {
				t.Errorf("verdict %v, want %v", got, tc.want)
			}
		})
	}
}

// TestBreakerHealth: closed is fine, open is unready, half-open (a probe
// is due) is ready but shown.
func TestBreakerHealth(t *testing.T) {
	clk := newFakeClock()
	b := NewBreaker(BreakerOptions{Failures: 1, Cooldown: 10 * time.Second}, clk.now)
	ctx := context.Background()
	if d, err := b.Health(ctx); d != "" || err != nil {
		t.Fatalf("closed: %q %v", d, err)
	}
	run(b, verdictFailure)
	if d, err := b.Health(ctx); err == nil || d != "" {
		t.Fatalf("open: %q %v", d, err)
	}
	clk.advance(10 * time.Second)
	if d, err := b.Health(ctx); err != nil || !strings.Contains(d, "after 1 failures") {
		t.Fatalf("cool-down over: %q %v", d, err)
	}
}
