package budget_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/rtgate/rtgate/internal/budget"
	"github.com/rtgate/rtgate/internal/pricing"
	"github.com/rtgate/rtgate/internal/ratelimit/redistest"
)

// benchCharge measures one usage step priced and charged: what the
// sideband pays per response.done or session.usage.updated.
func benchCharge(b *testing.B, store budget.Store) {
	bud, err := budget.New(budget.Options{Store: store, Limits: budget.Totals{UserDaily: 5 * pricing.Dollar, UserMonthly: 50 * pricing.Dollar, UserDailyTime: time.Hour, GlobalDaily: 1000 * pricing.Dollar}})
	if err != nil {
		b.Fatal(err)
	}
	u := budget.Usage{Realtime: realtime(1200, 1000, 800, 500, 100, 600), Elapsed: time.Second}
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			i++
			call := budget.Call{User: fmt.Sprintf("user-%d", i%1000), Kind: budget.KindRealtime, Model: "gpt-realtime-2.1"}
			if _, err := bud.Charge(ctx, call, u); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkMemoryCharge(b *testing.B) { benchCharge(b, budget.NewMemory()) }

func BenchmarkRedisCharge(b *testing.B) {
	srv := redistest.Start(b)
	c := newClientTB(b, srv.Addr())
	benchCharge(b, budget.NewRedis(c, "bench:b:"))
}

func BenchmarkRealtimeCost(b *testing.B) {
	p, _ := pricing.Builtin().Lookup("gpt-realtime-2.1")
	u := *realtime(1200, 1000, 800, 500, 100, 600)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := p.Realtime.Cost(u); err != nil {
			b.Fatal(err)
		}
	}
}
