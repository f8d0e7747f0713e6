package app

import (
	"context"
	"errors"
	"time"

	"github.com/rtgate/rtgate/internal/budget"
	"github.com/rtgate/rtgate/internal/calls"
	"github.com/rtgate/rtgate/internal/gateway"
	"github.com/rtgate/rtgate/internal/metrics"
)

// leaveTimeout bounds the registry's Leave on a graceful shutdown.
const leaveTimeout = 5 * time.Second

// lateControl is the sideband controller for the budget's Ender, which is
// built before it (budget.CallControl).
type lateControl struct{ ctl **calls.Controller }

func (l lateControl) Say(ctx context.Context, id, text string) error {
	return (*l.ctl).Say(ctx, id, text)
}
func (l lateControl) End(ctx context.Context, id, reason string) error {
	return (*l.ctl).End(ctx, id, reason)
}

// newCalls builds the registry of live proxied calls over the memory store,
// or with REDIS_URL the Redis store (keys <prefix>c:) shared by every
// instance, and the sideband controller of the calls this instance owns,
// with the gateway's hooks: the upstream hang-up of each kind, freeing the
// user's slot, the per-user usage records, the server's sessions the policy
// holds calls to. The registry's sweeper (deadlines, adoption) and the
// controller's checks (idle, reverts, ownership) run for the App's
// lifetime; on a graceful shutdown the controller closes its sidebands
// (the calls go on) and the instance leaves, so another adopts its calls at
// once. With Redis, a readiness check reports the store: degraded, not
// unready, when it fails (tokens are still minted; calls answer 503).
func (a *App) newCalls(up gateway.CallUpstreams, u gateway.UserControls, session gateway.SessionPolicy, bud *budget.Budget) (*calls.Registry, *calls.Controller, []gateway.Check, error) {
	var (
		store  calls.Store = calls.NewMemory()
		checks []gateway.Check
		ctl    *calls.Controller
	)
	// The budget charges every usage increment and, when a budget runs
	// out, ends the call through the controller (built below).
	meter, err := bud.NewMeter(budget.EnderOptions{Control: lateControl{&ctl}, ClosingLine: a.cfg.Budget.ClosingLine, Grace: a.cfg.Budget.Grace})
	if err != nil {
		return nil, nil, nil, err
	}
	charge := gateway.CallBudget{Meter: meter}
	client, err := a.redisClient()
	if err != nil {
		return nil, nil, nil, err
	}
	if client != nil {
		store = calls.NewRedis(client, a.cfg.RedisKeyPrefix+"c:")
	}
	cm, err := metrics.NewCalls(a.registry)
	if err != nil {
		return nil, nil, nil, err
	}
	slotFreed := gateway.CallEnded(u)
	reg, err := calls.NewRegistry(calls.Options{
		Store: store,
		Hangup: func(ctx context.Context, c calls.Call) error {
			done := ctl.HangingUp(c.ID)
			err := up.Hangup(ctx, c)
			done(err == nil || errors.Is(err, calls.ErrGone))
			return err
		},
		OnEnded: func(ctx context.Context, c calls.Call, reason string) error {
			ctl.Forget(c.ID)
			charge.Ended(c.ID)
			cm.CallEnded(c.Kind, reason, time.Since(c.CreatedAt))
			return slotFreed(ctx, c, reason)
		},
		OnAdopt: func(ctx context.Context, c calls.Call) { ctl.Adopt(ctx, c) },
		Logger:  a.log,
	})
	if err != nil {
		return nil, nil, nil, err
	}
	k := a.cfg.Control
	ctl, err = calls.NewController(calls.ControllerOptions{
		Registry: reg,
		Dialers:  up.Dialers(),
		Sessions: gateway.ServerSessions{Policy: session},
		// Every usage increment of a call: the user's record, the budgets.
		Usage:         calls.UsageSinks{gateway.CallUsage(u), charge},
		Metrics:       cm,
		Policy:        calls.Policy(k.Policy),
		Idle:          k.Idle,
		AttachTimeout: k.AttachTimeout,
		Retries:       k.Retries,
		RetryDelay:    k.RetryDelay,
		Logger:        a.log,
	})
	if err != nil {
		return nil, nil, nil, err
	}
	if client != nil {
		checks = append(checks, gateway.HealthCheck("call_store", func(ctx context.Context) (string, error) {
			if _, err := reg.Count(ctx); err != nil {
				return "unreachable: proxied calls answer 503 (" + err.Error() + ")", nil
			}
			return "", nil
		}))
	}
	regDone, ctlDone := make(chan struct{}), make(chan struct{})
	a.background = append(a.background, func(ctx context.Context) {
		defer close(regDone)
		reg.Run(ctx)
	}, func(ctx context.Context) {
		defer close(ctlDone)
		ctl.Run(ctx)
	})
	a.onStop = append(a.onStop, func() {
		<-regDone
		<-ctlDone // the sidebands are closed: the calls go on, for another instance to adopt
		ctx, cancel := context.WithTimeout(context.Background(), leaveTimeout)
		defer cancel()
		if err := reg.Leave(ctx); err != nil {
			a.log.Warn("call registry leave failed: another instance adopts this one's calls once its liveness lapses", "instance", reg.Instance(), "error", err.Error())
		}
	})
	a.log.Info("call registry", "instance", reg.Instance(), "shared", client != nil, "session_policy", k.Policy, "idle_timeout_s", int(k.Idle/time.Second))
	return reg, ctl, checks, nil
}
