package config

import (
	"strings"
	"testing"
)

func TestRateLimitBurst(t *testing.T) {
	for _, tc := range []struct {
		name string
		set  map[string]string
		want int
		err  bool
	}{
		{"defaults to the limit", nil, 10, false},
		{"follows the limit", map[string]string{"RATE_LIMIT_MAX_REQUESTS": "30"}, 30, false},
		{"strict", map[string]string{"RATE_LIMIT_BURST": "1"}, 1, false},
		{"zero is refused", map[string]string{"RATE_LIMIT_BURST": "0"}, 0, true},
		{"above the limit is refused", map[string]string{"RATE_LIMIT_MAX_REQUESTS": "5", "RATE_LIMIT_BURST": "6"}, 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, _, err := Load(env(tc.set))
			if tc.err {
				if err == nil || !strings.Contains(err.Error(), "RATE_LIMIT_BURST") {
					t.Fatalf("err %v, want one naming RATE_LIMIT_BURST", err)
				}
				return
			}
			if err != nil || c.Abuse.RateLimitBurst != tc.want {
				t.Fatalf("burst %v, err %v; want %d", c, err, tc.want)
			}
		})
	}
}
