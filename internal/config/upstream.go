package config

import (
	"os"
	"strconv"
	"strings"
	"time"
)

// UpstreamConfig holds the resilience settings of the upstream client (key ring, queue,
// breaker, retries, token reuse).
type UpstreamConfig struct {
	// BackupKey is the key used when the upstream rejects the primary (secret).
	BackupKey string
	// KeyFile and BackupKeyFile hold the keys instead of the variables; they
	// are re-read on SIGHUP, every KeyFilePoll, and when a key is rejected.
	KeyFile       string
	BackupKeyFile string
	// KeyFilePoll is how often key files are re-read; 0 means only on SIGHUP
	// (and on a rejected key).
	KeyFilePoll time.Duration

	MaxConcurrency int           // calls in flight
	QueueSize      int           // calls waiting for a slot
	QueueTimeout   time.Duration // longest wait for a slot
	Retries        int           // extra attempts per call

	BreakerFailures int           // failures in a row that open the breaker; 0 disables
	BreakerCooldown time.Duration // how long it stays open before a probe

	// TokenReuse, when positive, returns an authenticated user's still-valid
	// secret (same model, voice and instructions) if it has more than this left.
	TokenReuse time.Duration
}

func (p *parser) loadUpstream(c *Config) {
	u := &c.Upstream
	u.KeyFile = p.str("OPENAI_API_KEY_FILE", "")
	u.BackupKey = strings.TrimSpace(p.getenv("OPENAI_API_KEY_BACKUP"))
	u.BackupKeyFile = p.str("OPENAI_API_KEY_BACKUP_FILE", "")
	u.KeyFilePoll = p.millis("OPENAI_API_KEY_FILE_POLL_MS", 1000, 0, 3600*1000)

	if u.KeyFile != "" {
		if c.OpenAIAPIKey != "" {
			p.fail("OPENAI_API_KEY_FILE", "cannot be combined with OPENAI_API_KEY (set one)")
		}
		p.keyFile("OPENAI_API_KEY_FILE", u.KeyFile)
	}
	if u.BackupKeyFile != "" {
		if u.BackupKey != "" {
			p.fail("OPENAI_API_KEY_BACKUP_FILE", "cannot be combined with OPENAI_API_KEY_BACKUP (set one)")
		}
		p.keyFile("OPENAI_API_KEY_BACKUP_FILE", u.BackupKeyFile)
	}
	if strings.ContainsAny(u.BackupKey, " \t\r\n") {
		p.fail("OPENAI_API_KEY_BACKUP", "must not contain white space")
	}
	hasBackup := u.BackupKey != "" || u.BackupKeyFile != ""
	if hasBackup && c.OpenAIAPIKey == "" && u.KeyFile == "" {
		p.fail("OPENAI_API_KEY_BACKUP", "needs a primary key (OPENAI_API_KEY or OPENAI_API_KEY_FILE)")
	}
	if u.BackupKey != "" && u.BackupKey == c.OpenAIAPIKey {
		p.warn("OPENAI_API_KEY_BACKUP is the same key as OPENAI_API_KEY: it gives no failover")
	}

	u.MaxConcurrency = p.integer("UPSTREAM_MAX_CONCURRENCY", 64, 1, 10000)
	u.QueueSize = p.integer("UPSTREAM_QUEUE_SIZE", 256, 0, 100000)
	// The longest queue wait stays under the write timeout's 15s margin.
	u.QueueTimeout = p.millis("UPSTREAM_QUEUE_TIMEOUT_MS", 2000, 10, 10000)
	u.Retries = p.integer("UPSTREAM_RETRIES", 2, 0, 5)
	u.BreakerFailures = p.integer("UPSTREAM_BREAKER_FAILURES", 5, 0, 1000)
	u.BreakerCooldown = p.millis("UPSTREAM_BREAKER_COOLDOWN_MS", 10000, 100, 600000)

	u.TokenReuse = time.Duration(p.integer("TOKEN_REUSE_SECONDS", 0, 0, int(MaxTokenTTL/time.Second))) * time.Second
	if u.TokenReuse > 0 {
		if u.TokenReuse >= c.TokenTTL {
			p.fail("TOKEN_REUSE_SECONDS", "must be less than TOKEN_TTL_SECONDS (%d), or no secret could ever be reused", int(c.TokenTTL/time.Second))
		}
		if c.AuthMode == AuthNone {
			p.warn("TOKEN_REUSE_SECONDS has no effect with AUTH_MODE=none: secrets are never reused for anonymous callers")
		}
	}
}

// keyFile checks at start-up that a key file is readable and holds one key,
// so a typo fails the deployment instead of the first request.
func (p *parser) keyFile(name, path string) {
	b, err := os.ReadFile(path)
	if err != nil {
		p.fail(name, "cannot be read: %v", err)
		return
	}
	v := strings.TrimSpace(string(b))
	switch {
	case v == "":
		p.fail(name, "names an empty file %q", path)
	case len(v) > 4096 || strings.ContainsAny(v, " \t\r\n"):
		p.fail(name, "must name a file holding one key (no white space inside), got %q", path)
	}
}

func (c *Config) maskedUpstream() [][2]string {
	u := c.Upstream
	backup := ""
	if u.BackupKey != "" {
		backup = MaskSecret(u.BackupKey)
	}
	return [][2]string{
		{"OPENAI_API_KEY_FILE", u.KeyFile},
		{"OPENAI_API_KEY_BACKUP", backup},
		{"OPENAI_API_KEY_BACKUP_FILE", u.BackupKeyFile},
		{"OPENAI_API_KEY_FILE_POLL_MS", ms(u.KeyFilePoll)},
		{"UPSTREAM_MAX_CONCURRENCY", strconv.Itoa(u.MaxConcurrency)},
		{"UPSTREAM_QUEUE_SIZE", strconv.Itoa(u.QueueSize)},
		{"UPSTREAM_QUEUE_TIMEOUT_MS", ms(u.QueueTimeout)},
		{"UPSTREAM_RETRIES", strconv.Itoa(u.Retries)},
		{"UPSTREAM_BREAKER_FAILURES", strconv.Itoa(u.BreakerFailures)},
		{"UPSTREAM_BREAKER_COOLDOWN_MS", ms(u.BreakerCooldown)},
		{"TOKEN_REUSE_SECONDS", strconv.Itoa(int(u.TokenReuse / time.Second))},
	}
}
