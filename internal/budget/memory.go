package budget

import (
	"cmp"
	"context"
	"slices"
	"sync"
	"time"

	"github.com/rtgate/rtgate/internal/pricing"
)

// Memory is the single-instance Store. It holds, per user who ever spent
// or has an override, the counters of the periods they spent in; Sweep
// (run periodically by Budget.Run) drops past periods and users left with
// nothing, so its size follows the users active this month.
type Memory struct {
	mu     sync.Mutex
	users  map[string]*memUser
	global map[string]pricing.Micros // day -> spend
}

type memUser struct {
	days     map[string]Amount         // day -> spend and time
	months   map[string]pricing.Micros // month -> spend
	override *Override
}

var _ Store = (*Memory)(nil)

// NewMemory returns an empty memory store.
func NewMemory() *Memory {
	return &Memory{users: map[string]*memUser{}, global: map[string]pricing.Micros{}}
}

func (m *Memory) user(id string, create bool) *memUser {
	u := m.users[id]
	if u == nil && create {
		u = &memUser{days: map[string]Amount{}, months: map[string]pricing.Micros{}}
		m.users[id] = u
	}
	return u
}

// Charge implements Store.
func (m *Memory) Charge(_ context.Context, user string, now time.Time, a Amount, def Totals) (Balance, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	day, month := dayOf(now), monthOf(now)
	m.global[day] += a.Cost
	if user != "" {
		u := m.user(user, true)
		d := u.days[day]
		d.Cost += a.Cost
		d.Time += a.Time
		u.days[day] = d
		u.months[month] += a.Cost
	}
	return m.balanceLocked(user, day, month, def), nil
}

// Balance implements Store.
func (m *Memory) Balance(_ context.Context, user string, now time.Time, def Totals) (Balance, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.balanceLocked(user, dayOf(now), monthOf(now), def), nil
}

func (m *Memory) balanceLocked(user, day, month string, def Totals) Balance {
	b := Balance{Spent: Totals{GlobalDaily: m.global[day]}, Limits: Unlimited}
	b.Limits.GlobalDaily = def.GlobalDaily
	if user == "" {
		return b
	}
	b.Limits = def
	if u := m.user(user, false); u != nil {
		d := u.days[day]
		b.Spent.UserDaily, b.Spent.UserDailyTime, b.Spent.UserMonthly = d.Cost, d.Time, u.months[month]
		if u.override != nil {
			o := cloneOverride(*u.override)
			b.Override = &o
			b.Limits = o.apply(def)
		}
	}
	return b
}

func cloneOverride(o Override) Override {
	c := Override{}
	if o.UserDaily != nil {
		v := *o.UserDaily
		c.UserDaily = &v
	}
	if o.UserMonthly != nil {
		v := *o.UserMonthly
		c.UserMonthly = &v
	}
	if o.UserDailyTime != nil {
		v := *o.UserDailyTime
		c.UserDailyTime = &v
	}
	return c
}

// SetOverride implements Store.
func (m *Memory) SetOverride(_ context.Context, user string, o Override) error {
	if user == "" {
		return ErrEmptyUser
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	u := m.user(user, true)
	if o.IsZero() {
		u.override = nil
		m.dropIfEmpty(user, u)
		return nil
	}
	c := cloneOverride(o)
	u.override = &c
	return nil
}

// ClearOverride implements Store.
func (m *Memory) ClearOverride(_ context.Context, user string) (bool, error) {
	if user == "" {
		return false, ErrEmptyUser
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	u := m.user(user, false)
	if u == nil || u.override == nil {
		return false, nil
	}
	u.override = nil
	m.dropIfEmpty(user, u)
	return true, nil
}

// Spenders implements Store.
func (m *Memory) Spenders(_ context.Context, now time.Time, n int) (Spending, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	day, month := dayOf(now), monthOf(now)
	var s Spending
	for id, u := range m.users {
		if c := u.days[day].Cost; c > 0 {
			s.Day = append(s.Day, Spender{User: id, Spent: c})
		}
		if c := u.months[month]; c > 0 {
			s.Month = append(s.Month, Spender{User: id, Spent: c})
		}
	}
	return Spending{Day: top(s.Day, n), Month: top(s.Month, n)}, nil
}

// top sorts s by spend, most first, then by user, and keeps n.
func top(s []Spender, n int) []Spender {
	slices.SortFunc(s, func(a, b Spender) int {
		if c := cmp.Compare(b.Spent, a.Spent); c != 0 {
			return c
		}
		return cmp.Compare(a.User, b.User)
	})
	if len(s) > n {
		s = s[:n]
	}
	if s == nil {
		s = []Spender{}
	}
	return s
}

func (m *Memory) dropIfEmpty(id string, u *memUser) {
	if u.override == nil && len(u.days) == 0 && len(u.months) == 0 {
		delete(m.users, id)
	}
}

// Sweep drops the counters of days and months before now's, and users
// left with nothing. It returns the number of users remaining.
func (m *Memory) Sweep(now time.Time) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	day, month := dayOf(now), monthOf(now)
	for d := range m.global {
		if d < day {
			delete(m.global, d)
		}
	}
	for id, u := range m.users {
		for d := range u.days {
			if d < day {
				delete(u.days, d)
			}
		}
		for mo := range u.months {
			if mo < month {
				delete(u.months, mo)
			}
		}
		m.dropIfEmpty(id, u)
	}
	return len(m.users)
}
