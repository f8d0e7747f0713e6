package budget

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"
)

// ReasonBudget is the reason a call ends when a budget ran out.
const ReasonBudget = "budget_exhausted"

// CallControl acts on a live proxied call through its sideband; issue 12's
// sideband controller (internal/calls) implements it.
type CallControl interface {
	// Say has the model speak text now: on a Realtime call a
	// response.create whose instructions ask it to say exactly text.
	Say(ctx context.Context, callID, text string) error
	// End ends the call upstream and in the registry, with reason.
	End(ctx context.Context, callID, reason string) error
}

// Clock is the Ender's time source, timers included, so tests drive it.
type Clock interface {
	Now() time.Time
	// AfterFunc runs f in its own goroutine once d has passed; stop
	// cancels it and reports whether it did so before f started.
	AfterFunc(d time.Duration, f func()) (stop func() bool)
}

// SystemClock is the real Clock.
type SystemClock struct{}

// Now implements Clock.
func (SystemClock) Now() time.Time { return time.Now() }

// AfterFunc implements Clock.
func (SystemClock) AfterFunc(d time.Duration, f func()) func() bool { return time.AfterFunc(d, f).Stop }

// EnderOptions configures an Ender.
type EnderOptions struct {
	Control CallControl
	// ClosingLine, when set, is said (CallControl.Say) as soon as a call's
	// budget runs out; the call then ends Grace later. Without it the
	// call ends at once.
	ClosingLine string
	// Grace (BUDGET_GRACE_SECONDS) is the longest a call runs on after its
	// budget ran out: the time the closing line has to be spoken.
	Grace   time.Duration
	Clock   Clock
	Metrics *Metrics
	Logger  *slog.Logger
}

// Ender ends calls whose budget ran out: at once, or, with a closing line,
// after saying it and within the grace. Each call is ended once, however
// many exhausted charges report it. It is safe for concurrent use.
type Ender struct {
	o      EnderOptions
	log    *slog.Logger
	mu     sync.Mutex
	ending map[string]func() bool // call id -> stop of its pending end (nil while ending now)
	closed bool
}

// NewEnder returns an Ender; Control is required.
func NewEnder(o EnderOptions) (*Ender, error) {
	if o.Control == nil {
		return nil, errors.New("budget: the ender needs a call control")
	}
	if o.Grace < 0 {
		return nil, errors.New("budget: negative grace")
	}
	if o.Clock == nil {
		o.Clock = SystemClock{}
	}
	if o.Metrics == nil {
		o.Metrics = NewMetrics()
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return &Ender{o: o, log: o.Logger, ending: map[string]func() bool{}}, nil
}

// Exhausted starts ending call because limit ran out. It returns at once:
// the end (and the closing line) happen in the background, on a context
// of their own. A call already being ended is left alone.
func (e *Ender) Exhausted(ctx context.Context, call Call, limit Limit) {
	e.mu.Lock()
	if _, ok := e.ending[call.ID]; ok || e.closed || call.ID == "" {
		e.mu.Unlock()
		return
	}
	e.ending[call.ID] = nil
	e.mu.Unlock()
	e.o.Metrics.hangups.WithLabelValues(string(limit)).Inc()
	e.log.LogAttrs(ctx, slog.LevelWarn, "budget exhausted during a call: ending it", slog.String("event", "budget_hangup"),
		slog.String("call", call.ID), slog.String("user", call.User), slog.String("limit", string(limit)), slog.Duration("grace", e.o.Grace))
	bg := context.WithoutCancel(ctx)
	go func() {
		if e.o.ClosingLine == "" || e.o.Grace == 0 {
			e.end(bg, call)
			return
		}
		if err := e.o.Control.Say(bg, call.ID, e.o.ClosingLine); err != nil {
			e.log.Warn("the closing line could not be sent: ending the call at once", "call", call.ID, "error", err.Error())
			e.end(bg, call)
			return
		}
		e.mu.Lock()
		_, ok := e.ending[call.ID] // false: forgotten (ended otherwise) while the line was sent
		if ok && !e.closed {
			e.ending[call.ID] = e.o.Clock.AfterFunc(e.o.Grace, func() { e.end(bg, call) })
			e.mu.Unlock()
			return
		}
		e.mu.Unlock()
		if ok {
			e.end(bg, call) // closing: nobody would end it later
		}
	}()
}

// end ends call and forgets it.
func (e *Ender) end(ctx context.Context, call Call) {
	err := e.o.Control.End(ctx, call.ID, ReasonBudget)
	e.mu.Lock()
	delete(e.ending, call.ID)
	e.mu.Unlock()
	if err != nil {
		e.log.Error("ending a call whose budget ran out failed: its deadline ends it", "call", call.ID, "error", err.Error())
	}
}

// Forget drops callID (it ended otherwise): a pending end is cancelled.
func (e *Ender) Forget(callID string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if stop := e.ending[callID]; stop != nil {
		stop()
	}
	delete(e.ending, callID)
}

// Pending is the number of calls being ended.
func (e *Ender) Pending() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.ending)
}

// Close ends every pending end now (the instance is leaving: nobody would
// end them otherwise) and refuses new ones.
func (e *Ender) Close(ctx context.Context) {
	e.mu.Lock()
	e.closed = true
	var now []string
	for id, stop := range e.ending {
		if stop != nil && stop() {
			now = append(now, id)
		}
	}
	e.mu.Unlock()
	for _, id := range now {
		e.end(ctx, Call{ID: id})
	}
}

// Charger prices and charges one usage step; *Budget implements it.
type Charger interface {
	Charge(ctx context.Context, call Call, u Usage) (Result, error)
}

// Meter is the hook the sideband controller calls for every usage step of
// every call it controls: it charges the step and, when a budget ran out,
// has the Ender end the call. It is safe for concurrent use.
type Meter struct {
	Charger Charger
	Ender   *Ender
	Logger  *slog.Logger
}

// Usage charges one usage step of call and ends the call if a budget it
// draws on is exhausted. A failed charge is logged (and counted by the
// Charger); the call goes on, bounded by its maximum duration.
func (m *Meter) Usage(ctx context.Context, call Call, u Usage) Result {
	r, err := m.Charger.Charge(ctx, call, u)
	if err != nil && m.Logger != nil {
		m.Logger.LogAttrs(ctx, slog.LevelError, "usage not charged", slog.String("event", "budget_charge_failed"),
			slog.String("call", call.ID), slog.String("model", call.Model), slog.String("error", err.Error()))
	}
	if r.Exhausted != "" {
		m.Ender.Exhausted(ctx, call, r.Exhausted)
	}
	return r
}

// Ended tells the Meter that call ended for whatever reason: a pending
// budget end is cancelled.
func (m *Meter) Ended(callID string) { m.Ender.Forget(callID) }

// NewMeter returns the Meter that charges running calls to b and ends,
// through o.Control, those whose budget ran out; hang-ups are counted in
// b's metrics and logged to b's logger unless o names others.
func (b *Budget) NewMeter(o EnderOptions) (*Meter, error) {
	if o.Metrics == nil {
		o.Metrics = b.o.Metrics
	}
	if o.Logger == nil {
		o.Logger = b.log
	}
	e, err := NewEnder(o)
	if err != nil {
		return nil, err
	}
	return &Meter{Charger: b, Ender: e, Logger: o.Logger}, nil
}
