package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/netip"
)

// Scopes of a decision; also the policy names in the draft headers.
const (
	ScopeIP   = "ip"
	ScopeUser = "user"
)

// Options configures New.
type Options struct {
	// IP is RATE_LIMIT_MAX_REQUESTS per RATE_LIMIT_WINDOW_MS per client IP;
	// a zero Limit switches per-IP limiting off.
	IP Policy
	// User is USER_RATE_LIMIT_MAX_REQUESTS per USER_RATE_LIMIT_WINDOW_MS per
	// authenticated user; a zero Limit switches it off.
	User Policy
	// IPv6Prefix is the prefix length IPv6 clients are folded to
	// (RATE_LIMIT_IPV6_PREFIX, 1..128); DefaultIPv6Prefix when zero.
	IPv6Prefix int
	// Whitelist holds the client prefixes that are never limited
	// (RATE_LIMIT_WHITELIST), matched on the resolved client IP.
	Whitelist []netip.Prefix
	// Shadow (RATE_LIMIT_SHADOW) decides, logs and counts as usual but
	// admits requests over the limit, marking them Decision.Shadowed.
	Shadow bool
	// Headers selects the response header fields (RATE_LIMIT_HEADERS);
	// HeadersBoth when empty.
	Headers HeaderMode
	// Store holds the counters: a *Memory, a *Redis, or a *Fallback around
	// them. Required when any policy is enabled.
	Store Store
	// Logger receives shadow denials and store errors; discarded when nil.
	// Keys, IPs and user ids are never logged.
	Logger *slog.Logger
	// Metrics records decisions; nil records nothing.
	Metrics *Metrics
	// Rand returns a float in [0,1) for Retry-After jitter; math/rand/v2's
	// Float64 when nil.
	Rand func() float64
}

// Limiter applies the per-IP and per-user policies. It is safe for
// concurrent use.
type Limiter struct {
	ip, user  Policy
	v6Prefix  int
	whitelist []netip.Prefix
	shadow    bool
	headers   HeaderMode
	store     Store
	// mem is store when it is a *Memory: per-IP decisions then go straight
	// to it with a fixed-size key, building no key string.
	mem        *Memory
	ipInterval int64 // emissionInterval(ip), when ip is enabled
	log        *slog.Logger
	metrics    *Metrics
	rand       func() float64
	hdr        [numScopes]scopeHeaders // pre-rendered header values
}

// New validates o and returns a Limiter.
func New(o Options) (*Limiter, error) {
	var errs []error
	if err := o.IP.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("ip policy: %w", err))
	}
	if err := o.User.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("user policy: %w", err))
	}
	if o.IPv6Prefix == 0 {
		o.IPv6Prefix = DefaultIPv6Prefix
	}
	if o.IPv6Prefix < 1 || o.IPv6Prefix > 128 {
		errs = append(errs, fmt.Errorf("ratelimit: IPv6 prefix length %d out of range 1..128", o.IPv6Prefix))
	}
	if o.Headers == "" {
		o.Headers = HeadersBoth
	}
	if _, err := ParseHeaderMode(string(o.Headers)); err != nil {
		errs = append(errs, err)
	}
	if o.Store == nil && (o.IP.Enabled() || o.User.Enabled()) {
		errs = append(errs, errors.New("ratelimit: a store is required"))
	}
	for _, p := range o.Whitelist {
		if !p.IsValid() {
			errs = append(errs, fmt.Errorf("ratelimit: invalid whitelist prefix %v", p))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if o.Rand == nil {
		o.Rand = rand.Float64
	}
	wl := make([]netip.Prefix, len(o.Whitelist))
	for i, p := range o.Whitelist {
		wl[i] = unmapPrefix(p)
	}
	l := &Limiter{
		ip: o.IP, user: o.User, v6Prefix: o.IPv6Prefix, whitelist: wl,
		shadow: o.Shadow, headers: o.Headers, store: o.Store, log: o.Logger,
		metrics: o.Metrics, rand: o.Rand,
	}
	l.hdr[scopeIP].init(ScopeIP, o.IP)
	l.hdr[scopeUser].init(ScopeUser, o.User)
	l.mem, _ = o.Store.(*Memory)
	if o.IP.Enabled() {
		l.ipInterval = emissionInterval(o.IP)
	}
	return l, nil
}

// unmapPrefix turns an IPv4-mapped IPv6 prefix (::ffff:a.b.c.d/n, n >= 96)
// into the IPv4 prefix, since addresses are unmapped before matching.
func unmapPrefix(p netip.Prefix) netip.Prefix {
	if a := p.Addr(); a.Is4In6() && p.Bits() >= 96 {
		return netip.PrefixFrom(a.Unmap(), p.Bits()-96).Masked()
	}
	return p.Masked()
}

// Whitelisted reports whether client address a is in RATE_LIMIT_WHITELIST.
func (l *Limiter) Whitelisted(a netip.Addr) bool {
	if len(l.whitelist) == 0 {
		return false
	}
	a = Unmap(a)
	for _, p := range l.whitelist {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// AllowIP decides one request from client address ip (already resolved
// through trusted proxies). A whitelisted address or a disabled IP policy
// gives Decision{Allowed: true, Skipped: true}. IPv4-mapped IPv6 counts as
// IPv4 and IPv6 is folded to its IPv6Prefix. An invalid address is an error
// (ErrInvalidAddr) and never a key. A store error is returned as is (wrap
// the store in a Fallback to apply RATE_LIMIT_REDIS_FAILURE).
//
// With a *Memory store the decision builds no key string and allocates
// nothing; its entries are those the store would hold under IPKey strings.
func (l *Limiter) AllowIP(ctx context.Context, ip netip.Addr) (d Decision, err error) {
	if !ip.IsValid() {
		l.metrics.decision(scopeIP, outcomeError)
		return Decision{Scope: ScopeIP}, ErrInvalidAddr
	}
	if !l.ip.Enabled() || l.Whitelisted(ip) {
		l.metrics.decision(scopeIP, outcomeSkipped)
		return Decision{Allowed: true, Skipped: true, Scope: ScopeIP}, nil
	}
	if l.mem != nil {
		l.mem.allowAddr(addrKeyOf(ip, l.v6Prefix), l.ip, l.ipInterval, &d)
		l.outcome(ctx, scopeIP, &d, l.ip)
		return d, nil
	}
	key, err := IPKey(ip, l.v6Prefix)
	if err != nil {
		l.metrics.decision(scopeIP, outcomeError)
		return Decision{Scope: ScopeIP}, err
	}
	return l.decide(ctx, scopeIP, key, l.ip)
}

// AllowUser decides one request from an authenticated user; the auth layer
// calls it after authentication. A disabled user policy gives
// Decision{Allowed: true, Skipped: true}; an empty user id is an error.
func (l *Limiter) AllowUser(ctx context.Context, userID string) (Decision, error) {
	if !l.user.Enabled() {
		l.metrics.decision(scopeUser, outcomeSkipped)
		return Decision{Allowed: true, Skipped: true, Scope: ScopeUser}, nil
	}
	key, err := UserKey(userID)
	if err != nil {
		l.metrics.decision(scopeUser, outcomeError)
		return Decision{Scope: ScopeUser}, err
	}
	return l.decide(ctx, scopeUser, key, l.user)
}

func (l *Limiter) decide(ctx context.Context, sc scope, key string, p Policy) (Decision, error) {
	d, err := l.store.Allow(ctx, key, p)
	if err != nil {
		d.Scope = scopeNames[sc]
		l.metrics.decision(sc, outcomeError)
		l.log.LogAttrs(ctx, slog.LevelError, "rate limit store error", slog.String("scope", d.Scope), slog.Any("err", err))
		return d, fmt.Errorf("ratelimit: %s: %w", d.Scope, err)
	}
	l.outcome(ctx, sc, &d, p)
	return d, nil
}

// outcome stamps the scope on a store's decision, applies shadow mode, and
// counts and logs it.
func (l *Limiter) outcome(ctx context.Context, sc scope, d *Decision, p Policy) {
	d.Scope = scopeNames[sc]
	switch {
	case d.Skipped:
		l.metrics.decision(sc, outcomeSkipped)
	case d.Allowed:
		l.metrics.decision(sc, outcomeAllowed)
	case l.shadow:
		l.metrics.decision(sc, outcomeShadowDenied)
		l.logExceeded(ctx, slog.LevelInfo, "rate limit exceeded (shadow mode, request admitted)", d, p)
		d.Allowed, d.Shadowed = true, true
	default:
		l.metrics.decision(sc, outcomeDenied)
		l.logExceeded(ctx, slog.LevelDebug, "rate limit exceeded", d, p)
	}
}

func (l *Limiter) logExceeded(ctx context.Context, level slog.Level, msg string, d *Decision, p Policy) {
	if !l.log.Enabled(ctx, level) {
		return
	}
	l.log.LogAttrs(ctx, level, msg,
		slog.String("scope", d.Scope), slog.Int("limit", p.Limit), slog.Duration("window", p.Window),
		slog.Duration("retry_after", d.RetryAfter))
}
