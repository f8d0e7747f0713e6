package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSecretFileVariants: every secret the configuration reads can come
// from NAME_FILE (a final newline dropped), never together with NAME, and
// a missing or empty file fails start-up naming NAME_FILE but not the
// content. Each variant has a README row.
func TestSecretFileVariants(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	long := strings.Repeat("s3cret-", 6) // 42 bytes: every minimum length is met
	cases := []struct {
		name  string
		value string
		got   func(c *Config) string
	}{
		{"AUTH_JWT_SECRET", long, func(c *Config) string { return c.Auth.JWTSecret }},
		{"ADMIN_TOKEN", long, func(c *Config) string { return c.Auth.AdminToken }},
		{"RECORD_HASH_SECRET", long, func(c *Config) string { return strings.TrimPrefix(c.Auth.SafetyIDSecret, "safety-id:") }},
		{"SAFETY_ID_SECRET", long, func(c *Config) string { return c.Auth.SafetyIDSecret }},
		{"IP_HASH_SECRET", long, func(c *Config) string { return c.Auth.IPHashSecret }},
		{"REDIS_URL", "redis://:p4ss%20word@127.0.0.1:6379/0", func(c *Config) string { return c.RedisURL }},
	}
	if len(cases) != len(SecretFileVars) {
		t.Fatalf("%d cases for %d secret variables: test each one", len(cases), len(SecretFileVars))
	}
	dir := t.TempDir()
	for i, tc := range cases {
		if SecretFileVars[i] != tc.name {
			t.Fatalf("case %d is %s, SecretFileVars has %s", i, tc.name, SecretFileVars[i])
		}
		t.Run(tc.name, func(t *testing.T) {
			if !strings.Contains(string(readme), "`"+tc.name+"_FILE`") {
				t.Errorf("no README row names %s_FILE", tc.name)
			}
			path := filepath.Join(dir, tc.name)
			if err := os.WriteFile(path, []byte(tc.value+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			load := func(env map[string]string) (*Config, error) {
				c, _, err := Load(func(k string) string { return env[k] })
				return c, err
			}
			c, err := load(map[string]string{tc.name + "_FILE": path})
			if err != nil {
				t.Fatalf("from a file: %v", err)
			}
			if got := tc.got(c); got != tc.value {
				t.Errorf("value %q, want the file's %q", got, tc.value)
			}
			empty := filepath.Join(dir, tc.name+".empty")
			_ = os.WriteFile(empty, []byte("\n"), 0o600)
			for what, env := range map[string]map[string]string{
				"both set":     {tc.name + "_FILE": path, tc.name: tc.value},
				"missing file": {tc.name + "_FILE": filepath.Join(dir, "nope")},
				"empty file":   {tc.name + "_FILE": empty},
			} {
				_, err := load(env)
				if err == nil || !strings.Contains(err.Error(), tc.name+"_FILE") {
					t.Errorf("%s: error %v does not name %s_FILE", what, err, tc.name)
				} else if strings.Contains(err.Error(), "s3cret") || strings.Contains(err.Error(), "p4ss") {
					t.Errorf("%s: the error shows the secret: %v", what, err)
				}
			}
		})
	}
}
