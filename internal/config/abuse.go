package config

import (
	"strconv"
	"strings"
)

// AbuseConfig holds the settings that keep every abuse path at the
// configured allowance (issue 11): which methods mint, the rate limit's
// burst, the names the admin listener answers to, and the production
// settings that weaken the limits, acknowledged or warned about.
type AbuseConfig struct {
	// AllowGetMint serves GET /api/realtime-session besides POST
	// (ALLOW_GET_MINT, default on: the guide's clients and load test use
	// GET; cross-site GETs are refused by their fetch metadata).
	AllowGetMint bool
	// RateLimitBurst is the per-IP limit's burst (RATE_LIMIT_BURST, 1 to
	// RATE_LIMIT_MAX_REQUESTS, default RATE_LIMIT_MAX_REQUESTS): at worst
	// RateLimitBurst + RATE_LIMIT_MAX_REQUESTS - 1 requests in any window;
	// 1 makes it strict.
	RateLimitBurst int
	// AdminHosts are the host names the admin listener answers to besides
	// IP literals and localhost (ADMIN_HOSTS): any other Host is refused,
	// so a DNS-rebinding page cannot read it.
	AdminHosts []string
}

func (p *parser) loadAbuse(c *Config) {
	a := &c.Abuse
	a.AllowGetMint = p.boolean("ALLOW_GET_MINT", true)
	a.RateLimitBurst = p.integer("RATE_LIMIT_BURST", c.RateLimitMax, 1, max(c.RateLimitMax, 1))
	if c.Mode == Production && c.RedisURL != "" && c.Auth.IPHashSecret == "" && c.AuthMode == AuthNone {
		// With authentication on, auth.go already requires it.
		p.fail("IP_HASH_SECRET", "(or RECORD_HASH_SECRET) is required in production with REDIS_URL: it keys the hashes that stand for client addresses and user ids in the rate-limit keys")
	}
	for _, h := range splitList(p.getenv("ADMIN_HOSTS")) {
		if !validHostName(h) {
			p.fail("ADMIN_HOSTS", "has an invalid host name %q (want names such as rtgate-admin.internal, no port)", h)
			continue
		}
		a.AdminHosts = append(a.AdminHosts, strings.ToLower(h))
	}
	if c.Mode == Production && a.AllowGetMint && (c.AuthMode == AuthForward || c.Auth.JWTCookie != "") {
		p.warn("ALLOW_GET_MINT=true with cookie credentials (AUTH_MODE=forward or AUTH_JWT_COOKIE): a browser without fetch metadata (before 2023) lets any page mint with the user's cookie through an <img>; set ALLOW_GET_MINT=false if your clients use POST")
	}
}

func (c *Config) maskedAbuse() [][2]string {
	a := &c.Abuse
	return [][2]string{
		{"ALLOW_GET_MINT", strconv.FormatBool(a.AllowGetMint)},
		{"RATE_LIMIT_BURST", strconv.Itoa(a.RateLimitBurst)},
		{"ADMIN_HOSTS", strings.Join(a.AdminHosts, ",")},
	}
}

// validHostName accepts a DNS name: dot-separated labels of letters,
// digits and inner dashes, 253 bytes at most.
func validHostName(h string) bool {
	if h == "" || len(h) > 253 {
		return false
	}
	for _, label := range strings.Split(strings.TrimSuffix(h, "."), ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' || !alnumPlus(label, 63, "-") {
			return false
		}
	}
	return true
}
