package users_test

import (
	"testing"
	"time"

	"github.com/rtgate/rtgate/internal/users"
	"github.com/rtgate/rtgate/internal/users/userstest"
)

func TestMemoryContract(t *testing.T) {
	userstest.Run(t, func(t *testing.T) (users.Store, users.Store) {
		m := users.NewMemory()
		return m, m
	})
}

func TestMemorySweepForgetsLapsedState(t *testing.T) {
	ctx := t.Context()
	m := users.NewMemory()
	t0 := userstest.T0
	if _, err := m.Admit(ctx, "alice", t0, users.Limits{}, "r1", t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := m.Commit(ctx, "bob", "r2", users.Record{UserID: "bob", CreatedAt: t0, ActiveUntil: t0.Add(time.Hour)}, t0, 24*time.Hour); err != nil {
		t.Fatal(err)
	}
	if err := m.SetBlock(ctx, "mallory", users.Block{Since: t0}); err != nil {
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
