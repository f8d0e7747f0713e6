package openai

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"
)

// BreakerOptions configures the circuit breaker.
type BreakerOptions struct {
	// Failures is how many upstream failures in a row open the breaker;
	// 0 disables it.
	Failures int
	// Cooldown is how long the breaker stays open before it lets one probe
	// through (default 10s).
	Cooldown time.Duration
}

// Breaker states, the values of BreakerState.State.
const (
	BreakerClosed   = "closed"
	BreakerOpen     = "open"
	BreakerHalfOpen = "half_open"
)

// Breaker is a consecutive-failure circuit breaker. Closed, it lets every
// call through and counts failures in a row; at the threshold it opens and
// refuses calls for the cool-down; then it lets a single probe through
// (half open): a success closes it, a failure opens it again.
type Breaker struct {
	threshold int
	cooldown  time.Duration
	now       func() time.Time

	// The done functions admit hands out, made once rather than per call.
	doneCall, doneProbe func(verdict)

	mu          sync.Mutex
	state       string
	consecutive int
	openUntil   time.Time
	probing     bool
	opened      int
}

// NewBreaker returns a closed breaker; now is its clock (nil: time.Now).
func NewBreaker(o BreakerOptions, now func() time.Time) *Breaker {
	if o.Cooldown <= 0 {
		o.Cooldown = 10 * time.Second
	}
	if now == nil {
		now = time.Now
	}
	b := &Breaker{threshold: o.Failures, cooldown: o.Cooldown, now: now, state: BreakerClosed}
	b.doneCall = func(v verdict) { b.record(v, false) }
	b.doneProbe = func(v verdict) { b.record(v, true) }
	return b
}

// verdict is what one call tells the breaker.
type verdict int

const (
	verdictNeutral verdict = iota // the caller gave up: says nothing about the upstream
	verdictSuccess                // the upstream answered sensibly (2xx, or a 4xx about the request)
	verdictFailure                // timeout, network error, 429, 5xx, malformed answer
)

func breakerVerdict(ctx context.Context, err error) verdict {
	if err == nil {
		return verdictSuccess
	}
	if errors.Is(ctx.Err(), context.Canceled) && !errors.Is(err, ErrTimeout) {
		return verdictNeutral
	}
	if se, ok := errors.AsType[*StatusError](err); ok {
		if se.Status == http.StatusTooManyRequests || se.Status >= 500 {
			return verdictFailure
		}
		return verdictSuccess
	}
	return verdictFailure
}

// openFor reports whether a call would be refused now, and for how long:
// the cheap check made before a call joins the queue.
func (b *Breaker) openFor() (time.Duration, bool) {
	if b.threshold <= 0 {
		return 0, false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	switch b.state {
	case BreakerOpen:
		if wait := b.openUntil.Sub(b.now()); wait > 0 {
			return wait, true
		}
	case BreakerHalfOpen:
		if b.probing {
			return time.Second, true
		}
	}
	return 0, false
}

// admit lets a call through or refuses it. done must be called with the
// call's verdict when admitted.
func (b *Breaker) admit() (done func(verdict), wait time.Duration, ok bool) {
	if b.threshold <= 0 {
		return func(verdict) {}, 0, true
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	probe := false
	switch b.state {
	case BreakerOpen:
		if wait := b.openUntil.Sub(b.now()); wait > 0 {
			return nil, wait, false
		}
		b.state, b.probing, probe = BreakerHalfOpen, true, true
	case BreakerHalfOpen:
		if b.probing {
			return nil, time.Second, false
		}
		b.probing, probe = true, true
	}
	if probe {
		return b.doneProbe, 0, true
	}
	return b.doneCall, 0, true
}

func (b *Breaker) record(v verdict, probe bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if probe {
		b.probing = false
	}
	switch v {
	case verdictSuccess:
		b.consecutive = 0
		if probe || b.state == BreakerHalfOpen {
			b.state = BreakerClosed
		}
	case verdictFailure:
		b.consecutive++
		if (probe && b.state == BreakerHalfOpen) || (b.state == BreakerClosed && b.consecutive >= b.threshold) {
			b.state = BreakerOpen
			b.openUntil = b.now().Add(b.cooldown)
			b.opened++
		}
	}
}

// BreakerState is a snapshot of the breaker, for readiness and metrics.
type BreakerState struct {
	State       string        // closed, open or half_open
	Consecutive int           // failures in a row
	RetryIn     time.Duration // while open: time left before a probe
	Opened      int           // times the breaker has opened
}

// State returns a snapshot of the breaker.
func (b *Breaker) State() BreakerState {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := BreakerState{State: b.state, Consecutive: b.consecutive, Opened: b.opened}
	if b.state == BreakerOpen {
		s.RetryIn = max(b.openUntil.Sub(b.now()), 0)
	}
	return s
}

// Check is the breaker's readiness probe: an error while it is open and
// the cool-down runs (the instance answers 503 at once). Half open, or open
// with the cool-down over, it passes, so traffic returns and a probe can
// close the breaker: a breaker that kept an instance unready could never
// be probed.
func (b *Breaker) Check(context.Context) error {
	s := b.State()
	if s.State != BreakerOpen || s.RetryIn <= 0 {
		return nil
	}
	return fmt.Errorf("open: %d upstream failures in a row; next probe in %s", s.Consecutive, s.RetryIn.Round(time.Second))
}

// Health is the breaker's readiness with its grey zone: an error while it
// is open and not yet due for a probe (Check), a degraded detail in any
// other state but closed, and "" when closed.
func (b *Breaker) Health(ctx context.Context) (degraded string, err error) {
	if err := b.Check(ctx); err != nil {
		return "", err
	}
	if s := b.State(); s.State != BreakerClosed {
		return fmt.Sprintf("breaker %v after %d failures in a row", s.State, s.Consecutive), nil
	}
	return "", nil
}
