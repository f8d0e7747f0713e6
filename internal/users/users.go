// Package session keeps rtgate's per-user state: the active-session cap,
// the daily mint quota (per UTC day), the block list, and one record per
// minted token or call — who, which upstream session, which model, when,
// and the client's network (truncated and keyed-hashed), never the secret
// and never conversation content. Records older than the retention period
// are deleted; users can export and erase what is kept about them.
//
// A Store holds the state; Memory is the single-instance default and Redis
// makes the counts global across instances. Both pass the one contract
// suite in userstest.
package users

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/rtgate/rtgate/internal/usage"
)

// Record is what rtgate keeps about one mint or call.
type Record struct {
	UserID string `json:"user_id"`
	// SessionID is the id the user knows the session by: OpenAI's session
	// id for a minted token (the browser saw it), rtgate's call id for a
	// proxied call.
	SessionID string `json:"session_id"`
	// UpstreamID is OpenAI's id of a proxied call or Live session, for
	// operators only: UserData.ForUser removes it.
	UpstreamID string    `json:"upstream_id,omitempty"`
	Kind       string    `json:"kind"`
	Model      string    `json:"model"`
	CreatedAt  time.Time `json:"created_at"`
	// ExpiresAt is when the ephemeral secret expires.
	ExpiresAt time.Time `json:"expires_at"`
	// ActiveUntil is until when the session counts against the active cap:
	// a token's expiry (what rtgate can know of a secret), a call's
	// deadline (a hang-up frees it earlier).
	ActiveUntil time.Time `json:"active_until"`
	// ClientNet is the client's network: the IPv4 /24 or IPv6 /48.
	ClientNet string `json:"client_net,omitempty"`
	// ClientIPHash is a keyed hash (HMAC-SHA256, IP_HASH_SECRET) of the
	// full client address: an operator holding the key can check whether a
	// given address was this client, nobody can read the address back.
	ClientIPHash string `json:"client_ip_hash,omitempty"`
	// Usage is what a proxied call consumed upstream, as its sideband
	// reported it (Store.AddUsage); zero for a token, which rtgate cannot
	// meter.
	Usage usage.Usage `json:"usage,omitzero"`
}

// Limits are the per-user caps; zero switches one off.
type Limits struct {
	MaxActive  int // USER_MAX_ACTIVE_SESSIONS
	DailyQuota int // USER_DAILY_QUOTA, mints per UTC day
}

// Outcome is the result of an admission.
type Outcome int

// Admission outcomes.
const (
	Admitted Outcome = iota
	Blocked
	OverActiveCap
	OverDailyQuota
)

func (o Outcome) String() string {
	switch o {
	case Admitted:
		return "admitted"
	case Blocked:
		return "blocked"
	case OverActiveCap:
		return "active_sessions"
	case OverDailyQuota:
		return "daily_quota"
	}
	return "unknown"
}

// Decision is a store's answer to Admit.
type Decision struct {
	Outcome Outcome
	// Active is the number of active sessions, including the one just
	// admitted.
	Active int
	// UsedToday is the number of mints counted today (UTC), including the
	// one just admitted.
	UsedToday int
	// RetryAfter is, for OverActiveCap, the time until the earliest active
	// session ends; for OverDailyQuota, the time until the next UTC midnight.
	RetryAfter time.Duration
}

// Block is an operator's block on a user.
type Block struct {
	Reason string    `json:"reason,omitempty"`
	Since  time.Time `json:"since"`
}

// UserData is everything rtgate holds about one user.
type UserData struct {
	UserID string `json:"user_id"`
	// Blocked is set when an operator blocked the user.
	Blocked *Block `json:"blocked,omitempty"`
	// Sessions are the user's records, oldest first, within retention.
	Sessions []Record `json:"sessions"`
	// ActiveSessions counts sessions (and admissions not yet recorded)
	// that still count against USER_MAX_ACTIVE_SESSIONS.
	ActiveSessions int `json:"active_sessions"`
	// UsedToday is the number of mints counted today (UTC).
	UsedToday int `json:"used_today"`
	// Usage is the sum of the Sessions' usage.
	Usage usage.Usage `json:"usage"`
}

// ForUser returns d as the user may see it: without the upstream ids of
// their calls, which only operators need.
func (d UserData) ForUser() UserData {
	d.Sessions = slices.Clone(d.Sessions)
	for i := range d.Sessions {
		d.Sessions[i].UpstreamID = ""
	}
	return d
}

// sumUsage sets d.Usage to the sum of its records' usage.
func (d *UserData) sumUsage() {
	d.Usage = usage.Usage{}
	for _, r := range d.Sessions {
		d.Usage = d.Usage.Add(r.Usage)
	}
}

// Erased says what an Erase removed.
type Erased struct {
	// Sessions is the number of session records deleted.
	Sessions int `json:"sessions"`
	// Counters is true when the active-session and daily-quota counters
	// were reset too (operator erasure only).
	Counters bool `json:"counters"`
}

// Store holds per-user state. Every method is atomic with respect to the
// others for the same user, across all instances sharing the store. Times
// are the caller's; stores never read a clock. user is the authenticated
// user id and is never empty.
type Store interface {
	// Admit refuses a blocked user, then a user at the daily quota for
	// now's UTC day, then a user at the active cap; otherwise it reserves
	// an active slot named res until pendingUntil and counts one mint for
	// the day.
	Admit(ctx context.Context, user string, now time.Time, lim Limits, res string, pendingUntil time.Time) (Decision, error)
	// Commit turns the reservation res into the session rec (its slot now
	// lasts until rec.ActiveUntil) and keeps rec. Records created before
	// now-retention are deleted.
	Commit(ctx context.Context, user, res string, rec Record, now time.Time, retention time.Duration) error
	// Release gives back a reservation whose mint failed: the slot is
	// freed and the day's count decremented. Releasing twice, or after the
	// reservation lapsed, changes nothing.
	Release(ctx context.Context, user, res string, day time.Time) error
	// AddUsage adds delta to the usage of user's record of sessionID. A
	// session with no record (never kept, past retention, erased) keeps
	// none: Data never shows usage without its record.
	AddUsage(ctx context.Context, user, sessionID string, delta usage.Usage, now time.Time, retention time.Duration) error
	// End frees the active slot of a session that ended before its time
	// (a hung-up call). The day's count and the record stay. Ending twice,
	// or after the slot lapsed, changes nothing.
	End(ctx context.Context, user, res string) error
	// Data returns everything kept about user at now.
	Data(ctx context.Context, user string, now time.Time, retention time.Duration) (UserData, error)
	// Erase deletes user's session records and, with counters, the
	// active-session and quota counters of now's day. A block survives.
	Erase(ctx context.Context, user string, now time.Time, counters bool) (Erased, error)
	// SetBlock blocks user; Unblock lifts it and reports whether a block
	// existed.
	SetBlock(ctx context.Context, user string, b Block) error
	Unblock(ctx context.Context, user string) (bool, error)
}

// ErrEmptyUser is returned when a store is asked about the empty user id.
var ErrEmptyUser = errors.New("users: empty user id")

// dayOf is the UTC calendar day of t as YYYYMMDD.
func dayOf(t time.Time) string { return t.UTC().Format("20060102") }

// untilMidnight is the time from t to the next UTC midnight.
func untilMidnight(t time.Time) time.Duration {
	u := t.UTC()
	next := time.Date(u.Year(), u.Month(), u.Day()+1, 0, 0, 0, 0, time.UTC)
	return next.Sub(u)
}
