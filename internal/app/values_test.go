package app_test

import (
	"testing"

	"github.com/rtgate/rtgate/internal/config"
	"github.com/rtgate/rtgate/internal/ratelimit"
)

// TestConfigAndRateLimitAgreeOnValues: config validates RATE_LIMIT_HEADERS
// and RATE_LIMIT_REDIS_FAILURE without importing ratelimit, and the app
// hands the strings to ratelimit's parsers; a value one accepts and the
// other refuses would pass validation and then fail start-up.
func TestConfigAndRateLimitAgreeOnValues(t *testing.T) {
	candidates := []string{"", "draft", "legacy", "both", "Draft", "none", "local", "open", "closed", "Closed", "fail"}
	for _, tc := range []struct {
		name  string
		parse func(string) error
	}{
		{"RATE_LIMIT_HEADERS", func(v string) error { _, err := ratelimit.ParseHeaderMode(v); return err }},
		{"RATE_LIMIT_REDIS_FAILURE", func(v string) error { _, err := ratelimit.ParseFailurePolicy(v); return err }},
	} {
		for _, v := range candidates {
			env := map[string]string{tc.name: v}
			_, _, cfgErr := config.Load(func(k string) string { return env[k] })
			if (cfgErr == nil) != (tc.parse(v) == nil) {
				t.Errorf("%s=%q: config error %v, ratelimit error %v", tc.name, v, cfgErr, tc.parse(v))
			}
		}
	}
}
