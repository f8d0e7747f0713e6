package app

import (
	"fmt"

	"github.com/redis/go-redis/v9"

	"github.com/rtgate/rtgate/internal/gateway"
	"github.com/rtgate/rtgate/internal/ratelimit"
	"github.com/rtgate/rtgate/internal/redisconn"
)

// redisClient returns the one shared Redis client (REDIS_URL), creating it
// on first use, or nil when REDIS_URL is unset. Rate limits, sessions and
// quotas all use it, each under its own key prefix.
func (a *App) redisClient() (redis.UniversalClient, error) {
	if a.cfg.RedisURL == "" {
		return nil, nil
	}
	if a.redis != nil {
		return a.redis, nil
	}
	c, err := redisconn.New(a.cfg.RedisURL)
	if err != nil {
		return nil, fmt.Errorf("REDIS_URL: %w", err)
	}
	a.redis = c
	a.closers = append(a.closers, func() { _ = c.Close() })
	return c, nil
}

// limiterStore picks the rate-limit store: the memory store alone, or Redis
// wrapped in the RATE_LIMIT_REDIS_FAILURE policy with the memory store as
// the local fallback. It also returns the readiness check for /readyz.
func (a *App) limiterStore(mem *ratelimit.Memory, m *ratelimit.Metrics) (ratelimit.Store, []gateway.Check, error) {
	rc, err := a.redisClient()
	if err != nil || rc == nil {
		return mem, nil, err
	}
	policy, err := ratelimit.ParseFailurePolicy(a.cfg.RateLimitRedisFailure)
	if err != nil {
		return nil, nil, fmt.Errorf("RATE_LIMIT_REDIS_FAILURE: %w", err)
	}
	// Redis holds keyed hashes of addresses and user ids, never the raw
	// values; IP_HASH_SECRET keys them (required in production with Redis).
	var opts []ratelimit.RedisOption
	if s := a.cfg.Auth.IPHashSecret; s != "" {
		opts = append(opts, ratelimit.WithKeySecret([]byte(s)))
	}
	fb, err := ratelimit.NewFallback(ratelimit.NewRedis(rc, a.cfg.RedisKeyPrefix+"rl:", opts...), mem, ratelimit.FallbackOptions{
		Policy:  policy,
		Logger:  a.log,
		Metrics: m,
	})
	if err != nil {
		return nil, nil, err
	}
	return fb, []gateway.Check{gateway.HealthCheck("ratelimit_store", fb.Health)}, nil
}
