package app

import (
	"context"

	"github.com/rtgate/rtgate/internal/budget"
	"github.com/rtgate/rtgate/internal/config"
	"github.com/rtgate/rtgate/internal/gateway"
)

// newBudget builds the spend budgets over the memory store, or with
// REDIS_URL the Redis store (keys <prefix>b:{budget}:…) shared by every
// instance, with its metrics and its background refresh. It is built
// whatever the configuration: without limits it still meters spend (the
// cost metrics, /api/me/data); admission refuses only when a limit is set.
//
// The sideband controller (issue 12) charges running calls through
// b.NewMeter: in its usage hook, Meter.Usage(ctx, budget.Call{ID, User,
// Kind, Model}, budget.Usage{…}); when a call ends, Meter.Ended(id).
func (a *App) newBudget() (*budget.Budget, []gateway.Check, error) {
	c := a.cfg
	var (
		store  budget.Store = budget.NewMemory()
		checks []gateway.Check
	)
	client, err := a.redisClient()
	if err != nil {
		return nil, nil, err
	}
	if client != nil {
		rs := budget.NewRedis(client, c.RedisKeyPrefix+"b:")
		store = rs
		// With budgets set, admission fails closed without the store:
		// unready, like the session store. Without any, only the metering
		// suffers: degraded.
		enforced := c.Budget.Enforced()
		checks = append(checks, gateway.HealthCheck("budget_store", func(ctx context.Context) (string, error) {
			err := rs.Ping(ctx)
			if err != nil && !enforced {
				return "unreachable: spend is not recorded (" + err.Error() + ")", nil
			}
			return "", err
		}))
	}
	m := budget.NewMetrics()
	if err := m.Register(a.registry, c.Budget.GlobalDaily > 0); err != nil {
		return nil, nil, err
	}
	b, err := budget.New(budget.Options{
		Store:          store,
		Prices:         c.Budget.Prices,
		Limits:         budgetLimits(c.Budget),
		MinCall:        c.Budget.MinCall,
		MinCallTime:    c.Budget.MinCallTime,
		TokenWorstCase: c.Budget.TokenWorstCase,
		// A minted secret opens sessions that may each run the session
		// maximum; one is the least it can cost in time.
		TokenWorstTime: c.Auth.SessionMax,
		Metrics:        m,
		Logger:         a.log,
	})
	if err != nil {
		return nil, nil, err
	}
	a.background = append(a.background, b.Run)
	return b, checks, nil
}

// budgetLimits turns the configuration's limits (0 = off) into the
// budget's (NoLimit = off).
func budgetLimits(c config.BudgetConfig) budget.Totals {
	t := budget.Unlimited
	if c.UserDaily > 0 {
		t.UserDaily = c.UserDaily
	}
	if c.UserMonthly > 0 {
		t.UserMonthly = c.UserMonthly
	}
	if c.UserDailyTime > 0 {
		t.UserDailyTime = c.UserDailyTime
	}
	if c.GlobalDaily > 0 {
		t.GlobalDaily = c.GlobalDaily
	}
	return t
}
