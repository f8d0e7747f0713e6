// Package budgettest is the contract every budget.Store must meet. Each
// backend's tests call Run with a constructor, in the manner of
// oauth2-proxy's RunSessionStoreTests. Stores never read a clock (the
// caller passes now), so the suite drives time itself.
package budgettest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/rtgate/rtgate/internal/budget"
	"github.com/rtgate/rtgate/internal/pricing"
)

// NewStores returns two stores with no state that share one backend (for
// a memory store, the same instance twice; for Redis, two clients), so the
// suite can check that two instances see one count.
type NewStores func(t *testing.T) (a, b budget.Store)

// T0 is the suite's starting instant: 22:00 UTC on the last day of a
// month, two hours before both the day and the month reset, on a date
// where time zones east of UTC are already in the next month.
var T0 = time.Date(2026, 3, 31, 22, 0, 0, 0, time.UTC)

const usd = pricing.Dollar

// Run runs the contract.
func Run(t *testing.T, newStores NewStores) {
	ctx := context.Background()
	def := budget.Totals{UserDaily: 5 * usd, UserMonthly: 50 * usd, UserDailyTime: 30 * time.Minute, GlobalDaily: 1000 * usd}
	charge := func(t *testing.T, s budget.Store, user string, now time.Time, a budget.Amount) budget.Balance {
		t.Helper()
		b, err := s.Charge(ctx, user, now, a, def)
		if err != nil {
			t.Fatalf("Charge: %v", err)
		}
		return b
	}
	balance := func(t *testing.T, s budget.Store, user string, now time.Time) budget.Balance {
		t.Helper()
		b, err := s.Balance(ctx, user, now, def)
		if err != nil {
			t.Fatalf("Balance: %v", err)
		}
		return b
	}

	t.Run("a charge adds to the user's day, month and time and to the global day", func(t *testing.T) {
		s, _ := newStores(t)
		charge(t, s, "alice", T0, budget.Amount{Cost: 1_250_000, Time: 90 * time.Second})
		b := charge(t, s, "alice", T0.Add(time.Minute), budget.Amount{Cost: 51_800, Time: 1500 * time.Millisecond})
		want := budget.Totals{UserDaily: 1_301_800, UserMonthly: 1_301_800, UserDailyTime: 91500 * time.Millisecond, GlobalDaily: 1_301_800}
		if b.Spent != want {
			t.Fatalf("spent %+v, want %+v", b.Spent, want)
		}
		if b.Limits != def || b.Override != nil {
			t.Errorf("limits %+v override %v, want the defaults", b.Limits, b.Override)
		}
		r := b.Remaining()
		if r.UserDaily != 5*usd-1_301_800 || r.UserDailyTime != 30*time.Minute-91500*time.Millisecond || r.GlobalDaily != 1000*usd-1_301_800 {
			t.Errorf("remaining %+v", r)
		}
		if got := balance(t, s, "alice", T0.Add(2*time.Minute)); got.Spent != want {
			t.Errorf("Balance %+v, want %+v", got.Spent, want)
		}
	})

	t.Run("balance charges nothing", func(t *testing.T) {
		s, _ := newStores(t)
		for range 3 {
			if b := balance(t, s, "alice", T0); b.Spent != (budget.Totals{}) {
				t.Fatalf("spent %+v", b.Spent)
			}
		}
	})

	t.Run("users are apart; the global day is everyone's", func(t *testing.T) {
		s, _ := newStores(t)
		charge(t, s, "alice", T0, budget.Amount{Cost: 2 * usd})
		b := charge(t, s, "bob", T0, budget.Amount{Cost: 3 * usd, Time: time.Minute})
		if b.Spent.UserDaily != 3*usd || b.Spent.GlobalDaily != 5*usd || b.Spent.UserDailyTime != time.Minute {
			t.Fatalf("bob %+v", b.Spent)
		}
		if a := balance(t, s, "alice", T0); a.Spent.UserDaily != 2*usd || a.Spent.UserDailyTime != 0 {
			t.Fatalf("alice %+v", a.Spent)
		}
	})

	t.Run("the anonymous caller is charged to the global budget only", func(t *testing.T) {
		s, _ := newStores(t)
		b := charge(t, s, "", T0, budget.Amount{Cost: 2 * usd, Time: time.Minute})
		if b.Spent != (budget.Totals{GlobalDaily: 2 * usd}) {
			t.Fatalf("spent %+v", b.Spent)
		}
		if want := (budget.Totals{UserDaily: budget.NoLimit, UserMonthly: budget.NoLimit, UserDailyTime: budget.NoLimit, GlobalDaily: def.GlobalDaily}); b.Limits != want {
			t.Errorf("limits %+v, want only the global one", b.Limits)
		}
		if a := charge(t, s, "alice", T0, budget.Amount{Cost: 1}); a.Spent.UserDaily != 1 || a.Spent.GlobalDaily != 2*usd+1 {
			t.Errorf("alice %+v", a.Spent)
		}
	})

	t.Run("two instances see one count", func(t *testing.T) {
		a, b := newStores(t)
		charge(t, a, "alice", T0, budget.Amount{Cost: usd, Time: time.Second})
		got := charge(t, b, "alice", T0, budget.Amount{Cost: usd, Time: time.Second})
		if got.Spent != (budget.Totals{UserDaily: 2 * usd, UserMonthly: 2 * usd, UserDailyTime: 2 * time.Second, GlobalDaily: 2 * usd}) {
			t.Fatalf("spent %+v", got.Spent)
		}
	})

	t.Run("days reset at UTC midnight and months at the first; the month keeps the day's spend", func(t *testing.T) {
		s, _ := newStores(t)
		charge(t, s, "alice", T0.Add(2*time.Hour-time.Millisecond), budget.Amount{Cost: 4 * usd, Time: time.Minute}) // 23:59:59.999 on the 31st
		b := balance(t, s, "alice", T0.Add(2*time.Hour))                                                             // 00:00 on April 1st
		if b.Spent != (budget.Totals{}) {
			t.Fatalf("after both resets: %+v", b.Spent)
		}
		mid := time.Date(2026, 4, 15, 12, 0, 0, 0, time.UTC)
		charge(t, s, "alice", time.Date(2026, 4, 14, 23, 0, 0, 0, time.UTC), budget.Amount{Cost: 2 * usd, Time: time.Minute})
		b = charge(t, s, "alice", mid, budget.Amount{Cost: 3 * usd, Time: time.Minute})
		if b.Spent != (budget.Totals{UserDaily: 3 * usd, UserMonthly: 5 * usd, UserDailyTime: time.Minute, GlobalDaily: 3 * usd}) {
			t.Fatalf("mid-month: %+v", b.Spent)
		}
	})

	t.Run("periods are UTC whatever the caller's zone", func(t *testing.T) {
		s, _ := newStores(t)
		tokyo := time.FixedZone("JST", 9*3600)
		charge(t, s, "alice", T0.In(tokyo), budget.Amount{Cost: usd}) // already April 1st in Tokyo
		if b := balance(t, s, "alice", T0.Add(time.Hour)); b.Spent.UserDaily != usd || b.Spent.UserMonthly != usd {
			t.Fatalf("%+v", b.Spent)
		}
	})

	t.Run("an override replaces some limits, lifts or zeroes them, and is cleared", func(t *testing.T) {
		s, other := newStores(t)
		ten, zero := 10*usd, pricing.Micros(0)
		lifted, hour := time.Duration(budget.NoLimit), time.Hour
		if err := s.SetOverride(ctx, "alice", budget.Override{UserDaily: &ten, UserDailyTime: &hour}); err != nil {
			t.Fatal(err)
		}
		b := balance(t, other, "alice", T0)
		if want := (budget.Totals{UserDaily: 10 * usd, UserMonthly: def.UserMonthly, UserDailyTime: time.Hour, GlobalDaily: def.GlobalDaily}); b.Limits != want {
			t.Fatalf("limits %+v, want %+v", b.Limits, want)
		}
		if b.Override == nil || b.Override.UserDaily == nil || *b.Override.UserDaily != ten || b.Override.UserMonthly != nil || *b.Override.UserDailyTime != hour {
			t.Fatalf("override %+v", b.Override)
		}
		if c := charge(t, s, "alice", T0, budget.Amount{Cost: 7 * usd}); c.Remaining().UserDaily != 3*usd {
			t.Errorf("under the override: %+v", c.Remaining())
		}
		if bob := balance(t, s, "bob", T0); bob.Limits != def || bob.Override != nil {
			t.Errorf("bob got alice's override: %+v", bob)
		}
		// Replacing: the new override is the whole override.
		if err := s.SetOverride(ctx, "alice", budget.Override{UserMonthly: &zero, UserDailyTime: &lifted}); err != nil {
			t.Fatal(err)
		}
		b = balance(t, s, "alice", T0)
		if want := (budget.Totals{UserDaily: def.UserDaily, UserMonthly: 0, UserDailyTime: budget.NoLimit, GlobalDaily: def.GlobalDaily}); b.Limits != want {
			t.Fatalf("replaced: %+v, want %+v", b.Limits, want)
		}
		if ok, err := other.ClearOverride(ctx, "alice"); err != nil || !ok {
			t.Fatalf("clear: %v %v", ok, err)
		}
		if ok, err := s.ClearOverride(ctx, "alice"); err != nil || ok {
			t.Fatalf("second clear: %v %v", ok, err)
		}
		if b := balance(t, s, "alice", T0); b.Limits != def || b.Override != nil {
			t.Errorf("after clear: %+v", b)
		}
		// An empty override is no override.
		if err := s.SetOverride(ctx, "alice", budget.Override{}); err != nil {
			t.Fatal(err)
		}
		if b := balance(t, s, "alice", T0); b.Override != nil {
			t.Errorf("empty override kept: %+v", b.Override)
		}
		if err := s.SetOverride(ctx, "", budget.Override{UserDaily: &ten}); !errors.Is(err, budget.ErrEmptyUser) {
			t.Errorf("override of the empty user: %v", err)
		}
		if _, err := s.ClearOverride(ctx, ""); !errors.Is(err, budget.ErrEmptyUser) {
			t.Errorf("clear of the empty user: %v", err)
		}
	})

	t.Run("spenders lists who spent most today and this month", func(t *testing.T) {
		s, other := newStores(t)
		day1 := time.Date(2026, 4, 1, 9, 0, 0, 0, time.UTC)
		day2 := day1.Add(24 * time.Hour)
		charge(t, s, "carol", day1, budget.Amount{Cost: 9 * usd})
		charge(t, s, "alice", day2, budget.Amount{Cost: 2 * usd})
		charge(t, s, "bob", day2, budget.Amount{Cost: 3 * usd})
		charge(t, s, "dave", day2, budget.Amount{Cost: 2 * usd})
		charge(t, s, "alice", day2, budget.Amount{Cost: 2 * usd})
		charge(t, s, "", day2, budget.Amount{Cost: 50 * usd})             // anonymous: not a spender
		charge(t, s, "erin", day2, budget.Amount{Time: 10 * time.Minute}) // time only: spent nothing
		sp, err := other.Spenders(ctx, day2, 3)
		if err != nil {
			t.Fatal(err)
		}
		wantDay := []budget.Spender{{User: "alice", Spent: 4 * usd}, {User: "bob", Spent: 3 * usd}, {User: "dave", Spent: 2 * usd}}
		wantMonth := []budget.Spender{{User: "carol", Spent: 9 * usd}, {User: "alice", Spent: 4 * usd}, {User: "bob", Spent: 3 * usd}}
		if fmt.Sprint(sp.Day) != fmt.Sprint(wantDay) || fmt.Sprint(sp.Month) != fmt.Sprint(wantMonth) {
			t.Fatalf("spenders day %v month %v; want %v and %v", sp.Day, sp.Month, wantDay, wantMonth)
		}
		empty, err := s.Spenders(ctx, day2.AddDate(0, 1, 0), 3)
		if err != nil || len(empty.Day) != 0 || len(empty.Month) != 0 || empty.Day == nil {
			t.Fatalf("next month: %+v %v", empty, err)
		}
	})

	t.Run("concurrent chargers on two instances lose no charge and overspend less than one step per charger", func(t *testing.T) {
		a, b := newStores(t)
		// Each charger is a call that reports steps of `step` and stops
		// at its first exhausted answer. Its user budget is L.
		const chargers, step = 8, 70_001
		lim := def
		lim.UserDaily = 3 * usd
		var (
			mu             sync.Mutex
			charged        pricing.Micros
			crossings      int
			exhaustedTotal int
		)
		together(chargers, a, b, func(s budget.Store) {
			for {
				bal, err := s.Charge(ctx, "alice", T0, budget.Amount{Cost: step}, lim)
				if err != nil {
					t.Error(err)
					return
				}
				after := bal.Spent.UserDaily
				mu.Lock()
				charged += step
				if after-step < lim.UserDaily && after >= lim.UserDaily {
					crossings++
				}
				done := bal.Exhausted() == budget.LimitUserDaily
				if done {
					exhaustedTotal++
				}
				mu.Unlock()
				if done {
					return
				}
			}
		})
		bal, err := a.Balance(ctx, "alice", T0, lim)
		if err != nil {
			t.Fatal(err)
		}
		spent := bal.Spent.UserDaily
		if spent != charged || bal.Spent.GlobalDaily != charged || bal.Spent.UserMonthly != charged {
			t.Fatalf("stored %+v, charged %d: a charge was lost or doubled", bal.Spent, charged)
		}
		if crossings != 1 || exhaustedTotal != chargers {
			t.Fatalf("%d charges crossed the limit, %d chargers told: want 1 and %d", crossings, exhaustedTotal, chargers)
		}
		over := spent - lim.UserDaily
		if over < 0 || over >= chargers*step {
			t.Fatalf("overspend %d µ$, bound %d (one step per charger)", over, chargers*step)
		}
		t.Logf("overspend %s with %d concurrent chargers of %s steps (bound %s)", over, chargers, pricing.Micros(step), pricing.Micros(chargers*step))
	})

	t.Run("one charger overspends by less than one step", func(t *testing.T) {
		s, _ := newStores(t)
		const step = 70_001
		for {
			bal := charge(t, s, "alice", T0, budget.Amount{Cost: step})
			if bal.Exhausted() != "" {
				if over := bal.Spent.UserDaily - def.UserDaily; over < 0 || over >= step {
					t.Fatalf("overspend %d, want in [0, %d)", over, step)
				}
				return
			}
		}
	})

	t.Run("the bound is tight: steps in flight together when 1 µ$ is left all land", func(t *testing.T) {
		a, b := newStores(t)
		const chargers, step = 8, 100_000
		charge(t, a, "alice", T0, budget.Amount{Cost: def.UserDaily - 1})
		told := make(chan budget.Limit, chargers)
		together(chargers, a, b, func(s budget.Store) {
			bal, err := s.Charge(ctx, "alice", T0, budget.Amount{Cost: step}, def)
			if err != nil {
				t.Error(err)
				return
			}
			told <- bal.Exhausted()
		})
		close(told)
		for l := range told {
			if l != budget.LimitUserDaily {
				t.Errorf("a charger was told %q", l)
			}
		}
		bal := balance(t, a, "alice", T0)
		if over := bal.Spent.UserDaily - def.UserDaily; over != chargers*step-1 {
			t.Fatalf("overspend %d, want %d: one step per charger less 1 µ$", over, chargers*step-1)
		}
	})

	t.Run("exhaustion of each limit", func(t *testing.T) {
		s, _ := newStores(t)
		lim := budget.Totals{UserDaily: 5 * usd, UserMonthly: 6 * usd, UserDailyTime: time.Minute, GlobalDaily: 8 * usd}
		at := func(user string, now time.Time, a budget.Amount) budget.Limit {
			t.Helper()
			b, err := s.Charge(ctx, user, now, a, lim)
			if err != nil {
				t.Fatal(err)
			}
			return b.Exhausted()
		}
		if l := at("alice", T0, budget.Amount{Cost: 5*usd - 1, Time: time.Minute - time.Millisecond}); l != "" {
			t.Fatalf("1 µ$ and 1 ms left: %q", l)
		}
		if l := at("alice", T0, budget.Amount{Time: time.Millisecond}); l != budget.LimitUserMinutes {
			t.Fatalf("time: %q", l)
		}
		if l := at("alice", T0, budget.Amount{Cost: 1}); l != budget.LimitUserDaily {
			t.Fatalf("day: %q", l)
		}
		next := T0.Add(3 * time.Hour) // April 1st: the month resets too
		if l := at("alice", next, budget.Amount{Cost: 4 * usd}); l != "" {
			t.Fatalf("new day: %q", l)
		}
		if l := at("alice", next.Add(24*time.Hour), budget.Amount{Cost: 2 * usd}); l != budget.LimitUserMonthly {
			t.Fatalf("month: %q", l)
		}
		if l := at("", next.Add(24*time.Hour), budget.Amount{Cost: 6 * usd}); l != budget.LimitGlobalDaily {
			t.Fatalf("global: %q", l)
		}
	})
}

// together runs f in n goroutines at once, half of them on store a and half
// on b (two instances), and waits for them all.
func together(n int, a, b budget.Store, f func(s budget.Store)) {
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		s := a
		if i%2 == 1 {
			s = b
		}
		wg.Go(func() {
			<-start
			f(s)
		})
	}
	close(start)
	wg.Wait()
}
