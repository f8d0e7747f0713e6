package config

import (
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"github.com/rtgate/rtgate/internal/pricing"
)

// Bounds of the budget section's settings.
const (
	maxBudgetMinutes    = 31 * 24 * 60 // USER_DAILY_MINUTES: a month
	maxClosingLineBytes = 1000
)

// BudgetConfig holds the spend budgets (issue 13): prices, limits, the
// minimum call admission requires, and how a call that runs out ends.
// Amounts are micro-dollars; 0 switches a limit off.
type BudgetConfig struct {
	// Prices is the built-in table with PRICES_FILE applied.
	Prices *pricing.Table
	// PricesFile is PRICES_FILE ("" for the built-in table only).
	PricesFile string

	UserDaily     pricing.Micros // USER_DAILY_BUDGET_USD
	UserMonthly   pricing.Micros // USER_MONTHLY_BUDGET_USD
	UserDailyTime time.Duration  // USER_DAILY_MINUTES
	GlobalDaily   pricing.Micros // DAILY_BUDGET_USD

	// MinCall and MinCallTime are what a call must find left to be
	// admitted (BUDGET_MIN_CALL_USD, BUDGET_MIN_CALL_SECONDS); a Live
	// session needs at least its creation charge (15 s) whatever they say.
	MinCall     pricing.Micros
	MinCallTime time.Duration
	// Grace (BUDGET_GRACE_SECONDS) is how long a call that ran out may
	// continue; ClosingLine (BUDGET_CLOSING_LINE), when set, is said first.
	Grace       time.Duration
	ClosingLine string
	// TokenWorstCase (TOKEN_WORST_CASE_USD) is charged per minted token;
	// 0 refuses token mode while budgets are enforced.
	TokenWorstCase pricing.Micros
}

// Enforced reports whether any budget is configured.
func (b BudgetConfig) Enforced() bool {
	return b.UserDaily > 0 || b.UserMonthly > 0 || b.UserDailyTime > 0 || b.GlobalDaily > 0
}

// usd reads a dollar amount (ParseUSD's exact decimal form); unset is def.
func (p *parser) usd(name string, def pricing.Micros) pricing.Micros {
	raw := strings.TrimSpace(p.getenv(name))
	if raw == "" {
		return def
	}
	m, err := pricing.ParseUSD(raw)
	if err != nil {
		p.fail(name, "must be a dollar amount such as 25 or 0.10: %v", err)
		return def
	}
	return m
}

func (p *parser) loadBudget(c *Config) {
	b := &c.Budget
	prod := c.Mode == Production
	b.PricesFile = strings.TrimSpace(p.getenv("PRICES_FILE"))
	b.Prices = pricing.Builtin()
	if b.PricesFile != "" {
		t, err := pricing.LoadFile(b.PricesFile)
		if err != nil {
			p.fail("PRICES_FILE", "%s: %v", b.PricesFile, err)
		} else {
			b.Prices = t
		}
	}
	b.UserDaily = p.usd("USER_DAILY_BUDGET_USD", 0)
	b.UserMonthly = p.usd("USER_MONTHLY_BUDGET_USD", 0)
	b.UserDailyTime = time.Duration(p.integer("USER_DAILY_MINUTES", 0, 0, maxBudgetMinutes)) * time.Minute
	b.GlobalDaily = p.usd("DAILY_BUDGET_USD", 0)
	b.MinCall = p.usd("BUDGET_MIN_CALL_USD", 10*pricing.Cent)
	if b.MinCall == 0 {
		p.fail("BUDGET_MIN_CALL_USD", "must be more than 0: a call needs some budget left to start")
	}
	b.MinCallTime = time.Duration(p.integer("BUDGET_MIN_CALL_SECONDS", 30, 1, 3600)) * time.Second
	b.Grace = time.Duration(p.integer("BUDGET_GRACE_SECONDS", 10, 0, 300)) * time.Second
	b.ClosingLine = strings.TrimSpace(p.getenv("BUDGET_CLOSING_LINE"))
	switch {
	case len(b.ClosingLine) > maxClosingLineBytes:
		p.fail("BUDGET_CLOSING_LINE", "must be at most %d bytes", maxClosingLineBytes)
	case strings.ContainsFunc(b.ClosingLine, func(r rune) bool { return r < 0x20 || r == 0x7f }):
		p.fail("BUDGET_CLOSING_LINE", "must be one line of text without control characters")
	case b.ClosingLine != "" && b.Grace == 0:
		p.fail("BUDGET_CLOSING_LINE", "needs BUDGET_GRACE_SECONDS above 0 (the time to say it)")
	}
	b.TokenWorstCase = p.usd("TOKEN_WORST_CASE_USD", 0)

	if !b.Enforced() {
		return
	}
	for _, l := range []struct {
		name  string
		limit pricing.Micros
	}{{"USER_DAILY_BUDGET_USD", b.UserDaily}, {"USER_MONTHLY_BUDGET_USD", b.UserMonthly}, {"DAILY_BUDGET_USD", b.GlobalDaily}} {
		if l.limit > 0 && l.limit < b.MinCall {
			p.warn(l.name + " is below BUDGET_MIN_CALL_USD: no call will ever be admitted")
		}
	}
	if b.UserDailyTime > 0 && b.UserDailyTime < b.MinCallTime {
		p.warn("USER_DAILY_MINUTES is below BUDGET_MIN_CALL_SECONDS: no call will ever be admitted")
	}
	if b.UserDaily > 0 && b.UserMonthly > 0 && b.UserMonthly < b.UserDaily {
		p.warn("USER_MONTHLY_BUDGET_USD is below USER_DAILY_BUDGET_USD: the monthly budget is the one that binds")
	}
	if c.AuthMode == AuthNone && (b.UserDaily > 0 || b.UserMonthly > 0 || b.UserDailyTime > 0) {
		p.warn("per-user budgets (USER_DAILY_BUDGET_USD, USER_MONTHLY_BUDGET_USD, USER_DAILY_MINUTES) need authenticated users; with AUTH_MODE=none only DAILY_BUDGET_USD applies")
	}
	for _, m := range c.budgetModels() {
		price, ok := b.Prices.Lookup(m.name)
		var problem string
		switch {
		case !ok:
			problem = "has no price"
		case price.Kind != m.kind:
			problem = "is priced as a " + string(price.Kind) + " model but used as " + string(m.kind)
		default:
			continue
		}
		msg := "model " + m.name + " (" + m.from + ") " + problem + ": budgets cannot charge its usage; add it to PRICES_FILE"
		if b.PricesFile != "" {
			msg += " (" + b.PricesFile + ")"
		}
		if prod {
			p.fail("PRICES_FILE", "%s", msg)
		} else {
			p.warn(msg + "; in production rtgate refuses to start")
		}
	}
}

// budgetModel is a model calls may run on, the kind it must be priced as,
// and the variables that name it.
type budgetModel struct {
	name string
	kind pricing.Kind
	from string
}

// budgetModels lists every model a call may use, for the price check: the
// Realtime models, and the Live model the session file renders (a LIVE_MODEL
// variable, when the Live sessions bring one, ends up there too).
func (c *Config) budgetModels() []budgetModel {
	out := []budgetModel{{c.RealtimeModel, pricing.Realtime, "REALTIME_MODEL"}}
	for _, m := range c.AllowedModels {
		if m != c.RealtimeModel {
			out = append(out, budgetModel{m, pricing.Realtime, "REALTIME_ALLOWED_MODELS"})
		}
	}
	if c.Session != nil {
		var live struct {
			Model string `json:"model"`
		}
		if json.Unmarshal(c.Session.Live(), &live) == nil && live.Model != "" {
			out = append(out, budgetModel{live.Model, pricing.Live, "the Live session's model"})
		}
	}
	return out
}

func (c *Config) maskedBudget() [][2]string {
	b := c.Budget
	amount := func(m pricing.Micros) string {
		if m == 0 {
			return "0 (off)"
		}
		return m.String()
	}
	return [][2]string{
		{"PRICES_FILE", b.PricesFile},
		{"USER_DAILY_BUDGET_USD", amount(b.UserDaily)},
		{"USER_MONTHLY_BUDGET_USD", amount(b.UserMonthly)},
		{"USER_DAILY_MINUTES", strconv.Itoa(int(b.UserDailyTime / time.Minute))},
		{"DAILY_BUDGET_USD", amount(b.GlobalDaily)},
		{"BUDGET_MIN_CALL_USD", b.MinCall.String()},
		{"BUDGET_MIN_CALL_SECONDS", strconv.Itoa(int(b.MinCallTime / time.Second))},
		{"BUDGET_GRACE_SECONDS", strconv.Itoa(int(b.Grace / time.Second))},
		{"BUDGET_CLOSING_LINE", strconv.Itoa(len(b.ClosingLine)) + " bytes"},
		{"TOKEN_WORST_CASE_USD", amount(b.TokenWorstCase)},
	}
}
