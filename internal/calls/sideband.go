package calls

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rtgate/rtgate/internal/usage"
)

// This file is the sideband controller: for every call this instance
// owns, one sideband WebSocket opened with the server key (Realtime
// ?call_id=, GPT-Live …/attach), through which rtgate enforces the server's
// session, notices the end, applies the idle timeout and meters usage.
//
// Lifecycle of one controlled call:
//
//	Control (the creating request, before the browser gets its answer) or
//	Adopt (OnAdopt: this instance took the call over from a dead one)
//	  → dial the sideband (Options.Dialers[c.Kind])
//	  → read server events until the sideband closes:
//	      session.created / session.started: learn the upstream's defaults
//	      session.updated: compare with the server's session (policy.go)
//	      response.done / session.usage.updated / session.closed: usage
//	      speech, responses, transcripts: activity (idle timeout)
//	  → when it closes: re-dial at once, then RetryDelay, 2×, 4×…
//	    (Retries times). The upstream answering 404 means the call is over:
//	    Registry.Ended (no hang-up). Still unreachable after the retries:
//	    Registry.End with ReasonSidebandLost — a call rtgate cannot control
//	    is a cost it cannot bound, so it is hung up rather than left running.
//
// Check (every Tick, from Run) ends idle calls, hangs up calls whose revert
// was not confirmed within RevertWithin, and every OwnerCheck looks each
// call up in the registry: gone (ended elsewhere) or owned by another
// instance (taken over while this one was thought dead) stops its control
// here without ending it.

// Sideband is one open sideband connection of a call. *openai.Sideband
// implements it.
type Sideband interface {
	// Read returns the next server event (JSON). Any error means the
	// sideband is gone.
	Read(ctx context.Context) ([]byte, error)
	// Write sends one client event (JSON).
	Write(ctx context.Context, event []byte) error
	// Close closes the connection; the call goes on.
	Close() error
}

// Dialer opens the sideband of a call's upstream session (by c.UpstreamID).
// An error wrapping ErrGone means the upstream no longer knows the call.
type Dialer interface {
	Dial(ctx context.Context, c Call) (Sideband, error)
}

// DialerFunc is a Dialer from a function.
type DialerFunc func(ctx context.Context, c Call) (Sideband, error)

// Dial implements Dialer.
func (f DialerFunc) Dial(ctx context.Context, c Call) (Sideband, error) { return f(ctx, c) }

// ServerSessions gives the server's session of a call as the policy holds
// it: built by the function that built the session the call was created
// with upstream (NewLocks over that JSON, or the session file's own locks).
type ServerSessions interface {
	Locks(c Call) (Locks, error)
}

// UsageSink receives every usage increment of a controlled call, once the
// registry has counted it: c is the call with its usage so far (delta
// included), delta what the sideband just reported, and final whether the
// call is ending (the increment is its last: a sink should charge it but
// not end the call again). The per-user records and a budget are sinks. An
// error is logged; an error wrapping *EndCall ends the call with its
// reason.
type UsageSink interface {
	AddUsage(ctx context.Context, c Call, delta usage.Usage, final bool) error
}

// UsageSinks is a UsageSink that passes each increment to every sink in
// order (the per-user records, a budget, ...): their errors are joined, so
// any sink's EndCall ends the call.
type UsageSinks []UsageSink

// AddUsage implements UsageSink.
func (ss UsageSinks) AddUsage(ctx context.Context, c Call, delta usage.Usage, final bool) error {
	var errs []error
	for _, s := range ss {
		if err := s.AddUsage(ctx, c, delta, final); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// EndCall is the error a UsageSink returns to have the call ended (for
// example, its user's budget is spent). Reason names why, as a registry
// reason (1-64 characters of [a-z0-9_]).
type EndCall struct{ Reason string }

func (e *EndCall) Error() string { return "end the call: " + e.Reason }

// ControlMetrics counts what the controller sees; label values are bounded
// (kinds, models from the configuration, fixed outcome names), never a
// user. *metrics.Metrics implements it.
type ControlMetrics interface {
	// SidebandAttach counts one attach: result "ok", "gone" (the
	// upstream no longer knows the call) or "failed".
	SidebandAttach(kind Kind, result string)
	// SidebandOpen adds delta to the open sidebands of kind.
	SidebandOpen(kind Kind, delta int)
	// PolicyEvent counts one security event: event "session_changed"
	// (a locked field changed) or "client_event_blocked" (a Live data
	// channel refused a client event), and what was done: "reverted",
	// "hung_up" or "none".
	PolicyEvent(kind Kind, event, action string)
	// Usage adds delta to the usage counters of kind and model.
	Usage(kind Kind, model string, delta usage.Usage)
}

// Controller defaults, used where an Option is zero.
const (
	DefaultAttachTimeout = 5 * time.Second
	DefaultRevertWithin  = time.Second
	DefaultMaxViolations = 3
	DefaultRetries       = 3
	DefaultSidebandRetry = time.Second
	DefaultTick          = 250 * time.Millisecond
	DefaultOwnerCheck    = 5 * time.Second
	DefaultTimeStep      = 15 * time.Second
)

// ControllerOptions configures a Controller. Registry, Dialers and
// Sessions are required.
type ControllerOptions struct {
	// Registry is this instance's registry: the controller ends calls,
	// meters usage and checks ownership through it.
	Registry *Registry
	// Dialers open sidebands, one per kind served.
	Dialers map[Kind]Dialer
	// Sessions gives each call's server session.
	Sessions ServerSessions
	// Usage, if set, receives every usage increment.
	Usage UsageSink
	// Metrics, if set, counts attaches, policy events and usage.
	Metrics ControlMetrics
	// Policy is SESSION_POLICY (PolicyRevert by default).
	Policy Policy
	// Idle is SESSION_IDLE_SECONDS: a call with no speech and no response
	// for that long is ended (ReasonIdle); 0 is off.
	Idle time.Duration
	// RevertWithin is how long a revert has to show in a session.updated
	// before the call is hung up (DefaultRevertWithin).
	RevertWithin time.Duration
	// MaxViolations is how many changes of the server's session one call
	// may make under PolicyRevert before it is hung up anyway
	// (DefaultMaxViolations).
	MaxViolations int
	// AttachTimeout bounds one sideband handshake
	// (SIDEBAND_ATTACH_TIMEOUT_MS, DefaultAttachTimeout).
	AttachTimeout time.Duration
	// Retries is how many times a lost sideband is re-dialled after the
	// immediate attempt before the call is hung up (SIDEBAND_RETRIES,
	// DefaultRetries); RetryDelay is the first wait, doubling
	// (SIDEBAND_RETRY_DELAY_MS, DefaultSidebandRetry).
	Retries    int
	RetryDelay time.Duration
	// Tick is Run's period for the idle and revert checks (DefaultTick);
	// OwnerCheck how often each call's ownership is looked up
	// (DefaultOwnerCheck).
	Tick       time.Duration
	OwnerCheck time.Duration
	// TimeStep is how often a Realtime call's running time is metered
	// (usage CallMillis) when no response does it (DefaultTimeStep): its
	// minutes count whether anybody speaks or not.
	TimeStep time.Duration
	// Clock is the time source; the registry's clock is the usual choice.
	Clock  Clock
	Logger *slog.Logger
}

// Controller holds the sidebands of the calls this instance owns. It is
// safe for concurrent use.
type Controller struct {
	o   ControllerOptions
	log *slog.Logger
	seq atomic.Uint64

	mu       sync.Mutex
	sessions map[string]*session
	closed   bool
	wg       sync.WaitGroup
}

// NewController validates o and returns a Controller; Run starts its
// checks.
func NewController(o ControllerOptions) (*Controller, error) {
	switch {
	case o.Registry == nil:
		return nil, errors.New("calls: the controller needs a registry")
	case len(o.Dialers) == 0:
		return nil, errors.New("calls: the controller needs a sideband dialer")
	case o.Sessions == nil:
		return nil, errors.New("calls: the controller needs the server's sessions")
	}
	switch o.Policy {
	case "":
		o.Policy = PolicyRevert
	case PolicyRevert, PolicyHangup:
	default:
		return nil, fmt.Errorf("calls: unknown session policy %q", o.Policy)
	}
	if o.Idle < 0 || o.Retries < 0 {
		return nil, errors.New("calls: negative idle timeout or retries")
	}
	if o.Clock == nil {
		o.Clock = SystemClock{}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	orDefault(&o.AttachTimeout, DefaultAttachTimeout)
	orDefault(&o.RevertWithin, DefaultRevertWithin)
	orDefault(&o.MaxViolations, DefaultMaxViolations)
	if o.Retries == 0 {
		o.Retries = DefaultRetries
	}
	orDefault(&o.RetryDelay, DefaultSidebandRetry)
	orDefault(&o.Tick, DefaultTick)
	orDefault(&o.OwnerCheck, DefaultOwnerCheck)
	orDefault(&o.TimeStep, DefaultTimeStep)
	return &Controller{o: o, log: o.Logger, sessions: map[string]*session{}}, nil
}

// session is the control of one call on this instance.
type session struct {
	ctl    *Controller
	ctx    context.Context
	cancel context.CancelFunc

	mu         sync.Mutex
	call       Call // its usage is the usage counted so far
	ref        Locks
	sb         Sideband
	since      time.Time // of the last activity, attach or adoption
	speaking   bool
	responding bool
	revertID   string    // event_id of the revert awaiting confirmation
	revertDue  time.Time // when it must be confirmed by
	violations int
	ending     bool // an end was asked for: no more ends, no re-dial
	checkedAt  time.Time
	steppedAt  time.Time // the running time was last metered
	// metering serialises meter: the reader (responses, Live seconds) and
	// Check (time steps) must not both count one stretch of time.
	metering sync.Mutex
	// hangup is open while the registry hangs the call up (HangingUp): a
	// sideband closing meanwhile waits for its outcome before it counts as
	// lost.
	hangup chan struct{}
}

// Control starts controlling c, a call this instance just created: it
// attaches the sideband at once (within AttachTimeout), so that no client
// event can precede it, and then reads it in the background. If the
// attach fails it is retried in the background like a lost sideband, and
// its error is returned for the caller's log; the call is controlled (or
// ended) either way.
func (ctl *Controller) Control(ctx context.Context, c Call) error {
	s, err := ctl.start(c)
	if err != nil || s == nil {
		return err
	}
	dctx, cancel := context.WithTimeout(ctx, ctl.o.AttachTimeout)
	sb, err := ctl.dial(dctx, s)
	cancel()
	if err == nil {
		s.attached(sb, false)
	}
	if !ctl.background(func() { s.run(sb, err) }) {
		s.finish(sb)
	}
	return err
}

// Adopt starts controlling c, a call this instance took over (the
// registry's OnAdopt): the sideband is attached in the background, and the
// server's session is asserted again at once, since a client may have
// changed it while nobody watched.
func (ctl *Controller) Adopt(_ context.Context, c Call) {
	s, err := ctl.start(c)
	if err != nil {
		ctl.logCall(slog.LevelError, "adopted call not controlled", c, "", slog.String("error", err.Error()))
		return
	}
	if s == nil {
		return
	}
	if !ctl.background(func() { s.run(nil, errNotDialled) }) {
		s.finish(nil)
	}
}

// errNotDialled starts an adopted session's run with a dial.
var errNotDialled = errors.New("not dialled yet")

// start registers a session for c, or returns nil if c is already
// controlled here or the controller is closed.
func (ctl *Controller) start(c Call) (*session, error) {
	if _, ok := ctl.o.Dialers[c.Kind]; !ok {
		return nil, fmt.Errorf("calls: no sideband dialer for kind %q", c.Kind)
	}
	ref, err := ctl.o.Sessions.Locks(c)
	if err != nil {
		return nil, fmt.Errorf("calls: the server's session: %w", err)
	}
	ctl.mu.Lock()
	defer ctl.mu.Unlock()
	if ctl.closed || ctl.sessions[c.ID] != nil {
		return nil, nil
	}
	now := ctl.o.Clock.Now()
	s := &session{ctl: ctl, call: c, ref: ref, since: now, checkedAt: now, steppedAt: now}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	ctl.sessions[c.ID] = s
	return s, nil
}

// dial opens s's sideband once, counting the outcome.
func (ctl *Controller) dial(ctx context.Context, s *session) (Sideband, error) {
	s.mu.Lock()
	c := s.call
	s.mu.Unlock()
	sb, err := ctl.o.Dialers[c.Kind].Dial(ctx, c)
	result := "ok"
	switch {
	case errors.Is(err, ErrGone):
		result = "gone"
	case err != nil:
		result = "failed"
	}
	if m := ctl.o.Metrics; m != nil {
		m.SidebandAttach(c.Kind, result)
	}
	return sb, err
}

// Forget lets the control of the call id on this instance go, without
// ending the call: the registry's OnEnded calls it once the call is over.
// The sideband is read until the upstream closes it (a Live
// session.closed carries the final usage), for at most ForgetGrace.
func (ctl *Controller) Forget(id string) {
	ctl.mu.Lock()
	s := ctl.sessions[id]
	ctl.mu.Unlock()
	if s == nil {
		return
	}
	s.mu.Lock()
	s.ending = true
	s.mu.Unlock()
	ctl.background(func() {
		sleep(s.ctx, ctl.o.Clock, ForgetGrace)
		s.cancel()
	})
}

// ErrNotControlled is a Say about a call that has no open sideband on this
// instance.
var ErrNotControlled = errors.New("calls: the call has no sideband here")

// Say has the model of the call id (controlled here) say text now: a
// Realtime response.create whose instructions ask for exactly text, sent
// on the call's sideband. A GPT-Live session takes no such event without
// Responses delegation, so for one Say is an error (the caller ends the
// call at once instead). Budgets use it for their closing line.
func (ctl *Controller) Say(ctx context.Context, id, text string) error {
	ctl.mu.Lock()
	s := ctl.sessions[id]
	ctl.mu.Unlock()
	if s == nil {
		return ErrNotControlled
	}
	s.mu.Lock()
	sb, kind := s.sb, s.call.Kind
	s.mu.Unlock()
	switch {
	case sb == nil:
		return ErrNotControlled
	case kind != KindRealtime:
		return fmt.Errorf("calls: a %s session cannot be made to say a line", kind)
	}
	ev, err := json.Marshal(map[string]any{"type": "response.create", "event_id": ctl.eventID("say"),
		"response": map[string]any{"instructions": "Say exactly the following, and nothing else: " + text}})
	if err != nil {
		return err
	}
	return sb.Write(ctx, ev)
}

// End ends the call id with reason, on whatever instance it runs (the
// registry's End: an upstream hang-up). A call already over, or being
// ended, is not an error.
func (ctl *Controller) End(ctx context.Context, id, reason string) error {
	err := ctl.o.Registry.End(ctx, id, reason)
	if errors.Is(err, ErrNotFound) || errors.Is(err, ErrEnding) {
		return nil
	}
	return err
}

// HangingUp tells the controller that the call id is about to be hung up
// upstream (wrap calls.Options.Hangup with it), so that its sideband
// closing is not taken for a lost one and re-dialled. Call the returned
// function with whether the hang-up ended the call.
func (ctl *Controller) HangingUp(id string) (done func(ended bool)) {
	ctl.mu.Lock()
	s := ctl.sessions[id]
	ctl.mu.Unlock()
	if s == nil {
		return func(bool) {}
	}
	ch := make(chan struct{})
	s.mu.Lock()
	s.hangup = ch
	s.mu.Unlock()
	s.meter(usage.Usage{}, ctl.o.Clock.Now()) // the running time up to the hang-up
	return func(ended bool) {
		s.mu.Lock()
		if ended {
			s.ending = true
		}
		if s.hangup == ch {
			s.hangup = nil
		}
		s.mu.Unlock()
		close(ch)
	}
}

// ForgetGrace is how long Forget lets a sideband run on for its last
// events.
const ForgetGrace = 5 * time.Second

// Controlled reports whether the call id is controlled here with an open
// sideband.
func (ctl *Controller) Controlled(id string) bool {
	ctl.mu.Lock()
	s := ctl.sessions[id]
	ctl.mu.Unlock()
	if s == nil {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sb != nil
}

// Count returns the number of calls controlled here.
func (ctl *Controller) Count() int {
	ctl.mu.Lock()
	defer ctl.mu.Unlock()
	return len(ctl.sessions)
}

// Close stops controlling every call, closing the sidebands without ending
// the calls (a graceful stop: once the registry leaves, another instance
// adopts them), and waits for the sessions to finish.
func (ctl *Controller) Close() {
	ctl.mu.Lock()
	ctl.closed = true
	for _, s := range ctl.sessions {
		s.cancel()
	}
	ctl.mu.Unlock()
	ctl.wg.Wait()
}

// Run checks the controlled calls every Tick until ctx ends, then closes
// the controller.
func (ctl *Controller) Run(ctx context.Context) {
	t := ctl.o.Clock.NewTicker(ctl.o.Tick)
	defer t.Stop()
	defer ctl.Close()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C():
			ctl.Check(ctx)
		}
	}
}

// Check does one round of what Run repeats: it ends the calls idle for
// longer than Idle and those whose revert was not confirmed in time, and
// looks up the calls whose ownership was not checked for OwnerCheck.
func (ctl *Controller) Check(ctx context.Context) {
	now := ctl.o.Clock.Now()
	ctl.mu.Lock()
	ss := make([]*session, 0, len(ctl.sessions))
	for _, s := range ctl.sessions {
		ss = append(ss, s)
	}
	ctl.mu.Unlock()
	for _, s := range ss {
		s.check(ctx, now)
	}
}

// check is one session's share of Check.
func (s *session) check(ctx context.Context, now time.Time) {
	o := &s.ctl.o
	s.mu.Lock()
	var reason string
	switch {
	case s.ending || s.sb == nil:
	case !s.revertDue.IsZero() && !now.Before(s.revertDue):
		reason = ReasonPolicy
		s.ctl.security(s.call, "session_revert_unconfirmed", nil, "hung_up")
	case o.Idle > 0 && !s.speaking && !s.responding && now.Sub(s.since) >= o.Idle:
		reason = ReasonIdle
	}
	lookup := reason == "" && now.Sub(s.checkedAt) >= o.OwnerCheck
	if lookup {
		s.checkedAt = now
	}
	step := reason == "" && s.sb != nil && !s.ending && s.call.Kind == KindRealtime && now.Sub(s.steppedAt) >= o.TimeStep
	id := s.call.ID
	s.mu.Unlock()
	if reason != "" {
		s.ctl.background(func() { s.end(reason) })
		return
	}
	if step {
		s.meter(usage.Usage{}, now)
	}
	if !lookup {
		return
	}
	c, err := o.Registry.Lookup(ctx, id)
	switch {
	case errors.Is(err, ErrNotFound):
		s.stop("call no longer tracked")
	case err == nil && c.Instance != o.Registry.Instance():
		s.stop("call owned by instance " + c.Instance)
	}
}

// stop ends the control of s here without ending the call.
func (s *session) stop(why string) {
	s.mu.Lock()
	c := s.call
	s.mu.Unlock()
	s.ctl.logCall(slog.LevelInfo, "sideband released", c, "", slog.String("why", why))
	s.cancel()
}

// run is s's life: read the sideband, re-dial it when lost, until the call
// ends or the control stops. sb and err are the first dial's result (sb
// already attached).
func (s *session) run(sb Sideband, err error) {
	defer s.finish(nil)
	defer s.finalStep()
	switch {
	case errors.Is(err, ErrGone):
		s.ended(ReasonUpstreamEnded, "")
		return
	case err != nil:
		// A late attach (the first dial failed, or an adoption) asserts
		// the server's session again: nobody watched it meanwhile.
		if sb, err = s.redial(); err != nil {
			return
		}
		s.attached(sb, true)
	}
	for {
		lost := s.read(sb)
		s.detached(sb)
		if !lost {
			return
		}
		if sb, err = s.redial(); err != nil {
			return
		}
		s.attached(sb, true)
	}
}

// finalStep meters a Realtime call's running time up to now once it has
// ended (not when the control merely moves to another instance, which
// goes on metering from the registry's figure).
func (s *session) finalStep() {
	s.mu.Lock()
	final := s.ending && s.call.Kind == KindRealtime
	s.mu.Unlock()
	if final {
		s.meter(usage.Usage{}, s.ctl.o.Clock.Now())
	}
}

// finish forgets s on its controller, and closes sb if it is not nil (an
// attached sideband whose run never started).
func (s *session) finish(sb Sideband) {
	if sb != nil {
		s.detached(sb)
	}
	ctl := s.ctl
	ctl.mu.Lock()
	if ctl.sessions[s.call.ID] == s {
		delete(ctl.sessions, s.call.ID)
	}
	ctl.mu.Unlock()
	s.cancel()
}

// redial dials s's sideband again: at once, then after RetryDelay,
// doubling, Retries times. When the upstream no longer knows the call it
// records the end (Registry.Ended, no hang-up); when the sideband cannot
// be reached it ends the call (ReasonSidebandLost): a call rtgate cannot
// control is a cost it cannot bound. Either way, or when the control
// stops, it returns an error.
func (s *session) redial() (Sideband, error) {
	ctl := s.ctl
	o := &ctl.o
	delay := o.RetryDelay
	var last error
	for attempt := 0; attempt <= o.Retries; attempt++ {
		if attempt > 0 {
			if !sleep(s.ctx, o.Clock, delay) {
				return nil, s.ctx.Err()
			}
			delay *= 2
		}
		if s.ctx.Err() != nil {
			return nil, s.ctx.Err()
		}
		dctx, cancel := context.WithTimeout(s.ctx, o.AttachTimeout)
		sb, err := ctl.dial(dctx, s)
		cancel()
		switch {
		case err == nil:
			return sb, nil
		case errors.Is(err, ErrGone):
			s.ended(ReasonUpstreamEnded, "")
			return nil, err
		case s.ctx.Err() != nil:
			return nil, s.ctx.Err()
		}
		last = err
		s.mu.Lock()
		c := s.call
		s.mu.Unlock()
		ctl.logCall(slog.LevelWarn, "sideband attach failed", c, "", slog.Int("attempt", attempt+1), slog.String("error", err.Error()))
	}
	s.end(ReasonSidebandLost)
	return nil, fmt.Errorf("calls: sideband lost: %w", last)
}

// sleep waits d on clock, or until ctx ends (false).
func sleep(ctx context.Context, clock Clock, d time.Duration) bool {
	t := clock.NewTicker(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C():
		return true
	}
}

// attached installs sb as s's sideband; after a re-attach or an adoption it
// asserts the server's session again (Realtime), since nobody watched it
// meanwhile.
func (s *session) attached(sb Sideband, reattached bool) {
	ctl := s.ctl
	s.mu.Lock()
	s.sb = sb
	c := s.call
	var reassert []byte
	if ev := s.ref.Assert(); reattached && ev != nil {
		reassert = withEventID(ev, ctl.eventID("reassert"))
	}
	s.mu.Unlock()
	if m := ctl.o.Metrics; m != nil {
		m.SidebandOpen(c.Kind, 1)
	}
	ctl.logCall(slog.LevelInfo, "sideband attached", c, "", slog.Bool("reattached", reattached))
	if reassert != nil {
		if err := sb.Write(s.ctx, reassert); err != nil {
			ctl.logCall(slog.LevelWarn, "asserting the server's session failed", c, "", slog.String("error", err.Error()))
		}
	}
}

// detached closes sb and forgets it.
func (s *session) detached(sb Sideband) {
	_ = sb.Close()
	s.mu.Lock()
	s.sb = nil
	kind := s.call.Kind
	s.mu.Unlock()
	if m := s.ctl.o.Metrics; m != nil {
		m.SidebandOpen(kind, -1)
	}
}

// read handles sb's events until it closes, and reports whether it was
// lost (rather than closed because the call ended or the control stopped).
func (s *session) read(sb Sideband) (lost bool) {
	for {
		b, err := sb.Read(s.ctx)
		if err != nil {
			s.mu.Lock()
			hangup := s.hangup
			s.mu.Unlock()
			if hangup != nil {
				select {
				case <-hangup:
				case <-s.ctx.Done():
				}
			}
			s.mu.Lock()
			ending := s.ending
			s.mu.Unlock()
			return s.ctx.Err() == nil && !ending
		}
		ev, err := parseEvent(b)
		if err != nil || ev.Type == "" {
			continue
		}
		if stop := s.handle(sb, ev); stop {
			return false
		}
	}
}

// handle acts on one server event; it reports whether the call is over.
func (s *session) handle(sb Sideband, ev event) bool {
	ctl := s.ctl
	now := ctl.o.Clock.Now()
	s.mu.Lock()
	kind := s.call.Kind
	switch activityOf(kind, ev.Type) {
	case activitySpeechStart:
		s.speaking = true
	case activitySpeechStop:
		s.speaking = false
	case activityResponseStart:
		s.responding = true
	case activityResponseStop:
		s.responding = false
	case activityNone:
		s.mu.Unlock()
		return s.handleOther(sb, ev)
	}
	s.since = now
	s.mu.Unlock()
	if ev.Type == "response.done" && ev.Response != nil && ev.Response.Usage != nil {
		s.meter(ev.Response.Usage.delta(), now)
	}
	return false
}

// handleOther acts on the events that are not activity.
func (s *session) handleOther(sb Sideband, ev event) bool {
	switch ev.Type {
	case "session.created", "session.started":
		s.mu.Lock()
		s.ref.Learn(ev.Session)
		s.mu.Unlock()
		s.police(sb, ev.Session)
	case "session.updated":
		s.police(sb, ev.Session)
	case "session.usage.updated":
		s.meterLive(ev.liveMillis())
	case "session.closed":
		s.mu.Lock()
		s.ending = true // its usage is the last
		s.mu.Unlock()
		s.meterLive(ev.liveMillis())
		s.ended(ReasonUpstreamEnded, ev.Reason)
		return true
	case "info":
		if ev.Code == "data_channel_permissions" {
			s.mu.Lock()
			c := s.call
			s.mu.Unlock()
			s.ctl.security(c, "client_event_blocked", nil, "none")
		}
	case "error":
		s.mu.Lock()
		refused := ev.errorAbout(s.revertID)
		c := s.call
		s.mu.Unlock()
		if refused {
			s.ctl.security(c, "session_revert_refused", nil, "hung_up")
			s.end(ReasonPolicy)
		}
	}
	return false
}

// police compares session, as the upstream reports it, with the server's,
// and reverts the changed fields or hangs up.
func (s *session) police(sb Sideband, session map[string]any) {
	if session == nil {
		return
	}
	ctl := s.ctl
	s.mu.Lock()
	changed, update := s.ref.Check(session)
	c := s.call
	if len(changed) == 0 {
		if s.revertID != "" {
			s.revertID, s.revertDue = "", time.Time{}
			s.mu.Unlock()
			ctl.logCall(slog.LevelInfo, "session policy restored", c, "")
			return
		}
		s.mu.Unlock()
		return
	}
	if s.ending {
		s.mu.Unlock()
		return
	}
	s.violations++
	var revert []byte
	all := false
	if ctl.o.Policy == PolicyRevert && s.violations <= ctl.o.MaxViolations && update != nil {
		id := ctl.eventID("revert")
		if revert = withEventID(update, id); revert != nil {
			all = true
			if s.revertID == "" {
				s.revertDue = ctl.o.Clock.Now().Add(ctl.o.RevertWithin)
			}
			s.revertID = id
		}
	}
	s.mu.Unlock()
	if !all {
		ctl.security(c, "session_changed", changed, "hung_up")
		s.end(ReasonPolicy)
		return
	}
	ctl.security(c, "session_changed", changed, "reverted")
	if err := sb.Write(s.ctx, revert); err != nil {
		ctl.logCall(slog.LevelWarn, "session revert not sent", c, "", slog.String("error", err.Error()))
	}
}

// security logs and counts one security event about c (never content:
// only the names of the fields involved).
func (ctl *Controller) security(c Call, event string, fields []string, action string) {
	metricEvent := event
	if event != "client_event_blocked" {
		metricEvent = "session_changed"
	}
	if m := ctl.o.Metrics; m != nil {
		m.PolicyEvent(c.Kind, metricEvent, action)
	}
	attrs := append(callAttrs(c, ""), slog.String("event", event), slog.String("action", action), slog.String("policy", string(ctl.o.Policy)))
	if fields != nil {
		attrs = append(attrs, slog.Any("fields", fields))
	}
	ctl.log.LogAttrs(context.Background(), slog.LevelWarn, "session security event", attrs...)
}

// meterLive meters a Live session's cumulative usage.seconds (in ms): what
// it adds to the usage counted so far, on any instance.
func (s *session) meterLive(ms int64) {
	if ms < 0 {
		return
	}
	// The reader alone meters Live seconds, so the figure read here is the
	// one meter adds to.
	s.mu.Lock()
	delta := ms - s.call.Usage.LiveMillis
	s.mu.Unlock()
	if delta > 0 {
		s.meter(usage.Usage{LiveMillis: delta}, s.ctl.o.Clock.Now())
	}
}

// meter counts delta for s's call: in the registry (the call's cumulative
// usage, which an adopter continues from), then the sink and the metrics.
// A Realtime call's delta also carries its running time up to now (from its
// creation, less what was metered already, on any instance).
func (s *session) meter(delta usage.Usage, now time.Time) {
	s.metering.Lock()
	endReason := s.meterLocked(delta, now)
	s.metering.Unlock()
	if endReason != "" {
		s.end(endReason) // which meters too: outside the metering lock
	}
}

// meterLocked is meter under s.metering; it returns the reason to end the
// call with when a sink asks for it.
func (s *session) meterLocked(delta usage.Usage, now time.Time) (endReason string) {
	ctl := s.ctl
	s.mu.Lock()
	id := s.call.ID
	if s.call.Kind == KindRealtime {
		delta.CallMillis = max(now.Sub(s.call.CreatedAt).Milliseconds()-s.call.Usage.CallMillis, 0)
		s.steppedAt = now
	}
	final := s.ending || s.hangup != nil
	s.mu.Unlock()
	if delta.IsZero() {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(s.ctx), storeTimeout)
	defer cancel()
	c, err := ctl.o.Registry.AddUsage(ctx, id, delta)
	s.mu.Lock()
	if err != nil {
		// Counted here anyway, so the next cumulative figure is not
		// counted twice.
		s.call.Usage = s.call.Usage.Add(delta)
		c = s.call
	} else {
		s.call.Usage = c.Usage
	}
	s.mu.Unlock()
	if err != nil && !errors.Is(err, ErrNotFound) {
		ctl.logCall(slog.LevelError, "call usage not stored", c, "", slog.String("error", err.Error()))
	}
	if m := ctl.o.Metrics; m != nil {
		m.Usage(c.Kind, c.Model, delta)
	}
	if ctl.o.Usage == nil {
		return
	}
	err = ctl.o.Usage.AddUsage(ctx, c, delta, final)
	var end *EndCall
	switch {
	case errors.As(err, &end):
		return end.Reason
	case err != nil:
		ctl.logCall(slog.LevelError, "call usage sink failed", c, "", slog.String("error", err.Error()))
	}
	return ""
}

// end asks the registry to end s's call (an upstream hang-up), once.
func (s *session) end(reason string) {
	s.mu.Lock()
	if s.ending {
		s.mu.Unlock()
		return
	}
	s.ending = true
	c := s.call
	s.mu.Unlock()
	s.meter(usage.Usage{}, s.ctl.o.Clock.Now()) // the running time up to the end
	ctx, cancel := context.WithTimeout(context.WithoutCancel(s.ctx), s.ctl.o.Registry.o.HangupTimeout+storeTimeout)
	defer cancel()
	err := s.ctl.o.Registry.End(ctx, c.ID, reason)
	switch {
	case err == nil, errors.Is(err, ErrNotFound), errors.Is(err, ErrEnding):
		s.cancel()
	default:
		// The registry retries the hang-up; the sideband keeps watching
		// (usage) until the call is over.
		s.ctl.logCall(slog.LevelWarn, "ending a controlled call failed; the registry retries", c, reason, slog.String("error", err.Error()))
	}
}

// ended tells the registry the upstream ended s's call (no hang-up).
func (s *session) ended(reason, upstreamReason string) {
	s.mu.Lock()
	s.ending = true
	c := s.call
	s.mu.Unlock()
	s.meter(usage.Usage{}, s.ctl.o.Clock.Now()) // the running time up to the end
	if upstreamReason != "" {
		s.ctl.logCall(slog.LevelInfo, "session closed upstream", c, reason, slog.String("upstream_reason", upstreamReason))
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(s.ctx), storeTimeout)
	defer cancel()
	if err := s.ctl.o.Registry.Ended(ctx, c.ID, reason); err != nil && !errors.Is(err, ErrNotFound) && !errors.Is(err, ErrEnding) {
		s.ctl.logCall(slog.LevelError, "recording the end of a call failed; its deadline ends it", c, reason, slog.String("error", err.Error()))
	}
	s.cancel()
}

// logCall logs msg about c with reason and attrs.
func (ctl *Controller) logCall(level slog.Level, msg string, c Call, reason string, attrs ...slog.Attr) {
	ctl.log.LogAttrs(context.Background(), level, msg, append(callAttrs(c, reason), attrs...)...)
}

// background runs fn in a goroutine Close waits for and reports true, or
// reports false when the controller is closed.
func (ctl *Controller) background(fn func()) bool {
	ctl.mu.Lock()
	defer ctl.mu.Unlock()
	if ctl.closed {
		return false
	}
	ctl.wg.Go(fn)
	return true
}

// eventID returns a fresh event_id for a client event rtgate sends.
func (ctl *Controller) eventID(what string) string {
	return "rtgate_" + what + "_" + strconv.FormatUint(ctl.seq.Add(1), 10)
}
