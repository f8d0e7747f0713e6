package config

import (
	"strings"
	"testing"
)

// TestDevelopmentOriginsFollowTheListener: without ALLOWED_ORIGINS,
// development allows the demo page's own origin wherever it is served, so
// PORT=3001 beside `next dev` is not refused; production still requires
// the list.
func TestDevelopmentOriginsFollowTheListener(t *testing.T) {
	cases := []struct {
		name string
		env  map[string]string
		want string
	}{
		{"defaults", nil, "http://localhost:3000,http://127.0.0.1:3000,http://[::1]:3000"},
		{"PORT=3001", map[string]string{"PORT": "3001"}, "http://localhost:3001,http://127.0.0.1:3001,http://[::1]:3001"},
		{"a specific HOST is added", map[string]string{"HOST": "192.168.1.20", "PORT": "8080"},
			"http://localhost:8080,http://127.0.0.1:8080,http://[::1]:8080,http://192.168.1.20:8080"},
		{"a specific IPv6 HOST", map[string]string{"HOST": "fd00::7", "PORT": "8080"},
			"http://localhost:8080,http://127.0.0.1:8080,http://[::1]:8080,http://[fd00::7]:8080"},
		{"port 80 is the default port", map[string]string{"PORT": "80"}, "http://localhost,http://127.0.0.1,http://[::1]"},
		{"an explicit list wins", map[string]string{"PORT": "3001", "ALLOWED_ORIGINS": "http://localhost:3000"}, "http://localhost:3000"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, _, err := Load(func(k string) string { return tc.env[k] })
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(c.AllowedOrigins, ","); got != tc.want {
				t.Errorf("origins %s, want %s", got, tc.want)
			}
			if c.DevOrigins != (tc.env["ALLOWED_ORIGINS"] == "") {
				t.Errorf("DevOrigins = %v", c.DevOrigins)
			}
		})
	}
	if got := strings.Join(DevOrigins("0.0.0.0", 8443, true), ","); got != "https://localhost:8443,https://127.0.0.1:8443,https://[::1]:8443" {
		t.Errorf("native TLS: %s", got)
	}
}

func TestLogFormat(t *testing.T) {
	for _, tc := range []struct {
		env  map[string]string
		want string
		err  bool
	}{
		{nil, LogAuto, false},
		{map[string]string{"LOG_FORMAT": "text"}, LogText, false},
		{map[string]string{"LOG_FORMAT": "json"}, LogJSON, false},
		{map[string]string{"LOG_FORMAT": "yaml"}, "", true},
		{map[string]string{"APP_ENV": "production", "OPENAI_API_KEY": "sk-test-0123456789abcdef", "ALLOWED_ORIGINS": "https://a.example", "AUTH_MODE": "none"}, LogJSON, false},
	} {
		c, _, err := Load(func(k string) string { return tc.env[k] })
		if tc.err {
			if err == nil || !strings.Contains(err.Error(), "LOG_FORMAT") {
				t.Errorf("%v: error %v", tc.env, err)
			}
			continue
		}
		if err != nil || c.LogFormat != tc.want {
			t.Errorf("%v: %v %v, want %s", tc.env, c, err, tc.want)
		}
	}
}

// TestAppEnvAliases pins the values the README documents for APP_ENV and
// NODE_ENV.
func TestAppEnvAliases(t *testing.T) {
	prod := map[string]string{"OPENAI_API_KEY": "sk-test-0123456789abcdef", "ALLOWED_ORIGINS": "https://a.example", "AUTH_MODE": "none"}
	for _, tc := range []struct {
		name, value string
		want        Mode
	}{
		{"APP_ENV", "production", Production}, {"APP_ENV", "prod", Production}, {"APP_ENV", "PRODUCTION", Production},
		{"APP_ENV", "development", Development}, {"APP_ENV", "dev", Development}, {"APP_ENV", "Test", Development},
		{"NODE_ENV", "production", Production}, {"NODE_ENV", "test", Development}, {"NODE_ENV", "dev", Development},
	} {
		env := map[string]string{tc.name: tc.value}
		for k, v := range prod {
			env[k] = v
		}
		c, _, err := Load(func(k string) string { return env[k] })
		if err != nil || c.Mode != tc.want {
			t.Errorf("%s=%s: %v %v, want %s", tc.name, tc.value, c, err, tc.want)
		}
	}
	if _, _, err := Load(func(k string) string { return map[string]string{"APP_ENV": "staging"}[k] }); err == nil || !strings.Contains(err.Error(), "APP_ENV") {
		t.Errorf("APP_ENV=staging: %v", err)
	}
}
