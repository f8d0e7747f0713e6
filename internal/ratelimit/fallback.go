package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"
)

// FailurePolicy is what a Fallback does while its primary store (Redis) is
// failing (RATE_LIMIT_REDIS_FAILURE).
type FailurePolicy string

// Failure policies.
const (
	// FailLocal decides with the local memory store: limits stay on, but
	// per instance. The default.
	FailLocal FailurePolicy = "local"
	// FailOpen admits every request (Decision.Skipped).
	FailOpen FailurePolicy = "open"
	// FailClosed returns ErrStoreUnavailable, which the gateway turns into
	// 503: nothing is admitted without the shared view.
	FailClosed FailurePolicy = "closed"
)

// ParseFailurePolicy parses RATE_LIMIT_REDIS_FAILURE; "" is FailLocal.
func ParseFailurePolicy(s string) (FailurePolicy, error) {
	switch p := FailurePolicy(s); p {
	case "":
		return FailLocal, nil
	case FailLocal, FailOpen, FailClosed:
		return p, nil
	}
	return "", fmt.Errorf("ratelimit: failure policy %q is not one of local, open, closed", s)
}

// ErrStoreUnavailable is returned under FailClosed while the primary store
// is failing.
var ErrStoreUnavailable = errors.New("ratelimit: shared rate-limit store unavailable")

// DefaultProbeInterval is how often a degraded Fallback retries the primary.
const DefaultProbeInterval = time.Second

// FallbackOptions configures NewFallback.
type FallbackOptions struct {
	// Policy applies while the primary fails; FailLocal when empty.
	Policy FailurePolicy
	// Logger gets one line per transition (degraded, recovered); discarded
	// when nil.
	Logger *slog.Logger
	// Metrics counts primary errors and transitions; nil records nothing.
	Metrics *Metrics
	// Now is the clock for probe pacing; time.Now when nil.
	Now func() time.Time
	// ProbeInterval is the minimum time between calls to a failing primary;
	// DefaultProbeInterval when zero.
	ProbeInterval time.Duration
}

// Fallback is a Store that uses its primary (Redis) while it works and
// applies a FailurePolicy while it does not. The first primary error flips
// it to degraded (logged once, counted); while degraded at most one request
// per ProbeInterval tries the primary, and the first success flips it back
// (logged once). Under FailLocal the local store starts from whatever it
// remembered, so during an outage limits are per instance.
type Fallback struct {
	primary, local Store
	policy         FailurePolicy
	log            *slog.Logger
	metrics        *Metrics
	now            func() time.Time
	probeEvery     time.Duration

	mu        sync.Mutex
	degraded  bool
	nextProbe time.Time
	probing   bool
	since     time.Time
}

var _ Store = (*Fallback)(nil)

// NewFallback wraps primary with the failure policy; local is required for
// FailLocal and ignored otherwise.
func NewFallback(primary, local Store, o FallbackOptions) (*Fallback, error) {
	p, err := ParseFailurePolicy(string(o.Policy))
	if err != nil {
		return nil, err
	}
	if primary == nil || (p == FailLocal && local == nil) {
		return nil, errors.New("ratelimit: fallback needs a primary store and, for the local policy, a local store")
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.ProbeInterval <= 0 {
		o.ProbeInterval = DefaultProbeInterval
	}
	return &Fallback{primary: primary, local: local, policy: p, log: o.Logger,
		metrics: o.Metrics, now: o.Now, probeEvery: o.ProbeInterval}, nil
}

// Allow implements Store.
func (f *Fallback) Allow(ctx context.Context, key string, p Policy) (Decision, error) {
	if !p.Enabled() || p.Validate() != nil {
		return Decision{}, ErrInvalidPolicy
	}
	f.mu.Lock()
	usePrimary := !f.degraded
	if f.degraded && !f.probing && !f.now().Before(f.nextProbe) {
		f.probing, usePrimary = true, true
	}
	probe := f.degraded && usePrimary
	f.mu.Unlock()

	if usePrimary {
		d, err := f.primary.Allow(ctx, key, p)
		if err == nil {
			if probe {
				f.transition(ctx, false, nil)
			}
			return d, nil
		}
		if ctx.Err() != nil { // the caller gave up; not the store's fault
			if probe {
				f.mu.Lock()
				f.probing = false
				f.mu.Unlock()
			}
			return Decision{}, err
		}
		f.metrics.redisError()
		f.transition(ctx, true, err)
	}
	switch f.policy {
	case FailOpen:
		return Decision{Allowed: true, Skipped: true, Limit: p.Limit, Window: p.Window}, nil
	case FailClosed:
		return Decision{}, ErrStoreUnavailable
	default:
		return f.local.Allow(ctx, key, p)
	}
}

// transition records the outcome of a primary call made while healthy (err
// != nil) or as a probe.
func (f *Fallback) transition(ctx context.Context, failed bool, err error) {
	f.mu.Lock()
	was := f.degraded
	f.probing = false
	if failed {
		f.nextProbe = f.now().Add(f.probeEvery)
	}
	f.degraded = failed
	changed := was != failed
	if changed {
		f.since = f.now()
	}
	f.mu.Unlock()
	if !changed {
		return
	}
	f.metrics.setDegraded(failed)
	if failed {
		f.log.LogAttrs(ctx, slog.LevelWarn, "rate limit store unavailable; applying failure policy",
			slog.String("policy", string(f.policy)), slog.Any("err", err))
	} else {
		f.log.LogAttrs(ctx, slog.LevelInfo, "rate limit store recovered", slog.String("policy", string(f.policy)))
	}
}

// Pinger is implemented by primaries that can be checked without a
// decision (Redis).
type Pinger interface {
	Ping(ctx context.Context) error
}

// Probe returns Healthy after, when degraded and a probe is due (at most one
// per ProbeInterval), pinging a primary that implements Pinger and
// recovering on success. Readiness checks call it so that an instance that
// receives no traffic (for example, taken out of rotation because it is
// unready under FailClosed) still notices that Redis is back.
func (f *Fallback) Probe(ctx context.Context) bool {
	pinger, ok := f.primary.(Pinger)
	f.mu.Lock()
	if !f.degraded {
		f.mu.Unlock()
		return true
	}
	if !ok || f.probing || f.now().Before(f.nextProbe) {
		f.mu.Unlock()
		return false
	}
	f.probing = true
	f.mu.Unlock()
	err := pinger.Ping(ctx)
	if err != nil && ctx.Err() == nil {
		f.metrics.redisError()
	}
	if err != nil && ctx.Err() != nil {
		f.mu.Lock()
		f.probing = false
		f.mu.Unlock()
		return false
	}
	f.transition(ctx, err != nil, err)
	return err == nil
}

// Healthy reports whether the primary store answered the last call.
func (f *Fallback) Healthy() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return !f.degraded
}

// Status is a short description for /readyz detail: "ok", or
// "degraded (policy local) since <RFC 3339 time>".
func (f *Fallback) Status() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.degraded {
		return "ok"
	}
	return fmt.Sprintf("degraded (policy %s) since %s", f.policy, f.since.UTC().Format(time.RFC3339))
}

// Health is the limiter store's readiness. It probes the primary (not just
// looks: an instance that is unready under the closed policy gets no
// traffic, so only the readiness probe can notice that Redis is back) and
// answers "" when the primary is fine, a degraded detail while the
// fallback decides (local or open: ready), and an error under the closed
// policy (unready: nothing is decided).
func (f *Fallback) Health(ctx context.Context) (degraded string, err error) {
	if f.Probe(ctx) {
		return "", nil
	}
	if f.policy == FailClosed {
		return "", fmt.Errorf("redis unreachable; policy closed: %s", f.Status())
	}
	return f.Status(), nil
}

// Policy returns the configured failure policy.
func (f *Fallback) Policy() FailurePolicy { return f.policy }
