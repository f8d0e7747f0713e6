package users

import (
	"context"
	"sort"
	"sync"
	"time"

	"github.com/rtgate/rtgate/internal/usage"
)

// Memory is the single-instance Store. Its size grows with the number of
// authenticated users seen within the retention period (only a verified
// identity creates an entry, so unauthenticated traffic cannot grow it);
// Sweep, run periodically by Run, removes lapsed reservations, past days'
// counters, records past retention and then empty users.
type Memory struct {
	mu    sync.Mutex
	users map[string]*memUser
}

type memUser struct {
	active  map[string]time.Time // reservation -> until
	days    map[string]int       // YYYYMMDD -> mints
	records []Record             // oldest first
	block   *Block
}

var _ Store = (*Memory)(nil)

// NewMemory returns an empty memory store.
func NewMemory() *Memory { return &Memory{users: map[string]*memUser{}} }

func (m *Memory) user(id string, create bool) *memUser {
	u := m.users[id]
	if u == nil && create {
		u = &memUser{active: map[string]time.Time{}, days: map[string]int{}}
		m.users[id] = u
	}
	return u
}

func (u *memUser) purgeActive(now time.Time) {
	for k, until := range u.active {
		if !until.After(now) {
			delete(u.active, k)
		}
	}
}

func (u *memUser) purgeRecords(now time.Time, retention time.Duration) {
	cut := now.Add(-retention)
	i := 0
	for i < len(u.records) && u.records[i].CreatedAt.Before(cut) {
		i++
	}
	if i > 0 {
		u.records = append([]Record(nil), u.records[i:]...)
	}
}

// Admit implements Store.
func (m *Memory) Admit(_ context.Context, user string, now time.Time, lim Limits, res string, pendingUntil time.Time) (Decision, error) {
	if user == "" {
		return Decision{}, ErrEmptyUser
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	u := m.user(user, true)
	if u.block != nil {
		return Decision{Outcome: Blocked}, nil
	}
	u.purgeActive(now)
	day := dayOf(now)
	d := Decision{Active: len(u.active), UsedToday: u.days[day]}
	if lim.DailyQuota > 0 && d.UsedToday >= lim.DailyQuota {
		d.Outcome, d.RetryAfter = OverDailyQuota, untilMidnight(now)
		return d, nil
	}
	if lim.MaxActive > 0 && d.Active >= lim.MaxActive {
		var first time.Time
		for _, until := range u.active {
			if first.IsZero() || until.Before(first) {
				first = until
			}
		}
		d.Outcome, d.RetryAfter = OverActiveCap, first.Sub(now)
		return d, nil
	}
	u.active[res] = pendingUntil
	u.days[day]++
	d.Active, d.UsedToday = len(u.active), u.days[day]
	return d, nil
}

// Commit implements Store.
func (m *Memory) Commit(_ context.Context, user, res string, rec Record, now time.Time, retention time.Duration) error {
	if user == "" {
		return ErrEmptyUser
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	u := m.user(user, true)
	u.active[res] = rec.ActiveUntil
	i := sort.Search(len(u.records), func(i int) bool { return u.records[i].CreatedAt.After(rec.CreatedAt) })
	u.records = append(u.records, Record{})
	copy(u.records[i+1:], u.records[i:])
	u.records[i] = rec
	u.purgeRecords(now, retention)
	return nil
}

// Release implements Store.
func (m *Memory) Release(_ context.Context, user, res string, day time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	u := m.user(user, false)
	if u == nil {
		return nil
	}
	if _, ok := u.active[res]; !ok {
		return nil
	}
	delete(u.active, res)
	if k := dayOf(day); u.days[k] > 0 {
		u.days[k]--
	}
	return nil
}

// End implements Store.
func (m *Memory) End(_ context.Context, user, res string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if u := m.user(user, false); u != nil {
		delete(u.active, res)
	}
	return nil
}

// AddUsage implements Store.
func (m *Memory) AddUsage(_ context.Context, user, sessionID string, delta usage.Usage, _ time.Time, _ time.Duration) error {
	if user == "" {
		return ErrEmptyUser
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	u := m.user(user, false)
	if u == nil {
		return nil
	}
	for i := len(u.records) - 1; i >= 0; i-- {
		if u.records[i].SessionID == sessionID {
			u.records[i].Usage = u.records[i].Usage.Add(delta)
			return nil
		}
	}
	return nil
}

// Data implements Store.
func (m *Memory) Data(_ context.Context, user string, now time.Time, retention time.Duration) (UserData, error) {
	if user == "" {
		return UserData{}, ErrEmptyUser
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	out := UserData{UserID: user, Sessions: []Record{}}
	u := m.user(user, false)
	if u == nil {
		return out, nil
	}
	u.purgeActive(now)
	u.purgeRecords(now, retention)
	if u.block != nil {
		b := *u.block
		out.Blocked = &b
	}
	out.Sessions = append(out.Sessions, u.records...)
	out.sumUsage()
	out.ActiveSessions = len(u.active)
	out.UsedToday = u.days[dayOf(now)]
	return out, nil
}

// Erase implements Store.
func (m *Memory) Erase(_ context.Context, user string, now time.Time, counters bool) (Erased, error) {
	if user == "" {
		return Erased{}, ErrEmptyUser
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	u := m.user(user, false)
	if u == nil {
		return Erased{Counters: counters}, nil
	}
	e := Erased{Sessions: len(u.records), Counters: counters}
	u.records = nil
	if counters {
		clear(u.active)
		delete(u.days, dayOf(now))
	}
	m.dropIfEmpty(user, u)
	return e, nil
}

// SetBlock implements Store.
func (m *Memory) SetBlock(_ context.Context, user string, b Block) error {
	if user == "" {
		return ErrEmptyUser
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.user(user, true).block = &b
	return nil
}

// Unblock implements Store.
func (m *Memory) Unblock(_ context.Context, user string) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	u := m.user(user, false)
	if u == nil || u.block == nil {
		return false, nil
	}
	u.block = nil
	m.dropIfEmpty(user, u)
	return true, nil
}

func (m *Memory) dropIfEmpty(id string, u *memUser) {
	if u.block == nil && len(u.active) == 0 && len(u.days) == 0 && len(u.records) == 0 {
		delete(m.users, id)
	}
}

// Sweep removes lapsed reservations, counters of days before now's UTC
// day, records created before now-retention, and users left with nothing.
// It returns the number of users remaining.
func (m *Memory) Sweep(now time.Time, retention time.Duration) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	today := dayOf(now)
	for id, u := range m.users {
		u.purgeActive(now)
		u.purgeRecords(now, retention)
		for d := range u.days {
			if d != today {
				delete(u.days, d)
			}
		}
		m.dropIfEmpty(id, u)
	}
	return len(m.users)
}
