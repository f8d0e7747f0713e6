package config

import (
	"strings"
	"testing"
	"time"
)

const (
	secret32 = "0123456789abcdef0123456789abcdef"
	other32  = "fedcba9876543210fedcba9876543210"
)

func withEnv(base map[string]string, kv ...string) map[string]string {
	m := map[string]string{}
	for k, v := range base {
		m[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return m
}

func TestAuthDefaults(t *testing.T) {
	c, _, err := Load(env(map[string]string{"AUTH_MODE": "jwt", "AUTH_JWT_SECRET": secret32}))
	if err != nil {
		t.Fatal(err)
	}
	a := c.Auth
	checks := []struct {
		name      string
		got, want any
	}{
		{"mode", c.AuthMode, AuthJWT},
		{"algorithms with a secret", strings.Join(a.JWTAlgorithms, ","), "HS256"},
		{"user claim", a.JWTUserClaim, "sub"},
		{"leeway", a.JWTLeeway, 30 * time.Second},
		{"forward user header", a.ForwardUserHeader, "X-User-ID"},
		{"forward timeout", a.ForwardTimeout, 2 * time.Second},
		{"forward cache off", a.ForwardCacheTTL, time.Duration(0)},
		{"failure max", a.FailureMax, 10},
		{"failure window", a.FailureWindow, time.Minute},
		{"active sessions", a.MaxActiveSessions, 5},
		{"daily quota", a.DailyQuota, 100},
		{"session max is OpenAI's 60 minutes", a.SessionMax, time.Hour},
		{"retention", a.Retention, 30 * 24 * time.Hour},
		{"admin endpoints off", a.AdminToken, ""},
		{"dev: no hash secret configured", a.SafetyIDSecret, ""},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
}

func TestAuthJWKSDefaultsToRS256(t *testing.T) {
	c, _, err := Load(env(map[string]string{"AUTH_MODE": "jwt", "AUTH_JWT_JWKS_URL": "http://127.0.0.1:1/jwks.json"}))
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(c.Auth.JWTAlgorithms, ","); got != "RS256" {
		t.Errorf("algorithms = %s", got)
	}
}

func TestAuthRecordHashSecretDerivesTwoDistinctKeys(t *testing.T) {
	c, _, err := Load(env(withEnv(prodEnv(), "AUTH_MODE", "forward", "AUTH_FORWARD_URL", "https://auth.internal/check", "RECORD_HASH_SECRET", secret32)))
	if err != nil {
		t.Fatal(err)
	}
	if c.Auth.SafetyIDSecret == "" || c.Auth.IPHashSecret == "" || c.Auth.SafetyIDSecret == c.Auth.IPHashSecret {
		t.Fatalf("derived keys not distinct: %q %q", c.Auth.SafetyIDSecret, c.Auth.IPHashSecret)
	}
	c2, _, err := Load(env(withEnv(prodEnv(), "AUTH_MODE", "forward", "AUTH_FORWARD_URL", "https://auth.internal/check", "RECORD_HASH_SECRET", secret32, "SAFETY_ID_SECRET", other32)))
	if err != nil {
		t.Fatal(err)
	}
	if c2.Auth.SafetyIDSecret != other32 {
		t.Errorf("SAFETY_ID_SECRET does not override RECORD_HASH_SECRET")
	}
}

func TestAuthErrorsNameTheVariable(t *testing.T) {
	jwks := "https://idp.example.com/.well-known/jwks.json"
	cases := []struct {
		name string
		env  map[string]string
		want []string
	}{
		{"unknown mode", map[string]string{"AUTH_MODE": "basic"}, []string{"AUTH_MODE"}},
		{"jwt without a key source", map[string]string{"AUTH_MODE": "jwt"}, []string{"AUTH_JWT_SECRET"}},
		{"jwt with both key sources", map[string]string{"AUTH_MODE": "jwt", "AUTH_JWT_SECRET": secret32, "AUTH_JWT_JWKS_URL": jwks}, []string{"AUTH_JWT_SECRET"}},
		{"short HS256 secret", map[string]string{"AUTH_MODE": "jwt", "AUTH_JWT_SECRET": "short"}, []string{"AUTH_JWT_SECRET"}},
		{"alg none refused", map[string]string{"AUTH_MODE": "jwt", "AUTH_JWT_SECRET": secret32, "AUTH_JWT_ALGORITHMS": "none"}, []string{"AUTH_JWT_ALGORITHMS"}},
		{"RS256 with a secret refused", map[string]string{"AUTH_MODE": "jwt", "AUTH_JWT_SECRET": secret32, "AUTH_JWT_ALGORITHMS": "RS256"}, []string{"AUTH_JWT_ALGORITHMS"}},
		{"HS256 with a JWKS refused", map[string]string{"AUTH_MODE": "jwt", "AUTH_JWT_JWKS_URL": jwks, "AUTH_JWT_ALGORITHMS": "RS256,HS256"}, []string{"AUTH_JWT_ALGORITHMS"}},
		{"JWKS URL not a URL", map[string]string{"AUTH_MODE": "jwt", "AUTH_JWT_JWKS_URL": "jwks.json"}, []string{"AUTH_JWT_JWKS_URL"}},
		{"bad user claim", map[string]string{"AUTH_MODE": "jwt", "AUTH_JWT_SECRET": secret32, "AUTH_JWT_USER_CLAIM": "a b"}, []string{"AUTH_JWT_USER_CLAIM"}},
		{"bad cookie name", map[string]string{"AUTH_MODE": "jwt", "AUTH_JWT_SECRET": secret32, "AUTH_JWT_COOKIE": "a;b"}, []string{"AUTH_JWT_COOKIE"}},
		{"leeway out of range", map[string]string{"AUTH_MODE": "jwt", "AUTH_JWT_SECRET": secret32, "AUTH_JWT_LEEWAY_SECONDS": "3600"}, []string{"AUTH_JWT_LEEWAY_SECONDS"}},
		{"forward without URL", map[string]string{"AUTH_MODE": "forward"}, []string{"AUTH_FORWARD_URL"}},
		{"forward URL with credentials", map[string]string{"AUTH_MODE": "forward", "AUTH_FORWARD_URL": "http://u:p@127.0.0.1/x"}, []string{"AUTH_FORWARD_URL"}},
		{"forward bad header", map[string]string{"AUTH_MODE": "forward", "AUTH_FORWARD_URL": "http://127.0.0.1/x", "AUTH_FORWARD_USER_HEADER": "X User"}, []string{"AUTH_FORWARD_USER_HEADER"}},
		{"forward timeout", map[string]string{"AUTH_MODE": "forward", "AUTH_FORWARD_URL": "http://127.0.0.1/x", "AUTH_FORWARD_TIMEOUT_MS": "0"}, []string{"AUTH_FORWARD_TIMEOUT_MS"}},
		{"short admin token", map[string]string{"ADMIN_TOKEN": "letmein"}, []string{"ADMIN_TOKEN"}},
		{"short record hash secret", map[string]string{"RECORD_HASH_SECRET": "x"}, []string{"RECORD_HASH_SECRET"}},
		{"quota not a number", map[string]string{"USER_DAILY_QUOTA": "lots"}, []string{"USER_DAILY_QUOTA"}},
		{"retention zero", map[string]string{"DATA_RETENTION_DAYS": "0"}, []string{"DATA_RETENTION_DAYS"}},
		{"failure window too short", map[string]string{"AUTH_FAILURE_WINDOW_MS": "10"}, []string{"AUTH_FAILURE_WINDOW_MS"}},
		{"production JWKS needs issuer and audience and https", withEnv(prodEnv(), "AUTH_MODE", "jwt", "AUTH_JWT_JWKS_URL", "http://idp/jwks", "RECORD_HASH_SECRET", secret32),
			[]string{"AUTH_JWT_JWKS_URL", "AUTH_JWT_ISSUER", "AUTH_JWT_AUDIENCE"}},
		{"production auth needs hash secrets", withEnv(prodEnv(), "AUTH_MODE", "jwt", "AUTH_JWT_SECRET", secret32), []string{"SAFETY_ID_SECRET", "IP_HASH_SECRET"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := Load(env(tc.env))
			if err == nil {
				t.Fatal("Load accepted the environment")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not name %s", err, w)
				}
			}
			for _, s := range []string{secret32, "letmein"} {
				if strings.Contains(err.Error(), s) {
					t.Errorf("error leaks a secret: %q", err)
				}
			}
		})
	}
}

func TestAuthProductionWithEverythingSet(t *testing.T) {
	e := withEnv(prodEnv(), "AUTH_MODE", "jwt", "AUTH_JWT_JWKS_URL", "https://tenant.eu.auth0.com/.well-known/jwks.json",
		"AUTH_JWT_ISSUER", "https://tenant.eu.auth0.com/", "AUTH_JWT_AUDIENCE", "https://rtgate.example.com",
		"AUTH_JWT_ALGORITHMS", "RS256,ES256", "RECORD_HASH_SECRET", secret32, "ADMIN_TOKEN", other32,
		"REALTIME_MODEL", "gpt-realtime-2")
	c, warnings, err := Load(env(e))
	if err != nil {
		t.Fatal(err)
	}
	if len(warnings) != 0 {
		t.Errorf("warnings: %v", warnings)
	}
	if got := strings.Join(c.Auth.JWTAlgorithms, ","); got != "RS256,ES256" {
		t.Errorf("algorithms %s", got)
	}
}

func TestMaskedAuthHidesSecrets(t *testing.T) {
	c, _, err := Load(env(map[string]string{"AUTH_MODE": "jwt", "AUTH_JWT_SECRET": secret32, "ADMIN_TOKEN": other32, "RECORD_HASH_SECRET": secret32}))
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, kv := range c.Masked() {
		seen[kv[0]] = true
		if strings.Contains(kv[1], secret32) || strings.Contains(kv[1], other32) || strings.Contains(kv[1], "0123") {
			t.Errorf("%s shows a secret: %q", kv[0], kv[1])
		}
	}
	for _, name := range []string{"AUTH_JWT_SECRET", "ADMIN_TOKEN", "SAFETY_ID_SECRET", "USER_DAILY_QUOTA", "DATA_RETENTION_DAYS"} {
		if !seen[name] {
			t.Errorf("%s missing from Masked", name)
		}
	}
}
