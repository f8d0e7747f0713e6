package calls_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/rtgate/rtgate/internal/calls"
	"github.com/rtgate/rtgate/internal/calls/callstest"
	"github.com/rtgate/rtgate/internal/ratelimit/redistest"
)

const benchCalls = 10000

func fill(b *testing.B, s calls.Store, n int, deadline time.Time) {
	b.Helper()
	for i := range n {
		if err := s.Add(b.Context(), callstest.NewCall(fmt.Sprintf("user-%d", i%1000), "inst-a", deadline), T0); err != nil {
			b.Fatal(err)
		}
	}
}

// benchAddRemove measures the store work of one proxied call's life: one
// Add and one Remove, among benchCalls other calls.
func benchAddRemove(b *testing.B, s calls.Store) {
	ctx := b.Context()
	fill(b, s, benchCalls, T0.Add(time.Hour))
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		c := callstest.NewCall(fmt.Sprintf("user-%d", i%1000), "inst-a", T0.Add(time.Hour))
		i++
		if err := s.Add(ctx, c, T0); err != nil {
			b.Fatal(err)
		}
		if _, err := s.Remove(ctx, c.ID); err != nil {
			b.Fatal(err)
		}
	}
}

// benchClaimDue measures one sweep's claim of 16 due calls among
// benchCalls: time moves so that each claim lapses just as the sweep comes
// back round to it, so every ClaimDue finds exactly 16 due calls.
func benchClaimDue(b *testing.B, s calls.Store) {
	ctx := b.Context()
	const batch, step = 16, time.Second
	lease := benchCalls / batch * step
	fill(b, s, benchCalls, T0)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		now := T0.Add(time.Duration(i) * step)
		i++
		due, err := s.ClaimDue(ctx, "bench:1", now, now.Add(lease), batch)
		if err != nil {
			b.Fatal(err)
		}
		if len(due) != batch {
			b.Fatalf("claimed %d, want %d", len(due), batch)
		}
	}
}

func BenchmarkMemoryAddRemove(b *testing.B) { benchAddRemove(b, calls.NewMemory()) }
func BenchmarkMemoryClaimDue(b *testing.B)  { benchClaimDue(b, calls.NewMemory()) }

func BenchmarkRedisAddRemove(b *testing.B) {
	benchAddRemove(b, calls.NewRedis(newClient(b, redistest.Start(b).Addr()), "bench:"))
}

func BenchmarkRedisClaimDue(b *testing.B) {
	benchClaimDue(b, calls.NewRedis(newClient(b, redistest.Start(b).Addr()), "bench:"))
}

// benchIdleSweep measures what every instance pays each SweepEvery while
// nothing is due or orphaned: a Registry.Sweep (heartbeat, adopt, claim)
// over benchCalls calls owned by a live instance.
func benchIdleSweep(b *testing.B, s calls.Store) {
	fill(b, s, benchCalls, T0.Add(time.Hour))
	if err := s.Heartbeat(b.Context(), "inst-a", T0.Add(time.Hour), T0); err != nil {
		b.Fatal(err)
	}
	r, err := calls.NewRegistry(calls.Options{
		Store: s, Clock: callstest.NewClock(T0),
		Hangup: func(context.Context, calls.Call) error { b.Fatal("hang-up in an idle sweep"); return nil },
	})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := r.Sweep(b.Context()); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkMemoryIdleSweep(b *testing.B) { benchIdleSweep(b, calls.NewMemory()) }

func BenchmarkRedisIdleSweep(b *testing.B) {
	benchIdleSweep(b, calls.NewRedis(newClient(b, redistest.Start(b).Addr()), "bench:"))
}
