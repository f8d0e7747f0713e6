package budget_test

import (
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/rtgate/rtgate/internal/budget"
	"github.com/rtgate/rtgate/internal/budget/budgettest"
	"github.com/rtgate/rtgate/internal/ratelimit/redistest"
)

// newClient connects to the redis-server at addr with go-redis's default
// timeouts (rtgate's own, 150 ms, are for production decisions, not for
// a test machine under load).
func newClient(t *testing.T, addr string) redis.UniversalClient { return newClientTB(t, addr) }

func newClientTB(tb testing.TB, addr string) redis.UniversalClient {
	c := redis.NewClient(&redis.Options{Addr: addr})
	tb.Cleanup(func() { c.Close() })
	return c
}

var prefixSeq atomic.Int64

func TestRedisContract(t *testing.T) {
	srv := redistest.Start(t)
	a, b := newClient(t, srv.Addr()), newClient(t, srv.Addr())
	budgettest.Run(t, func(t *testing.T) (budget.Store, budget.Store) {
		prefix := fmt.Sprintf("test%d:b:", prefixSeq.Add(1))
		return budget.NewRedis(a, prefix), budget.NewRedis(b, prefix)
	})
}

// TestRedisKeysHideUserIDsShareOneSlotAndExpire: user ids appear in no key
// name; every key carries the {budget} hash tag (one Cluster slot, so one
// script may touch them all); counters expire, the override does not.
func TestRedisKeysHideUserIDsShareOneSlotAndExpire(t *testing.T) {
	srv := redistest.Start(t)
	c := newClient(t, srv.Addr())
	s := budget.NewRedis(c, "rtgate:b:")
	ctx := t.Context()
	user := "alice@example.com"
	now := time.Now()
	if _, err := s.Charge(ctx, user, now, budget.Amount{Cost: 1000, Time: time.Second}, budget.Unlimited); err != nil {
		t.Fatal(err)
	}
	lim := time.Hour
	if err := s.SetOverride(ctx, user, budget.Override{UserDailyTime: &lim}); err != nil {
		t.Fatal(err)
	}
	keys, err := c.Keys(ctx, "*").Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 7 {
		t.Fatalf("keys %v, want 7 (day, month, time, global, override, two listings)", keys)
	}
	for _, k := range keys {
		if strings.Contains(k, "alice") {
			t.Errorf("key %q names the user", k)
		}
		if !strings.HasPrefix(k, "rtgate:b:{budget}:") {
			t.Errorf("key %q lacks the prefix and hash tag", k)
		}
		ttl, err := c.PTTL(ctx, k).Result()
		if err != nil {
			t.Fatal(err)
		}
		override := strings.HasSuffix(k, ":o")
		if override && ttl >= 0 {
			t.Errorf("override %q expires in %v", k, ttl)
		}
		if !override && (ttl <= 0 || ttl > 62*24*time.Hour) {
			t.Errorf("%q TTL %v", k, ttl)
		}
	}
}
