package app

import (
	"context"
	"time"

	"github.com/rtgate/rtgate/internal/calls"
	"github.com/rtgate/rtgate/internal/gateway"
)

// leaveTimeout bounds the registry's Leave on a graceful shutdown.
const leaveTimeout = 5 * time.Second

// newCalls builds the registry of live proxied calls over the memory store,
// or with REDIS_URL the Redis store (keys <prefix>c:) shared by every
// instance, with the gateway's hooks (the upstream hang-up of each kind,
// freeing the user's slot). Its sweeper (deadlines, adoption) runs for the
// App's lifetime; on a graceful shutdown the instance leaves, so another
// adopts its calls at once. With Redis, a readiness check reports the
// store: degraded, not unready, when it fails (tokens are still minted;
// calls answer 503).
func (a *App) newCalls(up gateway.CallUpstreams, u gateway.UserControls) (*calls.Registry, []gateway.Check, error) {
	var (
		store  calls.Store = calls.NewMemory()
		checks []gateway.Check
	)
	client, err := a.redisClient()
	if err != nil {
		return nil, nil, err
	}
	if client != nil {
		store = calls.NewRedis(client, a.cfg.RedisKeyPrefix+"c:")
	}
	reg, err := calls.NewRegistry(calls.Options{
		Store:   store,
		Hangup:  up.Hangup,
		OnEnded: gateway.CallEnded(u),
		Logger:  a.log,
	})
	if err != nil {
		return nil, nil, err
	}
	if client != nil {
		checks = append(checks, gateway.HealthCheck("call_store", func(ctx context.Context) (string, error) {
			if _, err := reg.Count(ctx); err != nil {
				return "unreachable: proxied calls answer 503 (" + err.Error() + ")", nil
			}
			return "", nil
		}))
	}
	done := make(chan struct{})
	a.background = append(a.background, func(ctx context.Context) {
		defer close(done)
		reg.Run(ctx)
	})
	a.onStop = append(a.onStop, func() {
		<-done
		ctx, cancel := context.WithTimeout(context.Background(), leaveTimeout)
		defer cancel()
		if err := reg.Leave(ctx); err != nil {
			a.log.Warn("call registry leave failed: another instance adopts this one's calls once its liveness lapses", "instance", reg.Instance(), "error", err.Error())
		}
	})
	a.log.Info("call registry", "instance", reg.Instance(), "shared", client != nil)
	return reg, checks, nil
}
