// Package budget enforces spend budgets: per user per UTC day and month in
// dollars, per user per UTC day in call time, and one global daily budget
// across all instances. It refuses a call that the remaining budget cannot
// cover (admission), charges each call's usage as it accrues (Charge, fed
// by the sideband), and ends a call whose user or the whole deployment ran
// out (Meter and Ender).
//
// Money is integer micro-dollars (pricing.Micros); time is kept to the
// millisecond. Counters live in a Store: Memory for one instance, Redis for
// many, where one Lua script charges the user's day, month and time and the
// global day together and returns what is left.
//
// # The overspend bound
//
// OpenAI reports usage after it happened, so a budget cannot stop the step
// that crosses it; what it can do is never lose a step and stop the call
// right after. A charging step is one usage report: for a Realtime call one
// response.done (one model response: its input, the whole conversation so
// far, and its output), for a GPT-Live session one session.usage.updated
// (or the final session.closed), plus the creation charge (15 s) once, and
// for a token one mint (the configured worst case).
//
// Each step is charged atomically and answered with the balance after it;
// a call is ended at its first answer that shows a limit exhausted
// (remaining ≤ 0). Let n calls charge one limit L, s_i be the size of call
// i's last step, and g_i what it uses during the grace before it ends.
// Then, once every call has been told, spend − L < Σ s_i + Σ g_i, and
// spend − L ≥ 0 only once a step crossed L. One call overspends by less
// than one step plus its grace. Instances sharing the user add nothing:
// every charge is an atomic increment that sees all others (no lost
// update, no stale read), so n calls spread over any number of instances
// meet exactly the bound n calls on one instance meet. For a user, n is at
// most USER_MAX_ACTIVE_SESSIONS; for the global budget it is every call in
// flight. The bound is tight: n steps in flight together when the
// remainder is 1 µ$ all land (budgettest shows both).
package budget

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/rtgate/rtgate/internal/pricing"
)

// Kind is what a charge is for: a proxied Realtime call, a GPT-Live
// session, or a minted token. The values match calls.Kind for the first
// two.
type Kind string

// Kinds.
const (
	KindRealtime Kind = "realtime"
	KindLive     Kind = "live"
	KindToken    Kind = "token"
)

// Limit names one budget: the values of the metrics' limit label, a fixed
// set.
type Limit string

// Limits.
const (
	LimitUserDaily   Limit = "user_daily"   // USER_DAILY_BUDGET_USD
	LimitUserMonthly Limit = "user_monthly" // USER_MONTHLY_BUDGET_USD
	LimitUserMinutes Limit = "user_minutes" // USER_DAILY_MINUTES
	LimitGlobalDaily Limit = "global_daily" // DAILY_BUDGET_USD
	// LimitTokenMode is not a budget: token mode refused because budgets
	// are enforced and tokens cannot be metered (TOKEN_WORST_CASE_USD unset).
	LimitTokenMode Limit = "token_mode"
)

var allLimits = []Limit{LimitUserDaily, LimitUserMonthly, LimitUserMinutes, LimitGlobalDaily}

// Errors.
var (
	// ErrUnavailable wraps a store failure. Admission fails closed on it:
	// the budgets are about money.
	ErrUnavailable = errors.New("budget: state unavailable")
	// ErrTokenMode refuses a token while budgets are enforced and no
	// TOKEN_WORST_CASE_USD is set: a minted secret opens sessions rtgate
	// cannot meter or end.
	ErrTokenMode = errors.New("budget: token mode is disabled while budgets are enforced")
	// ErrNoPrice is returned with a charge for a model the price table
	// does not know: its time was charged, its cost could not be.
	ErrNoPrice = errors.New("budget: no price for the model")
)

// Refusal is an admission refused because a budget cannot cover a minimum
// call. RetryAfter is when the next reset frees enough (the latest reset
// among the limits that refuse); 0 when no reset ever will (a limit below
// the minimum call itself).
type Refusal struct {
	Limit      Limit
	RetryAfter time.Duration
}

func (r *Refusal) Error() string { return "budget exhausted: " + string(r.Limit) }

// Call identifies what a charge is for.
type Call struct {
	// ID is rtgate's call id ("" for a token).
	ID string
	// User is the user id; "" for an anonymous caller (only the global
	// budget applies).
	User  string
	Kind  Kind
	Model string
}

// Usage is one usage increment of one call: one charging step.
type Usage struct {
	// Realtime is one response.done's response.usage (Realtime calls).
	Realtime *pricing.RealtimeUsage
	// Elapsed is a Realtime call's wall-clock time since its previous
	// report, counted against the time budget (Realtime usage is priced
	// by tokens, not by time).
	Elapsed time.Duration
	// LiveTotal is a Live session's cumulative usage.seconds after this
	// report (session.usage.updated or session.closed), and LiveDelta its
	// increase since the previous report. Both are needed: the creation
	// charge is credited against the first 15 s of the total.
	LiveTotal, LiveDelta time.Duration
}

// Result is the outcome of a charge.
type Result struct {
	// Cost is what this step added.
	Cost pricing.Micros
	// Time is the call time this step added.
	Time    time.Duration
	Balance Balance
	// Exhausted names the first limit in force with nothing left
	// (remaining ≤ 0) after the charge; "" when none.
	Exhausted Limit
}

// Options configures a Budget.
type Options struct {
	Store  Store
	Prices *pricing.Table
	// Limits are the defaults; NoLimit fields are off.
	Limits Totals
	// MinCall is the least a call must find left to be admitted
	// (BUDGET_MIN_CALL_USD); a Live session needs at least its creation
	// charge whatever MinCall says.
	MinCall pricing.Micros
	// MinCallTime is the least call time a call must find left when a time
	// budget is in force (BUDGET_MIN_CALL_SECONDS); at least the Live
	// creation time for a Live session.
	MinCallTime time.Duration
	// TokenWorstCase is charged for every minted token
	// (TOKEN_WORST_CASE_USD). 0 with budgets enforced refuses token mode.
	TokenWorstCase pricing.Micros
	// TokenWorstTime is the call time charged for every minted token: the
	// longest session a secret can open (USER_SESSION_MAX_SECONDS).
	TokenWorstTime time.Duration
	Metrics        *Metrics
	// Now is the clock; time.Now when nil.
	Now    func() time.Time
	Logger *slog.Logger
}

// Budget admits and charges against the budgets. It is safe for concurrent
// use.
type Budget struct {
	o        Options
	log      *slog.Logger
	enforced bool
	noPrice  sync.Map // model -> struct{}: unpriced models already logged
}

// New validates o and returns a Budget.
func New(o Options) (*Budget, error) {
	if o.Store == nil {
		return nil, errors.New("budget: a store is required")
	}
	if o.Prices == nil {
		o.Prices = pricing.Builtin()
	}
	if o.MinCall < 0 || o.MinCallTime < 0 || o.TokenWorstCase < 0 || o.TokenWorstTime < 0 {
		return nil, errors.New("budget: negative minimum or worst case")
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Metrics == nil {
		o.Metrics = NewMetrics()
	}
	b := &Budget{o: o, log: o.Logger, enforced: o.Limits != Unlimited}
	if o.Limits.GlobalDaily >= 0 {
		o.Metrics.globalLimit.Set(float64(o.Limits.GlobalDaily) / float64(pricing.Dollar))
	}
	return b, nil
}

// Enforced reports whether any default limit is in force; without one,
// Admit admits everything and per-user overrides are not consulted.
func (b *Budget) Enforced() bool { return b.enforced }

func unavailable(err error) error { return fmt.Errorf("%w: %w", ErrUnavailable, err) }

// remaining is limit − spent, or ok false when the limit is off.
func remaining[T pricing.Micros | time.Duration](limit, spent T) (T, bool) {
	if limit < 0 {
		return 0, false
	}
	return limit - spent, true
}

// Remaining is what is left of each limit in b (may be negative after an
// overspend); a limit that is off is NoLimit.
func (b Balance) Remaining() Totals {
	r := Unlimited
	if v, ok := remaining(b.Limits.UserDaily, b.Spent.UserDaily); ok {
		r.UserDaily = v
	}
	if v, ok := remaining(b.Limits.UserMonthly, b.Spent.UserMonthly); ok {
		r.UserMonthly = v
	}
	if v, ok := remaining(b.Limits.UserDailyTime, b.Spent.UserDailyTime); ok {
		r.UserDailyTime = v
	}
	if v, ok := remaining(b.Limits.GlobalDaily, b.Spent.GlobalDaily); ok {
		r.GlobalDaily = v
	}
	return r
}

// Exhausted names the first limit in force (user daily, user monthly, user
// time, global daily) with nothing left, or "".
func (b Balance) Exhausted() Limit {
	blocked, _ := b.short(Amount{Cost: 1, Time: time.Millisecond})
	if len(blocked) == 0 {
		return ""
	}
	return blocked[0]
}

// short lists the limits in force that cannot cover need, in allLimits
// order, and the limits among them whose own size is below need (no reset
// frees them).
func (b Balance) short(need Amount) (blocked []Limit, never map[Limit]bool) {
	never = map[Limit]bool{}
	check := func(l Limit, limit, spent, n int64) {
		if limit < 0 || limit-spent >= n {
			return
		}
		blocked = append(blocked, l)
		if limit < n {
			never[l] = true
		}
	}
	check(LimitUserDaily, int64(b.Limits.UserDaily), int64(b.Spent.UserDaily), int64(need.Cost))
	check(LimitUserMonthly, int64(b.Limits.UserMonthly), int64(b.Spent.UserMonthly), int64(need.Cost))
	check(LimitUserMinutes, int64(b.Limits.UserDailyTime), int64(b.Spent.UserDailyTime), int64(need.Time))
	check(LimitGlobalDaily, int64(b.Limits.GlobalDaily), int64(b.Spent.GlobalDaily), int64(need.Cost))
	return blocked, never
}

// resetOf is when limit l next resets after now.
func resetOf(l Limit, now time.Time) time.Time {
	if l == LimitUserMonthly {
		return NextMonth(now)
	}
	return NextDay(now)
}

// need is the least a call of kind on model must find left to start.
func (b *Budget) need(kind Kind, model string) Amount {
	switch kind {
	case KindToken:
		return Amount{Cost: b.o.TokenWorstCase, Time: b.o.TokenWorstTime}
	case KindLive:
		creation, d := b.liveCreation(model)
		return Amount{Cost: max(b.o.MinCall, creation), Time: max(b.o.MinCallTime, d)}
	}
	return Amount{Cost: b.o.MinCall, Time: b.o.MinCallTime}
}

// liveCreation is model's creation charge and time, or, for a model the
// table does not know (or ""), the largest of any Live model it knows.
func (b *Budget) liveCreation(model string) (pricing.Micros, time.Duration) {
	if p, ok := b.o.Prices.Lookup(model); ok && p.Kind == pricing.Live {
		return p.Live.CreationCharge(), p.Live.Creation
	}
	var c pricing.Micros
	var d time.Duration
	for _, m := range b.o.Prices.Models() {
		if p, _ := b.o.Prices.Lookup(m); p.Kind == pricing.Live {
			c, d = max(c, p.Live.CreationCharge()), max(d, p.Live.Creation)
		}
	}
	return c, d
}

// Admit decides whether user (or "" for an anonymous caller) may start a
// call of kind on model (which may be "" when not known yet): nil, a
// *Refusal with the Retry-After of the reset that frees enough, ErrTokenMode,
// or an error wrapping ErrUnavailable. Nothing is charged. Without any
// default limit nothing is enforced and the store is not read (so a store
// outage cannot refuse anyone), per-user overrides included.
func (b *Budget) Admit(ctx context.Context, user string, kind Kind, model string) error {
	if !b.enforced {
		return nil
	}
	if kind == KindToken && b.o.TokenWorstCase == 0 {
		b.o.Metrics.refusals.WithLabelValues(string(LimitTokenMode)).Inc()
		return ErrTokenMode
	}
	now := b.o.Now()
	bal, err := b.o.Store.Balance(ctx, user, now, b.o.Limits)
	if err != nil {
		return unavailable(err)
	}
	b.observe(bal)
	blocked, never := bal.short(b.need(kind, model))
	if len(blocked) == 0 {
		return nil
	}
	r := &Refusal{Limit: blocked[0]}
	var latest time.Time
	for _, l := range blocked {
		if never[l] {
			r.Limit, r.RetryAfter = l, 0
			latest = time.Time{}
			break
		}
		if t := resetOf(l, now); t.After(latest) {
			latest, r.Limit = t, l
		}
	}
	if !latest.IsZero() {
		r.RetryAfter = latest.Sub(now)
	}
	b.o.Metrics.refusals.WithLabelValues(string(r.Limit)).Inc()
	b.log.LogAttrs(ctx, slog.LevelWarn, "budget refused a call", slog.String("event", "budget_refused"), slog.String("user", user),
		slog.String("kind", string(kind)), slog.String("limit", string(r.Limit)), slog.Int64("retry_after_s", int64(r.RetryAfter/time.Second)))
	return r
}

// Created charges what creating call costs before it runs: for a Live
// session its creation charge (15 s of it, credited against its duration
// by Charge); nothing for other kinds.
func (b *Budget) Created(ctx context.Context, call Call) (Result, error) {
	if call.Kind == KindToken || !b.ChargesCreation(call.Kind) {
		return Result{}, nil
	}
	p, ok := b.o.Prices.Lookup(call.Model)
	if !ok || p.Kind != pricing.Live {
		return b.charge(ctx, call, Amount{}, b.unpriced(call))
	}
	return b.charge(ctx, call, Amount{Cost: p.Live.CreationCharge(), Time: p.Live.Creation}, nil)
}

// ChargesCreation reports whether creating a session of kind is charged
// before it runs: a token (Minted) when a worst case is configured, a Live
// session (Created) always. When it is false, Minted (kind token) and
// Created (other kinds) charge nothing, return a zero Result and no error,
// and do not touch the store, so a caller may skip them and whatever it
// prepares for them (a context with a deadline).
func (b *Budget) ChargesCreation(kind Kind) bool {
	switch kind {
	case KindToken:
		return b.o.TokenWorstCase != 0
	case KindLive:
		return true
	}
	return false
}

// Minted charges a minted token's worst case (TOKEN_WORST_CASE_USD and the
// session maximum) to user; nothing when no worst case is configured.
func (b *Budget) Minted(ctx context.Context, user, model string) (Result, error) {
	if !b.ChargesCreation(KindToken) {
		return Result{}, nil
	}
	return b.charge(ctx, Call{User: user, Kind: KindToken, Model: model}, Amount{Cost: b.o.TokenWorstCase, Time: b.o.TokenWorstTime}, nil)
}

// Charge prices one usage step of call and charges it (money and time) to
// the call's user and the global budget in one atomic step. The Result
// says what was charged, what is left, and which limit, if any, is
// exhausted. A model without a price is charged its time only, with
// ErrNoPrice; impossible usage (pricing.ErrBadUsage) is charged nothing; a
// store failure wraps ErrUnavailable and charged nothing.
func (b *Budget) Charge(ctx context.Context, call Call, u Usage) (Result, error) {
	p, priced := b.o.Prices.Lookup(call.Model)
	var a Amount
	switch call.Kind {
	case KindLive:
		if u.LiveDelta < 0 || u.LiveDelta > u.LiveTotal {
			b.o.Metrics.chargeErrors.WithLabelValues("bad_usage").Inc()
			return Result{}, fmt.Errorf("%w: live usage %v of %v", pricing.ErrBadUsage, u.LiveDelta, u.LiveTotal)
		}
		before := u.LiveTotal - u.LiveDelta
		if !priced || p.Kind != pricing.Live {
			return b.charge(ctx, call, Amount{Time: u.LiveDelta}, b.unpriced(call))
		}
		billed := func(d time.Duration) time.Duration { return max(d, p.Live.Creation) }
		a = Amount{Cost: p.Live.Cost(u.LiveTotal, 0) - p.Live.Cost(before, 0), Time: billed(u.LiveTotal) - billed(before)}
	default:
		if u.Elapsed < 0 {
			b.o.Metrics.chargeErrors.WithLabelValues("bad_usage").Inc()
			return Result{}, fmt.Errorf("%w: elapsed %v", pricing.ErrBadUsage, u.Elapsed)
		}
		a.Time = u.Elapsed
		if u.Realtime != nil {
			if !priced || p.Kind != pricing.Realtime {
				return b.charge(ctx, call, a, b.unpriced(call))
			}
			c, err := p.Realtime.Cost(*u.Realtime)
			if err != nil {
				b.o.Metrics.chargeErrors.WithLabelValues("bad_usage").Inc()
				return Result{}, err
			}
			a.Cost = c
		}
	}
	return b.charge(ctx, call, a, nil)
}

// unpriced counts and logs (once per model) a charge for a model without a
// price, and returns the ErrNoPrice to report.
func (b *Budget) unpriced(call Call) error {
	b.o.Metrics.chargeErrors.WithLabelValues("no_price").Inc()
	if _, seen := b.noPrice.LoadOrStore(call.Model, struct{}{}); !seen {
		b.log.Error("no price for a model in use: its usage is not charged (add it to PRICES_FILE)", "event", "budget_no_price",
			"model", call.Model, "kind", string(call.Kind))
	}
	return fmt.Errorf("%w %q (%s)", ErrNoPrice, call.Model, call.Kind)
}

func (b *Budget) charge(ctx context.Context, call Call, a Amount, priceErr error) (Result, error) {
	bal, err := b.o.Store.Charge(ctx, call.User, b.o.Now(), a, b.o.Limits)
	if err != nil {
		b.o.Metrics.chargeErrors.WithLabelValues("store").Inc()
		return Result{}, errors.Join(unavailable(err), priceErr)
	}
	if a.Cost > 0 {
		b.o.Metrics.cost.WithLabelValues(call.Model, string(call.Kind)).Add(float64(a.Cost) / float64(pricing.Dollar))
	}
	b.observe(bal)
	return Result{Cost: a.Cost, Time: a.Time, Balance: bal, Exhausted: bal.Exhausted()}, priceErr
}

// observe updates the global spend gauge from a fresh balance.
func (b *Budget) observe(bal Balance) {
	b.o.Metrics.globalSpent.Set(float64(bal.Spent.GlobalDaily) / float64(pricing.Dollar))
}

// Line is one budget as a user or operator sees it. Amounts are exact
// dollars (JSON numbers); Limit and Remaining are absent when the budget is
// off, and Remaining is never below zero.
type Line struct {
	Spent     pricing.Micros  `json:"spent_usd"`
	Limit     *pricing.Micros `json:"limit_usd,omitempty"`
	Remaining *pricing.Micros `json:"remaining_usd,omitempty"`
	ResetsAt  time.Time       `json:"resets_at"`
}

// TimeLine is the call-time budget as a user or operator sees it, in
// seconds to the millisecond; Limit and Remaining are absent when it is
// off.
type TimeLine struct {
	Used      json.Number  `json:"used_seconds"`
	Limit     *json.Number `json:"limit_seconds,omitempty"`
	Remaining *json.Number `json:"remaining_seconds,omitempty"`
	ResetsAt  time.Time    `json:"resets_at"`
}

// Status is a user's budgets: what they spent today and this month (UTC),
// their call time today, and what is left of each.
type Status struct {
	Daily     Line     `json:"daily"`
	Monthly   Line     `json:"monthly"`
	DailyTime TimeLine `json:"daily_time"`
}

func line(spent, limit pricing.Micros, resets time.Time) Line {
	l := Line{Spent: spent, ResetsAt: resets}
	if limit >= 0 {
		rem := max(limit-spent, 0)
		l.Limit, l.Remaining = &limit, &rem
	}
	return l
}

func seconds(d time.Duration) json.Number {
	return json.Number(strconv.FormatFloat(float64(d.Milliseconds())/1000, 'f', -1, 64))
}

func statusOf(bal Balance, now time.Time) Status {
	s := Status{
		Daily:     line(bal.Spent.UserDaily, bal.Limits.UserDaily, NextDay(now)),
		Monthly:   line(bal.Spent.UserMonthly, bal.Limits.UserMonthly, NextMonth(now)),
		DailyTime: TimeLine{Used: seconds(bal.Spent.UserDailyTime), ResetsAt: NextDay(now)},
	}
	if l := bal.Limits.UserDailyTime; l >= 0 {
		lim, rem := seconds(l), seconds(max(l-bal.Spent.UserDailyTime, 0))
		s.DailyTime.Limit, s.DailyTime.Remaining = &lim, &rem
	}
	return s
}

// Status returns user's budgets now.
func (b *Budget) Status(ctx context.Context, user string) (Status, error) {
	now := b.o.Now()
	bal, err := b.o.Store.Balance(ctx, user, now, b.o.Limits)
	if err != nil {
		return Status{}, unavailable(err)
	}
	return statusOf(bal, now), nil
}

// UserReport is what an operator sees of one user's budgets.
type UserReport struct {
	UserID string `json:"user_id"`
	Status
	// Override is the user's own limits, when an operator set some.
	Override *OverrideRequest `json:"override,omitempty"`
}

// User returns user's budgets and override now.
func (b *Budget) User(ctx context.Context, user string) (UserReport, error) {
	now := b.o.Now()
	bal, err := b.o.Store.Balance(ctx, user, now, b.o.Limits)
	if err != nil {
		return UserReport{}, unavailable(err)
	}
	r := UserReport{UserID: user, Status: statusOf(bal, now)}
	if bal.Override != nil {
		o := requestOf(*bal.Override)
		r.Override = &o
	}
	return r, nil
}

// SetOverride replaces user's override and returns their budgets under it.
func (b *Budget) SetOverride(ctx context.Context, user string, o Override) (UserReport, error) {
	if err := b.o.Store.SetOverride(ctx, user, o); err != nil {
		if errors.Is(err, ErrEmptyUser) {
			return UserReport{}, err
		}
		return UserReport{}, unavailable(err)
	}
	b.log.LogAttrs(ctx, slog.LevelWarn, "user budget override set", slog.String("event", "budget_override_set"), slog.String("user", user))
	return b.User(ctx, user)
}

// ClearOverride removes user's override and reports whether there was one.
func (b *Budget) ClearOverride(ctx context.Context, user string) (bool, error) {
	ok, err := b.o.Store.ClearOverride(ctx, user)
	if err != nil {
		if errors.Is(err, ErrEmptyUser) {
			return false, err
		}
		return false, unavailable(err)
	}
	b.log.LogAttrs(ctx, slog.LevelWarn, "user budget override cleared", slog.String("event", "budget_override_cleared"), slog.String("user", user), slog.Bool("existed", ok))
	return ok, nil
}

// Report is the operator's overview: the global budget today and the users
// who spent most today and this month (UTC).
type Report struct {
	Day            string    `json:"day"`
	Month          string    `json:"month"`
	Global         Line      `json:"global"`
	UsersToday     []Spender `json:"users_today"`
	UsersThisMonth []Spender `json:"users_this_month"`
}

// Report returns the overview with at most n users per period.
func (b *Budget) Report(ctx context.Context, n int) (Report, error) {
	now := b.o.Now()
	bal, err := b.o.Store.Balance(ctx, "", now, b.o.Limits)
	if err != nil {
		return Report{}, unavailable(err)
	}
	b.observe(bal)
	sp, err := b.o.Store.Spenders(ctx, now, n)
	if err != nil {
		return Report{}, unavailable(err)
	}
	u := now.UTC()
	return Report{Day: u.Format(time.DateOnly), Month: u.Format("2006-01"), Global: line(bal.Spent.GlobalDaily, bal.Limits.GlobalDaily, NextDay(now)),
		UsersToday: sp.Day, UsersThisMonth: sp.Month}, nil
}

// RefreshEvery is how often Run refreshes the global spend gauge (and
// sweeps a memory store), so the gauge follows other instances' charges
// and the midnight reset even while this one charges nothing.
const RefreshEvery = 30 * time.Second

// Run refreshes the global spend gauge and sweeps a Memory store every
// RefreshEvery until ctx ends.
func (b *Budget) Run(ctx context.Context) {
	t := time.NewTicker(RefreshEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			b.refresh(ctx)
		}
	}
}

func (b *Budget) refresh(ctx context.Context) {
	now := b.o.Now()
	if m, ok := b.o.Store.(*Memory); ok {
		m.Sweep(now)
	}
	bal, err := b.o.Store.Balance(ctx, "", now, b.o.Limits)
	if err != nil {
		b.log.Warn("budget refresh failed", "error", err.Error())
		return
	}
	b.observe(bal)
}
