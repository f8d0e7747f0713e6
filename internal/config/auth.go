package config

import "strings"

// AuthConfig holds user authentication and per-user controls (AUTH_*,
// USER_*, DATA_RETENTION_DAYS, ADMIN_TOKEN).
type AuthConfig struct{}

func (p *parser) loadAuth(c *Config) {}

func (c *Config) maskedAuth() [][2]string { return nil }

func (p *parser) authMode(prod bool) string {
	raw := strings.TrimSpace(p.getenv("AUTH_MODE"))
	if raw == "" {
		if prod {
			p.fail("AUTH_MODE", "is required in production (none, or a real mode once configured)")
		}
		return AuthNone
	}
	switch raw {
	case AuthNone:
		return raw
	case AuthJWT, AuthForward:
		p.fail("AUTH_MODE", "%q is not available in this build yet; use none", raw)
		return raw
	}
	p.fail("AUTH_MODE", "must be none, got %q", raw)
	return raw
}
