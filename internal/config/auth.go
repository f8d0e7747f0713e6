package config

import (
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Minimum lengths of the secrets the auth section reads.
const (
	// MinJWTSecretBytes is the shortest AUTH_JWT_SECRET accepted: RFC 7518
	// §3.2 requires an HS256 key of at least 256 bits.
	MinJWTSecretBytes = 32
	// MinAdminTokenBytes is the shortest ADMIN_TOKEN accepted.
	MinAdminTokenBytes = 32
	// MinHashSecretBytes is the shortest RECORD_HASH_SECRET,
	// SAFETY_ID_SECRET or IP_HASH_SECRET accepted.
	MinHashSecretBytes = 32
)

// HMACAlgorithms and PublicKeyAlgorithms are the JWT algorithms rtgate
// accepts: HMAC ones only with AUTH_JWT_SECRET, public-key ones only with
// AUTH_JWT_JWKS_URL, so that a token can never be verified with a key of the
// other kind (no HS/RS confusion), and never "none".
var (
	HMACAlgorithms      = []string{"HS256", "HS384", "HS512"}
	PublicKeyAlgorithms = []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)

// AuthConfig holds user authentication and per-user controls (AUTH_*,
// USER_*, DATA_RETENTION_DAYS, ADMIN_TOKEN, the record hash secrets).
type AuthConfig struct {
	// JWT (AUTH_MODE=jwt): exactly one of JWTSecret and JWKSURL is set.
	JWTSecret     string // secret; never logged
	JWKSURL       string
	JWTIssuer     string
	JWTAudience   string
	JWTAlgorithms []string
	JWTUserClaim  string
	JWTCookie     string
	JWTLeeway     time.Duration

	// Forward auth (AUTH_MODE=forward).
	ForwardURL        string
	ForwardUserHeader string
	ForwardTimeout    time.Duration
	ForwardCacheTTL   time.Duration // 0: no cache

	// Per-IP limit on failed authentications (0 Max disables it).
	FailureMax    int
	FailureWindow time.Duration

	// Per-user controls; 0 switches each one off.
	MaxActiveSessions int
	DailyQuota        int
	SessionMax        time.Duration // the realtime session's maximum duration
	Retention         time.Duration

	// AdminToken enables the operator endpoints on the admin listener;
	// empty disables them. Secret; never logged.
	AdminToken string

	// SafetyIDSecret keys the OpenAI-Safety-Identifier hash of the user id,
	// IPHashSecret the keyed hash of client IPs in session records. Both
	// are derived from RECORD_HASH_SECRET unless set on their own. Empty in
	// development when nothing was configured: the app then draws random
	// ones per process. Secrets; never logged.
	SafetyIDSecret string
	IPHashSecret   string
}

func (p *parser) loadAuth(c *Config) {
	a := &c.Auth
	prod := c.Mode == Production
	jwt, forward := c.AuthMode == AuthJWT, c.AuthMode == AuthForward

	// JWT.
	a.JWTSecret = strings.TrimSpace(p.getenv("AUTH_JWT_SECRET"))
	a.JWKSURL = strings.TrimSpace(p.getenv("AUTH_JWT_JWKS_URL"))
	a.JWTIssuer = strings.TrimSpace(p.getenv("AUTH_JWT_ISSUER"))
	a.JWTAudience = strings.TrimSpace(p.getenv("AUTH_JWT_AUDIENCE"))
	a.JWTUserClaim = p.str("AUTH_JWT_USER_CLAIM", "sub")
	a.JWTCookie = strings.TrimSpace(p.getenv("AUTH_JWT_COOKIE"))
	a.JWTLeeway = time.Duration(p.integer("AUTH_JWT_LEEWAY_SECONDS", 30, 0, 300)) * time.Second
	if jwt {
		switch {
		case a.JWTSecret == "" && a.JWKSURL == "":
			p.fail("AUTH_JWT_SECRET", "or AUTH_JWT_JWKS_URL is required with AUTH_MODE=jwt")
		case a.JWTSecret != "" && a.JWKSURL != "":
			p.fail("AUTH_JWT_SECRET", "and AUTH_JWT_JWKS_URL are mutually exclusive: set one")
		}
		if a.JWTSecret != "" && len(a.JWTSecret) < MinJWTSecretBytes {
			p.fail("AUTH_JWT_SECRET", "must be at least %d bytes", MinJWTSecretBytes)
		}
		if a.JWKSURL != "" {
			u, err := url.Parse(a.JWKSURL)
			if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil || u.Fragment != "" {
				p.fail("AUTH_JWT_JWKS_URL", "must be an absolute http(s) URL without credentials")
			} else if prod && u.Scheme != "https" {
				p.fail("AUTH_JWT_JWKS_URL", "must use https in production")
			}
			if prod && a.JWTIssuer == "" {
				p.fail("AUTH_JWT_ISSUER", "is required in production with AUTH_JWT_JWKS_URL (a shared identity provider signs tokens for other issuers' tenants too)")
			}
			if prod && a.JWTAudience == "" {
				p.fail("AUTH_JWT_AUDIENCE", "is required in production with AUTH_JWT_JWKS_URL (tokens the provider issued for other APIs must not work here)")
			}
		}
		a.JWTAlgorithms = p.algorithms(a.JWKSURL != "")
		if !validClaimName(a.JWTUserClaim) {
			p.fail("AUTH_JWT_USER_CLAIM", "must be 1-64 characters of [A-Za-z0-9._:/-], got %q", a.JWTUserClaim)
		}
		if a.JWTCookie != "" && !validCookieName(a.JWTCookie) {
			p.fail("AUTH_JWT_COOKIE", "must be a cookie name (RFC 6265 token), got %q", a.JWTCookie)
		}
	}

	// Forward auth.
	a.ForwardURL = strings.TrimSpace(p.getenv("AUTH_FORWARD_URL"))
	a.ForwardUserHeader = p.str("AUTH_FORWARD_USER_HEADER", "X-User-ID")
	a.ForwardTimeout = p.millis("AUTH_FORWARD_TIMEOUT_MS", 2000, 50, 30000)
	a.ForwardCacheTTL = time.Duration(p.integer("AUTH_FORWARD_CACHE_SECONDS", 0, 0, 300)) * time.Second
	if forward {
		if a.ForwardURL == "" {
			p.fail("AUTH_FORWARD_URL", "is required with AUTH_MODE=forward")
		} else if u, err := url.Parse(a.ForwardURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil || u.Fragment != "" {
			p.fail("AUTH_FORWARD_URL", "must be an absolute http(s) URL without credentials")
		}
		if !validCookieName(a.ForwardUserHeader) {
			p.fail("AUTH_FORWARD_USER_HEADER", "must be a header name, got %q", a.ForwardUserHeader)
		}
	}

	a.FailureMax = p.integer("AUTH_FAILURE_MAX", 10, 0, 1_000_000)
	a.FailureWindow = p.millis("AUTH_FAILURE_WINDOW_MS", 60000, 1000, 24*3600*1000)

	a.MaxActiveSessions = p.integer("USER_MAX_ACTIVE_SESSIONS", 5, 0, 1_000_000)
	a.DailyQuota = p.integer("USER_DAILY_QUOTA", 100, 0, 100_000_000)
	a.SessionMax = time.Duration(p.integer("USER_SESSION_MAX_SECONDS", 3600, 0, 7*24*3600)) * time.Second
	a.Retention = time.Duration(p.integer("DATA_RETENTION_DAYS", 30, 1, 3650)) * 24 * time.Hour

	a.AdminToken = strings.TrimSpace(p.getenv("ADMIN_TOKEN"))
	if a.AdminToken != "" && len(a.AdminToken) < MinAdminTokenBytes {
		p.fail("ADMIN_TOKEN", "must be at least %d bytes", MinAdminTokenBytes)
	}

	record := p.hashSecret("RECORD_HASH_SECRET")
	a.SafetyIDSecret = p.hashSecret("SAFETY_ID_SECRET")
	a.IPHashSecret = p.hashSecret("IP_HASH_SECRET")
	if record != "" {
		// Domain separation: one configured secret, two unrelated keys.
		if a.SafetyIDSecret == "" {
			a.SafetyIDSecret = "safety-id:" + record
		}
		if a.IPHashSecret == "" {
			a.IPHashSecret = "ip-hash:" + record
		}
	}
	if prod && (jwt || forward) {
		if a.SafetyIDSecret == "" {
			p.fail("SAFETY_ID_SECRET", "(or RECORD_HASH_SECRET) is required in production with AUTH_MODE=%s, so every instance sends the same OpenAI-Safety-Identifier for a user", c.AuthMode)
		}
		if a.IPHashSecret == "" {
			p.fail("IP_HASH_SECRET", "(or RECORD_HASH_SECRET) is required in production with AUTH_MODE=%s", c.AuthMode)
		}
	}
}

func (p *parser) hashSecret(name string) string {
	v := strings.TrimSpace(p.getenv(name))
	if v != "" && len(v) < MinHashSecretBytes {
		p.fail(name, "must be at least %d bytes", MinHashSecretBytes)
	}
	return v
}

// algorithms reads AUTH_JWT_ALGORITHMS: by default HS256 with a secret and
// RS256 with a JWKS; every entry must be of the key kind configured.
func (p *parser) algorithms(jwks bool) []string {
	allowed, def := HMACAlgorithms, "HS256"
	if jwks {
		allowed, def = PublicKeyAlgorithms, "RS256"
	}
	raw := splitList(p.getenv("AUTH_JWT_ALGORITHMS"))
	if len(raw) == 0 {
		return []string{def}
	}
	var out []string
	for _, alg := range raw {
		if !slices.Contains(allowed, alg) {
			kind := "AUTH_JWT_SECRET"
			if jwks {
				kind = "AUTH_JWT_JWKS_URL"
			}
			p.fail("AUTH_JWT_ALGORITHMS", "has %q, which is not allowed with %s (allowed: %s)", alg, kind, strings.Join(allowed, ","))
			continue
		}
		if !slices.Contains(out, alg) {
			out = append(out, alg)
		}
	}
	return out
}

func validClaimName(s string) bool { return alnumPlus(s, 64, "._:/-") }

// validCookieName reports whether s is an RFC 7230 token (cookie and header
// names share the grammar).
func validCookieName(s string) bool {
	if len(s) == 0 || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`()<>@,;:\"/[]?={}`, c) >= 0 {
			return false
		}
	}
	return true
}

func (c *Config) maskedAuth() [][2]string {
	a := &c.Auth
	secret := func(s string) string {
		if s == "" {
			return ""
		}
		return "(set)"
	}
	return [][2]string{
		{"AUTH_JWT_SECRET", secret(a.JWTSecret)},
		{"AUTH_JWT_JWKS_URL", a.JWKSURL},
		{"AUTH_JWT_ISSUER", a.JWTIssuer},
		{"AUTH_JWT_AUDIENCE", a.JWTAudience},
		{"AUTH_JWT_ALGORITHMS", strings.Join(a.JWTAlgorithms, ",")},
		{"AUTH_JWT_USER_CLAIM", a.JWTUserClaim},
		{"AUTH_JWT_COOKIE", a.JWTCookie},
		{"AUTH_JWT_LEEWAY_SECONDS", strconv.Itoa(int(a.JWTLeeway / time.Second))},
		{"AUTH_FORWARD_URL", a.ForwardURL},
		{"AUTH_FORWARD_USER_HEADER", a.ForwardUserHeader},
		{"AUTH_FORWARD_TIMEOUT_MS", ms(a.ForwardTimeout)},
		{"AUTH_FORWARD_CACHE_SECONDS", strconv.Itoa(int(a.ForwardCacheTTL / time.Second))},
		{"AUTH_FAILURE_MAX", strconv.Itoa(a.FailureMax)},
		{"AUTH_FAILURE_WINDOW_MS", ms(a.FailureWindow)},
		{"USER_MAX_ACTIVE_SESSIONS", strconv.Itoa(a.MaxActiveSessions)},
		{"USER_DAILY_QUOTA", strconv.Itoa(a.DailyQuota)},
		{"USER_SESSION_MAX_SECONDS", strconv.Itoa(int(a.SessionMax / time.Second))},
		{"DATA_RETENTION_DAYS", strconv.Itoa(int(a.Retention / (24 * time.Hour)))},
		{"ADMIN_TOKEN", secret(a.AdminToken)},
		{"SAFETY_ID_SECRET", secret(a.SafetyIDSecret)},
		{"IP_HASH_SECRET", secret(a.IPHashSecret)},
	}
}

func (p *parser) authMode(prod bool) string {
	raw := strings.TrimSpace(p.getenv("AUTH_MODE"))
	if raw == "" {
		if prod {
			p.fail("AUTH_MODE", "is required in production (jwt, forward, or an explicit none)")
		}
		return AuthNone
	}
	switch raw {
	case AuthNone, AuthJWT, AuthForward:
		return raw
	}
	p.fail("AUTH_MODE", "must be none, jwt or forward, got %q", raw)
	return raw
}
