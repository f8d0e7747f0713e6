package gateway_test

import (
	"encoding/json"
	"math"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rtgate/rtgate/internal/apptest"
	"github.com/rtgate/rtgate/internal/budget"
	"github.com/rtgate/rtgate/internal/httpx"
	"github.com/rtgate/rtgate/internal/pricing"
	"github.com/rtgate/rtgate/internal/simulator"
)

// The worked example of docs/budgets.md, through rtgate: a user's call on
// the simulator, metered by rtgate's own sideband, is charged exactly the
// figure computed by hand from the documented prices, and the user, the
// operator and the cost counter all show that figure.

// realtimeUsage is one response's usage: input text and audio tokens with
// their cached parts, output text and audio tokens.
func realtimeUsage(textIn, cachedText, audioIn, cachedAudio, textOut, audioOut int64) simulator.Usage {
	var u simulator.Usage
	u.InputTokenDetails.TextTokens, u.InputTokenDetails.AudioTokens = textIn, audioIn
	u.InputTokenDetails.CachedTokensDetails.TextTokens, u.InputTokenDetails.CachedTokensDetails.AudioTokens = cachedText, cachedAudio
	u.OutputTokenDetails.TextTokens, u.OutputTokenDetails.AudioTokens = textOut, audioOut
	return u
}

// spendOf is what alice's /api/me/data and the operator's two views say
// she spent today, with the raw bodies (to check the decimals written).
type spendOf struct {
	me, operator                 budget.Status
	meBody, userBody, reportBody string
	// usedMillisecs and operatorUsedMilli are the minutes used, in ms, as
	// alice and the operator see them.
	usedMillisecs, operatorUsedMilli int64
}

// waitSpend polls the operator's view of alice's budget (the admin
// listener, which no rate limit counts) until done holds, then returns
// every view; it fails with the last reading if done does not hold within
// 30 s.
func waitSpend(t *testing.T, in *apptest.Instance, auth, what string, done func(budget.UserReport) bool) spendOf {
	t.Helper()
	for end := time.Now().Add(30 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		var rep budget.UserReport
		u := admin(t, in, "GET", "/admin/users/alice/budget", "")
		if u.StatusCode != http.StatusOK || json.Unmarshal([]byte(u.Body), &rep) != nil {
			t.Fatalf("operator: %d %s", u.StatusCode, u.Body)
		}
		if done(rep) {
			return readSpend(t, in, auth)
		}
		if time.Now().After(end) {
			t.Fatalf("no %s: %s", what, u.Body)
		}
	}
}

func readSpend(t *testing.T, in *apptest.Instance, auth string) spendOf {
	t.Helper()
	var s spendOf
	r := in.Do(t, "GET", "/api/me/data", "", auth)
	var me struct {
		Budget budget.Status `json:"budget"`
	}
	if r.StatusCode != http.StatusOK || json.Unmarshal([]byte(r.Body), &me) != nil {
		t.Fatalf("me: %d %s", r.StatusCode, r.Body)
	}
	s.me, s.meBody = me.Budget, r.Body
	u := admin(t, in, "GET", "/admin/users/alice/budget", "")
	var rep budget.UserReport
	if u.StatusCode != http.StatusOK || json.Unmarshal([]byte(u.Body), &rep) != nil {
		t.Fatalf("operator: %d %s", u.StatusCode, u.Body)
	}
	s.operator, s.userBody = rep.Status, u.Body
	g := admin(t, in, "GET", "/admin/budget", "")
	if g.StatusCode != http.StatusOK {
		t.Fatalf("report: %d %s", g.StatusCode, g.Body)
	}
	s.reportBody = g.Body
	s.usedMillisecs = millis(t, s.me.DailyTime.Used)
	s.operatorUsedMilli = millis(t, s.operator.DailyTime.Used)
	return s
}

// dollars is m as the float a Prometheus counter adds.
func dollars(m pricing.Micros) float64 { return float64(m) / float64(pricing.Dollar) }

// millis is a used_seconds figure (seconds to the millisecond) in ms.
func millis(t *testing.T, n json.Number) int64 {
	t.Helper()
	f, err := strconv.ParseFloat(string(n), 64)
	if err != nil {
		t.Fatalf("used_seconds %q", n)
	}
	return int64(math.Round(f * 1000))
}

// costMetric is the value of rtgate_budget_cost_dollars_total for kind and
// model on in's admin listener (0 when absent).
func costMetric(t *testing.T, in *apptest.Instance, kind, model string) float64 {
	t.Helper()
	re := regexp.MustCompile(`(?m)^rtgate_budget_cost_dollars_total\{kind="` + kind + `",model="` + regexp.QuoteMeta(model) + `"\} (\S+)$`)
	m := re.FindStringSubmatch(admin(t, in, "GET", "/metrics", "").Body)
	if m == nil {
		return 0
	}
	v, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// assertCharged checks that alice's spend, as she and the operator see it,
// is exactly want micro-dollars, written as the exact decimal dollars.
func assertCharged(t *testing.T, s spendOf, want pricing.Micros) {
	t.Helper()
	for name, st := range map[string]budget.Status{"/api/me/data": s.me, "/admin/users/alice/budget": s.operator} {
		if st.Daily.Spent != want || st.Monthly.Spent != want {
			t.Errorf("%s: spent %s today and %s this month, want %s", name, st.Daily.Spent, st.Monthly.Spent, want)
		}
	}
	dollars := `"spent_usd":` + want.String()
	if !strings.Contains(s.meBody, `"daily":{`+dollars) || !strings.Contains(s.userBody, `"daily":{`+dollars) {
		t.Errorf("the spend is not written as %s:\n%s\n%s", dollars, s.meBody, s.userBody)
	}
	if !strings.Contains(s.reportBody, `"users_today":[{"user_id":"alice",`+dollars+`}]`) {
		t.Errorf("the operator's report does not list alice at %s: %s", want, s.reportBody)
	}
}

// createOne creates a call on route as auth and returns rtgate's location
// of it and the id of the one session running upstream.
func createOne(t *testing.T, in *apptest.Instance, route string, running func() []string, auth string) (loc, up string) {
	t.Helper()
	r := in.Do(t, "POST", route, testOffer, sdpType, auth)
	if r.StatusCode != http.StatusCreated {
		t.Fatalf("create: %d %s", r.StatusCode, r.Body)
	}
	ids := running()
	if len(ids) != 1 {
		t.Fatalf("upstream sessions %v", ids)
	}
	return r.Header.Get("Location"), ids[0]
}

// TestRealtimeCallThroughRtgateIsChargedToTheCent: the three responses of
// the worked example (docs/budgets.md), emitted by the simulator on a
// user's call through POST /api/realtime-call and read by rtgate's
// sideband, cost exactly $0.1111. A Realtime call is billed by tokens
// alone: its running time counts only toward the minutes, where it is the
// wall-clock time of the call (bounded here by what the test measured).
func TestRealtimeCallThroughRtgateIsChargedToTheCent(t *testing.T) {
	const model = "gpt-realtime-2.1"
	in := apptest.Start(t, budgetEnv(map[string]string{"REALTIME_MODEL": model,
		"USER_DAILY_BUDGET_USD": "5", "USER_MONTHLY_BUDGET_USD": "20", "USER_DAILY_MINUTES": "30"}))
	alice := bearer(t, "alice")
	costBefore := costMetric(t, in, "realtime", model)

	beforeCreate := time.Now()
	loc, up := createOne(t, in, "/api/realtime-call", in.Sim.Calls, alice)
	afterCreate := time.Now()
	waitUntil(t, "the sideband", func() bool { return in.Sim.Sidebands(up) == 1 })

	// gpt-realtime-2.1, per 1M tokens: text in $4, cached $0.40, out $24;
	// audio in $32, cached $0.40, out $64. tokens × ($ per 1M) = µ$.
	// (in: text/cached text, audio/cached audio; out: text, audio)
	//   1: 300/0, 150/0; 20, 240:
	//      300×4 + 150×32 + 20×24 + 240×64 = 1200 + 4800 + 480 + 15360 = 21,840 µ$
	//   2: 320/300, 490/150; 30, 400:
	//      20×4 + 300×0.40 + 340×32 + 150×0.40 + 30×24 + 400×64
	//      = 80 + 120 + 10880 + 60 + 720 + 25600 = 37,460 µ$
	//   3: 1200/1000, 800/500; 100, 600:
	//      200×4 + 1000×0.40 + 300×32 + 500×0.40 + 100×24 + 600×64
	//      = 800 + 400 + 9600 + 200 + 2400 + 38400 = 51,800 µ$
	// total 21,840 + 37,460 + 51,800 = 111,100 µ$ = $0.1111 (11.11 cents).
	const want pricing.Micros = 111_100
	for _, u := range []simulator.Usage{realtimeUsage(300, 0, 150, 0, 20, 240), realtimeUsage(320, 300, 490, 150, 30, 400), realtimeUsage(1200, 1000, 800, 500, 100, 600)} {
		if _, err := in.Sim.EmitResponse(up, u); err != nil {
			t.Fatal(err)
		}
	}
	waitSpend(t, in, alice, "three responses charged", func(r budget.UserReport) bool { return r.Daily.Spent >= want })

	// Some running time after the last response, so that the hang-up's
	// own step (the time since that response) is a visible share of the
	// minutes: without it the figure stays below the lower bound.
	time.Sleep(100 * time.Millisecond)
	beforeHangup := time.Now()
	if h := in.Do(t, "POST", loc+"/hangup", "", alice); h.StatusCode != http.StatusNoContent {
		t.Fatalf("hang-up: %d %s", h.StatusCode, h.Body)
	}
	waitLog(t, in, `"msg":"call ended"`)
	waitUntil(t, "the call ended upstream", func() bool { _, ok := in.Sim.LookupCall(up); return !ok })
	s := readSpend(t, in, alice)
	afterRead := time.Now()

	// The running time and the hang-up add no money.
	assertCharged(t, s, want)
	if got := costMetric(t, in, "realtime", model) - costBefore; math.Abs(got-dollars(want)) > 1e-9 {
		t.Errorf("rtgate_budget_cost_dollars_total{kind=realtime} moved by %v, want %v", got, dollars(want))
	}
	// The minutes: the wall-clock time from the call's creation to its
	// hang-up (metered before the upstream hang-up, to the millisecond),
	// so at least from the answer to the hang-up request and at most from
	// the offer to this read. (The call's last few milliseconds, from the
	// hang-up to the sideband's close, may be charged between the two
	// readings.)
	lo, hi := beforeHangup.Sub(afterCreate).Milliseconds(), afterRead.Sub(beforeCreate).Milliseconds()
	for _, used := range []int64{s.usedMillisecs, s.operatorUsedMilli} {
		if used < lo || used > hi {
			t.Errorf("used %d ms of the minutes; the call ran between %d and %d ms", used, lo, hi)
		}
	}
	if s.me.DailyTime.Limit == nil || *s.me.DailyTime.Limit != "1800" {
		t.Errorf("minutes limit %v, want 1800 s", s.me.DailyTime.Limit)
	}
}

// TestLiveSessionThroughRtgateIsChargedToTheCent: the GPT-Live session of
// the worked example through POST /api/live-session: the creation charge
// at creation, usage.seconds 4, 10, 16.2 and 60 on session.usage.updated,
// and 90.5 on the session.closed that answers the user's hang-up. It costs
// exactly 90.5 s at $0.05/min, $0.075417, and 90.5 s of the minutes. The
// simulator's clock is the test's, so usage.seconds is exactly what the
// test scripts.
func TestLiveSessionThroughRtgateIsChargedToTheCent(t *testing.T) {
	const model = "gpt-live-1"
	key := apptest.RandomKey()
	base := time.Now()
	var ahead atomic.Int64 // how far the simulator's clock is ahead of base
	sim := simulator.New(simulator.Options{APIKeys: []string{key}, Now: func() time.Time { return base.Add(time.Duration(ahead.Load())) },
		LiveUsageInterval: time.Hour}) // no periodic usage: only the scripted figures
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	in := apptest.StartWith(t, sim, srv.URL+"/v1", key, budgetEnv(map[string]string{"LIVE_MODEL": model,
		"USER_DAILY_BUDGET_USD": "5", "USER_MONTHLY_BUDGET_USD": "20", "USER_DAILY_MINUTES": "30"}))
	alice := bearer(t, "alice")
	costBefore := costMetric(t, in, "live", model)

	loc, up := createOne(t, in, "/api/live-session", in.Sim.LiveSessions, alice)
	// At creation: 15 s at $0.05/min = 15/60 × 50,000 µ$ = 12,500 µ$, and
	// 15 s of the minutes, before any usage.
	s := readSpend(t, in, alice)
	assertCharged(t, s, 12_500)
	if s.usedMillisecs != 15_000 {
		t.Fatalf("used %d ms at creation, want the 15 s creation charge", s.usedMillisecs)
	}

	// usage.seconds 4 and 10 (covered by the creation charge: $0), 16.2
	// (1.2 s = 1,000 µ$), 60 (43.8 s = 36,500 µ$): 50,000 µ$ = $0.05, 60 s.
	for _, step := range []float64{4, 6, 6.2, 43.8} {
		if _, err := in.Sim.AdvanceLiveUsage(up, step); err != nil {
			t.Fatal(err)
		}
	}
	s = waitSpend(t, in, alice, "60 s charged", func(r budget.UserReport) bool { return r.DailyTime.Used == "60" })
	assertCharged(t, s, 50_000)
	if s.usedMillisecs != 60_000 {
		t.Fatalf("used %d ms, want 60 s", s.usedMillisecs)
	}

	// 30.5 s more pass; the user hangs up, and the session.closed that
	// answers carries usage.seconds 90.5: 90.5/60 × $0.05 = $0.0754166… →
	// 75,417 µ$ ($0.075417, 7.54 cents) in all, the last step 25,417 µ$.
	ahead.Store(int64(30500 * time.Millisecond))
	if h := in.Do(t, "POST", loc+"/hangup", "", alice); h.StatusCode != http.StatusNoContent {
		t.Fatalf("hang-up: %d %s", h.StatusCode, h.Body)
	}
	waitSpend(t, in, alice, "the closing usage charged", func(r budget.UserReport) bool { return r.DailyTime.Used == "90.5" })
	if reason, _ := in.Sim.EndReason(up); reason != "close_requested" {
		t.Fatalf("ended upstream with %q", reason)
	}
	const want pricing.Micros = 75_417
	s = readSpend(t, in, alice)
	assertCharged(t, s, want)
	if s.operatorUsedMilli != 90_500 || s.me.DailyTime.Used != "90.5" {
		t.Errorf("minutes %s (operator %d ms), want 90.5 s", s.me.DailyTime.Used, s.operatorUsedMilli)
	}
	if got := costMetric(t, in, "live", model) - costBefore; math.Abs(got-dollars(want)) > 1e-9 {
		t.Errorf("rtgate_budget_cost_dollars_total{kind=live} moved by %v, want %v", got, dollars(want))
	}

	// Below what she spent, her next session is refused before the
	// upstream.
	if set := admin(t, in, "PUT", "/admin/users/alice/budget", `{"daily_usd": 0.07}`); set.StatusCode != http.StatusOK {
		t.Fatalf("override: %d %s", set.StatusCode, set.Body)
	}
	before := in.Sim.Requests()
	assertRefused(t, in, in.Do(t, "POST", "/api/live-session", testOffer, sdpType, alice), http.StatusTooManyRequests, httpx.CodeBudgetExhausted, before)
}
