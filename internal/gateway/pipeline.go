package gateway

import (
	"context"
	"net/http"
	"time"
)

// Identity is the caller as authentication established it. The zero value
// is the anonymous caller of AUTH_MODE=none.
type Identity struct {
	// UserID is the authenticated user's id; "" when anonymous.
	UserID string
	// SafetyID is a keyed hash of UserID sent to OpenAI as
	// OpenAI-Safety-Identifier; "" when anonymous.
	SafetyID string
	// Reservation is the per-user controls' opaque handle on this
	// admission (its active-session slot); Record or Release consume it.
	Reservation string
}

// Anonymous reports whether no user was authenticated.
func (id Identity) Anonymous() bool { return id.UserID == "" }

// Authenticator establishes who is asking (stage 9). A refusal is one of
// auth's errors (*auth.Failure, *auth.FailureLimited, *auth.Unavailable),
// which errors.go maps to 401, 429 and 503.
type Authenticator interface {
	Authenticate(r *http.Request) (Identity, error)
}

// SessionRecord is what rtgate keeps about one mint or call: never the
// secret, never conversation content.
type SessionRecord struct {
	UserID    string
	SessionID string // upstream session id or call id
	Kind      string // "token" or "call"
	Model     string
	CreatedAt time.Time
	ExpiresAt time.Time
}

// UserControls applies per-user limits, active-session caps and quotas
// (stage 10) and records sessions (stage 12).
type UserControls interface {
	// Admit refuses with an *httpx.Error when the user is blocked (403) or
	// over a limit (429, with rate-limit headers written to w); on success
	// it returns id with its Reservation set.
	Admit(ctx context.Context, w http.ResponseWriter, id Identity) (Identity, error)
	// Record keeps the session record after the upstream succeeded; the
	// request's context carries the client IP.
	Record(ctx context.Context, id Identity, rec SessionRecord) error
	// Release gives back the admission of a request whose upstream call
	// failed (its active slot and its count against the daily quota).
	// Without it the slot lapses by itself shortly after.
	Release(ctx context.Context, id Identity)
	// End frees the active slot of a session that ended before its time
	// (a proxied call that was hung up); the day's count stays.
	End(ctx context.Context, id Identity)
}

// UserData is implemented by UserControls that keep data about users: the
// data-rights endpoints (/api/me/data) serve it. Both methods return a
// JSON-encodable value.
type UserData interface {
	Export(ctx context.Context, id Identity) (any, error)
	Erase(ctx context.Context, id Identity) (any, error)
}

// Readiness is implemented by an Authenticator or UserControls whose
// dependencies (a JWKS, Redis) readiness should report.
type Readiness interface {
	ReadyChecks() []Check
}

type anonymous struct{}

func (anonymous) Authenticate(*http.Request) (Identity, error) { return Identity{}, nil }

type noControls struct{}

func (noControls) Admit(_ context.Context, _ http.ResponseWriter, id Identity) (Identity, error) {
	return id, nil
}
func (noControls) Record(context.Context, Identity, SessionRecord) error { return nil }
func (noControls) Release(context.Context, Identity)                     {}
func (noControls) End(context.Context, Identity)                         {}

// admitUser runs the stages every token-issuing endpoint shares after
// routing and body validation: authentication (9) and per-user controls
// (10). The per-IP limit (7) and body validation (8) run before it in each
// endpoint. Anonymous callers (AUTH_MODE=none) skip the per-user controls.
func (g *Gateway) admitUser(w http.ResponseWriter, r *http.Request) (Identity, error) {
	id, err := g.o.Auth.Authenticate(r)
	if err != nil {
		return Identity{}, err
	}
	if id.Anonymous() {
		return id, nil
	}
	return g.o.Users.Admit(r.Context(), w, id)
}

// Users returns the per-user controls the gateway runs (never nil); the app
// uses it to serve the operator endpoints over the same state.
func (g *Gateway) Users() UserControls { return g.o.Users }

// DependencyChecks returns the readiness checks of the authenticator and
// the per-user controls (a JWKS that was never loaded, an unreachable
// session store), for /readyz.
func (g *Gateway) DependencyChecks() []Check {
	var out []Check
	for _, v := range []any{g.o.Auth, g.o.Users} {
		if r, ok := v.(Readiness); ok {
			out = append(out, r.ReadyChecks()...)
		}
	}
	return out
}
