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

func TestAdminHosts(t *testing.T) {
	c, _, err := Load(env(map[string]string{"ADMIN_HOSTS": "rtgate-admin.internal, Metrics.Example.com"}))
	if err != nil || strings.Join(c.Abuse.AdminHosts, ",") != "rtgate-admin.internal,metrics.example.com" {
		t.Fatalf("%v %v", c, err)
	}
	for _, bad := range []string{"host:9090", "*.example.com", "-bad.example", "a..b", "http://x"} {
		if _, _, err := Load(env(map[string]string{"ADMIN_HOSTS": bad})); err == nil || !strings.Contains(err.Error(), "ADMIN_HOSTS") {
			t.Errorf("ADMIN_HOSTS=%q: %v", bad, err)
		}
	}
}

func TestRedisNeedsAHashSecretInProduction(t *testing.T) {
	e := prodEnv()
	e["REDIS_URL"] = "redis://127.0.0.1:6379"
	if _, _, err := Load(env(e)); err == nil || !strings.Contains(err.Error(), "IP_HASH_SECRET") {
		t.Fatalf("err %v, want one naming IP_HASH_SECRET", err)
	}
	e["RECORD_HASH_SECRET"] = strings.Repeat("r", 32)
	if c, _, err := Load(env(e)); err != nil || c.Auth.IPHashSecret == "" {
		t.Fatalf("with RECORD_HASH_SECRET: %v", err)
	}
}
