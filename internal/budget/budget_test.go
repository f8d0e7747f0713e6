package budget_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/rtgate/rtgate/internal/budget"
	"github.com/rtgate/rtgate/internal/pricing"
)

const usd = pricing.Dollar

// clock is a settable clock for the Budget.
type clock struct{ t time.Time }

func (c *clock) Now() time.Time { return c.t }

func newBudget(t *testing.T, o budget.Options) (*budget.Budget, *clock, *prometheus.Registry) {
	t.Helper()
	c := &clock{t: time.Date(2026, 3, 31, 22, 0, 0, 0, time.UTC)}
	if o.Store == nil {
		o.Store = budget.NewMemory()
	}
	if o.Now == nil {
		o.Now = c.Now
	}
	if o.Metrics == nil {
		o.Metrics = budget.NewMetrics()
	}
	reg := prometheus.NewRegistry()
	if err := o.Metrics.Register(reg, o.Limits.GlobalDaily >= 0); err != nil {
		t.Fatal(err)
	}
	b, err := budget.New(o)
	if err != nil {
		t.Fatal(err)
	}
	return b, c, reg
}

func limits(userDaily, userMonthly pricing.Micros, userTime time.Duration, global pricing.Micros) budget.Totals {
	return budget.Totals{UserDaily: userDaily, UserMonthly: userMonthly, UserDailyTime: userTime, GlobalDaily: global}
}

func mustCharge(t *testing.T, b *budget.Budget, call budget.Call, u budget.Usage) budget.Result {
	t.Helper()
	r, err := b.Charge(context.Background(), call, u)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func realtime(textIn, cachedText, audioIn, cachedAudio, textOut, audioOut int64) *pricing.RealtimeUsage {
	u := &pricing.RealtimeUsage{InputTokens: textIn + audioIn, OutputTokens: textOut + audioOut}
	u.InputTokenDetails.TextTokens, u.InputTokenDetails.AudioTokens = textIn, audioIn
	u.InputTokenDetails.CachedTokens = cachedText + cachedAudio
	u.InputTokenDetails.CachedTokensDetails.TextTokens, u.InputTokenDetails.CachedTokensDetails.AudioTokens = cachedText, cachedAudio
	u.OutputTokenDetails.TextTokens, u.OutputTokenDetails.AudioTokens = textOut, audioOut
	return u
}

// TestScriptedRealtimeCallIsChargedToTheCent: the worked example of
// docs/budgets.md. A gpt-realtime-2.1 call with three responses, charged
// as each response.done arrives.
func TestScriptedRealtimeCallIsChargedToTheCent(t *testing.T) {
	b, _, reg := newBudget(t, budget.Options{Limits: budget.Unlimited})
	call := budget.Call{ID: "call_1", User: "alice", Kind: budget.KindRealtime, Model: "gpt-realtime-2.1"}
	steps := []struct {
		u    budget.Usage
		want pricing.Micros
	}{
		// Response 1: 300 instruction text tokens, 150 audio tokens of the
		// user (15 s), 20 text and 240 audio out, nothing cached:
		//   300 × $4/M + 150 × $32/M + 20 × $24/M + 240 × $64/M
		//   = 0.0012 + 0.0048 + 0.00048 + 0.01536 = $0.02184
		{budget.Usage{Realtime: realtime(300, 0, 150, 0, 20, 240), Elapsed: 20 * time.Second}, 21_840},
		// Response 2: the context so far is cached (300 text + 150 audio),
		// the model's own 240 audio and 20 text come back as input and
		// are not cached yet, and 100 new user audio tokens:
		//   text in 320 (300 cached): 20 × $4/M + 300 × $0.40/M = 0.00008 + 0.00012
		//   audio in 490 (150 cached): 340 × $32/M + 150 × $0.40/M = 0.01088 + 0.00006
		//   out 30 text + 400 audio: 30 × $24/M + 400 × $64/M = 0.00072 + 0.0256
		//   = 0.0002 + 0.01094 + 0.02632 = $0.03746
		{budget.Usage{Realtime: realtime(320, 300, 490, 150, 30, 400), Elapsed: 25 * time.Second}, 37_460},
		// Response 3 (the docs' single-turn example):
		//   200 × $4/M + 1000 × $0.40/M + 300 × $32/M + 500 × $0.40/M
		//   + 100 × $24/M + 600 × $64/M = $0.0518
		{budget.Usage{Realtime: realtime(1200, 1000, 800, 500, 100, 600), Elapsed: 15 * time.Second}, 51_800},
		// The call's end: 5 s more of wall clock, no tokens.
		{budget.Usage{Elapsed: 5 * time.Second}, 0},
	}
	var r budget.Result
	for i, s := range steps {
		r = mustCharge(t, b, call, s.u)
		if r.Cost != s.want {
			t.Errorf("step %d cost %s, want %s", i+1, r.Cost, s.want)
		}
	}
	// Total: 0.02184 + 0.03746 + 0.0518 = $0.1111 (11.11 cents), over 65 s.
	if r.Balance.Spent.UserDaily != 111_100 || r.Balance.Spent.GlobalDaily != 111_100 || r.Balance.Spent.UserDailyTime != 65*time.Second {
		t.Fatalf("charged %+v, want $0.1111 and 65 s", r.Balance.Spent)
	}
	if got := testutil.ToFloat64(costCounter(t, reg, "gpt-realtime-2.1", "realtime")); got < 0.111099 || got > 0.111101 {
		t.Errorf("cost metric %v, want 0.1111", got)
	}
}

func costCounter(t *testing.T, reg *prometheus.Registry, model, kind string) prometheus.Collector {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "rtgate_budget_cost_dollars_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["model"] == model && labels["kind"] == kind {
				return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "x", Help: "x"}, func() float64 { return m.GetCounter().GetValue() })
			}
		}
	}
	t.Fatalf("no cost series for %s/%s", model, kind)
	return nil
}

// TestScriptedLiveSessionIsChargedToTheCent: a gpt-live-1 session of
// 90.5 s, its usage arriving as cumulative usage.seconds.
func TestScriptedLiveSessionIsChargedToTheCent(t *testing.T) {
	b, _, _ := newBudget(t, budget.Options{Limits: budget.Unlimited})
	call := budget.Call{ID: "call_2", User: "alice", Kind: budget.KindLive, Model: "gpt-live-1"}
	ctx := context.Background()
	// Creation: 15 s billed at $0.05/min = $0.0125.
	r, err := b.Created(ctx, call)
	if err != nil || r.Cost != 12_500 || r.Time != 15*time.Second {
		t.Fatalf("creation: %+v %v", r, err)
	}
	// session.usage.updated at 4 s, 10 s, 16.2 s, 60 s, then session.closed
	// at 90.5 s. Within the first 15 s nothing more is due (the creation
	// charge covers them); 16.2 s costs 1.2 s more = $0.001; then 43.8 s
	// = $0.0365; then 30.5 s = $0.025416666… The total is the session's
	// 90.5 s × $0.05/60 = $0.075416666… → $0.075417 (rounded up once).
	total := []float64{4, 10, 16.2, 60, 90.5}
	prev := time.Duration(0)
	for _, s := range total {
		cur, err := pricing.Seconds(s)
		if err != nil {
			t.Fatal(err)
		}
		r = mustCharge(t, b, call, budget.Usage{LiveTotal: cur, LiveDelta: cur - prev})
		prev = cur
	}
	if r.Balance.Spent.UserDaily != 75_417 || r.Balance.Spent.UserDailyTime != 90500*time.Millisecond {
		t.Fatalf("charged %s and %v, want $0.075417 and 90.5 s", r.Balance.Spent.UserDaily, r.Balance.Spent.UserDailyTime)
	}
}

func TestLiveSessionThatNeverRunsPaysTheCreationCharge(t *testing.T) {
	b, _, _ := newBudget(t, budget.Options{Limits: budget.Unlimited})
	call := budget.Call{ID: "call_3", User: "alice", Kind: budget.KindLive, Model: "gpt-live-1.1"}
	if _, err := b.Created(context.Background(), call); err != nil {
		t.Fatal(err)
	}
	r := mustCharge(t, b, call, budget.Usage{LiveTotal: 2 * time.Second, LiveDelta: 2 * time.Second})
	if r.Cost != 0 || r.Balance.Spent.UserDaily != 12_500 || r.Balance.Spent.UserDailyTime != 15*time.Second {
		t.Fatalf("%+v", r)
	}
}

func TestChargeRefusesImpossibleUsageAndChargesUnpricedTimeOnly(t *testing.T) {
	b, _, reg := newBudget(t, budget.Options{Limits: budget.Unlimited})
	ctx := context.Background()
	live := budget.Call{User: "alice", Kind: budget.KindLive, Model: "gpt-live-1"}
	for _, u := range []budget.Usage{{LiveTotal: time.Second, LiveDelta: 2 * time.Second}, {LiveTotal: time.Second, LiveDelta: -time.Second}} {
		if _, err := b.Charge(ctx, live, u); !errors.Is(err, pricing.ErrBadUsage) {
			t.Errorf("%+v: %v", u, err)
		}
	}
	rt := budget.Call{User: "alice", Kind: budget.KindRealtime, Model: "gpt-realtime-2.1"}
	if _, err := b.Charge(ctx, rt, budget.Usage{Realtime: realtime(1, 2, 0, 0, 0, 0)}); !errors.Is(err, pricing.ErrBadUsage) {
		t.Errorf("cached above input: %v", err)
	}
	unpriced := budget.Call{User: "alice", Kind: budget.KindRealtime, Model: "gpt-realtime-9"}
	r, err := b.Charge(ctx, unpriced, budget.Usage{Realtime: realtime(100, 0, 0, 0, 0, 0), Elapsed: time.Minute})
	if !errors.Is(err, budget.ErrNoPrice) || r.Balance.Spent.UserDailyTime != time.Minute || r.Balance.Spent.UserDaily != 0 {
		t.Fatalf("unpriced: %+v %v", r, err)
	}
	// A live model used as realtime is unpriced for that kind.
	if _, err := b.Charge(ctx, budget.Call{User: "alice", Kind: budget.KindRealtime, Model: "gpt-live-1"}, budget.Usage{Realtime: realtime(1, 0, 0, 0, 0, 0)}); !errors.Is(err, budget.ErrNoPrice) {
		t.Errorf("kind mismatch: %v", err)
	}
	if got := errorsCounted(t, reg); got["bad_usage"] != 3 || got["no_price"] != 2 {
		t.Errorf("charge errors %v", got)
	}
}

func errorsCounted(t *testing.T, reg *prometheus.Registry) map[string]float64 {
	return counted(t, reg, "rtgate_budget_charge_errors_total")
}

// counted maps the one label of the counter vector name to its values.
func counted(t *testing.T, reg *prometheus.Registry, name string) map[string]float64 {
	t.Helper()
	out := map[string]float64{}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			for _, m := range mf.GetMetric() {
				out[m.GetLabel()[0].GetValue()] = m.GetCounter().GetValue()
			}
		}
	}
	return out
}

// failing is a store whose every call fails.
type failing struct{ budget.Memory }

var errDown = errors.New("dial tcp 127.0.0.1:6379: connection refused")

func (*failing) Charge(context.Context, string, time.Time, budget.Amount, budget.Totals) (budget.Balance, error) {
	return budget.Balance{}, errDown
}

func (*failing) Balance(context.Context, string, time.Time, budget.Totals) (budget.Balance, error) {
	return budget.Balance{}, errDown
}

func TestAdmit(t *testing.T) {
	ctx := context.Background()
	// The clock reads 2026-03-31 22:00 UTC: the day resets in 2 h, the
	// month in 2 h too; on the 15th the month is 16 days and 2 h away.
	mid := time.Date(2026, 3, 15, 22, 0, 0, 0, time.UTC)
	tests := []struct {
		name   string
		o      budget.Options
		now    time.Time
		spend  map[string]budget.Amount // charged before, by user ("" anonymous)
		user   string
		kind   budget.Kind
		model  string
		limit  budget.Limit // "" admitted
		retry  time.Duration
		tokens bool // ErrTokenMode expected
	}{
		{name: "nothing configured admits", o: budget.Options{Limits: budget.Unlimited}, user: "alice", kind: budget.KindRealtime},
		{name: "room for a minimum call", o: budget.Options{Limits: limits(usd, budget.NoLimit, budget.NoLimit, budget.NoLimit), MinCall: 10 * pricing.Cent},
			spend: map[string]budget.Amount{"alice": {Cost: 90 * pricing.Cent}}, user: "alice", kind: budget.KindRealtime},
		{name: "daily budget cannot cover a minimum call: until midnight", o: budget.Options{Limits: limits(usd, budget.NoLimit, budget.NoLimit, budget.NoLimit), MinCall: 10 * pricing.Cent},
			now: mid, spend: map[string]budget.Amount{"alice": {Cost: 90*pricing.Cent + 1}}, user: "alice", kind: budget.KindRealtime,
			limit: budget.LimitUserDaily, retry: 2 * time.Hour},
		{name: "monthly budget: until the first of the month", o: budget.Options{Limits: limits(budget.NoLimit, 2*usd, budget.NoLimit, budget.NoLimit), MinCall: 10 * pricing.Cent},
			now: mid, spend: map[string]budget.Amount{"alice": {Cost: 2 * usd}}, user: "alice", kind: budget.KindRealtime,
			limit: budget.LimitUserMonthly, retry: 16*24*time.Hour + 2*time.Hour},
		{name: "daily and monthly both short: the later reset frees enough", o: budget.Options{Limits: limits(usd, usd, budget.NoLimit, budget.NoLimit), MinCall: 10 * pricing.Cent},
			now: mid, spend: map[string]budget.Amount{"alice": {Cost: usd}}, user: "alice", kind: budget.KindRealtime,
			limit: budget.LimitUserMonthly, retry: 16*24*time.Hour + 2*time.Hour},
		{name: "minutes: until midnight", o: budget.Options{Limits: limits(budget.NoLimit, budget.NoLimit, 30*time.Minute, budget.NoLimit), MinCallTime: 30 * time.Second},
			now: mid, spend: map[string]budget.Amount{"alice": {Time: 29*time.Minute + 31*time.Second}}, user: "alice", kind: budget.KindRealtime,
			limit: budget.LimitUserMinutes, retry: 2 * time.Hour},
		{name: "global budget refuses everyone, other users' spend included", o: budget.Options{Limits: limits(budget.NoLimit, budget.NoLimit, budget.NoLimit, 10*usd), MinCall: 10 * pricing.Cent},
			now: mid, spend: map[string]budget.Amount{"bob": {Cost: 6 * usd}, "": {Cost: 4 * usd}}, user: "alice", kind: budget.KindRealtime,
			limit: budget.LimitGlobalDaily, retry: 2 * time.Hour},
		{name: "anonymous callers meet the global budget", o: budget.Options{Limits: limits(usd, budget.NoLimit, budget.NoLimit, 10*usd), MinCall: 10 * pricing.Cent},
			now: mid, spend: map[string]budget.Amount{"": {Cost: 10 * usd}}, user: "", kind: budget.KindRealtime,
			limit: budget.LimitGlobalDaily, retry: 2 * time.Hour},
		{name: "anonymous callers have no user budget", o: budget.Options{Limits: limits(0, 0, 0, budget.NoLimit), MinCall: 10 * pricing.Cent},
			user: "", kind: budget.KindRealtime},
		{name: "a limit below the minimum call never frees enough: no Retry-After", o: budget.Options{Limits: limits(5*pricing.Cent, budget.NoLimit, budget.NoLimit, budget.NoLimit), MinCall: 10 * pricing.Cent},
			user: "alice", kind: budget.KindRealtime, limit: budget.LimitUserDaily},
		{name: "a live session needs at least its creation charge", o: budget.Options{Limits: limits(usd, budget.NoLimit, budget.NoLimit, budget.NoLimit), MinCall: 1},
			spend: map[string]budget.Amount{"alice": {Cost: usd - 12_499}}, user: "alice", kind: budget.KindLive, model: "gpt-live-1", limit: budget.LimitUserDaily, retry: 2 * time.Hour},
		{name: "a live session with its creation charge left is admitted", o: budget.Options{Limits: limits(usd, budget.NoLimit, budget.NoLimit, budget.NoLimit), MinCall: 1},
			spend: map[string]budget.Amount{"alice": {Cost: usd - 12_500}}, user: "alice", kind: budget.KindLive, model: "gpt-live-1"},
		{name: "a live session of a model not known yet needs the largest creation charge", o: budget.Options{Limits: limits(usd, budget.NoLimit, budget.NoLimit, budget.NoLimit), MinCall: 1},
			spend: map[string]budget.Amount{"alice": {Cost: usd - 12_499}}, user: "alice", kind: budget.KindLive, limit: budget.LimitUserDaily, retry: 2 * time.Hour},
		{name: "a live session needs its creation time", o: budget.Options{Limits: limits(budget.NoLimit, budget.NoLimit, time.Minute, budget.NoLimit), MinCallTime: time.Second},
			spend: map[string]budget.Amount{"alice": {Time: 46 * time.Second}}, user: "alice", kind: budget.KindLive, model: "gpt-live-1", limit: budget.LimitUserMinutes, retry: 2 * time.Hour},
		{name: "tokens while budgets are enforced and no worst case: refused", o: budget.Options{Limits: limits(usd, budget.NoLimit, budget.NoLimit, budget.NoLimit)},
			user: "alice", kind: budget.KindToken, tokens: true},
		{name: "tokens without budgets: admitted", o: budget.Options{Limits: budget.Unlimited}, user: "alice", kind: budget.KindToken},
		{name: "tokens with a worst case the budget covers", o: budget.Options{Limits: limits(usd, budget.NoLimit, budget.NoLimit, budget.NoLimit), TokenWorstCase: 50 * pricing.Cent},
			spend: map[string]budget.Amount{"alice": {Cost: 50 * pricing.Cent}}, user: "alice", kind: budget.KindToken},
		{name: "tokens with a worst case the budget cannot cover", o: budget.Options{Limits: limits(usd, budget.NoLimit, budget.NoLimit, budget.NoLimit), TokenWorstCase: 50 * pricing.Cent},
			now: mid, spend: map[string]budget.Amount{"alice": {Cost: 50*pricing.Cent + 1}}, user: "alice", kind: budget.KindToken, limit: budget.LimitUserDaily, retry: 2 * time.Hour},
		{name: "a token's worst-case time against the minutes budget", o: budget.Options{Limits: limits(budget.NoLimit, budget.NoLimit, time.Hour, budget.NoLimit), TokenWorstCase: pricing.Cent, TokenWorstTime: time.Hour},
			now: mid, spend: map[string]budget.Amount{"alice": {Time: time.Second}}, user: "alice", kind: budget.KindToken, limit: budget.LimitUserMinutes, retry: 2 * time.Hour},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			store := budget.NewMemory()
			tt.o.Store = store
			b, c, reg := newBudget(t, tt.o)
			if !tt.now.IsZero() {
				c.t = tt.now
			}
			for user, a := range tt.spend {
				if _, err := store.Charge(ctx, user, c.t, a, tt.o.Limits); err != nil {
					t.Fatal(err)
				}
			}
			err := b.Admit(ctx, tt.user, tt.kind, tt.model)
			var r *budget.Refusal
			switch {
			case tt.tokens:
				if !errors.Is(err, budget.ErrTokenMode) {
					t.Fatalf("err = %v, want ErrTokenMode", err)
				}
				if got := refusalsCounted(t, reg)["token_mode"]; got != 1 {
					t.Errorf("token_mode refusals counted %v", got)
				}
			case tt.limit == "":
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
			case errors.As(err, &r):
				if r.Limit != tt.limit || r.RetryAfter != tt.retry {
					t.Fatalf("refusal %s after %v, want %s after %v", r.Limit, r.RetryAfter, tt.limit, tt.retry)
				}
				if got := refusalsCounted(t, reg)[string(tt.limit)]; got != 1 {
					t.Errorf("refusals counted %v", got)
				}
			default:
				t.Fatalf("err = %v, want a refusal on %s", err, tt.limit)
			}
		})
	}
}

func refusalsCounted(t *testing.T, reg *prometheus.Registry) map[string]float64 {
	return counted(t, reg, "rtgate_budget_refusals_total")
}

func TestAdmitFailsClosedWhenTheStoreIsDown(t *testing.T) {
	b, _, _ := newBudget(t, budget.Options{Store: &failing{}, Limits: limits(usd, budget.NoLimit, budget.NoLimit, budget.NoLimit)})
	if err := b.Admit(context.Background(), "alice", budget.KindRealtime, ""); !errors.Is(err, budget.ErrUnavailable) {
		t.Fatalf("err = %v", err)
	}
	if _, err := b.Charge(context.Background(), budget.Call{User: "alice", Kind: budget.KindRealtime, Model: "gpt-realtime-2.1"}, budget.Usage{Elapsed: time.Second}); !errors.Is(err, budget.ErrUnavailable) {
		t.Fatalf("charge err = %v", err)
	}
	// Without any budget nothing is enforced and the store is not asked:
	// its outage refuses nobody (tokens included).
	off, _, _ := newBudget(t, budget.Options{Store: &failing{}, Limits: budget.Unlimited})
	for _, k := range []budget.Kind{budget.KindRealtime, budget.KindLive, budget.KindToken} {
		if err := off.Admit(context.Background(), "alice", k, ""); err != nil {
			t.Errorf("%s without budgets: %v", k, err)
		}
	}
}

// TestChargesCreation: where ChargesCreation is false, Minted (tokens) and
// Created (other kinds) return a zero Result without asking the store (a
// failing one: any store call would be ErrUnavailable); where it is true,
// they reach it.
func TestChargesCreation(t *testing.T) {
	ctx := context.Background()
	for _, worst := range []pricing.Micros{0, 40 * pricing.Cent} {
		b, _, _ := newBudget(t, budget.Options{Store: &failing{}, Limits: limits(usd, budget.NoLimit, budget.NoLimit, budget.NoLimit), TokenWorstCase: worst, TokenWorstTime: time.Minute})
		for _, tt := range []struct {
			kind budget.Kind
			want bool
		}{{budget.KindToken, worst != 0}, {budget.KindRealtime, false}, {budget.KindLive, true}} {
			var r budget.Result
			var err error
			if tt.kind == budget.KindToken {
				r, err = b.Minted(ctx, "alice", "gpt-realtime-2.1")
			} else {
				r, err = b.Created(ctx, budget.Call{User: "alice", Kind: tt.kind, Model: "gpt-live-1"})
			}
			if got := b.ChargesCreation(tt.kind); got != tt.want {
				t.Errorf("worst case %v, %s: ChargesCreation %v, want %v", worst, tt.kind, got, tt.want)
			}
			if tt.want != errors.Is(err, budget.ErrUnavailable) || (!tt.want && r != (budget.Result{})) {
				t.Errorf("worst case %v, %s: %+v %v (charges: %v)", worst, tt.kind, r, err, tt.want)
			}
		}
	}
}

func TestMintedChargesTheWorstCase(t *testing.T) {
	o := budget.Options{Limits: limits(usd, budget.NoLimit, time.Hour, budget.NoLimit), TokenWorstCase: 40 * pricing.Cent, TokenWorstTime: 30 * time.Minute}
	b, _, reg := newBudget(t, o)
	ctx := context.Background()
	for i, want := range []budget.Limit{"", budget.LimitUserMinutes} {
		if err := b.Admit(ctx, "alice", budget.KindToken, "gpt-realtime-2.1"); err != nil {
			t.Fatalf("mint %d refused: %v", i+1, err)
		}
		r, err := b.Minted(ctx, "alice", "gpt-realtime-2.1")
		if err != nil || r.Cost != 40*pricing.Cent || r.Exhausted != want {
			t.Fatalf("mint %d: %+v %v", i+1, r, err)
		}
	}
	// 80 cents and an hour spent: the third is refused on both (the
	// minutes are checked after the money in the report, both reset at
	// midnight).
	var r *budget.Refusal
	if err := b.Admit(ctx, "alice", budget.KindToken, ""); !errors.As(err, &r) {
		t.Fatalf("third: %v", err)
	}
	if got := testutil.ToFloat64(costCounter(t, reg, "gpt-realtime-2.1", "token")); got != 0.8 {
		t.Errorf("cost metric %v", got)
	}
}

func TestStatusAndOverrides(t *testing.T) {
	b, _, _ := newBudget(t, budget.Options{Limits: limits(5*usd, 50*usd, 30*time.Minute, 100*usd)})
	ctx := context.Background()
	call := budget.Call{ID: "c", User: "alice", Kind: budget.KindRealtime, Model: "gpt-realtime-2.1"}
	mustCharge(t, b, call, budget.Usage{Realtime: realtime(1200, 1000, 800, 500, 100, 600), Elapsed: 90*time.Second + 250*time.Millisecond})
	s, err := b.Status(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	got, _ := json.Marshal(s)
	want := `{"daily":{"spent_usd":0.0518,"limit_usd":5.00,"remaining_usd":4.9482,"resets_at":"2026-04-01T00:00:00Z"},` +
		`"monthly":{"spent_usd":0.0518,"limit_usd":50.00,"remaining_usd":49.9482,"resets_at":"2026-04-01T00:00:00Z"},` +
		`"daily_time":{"used_seconds":90.25,"limit_seconds":1800,"remaining_seconds":1709.75,"resets_at":"2026-04-01T00:00:00Z"}}`
	if string(got) != want {
		t.Fatalf("status\n got %s\nwant %s", got, want)
	}
	o, err := budget.ParseOverride([]byte(`{"daily_usd": "0.05", "monthly_usd": "unlimited", "daily_minutes": 0}`))
	if err != nil {
		t.Fatal(err)
	}
	rep, err := b.SetOverride(ctx, "alice", o)
	if err != nil {
		t.Fatal(err)
	}
	got, _ = json.Marshal(rep)
	for _, part := range []string{`"user_id":"alice"`, `"daily":{"spent_usd":0.0518,"limit_usd":0.05,"remaining_usd":0.00`, `"monthly":{"spent_usd":0.0518,"resets_at"`,
		`"limit_seconds":0,"remaining_seconds":0`, `"override":{"daily_usd":0.05,"monthly_usd":"unlimited","daily_minutes":0}`} {
		if !strings.Contains(string(got), part) {
			t.Errorf("report %s lacks %s", got, part)
		}
	}
	if err := b.Admit(ctx, "alice", budget.KindRealtime, ""); err == nil {
		t.Error("admitted under a zero override")
	}
	if ok, err := b.ClearOverride(ctx, "alice"); !ok || err != nil {
		t.Fatalf("clear: %v %v", ok, err)
	}
	rep, _ = b.User(ctx, "alice")
	if rep.Override != nil || *rep.Daily.Limit != 5*usd {
		t.Errorf("after clear: %+v", rep)
	}
	rp, err := b.Report(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	got, _ = json.Marshal(rp)
	if want := `{"day":"2026-03-31","month":"2026-03","global":{"spent_usd":0.0518,"limit_usd":100.00,"remaining_usd":99.9482,"resets_at":"2026-04-01T00:00:00Z"},` +
		`"users_today":[{"user_id":"alice","spent_usd":0.0518}],"users_this_month":[{"user_id":"alice","spent_usd":0.0518}]}`; string(got) != want {
		t.Fatalf("report\n got %s\nwant %s", got, want)
	}
}

func TestParseOverrideIsStrict(t *testing.T) {
	for _, bad := range []string{`{"daily_usd": -1}`, `{"daily_usd": 1e2}`, `{"weekly_usd": 1}`, `{"daily_minutes": 1.5}`, `{"daily_minutes": 50000}`,
		`{"daily_minutes": "lots"}`, `{"daily_usd": "unlimited"} {}`, `[]`, `{"daily_usd": 0.0000001}`} {
		if _, err := budget.ParseOverride([]byte(bad)); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
	o, err := budget.ParseOverride([]byte(`{"daily_usd": null}`))
	if err != nil || !o.IsZero() {
		t.Errorf("null member: %+v %v", o, err)
	}
}
