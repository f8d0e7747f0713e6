package budget_test

import (
	"testing"
	"time"

	"github.com/rtgate/rtgate/internal/budget"
	"github.com/rtgate/rtgate/internal/budget/budgettest"
)

func TestMemoryContract(t *testing.T) {
	budgettest.Run(t, func(t *testing.T) (budget.Store, budget.Store) {
		m := budget.NewMemory()
		return m, m
	})
}

func TestMemorySweepDropsPastPeriods(t *testing.T) {
	m := budget.NewMemory()
	ctx := t.Context()
	t0 := budgettest.T0
	if _, err := m.Charge(ctx, "alice", t0, budget.Amount{Cost: 1}, budget.Unlimited); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Charge(ctx, "bob", t0, budget.Amount{Cost: 1}, budget.Unlimited); err != nil {
		t.Fatal(err)
	}
	lim := time.Hour
	if err := m.SetOverride(ctx, "bob", budget.Override{UserDailyTime: &lim}); err != nil {
		t.Fatal(err)
	}
	if n := m.Sweep(t0.Add(time.Hour)); n != 2 {
		t.Fatalf("same day: %d users", n)
	}
	// Next day and next month: alice's counters are all past; bob keeps
	// his override.
	if n := m.Sweep(t0.Add(3 * time.Hour)); n != 1 {
		t.Fatalf("next month: %d users, want bob's override only", n)
	}
	b, _ := m.Balance(ctx, "bob", t0.Add(3*time.Hour), budget.Unlimited)
	if b.Override == nil || b.Spent.GlobalDaily != 0 {
		t.Fatalf("bob %+v", b)
	}
}
