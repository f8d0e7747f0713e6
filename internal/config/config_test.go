package config

import (
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func prodEnv() map[string]string {
	return map[string]string{
		"APP_ENV":         "production",
		"OPENAI_API_KEY":  "sk-proj-0123456789abcdef",
		"ALLOWED_ORIGINS": "https://app.example.com",
		"AUTH_MODE":       "none",
	}
}

func TestDevelopmentDefaults(t *testing.T) {
	c, warnings, err := Load(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	// The default model has no announced shutdown: nothing to warn about.
	if len(warnings) != 0 {
		t.Errorf("warnings %v", warnings)
	}
	for _, m := range []string{"gpt-realtime-2", "gpt-realtime-2.1-mini", "gpt-realtime-1.5"} {
		if _, w, _ := Load(env(map[string]string{"REALTIME_MODEL": m})); len(w) != 0 {
			t.Errorf("warnings for the current model %s: %v", m, w)
		}
	}
	// Models with an announced shutdown still start, with a warning that
	// names the model, why, and where to go.
	for m, why := range map[string]string{
		"gpt-realtime":            "announced OpenAI shutdown date of 2027-01-20",
		"gpt-realtime-mini":       "announced OpenAI shutdown date of 2027-01-20",
		"gpt-audio-mini":          "announced OpenAI shutdown date of 2027-01-20",
		"gpt-4o-realtime-preview": "preview model reported as retired or retiring",
	} {
		_, w, err := Load(env(map[string]string{"REALTIME_MODEL": m}))
		if err != nil || len(w) != 1 || !strings.Contains(w[0], "model "+m+" ") || !strings.Contains(w[0], why) || !strings.Contains(w[0], "move to gpt-realtime-2.1") {
			t.Errorf("%s: warnings %v (%v)", m, w, err)
		}
	}
	if _, w, _ := Load(env(map[string]string{"REALTIME_ALLOWED_MODELS": "gpt-realtime-2.1-mini,gpt-4o-mini-realtime-preview-2024-12-17"})); len(w) != 1 || !strings.Contains(w[0], "gpt-4o-mini-realtime-preview-2024-12-17") {
		t.Errorf("an allowed model with an announced shutdown: %v", w)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"mode", c.Mode, Development},
		{"simulated without a key", c.Simulated, true},
		{"base url", c.OpenAIBaseURL, "https://api.openai.com/v1"},
		{"port", c.Port, 3000},
		{"host", c.Host, "0.0.0.0"},
		{"admin", c.AdminAddr, "127.0.0.1:3090"},
		{"simulator", c.SimulatorAddr, "127.0.0.1:8089"},
		{"body", c.MaxBodyBytes, int64(16384)},
		{"upstream timeout", c.UpstreamTimeout, 10 * time.Second},
		{"model", c.RealtimeModel, "gpt-realtime-2.1"},
		{"ttl", c.TokenTTL, 60 * time.Second},
		{"auth", c.AuthMode, AuthNone},
		{"rate max", c.RateLimitMax, 10},
		{"rate window", c.RateLimitWindow, time.Minute},
		{"headers", c.RateLimitHeaders, "both"},
		{"ipv6 prefix", c.RateLimitIPv6Prefix, 64},
		{"allowed models", strings.Join(c.AllowedModels, ","), "gpt-realtime-2.1"},
		{"origins", strings.Join(c.AllowedOrigins, ","), "http://localhost:3000,http://127.0.0.1:3000,http://[::1]:3000"},
		{"log format", c.LogFormat, LogAuto},
	}
	for _, ck := range checks {
		if ck.got != ck.want {
			t.Errorf("%s = %v, want %v", ck.name, ck.got, ck.want)
		}
	}
}

func TestProductionGuards(t *testing.T) {
	cases := []struct {
		name    string
		unset   []string
		set     map[string]string
		wantErr []string // each must be named in the error
	}{
		{"missing key", []string{"OPENAI_API_KEY"}, nil, []string{"OPENAI_API_KEY"}},
		{"missing origins", []string{"ALLOWED_ORIGINS"}, nil, []string{"ALLOWED_ORIGINS"}},
		{"missing auth mode", []string{"AUTH_MODE"}, nil, []string{"AUTH_MODE"}},
		{"all three missing, all named", []string{"OPENAI_API_KEY", "ALLOWED_ORIGINS", "AUTH_MODE"}, nil, []string{"OPENAI_API_KEY", "ALLOWED_ORIGINS", "AUTH_MODE"}},
		{"NODE_ENV alias", []string{"APP_ENV", "OPENAI_API_KEY"}, map[string]string{"NODE_ENV": "production"}, []string{"OPENAI_API_KEY"}},
		{"plain http upstream", nil, map[string]string{"OPENAI_BASE_URL": "http://api.openai.com/v1"}, []string{"OPENAI_BASE_URL"}},
		{"unknown mode fails closed", []string{"OPENAI_API_KEY"}, map[string]string{"APP_ENV": "prdouction"}, []string{"APP_ENV", "OPENAI_API_KEY"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := prodEnv()
			for _, k := range tc.unset {
				delete(e, k)
			}
			for k, v := range tc.set {
				e[k] = v
			}
			_, _, err := Load(env(e))
			if err == nil {
				t.Fatal("production start-up accepted")
			}
			for _, name := range tc.wantErr {
				if !strings.Contains(err.Error(), name) {
					t.Errorf("error does not name %s: %v", name, err)
				}
			}
			if strings.Contains(err.Error(), "sk-proj-0123456789abcdef") {
				t.Error("error contains the key")
			}
		})
	}
	t.Run("AUTH_MODE=none starts with a loud warning", func(t *testing.T) {
		c, warnings, err := Load(env(prodEnv()))
		if err != nil {
			t.Fatal(err)
		}
		all := strings.Join(warnings, "\n")
		if c.Simulated || len(warnings) == 0 || !strings.Contains(all, "AUTH_MODE=none") {
			t.Errorf("simulated=%v warnings=%v", c.Simulated, warnings)
		}
		// The origin gate stops only browsers on other origins: the
		// warning must not suggest it limits who can mint.
		if !strings.Contains(all, "any client that sends no Origin") {
			t.Errorf("the warning does not say that clients without an Origin can mint: %s", all)
		}
	})
}

func TestMalformedValuesNameTheVariable(t *testing.T) {
	cases := map[string]string{
		"PORT":                     "eighty",
		"RATE_LIMIT_MAX_REQUESTS":  "0",
		"RATE_LIMIT_WINDOW_MS":     "-5",
		"MAX_BODY_BYTES":           "1e6",
		"UPSTREAM_TIMEOUT_MS":      "10s",
		"TOKEN_TTL_SECONDS":        "7201",
		"LOG_LEVEL":                "loud",
		"ALLOWED_ORIGINS":          "https://*.example.com",
		"REALTIME_MODEL":           "gpt realtime",
		"REALTIME_ALLOWED_VOICES":  "marin,<script>",
		"ADMIN_ADDR":               "localhost",
		"HOST":                     "example.com",
		"OPENAI_BASE_URL":          "ftp://x",
		"RATE_LIMIT_HEADERS":       "all",
		"RATE_LIMIT_WHITELIST":     "10.0.0.0/33",
		"TRUSTED_PROXIES":          "proxy.local",
		"RATE_LIMIT_SHADOW":        "maybe",
		"RATE_LIMIT_REDIS_FAILURE": "retry",
		"REDIS_URL":                "http://redis:6379",
		"AUTH_MODE":                "basic",
		"CLIENT_IP_HEADER":         "Forwarded",
		"RATE_LIMIT_IPV6_PREFIX":   "129",
	}
	for name, val := range cases {
		t.Run(name, func(t *testing.T) {
			_, _, err := Load(env(map[string]string{name: val}))
			if err == nil || !strings.Contains(err.Error(), name) {
				t.Fatalf("%s=%q: err %v", name, val, err)
			}
		})
	}
	t.Run("every problem is reported at once", func(t *testing.T) {
		_, _, err := Load(env(map[string]string{"PORT": "x", "LOG_LEVEL": "y"}))
		if err == nil || !strings.Contains(err.Error(), "PORT") || !strings.Contains(err.Error(), "LOG_LEVEL") {
			t.Fatalf("err %v", err)
		}
	})
}

func TestNormalizeOrigin(t *testing.T) {
	cases := []struct {
		in, want string
		ok       bool
	}{
		{"https://App.Example.com", "https://app.example.com", true},
		{"https://app.example.com:443", "https://app.example.com", true},
		{"http://app.example.com:80", "http://app.example.com", true},
		{"https://app.example.com/", "https://app.example.com", true},
		{"http://localhost:3000", "http://localhost:3000", true},
		{"http://[::1]:3000", "http://[::1]:3000", true},
		{"*", "", false},
		{"null", "", false},
		{"https://*.example.com", "", false},
		{"app.example.com", "", false},
		{"https://app.example.com/path", "", false},
		{"https://user@app.example.com", "", false},
		{"wss://app.example.com", "", false},
		{"https://app.example.com:99999", "", false},
	}
	for _, tc := range cases {
		got, err := NormalizeOrigin(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("NormalizeOrigin(%q) = %q, %v; want %q ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

func TestMaskedHidesSecrets(t *testing.T) {
	c, _, err := Load(env(map[string]string{"OPENAI_API_KEY": "sk-proj-supersecretvalue1234", "REDIS_URL": "redis://user:hunter2@127.0.0.1:6379/0"}))
	if err != nil {
		t.Fatal(err)
	}
	var all strings.Builder
	for _, kv := range c.Masked() {
		all.WriteString(kv[0] + "=" + kv[1] + "\n")
	}
	s := all.String()
	if strings.Contains(s, "supersecret") || strings.Contains(s, "hunter2") || !strings.Contains(s, "…1234") {
		t.Errorf("masked config:\n%s", s)
	}
}
