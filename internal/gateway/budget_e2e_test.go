package gateway_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rtgate/rtgate/internal/apptest"
	"github.com/rtgate/rtgate/internal/auth/authtest"
	"github.com/rtgate/rtgate/internal/budget"
	"github.com/rtgate/rtgate/internal/httpx"
	"github.com/rtgate/rtgate/internal/ratelimit/redistest"
	"github.com/rtgate/rtgate/internal/simulator"
)

const (
	budgetJWTSecret = "budget-test-secret-0123456789abcdef"
	budgetAdmin     = "admin-token-0123456789abcdefghijklmnop"
)

func budgetEnv(extra map[string]string) map[string]string {
	env := map[string]string{"AUTH_MODE": "jwt", "AUTH_JWT_SECRET": budgetJWTSecret, "ADMIN_TOKEN": budgetAdmin,
		"RATE_LIMIT_MAX_REQUESTS": "1000", "USER_MAX_ACTIVE_SESSIONS": "0", "USER_DAILY_QUOTA": "0", "REALTIME_MODEL": "gpt-realtime-2.1"}
	for k, v := range extra {
		env[k] = v
	}
	return env
}

func bearer(t *testing.T, user string) string {
	t.Helper()
	return "Authorization: Bearer " + authtest.HS256(t, []byte(budgetJWTSecret), "", authtest.Claims(user, "", "", time.Now()))
}

func mintAs(t *testing.T, in *apptest.Instance, auth string) *apptest.Response {
	t.Helper()
	if auth == "" {
		return in.Do(t, "POST", "/api/realtime-session", "")
	}
	return in.Do(t, "POST", "/api/realtime-session", "", auth)
}

func callAs(t *testing.T, in *apptest.Instance, auth string) *apptest.Response {
	t.Helper()
	h := []string{sdpType}
	if auth != "" {
		h = append(h, auth)
	}
	return in.Do(t, "POST", "/api/realtime-call", testOffer, h...)
}

func admin(t *testing.T, in *apptest.Instance, method, path, body string) *apptest.Response {
	t.Helper()
	return apptest.DoURL(t, in.Client, method, in.AdminURL+path, body, "Authorization: Bearer "+budgetAdmin)
}

// assertBudgetRefused checks a budget refusal: 429 budget_exhausted, no
// upstream request, and, when untilMonth is false, a Retry-After that is the
// next UTC midnight (the month's start otherwise), as seen from the
// instants before and after the request.
func assertBudgetRefused(t *testing.T, in *apptest.Instance, do func() *apptest.Response, reset func(time.Time) time.Time) {
	t.Helper()
	upstream := in.Sim.Requests()
	before := time.Now()
	r := do()
	after := time.Now()
	assertRefused(t, in, r, http.StatusTooManyRequests, httpx.CodeBudgetExhausted, upstream)
	got, err := strconv.Atoi(r.Header.Get("Retry-After"))
	if err != nil {
		t.Fatalf("Retry-After %q", r.Header.Get("Retry-After"))
	}
	// The server rounds up the time from its own now, which lies between
	// before and after.
	lo, hi := int(reset(after).Sub(after).Seconds()), int(reset(before).Sub(before).Seconds())+1
	if got < lo || got > hi {
		t.Fatalf("Retry-After %d s, want the reset: between %d and %d", got, lo, hi)
	}
}

// TestEachBudgetRefusesBeforeTheUpstream: each limit, once it cannot cover
// a minimum call, refuses calls and tokens with 429 budget_exhausted and
// the Retry-After of its reset, and the upstream never sees the request.
// Spend comes from real mints at TOKEN_WORST_CASE_USD each.
func TestEachBudgetRefusesBeforeTheUpstream(t *testing.T) {
	tests := []struct {
		name  string
		env   map[string]string
		mints int // that fit
		reset func(time.Time) time.Time
	}{
		{"user daily dollars", map[string]string{"USER_DAILY_BUDGET_USD": "1", "TOKEN_WORST_CASE_USD": "0.45", "BUDGET_MIN_CALL_USD": "0.11"}, 2, budget.NextDay},
		{"user monthly dollars", map[string]string{"USER_MONTHLY_BUDGET_USD": "1", "TOKEN_WORST_CASE_USD": "0.45", "BUDGET_MIN_CALL_USD": "0.11"}, 2, budget.NextMonth},
		{"user daily minutes", map[string]string{"USER_DAILY_MINUTES": "2", "TOKEN_WORST_CASE_USD": "0.01", "USER_SESSION_MAX_SECONDS": "50", "BUDGET_MIN_CALL_SECONDS": "21"}, 2, budget.NextDay},
		{"global daily dollars", map[string]string{"DAILY_BUDGET_USD": "1", "TOKEN_WORST_CASE_USD": "0.45", "BUDGET_MIN_CALL_USD": "0.11"}, 2, budget.NextDay},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := apptest.Start(t, budgetEnv(tt.env))
			alice := bearer(t, "alice")
			for i := range tt.mints {
				if r := mintAs(t, in, alice); r.StatusCode != 200 {
					t.Fatalf("mint %d: %d %s", i+1, r.StatusCode, r.Body)
				}
			}
			// What is left covers neither a token's worst case nor a
			// minimum call.
			assertBudgetRefused(t, in, func() *apptest.Response { return mintAs(t, in, alice) }, tt.reset)
			assertBudgetRefused(t, in, func() *apptest.Response { return callAs(t, in, alice) }, tt.reset)
			// The refusals gave the user's admission back.
			var me struct {
				UsedToday int `json:"used_today"`
			}
			if r := in.Do(t, "GET", "/api/me/data", "", alice); r.StatusCode != 200 || json.Unmarshal([]byte(r.Body), &me) != nil || me.UsedToday != tt.mints {
				t.Fatalf("me: %d %s", r.StatusCode, r.Body)
			}
			limit := map[string]string{"user daily dollars": "user_daily", "user monthly dollars": "user_monthly", "user daily minutes": "user_minutes", "global daily dollars": "global_daily"}[tt.name]
			if m := admin(t, in, "GET", "/metrics", ""); !strings.Contains(m.Body, `rtgate_budget_refusals_total{limit="`+limit+`"} 2`) {
				t.Errorf("refusals not counted under %s", limit)
			}
			// Another user is refused only by the global budget.
			bob := callAs(t, in, bearer(t, "bob"))
			if global := tt.name == "global daily dollars"; global != (bob.StatusCode == http.StatusTooManyRequests) {
				t.Errorf("bob: %d %s", bob.StatusCode, bob.Body)
			}
		})
	}
}

// TestBudgetVisibilityAndOverrides: /api/me/data shows spend and what is
// left; the operator lists spend and lifts a user's budget, after which
// the user's call reaches the upstream.
func TestBudgetVisibilityAndOverrides(t *testing.T) {
	in := apptest.Start(t, budgetEnv(map[string]string{"USER_DAILY_BUDGET_USD": "1", "USER_MONTHLY_BUDGET_USD": "20", "TOKEN_WORST_CASE_USD": "0.45", "BUDGET_MIN_CALL_USD": "0.11"}))
	alice := bearer(t, "alice")
	for range 2 {
		if r := mintAs(t, in, alice); r.StatusCode != 200 {
			t.Fatalf("mint: %d %s", r.StatusCode, r.Body)
		}
	}
	r := in.Do(t, "GET", "/api/me/data", "", alice)
	var me struct {
		UserID string        `json:"user_id"`
		Budget budget.Status `json:"budget"`
	}
	if err := json.Unmarshal([]byte(r.Body), &me); err != nil || me.UserID != "alice" {
		t.Fatalf("me: %s", r.Body)
	}
	d := me.Budget.Daily
	if d.Spent != 900_000 || *d.Limit != 1_000_000 || *d.Remaining != 100_000 || me.Budget.Monthly.Spent != 900_000 || *me.Budget.Monthly.Remaining != 19_100_000 {
		t.Fatalf("budget %s", r.Body)
	}
	if !strings.Contains(r.Body, `"daily":{"spent_usd":0.90,"limit_usd":1.00,"remaining_usd":0.10,`) {
		t.Errorf("money is not written as exact dollars: %s", r.Body)
	}

	// The operator sees the spend.
	rep := admin(t, in, "GET", "/admin/budget", "")
	if rep.StatusCode != 200 || !strings.Contains(rep.Body, `"users_today":[{"user_id":"alice","spent_usd":0.90}]`) {
		t.Fatalf("report: %d %s", rep.StatusCode, rep.Body)
	}
	if u := admin(t, in, "GET", "/admin/users/alice/budget", ""); u.StatusCode != 200 || !strings.Contains(u.Body, `"remaining_usd":0.10`) || strings.Contains(u.Body, "override") {
		t.Fatalf("user: %d %s", u.StatusCode, u.Body)
	}

	// Refused, then lifted for alice only.
	before := in.Sim.Requests()
	assertRefused(t, in, callAs(t, in, alice), http.StatusTooManyRequests, httpx.CodeBudgetExhausted, before)
	set := admin(t, in, "PUT", "/admin/users/alice/budget", `{"daily_usd": 5}`)
	if set.StatusCode != 200 || !strings.Contains(set.Body, `"override":{"daily_usd":5.00}`) || !strings.Contains(set.Body, `"remaining_usd":4.10`) {
		t.Fatalf("override: %d %s", set.StatusCode, set.Body)
	}
	// One create upstream (and the call's sideband).
	if r := callAs(t, in, alice); r.StatusCode != http.StatusCreated || in.Sim.Hits("/v1/realtime/calls") != 1 {
		t.Fatalf("call under the override: %d %s", r.StatusCode, r.Body)
	}
	// Bad overrides are refused and change nothing.
	for _, body := range []string{`{"daily_usd": -5}`, `{"daily": 5}`, `not json`} {
		if r := admin(t, in, "PUT", "/admin/users/alice/budget", body); r.StatusCode != 400 {
			t.Errorf("%s: %d %s", body, r.StatusCode, r.Body)
		}
	}
	if r := apptest.DoURL(t, in.Client, "PUT", in.AdminURL+"/admin/users/alice/budget", `{"daily_usd": 500}`); r.StatusCode != 401 {
		t.Errorf("without the admin token: %d", r.StatusCode)
	}
	if r := admin(t, in, "DELETE", "/admin/users/alice/budget", ""); r.StatusCode != 200 || !strings.Contains(r.Body, `"had_override":true`) {
		t.Fatalf("clear: %d %s", r.StatusCode, r.Body)
	}
	before = in.Sim.Requests()
	assertRefused(t, in, callAs(t, in, alice), http.StatusTooManyRequests, httpx.CodeBudgetExhausted, before)

	// Metrics: cost by model and kind, never by user.
	m := admin(t, in, "GET", "/metrics", "").Body
	if !strings.Contains(m, `rtgate_budget_cost_dollars_total{kind="token",model="gpt-realtime-2.1"} 0.9`) {
		t.Errorf("cost metric missing:\n%s", grep(m, "rtgate_budget"))
	}
	if strings.Contains(grep(m, "rtgate_budget"), "alice") {
		t.Error("a budget metric names the user")
	}
}

func grep(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestTokenModeIsRefusedWhileBudgetsAreEnforced: without a worst case to
// charge, a token cannot be metered, so it is refused (403) before the
// upstream; calls still work.
func TestTokenModeIsRefusedWhileBudgetsAreEnforced(t *testing.T) {
	in := apptest.Start(t, budgetEnv(map[string]string{"USER_DAILY_BUDGET_USD": "5"}))
	alice := bearer(t, "alice")
	before := in.Sim.Requests()
	r := mintAs(t, in, alice)
	assertRefused(t, in, r, http.StatusForbidden, httpx.CodeForbidden, before)
	if !strings.Contains(r.Body, "server-side call") {
		t.Errorf("the refusal does not say what to do: %s", r.Body)
	}
	if r := callAs(t, in, alice); r.StatusCode != http.StatusCreated {
		t.Fatalf("call: %d %s", r.StatusCode, r.Body)
	}
}

// TestGlobalBudgetIsSharedByInstances: two instances on one Redis share
// the global daily budget: what anonymous callers spend on one is refused
// on the other, before its upstream.
func TestGlobalBudgetIsSharedByInstances(t *testing.T) {
	srv := redistest.Start(t)
	key := apptest.RandomKey()
	sim := simulator.New(simulator.Options{APIKeys: []string{key}})
	simSrv := httptest.NewServer(sim)
	t.Cleanup(simSrv.Close)
	env := map[string]string{"AUTH_MODE": "none", "REDIS_URL": srv.URL(), "RATE_LIMIT_MAX_REQUESTS": "1000",
		"DAILY_BUDGET_USD": "1", "TOKEN_WORST_CASE_USD": "0.6", "BUDGET_MIN_CALL_USD": "0.5"}
	a := apptest.StartWith(t, sim, simSrv.URL+"/v1", key, env)
	b := apptest.StartWith(t, sim, simSrv.URL+"/v1", key, env)
	if r := mintAs(t, a, ""); r.StatusCode != 200 {
		t.Fatalf("first mint: %d %s", r.StatusCode, r.Body)
	}
	assertBudgetRefused(t, b, func() *apptest.Response { return mintAs(t, b, "") }, budget.NextDay)
	assertBudgetRefused(t, b, func() *apptest.Response { return callAs(t, b, "") }, budget.NextDay)
	if m := apptest.DoURL(t, b.Client, "GET", b.AdminURL+"/metrics", "").Body; !strings.Contains(m, "rtgate_budget_global_spent_dollars 0.6") || !strings.Contains(m, "rtgate_budget_global_limit_dollars 1") {
		t.Errorf("global gauges:\n%s", grep(m, "rtgate_budget_global"))
	}
}

// TestBudgetStoreOutageFailsClosed: with a budget set and its Redis gone,
// calls and tokens get 503 before the upstream and the instance reports
// itself unready.
func TestBudgetStoreOutageFailsClosed(t *testing.T) {
	srv := redistest.Start(t)
	in := apptest.Start(t, budgetEnv(map[string]string{"REDIS_URL": srv.URL(), "USER_DAILY_BUDGET_USD": "5", "TOKEN_WORST_CASE_USD": "0.10",
		"RATE_LIMIT_REDIS_FAILURE": "local"}))
	alice := bearer(t, "alice")
	if r := mintAs(t, in, alice); r.StatusCode != 200 {
		t.Fatalf("mint: %d %s", r.StatusCode, r.Body)
	}
	srv.Kill()
	for _, do := range []func() *apptest.Response{func() *apptest.Response { return mintAs(t, in, alice) }, func() *apptest.Response { return callAs(t, in, alice) }} {
		before := in.Sim.Requests()
		assertRefused(t, in, do(), http.StatusServiceUnavailable, httpx.CodeUnavailable, before)
	}
	r := apptest.DoURL(t, in.Client, "GET", in.AdminURL+"/readyz", "")
	if r.StatusCode != http.StatusServiceUnavailable || !strings.Contains(r.Body, `"budget_store":"dial tcp`) {
		t.Fatalf("readyz: %d %s", r.StatusCode, r.Body)
	}
}
