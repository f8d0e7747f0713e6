package auth

import (
	"errors"
	"log/slog"
	"net/http"
	"net/netip"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rtgate/rtgate/internal/ratelimit"
	"github.com/rtgate/rtgate/internal/reqctx"
)

// FailureLimiter limits failed authentications per client (IPv4 address or
// IPv6 prefix): at most Max failures per Window, as a GCRA like the request
// limiter, so a client that keeps failing gets 429 before its credentials
// are even looked at. It is per instance (an attacker spread over N
// instances gets N times the budget, still bounded) and holds at most
// MaxKeys clients.
//
// A flood may only cost the flooders. A client with no failure on record is
// never refused unchecked, whatever others did: Blocked looks at the
// client's own record only. When the table is full (and nothing in it has
// drained), a failure from a client not in it is counted in one shared
// overflow budget instead; once that is spent, such failures are answered
// with 429 (Fail reports it) — after their credentials were checked, so a
// valid credential from a fresh address still passes. Flooding cannot reset
// an offender either: entries are never evicted before they drain.
type FailureLimiter struct {
	max        int
	interval   time.Duration // Window / Max
	window     time.Duration
	v6Prefix   int
	maxKeys    int
	now        func() time.Time
	mu         sync.Mutex
	tat        map[string]time.Time // theoretical arrival time per client
	overflow   time.Time            // the shared TAT of failures the table had no room for
	sweepAfter time.Time
}

// NewFailureLimiter returns a limiter of max failures per window, or nil
// (no limit) when max is 0. v6Prefix folds IPv6 clients (64 by default);
// maxKeys bounds the clients tracked (100,000 by default).
func NewFailureLimiter(max int, window time.Duration, v6Prefix, maxKeys int, now func() time.Time) *FailureLimiter {
	if max <= 0 || window <= 0 {
		return nil
	}
	if v6Prefix <= 0 {
		v6Prefix = ratelimit.DefaultIPv6Prefix
	}
	if maxKeys <= 0 {
		maxKeys = 100_000
	}
	if now == nil {
		now = time.Now
	}
	return &FailureLimiter{max: max, interval: window / time.Duration(max), window: window, v6Prefix: v6Prefix,
		maxKeys: maxKeys, now: now, tat: map[string]time.Time{}}
}

func (l *FailureLimiter) key(ip netip.Addr) string {
	k, err := ratelimit.IPKey(ip, l.v6Prefix)
	if err != nil {
		return "unknown" // an unresolved client shares one budget
	}
	return k
}

// over reports whether one more failure on tat would pass the budget, and
// how long until it would not.
func (l *FailureLimiter) over(tat, now time.Time) (bool, time.Duration) {
	// A failure now would move tat to max(tat, now)+interval; it is
	// allowed while that stays within one window of now.
	next := maxTime(tat, now).Add(l.interval)
	if next.Sub(now) <= l.window {
		return false, 0
	}
	return true, next.Add(-l.window).Sub(now)
}

// Blocked reports whether ip has used up its own failures, and how long
// until its next failure would be allowed again. A client without a
// failure on record is never blocked.
func (l *FailureLimiter) Blocked(ip netip.Addr) (bool, time.Duration) {
	if l == nil {
		return false, 0
	}
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	tat, ok := l.tat[l.key(ip)]
	if !ok {
		return false, 0
	}
	return l.over(tat, now)
}

// Fail records one failure of ip, in ip's own budget or, when the table
// has no room for ip, in the shared overflow budget. limited reports that
// this budget was already used up, so the failure could not be counted and
// the client is to be refused (429) for wait; exhausted that it is used up
// now (the next failure will be limited).
func (l *FailureLimiter) Fail(ip netip.Addr) (limited, exhausted bool, wait time.Duration) {
	if l == nil {
		return false, false, 0
	}
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	k := l.key(ip)
	tat, ok := l.tat[k]
	slot := func(t time.Time) { l.tat[k] = t }
	if !ok && len(l.tat) >= l.maxKeys {
		l.sweep(now)
		if len(l.tat) >= l.maxKeys {
			tat, slot = l.overflow, func(t time.Time) { l.overflow = t }
		}
	}
	if over, wait := l.over(tat, now); over {
		return true, true, wait
	}
	tat = maxTime(tat, now).Add(l.interval)
	slot(tat)
	exhausted, _ = l.over(tat, now)
	return false, exhausted, 0
}

// sweep drops clients whose failures have fully drained: such an entry is
// equivalent to no entry. At most once per interval.
func (l *FailureLimiter) sweep(now time.Time) {
	if now.Before(l.sweepAfter) {
		return
	}
	l.sweepAfter = now.Add(l.interval)
	for k, tat := range l.tat {
		if !tat.After(now) {
			delete(l.tat, k)
		}
	}
}

// Len returns the number of clients tracked.
func (l *FailureLimiter) Len() int {
	if l == nil {
		return 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.tat)
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// Metrics counts authentication outcomes. Labels are bounded: a reason
// from Reasons(), never a user or an address.
type Metrics struct {
	failures    *prometheus.CounterVec
	limited     prometheus.Counter
	unavailable prometheus.Counter
	jwks        *prometheus.CounterVec
	forward     *prometheus.CounterVec
}

// NewMetrics registers the auth collectors on reg.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "rtgate_auth_failures_total",
			Help: "Refused authentications (401) by reason."}, []string{"reason"}),
		limited: prometheus.NewCounter(prometheus.CounterOpts{Name: "rtgate_auth_failure_limited_total",
			Help: "Requests refused with 429 because their client failed authentication too often."}),
		unavailable: prometheus.NewCounter(prometheus.CounterOpts{Name: "rtgate_auth_unavailable_total",
			Help: "Requests refused with 503 because credentials could not be checked (JWKS or forward-auth service down)."}),
		jwks: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "rtgate_auth_jwks_fetches_total",
			Help: "JWKS fetches by outcome (ok, error)."}, []string{"outcome"}),
		forward: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "rtgate_auth_forward_calls_total",
			Help: "Forward-auth calls by outcome (admit, deny, error, cache_hit)."}, []string{"outcome"}),
	}
	for _, r := range Reasons() {
		m.failures.WithLabelValues(r)
	}
	for _, c := range []prometheus.Collector{m.failures, m.limited, m.unavailable, m.jwks, m.forward} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// JWKSFetch records one key-set fetch; pass it as JWKSOptions.OnFetch.
func (m *Metrics) JWKSFetch(err error) {
	if m == nil {
		return
	}
	if err != nil {
		m.jwks.WithLabelValues("error").Inc()
		return
	}
	m.jwks.WithLabelValues("ok").Inc()
}

// ForwardCall records one forward-auth outcome; pass it as ForwardOptions.OnCall.
func (m *Metrics) ForwardCall(outcome string) {
	if m != nil {
		m.forward.WithLabelValues(outcome).Inc()
	}
}

// Realm is the realm of the bearer challenge rtgate's clients are given.
const Realm = "rtgate"

// GuardOptions configures a Guard.
type GuardOptions struct {
	Verifier Verifier
	// Mode names the auth mode in audit lines ("jwt", "forward").
	Mode string
	// Bearer gives refused clients a bearer Challenge (RFC 6750).
	Bearer   bool
	Failures *FailureLimiter // nil: failures are not limited
	Metrics  *Metrics        // nil: nothing counted
	Logger   *slog.Logger
}

// Guard runs a Verifier with the policy every mode shares. It is safe for
// concurrent use.
type Guard struct {
	o   GuardOptions
	log *slog.Logger
}

// NewGuard returns a Guard.
func NewGuard(o GuardOptions) *Guard {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return &Guard{o: o, log: o.Logger}
}

// Authenticate returns the user id behind r, or why not: a *FailureLimited
// when r's client has failed too often (its credentials are not even
// checked), or when its failure could only be counted in the spent
// overflow budget (FailureLimiter), a *Failure for missing or refused credentials (with a Challenge
// in bearer mode), an *Unavailable when credentials cannot be checked right
// now. The client address and request id come from r's context (reqctx).
// Failures are counted and written as audit lines with their reason, never
// with the credential.
func (g *Guard) Authenticate(r *http.Request) (string, error) {
	ctx := r.Context()
	ip := reqctx.ClientIP(ctx)
	rid := reqctx.RequestID(ctx)
	if blocked, wait := g.o.Failures.Blocked(ip); blocked {
		if g.o.Metrics != nil {
			g.o.Metrics.limited.Inc()
		}
		g.log.LogAttrs(ctx, slog.LevelDebug, "auth failure limit: request refused unchecked", slog.String("event", "auth_failure_limited"),
			slog.String("request_id", rid), slog.String("client_ip", ip.String()))
		return "", &FailureLimited{RetryAfter: max(wait, time.Second)}
	}
	user, err := g.o.Verifier.Verify(r)
	if err == nil {
		return user, nil
	}
	var u *Unavailable
	if errors.As(err, &u) {
		if g.o.Metrics != nil {
			g.o.Metrics.unavailable.Inc()
		}
		g.log.LogAttrs(ctx, slog.LevelError, "authentication unavailable", slog.String("event", "auth_unavailable"),
			slog.String("request_id", rid), slog.String("mode", g.o.Mode), slog.String("error", u.Err.Error()))
		return "", u
	}
	var f *Failure
	if errors.As(err, &f) {
		f = &Failure{Reason: f.Reason, Err: f.Err} // the verifier's stays untouched
	} else {
		f = &Failure{Reason: ReasonInvalid, Err: err}
	}
	if g.o.Metrics != nil {
		g.o.Metrics.failures.WithLabelValues(f.Reason).Inc()
	}
	attrs := []slog.Attr{slog.String("event", "auth_failure"), slog.String("request_id", rid), slog.String("mode", g.o.Mode),
		slog.String("reason", f.Reason), slog.String("client_ip", ip.String())}
	if f.Err != nil {
		attrs = append(attrs, slog.String("detail", f.Err.Error()))
	}
	g.log.LogAttrs(ctx, slog.LevelWarn, "auth failure", attrs...)
	limited, exhausted, wait := g.o.Failures.Fail(ip)
	if exhausted && !limited {
		g.log.LogAttrs(ctx, slog.LevelWarn, "auth failures from one client over the limit: refusing it for a while",
			slog.String("event", "auth_failure_limit_reached"), slog.String("request_id", rid), slog.String("client_ip", ip.String()))
	}
	if limited {
		// Its budget was spent already (the shared overflow one, or its own
		// by a concurrent failure): the credentials were checked and wrong.
		if g.o.Metrics != nil {
			g.o.Metrics.limited.Inc()
		}
		return "", &FailureLimited{RetryAfter: max(wait, time.Second)}
	}
	if g.o.Bearer {
		f.Challenge = &Challenge{Scheme: "Bearer", Realm: Realm}
		if f.Reason != ReasonMissing {
			f.Challenge.Error = "invalid_token"
		}
	}
	return "", f
}
