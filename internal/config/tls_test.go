package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestRequireHTTPSDefaultsOnInProductionOnly(t *testing.T) {
	c, _, err := Load(env(prodEnv()))
	if err != nil {
		t.Fatal(err)
	}
	if !c.TLS.RequireHTTPS || c.TLS.Native() {
		t.Errorf("production: RequireHTTPS=%v native=%v", c.TLS.RequireHTTPS, c.TLS.Native())
	}
	c, _, err = Load(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.TLS.RequireHTTPS {
		t.Error("development requires HTTPS by default")
	}
	e := prodEnv()
	e["REQUIRE_HTTPS"] = "false"
	c, warnings, err := Load(env(e))
	if err != nil {
		t.Fatal(err)
	}
	if c.TLS.RequireHTTPS || !strings.Contains(strings.Join(warnings, "\n"), "REQUIRE_HTTPS=false in production") {
		t.Errorf("REQUIRE_HTTPS=false: %v, warnings %v", c.TLS.RequireHTTPS, warnings)
	}
}

func writeFile(t *testing.T, dir, name, content string) string {
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestTLSSettingsNameTheVariable(t *testing.T) {
	dir := t.TempDir()
	garbage := writeFile(t, dir, "garbage.pem", "not a certificate")
	notDir := writeFile(t, dir, "file", "x")
	cases := []struct {
		name string
		set  map[string]string
		want []string
	}{
		{"key without certificate", map[string]string{"TLS_KEY_FILE": garbage}, []string{"TLS_CERT_FILE"}},
		{"certificate without key", map[string]string{"TLS_CERT_FILE": garbage}, []string{"TLS_KEY_FILE"}},
		{"pair that does not load", map[string]string{"TLS_CERT_FILE": garbage, "TLS_KEY_FILE": garbage}, []string{"TLS_CERT_FILE"}},
		{"missing files", map[string]string{"TLS_CERT_FILE": filepath.Join(dir, "none.pem"), "TLS_KEY_FILE": filepath.Join(dir, "none.key")}, []string{"TLS_CERT_FILE"}},
		{"reload interval too short", map[string]string{"TLS_RELOAD_INTERVAL_MS": "5"}, []string{"TLS_RELOAD_INTERVAL_MS"}},
		{"redirect without TLS", map[string]string{"HTTP_REDIRECT_ADDR": "127.0.0.1:8080"}, []string{"HTTP_REDIRECT_ADDR"}},
		{"redirect address malformed", map[string]string{"HTTP_REDIRECT_ADDR": "port80"}, []string{"HTTP_REDIRECT_ADDR"}},
		{"ACME domain without a dot", map[string]string{"ACME_DOMAINS": "localhost", "ACME_CACHE_DIR": dir}, []string{"ACME_DOMAINS"}},
		{"ACME wildcard domain", map[string]string{"ACME_DOMAINS": "*.example.com", "ACME_CACHE_DIR": dir}, []string{"ACME_DOMAINS"}},
		{"ACME IP address", map[string]string{"ACME_DOMAINS": "192.0.2.1", "ACME_CACHE_DIR": dir}, []string{"ACME_DOMAINS"}},
		{"ACME without cache dir", map[string]string{"ACME_DOMAINS": "rtgate.example.com"}, []string{"ACME_CACHE_DIR"}},
		{"ACME cache dir is a file", map[string]string{"ACME_DOMAINS": "rtgate.example.com", "ACME_CACHE_DIR": notDir}, []string{"ACME_CACHE_DIR"}},
		{"ACME directory over http", map[string]string{"ACME_DOMAINS": "rtgate.example.com", "ACME_CACHE_DIR": dir, "ACME_DIRECTORY_URL": "http://acme.example/dir"}, []string{"ACME_DIRECTORY_URL"}},
		{"ACME e-mail malformed", map[string]string{"ACME_DOMAINS": "rtgate.example.com", "ACME_CACHE_DIR": dir, "ACME_EMAIL": "ops"}, []string{"ACME_EMAIL"}},
		{"ACME and files together", map[string]string{"ACME_DOMAINS": "rtgate.example.com", "ACME_CACHE_DIR": dir, "TLS_CERT_FILE": garbage, "TLS_KEY_FILE": garbage}, []string{"ACME_DOMAINS"}},
		{"ACME settings without domains", map[string]string{"ACME_EMAIL": "ops@example.com", "ACME_CACHE_DIR": dir}, []string{"ACME_EMAIL", "ACME_CACHE_DIR"}},
		{"ACME CA file missing", map[string]string{"ACME_DOMAINS": "rtgate.example.com", "ACME_CACHE_DIR": dir, "ACME_CA_FILE": filepath.Join(dir, "none.pem")}, []string{"ACME_CA_FILE"}},
		{"REQUIRE_HTTPS unreadable", map[string]string{"REQUIRE_HTTPS": "maybe"}, []string{"REQUIRE_HTTPS"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := Load(env(tc.set))
			if err == nil {
				t.Fatal("accepted")
			}
			for _, name := range tc.want {
				if !strings.Contains(err.Error(), name) {
					t.Errorf("error does not name %s: %v", name, err)
				}
			}
		})
	}
}

func TestACMEConfigIsAccepted(t *testing.T) {
	dir := t.TempDir()
	c, _, err := Load(env(map[string]string{
		"ACME_DOMAINS":       "RTGate.example.com, api.example.com,rtgate.example.com",
		"ACME_CACHE_DIR":     dir,
		"ACME_EMAIL":         "ops@example.com",
		"HTTP_REDIRECT_ADDR": "127.0.0.1:8080",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(c.TLS.ACMEDomains, ","); got != "rtgate.example.com,api.example.com" {
		t.Errorf("domains %q", got)
	}
	if c.TLS.ACMEDirectoryURL != DefaultACMEDirectory || !c.TLS.Native() || c.TLS.ReloadInterval != 10*time.Second {
		t.Errorf("%+v", c.TLS)
	}
	masked := map[string]string{}
	for _, kv := range c.Masked() {
		masked[kv[0]] = kv[1]
	}
	for _, k := range []string{"ACME_DOMAINS", "ACME_CACHE_DIR", "ACME_DIRECTORY_URL", "HTTP_REDIRECT_ADDR", "REQUIRE_HTTPS", "TLS_CERT_FILE"} {
		if _, ok := masked[k]; !ok {
			t.Errorf("config check does not show %s", k)
		}
	}
}
