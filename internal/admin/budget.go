package admin

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"

	"github.com/rtgate/rtgate/internal/budget"
	"github.com/rtgate/rtgate/internal/httpx"
)

// Budgets is the spend-budget state the operator reads and changes;
// *budget.Budget implements it. Its errors wrap budget.ErrUnavailable when
// the state cannot be reached.
type Budgets interface {
	Report(ctx context.Context, n int) (budget.Report, error)
	User(ctx context.Context, user string) (budget.UserReport, error)
	SetOverride(ctx context.Context, user string, o budget.Override) (budget.UserReport, error)
	ClearOverride(ctx context.Context, user string) (bool, error)
}

// Bounds of the budget endpoints.
const (
	defaultSpenders = 100
	maxSpenders     = 1000
	maxOverrideBody = 4096
)

// registerBudgets adds, when budgets are configured:
//
//	GET    /admin/budget?limit=N          the global budget today and the top N spenders today and this month
//	GET    /admin/users/{user}/budget     the user's spend, limits and what is left, and their override
//	PUT    /admin/users/{user}/budget     set the user's override: {"daily_usd","monthly_usd","daily_minutes"}
//	DELETE /admin/users/{user}/budget     clear it
func (a *API) registerBudgets(mux *http.ServeMux) {
	if a.o.Budgets == nil {
		return
	}
	mux.Handle("GET /admin/budget", a.handleAny(a.budgetReport))
	mux.Handle("GET /admin/users/{user}/budget", a.handle(a.userBudget))
	mux.Handle("PUT /admin/users/{user}/budget", a.handle(a.setUserBudget))
	mux.Handle("DELETE /admin/users/{user}/budget", a.handle(a.clearUserBudget))
}

// budgetError maps a budget failure: state that cannot be reached is 503.
func budgetError(err error) error {
	if errors.Is(err, budget.ErrUnavailable) {
		return httpx.Errorf(http.StatusServiceUnavailable, httpx.CodeUnavailable, err)
	}
	return err
}

func (a *API) budgetReport(w http.ResponseWriter, r *http.Request) error {
	n := defaultSpenders
	if raw := r.URL.Query().Get("limit"); raw != "" {
		v, err := strconv.Atoi(raw)
		if err != nil || v < 1 || v > maxSpenders {
			return httpx.BadRequest("limit must be a whole number from 1 to 1000.", err)
		}
		n = v
	}
	rep, err := a.o.Budgets.Report(r.Context(), n)
	if err != nil {
		return budgetError(err)
	}
	httpx.WriteJSON(w, http.StatusOK, rep)
	return nil
}

func (a *API) userBudget(w http.ResponseWriter, r *http.Request, user string) error {
	rep, err := a.o.Budgets.User(r.Context(), user)
	if err != nil {
		return budgetError(err)
	}
	httpx.WriteJSON(w, http.StatusOK, rep)
	return nil
}

func (a *API) setUserBudget(w http.ResponseWriter, r *http.Request, user string) error {
	raw, err := io.ReadAll(io.LimitReader(r.Body, maxOverrideBody+1))
	if err != nil || len(raw) > maxOverrideBody {
		return httpx.BadRequest("The body must be at most 4096 bytes.", err)
	}
	o, err := budget.ParseOverride(raw)
	if err != nil {
		return httpx.BadRequest(`The body must be {"daily_usd":…,"monthly_usd":…,"daily_minutes":…}: dollar amounts with at most six decimals, whole minutes, or "unlimited"; absent or null keeps the default.`, err)
	}
	rep, err := a.o.Budgets.SetOverride(r.Context(), user, o)
	if err != nil {
		return budgetError(err)
	}
	httpx.WriteJSON(w, http.StatusOK, rep)
	return nil
}

func (a *API) clearUserBudget(w http.ResponseWriter, r *http.Request, user string) error {
	had, err := a.o.Budgets.ClearOverride(r.Context(), user)
	if err != nil {
		return budgetError(err)
	}
	httpx.WriteJSON(w, http.StatusOK, map[string]any{"user_id": user, "had_override": had})
	return nil
}
