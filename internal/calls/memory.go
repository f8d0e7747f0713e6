package calls

import (
	"container/heap"
	"context"
	"sync"
	"time"

	"github.com/rtgate/rtgate/internal/usage"
)

// Memory is the single-process Store. A Registry bounds the number of calls
// it keeps (Options.MaxCalls) and removes each by GiveUp after its deadline;
// lapsed instances left with no calls are forgotten by Adopt.
type Memory struct {
	mu      sync.Mutex
	calls   map[string]*memCall
	due     dueHeap
	byUser  map[string]map[string]struct{}
	byOwner map[string]map[string]struct{}
	alive   map[string]time.Time // instance -> alive until
}

type memCall struct {
	call       Call
	due        time.Time
	holder     string
	claimUntil time.Time
	reason     string
	index      int // in the due heap
}

var _ Store = (*Memory)(nil)

// NewMemory returns an empty memory store.
func NewMemory() *Memory {
	return &Memory{
		calls:   map[string]*memCall{},
		byUser:  map[string]map[string]struct{}{},
		byOwner: map[string]map[string]struct{}{},
		alive:   map[string]time.Time{},
	}
}

func addTo(idx map[string]map[string]struct{}, key, id string) {
	s := idx[key]
	if s == nil {
		s = map[string]struct{}{}
		idx[key] = s
	}
	s[id] = struct{}{}
}

func removeFrom(idx map[string]map[string]struct{}, key, id string) {
	if s := idx[key]; s != nil {
		delete(s, id)
		if len(s) == 0 {
			delete(idx, key)
		}
	}
}

// Add implements Store.
func (m *Memory) Add(_ context.Context, c Call, _ time.Time) error {
	if err := checkAdd(c); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.calls[c.ID]; ok {
		return ErrExists
	}
	e := &memCall{call: c, due: c.Deadline}
	m.calls[c.ID] = e
	heap.Push(&m.due, e)
	if c.User != "" {
		addTo(m.byUser, c.User, c.ID)
	}
	addTo(m.byOwner, c.Instance, c.ID)
	if _, ok := m.alive[c.Instance]; !ok {
		m.alive[c.Instance] = time.Time{} // never heartbeated: lapsed
	}
	return nil
}

// Get implements Store.
func (m *Memory) Get(_ context.Context, id string) (Call, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.calls[id]
	if !ok {
		return Call{}, ErrNotFound
	}
	return e.call, nil
}

// AddUsage implements Store.
func (m *Memory) AddUsage(_ context.Context, id string, delta usage.Usage) (Call, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.calls[id]
	if !ok {
		return Call{}, ErrNotFound
	}
	e.call.Usage = e.call.Usage.Add(delta)
	return e.call, nil
}

// Remove implements Store.
func (m *Memory) Remove(_ context.Context, id string) (Call, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.calls[id]
	if !ok {
		return Call{}, ErrNotFound
	}
	delete(m.calls, id)
	heap.Remove(&m.due, e.index)
	removeFrom(m.byUser, e.call.User, id)
	removeFrom(m.byOwner, e.call.Instance, id)
	return e.call, nil
}

// ByUser implements Store.
func (m *Memory) ByUser(_ context.Context, user string) ([]Call, error) {
	if user == "" {
		return nil, nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []Call
	for id := range m.byUser[user] {
		out = append(out, m.calls[id].call)
	}
	return out, nil
}

// Count implements Store.
func (m *Memory) Count(context.Context) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.calls), nil
}

// Claim implements Store.
func (m *Memory) Claim(_ context.Context, id, holder, reason string, now, until time.Time) (Call, error) {
	if err := checkClaim(holder, reason, now, until); err != nil {
		return Call{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.calls[id]
	if !ok {
		return Call{}, ErrNotFound
	}
	if e.claimUntil.After(now) {
		return Call{}, ErrClaimed
	}
	e.holder, e.claimUntil, e.reason = holder, until, reason
	e.due = until
	heap.Fix(&m.due, e.index)
	return e.call, nil
}

// ClaimDue implements Store.
func (m *Memory) ClaimDue(_ context.Context, holder string, now, until time.Time, max int) ([]Claimed, error) {
	if err := checkClaim(holder, "", now, until); err != nil {
		return nil, err
	}
	if err := checkMax(max); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.due) == 0 || m.due[0].due.After(now) {
		return nil, nil
	}
	out := make([]Claimed, 0, min(max, len(m.due)))
	// A claimed call's due time moves to until, after now, so the loop
	// never sees it again.
	for len(out) < max && len(m.due) > 0 && !m.due[0].due.After(now) {
		e := m.due[0]
		out = append(out, Claimed{Call: e.call, Reason: e.reason})
		e.holder, e.claimUntil, e.due = holder, until, until
		heap.Fix(&m.due, 0)
	}
	return out, nil
}

// Release implements Store.
func (m *Memory) Release(_ context.Context, id, holder string, retryAt, _ time.Time) error {
	if err := checkHolder(holder); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.calls[id]
	if !ok {
		return ErrNotFound
	}
	if e.holder != holder {
		return ErrClaimed
	}
	e.holder, e.claimUntil, e.due = "", time.Time{}, retryAt
	heap.Fix(&m.due, e.index)
	return nil
}

// Heartbeat implements Store.
func (m *Memory) Heartbeat(_ context.Context, instance string, until, _ time.Time) error {
	if err := checkInstance(instance); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.alive[instance] = until
	return nil
}

// Adopt implements Store.
func (m *Memory) Adopt(_ context.Context, instance string, now time.Time, max int) ([]Call, error) {
	if err := checkInstance(instance); err != nil {
		return nil, err
	}
	if err := checkMax(max); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []Call
	for dead, until := range m.alive {
		if dead == instance || until.After(now) {
			continue
		}
		for id := range m.byOwner[dead] {
			if len(out) == max {
				break
			}
			e := m.calls[id]
			removeFrom(m.byOwner, dead, id)
			e.call.Instance = instance
			addTo(m.byOwner, instance, id)
			out = append(out, e.call)
		}
		if len(m.byOwner[dead]) == 0 {
			delete(m.alive, dead)
		}
		if len(out) == max {
			break
		}
	}
	if _, ok := m.alive[instance]; !ok && len(out) > 0 {
		m.alive[instance] = time.Time{} // never heartbeated: lapsed
	}
	return out, nil
}

// dueHeap orders calls by due time, earliest first.
type dueHeap []*memCall

func (h dueHeap) Len() int           { return len(h) }
func (h dueHeap) Less(i, j int) bool { return h[i].due.Before(h[j].due) }
func (h dueHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}

func (h *dueHeap) Push(x any) {
	e := x.(*memCall)
	e.index = len(*h)
	*h = append(*h, e)
}

func (h *dueHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return e
}
