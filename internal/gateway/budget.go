package gateway

import (
	"context"
	"net/http"
	"time"

	"github.com/rtgate/rtgate/internal/budget"
	"github.com/rtgate/rtgate/internal/calls"
	"github.com/rtgate/rtgate/internal/httpx"
	"github.com/rtgate/rtgate/internal/pricing"
	"github.com/rtgate/rtgate/internal/usage"
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
	// ChargesCreation reports whether Minted (kind token) or Created
	// (other kinds) charges anything for kind; when false both do nothing.
	ChargesCreation(kind budget.Kind) bool
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
	if g.o.Budgets == nil || !g.o.Budgets.ChargesCreation(call.Kind) {
		return // nothing to charge: no deadline context, no timer
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

// CallBudget is the controller's usage sink that charges the budgets
// (calls.UsageSink): each increment of a running call is priced by Meter,
// which ends the call through its Ender when a budget runs out. A Realtime
// increment is one response.done's usage (when it has tokens) and the
// call's running time since its previous increment (usage CallMillis,
// which the controller meters from the call's creation on whatever
// instance, so a takeover neither loses nor repeats time); a GPT-Live
// increment is the new cumulative seconds and their increase. The last
// increment of an ending call is charged without reporting an exhausted
// budget (the call ends anyway). Ended (the registry's OnEnded) forgets a
// call.
type CallBudget struct{ Meter *budget.Meter }

// AddUsage implements calls.UsageSink.
func (cb CallBudget) AddUsage(ctx context.Context, c calls.Call, d usage.Usage, final bool) error {
	call := budget.Call{ID: c.ID, User: c.User, Kind: budget.Kind(c.Kind), Model: c.Model}
	var u budget.Usage
	switch {
	case c.Kind == calls.KindLive:
		if d.LiveMillis <= 0 {
			return nil
		}
		u.LiveTotal, u.LiveDelta = time.Duration(c.Usage.LiveMillis)*time.Millisecond, time.Duration(d.LiveMillis)*time.Millisecond
	default:
		u.Elapsed = time.Duration(d.CallMillis) * time.Millisecond
		if in, out := d.Tokens(); in+out > 0 {
			u.Realtime = realtimeUsage(d)
		}
		if u.Realtime == nil && u.Elapsed == 0 {
			return nil
		}
	}
	if final {
		// The call is ending: charge what it used, but it needs no end.
		_, err := cb.Meter.Charger.Charge(ctx, call, u)
		return err
	}
	cb.Meter.Usage(ctx, call, u)
	return nil
}

// Ended forgets the call id: its pending budget end is cancelled.
func (cb CallBudget) Ended(id string) { cb.Meter.Ended(id) }

// realtimeUsage is d as the response.usage of one response.done.
func realtimeUsage(d usage.Usage) *pricing.RealtimeUsage {
	var u pricing.RealtimeUsage
	in, c, out := &u.InputTokenDetails, &u.InputTokenDetails.CachedTokensDetails, &u.OutputTokenDetails
	in.TextTokens, in.AudioTokens, in.ImageTokens = d.InputTextTokens, d.InputAudioTokens, d.InputImageTokens
	c.TextTokens, c.AudioTokens, c.ImageTokens = d.CachedTextTokens, d.CachedAudioTokens, d.CachedImageTokens
	in.CachedTokens = c.TextTokens + c.AudioTokens + c.ImageTokens
	out.TextTokens, out.AudioTokens = d.OutputTextTokens, d.OutputAudioTokens
	u.InputTokens, u.OutputTokens = d.Tokens()
	u.TotalTokens = u.InputTokens + u.OutputTokens
	return &u
}
