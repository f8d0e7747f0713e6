package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func keyFileFor(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "key")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestUpstreamDefaults(t *testing.T) {
	c, _, err := Load(env(prodEnv()))
	if err != nil {
		t.Fatal(err)
	}
	want := UpstreamConfig{
		KeyFilePoll: time.Second, MaxConcurrency: 64, QueueSize: 256, QueueTimeout: 2 * time.Second,
		Retries: 2, BreakerFailures: 5, BreakerCooldown: 10 * time.Second,
	}
	if c.Upstream != want {
		t.Fatalf("got %+v\nwant %+v", c.Upstream, want)
	}
}

func TestUpstreamSettings(t *testing.T) {
	e := prodEnv()
	for k, v := range map[string]string{
		"OPENAI_API_KEY_BACKUP": "sk-proj-backup-9876543210", "UPSTREAM_MAX_CONCURRENCY": "8", "UPSTREAM_QUEUE_SIZE": "0",
		"UPSTREAM_QUEUE_TIMEOUT_MS": "250", "UPSTREAM_RETRIES": "0", "UPSTREAM_BREAKER_FAILURES": "0",
		"UPSTREAM_BREAKER_COOLDOWN_MS": "500", "TOKEN_REUSE_SECONDS": "20", "OPENAI_API_KEY_FILE_POLL_MS": "0",
	} {
		e[k] = v
	}
	c, _, err := Load(env(e))
	if err != nil {
		t.Fatal(err)
	}
	u := c.Upstream
	if u.BackupKey != "sk-proj-backup-9876543210" || u.MaxConcurrency != 8 || u.QueueSize != 0 || u.QueueTimeout != 250*time.Millisecond ||
		u.Retries != 0 || u.BreakerFailures != 0 || u.BreakerCooldown != 500*time.Millisecond || u.TokenReuse != 20*time.Second || u.KeyFilePoll != 0 {
		t.Fatalf("%+v", u)
	}
	masked := map[string]string{}
	for _, kv := range c.Masked() {
		masked[kv[0]] = kv[1]
	}
	if masked["OPENAI_API_KEY_BACKUP"] != "…3210" || masked["TOKEN_REUSE_SECONDS"] != "20" || masked["UPSTREAM_QUEUE_SIZE"] != "0" {
		t.Fatalf("masked %v", masked)
	}
}

func TestKeyFileCountsAsAKey(t *testing.T) {
	f := keyFileFor(t, "sk-proj-from-file-0123456789\n")
	t.Run("production", func(t *testing.T) {
		e := prodEnv()
		delete(e, "OPENAI_API_KEY")
		e["OPENAI_API_KEY_FILE"] = f
		c, _, err := Load(env(e))
		if err != nil {
			t.Fatal(err)
		}
		if c.OpenAIAPIKey != "" || c.Upstream.KeyFile != f || c.Simulated {
			t.Fatalf("%+v", c.Upstream)
		}
	})
	t.Run("development is not simulated", func(t *testing.T) {
		c, _, err := Load(env(map[string]string{"OPENAI_API_KEY_FILE": f}))
		if err != nil {
			t.Fatal(err)
		}
		if c.Simulated {
			t.Fatal("a key file must not start the simulator")
		}
	})
}

func TestUpstreamErrorsNameTheVariable(t *testing.T) {
	good := keyFileFor(t, "sk-proj-from-file-0123456789")
	empty := keyFileFor(t, " \n")
	two := keyFileFor(t, "sk-a\nsk-b\n")
	cases := []struct {
		name string
		set  map[string]string
		want string
	}{
		{"key and key file both set", map[string]string{"OPENAI_API_KEY_FILE": good}, "OPENAI_API_KEY_FILE"},
		{"missing key file", map[string]string{"OPENAI_API_KEY": "-", "OPENAI_API_KEY_FILE": "/nonexistent/key"}, "OPENAI_API_KEY_FILE"},
		{"empty key file", map[string]string{"OPENAI_API_KEY": "-", "OPENAI_API_KEY_FILE": empty}, "OPENAI_API_KEY_FILE"},
		{"two keys in a file", map[string]string{"OPENAI_API_KEY": "-", "OPENAI_API_KEY_FILE": two}, "OPENAI_API_KEY_FILE"},
		{"backup and backup file both set", map[string]string{"OPENAI_API_KEY_BACKUP": "sk-x-0123456789", "OPENAI_API_KEY_BACKUP_FILE": good}, "OPENAI_API_KEY_BACKUP_FILE"},
		{"missing backup file", map[string]string{"OPENAI_API_KEY_BACKUP_FILE": "/nonexistent/key"}, "OPENAI_API_KEY_BACKUP_FILE"},
		{"backup with white space", map[string]string{"OPENAI_API_KEY_BACKUP": "sk-a sk-b"}, "OPENAI_API_KEY_BACKUP"},
		{"concurrency zero", map[string]string{"UPSTREAM_MAX_CONCURRENCY": "0"}, "UPSTREAM_MAX_CONCURRENCY"},
		{"queue negative", map[string]string{"UPSTREAM_QUEUE_SIZE": "-1"}, "UPSTREAM_QUEUE_SIZE"},
		{"queue timeout past the write margin", map[string]string{"UPSTREAM_QUEUE_TIMEOUT_MS": "60000"}, "UPSTREAM_QUEUE_TIMEOUT_MS"},
		{"retries too many", map[string]string{"UPSTREAM_RETRIES": "9"}, "UPSTREAM_RETRIES"},
		{"breaker failures not a number", map[string]string{"UPSTREAM_BREAKER_FAILURES": "many"}, "UPSTREAM_BREAKER_FAILURES"},
		{"breaker cool-down too short", map[string]string{"UPSTREAM_BREAKER_COOLDOWN_MS": "1"}, "UPSTREAM_BREAKER_COOLDOWN_MS"},
		{"reuse not below the TTL", map[string]string{"TOKEN_REUSE_SECONDS": "60"}, "TOKEN_REUSE_SECONDS"},
		{"reuse negative", map[string]string{"TOKEN_REUSE_SECONDS": "-5"}, "TOKEN_REUSE_SECONDS"},
		{"poll negative", map[string]string{"OPENAI_API_KEY_FILE_POLL_MS": "-1"}, "OPENAI_API_KEY_FILE_POLL_MS"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := prodEnv()
			for k, v := range tc.set {
				if v == "-" {
					delete(e, k)
				} else {
					e[k] = v
				}
			}
			_, _, err := Load(env(e))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want one naming %s", err, tc.want)
			}
		})
	}
}

func TestBackupWithoutPrimaryFailsInDevelopment(t *testing.T) {
	_, _, err := Load(env(map[string]string{"OPENAI_API_KEY_BACKUP": "sk-proj-backup-0123456789"}))
	if err == nil || !strings.Contains(err.Error(), "OPENAI_API_KEY_BACKUP") {
		t.Fatalf("err %v", err)
	}
}

func TestTokenReuseWarnsWhenEveryoneIsAnonymous(t *testing.T) {
	e := prodEnv()
	e["TOKEN_REUSE_SECONDS"] = "10"
	_, warnings, err := Load(env(e))
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, w := range warnings {
		found = found || strings.Contains(w, "TOKEN_REUSE_SECONDS")
	}
	if !found {
		t.Fatalf("warnings %v", warnings)
	}
}
