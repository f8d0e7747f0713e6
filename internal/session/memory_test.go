package session_test

import (
	"testing"
	"time"

	"github.com/rtgate/rtgate/internal/session"
	"github.com/rtgate/rtgate/internal/session/sessiontest"
)

func TestMemoryContract(t *testing.T) {
	sessiontest.Run(t, func(t *testing.T) (session.Store, session.Store) {
		m := session.NewMemory()
		return m, m
	})
}

func TestMemorySweepForgetsLapsedState(t *testing.T) {
	ctx := t.Context()
	m := session.NewMemory()
	t0 := sessiontest.T0
	if _, err := m.Admit(ctx, "alice", t0, session.Limits{}, "r1", t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := m.Commit(ctx, "bob", "r2", session.Record{UserID: "bob", CreatedAt: t0, ActiveUntil: t0.Add(time.Hour)}, t0, 24*time.Hour); err != nil {
		t.Fatal(err)
	}
	if err := m.SetBlock(ctx, "mallory", session.Block{Since: t0}); err != nil {
		t.Fatal(err)
	}
	if n := m.Sweep(t0, 24*time.Hour); n != 3 {
		t.Fatalf("users after a sweep at t0 = %d, want 3", n)
	}
	// Next UTC day, reservation lapsed, bob's record still within retention.
	if n := m.Sweep(t0.Add(3*time.Hour), 24*time.Hour); n != 2 {
		t.Fatalf("users = %d, want 2 (bob's record, mallory's block)", n)
	}
	if n := m.Sweep(t0.Add(25*time.Hour), 24*time.Hour); n != 1 {
		t.Fatalf("users = %d, want 1 (the block stays)", n)
	}
}
