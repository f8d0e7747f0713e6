package config

import (
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rtgate/rtgate/internal/pricing"
)

func TestBudgetDefaultsAreOff(t *testing.T) {
	c, _, err := Load(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	b := c.Budget
	if b.Enforced() || b.UserDaily != 0 || b.GlobalDaily != 0 || b.TokenWorstCase != 0 {
		t.Errorf("budget %+v", b)
	}
	if b.MinCall != 10*pricing.Cent || b.MinCallTime != 30*time.Second || b.Grace != 10*time.Second || b.ClosingLine != "" {
		t.Errorf("defaults %+v", b)
	}
	if _, ok := b.Prices.Lookup("gpt-live-1"); !ok {
		t.Error("no built-in prices")
	}
	if !slices.Contains(c.Masked(), [2]string{"DAILY_BUDGET_USD", "0 (off)"}) {
		t.Error("Masked() lacks DAILY_BUDGET_USD")
	}
}

func TestBudgetValues(t *testing.T) {
	c, _, err := Load(env(map[string]string{
		"USER_DAILY_BUDGET_USD": "2.50", "USER_MONTHLY_BUDGET_USD": "40", "USER_DAILY_MINUTES": "30", "DAILY_BUDGET_USD": "500",
		"BUDGET_MIN_CALL_USD": "0.05", "BUDGET_MIN_CALL_SECONDS": "20", "BUDGET_GRACE_SECONDS": "8",
		"BUDGET_CLOSING_LINE": "  That is all for today. Goodbye!  ", "TOKEN_WORST_CASE_USD": "1.25",
		"REALTIME_MODEL": "gpt-realtime-2.1",
	}))
	if err != nil {
		t.Fatal(err)
	}
	b := c.Budget
	want := BudgetConfig{Prices: b.Prices, UserDaily: 2_500_000, UserMonthly: 40 * pricing.Dollar, UserDailyTime: 30 * time.Minute, GlobalDaily: 500 * pricing.Dollar,
		MinCall: 50_000, MinCallTime: 20 * time.Second, Grace: 8 * time.Second, ClosingLine: "That is all for today. Goodbye!", TokenWorstCase: 1_250_000}
	if b != want {
		t.Fatalf("budget\n got %+v\nwant %+v", b, want)
	}
	if !b.Enforced() {
		t.Error("not enforced")
	}
	for _, kv := range [][2]string{{"USER_DAILY_BUDGET_USD", "2.50"}, {"BUDGET_CLOSING_LINE", "31 bytes"}, {"USER_DAILY_MINUTES", "30"}} {
		if !slices.Contains(c.Masked(), kv) {
			t.Errorf("Masked() lacks %v", kv)
		}
	}
}

func TestBudgetRejectsMalformedValues(t *testing.T) {
	tests := []struct {
		env  map[string]string
		name string // the variable the error must name
	}{
		{map[string]string{"USER_DAILY_BUDGET_USD": "-1"}, "USER_DAILY_BUDGET_USD"},
		{map[string]string{"USER_DAILY_BUDGET_USD": "$5"}, "USER_DAILY_BUDGET_USD"},
		{map[string]string{"USER_MONTHLY_BUDGET_USD": "1e3"}, "USER_MONTHLY_BUDGET_USD"},
		{map[string]string{"DAILY_BUDGET_USD": "0.0000001"}, "DAILY_BUDGET_USD"},
		{map[string]string{"USER_DAILY_MINUTES": "1.5"}, "USER_DAILY_MINUTES"},
		{map[string]string{"USER_DAILY_MINUTES": "50000"}, "USER_DAILY_MINUTES"},
		{map[string]string{"BUDGET_MIN_CALL_USD": "0"}, "BUDGET_MIN_CALL_USD"},
		{map[string]string{"BUDGET_MIN_CALL_SECONDS": "0"}, "BUDGET_MIN_CALL_SECONDS"},
		{map[string]string{"BUDGET_GRACE_SECONDS": "301"}, "BUDGET_GRACE_SECONDS"},
		{map[string]string{"BUDGET_CLOSING_LINE": strings.Repeat("a", 1001)}, "BUDGET_CLOSING_LINE"},
		{map[string]string{"BUDGET_CLOSING_LINE": "bye\nnow"}, "BUDGET_CLOSING_LINE"},
		{map[string]string{"BUDGET_CLOSING_LINE": "bye", "BUDGET_GRACE_SECONDS": "0"}, "BUDGET_CLOSING_LINE"},
		{map[string]string{"TOKEN_WORST_CASE_USD": "lots"}, "TOKEN_WORST_CASE_USD"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := Load(env(tt.env))
			if err == nil || !strings.Contains(err.Error(), tt.name+" ") {
				t.Fatalf("%v: err = %v, want one naming %s", tt.env, err, tt.name)
			}
		})
	}
}

func writePrices(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "prices.json")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestPricesFile(t *testing.T) {
	path := writePrices(t, `{"models":{"gpt-realtime-3":{"kind":"realtime","text":{"input":4,"cached_input":0.4,"output":24},"audio":{"input":32,"cached_input":0.4,"output":64}}}}`)
	e := prodEnv()
	maps.Copy(e, map[string]string{"PRICES_FILE": path, "REALTIME_MODEL": "gpt-realtime-3", "DAILY_BUDGET_USD": "100"})
	c, _, err := Load(env(e))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := c.Budget.Prices.Lookup("gpt-realtime-3"); !ok {
		t.Fatal("the file's model is not priced")
	}
	if !slices.Contains(c.Masked(), [2]string{"PRICES_FILE", path}) {
		t.Error("Masked() lacks PRICES_FILE")
	}

	// A broken file fails start-up naming the variable, the path and the
	// place in the file, in any mode.
	bad := writePrices(t, `{"models":{"m":{"kind":"live","per_minute":0.05}}}`)
	_, _, err = Load(env(map[string]string{"PRICES_FILE": bad}))
	if err == nil || !strings.Contains(err.Error(), "PRICES_FILE "+bad+": models.m: creation_seconds is required") {
		t.Fatalf("err = %v", err)
	}
	missing := filepath.Join(t.TempDir(), "none.json")
	if _, _, err := Load(env(map[string]string{"PRICES_FILE": missing})); err == nil || !strings.Contains(err.Error(), "PRICES_FILE "+missing) {
		t.Fatalf("missing file: %v", err)
	}
}

func TestBudgetWithAnUnpricedModel(t *testing.T) {
	e := prodEnv()
	maps.Copy(e, map[string]string{"REALTIME_MODEL": "gpt-realtime-2.1", "REALTIME_ALLOWED_MODELS": "gpt-realtime-9000", "USER_DAILY_BUDGET_USD": "5"})
	// Production refuses to start, naming the model and PRICES_FILE.
	_, _, err := Load(env(e))
	if err == nil || !strings.Contains(err.Error(), "PRICES_FILE model gpt-realtime-9000 (REALTIME_ALLOWED_MODELS) has no price") {
		t.Fatalf("production: err = %v", err)
	}
	// A model priced as the other kind is refused the same way.
	e["REALTIME_ALLOWED_MODELS"] = "gpt-live-1"
	if _, _, err := Load(env(e)); err == nil || !strings.Contains(err.Error(), "model gpt-live-1 (REALTIME_ALLOWED_MODELS) is priced as a live model but used as realtime") {
		t.Fatalf("kind mismatch: err = %v", err)
	}
	// Development warns and starts.
	dev := map[string]string{"REALTIME_MODEL": "gpt-realtime-9000", "DAILY_BUDGET_USD": "5"}
	_, warnings, err := Load(env(dev))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(warnings, func(w string) bool {
		return strings.Contains(w, "model gpt-realtime-9000 (REALTIME_MODEL) has no price") && strings.Contains(w, "PRICES_FILE")
	}) {
		t.Errorf("warnings %v", warnings)
	}
	// Without a budget nothing is checked.
	delete(e, "USER_DAILY_BUDGET_USD")
	e["REALTIME_ALLOWED_MODELS"] = "gpt-realtime-9000"
	if _, _, err := Load(env(e)); err != nil {
		t.Fatalf("no budget: %v", err)
	}
}

func TestBudgetWarnings(t *testing.T) {
	_, warnings, err := Load(env(map[string]string{"REALTIME_MODEL": "gpt-realtime-2.1", "AUTH_MODE": "none", "USER_DAILY_BUDGET_USD": "5", "USER_MONTHLY_BUDGET_USD": "2",
		"DAILY_BUDGET_USD": "0.05", "USER_DAILY_MINUTES": "1", "BUDGET_MIN_CALL_SECONDS": "90"}))
	if err != nil {
		t.Fatal(err)
	}
	joined := strings.Join(warnings, "\n")
	for _, want := range []string{"need authenticated users", "the monthly budget is the one that binds",
		"DAILY_BUDGET_USD is below BUDGET_MIN_CALL_USD", "USER_DAILY_MINUTES is below BUDGET_MIN_CALL_SECONDS"} {
		if !strings.Contains(joined, want) {
			t.Errorf("warnings %q lack %q", joined, want)
		}
	}
}

// TestBudgetChecksTheLiveModel: the Live model the session file renders is
// checked like the Realtime ones.
func TestBudgetChecksTheLiveModel(t *testing.T) {
	session := writePrices(t, `{"live": {"model": "gpt-live-1.1"}}`)
	prices := writePrices(t, `{"models":{"gpt-live-1.1":{"kind":"realtime","text":{"input":1,"cached_input":1,"output":1},"audio":{"input":1,"cached_input":1,"output":1}}}}`)
	e := prodEnv()
	maps.Copy(e, map[string]string{"SESSION_CONFIG_FILE": session, "DAILY_BUDGET_USD": "5", "REALTIME_MODEL": "gpt-realtime-2.1"})
	if _, _, err := Load(env(e)); err != nil {
		t.Fatalf("built-in price: %v", err)
	}
	e["PRICES_FILE"] = prices
	if _, _, err := Load(env(e)); err == nil || !strings.Contains(err.Error(), "model gpt-live-1.1 (the Live session's model) is priced as a realtime model but used as live") {
		t.Fatalf("err = %v", err)
	}
}
