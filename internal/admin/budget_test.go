package admin_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/rtgate/rtgate/internal/admin"
	"github.com/rtgate/rtgate/internal/budget"
	"github.com/rtgate/rtgate/internal/httpx"
	"github.com/rtgate/rtgate/internal/pricing"
)

// downStore is a budget store whose every call fails.
type downStore struct{ budget.Memory }

var errDown = errors.New("dial tcp 127.0.0.1:6379: connection refused")

func (*downStore) Balance(context.Context, string, time.Time, budget.Totals) (budget.Balance, error) {
	return budget.Balance{}, errDown
}

func (*downStore) SetOverride(context.Context, string, budget.Override) error { return errDown }

func (*downStore) ClearOverride(context.Context, string) (bool, error) { return false, errDown }

func newBudgetAPI(t *testing.T, store budget.Store) http.Handler {
	t.Helper()
	b, err := budget.New(budget.Options{Store: store, Limits: budget.Totals{UserDaily: 5 * pricing.Dollar, UserMonthly: budget.NoLimit, UserDailyTime: budget.NoLimit, GlobalDaily: 100 * pricing.Dollar}})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	admin.New(admin.Options{Token: token, Users: &fakeUsers{}, Budgets: b}).Register(mux)
	return httpx.Chain(mux, httpx.RequestIDs)
}

func TestBudgetEndpoints(t *testing.T) {
	h := newBudgetAPI(t, budget.NewMemory())
	for _, e := range []struct{ method, path, body string }{
		{"GET", "/admin/budget", ""}, {"GET", "/admin/users/alice/budget", ""},
		{"PUT", "/admin/users/alice/budget", `{"daily_usd":1}`}, {"DELETE", "/admin/users/alice/budget", ""},
	} {
		if w := do(h, e.method, e.path, e.body); w.Code != 401 {
			t.Errorf("%s %s without the token: %d", e.method, e.path, w.Code)
		}
	}
	if w := do(h, "PUT", "/admin/users/alice/budget", `{"daily_usd":"2.5","daily_minutes":"unlimited"}`, bearer); w.Code != 200 ||
		!strings.Contains(w.Body.String(), `"override":{"daily_usd":2.50,"daily_minutes":"unlimited"}`) || !strings.Contains(w.Body.String(), `"limit_usd":2.50`) {
		t.Fatalf("set: %d %s", w.Code, w.Body)
	}
	if w := do(h, "GET", "/admin/users/alice/budget", "", bearer); w.Code != 200 || !strings.Contains(w.Body.String(), `"user_id":"alice"`) {
		t.Fatalf("get: %d %s", w.Code, w.Body)
	}
	if w := do(h, "DELETE", "/admin/users/alice/budget", "", bearer); w.Code != 200 || !strings.Contains(w.Body.String(), `"had_override":true`) {
		t.Fatalf("clear: %d %s", w.Code, w.Body)
	}
	if w := do(h, "GET", "/admin/budget?limit=5", "", bearer); w.Code != 200 || !strings.Contains(w.Body.String(), `"global":{"spent_usd":0.00,"limit_usd":100.00`) {
		t.Fatalf("report: %d %s", w.Code, w.Body)
	}
	for _, bad := range []struct{ method, path, body string }{
		{"GET", "/admin/budget?limit=0", ""}, {"GET", "/admin/budget?limit=1001", ""}, {"GET", "/admin/budget?limit=x", ""},
		{"PUT", "/admin/users/alice/budget", `{"daily_usd":"five"}`}, {"PUT", "/admin/users/alice/budget", strings.Repeat(" ", 4097) + "{}"},
		{"PUT", "/admin/users/" + strings.Repeat("a", 300) + "/budget", `{}`},
	} {
		if w := do(h, bad.method, bad.path, bad.body, bearer); w.Code != 400 || code(t, w) != httpx.CodeBadRequest {
			t.Errorf("%s %s: %d %s", bad.method, bad.path[:min(len(bad.path), 40)], w.Code, w.Body)
		}
	}
}

func TestBudgetEndpointsAnswer503WhenTheStoreIsDown(t *testing.T) {
	h := newBudgetAPI(t, &downStore{})
	for _, e := range []struct{ method, path, body string }{
		{"GET", "/admin/budget", ""}, {"GET", "/admin/users/alice/budget", ""},
		{"PUT", "/admin/users/alice/budget", `{"daily_usd":1}`}, {"DELETE", "/admin/users/alice/budget", ""},
	} {
		w := do(h, e.method, e.path, e.body, bearer)
		if w.Code != 503 || code(t, w) != httpx.CodeUnavailable || strings.Contains(w.Body.String(), "6379") {
			t.Errorf("%s %s: %d %s", e.method, e.path, w.Code, w.Body)
		}
	}
}

func TestNoBudgetEndpointsWithoutBudgets(t *testing.T) {
	h, _, _ := newAPI(&fakeUsers{}, nil, 0)
	if w := do(h, "GET", "/admin/budget", "", bearer); w.Code != 404 {
		t.Fatalf("%d", w.Code)
	}
}
