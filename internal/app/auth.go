package app

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rtgate/rtgate/internal/auth"
	"github.com/rtgate/rtgate/internal/config"
	"github.com/rtgate/rtgate/internal/gateway"
	"github.com/rtgate/rtgate/internal/httpx"
	"github.com/rtgate/rtgate/internal/ratelimit"
	"github.com/rtgate/rtgate/internal/session"
)

// newAuth builds the authenticator and the per-user controls. With
// AUTH_MODE=none both are nil: every caller is anonymous and nothing is
// kept about anyone.
func (a *App) newAuth(limiter *ratelimit.Limiter) (gateway.Authenticator, gateway.UserControls, error) {
	c := a.cfg
	ac := c.Auth
	if c.AuthMode == config.AuthNone {
		return nil, nil, nil
	}
	am, err := auth.NewMetrics(a.registry)
	if err != nil {
		return nil, nil, err
	}
	safetyKey, ipKey := []byte(ac.SafetyIDSecret), []byte(ac.IPHashSecret)
	if len(safetyKey) == 0 || len(ipKey) == 0 {
		// Development only (config requires them in production): a key per
		// process, so safety identifiers change on restart and differ
		// between instances.
		safetyKey, ipKey = randomKey(), randomKey()
		a.log.Warn("no SAFETY_ID_SECRET/IP_HASH_SECRET (or RECORD_HASH_SECRET): using random keys for this process; OpenAI-Safety-Identifier values change on restart")
	}

	authn := &authenticator{safetyKey: safetyKey}
	var verifier auth.Verifier
	bearer := false
	switch c.AuthMode {
	case config.AuthJWT:
		bearer = true
		o := auth.JWTOptions{Algorithms: ac.JWTAlgorithms, Issuer: ac.JWTIssuer, Audience: ac.JWTAudience,
			UserClaim: ac.JWTUserClaim, Cookie: ac.JWTCookie, Leeway: ac.JWTLeeway}
		if ac.JWTSecret != "" {
			o.Secret = []byte(ac.JWTSecret)
		} else {
			jwks := auth.NewJWKS(auth.JWKSOptions{URL: ac.JWKSURL, Logger: a.log.With("component", "jwks"), OnFetch: am.JWKSFetch})
			// One attempt at start-up. If the provider is unreachable rtgate
			// starts anyway: /readyz reports "jwks" unready, token requests
			// get 503 (not 401), and the key set is retried in the
			// background until it loads.
			ctx, cancel := context.WithTimeout(context.Background(), auth.DefaultJWKSTimeout)
			if err := jwks.Refresh(ctx); err != nil {
				a.log.Warn("JWKS unreachable at start-up: serving 503 to authenticated requests until it loads", "url", ac.JWKSURL)
			}
			cancel()
			a.background = append(a.background, jwks.Run)
			o.Keys = jwks
			authn.checks = append(authn.checks, gateway.Check{Name: "jwks", Check: jwks.Ready})
		}
		if verifier, err = auth.NewJWT(o); err != nil {
			return nil, nil, err
		}
	case config.AuthForward:
		if verifier, err = auth.NewForward(auth.ForwardOptions{URL: ac.ForwardURL, UserHeader: ac.ForwardUserHeader,
			Timeout: ac.ForwardTimeout, CacheTTL: ac.ForwardCacheTTL, OnCall: am.ForwardCall}); err != nil {
			return nil, nil, err
		}
	default:
		return nil, nil, fmt.Errorf("AUTH_MODE %q is not supported", c.AuthMode)
	}
	authn.guard = auth.NewGuard(auth.GuardOptions{
		Verifier: verifier, Mode: c.AuthMode, Bearer: bearer, Metrics: am, Logger: a.log,
		Failures: auth.NewFailureLimiter(ac.FailureMax, ac.FailureWindow, c.RateLimitIPv6Prefix, 0, nil),
	})

	users, err := a.newUserControls(limiter, ipKey)
	if err != nil {
		return nil, nil, err
	}
	return authn, users, nil
}

func randomKey() []byte {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return b
}

// authenticator adapts an auth.Guard to the gateway and derives the
// safety identifier.
type authenticator struct {
	guard     *auth.Guard
	safetyKey []byte
	checks    []gateway.Check
}

func (au *authenticator) Authenticate(r *http.Request) (gateway.Identity, error) {
	user, err := au.guard.Authenticate(r)
	if err != nil {
		return gateway.Identity{}, err
	}
	return gateway.Identity{UserID: user, SafetyID: SafetyID(au.safetyKey, user)}, nil
}

func (au *authenticator) ReadyChecks() []gateway.Check { return au.checks }

// SafetyID is the OpenAI-Safety-Identifier for user: HMAC-SHA256 under the
// safety key, 32 hex digits. Stable per user and key; the raw id never
// leaves rtgate.
func SafetyID(key []byte, user string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(user))
	return hex.EncodeToString(m.Sum(nil)[:16])
}

// userControls applies the session manager and the per-user rate limit.
type userControls struct {
	m        *session.Manager
	limiter  *ratelimit.Limiter
	log      *slog.Logger
	refusals *prometheus.CounterVec
	erasures *prometheus.CounterVec
	checks   []gateway.Check
}

func (a *App) newUserControls(limiter *ratelimit.Limiter, ipKey []byte) (*userControls, error) {
	c := a.cfg
	var store session.Store
	var checks []gateway.Check
	client, err := a.redisClient()
	if err != nil {
		return nil, err
	}
	if client != nil {
		rs := session.NewRedis(client, c.RedisKeyPrefix) // keys <prefix>s:{...}; rate limits use <prefix>rl:
		store = rs
		checks = append(checks, gateway.Check{Name: "session_store", Check: rs.Ping})
	} else {
		store = session.NewMemory()
	}
	m, err := session.NewManager(session.Options{
		Store:      store,
		Limits:     session.Limits{MaxActive: c.Auth.MaxActiveSessions, DailyQuota: c.Auth.DailyQuota},
		SessionMax: c.Auth.SessionMax,
		Retention:  c.Auth.Retention,
		// A reservation whose mint never completes frees itself once the
		// upstream call surely ended.
		PendingTTL: c.UpstreamTimeout + 5*time.Second,
		IPHashKey:  ipKey,
		Logger:     a.log,
	})
	if err != nil {
		return nil, err
	}
	a.background = append(a.background, m.Run)
	u := &userControls{m: m, limiter: limiter, log: a.log, checks: checks,
		refusals: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "rtgate_user_refusals_total",
			Help: "Authenticated requests refused by per-user controls, by reason (blocked, active_sessions, daily_quota, rate_limit)."}, []string{"reason"}),
		erasures: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "rtgate_user_data_erasures_total",
			Help: "User data erasures, by who asked (user, operator)."}, []string{"by"}),
	}
	for _, r := range []string{"blocked", "active_sessions", "daily_quota", "rate_limit"} {
		u.refusals.WithLabelValues(r)
	}
	for _, col := range []prometheus.Collector{u.refusals, u.erasures} {
		if err := a.registry.Register(col); err != nil {
			return nil, err
		}
	}
	return u, nil
}

func (u *userControls) ReadyChecks() []gateway.Check { return u.checks }

func (u *userControls) refuse(ctx context.Context, id gateway.Identity, reason string, status int, code string, retry time.Duration) error {
	u.refusals.WithLabelValues(reason).Inc()
	event, msg := "quota_hit", "user quota hit"
	if reason == "blocked" {
		event, msg = "blocked_user_refused", "blocked user refused"
	}
	u.log.LogAttrs(ctx, slog.LevelWarn, msg, slog.String("event", event), slog.String("request_id", httpx.RequestID(ctx)),
		slog.String("user", id.UserID), slog.String("reason", reason))
	e := httpx.Errorf(status, code, errors.New("user "+reason))
	if retry > 0 {
		e.RetryAfter = retry
	}
	return e
}

// Admit implements gateway.UserControls: block list (403), daily quota,
// active-session cap, then the per-user rate limit (429). A session store
// that cannot answer fails closed (503): the limits are about money.
func (u *userControls) Admit(ctx context.Context, w http.ResponseWriter, id gateway.Identity) (gateway.Identity, error) {
	d, res, err := u.m.Admit(ctx, id.UserID)
	if err != nil {
		return id, httpx.Errorf(http.StatusServiceUnavailable, httpx.CodeUnavailable, err)
	}
	switch d.Outcome {
	case session.Blocked:
		return id, u.refuse(ctx, id, "blocked", http.StatusForbidden, httpx.CodeForbidden, 0)
	case session.OverActiveCap, session.OverDailyQuota:
		return id, u.refuse(ctx, id, d.Outcome.String(), http.StatusTooManyRequests, httpx.CodeRateLimited, max(d.RetryAfter, time.Second))
	}
	id.Reservation = string(res)
	if u.limiter != nil {
		rd, err := u.limiter.AllowUser(ctx, id.UserID)
		if err != nil {
			u.Release(ctx, id)
			return id, httpx.Errorf(http.StatusServiceUnavailable, httpx.CodeUnavailable, err)
		}
		u.limiter.SetHeaders(w.Header(), rd)
		if !rd.Allowed {
			u.Release(ctx, id)
			// Retry-After is already set by SetHeaders (with jitter).
			return id, u.refuse(ctx, id, "rate_limit", http.StatusTooManyRequests, httpx.CodeRateLimited, 0)
		}
	}
	return id, nil
}

// Record implements gateway.UserControls.
func (u *userControls) Record(ctx context.Context, id gateway.Identity, rec gateway.SessionRecord) error {
	if id.Anonymous() {
		return nil
	}
	return u.m.Commit(ctx, id.UserID, session.Reservation(id.Reservation), session.Session{
		SessionID: rec.SessionID, Kind: rec.Kind, Model: rec.Model, CreatedAt: rec.CreatedAt, ExpiresAt: rec.ExpiresAt,
	}, httpx.ClientIP(ctx))
}

// Release implements gateway.UserControls.
func (u *userControls) Release(ctx context.Context, id gateway.Identity) {
	if id.Anonymous() || id.Reservation == "" {
		return
	}
	if err := u.m.Release(context.WithoutCancel(ctx), id.UserID, session.Reservation(id.Reservation)); err != nil {
		u.log.Error("session release failed", "request_id", httpx.RequestID(ctx), "error", err.Error())
	}
}

// End implements gateway.UserControls.
func (u *userControls) End(ctx context.Context, id gateway.Identity) {
	if id.Anonymous() || id.Reservation == "" {
		return
	}
	if err := u.m.End(context.WithoutCancel(ctx), id.UserID, session.Reservation(id.Reservation)); err != nil {
		u.log.Error("session end failed", "request_id", httpx.RequestID(ctx), "error", err.Error())
	}
}

// Export implements gateway.UserData.
func (u *userControls) Export(ctx context.Context, id gateway.Identity) (any, error) {
	return u.m.Export(ctx, id.UserID)
}

// erasure is the answer to a data erasure: what went, and what stayed and why.
type erasure struct {
	UserID   string            `json:"user_id"`
	Erased   session.Erased    `json:"erased"`
	Retained map[string]string `json:"retained"`
}

// Erase implements gateway.UserData (self-service erasure).
func (u *userControls) Erase(ctx context.Context, id gateway.Identity) (any, error) {
	return u.erase(ctx, id.UserID, "user")
}

func (u *userControls) erase(ctx context.Context, user, by string) (erasure, error) {
	e, err := u.m.Erase(ctx, user, by)
	if err != nil {
		return erasure{}, err
	}
	u.erasures.WithLabelValues(by).Inc()
	out := erasure{UserID: user, Erased: e, Retained: map[string]string{
		"block": "an operator's block on the account, if any, stays until an operator lifts it",
	}}
	if !e.Counters {
		out.Retained["usage_counters"] = "today's mint count and the active-session slots stay until they lapse (the next UTC midnight; the end of each session), so erasing cannot reset a limit; they hold no session details"
	}
	return out, nil
}

// adminRoutes adds the operator endpoints to the admin listener when
// ADMIN_TOKEN is set and users are authenticated:
//
//	GET    /admin/users/{user}/sessions   the user's active sessions
//	GET    /admin/users/{user}/data       everything kept about the user
//	DELETE /admin/users/{user}/data       erase it, counters included
//	POST   /admin/users/{user}/block      block ({"reason":"..."} optional)
//	DELETE /admin/users/{user}/block      unblock
//
// Every call needs "Authorization: Bearer $ADMIN_TOKEN".
func (a *App) adminRoutes(mux *http.ServeMux) {
	token := a.cfg.Auth.AdminToken
	u, ok := a.gw.Users().(*userControls)
	if token == "" || !ok {
		return
	}
	adm := &admin{u: u, log: a.log, tokenSum: sha256.Sum256([]byte(token)), endCalls: a.gw.EndUserCalls,
		failures: auth.NewFailureLimiter(a.cfg.Auth.FailureMax, a.cfg.Auth.FailureWindow, 0, 0, nil)}
	mux.Handle("GET /admin/users/{user}/sessions", adm.handle(adm.sessions))
	mux.Handle("GET /admin/users/{user}/data", adm.handle(adm.export))
	mux.Handle("DELETE /admin/users/{user}/data", adm.handle(adm.erase))
	mux.Handle("POST /admin/users/{user}/block", adm.handle(adm.block))
	mux.Handle("DELETE /admin/users/{user}/block", adm.handle(adm.unblock))
}

type admin struct {
	u *userControls
	// endCalls hangs up a user's live proxied calls (the SDP proxy knows
	// their ids; calls started with an ephemeral secret cannot be reached).
	endCalls func(ctx context.Context, userID string) (int, error)
	log      *slog.Logger
	tokenSum [32]byte
	failures *auth.FailureLimiter
}

// handle checks the admin token (constant time, over digests so the length
// does not leak either) and the user id, then runs fn.
func (ad *admin) handle(fn func(w http.ResponseWriter, r *http.Request, user string) error) http.Handler {
	return httpx.Handle(ad.log, func(w http.ResponseWriter, r *http.Request) error {
		ip := remoteIP(r)
		if blocked, wait := ad.failures.Blocked(ip); blocked {
			return &httpx.Error{Status: http.StatusTooManyRequests, Code: httpx.CodeRateLimited, RetryAfter: max(wait, time.Second), Err: errors.New("admin auth failure limit")}
		}
		tok, _ := auth.Bearer(r)
		sum := sha256.Sum256([]byte(tok))
		if tok == "" || subtle.ConstantTimeCompare(sum[:], ad.tokenSum[:]) != 1 {
			ad.failures.Fail(ip)
			ad.log.Warn("admin auth failure", "event", "admin_auth_failure", "request_id", httpx.RequestID(r.Context()), "remote", ip.String(), "path", r.URL.Path)
			e := httpx.Errorf(http.StatusUnauthorized, httpx.CodeUnauthorized, errors.New("admin token"))
			e.Header = http.Header{}
			e.Header.Set("WWW-Authenticate", `Bearer realm="rtgate-admin"`)
			return e
		}
		user := r.PathValue("user")
		if !auth.ValidUserID(user) {
			return httpx.BadRequest("The user id is not valid.", nil)
		}
		return fn(w, r, user)
	})
}

func remoteIP(r *http.Request) netip.Addr {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}
	}
	a, _ := netip.ParseAddr(host)
	return a
}

func (ad *admin) sessions(w http.ResponseWriter, r *http.Request, user string) error {
	d, err := ad.u.m.ActiveSessions(r.Context(), user)
	if err != nil {
		return httpx.Errorf(http.StatusServiceUnavailable, httpx.CodeUnavailable, err)
	}
	httpx.WriteJSON(w, http.StatusOK, d)
	return nil
}

func (ad *admin) export(w http.ResponseWriter, r *http.Request, user string) error {
	d, err := ad.u.m.Export(r.Context(), user)
	if err != nil {
		return httpx.Errorf(http.StatusServiceUnavailable, httpx.CodeUnavailable, err)
	}
	httpx.WriteJSON(w, http.StatusOK, d)
	return nil
}

func (ad *admin) erase(w http.ResponseWriter, r *http.Request, user string) error {
	e, err := ad.u.erase(r.Context(), user, "operator")
	if err != nil {
		return httpx.Errorf(http.StatusServiceUnavailable, httpx.CodeUnavailable, err)
	}
	httpx.WriteJSON(w, http.StatusOK, e)
	return nil
}

func (ad *admin) block(w http.ResponseWriter, r *http.Request, user string) error {
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
	b, err := ad.u.m.Block(r.Context(), user, body.Reason)
	if err != nil {
		return httpx.Errorf(http.StatusServiceUnavailable, httpx.CodeUnavailable, err)
	}
	// A block also ends the user's live proxied calls. If a hang-up fails
	// the block still stands (no new sessions); the answer says so, and the
	// maximum-duration timer ends the call at the latest.
	ended, endErr := ad.endCalls(r.Context(), user)
	res := map[string]any{"user_id": user, "blocked": b, "calls_ended": ended}
	if endErr != nil {
		ad.log.Error("ending a blocked user's calls failed", "request_id", httpx.RequestID(r.Context()), "error", endErr.Error())
		res["calls_end_failed"] = true
	}
	httpx.WriteJSON(w, http.StatusOK, res)
	return nil
}

func (ad *admin) unblock(w http.ResponseWriter, r *http.Request, user string) error {
	was, err := ad.u.m.Unblock(r.Context(), user)
	if err != nil {
		return httpx.Errorf(http.StatusServiceUnavailable, httpx.CodeUnavailable, err)
	}
	httpx.WriteJSON(w, http.StatusOK, map[string]any{"user_id": user, "was_blocked": was})
	return nil
}
