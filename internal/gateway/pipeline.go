package gateway

import (
	"context"
	"net/http"
	"net/netip"
	"time"

	"github.com/rtgate/rtgate/internal/httpx"
	"github.com/rtgate/rtgate/internal/usage"
	"github.com/rtgate/rtgate/internal/users"
)

// Identity is the caller as stages 9 and 10 established it. The zero value
// is the anonymous caller of AUTH_MODE=none.
type Identity struct {
	// UserID is the authenticated user's id; "" when anonymous.
	UserID string
	// SafetyID is a keyed hash of UserID sent to OpenAI as
	// OpenAI-Safety-Identifier; "" when anonymous.
	SafetyID string
	// Reservation is the per-user controls' handle on this admission (its
	// active-session slot); Record, Release or End consume it.
	Reservation users.Reservation
}

// Anonymous reports whether no user was authenticated.
func (id Identity) Anonymous() bool { return id.UserID == "" }

// Authenticator establishes who is asking (stage 9): a user id, or "" for
// an anonymous caller. A refusal is one of auth's errors (*auth.Failure,
// *auth.FailureLimited, *auth.Unavailable), which errors.go maps to 401,
// 429 and 503. *auth.Guard implements it.
type Authenticator interface {
	Authenticate(r *http.Request) (userID string, err error)
}

// UserControls applies per-user admission (stage 10), records sessions
// (stage 12) and serves the user's data rights. *users.Manager implements
// it. A refusal is a *users.Refusal; a failure wraps users.ErrUnavailable.
type UserControls interface {
	// Admit refuses a blocked or over-limit user, or reserves an active
	// slot. The Admission's RateLimit decision, when set, is sent as
	// headers, refused or not.
	Admit(ctx context.Context, user string) (users.Admission, error)
	// Record keeps the session record after the upstream succeeded.
	Record(ctx context.Context, user string, res users.Reservation, s users.Session, ip netip.Addr) error
	// Release gives back the admission of a request whose upstream call
	// failed (its active slot and its count against the daily quota).
	// Without it the slot lapses by itself shortly after.
	Release(ctx context.Context, user string, res users.Reservation) error
	// End frees the active slot of a session that ended before its time
	// (a proxied call that was hung up); the day's count stays.
	End(ctx context.Context, user string, res users.Reservation) error
	// AddUsage adds what a proxied call consumed to the user's record of
	// it (sessionID is rtgate's call id).
	AddUsage(ctx context.Context, user, sessionID string, delta usage.Usage) error
	// Export and Erase serve the data-rights endpoints (/api/me/data).
	Export(ctx context.Context, user string) (users.UserData, error)
	Erase(ctx context.Context, user string, by users.ErasedBy) (users.Erasure, error)
}

type anonymous struct{}

func (anonymous) Authenticate(*http.Request) (string, error) { return "", nil }

// admitUser runs the stages every token-issuing endpoint shares after
// routing and body validation: authentication (9) and per-user controls
// (10), whose rate-limit headers it sets. The per-IP limit (7) and body
// validation (8) run before it in each endpoint. Anonymous callers
// (AUTH_MODE=none) skip the per-user controls, and so does everyone when
// there are none.
func (g *Gateway) admitUser(w http.ResponseWriter, r *http.Request) (Identity, error) {
	user, err := g.o.Auth.Authenticate(r)
	if err != nil || user == "" || g.o.Users == nil {
		return Identity{UserID: user}, err
	}
	a, err := g.o.Users.Admit(r.Context(), user)
	if a.RateLimit != nil && g.o.Limiter != nil {
		g.o.Limiter.SetHeaders(w.Header(), *a.RateLimit)
	}
	if err != nil {
		return Identity{}, err
	}
	return Identity{UserID: user, SafetyID: a.SafetyID, Reservation: a.Reservation}, nil
}

// record keeps the record of a session minted for id, even when the client
// has gone away, with a short deadline of its own. A failure is logged,
// not returned: the session exists upstream already, and failing the
// request now would only make the client retry and mint another.
func (g *Gateway) record(r *http.Request, id Identity, s users.Session) {
	if id.Anonymous() || g.o.Users == nil {
		return
	}
	// The session exists even when the client has gone: record it anyway.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), 2*time.Second)
	defer cancel()
	if err := g.o.Users.Record(ctx, id.UserID, id.Reservation, s, httpx.ClientIP(ctx)); err != nil {
		g.log.Error("session record failed", "request_id", httpx.RequestID(ctx), "error", err.Error())
	}
}

// release gives back a user's admission when no session came of it. It
// runs even when the client has gone away, with a short deadline of its own.
func (g *Gateway) release(r *http.Request, id Identity) {
	if id.Anonymous() || id.Reservation == "" || g.o.Users == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), 2*time.Second)
	defer cancel()
	if err := g.o.Users.Release(ctx, id.UserID, id.Reservation); err != nil {
		g.log.Error("session release failed", "request_id", httpx.RequestID(ctx), "error", err.Error())
	}
}

// end frees the active slot a proxied call held.
func (g *Gateway) end(ctx context.Context, id Identity) {
	if id.Anonymous() || id.Reservation == "" || g.o.Users == nil {
		return
	}
	if err := g.o.Users.End(context.WithoutCancel(ctx), id.UserID, id.Reservation); err != nil {
		g.log.Error("session end failed", "request_id", httpx.RequestID(ctx), "error", err.Error())
	}
}
