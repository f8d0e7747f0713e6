// Package admin is the operator API, served on the admin listener when
// ADMIN_TOKEN is set and users are authenticated:
//
//	GET    /admin/users/{user}/sessions   the user's active sessions
//	GET    /admin/users/{user}/data       everything kept about the user
//	DELETE /admin/users/{user}/data       erase it, counters included
//	POST   /admin/users/{user}/block      block ({"reason":"..."} optional), and hang up the user's live calls
//	DELETE /admin/users/{user}/block      unblock
//
// and, with spend budgets, the endpoints in budget.go.
//
// Every call needs "Authorization: Bearer $ADMIN_TOKEN"; failed attempts
// are limited per client address. The per-user state comes from Users
// (*users.Manager), the live calls from Calls; both are interfaces owned
// here.
package admin

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"time"

	"github.com/rtgate/rtgate/internal/auth"
	"github.com/rtgate/rtgate/internal/calls"
	"github.com/rtgate/rtgate/internal/httpx"
	"github.com/rtgate/rtgate/internal/users"
)

// Users is the per-user state the operator reads and changes;
// *users.Manager implements it. Its errors wrap users.ErrUnavailable when
// the state cannot be reached.
type Users interface {
	ActiveSessions(ctx context.Context, user string) (users.UserData, error)
	Export(ctx context.Context, user string) (users.UserData, error)
	Erase(ctx context.Context, user string, by users.ErasedBy) (users.Erasure, error)
	Block(ctx context.Context, user, reason string) (users.Block, error)
	Unblock(ctx context.Context, user string) (bool, error)
}

// CallEnder hangs up a user's live proxied calls, on whatever instance
// they were created (the SDP proxy knows their ids; calls started with an
// ephemeral secret cannot be reached), giving reason, and reports how many
// it ended. Calls whose hang-up failed are not counted; their errors are
// returned joined. *calls.Registry implements it.
type CallEnder interface {
	EndUser(ctx context.Context, user, reason string) (int, error)
}

// Options configures the operator API.
type Options struct {
	// Token is ADMIN_TOKEN (at least 32 bytes, checked by config).
	Token string
	Users Users
	// Calls ends a blocked user's calls; nil when there are none to end.
	Calls CallEnder
	// Budgets serves the spend-budget endpoints (budget.go); nil: none.
	Budgets Budgets
	// FailureMax failed token checks per FailureWindow and client address
	// are allowed (AUTH_FAILURE_MAX, AUTH_FAILURE_WINDOW_MS); 0 is no limit.
	FailureMax    int
	FailureWindow time.Duration
	// Now is the failure limiter's clock; time.Now when nil.
	Now    func() time.Time
	Logger *slog.Logger
}

// API serves the operator endpoints.
type API struct {
	o        Options
	log      *slog.Logger
	tokenSum [32]byte
	failures *auth.FailureLimiter
}

// New returns the operator API.
func New(o Options) *API {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return &API{o: o, log: o.Logger, tokenSum: sha256.Sum256([]byte(o.Token)),
		failures: auth.NewFailureLimiter(o.FailureMax, o.FailureWindow, 0, 0, o.Now)}
}

// Register adds the operator endpoints to mux.
func (a *API) Register(mux *http.ServeMux) {
	mux.Handle("GET /admin/users/{user}/sessions", a.handle(a.sessions))
	mux.Handle("GET /admin/users/{user}/data", a.handle(a.export))
	mux.Handle("DELETE /admin/users/{user}/data", a.handle(a.erase))
	mux.Handle("POST /admin/users/{user}/block", a.handle(a.block))
	mux.Handle("DELETE /admin/users/{user}/block", a.handle(a.unblock))
	a.registerBudgets(mux)
}

// handle checks the admin token (see handleAny) and the user id, then runs
// fn.
func (a *API) handle(fn func(w http.ResponseWriter, r *http.Request, user string) error) http.Handler {
	return a.handleAny(func(w http.ResponseWriter, r *http.Request) error {
		user := r.PathValue("user")
		if !auth.ValidUserID(user) {
			return httpx.BadRequest("The user id is not valid.", nil)
		}
		return fn(w, r, user)
	})
}

// handleAny checks the admin token (constant time, over digests so the
// length does not leak either), then runs fn; what the client sees of fn's
// error is decided by refusal.
func (a *API) handleAny(fn func(w http.ResponseWriter, r *http.Request) error) http.Handler {
	return httpx.Handle(a.log, func(w http.ResponseWriter, r *http.Request) error {
		ip := remoteIP(r)
		if blocked, wait := a.failures.Blocked(ip); blocked {
			return &httpx.Error{Status: http.StatusTooManyRequests, Code: httpx.CodeRateLimited, RetryAfter: max(wait, time.Second), Err: errors.New("admin auth failure limit")}
		}
		tok, _ := auth.Bearer(r)
		sum := sha256.Sum256([]byte(tok))
		if a.o.Token == "" || tok == "" || subtle.ConstantTimeCompare(sum[:], a.tokenSum[:]) != 1 {
			a.failures.Fail(ip)
			a.log.Warn("admin auth failure", "event", "admin_auth_failure", "request_id", httpx.RequestID(r.Context()), "remote", ip.String(), "path", r.URL.Path)
			e := httpx.Errorf(http.StatusUnauthorized, httpx.CodeUnauthorized, errors.New("admin token"))
			e.Header = http.Header{}
			e.Header.Set("WWW-Authenticate", `Bearer realm="rtgate-admin"`)
			return e
		}
		if err := fn(w, r); err != nil {
			return refusal(err)
		}
		return nil
	})
}

// refusal maps the errors of Users to what the operator sees: per-user
// state that cannot be reached is 503; anything else is a 500.
func refusal(err error) error {
	var he *httpx.Error
	switch {
	case errors.As(err, &he):
		return he
	case errors.Is(err, users.ErrUnavailable):
		return httpx.Errorf(http.StatusServiceUnavailable, httpx.CodeUnavailable, err)
	}
	return err
}

// remoteIP is the socket peer: the admin listener is for operators on
// loopback or a private network, never behind the public proxies.
func remoteIP(r *http.Request) netip.Addr {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}
	}
	a, _ := netip.ParseAddr(host)
	return a
}

func (a *API) sessions(w http.ResponseWriter, r *http.Request, user string) error {
	d, err := a.o.Users.ActiveSessions(r.Context(), user)
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusOK, d)
	return nil
}

func (a *API) export(w http.ResponseWriter, r *http.Request, user string) error {
	d, err := a.o.Users.Export(r.Context(), user)
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusOK, d)
	return nil
}

func (a *API) erase(w http.ResponseWriter, r *http.Request, user string) error {
	e, err := a.o.Users.Erase(r.Context(), user, users.ByOperator)
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusOK, e)
	return nil
}

func (a *API) block(w http.ResponseWriter, r *http.Request, user string) error {
	var body struct {
		Reason string `json:"reason"`
	}
	raw, err := io.ReadAll(io.LimitReader(r.Body, 4097))
	if err != nil || len(raw) > 4096 {
		return httpx.BadRequest("The body must be at most 4096 bytes.", err)
	}
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &body); err != nil || len(body.Reason) > 512 {
			return httpx.BadRequest(`The body must be {"reason":"..."} with at most 512 bytes of reason.`, err)
		}
	}
	b, err := a.o.Users.Block(r.Context(), user, body.Reason)
	if err != nil {
		return err
	}
	// A block also ends the user's live proxied calls. If a hang-up fails
	// the block still stands (no new sessions); the answer says so, and the
	// call's deadline ends it at the latest.
	res := map[string]any{"user_id": user, "blocked": b, "calls_ended": 0}
	if a.o.Calls != nil {
		ended, endErr := a.o.Calls.EndUser(r.Context(), user, calls.ReasonOperator)
		res["calls_ended"] = ended
		if endErr != nil {
			a.log.Error("ending a blocked user's calls failed", "request_id", httpx.RequestID(r.Context()), "error", endErr.Error())
			res["calls_end_failed"] = true
		}
	}
	httpx.WriteJSON(w, http.StatusOK, res)
	return nil
}

func (a *API) unblock(w http.ResponseWriter, r *http.Request, user string) error {
	was, err := a.o.Users.Unblock(r.Context(), user)
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusOK, map[string]any{"user_id": user, "was_blocked": was})
	return nil
}
