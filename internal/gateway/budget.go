package gateway

import (
	"context"
	"net/http"
	"time"

	"github.com/rtgate/rtgate/internal/budget"
	"github.com/rtgate/rtgate/internal/httpx"
	"github.com/rtgate/rtgate/internal/users"
)

// Budgets applies the spend budgets: at admission (the end of stage 10,
// after the per-user controls), and for the charges due before a call runs
// (a Live session's creation charge, a token's worst case). *budget.Budget
// implements it. A refusal is a *budget.Refusal or budget.ErrTokenMode; a
// failure wraps budget.ErrUnavailable (errors.go maps all three). What a
// call costs while it runs is charged by the sideband (budget.Meter), not
// here.
type Budgets interface {
	// Admit refuses a call of kind (on model, "" when not known yet) that
	// the remaining budget of user ("" anonymous: the global budget only)
	// cannot cover.
	Admit(ctx context.Context, user string, kind budget.Kind, model string) error
	// Created charges what creating call cost upstream before it ran.
	Created(ctx context.Context, call budget.Call) (budget.Result, error)
	// Minted charges a minted token's worst case.
	Minted(ctx context.Context, user, model string) (budget.Result, error)
	// Status is user's budgets, for /api/me/data.
	Status(ctx context.Context, user string) (budget.Status, error)
}

// admitBudget runs the budget admission for an identity admitted by
// admitUser; on a refusal it gives the user's admission back (no session
// comes of it).
func (g *Gateway) admitBudget(r *http.Request, id Identity, kind budget.Kind, model string) error {
	if g.o.Budgets == nil {
		return nil
	}
	if err := g.o.Budgets.Admit(r.Context(), id.UserID, kind, model); err != nil {
		g.release(r, id)
		return err
	}
	return nil
}

// chargeBudget charges what the upstream billed before the session ran: a
// token's worst case (kind token) or a call's creation charge. A failure
// is logged, not returned: the session exists upstream already.
func (g *Gateway) chargeBudget(ctx context.Context, call budget.Call) {
	if g.o.Budgets == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	var err error
	if call.Kind == budget.KindToken {
		_, err = g.o.Budgets.Minted(ctx, call.User, call.Model)
	} else {
		_, err = g.o.Budgets.Created(ctx, call)
	}
	if err != nil {
		g.log.Error("budget charge failed", "request_id", httpx.RequestID(ctx), "kind", string(call.Kind), "model", call.Model, "error", err.Error())
	}
}

// userExport is /api/me/data with budgets: the per-user data and, beside
// it, the user's spend and what is left.
type userExport struct {
	users.UserData
	Budget budget.Status `json:"budget"`
}

// withBudget adds user's budgets to their exported data d, when budgets
// are configured.
func (g *Gateway) withBudget(ctx context.Context, user string, d users.UserData) (any, error) {
	if g.o.Budgets == nil {
		return d, nil
	}
	s, err := g.o.Budgets.Status(ctx, user)
	if err != nil {
		return nil, err
	}
	return userExport{UserData: d, Budget: s}, nil
}
