// Package storetest is the contract every ratelimit.Store must meet. Each
// backend's tests call Run with its own constructor and a clock the store
// reads, in the manner of oauth2-proxy's RunSessionStoreTests:
//
//	clock := storetest.NewClock()
//	storetest.Run(t, func(t *testing.T) ratelimit.Store {
//		return ratelimit.NewMemory(ratelimit.MemoryOptions{Now: clock.Now})
//	}, clock.Advance)
package storetest

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/rtgate/rtgate/internal/ratelimit"
)

// Clock is a manual clock for tests; it only moves when Advance is called.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock returns a Clock set to a fixed instant with microsecond precision.
func NewClock() *Clock {
	return &Clock{now: time.Date(2026, 1, 2, 3, 4, 5, 678_901_000, time.UTC)}
}

// Now returns the clock's current time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// Run runs the store contract. newStore must return a store with no state
// (a fresh instance or a fresh key space) that reads the clock that advance
// moves.
func Run(t *testing.T, newStore func(t *testing.T) ratelimit.Store, advance func(time.Duration)) {
	ctx := context.Background()
	perMinute10 := ratelimit.Policy{Limit: 10, Window: time.Minute} // 6s interval
	allow := func(t *testing.T, s ratelimit.Store, key string, p ratelimit.Policy) ratelimit.Decision {
		t.Helper()
		d, err := s.Allow(ctx, key, p)
		if err != nil {
			t.Fatalf("Allow(%q): %v", key, err)
		}
		if d.Limit != p.Limit || d.Window != p.Window {
			t.Fatalf("decision echoes policy %d/%v; want %d/%v", d.Limit, d.Window, p.Limit, p.Window)
		}
		if d.Skipped || d.Shadowed {
			t.Fatalf("store set Skipped/Shadowed: %+v", d)
		}
		return d
	}
	burst := func(t *testing.T, s ratelimit.Store, key string, p ratelimit.Policy, n int) {
		t.Helper()
		for i := range n {
			if d := allow(t, s, key, p); !d.Allowed {
				t.Fatalf("request %d of %d denied: %+v", i+1, n, d)
			}
		}
	}

	t.Run("a new key is admitted with limit-1 remaining", func(t *testing.T) {
		s := newStore(t)
		d := allow(t, s, "ip:192.0.2.1", perMinute10)
		want := ratelimit.Decision{Allowed: true, Limit: 10, Window: time.Minute, Remaining: 9, ResetAfter: 6 * time.Second}
		if d != want {
			t.Fatalf("got %+v; want %+v", d, want)
		}
	})

	t.Run("the limit-th request is admitted and the next is denied for one interval", func(t *testing.T) {
		s := newStore(t)
		burst(t, s, "k", perMinute10, 9)
		d := allow(t, s, "k", perMinute10)
		if !d.Allowed || d.Remaining != 0 || d.ResetAfter != time.Minute {
			t.Fatalf("10th: %+v; want allowed, 0 remaining, reset 1m", d)
		}
		d = allow(t, s, "k", perMinute10)
		want := ratelimit.Decision{Limit: 10, Window: time.Minute, RetryAfter: 6 * time.Second, ResetAfter: time.Minute}
		if d != want {
			t.Fatalf("11th: %+v; want %+v", d, want)
		}
	})

	t.Run("remaining is exactly how many more requests are admitted", func(t *testing.T) {
		s := newStore(t)
		burst(t, s, "k", perMinute10, 4)
		d := allow(t, s, "k", perMinute10)
		burst(t, s, "k", perMinute10, d.Remaining)
		if d := allow(t, s, "k", perMinute10); d.Allowed {
			t.Fatalf("admitted past Remaining: %+v", d)
		}
	})

	t.Run("denials do not consume quota or push the retry time out", func(t *testing.T) {
		s := newStore(t)
		burst(t, s, "k", perMinute10, 10)
		for range 20 {
			allow(t, s, "k", perMinute10)
		}
		advance(6 * time.Second)
		if d := allow(t, s, "k", perMinute10); !d.Allowed {
			t.Fatalf("after RetryAfter: %+v", d)
		}
	})

	t.Run("retry after is exact to the microsecond", func(t *testing.T) {
		s := newStore(t)
		burst(t, s, "k", perMinute10, 10)
		d := allow(t, s, "k", perMinute10)
		advance(d.RetryAfter - time.Microsecond)
		if d := allow(t, s, "k", perMinute10); d.Allowed || d.RetryAfter != time.Microsecond {
			t.Fatalf("1µs early: %+v; want denied with RetryAfter 1µs", d)
		}
		advance(time.Microsecond)
		if d := allow(t, s, "k", perMinute10); !d.Allowed || d.Remaining != 0 {
			t.Fatalf("on time: %+v; want allowed with 0 remaining", d)
		}
		if d := allow(t, s, "k", perMinute10); d.Allowed {
			t.Fatalf("second request after one interval: %+v", d)
		}
	})

	t.Run("after reset the key is as good as new", func(t *testing.T) {
		s := newStore(t)
		burst(t, s, "k", perMinute10, 10)
		advance(time.Minute)
		d := allow(t, s, "k", perMinute10)
		if !d.Allowed || d.Remaining != 9 || d.ResetAfter != 6*time.Second {
			t.Fatalf("after full window: %+v", d)
		}
	})

	t.Run("refill is continuous, not a fixed window", func(t *testing.T) {
		s := newStore(t)
		burst(t, s, "k", perMinute10, 10)
		advance(30 * time.Second) // half a window refills half the burst
		burst(t, s, "k", perMinute10, 5)
		if d := allow(t, s, "k", perMinute10); d.Allowed {
			t.Fatalf("6th after half a window: %+v", d)
		}
	})

	t.Run("no 2N at a window boundary", func(t *testing.T) {
		s := newStore(t)
		advance(59 * time.Second)
		burst(t, s, "k", perMinute10, 10)
		advance(time.Second + time.Millisecond) // a fixed window would reset here
		if d := allow(t, s, "k", perMinute10); d.Allowed {
			t.Fatalf("admitted across the boundary: %+v", d)
		}
	})

	t.Run("keys are independent", func(t *testing.T) {
		s := newStore(t)
		burst(t, s, "ip:192.0.2.1", perMinute10, 10)
		if d := allow(t, s, "ip:192.0.2.2", perMinute10); !d.Allowed || d.Remaining != 9 {
			t.Fatalf("other key: %+v", d)
		}
		if d := allow(t, s, "ip:2001:db8::/64", perMinute10); !d.Allowed || d.Remaining != 9 {
			t.Fatalf("IPv6 key: %+v", d)
		}
		if d := allow(t, s, "user:ünïcødé \"quoted\" {braces}", perMinute10); !d.Allowed {
			t.Fatalf("odd user key: %+v", d)
		}
	})

	t.Run("uneven intervals round down to whole microseconds", func(t *testing.T) {
		s := newStore(t)
		p := ratelimit.Policy{Limit: 7, Window: time.Minute} // 8.571428571s
		burst(t, s, "k", p, 7)
		d := allow(t, s, "k", p)
		if d.Allowed || d.RetryAfter != 8_571_428*time.Microsecond || d.ResetAfter != 7*8_571_428*time.Microsecond {
			t.Fatalf("got %+v", d)
		}
	})

	t.Run("a limit of one admits one request per window", func(t *testing.T) {
		s := newStore(t)
		p := ratelimit.Policy{Limit: 1, Window: time.Hour}
		burst(t, s, "k", p, 1)
		if d := allow(t, s, "k", p); d.Allowed || d.RetryAfter != time.Hour {
			t.Fatalf("got %+v", d)
		}
	})

	t.Run("concurrent requests admit exactly the limit", func(t *testing.T) {
		s := newStore(t)
		p := ratelimit.Policy{Limit: 25, Window: time.Hour}
		var (
			wg       sync.WaitGroup
			mu       sync.Mutex
			admitted int
		)
		for range 5 {
			wg.Go(func() {
				for range 10 {
					d, err := s.Allow(ctx, "shared", p)
					if err != nil {
						t.Error(err)
						return
					}
					if d.Allowed {
						mu.Lock()
						admitted++
						mu.Unlock()
					}
				}
			})
		}
		wg.Wait()
		if admitted != 25 {
			t.Fatalf("admitted %d of 50; want 25", admitted)
		}
	})

	t.Run("a burst below the limit admits that many at once, then one per interval", func(t *testing.T) {
		s := newStore(t)
		p := ratelimit.Policy{Limit: 10, Window: time.Minute, Burst: 3} // 6s interval
		d := allow(t, s, "k", p)
		if !d.Allowed || d.Remaining != 2 || d.ResetAfter != 6*time.Second {
			t.Fatalf("first: %+v; want allowed, 2 remaining, reset 6s", d)
		}
		burst(t, s, "k", p, 2)
		if d := allow(t, s, "k", p); d.Allowed || d.RetryAfter != 6*time.Second || d.ResetAfter != 18*time.Second {
			t.Fatalf("4th: %+v; want denied for one interval", d)
		}
		advance(6 * time.Second)
		burst(t, s, "k", p, 1)
		if d := allow(t, s, "k", p); d.Allowed {
			t.Fatalf("second request after one interval: %+v", d)
		}
	})

	t.Run("a burst of one is strict: never more than the limit in any window", func(t *testing.T) {
		s := newStore(t)
		p := ratelimit.Policy{Limit: 10, Window: 10 * time.Second, Burst: 1}
		admitted := 0
		for range 100 { // every 100ms for 10s
			if d := allow(t, s, "k", p); d.Allowed {
				admitted++
			}
			advance(100 * time.Millisecond)
		}
		if admitted != 10 {
			t.Fatalf("admitted %d in one window; want 10", admitted)
		}
	})

	t.Run("a disabled policy is an error, not an unlimited key", func(t *testing.T) {
		s := newStore(t)
		if _, err := s.Allow(ctx, "k", ratelimit.Policy{}); err == nil {
			t.Fatal("zero policy accepted")
		}
	})
}
