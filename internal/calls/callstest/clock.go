package callstest

import (
	"sync"
	"time"

	"github.com/rtgate/rtgate/internal/calls"
)

// Clock is a calls.Clock for tests: time moves only when Advance is called,
// and tickers tick then.
type Clock struct {
	mu      sync.Mutex
	cond    *sync.Cond
	now     time.Time
	tickers []*ticker
}

var _ calls.Clock = (*Clock)(nil)

// NewClock returns a Clock set to t0.
func NewClock(t0 time.Time) *Clock {
	c := &Clock{now: t0}
	c.cond = sync.NewCond(&c.mu)
	return c
}

// Now implements calls.Clock.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// NewTicker implements calls.Clock: the ticker's first tick is due d after
// the clock's current time.
func (c *Clock) NewTicker(d time.Duration) calls.Ticker {
	if d <= 0 {
		panic("callstest: non-positive ticker period")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &ticker{clock: c, ch: make(chan time.Time, 1), period: d, next: c.now.Add(d)}
	c.tickers = append(c.tickers, t)
	c.cond.Broadcast()
	return t
}

// Advance moves the clock forward by d and ticks, once, every ticker with a
// tick due by then (a receiver that is behind misses ticks, as with
// time.Ticker).
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	for _, t := range c.tickers {
		if t.next.After(c.now) {
			continue
		}
		select {
		case t.ch <- c.now:
		default:
		}
		for !t.next.After(c.now) {
			t.next = t.next.Add(t.period)
		}
	}
}

// WaitTickers blocks until at least n tickers are running, so that a test
// advances the clock only once the code under test is waiting for it.
func (c *Clock) WaitTickers(n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for len(c.tickers) < n {
		c.cond.Wait()
	}
}

type ticker struct {
	clock  *Clock
	ch     chan time.Time
	period time.Duration
	next   time.Time
}

func (t *ticker) C() <-chan time.Time { return t.ch }

func (t *ticker) Stop() {
	c := t.clock
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, x := range c.tickers {
		if x == t {
			c.tickers = append(c.tickers[:i], c.tickers[i+1:]...)
			break
		}
	}
	c.cond.Broadcast()
}
