package calls

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rtgate/rtgate/internal/usage"
)

// Reasons a call ends, as the Registry passes them to OnEnded and logs them.
const (
	// ReasonHangup is the owner's hang-up.
	ReasonHangup = "hangup"
	// ReasonMaxDuration is the call's deadline.
	ReasonMaxDuration = "max_duration"
	// ReasonOperator is an operator's action on the user (a block).
	ReasonOperator = "ended_by_operator"
	// ReasonGivenUp is a call whose upstream hang-up kept failing until
	// GiveUp after its deadline: rtgate stops tracking it (the upstream
	// ends every call within 60 minutes by itself).
	ReasonGivenUp = "given_up"
	// ReasonUpstreamEnded is a call the upstream ended by itself (the
	// peer left, the session expired, a client closed it), as its sideband
	// showed.
	ReasonUpstreamEnded = "upstream_ended"
	// ReasonIdle is a call idle for longer than the idle timeout.
	ReasonIdle = "idle_timeout"
	// ReasonPolicy is a call hung up for changing a locked field of the
	// server's session (SESSION_POLICY=hangup, or a change that cannot be
	// put back).
	ReasonPolicy = "session_policy"
	// ReasonSidebandLost is a call whose sideband could not be re-attached:
	// rtgate cannot control it any more, so it ends it.
	ReasonSidebandLost = "sideband_lost"
)

// Defaults of Options, used where a field is zero.
const (
	// DefaultMaxCalls is Options.MaxCalls's default.
	DefaultMaxCalls = 100000
	// DefaultMaxDuration is Options.MaxDuration's default: OpenAI's own
	// cap on one Realtime session.
	DefaultMaxDuration = 60 * time.Minute
	// DefaultSweepEvery is Options.SweepEvery's default.
	DefaultSweepEvery = time.Second
	// DefaultLiveness is Options.Liveness's default.
	DefaultLiveness = 15 * time.Second
	// DefaultHangupTimeout is Options.HangupTimeout's default.
	DefaultHangupTimeout = 30 * time.Second
	// DefaultRetryDelay is Options.RetryDelay's default.
	DefaultRetryDelay = 30 * time.Second
	// DefaultGiveUp is Options.GiveUp's default.
	DefaultGiveUp = 10 * time.Minute
	// DefaultBatch is Options.Batch's default.
	DefaultBatch = 16
)

// storeTimeout bounds the store work that follows an upstream hang-up, which
// must happen even when the request that asked for it is gone.
const storeTimeout = 10 * time.Second

// ErrGone, returned by Options.Hangup (or wrapped in its error), says the
// upstream no longer knows the call (for example a 404): the call counts as
// ended. Returning nil has the same effect.
var ErrGone = errors.New("calls: call already ended upstream")

// Registry errors.
var (
	// ErrFull is a Create (or CheckCapacity) while MaxCalls calls are
	// tracked.
	ErrFull = errors.New("calls: too many live calls tracked")
	// ErrEnding is an End of a call that another request or instance is
	// ending right now; the caller may treat it as accepted.
	ErrEnding = errors.New("calls: call is being ended")
)

// Options configures a Registry. Store and Hangup are required; every
// duration and bound has a default.
type Options struct {
	// Store holds the calls; NewMemory for one instance, NewRedis for
	// several.
	Store Store
	// Hangup hangs a call up upstream, by c.Kind and c.UpstreamID. It
	// returns nil or ErrGone when the upstream no longer knows the call.
	Hangup func(ctx context.Context, c Call) error
	// OnEnded, if set, runs exactly once for every call the Registry stops
	// tracking, on the instance that removed it: free the user's slot
	// (c.User, c.Reservation), record the duration. Its error is logged.
	OnEnded func(ctx context.Context, c Call, reason string) error
	// OnAdopt, if set, runs on the adopting instance for every call it
	// took over from a lapsed instance (c.Instance is this instance now).
	// It must not block: start the work it needs in the background.
	OnAdopt func(ctx context.Context, c Call)
	// Instance is this process's id (1-64 characters of [A-Za-z0-9._-]);
	// random when empty. Two live processes must never share one.
	Instance string
	// Clock is the time source; SystemClock when nil.
	Clock Clock
	// Logger receives call events; discarded when nil.
	Logger *slog.Logger

	// MaxCalls bounds the calls tracked across all instances
	// (DefaultMaxCalls).
	MaxCalls int
	// MaxDuration is a call's lifetime when NewCall gives none
	// (DefaultMaxDuration).
	MaxDuration time.Duration
	// SweepEvery is Run's period: how late after its deadline a call is
	// ended at most, roughly (DefaultSweepEvery).
	SweepEvery time.Duration
	// Liveness is how long a heartbeat keeps this instance alive; another
	// instance adopts its calls once it has not swept for that long
	// (DefaultLiveness). It must be longer than SweepEvery.
	Liveness time.Duration
	// HangupTimeout bounds one upstream hang-up (DefaultHangupTimeout).
	HangupTimeout time.Duration
	// Lease is how long a claim to end a call lasts; another instance
	// retries after it if the claimer died. It must be longer than
	// HangupTimeout (default HangupTimeout + 15s).
	Lease time.Duration
	// RetryDelay is the least time between two upstream hang-ups of one
	// call by the sweeper (DefaultRetryDelay).
	RetryDelay time.Duration
	// GiveUp is how long after its deadline a call whose hang-up keeps
	// failing is still tried (DefaultGiveUp); after it, the call is
	// dropped with ReasonGivenUp. GiveUp + RetryDelay + Lease must be less
	// than Linger.
	GiveUp time.Duration
	// Batch is how many due calls a sweep claims and hangs up at once,
	// and how many calls it adopts per store round trip (DefaultBatch).
	Batch int
}

// Registry tracks live proxied calls over a Store: creation with owner and
// hang-up token, ownership checks, ending with upstream hang-up and retries,
// ending a user's calls, and (Run) deadlines, instance liveness and adoption.
// Every instance sharing the store runs one. It is safe for concurrent use.
type Registry struct {
	o     Options
	log   *slog.Logger
	seq   atomic.Uint64
	alive atomic.Int64 // unix ms until which this instance's last heartbeat holds
}

// NewRegistry validates o, fills in defaults and returns a Registry.
func NewRegistry(o Options) (*Registry, error) {
	if o.Store == nil {
		return nil, errors.New("calls: a store is required")
	}
	if o.Hangup == nil {
		return nil, errors.New("calls: a hangup function is required")
	}
	if o.Instance == "" {
		o.Instance = randomToken(12)
	}
	if !ValidInstance(o.Instance) {
		return nil, fmt.Errorf("calls: instance id %q: want 1-64 characters of [A-Za-z0-9._-]", o.Instance)
	}
	if o.Clock == nil {
		o.Clock = SystemClock{}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	orDefault(&o.MaxCalls, DefaultMaxCalls)
	orDefault(&o.Batch, DefaultBatch)
	orDefault(&o.MaxDuration, DefaultMaxDuration)
	orDefault(&o.SweepEvery, DefaultSweepEvery)
	orDefault(&o.Liveness, DefaultLiveness)
	orDefault(&o.HangupTimeout, DefaultHangupTimeout)
	orDefault(&o.Lease, o.HangupTimeout+15*time.Second)
	orDefault(&o.RetryDelay, DefaultRetryDelay)
	orDefault(&o.GiveUp, DefaultGiveUp)
	switch {
	case o.Liveness <= o.SweepEvery:
		return nil, errors.New("calls: liveness must be longer than the sweep period")
	case o.Lease <= o.HangupTimeout:
		return nil, errors.New("calls: the claim lease must be longer than the hangup timeout")
	case o.GiveUp+o.RetryDelay+o.Lease >= Linger:
		return nil, fmt.Errorf("calls: give-up + retry delay + lease must be less than %v", Linger)
	}
	return &Registry{o: o, log: o.Logger}, nil
}

func orDefault[T int | time.Duration](v *T, d T) {
	if *v <= 0 {
		*v = d
	}
}

// Instance returns this Registry's instance id.
func (r *Registry) Instance() string { return r.o.Instance }

// now is the clock's time at the stores' precision (milliseconds).
func (r *Registry) now() time.Time { return r.o.Clock.Now().Truncate(time.Millisecond) }

// holder names one claim: this instance and a sequence number.
func (r *Registry) holder() string {
	return r.o.Instance + ":" + strconv.FormatUint(r.seq.Add(1), 10)
}

// NewCall is what the caller knows of a call it just set up upstream.
type NewCall struct {
	Kind       Kind
	UpstreamID string
	// User is the owner; "" for an anonymous caller, who gets a hang-up
	// token.
	User string
	// Reservation is the owner's admission handle (opaque).
	Reservation string
	Model       string
	// MaxDuration is the call's lifetime from now; Options.MaxDuration
	// when 0.
	MaxDuration time.Duration
}

// CheckCapacity returns ErrFull when MaxCalls calls are tracked. Call it
// before setting a call up upstream, so a call is not made that cannot be
// tracked.
func (r *Registry) CheckCapacity(ctx context.Context) error {
	n, err := r.o.Store.Count(ctx)
	if err != nil {
		return err
	}
	if n >= r.o.MaxCalls {
		return ErrFull
	}
	return nil
}

// Create starts tracking a call set up upstream, owned by this instance,
// with a fresh id and a deadline MaxDuration from now. For an anonymous
// caller it returns the hang-up token (only its hash is kept); for a user,
// "". On error the call is not tracked and the caller should hang it up
// upstream itself. The bound MaxCalls is checked here too, though two
// instances creating at once may exceed it by a few.
func (r *Registry) Create(ctx context.Context, n NewCall) (Call, string, error) {
	if n.Kind != KindRealtime && n.Kind != KindLive {
		return Call{}, "", fmt.Errorf("%w: kind %q", ErrInvalid, n.Kind)
	}
	if n.UpstreamID == "" {
		return Call{}, "", fmt.Errorf("%w: empty upstream id", ErrInvalid)
	}
	if err := r.CheckCapacity(ctx); err != nil {
		return Call{}, "", err
	}
	now := r.now()
	if err := r.ensureAlive(ctx, now); err != nil {
		return Call{}, "", err
	}
	d := n.MaxDuration
	if d <= 0 {
		d = r.o.MaxDuration
	}
	c := Call{
		ID: "call_" + randomToken(16), Kind: n.Kind, UpstreamID: n.UpstreamID, User: n.User,
		Reservation: n.Reservation, Model: n.Model, CreatedAt: now, Deadline: now.Add(d), Instance: r.o.Instance,
	}
	var token string
	if n.User == "" {
		token = randomToken(32)
		c.TokenHash = HashToken(token)
	}
	if err := r.o.Store.Add(ctx, c, now); err != nil {
		return Call{}, "", err
	}
	return c, token, nil
}

// Lookup returns the tracked call id, or ErrNotFound (also for an id that
// cannot be a call, without asking the store).
func (r *Registry) Lookup(ctx context.Context, id string) (Call, error) {
	if !ValidID(id) {
		return Call{}, ErrNotFound
	}
	return r.o.Store.Get(ctx, id)
}

// ByUser returns user's tracked calls, from every instance.
func (r *Registry) ByUser(ctx context.Context, user string) ([]Call, error) {
	return r.o.Store.ByUser(ctx, user)
}

// Count returns the number of calls tracked by every instance.
func (r *Registry) Count(ctx context.Context) (int, error) { return r.o.Store.Count(ctx) }

// End claims the call id, hangs it up upstream and stops tracking it
// (OnEnded runs with reason). It works on any instance, whoever created the
// call. It returns ErrNotFound for a call not tracked, ErrEnding while
// another request or instance is ending it, and the hang-up's error (wrapped)
// when the upstream hang-up failed: the call is tracked again then, the
// sweeper retries it at its deadline or RetryDelay from now, whichever is
// later, and the caller may retry at once.
func (r *Registry) End(ctx context.Context, id, reason string) error {
	if !ValidID(id) {
		return ErrNotFound
	}
	now := r.now()
	holder := r.holder()
	c, err := r.o.Store.Claim(ctx, id, holder, reason, now, now.Add(r.o.Lease))
	if errors.Is(err, ErrClaimed) {
		return ErrEnding
	}
	if err != nil {
		return err
	}
	return r.finish(ctx, c, holder, reason)
}

// Ended stops tracking the call id, which the upstream has already ended
// (its sideband said so): like End, but without an upstream hang-up.
// OnEnded runs with reason on the instance that removes it. It returns
// ErrNotFound when the call is not tracked (another instance finished it)
// and ErrEnding while another request or instance is ending it.
func (r *Registry) Ended(ctx context.Context, id, reason string) error {
	if !ValidID(id) {
		return ErrNotFound
	}
	now := r.now()
	_, err := r.o.Store.Claim(ctx, id, r.holder(), reason, now, now.Add(r.o.Lease))
	if errors.Is(err, ErrClaimed) {
		return ErrEnding
	}
	if err != nil {
		return err
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), storeTimeout)
	defer cancel()
	r.drop(sctx, id, reason, true)
	return nil
}

// AddUsage adds delta to the usage of the tracked call id and returns the
// call with its usage so far; ErrNotFound when it is not tracked.
func (r *Registry) AddUsage(ctx context.Context, id string, delta usage.Usage) (Call, error) {
	return r.o.Store.AddUsage(ctx, id, delta)
}

// EndUser ends every tracked call of user, on whatever instance it was
// created, and returns how many it ended. Calls that were already gone or
// being ended elsewhere are not counted; failed hang-ups are not counted and
// their errors are joined. The empty user (anonymous callers) ends nothing.
func (r *Registry) EndUser(ctx context.Context, user, reason string) (int, error) {
	if user == "" {
		return 0, nil
	}
	cs, err := r.o.Store.ByUser(ctx, user)
	if err != nil {
		return 0, err
	}
	var (
		n    int
		errs []error
	)
	for _, c := range cs {
		switch err := r.End(ctx, c.ID, reason); {
		case err == nil:
			n++
		case errors.Is(err, ErrNotFound), errors.Is(err, ErrEnding):
		default:
			errs = append(errs, fmt.Errorf("call %s: %w", c.ID, err))
		}
	}
	return n, errors.Join(errs...)
}

// finish hangs up c, claimed by holder, and removes it; on failure it
// releases the claim with a retry time, or drops c past GiveUp.
func (r *Registry) finish(ctx context.Context, c Call, holder, reason string) error {
	hctx, cancel := context.WithTimeout(ctx, r.o.HangupTimeout)
	err := r.o.Hangup(hctx, c)
	cancel()
	gone := errors.Is(err, ErrGone)
	if gone {
		err = nil
	}
	// What follows must happen even if the request that asked is gone.
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), storeTimeout)
	defer cancel()
	if err == nil {
		r.drop(sctx, c.ID, reason, gone)
		return nil
	}
	now := r.now()
	attrs := append(callAttrs(c, reason), slog.String("error", err.Error()))
	if now.Sub(c.Deadline) > r.o.GiveUp {
		r.log.LogAttrs(ctx, slog.LevelError, "call hangup given up", attrs...)
		r.drop(sctx, c.ID, ReasonGivenUp, false)
		return fmt.Errorf("calls: hang up %s: %w", c.ID, err)
	}
	retry := now.Add(r.o.RetryDelay)
	if c.Deadline.After(retry) {
		retry = c.Deadline
	}
	r.log.LogAttrs(ctx, slog.LevelWarn, "call hangup failed", append(attrs, slog.Time("retry_at", retry))...)
	if rerr := r.o.Store.Release(sctx, c.ID, holder, retry, now); rerr != nil && !errors.Is(rerr, ErrNotFound) && !errors.Is(rerr, ErrClaimed) {
		// The claim lapses by itself and the sweeper retries then.
		r.log.LogAttrs(ctx, slog.LevelError, "call release failed", append(callAttrs(c, reason), slog.String("error", rerr.Error()))...)
	}
	return fmt.Errorf("calls: hang up %s: %w", c.ID, err)
}

// drop stops tracking the call id; the instance whose Remove wins reports
// it ended.
func (r *Registry) drop(ctx context.Context, id, reason string, gone bool) {
	c, err := r.o.Store.Remove(ctx, id)
	if errors.Is(err, ErrNotFound) {
		return // another instance finished it
	}
	if err != nil {
		// Still claimed: when the claim lapses the sweeper hangs up again
		// (the upstream answers "gone") and removes it then.
		r.log.LogAttrs(ctx, slog.LevelError, "call remove failed", slog.String("call", id), slog.String("error", err.Error()))
		return
	}
	in, out := c.Usage.Tokens()
	r.log.LogAttrs(ctx, slog.LevelInfo, "call ended", append(callAttrs(c, reason),
		slog.Bool("already_ended_upstream", gone), slog.Duration("duration", r.now().Sub(c.CreatedAt)),
		slog.Int64("input_tokens", in), slog.Int64("output_tokens", out), slog.Int64("live_ms", c.Usage.LiveMillis))...)
	if r.o.OnEnded != nil {
		if err := r.o.OnEnded(ctx, c, reason); err != nil {
			r.log.LogAttrs(ctx, slog.LevelError, "call end hook failed", append(callAttrs(c, reason), slog.String("error", err.Error()))...)
		}
	}
}

// callAttrs are the log attributes of c: never its token or its hash.
func callAttrs(c Call, reason string) []slog.Attr {
	return []slog.Attr{
		slog.String("call", c.ID), slog.String("kind", string(c.Kind)), slog.String("upstream_call_id", c.UpstreamID),
		slog.String("user", c.User), slog.String("reason", reason), slog.String("instance", c.Instance),
	}
}

// heartbeat marks this instance alive for Liveness from now.
func (r *Registry) heartbeat(ctx context.Context, now time.Time) error {
	until := now.Add(r.o.Liveness)
	if err := r.o.Store.Heartbeat(ctx, r.o.Instance, until, now); err != nil {
		return err
	}
	r.alive.Store(until.UnixMilli())
	return nil
}

// ensureAlive heartbeats unless this instance's liveness holds for another
// half period, so a call it creates is not adopted at once.
func (r *Registry) ensureAlive(ctx context.Context, now time.Time) error {
	if r.alive.Load() > now.Add(r.o.Liveness/2).UnixMilli() {
		return nil
	}
	return r.heartbeat(ctx, now)
}

// Sweep does one round of the work Run repeats: heartbeat this instance,
// adopt the calls of lapsed instances (OnAdopt), and end the calls that are
// due (ReasonMaxDuration, or the reason of a claim that lapsed), Batch at a
// time in parallel. It returns the store errors it met; hang-up failures are
// logged and retried later.
func (r *Registry) Sweep(ctx context.Context) error {
	var errs []error
	if err := r.heartbeat(ctx, r.now()); err != nil {
		errs = append(errs, err)
	}
	for {
		adopted, err := r.o.Store.Adopt(ctx, r.o.Instance, r.now(), r.o.Batch)
		if err != nil {
			errs = append(errs, err)
			break
		}
		for _, c := range adopted {
			r.log.LogAttrs(ctx, slog.LevelInfo, "call adopted", callAttrs(c, "")...)
			if r.o.OnAdopt != nil {
				r.o.OnAdopt(ctx, c)
			}
		}
		if len(adopted) < r.o.Batch {
			break
		}
	}
	for ctx.Err() == nil {
		now := r.now()
		holder := r.holder()
		due, err := r.o.Store.ClaimDue(ctx, holder, now, now.Add(r.o.Lease), r.o.Batch)
		if err != nil {
			errs = append(errs, err)
			break
		}
		var wg sync.WaitGroup
		for _, d := range due {
			reason := d.Reason
			if reason == "" {
				reason = ReasonMaxDuration
			}
			wg.Go(func() { _ = r.finish(ctx, d.Call, holder, reason) })
		}
		wg.Wait()
		if len(due) < r.o.Batch {
			break
		}
	}
	return errors.Join(errs...)
}

// Run sweeps at once and then every SweepEvery until ctx ends. A failing
// sweep is logged when it starts failing and when it recovers.
func (r *Registry) Run(ctx context.Context) {
	t := r.o.Clock.NewTicker(r.o.SweepEvery)
	defer t.Stop()
	failing := false
	for {
		err := r.Sweep(ctx)
		switch {
		case ctx.Err() != nil:
			return
		case err != nil && !failing:
			r.log.LogAttrs(ctx, slog.LevelError, "call sweep failing", slog.String("instance", r.o.Instance), slog.String("error", err.Error()))
		case err == nil && failing:
			r.log.LogAttrs(ctx, slog.LevelInfo, "call sweep recovered", slog.String("instance", r.o.Instance))
		}
		failing = err != nil
		select {
		case <-ctx.Done():
			return
		case <-t.C():
		}
	}
}

// Leave marks this instance lapsed at once, so that another instance adopts
// its calls at its next sweep instead of after Liveness: call it on a
// graceful shutdown, after Run has returned.
func (r *Registry) Leave(ctx context.Context) error {
	now := r.now()
	r.alive.Store(0)
	return r.o.Store.Heartbeat(ctx, r.o.Instance, now, now)
}

// randomToken returns n random bytes, base64url without padding.
func randomToken(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
