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
}

// Anonymous reports whether no user was authenticated.
func (id Identity) Anonymous() bool { return id.UserID == "" }

// Authenticator establishes who is asking (stage 9). A refusal is returned
// as an *httpx.Error (401, with WWW-Authenticate where it applies).
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
	// Admit refuses with an *httpx.Error when the user is over a limit.
	Admit(ctx context.Context, w http.ResponseWriter, id Identity) error
	// Record keeps the session record after the upstream succeeded.
	Record(ctx context.Context, id Identity, rec SessionRecord) error
}

type anonymous struct{}

func (anonymous) Authenticate(*http.Request) (Identity, error) { return Identity{}, nil }

type noControls struct{}

func (noControls) Admit(context.Context, http.ResponseWriter, Identity) error { return nil }
func (noControls) Record(context.Context, Identity, SessionRecord) error      { return nil }

// admit runs the stages every token-issuing endpoint shares after routing:
// per-IP limit (7), then authentication (9) and per-user controls (10).
// Body validation (8) belongs to each endpoint and runs between limitIP and
// admitUser.
func (g *Gateway) admitUser(w http.ResponseWriter, r *http.Request) (Identity, error) {
	id, err := g.o.Auth.Authenticate(r)
	if err != nil {
		return Identity{}, err
	}
	if err := g.o.Users.Admit(r.Context(), w, id); err != nil {
		return Identity{}, err
	}
	return id, nil
}
