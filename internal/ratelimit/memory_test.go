package ratelimit_test

import (
	"context"
	"fmt"
	"net/netip"
	"testing"
	"testing/synctest"
	"time"

	"github.com/rtgate/rtgate/internal/ratelimit"
	"github.com/rtgate/rtgate/internal/ratelimit/storetest"
)

func TestMemoryContract(t *testing.T) {
	clock := storetest.NewClock()
	storetest.Run(t, func(t *testing.T) ratelimit.Store {
		return ratelimit.NewMemory(ratelimit.MemoryOptions{Now: clock.Now})
	}, clock.Advance)
}

func TestMemoryKeyBound(t *testing.T) {
	p := ratelimit.Policy{Limit: 2, Window: 10 * time.Second} // 5s per request
	ctx := context.Background()

	t.Run("new keys are denied when no entry can be freed, existing keys keep their state", func(t *testing.T) {
		clock := storetest.NewClock()
		m := ratelimit.NewMemory(ratelimit.MemoryOptions{Now: clock.Now, MaxKeys: 3, Shards: 1})
		mustAllow(t, m, "offender", p, 2) // exhausted
		mustAllow(t, m, "a", p, 1)
		mustAllow(t, m, "b", p, 1)
		d, err := m.Allow(ctx, "flood-1", p)
		if err != nil || d.Allowed || d.RetryAfter <= 0 || d.RetryAfter > time.Second {
			t.Fatalf("new key at bound: %+v, %v; want denied with a short RetryAfter", d, err)
		}
		if m.Len() != 3 || m.Saturated() != 1 {
			t.Fatalf("Len=%d Saturated=%d; want 3, 1", m.Len(), m.Saturated())
		}
		d, _ = m.Allow(ctx, "offender", p)
		if d.Allowed {
			t.Fatalf("flooding new keys reset the offender: %+v", d)
		}
	})

	t.Run("fully replenished entries make room for new keys, active offender stays", func(t *testing.T) {
		clock := storetest.NewClock()
		m := ratelimit.NewMemory(ratelimit.MemoryOptions{Now: clock.Now, MaxKeys: 3, Shards: 1})
		mustAllow(t, m, "a", p, 1)
		mustAllow(t, m, "b", p, 1)
		clock.Advance(5 * time.Second) // a and b replenished
		mustAllow(t, m, "offender", p, 2)
		for i := range 2 {
			mustAllow(t, m, fmt.Sprintf("new-%d", i), p, 1)
		}
		if m.Len() != 3 {
			t.Fatalf("Len = %d; want 3", m.Len())
		}
		if d, _ := m.Allow(ctx, "offender", p); d.Allowed {
			t.Fatalf("offender was evicted: %+v", d)
		}
		if d, _ := m.Allow(ctx, "new-3", p); d.Allowed {
			t.Fatalf("bound exceeded: %+v", d)
		}
	})

	t.Run("a full shard admits new keys again once entries replenish", func(t *testing.T) {
		clock := storetest.NewClock()
		m := ratelimit.NewMemory(ratelimit.MemoryOptions{Now: clock.Now, MaxKeys: 1, Shards: 1})
		mustAllow(t, m, "a", p, 1)
		if d, _ := m.Allow(ctx, "b", p); d.Allowed {
			t.Fatal("b admitted past the bound")
		}
		clock.Advance(5*time.Second - time.Microsecond)
		if d, _ := m.Allow(ctx, "b", p); d.Allowed {
			t.Fatal("b admitted before a replenished")
		}
		clock.Advance(time.Microsecond)
		mustAllow(t, m, "b", p, 1)
	})
}

func TestMemoryBoundFreesReplenishedEntriesWhateverTheirPolicy(t *testing.T) {
	clock := storetest.NewClock()
	m := ratelimit.NewMemory(ratelimit.MemoryOptions{Now: clock.Now, MaxKeys: 2, Shards: 1})
	long := ratelimit.Policy{Limit: 1, Window: time.Hour}
	short := ratelimit.Policy{Limit: 1, Window: time.Second}
	mustAllow(t, m, "long-1", long, 1)
	mustAllow(t, m, "long-2", long, 1)
	if d, _ := m.Allow(context.Background(), "x", short); d.Allowed {
		t.Fatal("admitted past the bound")
	}
	clock.Advance(time.Hour) // both long entries replenish
	mustAllow(t, m, "short-1", short, 1)
	mustAllow(t, m, "long-3", long, 1)
	clock.Advance(time.Second) // short-1 replenishes long before long-3
	mustAllow(t, m, "new", short, 1)
}

func TestMemorySweepRemovesOnlyReplenishedEntries(t *testing.T) {
	clock := storetest.NewClock()
	m := ratelimit.NewMemory(ratelimit.MemoryOptions{Now: clock.Now})
	short := ratelimit.Policy{Limit: 1, Window: time.Second}
	long := ratelimit.Policy{Limit: 1, Window: time.Hour}
	mustAllow(t, m, "short", short, 1)
	mustAllow(t, m, "long", long, 1)
	clock.Advance(time.Second)
	if n := m.Sweep(); n != 1 {
		t.Fatalf("Sweep removed %d; want 1", n)
	}
	if d, _ := m.Allow(context.Background(), "long", long); d.Allowed {
		t.Fatal("sweep dropped an active entry")
	}
}

func TestMemoryRunSweepsEveryIntervalUntilCancelled(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := ratelimit.NewMemory(ratelimit.MemoryOptions{SweepInterval: time.Minute}) // bubble clock
		mustAllow(t, m, "k", ratelimit.Policy{Limit: 1, Window: time.Second}, 1)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { m.Run(ctx); close(done) }()
		time.Sleep(59 * time.Second)
		synctest.Wait()
		if m.Len() != 1 {
			t.Fatalf("swept before the interval: Len = %d", m.Len())
		}
		time.Sleep(time.Second)
		synctest.Wait()
		if m.Len() != 0 {
			t.Fatalf("not swept after the interval: Len = %d", m.Len())
		}
		cancel()
		<-done
	})
}

func TestMemoryRejectsDisabledPolicy(t *testing.T) {
	m := ratelimit.NewMemory(ratelimit.MemoryOptions{})
	if _, err := m.Allow(context.Background(), "k", ratelimit.Policy{}); err == nil {
		t.Fatal("zero policy accepted")
	}
}

func mustAllow(t *testing.T, s ratelimit.Store, key string, p ratelimit.Policy, n int) {
	t.Helper()
	for i := range n {
		d, err := s.Allow(context.Background(), key, p)
		if err != nil || !d.Allowed {
			t.Fatalf("request %d for %q: %+v, %v; want allowed", i+1, key, d, err)
		}
	}
}

// TestMemoryBoundCountsAddressAndStringKeys: per-IP decisions through a
// Limiter (keyed without strings) and per-user decisions (string keys) share
// one store, one key bound and one sweep.
func TestMemoryBoundCountsAddressAndStringKeys(t *testing.T) {
	clock := storetest.NewClock()
	m := ratelimit.NewMemory(ratelimit.MemoryOptions{Now: clock.Now, MaxKeys: 2, Shards: 1})
	p := ratelimit.Policy{Limit: 2, Window: 10 * time.Second}
	l, err := ratelimit.New(ratelimit.Options{IP: p, User: p, Store: m})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if d, err := l.AllowUser(ctx, "alice"); err != nil || !d.Allowed {
		t.Fatalf("user: %+v %v", d, err)
	}
	if d, err := l.AllowIP(ctx, netip.MustParseAddr("192.0.2.1")); err != nil || !d.Allowed {
		t.Fatalf("first address: %+v %v", d, err)
	}
	if d, _ := l.AllowIP(ctx, netip.MustParseAddr("192.0.2.2")); d.Allowed {
		t.Fatalf("a third key was admitted past MaxKeys 2: %+v", d)
	}
	if d, _ := l.AllowUser(ctx, "bob"); d.Allowed {
		t.Fatalf("a third key was admitted past MaxKeys 2: %+v", d)
	}
	if m.Len() != 2 || m.Saturated() != 2 {
		t.Fatalf("Len=%d Saturated=%d; want 2, 2", m.Len(), m.Saturated())
	}
	clock.Advance(5 * time.Second) // both entries replenished
	if n := m.Sweep(); n != 2 || m.Len() != 0 {
		t.Fatalf("Sweep removed %d, %d left; want 2, 0", n, m.Len())
	}
	if d, _ := l.AllowIP(ctx, netip.MustParseAddr("192.0.2.2")); !d.Allowed {
		t.Fatalf("refused after the sweep: %+v", d)
	}
}
