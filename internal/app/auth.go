package app

import (
	"context"
	"fmt"
	"time"

	"github.com/rtgate/rtgate/internal/admin"
	"github.com/rtgate/rtgate/internal/auth"
	"github.com/rtgate/rtgate/internal/config"
	"github.com/rtgate/rtgate/internal/gateway"
	"github.com/rtgate/rtgate/internal/ratelimit"
	"github.com/rtgate/rtgate/internal/users"
)

// newAuth builds the authentication guard and its readiness checks; nil
// with AUTH_MODE=none, where every caller is anonymous.
func (a *App) newAuth() (*auth.Guard, []gateway.Check, error) {
	c := a.cfg
	ac := c.Auth
	if c.AuthMode == config.AuthNone {
		return nil, nil, nil
	}
	am, err := auth.NewMetrics(a.registry)
	if err != nil {
		return nil, nil, err
	}
	var (
		verifier auth.Verifier
		checks   []gateway.Check
	)
	switch c.AuthMode {
	case config.AuthJWT:
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
			checks = append(checks, gateway.Check{Name: "jwks", Check: jwks.Ready})
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
	guard := auth.NewGuard(auth.GuardOptions{
		Verifier: verifier, Mode: c.AuthMode, Bearer: c.AuthMode == config.AuthJWT, Metrics: am, Logger: a.log,
		Failures: auth.NewFailureLimiter(ac.FailureMax, ac.FailureWindow, c.RateLimitIPv6Prefix, 0, nil),
	})
	return guard, checks, nil
}

// newUsers builds the per-user controls over the memory or the Redis store,
// and their readiness check; nil with AUTH_MODE=none, where nothing is kept
// about anyone.
func (a *App) newUsers(limiter *ratelimit.Limiter) (*users.Manager, []gateway.Check, error) {
	c := a.cfg
	if c.AuthMode == config.AuthNone {
		return nil, nil, nil
	}
	ac := c.Auth
	if ac.SafetyIDSecret == "" || ac.IPHashSecret == "" {
		// Development only (config requires them in production).
		a.log.Warn("no SAFETY_ID_SECRET/IP_HASH_SECRET (or RECORD_HASH_SECRET): using random keys for this process; OpenAI-Safety-Identifier values change on restart")
	}
	var (
		store  users.Store = users.NewMemory()
		checks []gateway.Check
	)
	client, err := a.redisClient()
	if err != nil {
		return nil, nil, err
	}
	if client != nil {
		rs := users.NewRedis(client, c.RedisKeyPrefix) // keys <prefix>s:{...}; rate limits use <prefix>rl:
		store = rs
		checks = append(checks, gateway.Check{Name: "session_store", Check: rs.Ping})
	}
	m, err := users.NewManager(users.Options{
		Store:       store,
		Limits:      users.Limits{MaxActive: ac.MaxActiveSessions, DailyQuota: ac.DailyQuota},
		RateLimiter: limiter,
		Retention:   ac.Retention,
		// A reservation whose mint never completes frees itself once the
		// upstream call surely ended.
		PendingTTL: c.Upstream.QueueTimeout + c.UpstreamTimeout + 5*time.Second,
		IPHashKey:  []byte(ac.IPHashSecret),
		SafetyKey:  []byte(ac.SafetyIDSecret),
		Registerer: a.registry,
		Logger:     a.log,
	})
	if err != nil {
		return nil, nil, err
	}
	a.background = append(a.background, m.Run)
	return m, checks, nil
}

// newAdmin builds the operator API over the per-user controls, the
// registry of live calls (a block ends the user's calls on every instance)
// and the spend budgets; nil without ADMIN_TOKEN or without users.
func (a *App) newAdmin(m *users.Manager, calls admin.CallEnder, budgets admin.Budgets) *admin.API {
	if a.cfg.Auth.AdminToken == "" || m == nil {
		return nil
	}
	return admin.New(admin.Options{Token: a.cfg.Auth.AdminToken, Users: m, Calls: calls, Budgets: budgets,
		FailureMax: a.cfg.Auth.FailureMax, FailureWindow: a.cfg.Auth.FailureWindow, Logger: a.log})
}
