package session

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
)

// Options configures a Manager.
type Options struct {
	Store  Store
	Limits Limits
	// SessionMax is the realtime session's maximum duration
	// (USER_SESSION_MAX_SECONDS): a session counts as active until its
	// secret's expiry plus SessionMax.
	SessionMax time.Duration
	// Retention (DATA_RETENTION_DAYS) is how long records are kept.
	Retention time.Duration
	// PendingTTL is how long an admission holds its active slot before the
	// mint is recorded; a reservation whose mint never completes lapses
	// after it. Default one minute.
	PendingTTL time.Duration
	// IPHashKey keys ClientIPHash (IP_HASH_SECRET). Required.
	IPHashKey []byte
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// Logger receives audit events; discarded when nil.
	Logger *slog.Logger
}

// Manager applies the per-user policy over a Store: admission with
// reservations, records with truncated and hashed client addresses, export,
// erasure, blocking and retention. It is safe for concurrent use.
type Manager struct {
	o   Options
	log *slog.Logger
}

// NewManager validates o and returns a Manager.
func NewManager(o Options) (*Manager, error) {
	if o.Store == nil {
		return nil, errors.New("session: a store is required")
	}
	if len(o.IPHashKey) == 0 {
		return nil, errors.New("session: an IP hash key is required")
	}
	if o.Retention <= 0 {
		return nil, errors.New("session: retention must be positive")
	}
	if o.PendingTTL <= 0 {
		o.PendingTTL = time.Minute
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return &Manager{o: o, log: o.Logger}, nil
}

// Reservation names one admission; Commit or Release it. Its zero value
// is no reservation.
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

// Admit checks user against the block list, the daily quota and the
// active cap, and on success reserves a slot. The Decision says why a user
// was refused; the Reservation is empty then.
func (m *Manager) Admit(ctx context.Context, user string) (Decision, Reservation, error) {
	now := m.o.Now()
	res := newReservation(now)
	d, err := m.o.Store.Admit(ctx, user, now, m.o.Limits, string(res), now.Add(m.o.PendingTTL))
	if err != nil {
		return Decision{}, "", err
	}
	if d.Outcome != Admitted {
		return d, "", nil
	}
	return d, res, nil
}

// Session kinds.
const (
	// KindToken is a minted ephemeral secret: ExpiresAt is the secret's
	// expiry, and the session it opens may run SessionMax beyond it.
	KindToken = "token"
	// KindCall is a call rtgate set up itself (SDP proxy): ExpiresAt is
	// the call's own deadline.
	KindCall = "call"
)

// Session is what the caller knows of a minted session.
type Session struct {
	SessionID string
	Kind      string // KindToken or KindCall
	Model     string
	CreatedAt time.Time
	ExpiresAt time.Time
}

// Commit records a session minted under reservation res for a client at
// ip (the zero Addr when unknown).
func (m *Manager) Commit(ctx context.Context, user string, res Reservation, s Session, ip netip.Addr) error {
	if res == "" {
		// Admitted without a reservation is a programming error; keep the
		// record anyway under a fresh name so the cap still counts it.
		res = newReservation(m.o.Now())
	}
	rec := Record{
		UserID: user, SessionID: s.SessionID, Kind: s.Kind, Model: s.Model,
		CreatedAt: s.CreatedAt.UTC(), ExpiresAt: s.ExpiresAt.UTC(),
		ActiveUntil: s.ExpiresAt.Add(m.o.SessionMax).UTC(),
	}
	if s.Kind == KindCall {
		// A call's expiry is the live session's own deadline.
		rec.ActiveUntil = rec.ExpiresAt
	}
	rec.ClientNet, rec.ClientIPHash = m.clientIP(ip)
	return m.o.Store.Commit(ctx, user, string(res), rec, m.o.Now(), m.o.Retention)
}

// Release gives back a reservation whose mint failed.
func (m *Manager) Release(ctx context.Context, user string, res Reservation) error {
	if res == "" {
		return nil
	}
	at, ok := res.at()
	if !ok {
		return fmt.Errorf("session: malformed reservation")
	}
	return m.o.Store.Release(ctx, user, string(res), at)
}

// End frees the active slot of a session that ended early (a hung-up
// call); the day's count and the record stay.
func (m *Manager) End(ctx context.Context, user string, res Reservation) error {
	if res == "" {
		return nil
	}
	return m.o.Store.End(ctx, user, string(res))
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
	mac := hmac.New(sha256.New, m.o.IPHashKey)
	mac.Write(ip.AsSlice())
	return p.String(), hex.EncodeToString(mac.Sum(nil)[:16])
}

// Export returns everything kept about user.
func (m *Manager) Export(ctx context.Context, user string) (UserData, error) {
	return m.o.Store.Data(ctx, user, m.o.Now(), m.o.Retention)
}

// ActiveSessions returns user's records still counting as active, and the
// number of active slots (including admissions not yet recorded).
func (m *Manager) ActiveSessions(ctx context.Context, user string) (UserData, error) {
	now := m.o.Now()
	d, err := m.o.Store.Data(ctx, user, now, m.o.Retention)
	if err != nil {
		return d, err
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

// Erase deletes user's records; by is "user" (self-service: the quota and
// active counters stay until they lapse, so erasing cannot reset a limit)
// or "operator" (counters reset too). A block always survives.
func (m *Manager) Erase(ctx context.Context, user, by string) (Erased, error) {
	e, err := m.o.Store.Erase(ctx, user, m.o.Now(), by == "operator")
	if err != nil {
		return e, err
	}
	m.log.LogAttrs(ctx, slog.LevelInfo, "user data erased", slog.String("event", "data_erased"),
		slog.String("user", user), slog.String("by", by), slog.Int("sessions", e.Sessions), slog.Bool("counters", e.Counters))
	return e, nil
}

// Block blocks user: every later admission is refused.
func (m *Manager) Block(ctx context.Context, user, reason string) (Block, error) {
	b := Block{Reason: reason, Since: m.o.Now().UTC()}
	if err := m.o.Store.SetBlock(ctx, user, b); err != nil {
		return b, err
	}
	m.log.LogAttrs(ctx, slog.LevelWarn, "user blocked", slog.String("event", "user_blocked"), slog.String("user", user), slog.String("reason", reason))
	return b, nil
}

// Unblock lifts a block and reports whether there was one.
func (m *Manager) Unblock(ctx context.Context, user string) (bool, error) {
	ok, err := m.o.Store.Unblock(ctx, user)
	if err == nil {
		m.log.LogAttrs(ctx, slog.LevelWarn, "user unblocked", slog.String("event", "user_unblocked"), slog.String("user", user), slog.Bool("was_blocked", ok))
	}
	return ok, err
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
