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

// TestProductionRefusesSettingsThatSwitchLimitsOff is issue 11, item 8:
// production refuses catch-all and very broad ranges in TRUSTED_PROXIES
// and RATE_LIMIT_WHITELIST outright, refuses shadow mode and an open Redis
// failure policy unless PRODUCTION_OVERRIDES acknowledges them, and warns
// (and lists for /readyz) the acknowledged ones, a non-loopback admin
// listener and plain-http forward auth to another host. Errors name the
// variable.
func TestProductionRefusesSettingsThatSwitchLimitsOff(t *testing.T) {
	redis := map[string]string{"REDIS_URL": "redis://127.0.0.1:6379", "RECORD_HASH_SECRET": strings.Repeat("r", 32)}
	forward := map[string]string{"AUTH_MODE": "forward", "RECORD_HASH_SECRET": strings.Repeat("r", 32)}
	join := func(ms ...map[string]string) map[string]string {
		out := map[string]string{}
		for _, m := range ms {
			for k, v := range m {
				out[k] = v
			}
		}
		return out
	}
	cases := []struct {
		name   string
		set    map[string]string
		err    string // variable the error must name; "" = starts
		unsafe string // text expected among Abuse.Unsafe (and the warnings)
	}{
		{"trusting every IPv4 proxy", map[string]string{"TRUSTED_PROXIES": "0.0.0.0/0"}, "TRUSTED_PROXIES", ""},
		{"trusting every IPv6 proxy", map[string]string{"TRUSTED_PROXIES": "10.0.0.0/8,::/0"}, "TRUSTED_PROXIES", ""},
		{"every IPv4 address, mapped into IPv6", map[string]string{"TRUSTED_PROXIES": "::ffff:0.0.0.0/96"}, "TRUSTED_PROXIES", ""},
		{"every address in two halves", map[string]string{"TRUSTED_PROXIES": "0.0.0.0/1,128.0.0.0/1"}, "TRUSTED_PROXIES", ""},
		{"all of global IPv6 unicast", map[string]string{"TRUSTED_PROXIES": "2000::/3"}, "TRUSTED_PROXIES", ""},
		{"whitelisting everyone", map[string]string{"RATE_LIMIT_WHITELIST": "0.0.0.0/0"}, "RATE_LIMIT_WHITELIST", ""},
		{"whitelisting a /4", map[string]string{"RATE_LIMIT_WHITELIST": "192.0.2.7,64.0.0.0/4"}, "RATE_LIMIT_WHITELIST", ""},
		{"a private /8 of proxies is fine", map[string]string{"TRUSTED_PROXIES": "10.0.0.0/8,172.16.0.0/12,fc00::/7"}, "", ""},
		{"a CDN's published ranges are fine", map[string]string{"TRUSTED_PROXIES": "104.16.0.0/13,2a06:98c0::/29"}, "", ""},
		{"shadow mode without acknowledgement", map[string]string{"RATE_LIMIT_SHADOW": "true"}, "RATE_LIMIT_SHADOW", ""},
		{"shadow mode acknowledged", map[string]string{"RATE_LIMIT_SHADOW": "true", "PRODUCTION_OVERRIDES": "RATE_LIMIT_SHADOW"}, "", "RATE_LIMIT_SHADOW=true"},
		{"fail open without acknowledgement", join(redis, map[string]string{"RATE_LIMIT_REDIS_FAILURE": "open"}), "RATE_LIMIT_REDIS_FAILURE", ""},
		{"fail open acknowledged", join(redis, map[string]string{"RATE_LIMIT_REDIS_FAILURE": "open", "PRODUCTION_OVERRIDES": "RATE_LIMIT_REDIS_FAILURE"}), "", "RATE_LIMIT_REDIS_FAILURE=open"},
		{"fail open without Redis does nothing", map[string]string{"RATE_LIMIT_REDIS_FAILURE": "open"}, "", ""},
		{"an unknown override", map[string]string{"PRODUCTION_OVERRIDES": "TRUSTED_PROXIES"}, "PRODUCTION_OVERRIDES", ""},
		{"admin listener on every interface", map[string]string{"ADMIN_ADDR": "0.0.0.0:9090"}, "", "ADMIN_ADDR=0.0.0.0:9090"},
		{"admin listener on a LAN address", map[string]string{"ADMIN_ADDR": "10.1.2.3:9090"}, "", "ADMIN_ADDR=10.1.2.3:9090"},
		{"admin listener on loopback", map[string]string{"ADMIN_ADDR": "127.0.0.1:9090"}, "", ""},
		{"admin listener on localhost", map[string]string{"ADMIN_ADDR": "localhost:9090"}, "", ""},
		{"plain-http forward auth across the network", join(forward, map[string]string{"AUTH_FORWARD_URL": "http://auth.internal/whoami"}), "", "AUTH_FORWARD_URL"},
		{"plain-http forward auth on loopback", join(forward, map[string]string{"AUTH_FORWARD_URL": "http://127.0.0.1:3001/whoami"}), "", ""},
		{"https forward auth", join(forward, map[string]string{"AUTH_FORWARD_URL": "https://auth.internal/whoami"}), "", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := prodEnv()
			for k, v := range tc.set {
				e[k] = v
			}
			c, warnings, err := Load(env(e))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err %v, want one naming %s", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := strings.Join(c.Abuse.Unsafe, "\n")
			if tc.unsafe == "" {
				if got != "" {
					t.Fatalf("unsafe settings %q", got)
				}
				return
			}
			if !strings.Contains(got, tc.unsafe) || !strings.Contains(strings.Join(warnings, "\n"), tc.unsafe) {
				t.Fatalf("unsafe %q, warnings %q; want %q in both", got, warnings, tc.unsafe)
			}
		})
	}
	t.Run("development refuses nothing of it", func(t *testing.T) {
		if _, _, err := Load(env(map[string]string{"TRUSTED_PROXIES": "0.0.0.0/0", "RATE_LIMIT_SHADOW": "true"})); err != nil {
			t.Fatal(err)
		}
	})
}
