package users

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rtgate/rtgate/internal/ratelimit"
	"github.com/rtgate/rtgate/internal/reqctx"
	"github.com/rtgate/rtgate/internal/usage"
)

// RateLimiter decides the per-user rate limit (USER_RATE_LIMIT_*);
// *ratelimit.Limiter implements it.
type RateLimiter interface {
	AllowUser(ctx context.Context, user string) (ratelimit.Decision, error)
}

// Options configures a Manager.
type Options struct {
	Store  Store
	Limits Limits
	// RateLimiter, when set, applies the per-user rate limit after the
	// quota and the active cap.
	RateLimiter RateLimiter
	// Retention (DATA_RETENTION_DAYS) is how long records are kept.
	Retention time.Duration
	// PendingTTL is how long an admission holds its active slot before the
	// mint is recorded; a reservation whose mint never completes lapses
	// after it. Default one minute.
	PendingTTL time.Duration
	// IPHashKey keys ClientIPHash (IP_HASH_SECRET); a random key for this
	// process when empty.
	IPHashKey []byte
	// SafetyKey keys SafetyID (SAFETY_ID_SECRET); a random key for this
	// process when empty (safety identifiers then change on restart).
	SafetyKey []byte
	// Registerer, when set, receives the Manager's two metrics:
	// rtgate_user_refusals_total{reason} and
	// rtgate_user_data_erasures_total{by}.
	Registerer prometheus.Registerer
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// Logger receives audit events; discarded when nil.
	Logger *slog.Logger
}

// Manager applies the per-user policy over a Store: admission with
// reservations, records with truncated and hashed client addresses, export,
// erasure, blocking and retention. It is safe for concurrent use.
type Manager struct {
	o        Options
	log      *slog.Logger
	refusals *prometheus.CounterVec
	erasures *prometheus.CounterVec
	// safety and ipHash are SafetyID's and the records' client address
	// hash under the configured keys, their hashers pooled.
	safety, ipHash *keyedHash
}

// NewManager validates o, registers the metrics and returns a Manager.
func NewManager(o Options) (*Manager, error) {
	if o.Store == nil {
		return nil, errors.New("users: a store is required")
	}
	if o.Retention <= 0 {
		return nil, errors.New("users: retention must be positive")
	}
	if o.PendingTTL <= 0 {
		o.PendingTTL = time.Minute
	}
	if len(o.IPHashKey) == 0 {
		o.IPHashKey = randomKey()
	}
	if len(o.SafetyKey) == 0 {
		o.SafetyKey = randomKey()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	m := &Manager{o: o, log: o.Logger,
		refusals: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "rtgate_user_refusals_total",
			Help: "Authenticated requests refused by per-user controls, by reason (blocked, active_sessions, daily_quota, rate_limit)."}, []string{"reason"}),
		erasures: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "rtgate_user_data_erasures_total",
			Help: "User data erasures, by who asked (user, operator)."}, []string{"by"}),
	}
	for _, r := range []string{ReasonBlocked, ReasonActiveSessions, ReasonDailyQuota, ReasonRateLimit} {
		m.refusals.WithLabelValues(r)
	}
	m.safety, m.ipHash = newKeyedHash(o.SafetyKey), newKeyedHash(o.IPHashKey)
	if o.Registerer != nil {
		for _, c := range []prometheus.Collector{m.refusals, m.erasures} {
			if err := o.Registerer.Register(c); err != nil {
				return nil, err
			}
		}
	}
	return m, nil
}

func randomKey() []byte {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return b
}

// SafetyID is the OpenAI-Safety-Identifier for user: HMAC-SHA256 under key,
// 32 hex digits. Stable per user and key; the raw id never leaves rtgate.
func SafetyID(key []byte, user string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(user))
	return hex.EncodeToString(m.Sum(nil)[:16])
}

// ErrUnavailable is wrapped by every error of a Manager whose cause is that
// the per-user state (or the per-user rate limiter) could not be read or
// written. Admission fails closed on it: the limits are about money.
var ErrUnavailable = errors.New("users: state unavailable")

func unavailable(err error) error { return fmt.Errorf("%w: %w", ErrUnavailable, err) }

// Refusal reasons: the values of the reason label, a fixed set.
const (
	ReasonBlocked        = "blocked"         // an operator blocked the user
	ReasonActiveSessions = "active_sessions" // USER_MAX_ACTIVE_SESSIONS reached
	ReasonDailyQuota     = "daily_quota"     // USER_DAILY_QUOTA used up
	ReasonRateLimit      = "rate_limit"      // the per-user rate limit said no
)

// Refusal is an admission refused by policy. RetryAfter, when positive, is
// when trying again may succeed (the rate limit's own wait travels in the
// Admission's RateLimit decision instead).
type Refusal struct {
	Reason     string // one of the Reason constants
	RetryAfter time.Duration
}

func (r *Refusal) Error() string { return "user " + r.Reason }

// Reservation names one admission; Record, Release or End it. Its zero
// value is no reservation.
type Reservation string

func newReservation(now time.Time) Reservation {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return Reservation(strconv.FormatInt(now.UnixMilli(), 10) + "." + hex.EncodeToString(b[:]))
}

// at is the admission time encoded in r.
func (r Reservation) at() (time.Time, bool) {
	ms, _, ok := strings.Cut(string(r), ".")
	if !ok {
		return time.Time{}, false
	}
	n, err := strconv.ParseInt(ms, 10, 64)
	if err != nil {
		return time.Time{}, false
	}
	return time.UnixMilli(n), true
}

// Admission is an admitted user's pass through stage 10.
type Admission struct {
	User string
	// SafetyID is the user's OpenAI-Safety-Identifier (see SafetyID).
	SafetyID string
	// Reservation holds the user's active-session slot and the day's count
	// until Record, Release or End consumes it.
	Reservation Reservation
	// RateLimit is the per-user rate-limit decision, when one was taken:
	// the caller sends its headers. It is set on a rate_limit refusal too.
	RateLimit *ratelimit.Decision
}

// Admit checks user against the block list, the daily quota, the active
// cap and the per-user rate limit, in that order, and on success reserves
// an active slot and counts one for the day. A refusal is a *Refusal (and
// is counted and logged as an audit event); a store or limiter failure
// wraps ErrUnavailable. On a rate_limit refusal the returned Admission
// carries the RateLimit decision and nothing else.
func (m *Manager) Admit(ctx context.Context, user string) (Admission, error) {
	now := m.o.Now()
	res := newReservation(now)
	d, err := m.o.Store.Admit(ctx, user, now, m.o.Limits, string(res), now.Add(m.o.PendingTTL))
	if err != nil {
		return Admission{}, unavailable(err)
	}
	switch d.Outcome {
	case Blocked:
		return Admission{}, m.refuse(ctx, user, ReasonBlocked, 0)
	case OverActiveCap, OverDailyQuota:
		return Admission{}, m.refuse(ctx, user, d.Outcome.String(), max(d.RetryAfter, time.Second))
	}
	a := Admission{User: user, SafetyID: m.safety.hex16(user), Reservation: res} // SafetyID(m.o.SafetyKey, user)
	if m.o.RateLimiter == nil {
		return a, nil
	}
	rd, err := m.o.RateLimiter.AllowUser(ctx, user)
	if err != nil {
		m.giveBack(ctx, user, res)
		return Admission{}, unavailable(err)
	}
	if !rd.Allowed {
		m.giveBack(ctx, user, res)
		return Admission{RateLimit: &rd}, m.refuse(ctx, user, ReasonRateLimit, 0)
	}
	a.RateLimit = &rd
	return a, nil
}

// giveBack releases a reservation Admit made but will not hand out.
func (m *Manager) giveBack(ctx context.Context, user string, res Reservation) {
	if err := m.Release(context.WithoutCancel(ctx), user, res); err != nil {
		m.log.Error("session release failed", "request_id", reqctx.RequestID(ctx), "error", err.Error())
	}
}

func (m *Manager) refuse(ctx context.Context, user, reason string, retry time.Duration) *Refusal {
	m.refusals.WithLabelValues(reason).Inc()
	event, msg := "quota_hit", "user quota hit"
	if reason == ReasonBlocked {
		event, msg = "blocked_user_refused", "blocked user refused"
	}
	m.log.LogAttrs(ctx, slog.LevelWarn, msg, slog.String("event", event), slog.String("request_id", reqctx.RequestID(ctx)),
		slog.String("user", user), slog.String("reason", reason))
	return &Refusal{Reason: reason, RetryAfter: retry}
}

// Session kinds.
const (
	// KindToken is a minted ephemeral secret: ExpiresAt is the secret's
	// expiry. Its slot lasts until then and no longer: rtgate cannot see
	// whether the secret was ever used, nor when a session it opened ends,
	// so the slot covers what rtgate knows, a secret that can still open
	// sessions (see Record).
	KindToken = "token"
	// KindCall is a call rtgate set up itself (SDP proxy): ExpiresAt is
	// the call's own deadline.
	KindCall = "call"
)

// Session is what the caller knows of a minted session.
type Session struct {
	// SessionID is the id the user knows the session by (Record.SessionID).
	SessionID string
	// UpstreamID is OpenAI's id of a proxied call, for operators.
	UpstreamID string
	Kind       string // KindToken or KindCall
	Model      string
	CreatedAt  time.Time
	ExpiresAt  time.Time
}

// Record keeps the record of a session minted under reservation res for a
// client at ip (the zero Addr when unknown): the reservation's slot now
// lasts until s.ExpiresAt. For a call that is its deadline (and End frees
// it earlier, at the hang-up); for a token it is the secret's expiry, so
// USER_MAX_ACTIVE_SESSIONS bounds the secrets a user holds at once, not the
// sessions they opened: those rtgate cannot see in token mode, and holding
// a slot for a session that may never have started (a reloaded page) would
// lock a user out for an hour after a few reloads.
func (m *Manager) Record(ctx context.Context, user string, res Reservation, s Session, ip netip.Addr) error {
	if res == "" {
		// Admitted without a reservation is a programming error; keep the
		// record anyway under a fresh name so the cap still counts it.
		res = newReservation(m.o.Now())
	}
	rec := Record{
		UserID: user, SessionID: s.SessionID, UpstreamID: s.UpstreamID, Kind: s.Kind, Model: s.Model,
		CreatedAt: s.CreatedAt.UTC(), ExpiresAt: s.ExpiresAt.UTC(),
		ActiveUntil: s.ExpiresAt.UTC(),
	}
	rec.ClientNet, rec.ClientIPHash = m.clientIP(ip)
	if err := m.o.Store.Commit(ctx, user, string(res), rec, m.o.Now(), m.o.Retention); err != nil {
		return unavailable(err)
	}
	return nil
}

// AddUsage adds delta to the usage of user's record of the session
// sessionID (a proxied call's rtgate id). A session without a record keeps
// nothing.
func (m *Manager) AddUsage(ctx context.Context, user, sessionID string, delta usage.Usage) error {
	if err := m.o.Store.AddUsage(ctx, user, sessionID, delta, m.o.Now(), m.o.Retention); err != nil {
		return unavailable(err)
	}
	return nil
}

// Release gives back a reservation whose mint failed: its slot and its
// count for the day.
func (m *Manager) Release(ctx context.Context, user string, res Reservation) error {
	if res == "" {
		return nil
	}
	at, ok := res.at()
	if !ok {
		return errors.New("users: malformed reservation")
	}
	if err := m.o.Store.Release(ctx, user, string(res), at); err != nil {
		return unavailable(err)
	}
	return nil
}

// End frees the active slot of a session that ended early (a hung-up
// call); the day's count and the record stay.
func (m *Manager) End(ctx context.Context, user string, res Reservation) error {
	if res == "" {
		return nil
	}
	if err := m.o.Store.End(ctx, user, string(res)); err != nil {
		return unavailable(err)
	}
	return nil
}

// clientIP returns the client's network (IPv4 /24, IPv6 /48) and a keyed
// hash of the full address.
func (m *Manager) clientIP(ip netip.Addr) (network, hash string) {
	if !ip.IsValid() {
		return "", ""
	}
	ip = ip.Unmap().WithZone("")
	bits := 24
	if ip.Is6() {
		bits = 48
	}
	p, _ := ip.Prefix(bits)
	a := ip.As16()
	if ip.Is4() {
		return p.String(), m.ipHash.hex16(string(a[12:]))
	}
	return p.String(), m.ipHash.hex16(string(a[:]))
}

// Export returns everything kept about user.
func (m *Manager) Export(ctx context.Context, user string) (UserData, error) {
	d, err := m.o.Store.Data(ctx, user, m.o.Now(), m.o.Retention)
	if err != nil {
		return d, unavailable(err)
	}
	return d, nil
}

// ActiveSessions returns user's records still counting as active, and the
// number of active slots (including admissions not yet recorded).
func (m *Manager) ActiveSessions(ctx context.Context, user string) (UserData, error) {
	now := m.o.Now()
	d, err := m.o.Store.Data(ctx, user, now, m.o.Retention)
	if err != nil {
		return d, unavailable(err)
	}
	active := []Record{}
	for _, r := range d.Sessions {
		if r.ActiveUntil.After(now) {
			active = append(active, r)
		}
	}
	d.Sessions = active
	return d, nil
}

// ErasedBy says who asked for an erasure.
type ErasedBy string

// Who may erase a user's data.
const (
	// ByUser is self-service erasure: the quota and active counters stay
	// until they lapse, so erasing cannot reset a limit.
	ByUser ErasedBy = "user"
	// ByOperator is an operator's erasure: counters are reset too.
	ByOperator ErasedBy = "operator"
)

// Erasure is the answer to an erasure: what went, and what stayed and why.
type Erasure struct {
	UserID   string            `json:"user_id"`
	Erased   Erased            `json:"erased"`
	Retained map[string]string `json:"retained"`
}

// Erase deletes user's records (and, ByOperator, the counters). A block
// always survives.
func (m *Manager) Erase(ctx context.Context, user string, by ErasedBy) (Erasure, error) {
	e, err := m.o.Store.Erase(ctx, user, m.o.Now(), by == ByOperator)
	if err != nil {
		return Erasure{}, unavailable(err)
	}
	m.erasures.WithLabelValues(string(by)).Inc()
	m.log.LogAttrs(ctx, slog.LevelInfo, "user data erased", slog.String("event", "data_erased"),
		slog.String("user", user), slog.String("by", string(by)), slog.Int("sessions", e.Sessions), slog.Bool("counters", e.Counters))
	out := Erasure{UserID: user, Erased: e, Retained: map[string]string{
		"block": "an operator's block on the account, if any, stays until an operator lifts it",
	}}
	if !e.Counters {
		out.Retained["usage_counters"] = "today's mint count and the active-session slots stay until they lapse (the next UTC midnight; the end of each session), so erasing cannot reset a limit; they hold no session details"
	}
	return out, nil
}

// Block blocks user: every later admission is refused.
func (m *Manager) Block(ctx context.Context, user, reason string) (Block, error) {
	b := Block{Reason: reason, Since: m.o.Now().UTC()}
	if err := m.o.Store.SetBlock(ctx, user, b); err != nil {
		return b, unavailable(err)
	}
	m.log.LogAttrs(ctx, slog.LevelWarn, "user blocked", slog.String("event", "user_blocked"), slog.String("user", user), slog.String("reason", reason))
	return b, nil
}

// Unblock lifts a block and reports whether there was one.
func (m *Manager) Unblock(ctx context.Context, user string) (bool, error) {
	ok, err := m.o.Store.Unblock(ctx, user)
	if err != nil {
		return false, unavailable(err)
	}
	m.log.LogAttrs(ctx, slog.LevelWarn, "user unblocked", slog.String("event", "user_unblocked"), slog.String("user", user), slog.Bool("was_blocked", ok))
	return ok, nil
}

// Run sweeps a Memory store once a minute until ctx ends; for other
// stores (whose keys expire by themselves) it returns at once.
func (m *Manager) Run(ctx context.Context) {
	mem, ok := m.o.Store.(*Memory)
	if !ok {
		return
	}
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			mem.Sweep(m.o.Now(), m.o.Retention)
		}
	}
}
