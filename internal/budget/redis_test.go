package budget_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/rtgate/rtgate/internal/budget"
	"github.com/rtgate/rtgate/internal/budget/budgettest"
	"github.com/rtgate/rtgate/internal/pricing"
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

// TestTwoInstancesMeteringOneUserStayWithinTheBound: six calls of one user,
// three on each of two instances (two Budgets on two Redis clients), report
// response after response at once. Each call stops at the first charge
// that tells it the budget is spent; the Ender ends every call exactly
// once, and the user's spend exceeds the budget by less than one step per
// call.
func TestTwoInstancesMeteringOneUserStayWithinTheBound(t *testing.T) {
	srv := redistest.Start(t)
	limits := budget.Totals{UserDaily: 2 * pricing.Dollar, UserMonthly: budget.NoLimit, UserDailyTime: budget.NoLimit, GlobalDaily: budget.NoLimit}
	ctl := newControl()
	var meters [2]*budget.Meter
	for i := range meters {
		b, err := budget.New(budget.Options{Store: budget.NewRedis(newClient(t, srv.Addr()), "two:b:"), Limits: limits})
		if err != nil {
			t.Fatal(err)
		}
		if meters[i], err = b.NewMeter(budget.EnderOptions{Control: ctl}); err != nil {
			t.Fatal(err)
		}
	}
	// Step 2 of the worked example: $0.03746 a response.
	const calls, step = 6, 37_460
	usage := budget.Usage{Realtime: realtime(320, 300, 490, 150, 30, 400)}
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range calls {
		m := meters[i%2]
		call := budget.Call{ID: fmt.Sprintf("call_%d", i), User: "alice", Kind: budget.KindRealtime, Model: "gpt-realtime-2.1"}
		wg.Go(func() {
			<-start
			for {
				if m.Usage(context.Background(), call, usage).Exhausted != "" {
					return
				}
			}
		})
	}
	close(start)
	wg.Wait()
	ended := map[string]bool{}
	for range calls {
		id, _, _ := strings.Cut(recv(t, ctl.ended, "end"), " ")
		ended[id] = true
	}
	if len(ended) != calls {
		t.Fatalf("ended %v", ended)
	}
	none(t, ctl.ended, "a second end")
	b, err := budget.NewRedis(newClient(t, srv.Addr()), "two:b:").Balance(context.Background(), "alice", time.Now(), limits)
	if err != nil {
		t.Fatal(err)
	}
	over := b.Spent.UserDaily - limits.UserDaily
	if over < 0 || over >= calls*step || b.Spent.UserDaily%step != 0 {
		t.Fatalf("spent %s: overspend %s, bound %s", b.Spent.UserDaily, over, pricing.Micros(calls*step))
	}
}
