package budget

import (
	"context"
	"errors"
	"time"

	"github.com/rtgate/rtgate/internal/pricing"
)

// NoLimit, as a limit, switches it off. Limits are otherwise amounts
// (micro-dollars, or time); a limit of 0 allows nothing.
const NoLimit = -1

// Totals are the four budgeted quantities: a user's spend in a UTC day and
// a UTC month, a user's call time in a UTC day, and everyone's spend in a
// UTC day. As limits, a negative field (NoLimit) is no limit.
type Totals struct {
	UserDaily     pricing.Micros `json:"user_daily"`
	UserMonthly   pricing.Micros `json:"user_monthly"`
	UserDailyTime time.Duration  `json:"user_daily_time"`
	GlobalDaily   pricing.Micros `json:"global_daily"`
}

// Unlimited are Totals that limit nothing.
var Unlimited = Totals{UserDaily: NoLimit, UserMonthly: NoLimit, UserDailyTime: NoLimit, GlobalDaily: NoLimit}

// Amount is what one charge adds: money and call time.
type Amount struct {
	Cost pricing.Micros
	Time time.Duration
}

// Override replaces some of the default per-user limits for one user; a
// nil field keeps the default, NoLimit lifts that limit for the user, and 0
// allows nothing. The global budget has no per-user override.
type Override struct {
	UserDaily     *pricing.Micros `json:"user_daily,omitempty"`
	UserMonthly   *pricing.Micros `json:"user_monthly,omitempty"`
	UserDailyTime *time.Duration  `json:"user_daily_time,omitempty"`
}

// IsZero reports whether o overrides nothing.
func (o Override) IsZero() bool {
	return o.UserDaily == nil && o.UserMonthly == nil && o.UserDailyTime == nil
}

// apply returns def with o's fields in place of its per-user limits.
func (o Override) apply(def Totals) Totals {
	if o.UserDaily != nil {
		def.UserDaily = *o.UserDaily
	}
	if o.UserMonthly != nil {
		def.UserMonthly = *o.UserMonthly
	}
	if o.UserDailyTime != nil {
		def.UserDailyTime = *o.UserDailyTime
	}
	return def
}

// Balance is the state of the budgets that apply to one user at one
// instant: what was spent in the current periods and the limits in force
// (the defaults with the user's override applied). For the anonymous user
// only the global fields mean anything; the user limits are NoLimit.
type Balance struct {
	Spent  Totals
	Limits Totals
	// Override is the user's override, if one is set.
	Override *Override
}

// Spender is one user's spend in a period.
type Spender struct {
	User  string         `json:"user_id"`
	Spent pricing.Micros `json:"spent_usd"`
}

// Spending lists who spent what in the current day and month, most first.
type Spending struct {
	Day   []Spender
	Month []Spender
}

// Store keeps the budgets' counters. Every method is atomic across all
// instances sharing the store; a Charge in particular adds to all four
// counters and reads the limits in one step, so no two charges can both see
// the same remainder. Times are the caller's (stores never read a clock);
// periods are UTC days and months of now. user "" is the anonymous caller:
// only the global counter is charged and only it is reported.
type Store interface {
	// Charge adds a to user's day, month and day-time counters and to the
	// global day counter of now, and returns the Balance after it, under
	// def with the user's override applied.
	Charge(ctx context.Context, user string, now time.Time, a Amount, def Totals) (Balance, error)
	// Balance is Charge without the charge.
	Balance(ctx context.Context, user string, now time.Time, def Totals) (Balance, error)
	// SetOverride sets user's override, replacing any other; ClearOverride
	// removes it and reports whether there was one.
	SetOverride(ctx context.Context, user string, o Override) error
	ClearOverride(ctx context.Context, user string) (bool, error)
	// Spenders lists, for now's day and month, the n users who spent most,
	// most first (ties in user order).
	Spenders(ctx context.Context, now time.Time, n int) (Spending, error)
}

// ErrEmptyUser is a store's answer to an override for the empty user id.
var ErrEmptyUser = errors.New("budget: empty user id")

// dayOf and monthOf name the UTC periods of t.
func dayOf(t time.Time) string   { return t.UTC().Format("20060102") }
func monthOf(t time.Time) string { return t.UTC().Format("200601") }

// NextDay is the next UTC midnight after t: when the daily budgets reset.
func NextDay(t time.Time) time.Time {
	u := t.UTC()
	return time.Date(u.Year(), u.Month(), u.Day()+1, 0, 0, 0, 0, time.UTC)
}

// NextMonth is the start of the UTC month after t's: when the monthly
// budget resets.
func NextMonth(t time.Time) time.Time {
	u := t.UTC()
	return time.Date(u.Year(), u.Month()+1, 1, 0, 0, 0, 0, time.UTC)
}
