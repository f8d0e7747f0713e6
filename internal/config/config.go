// Package config reads rtgate's configuration from the environment once, at
// start-up, into one typed Config, and validates it. Every problem names the
// variable that caused it; all problems are reported together.
package config

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/rtgate/rtgate/internal/redisconn"
	"github.com/rtgate/rtgate/internal/sessioncfg"
)

// Mode is the deployment mode.
type Mode string

// Deployment modes.
const (
	Development Mode = "development"
	Production  Mode = "production"
)

// Auth modes.
const (
	AuthNone    = "none"
	AuthJWT     = "jwt"
	AuthForward = "forward"
)

// Token TTL bounds accepted by OpenAI for expires_after.seconds.
const (
	MinTokenTTL = 10 * time.Second
	MaxTokenTTL = 7200 * time.Second
)

// DefaultRealtimeModel is REALTIME_MODEL's default: the current Realtime
// model with no announced shutdown (openai-go v3.99.0 marks none for it).
const DefaultRealtimeModel = "gpt-realtime-2.1"

// deprecatedModels are Realtime models OpenAI has announced a shutdown for,
// with what rtgate says about each. The dated ones are the models
// openai-go v3.99.0 marks "Deprecated: Announced shutdown date: 2027-01-20"
// (RealtimeSessionCreateRequestModel); the gpt-4o previews are preview
// models the SDK no longer marks but third-party notices report retired or
// retiring (docs/session-config.md, "Models").
var deprecatedModels = map[string]string{
	"gpt-realtime":                            "has an announced OpenAI shutdown date of 2027-01-20",
	"gpt-realtime-2025-08-28":                 "has an announced OpenAI shutdown date of 2027-01-20",
	"gpt-realtime-mini":                       "has an announced OpenAI shutdown date of 2027-01-20",
	"gpt-realtime-mini-2025-12-15":            "has an announced OpenAI shutdown date of 2027-01-20",
	"gpt-audio-mini":                          "has an announced OpenAI shutdown date of 2027-01-20",
	"gpt-audio-mini-2025-12-15":               "has an announced OpenAI shutdown date of 2027-01-20",
	"gpt-4o-realtime-preview":                 "is a preview model reported as retired or retiring",
	"gpt-4o-realtime-preview-2024-10-01":      "is a preview model reported as retired or retiring",
	"gpt-4o-realtime-preview-2024-12-17":      "is a preview model reported as retired or retiring",
	"gpt-4o-realtime-preview-2025-06-03":      "is a preview model reported as retired or retiring",
	"gpt-4o-mini-realtime-preview":            "is a preview model reported as retired or retiring",
	"gpt-4o-mini-realtime-preview-2024-12-17": "is a preview model reported as retired or retiring",
}

// Config is rtgate's whole configuration. It is built by Load and never
// changed afterwards.
type Config struct {
	Mode Mode

	// Upstream.
	OpenAIAPIKey    string // secret; never logged
	OpenAIBaseURL   string // without a trailing slash
	UpstreamTimeout time.Duration

	// Listeners.
	Host            string
	Port            int
	AdminAddr       string // empty disables the admin listener
	SimulatorAddr   string
	ShutdownTimeout time.Duration
	MaxHeaderBytes  int

	// Requests.
	MaxBodyBytes   int64
	AllowedOrigins []string // normalised: lower-case scheme and host, no default port

	// Session config sent upstream.
	RealtimeModel        string
	RealtimeVoice        string
	RealtimeInstructions string
	AllowedModels        []string
	AllowedVoices        []string
	TokenTTL             time.Duration
	// SessionConfigFile is SESSION_CONFIG_FILE ("" for none); Session is
	// that file validated with the environment (session.go).
	SessionConfigFile string
	Session           *sessioncfg.Config

	// Authentication.
	AuthMode string

	// Rate limiting.
	RateLimitMax          int
	RateLimitWindow       time.Duration
	UserRateLimitMax      int
	UserRateLimitWindow   time.Duration
	RateLimitHeaders      string // draft | legacy | both: ratelimit.ParseHeaderMode's values
	RateLimitIPv6Prefix   int
	RateLimitMaxKeys      int
	RateLimitWhitelist    []netip.Prefix
	RateLimitShadow       bool
	RateLimitRedisFailure string // local | open | closed: ratelimit.ParseFailurePolicy's values
	RedisURL              string // secret (may hold a password)
	RedisKeyPrefix        string
	TrustedProxies        []netip.Prefix
	ClientIPHeader        string // X-Forwarded-For | X-Real-IP

	// Logging.
	LogLevel  slog.Level
	LogFormat string // LogJSON, LogText or LogAuto (devdefaults.go)

	// DevOrigins is true when AllowedOrigins is development's default,
	// derived from HOST, PORT and TLS (DevOrigins); with PORT=0 the app
	// derives it again once the port is known.
	DevOrigins bool

	// Sections owned by later features; each is parsed in its own file.
	Upstream UpstreamConfig // upstream.go: key ring, queue, breaker, retries
	TLS      TLSConfig      // tls.go: native TLS, ACME, HTTPS guard
	Auth     AuthConfig     // auth.go: JWT, forward auth, user controls
	Web      WebConfig      // web.go: demo page, SDP proxy
	Abuse    AbuseConfig    // abuse.go: GET minting, burst, admin hosts, production overrides
	Conns    ConnsConfig    // conns.go: connection caps per client address and in total
	Provider ProviderConfig // provider.go: OpenAI or Azure, the upstream's CA
	Budget   BudgetConfig   // budget.go: prices and spend budgets
	Control  ControlConfig  // control.go: GPT-Live's session variables, sideband control of proxied calls

	// Simulated is true when no OPENAI_API_KEY was given in development:
	// serve starts the built-in simulator and points OpenAIBaseURL at it.
	Simulated bool
}

// Addr is the public listener's address.
func (c *Config) Addr() string { return net.JoinHostPort(c.Host, strconv.Itoa(c.Port)) }

// Load reads the configuration through getenv (os.Getenv in production
// code). It returns every problem found, joined, each naming its variable,
// and a list of warnings that do not stop start-up.
func Load(getenv func(string) string) (*Config, []string, error) {
	p := &parser{getenv: getenv}
	getenv = p.secretFiles(getenv)
	p.getenv = getenv
	c := &Config{}

	c.Mode = p.mode()
	prod := c.Mode == Production

	c.OpenAIAPIKey = strings.TrimSpace(getenv("OPENAI_API_KEY"))
	if c.OpenAIAPIKey == "" {
		if strings.TrimSpace(getenv("OPENAI_API_KEY_FILE")) != "" {
			// The key comes from a file; upstream.go checks it.
		} else if prod {
			p.fail("OPENAI_API_KEY", "is required in production (or OPENAI_API_KEY_FILE)")
		} else {
			c.Simulated = true
		}
	} else if strings.ContainsAny(c.OpenAIAPIKey, " \t\r\n") {
		p.fail("OPENAI_API_KEY", "must not contain white space")
	}
	c.OpenAIBaseURL = p.baseURL("OPENAI_BASE_URL", "https://api.openai.com/v1", prod)
	c.UpstreamTimeout = p.millis("UPSTREAM_TIMEOUT_MS", 10000, 100, 120000)

	c.Host = p.str("HOST", "0.0.0.0")
	if net.ParseIP(c.Host) == nil && c.Host != "localhost" {
		p.fail("HOST", "must be an IP address or localhost, got %q", c.Host)
	}
	c.Port = p.integer("PORT", 3000, 0, 65535)
	c.AdminAddr = p.addr("ADMIN_ADDR", "127.0.0.1:3090", true)
	c.SimulatorAddr = p.addr("SIMULATOR_ADDR", "127.0.0.1:8089", false)
	c.ShutdownTimeout = p.millis("SHUTDOWN_TIMEOUT_MS", 15000, 0, 300000)
	c.MaxHeaderBytes = p.integer("MAX_HEADER_BYTES", 16384, 1024, 1<<20)

	c.MaxBodyBytes = int64(p.integer("MAX_BODY_BYTES", 16384, 64, 1<<20))
	c.AllowedOrigins = p.origins(prod)

	c.RealtimeModel = p.token("REALTIME_MODEL", DefaultRealtimeModel)
	c.RealtimeVoice = p.token("REALTIME_VOICE", "marin")
	c.RealtimeInstructions = getenv("REALTIME_INSTRUCTIONS")
	if len(c.RealtimeInstructions) > 16384 {
		p.fail("REALTIME_INSTRUCTIONS", "must be at most 16384 bytes")
	}
	c.AllowedModels = p.list("REALTIME_ALLOWED_MODELS", c.RealtimeModel)
	c.AllowedVoices = p.list("REALTIME_ALLOWED_VOICES", c.RealtimeVoice)
	c.TokenTTL = time.Duration(p.integer("TOKEN_TTL_SECONDS", 60, int(MinTokenTTL/time.Second), int(MaxTokenTTL/time.Second))) * time.Second
	p.loadLive(c)
	p.loadSession(c)

	c.AuthMode = p.authMode(prod)
	p.loadUpstream(c)
	p.loadTLS(c)
	p.loadAuth(c)
	p.loadWeb(c)
	p.loadConns(c)
	p.loadControl(c)
	p.loadDevDefaults(c)
	p.loadProvider(c)
	p.loadBudget(c)

	c.RateLimitMax = p.integer("RATE_LIMIT_MAX_REQUESTS", 10, 1, 1_000_000)
	c.RateLimitWindow = p.millis("RATE_LIMIT_WINDOW_MS", 60000, 1000, 24*3600*1000)
	c.UserRateLimitMax = p.integer("USER_RATE_LIMIT_MAX_REQUESTS", 0, 0, 1_000_000)
	c.UserRateLimitWindow = p.millis("USER_RATE_LIMIT_WINDOW_MS", 60000, 1000, 24*3600*1000)
	c.RateLimitHeaders = p.enum("RATE_LIMIT_HEADERS", "both", "draft", "legacy", "both")
	c.RateLimitIPv6Prefix = p.integer("RATE_LIMIT_IPV6_PREFIX", 64, 32, 128)
	c.RateLimitMaxKeys = p.integer("RATE_LIMIT_MAX_KEYS", 1_000_000, 1000, 100_000_000)
	c.RateLimitWhitelist = p.prefixes("RATE_LIMIT_WHITELIST")
	c.RateLimitShadow = p.boolean("RATE_LIMIT_SHADOW", false)
	c.RateLimitRedisFailure = p.enum("RATE_LIMIT_REDIS_FAILURE", "local", "local", "open", "closed")
	c.RedisURL = strings.TrimSpace(getenv("REDIS_URL"))
	if c.RedisURL != "" {
		if _, err := redisconn.Parse(c.RedisURL); err != nil {
			p.fail("REDIS_URL", "is not usable: %s", err)
		}
	}
	c.RedisKeyPrefix = p.str("REDIS_KEY_PREFIX", "rtgate:")
	c.TrustedProxies = p.prefixes("TRUSTED_PROXIES")
	c.ClientIPHeader = p.enumFold("CLIENT_IP_HEADER", "X-Forwarded-For", "X-Forwarded-For", "X-Real-IP")

	c.LogLevel = p.level()
	p.loadAbuse(c)

	for _, m := range c.AllowedModels {
		if why, ok := deprecatedModels[m]; ok {
			p.warn("model " + m + " (REALTIME_MODEL / REALTIME_ALLOWED_MODELS) " + why + "; move to " + DefaultRealtimeModel + " (or gpt-realtime-2.1-mini)")
		}
	}
	if c.AuthMode == AuthNone && prod {
		p.warn("AUTH_MODE=none in production: anyone who can reach rtgate can mint tokens, whether a page on an allowed origin or any client that sends no Origin header (curl, scripts, servers: the origin gate only stops browsers on other origins); put authentication in front or set AUTH_MODE=jwt|forward")
	}
	if len(p.errs) > 0 {
		return nil, p.warnings, errors.Join(p.errs...)
	}
	return c, p.warnings, nil
}

// Masked returns the effective configuration as name/value pairs, in a
// stable order, with secrets replaced by a short fingerprint.
func (c *Config) Masked() [][2]string {
	key := "(none: built-in simulator)"
	switch {
	case c.OpenAIAPIKey != "":
		key = MaskSecret(c.OpenAIAPIKey)
	case c.Upstream.KeyFile != "":
		key = "(from OPENAI_API_KEY_FILE)"
	}
	redis := ""
	if c.RedisURL != "" {
		redis = maskURL(c.RedisURL)
	}
	out := [][2]string{
		{"APP_ENV", string(c.Mode)},
		{"OPENAI_API_KEY", key},
		{"OPENAI_BASE_URL", c.OpenAIBaseURL},
		{"UPSTREAM_TIMEOUT_MS", ms(c.UpstreamTimeout)},
		{"HOST", c.Host},
		{"PORT", strconv.Itoa(c.Port)},
		{"ADMIN_ADDR", c.AdminAddr},
		{"SIMULATOR_ADDR", c.SimulatorAddr},
		{"SHUTDOWN_TIMEOUT_MS", ms(c.ShutdownTimeout)},
		{"MAX_HEADER_BYTES", strconv.Itoa(c.MaxHeaderBytes)},
		{"MAX_BODY_BYTES", strconv.FormatInt(c.MaxBodyBytes, 10)},
		{"ALLOWED_ORIGINS", strings.Join(c.AllowedOrigins, ",")},
		{"REALTIME_MODEL", c.RealtimeModel},
		{"REALTIME_VOICE", c.RealtimeVoice},
		{"REALTIME_INSTRUCTIONS", fmt.Sprintf("(%d bytes)", len(c.RealtimeInstructions))},
		{"REALTIME_ALLOWED_MODELS", strings.Join(c.AllowedModels, ",")},
		{"REALTIME_ALLOWED_VOICES", strings.Join(c.AllowedVoices, ",")},
		{"TOKEN_TTL_SECONDS", strconv.Itoa(int(c.TokenTTL / time.Second))},
		{"SESSION_CONFIG_FILE", c.SessionConfigFile},
		{"AUTH_MODE", c.AuthMode},
		{"RATE_LIMIT_MAX_REQUESTS", strconv.Itoa(c.RateLimitMax)},
		{"RATE_LIMIT_WINDOW_MS", ms(c.RateLimitWindow)},
		{"USER_RATE_LIMIT_MAX_REQUESTS", strconv.Itoa(c.UserRateLimitMax)},
		{"USER_RATE_LIMIT_WINDOW_MS", ms(c.UserRateLimitWindow)},
		{"RATE_LIMIT_HEADERS", c.RateLimitHeaders},
		{"RATE_LIMIT_IPV6_PREFIX", strconv.Itoa(c.RateLimitIPv6Prefix)},
		{"RATE_LIMIT_MAX_KEYS", strconv.Itoa(c.RateLimitMaxKeys)},
		{"RATE_LIMIT_WHITELIST", prefixString(c.RateLimitWhitelist)},
		{"RATE_LIMIT_SHADOW", strconv.FormatBool(c.RateLimitShadow)},
		{"RATE_LIMIT_REDIS_FAILURE", c.RateLimitRedisFailure},
		{"REDIS_URL", redis},
		{"REDIS_KEY_PREFIX", c.RedisKeyPrefix},
		{"TRUSTED_PROXIES", prefixString(c.TrustedProxies)},
		{"CLIENT_IP_HEADER", c.ClientIPHeader},
		{"LOG_LEVEL", strings.ToLower(c.LogLevel.String())},
	}
	out = append(out, c.maskedUpstream()...)
	out = append(out, c.maskedTLS()...)
	out = append(out, c.maskedAuth()...)
	out = append(out, c.maskedWeb()...)
	out = append(out, c.maskedAbuse()...)
	out = append(out, c.maskedConns()...)
	out = append(out, c.maskedDevDefaults()...)
	out = append(out, c.maskedProvider()...)
	out = append(out, c.maskedBudget()...)
	out = append(out, c.maskedControl()...)
	return out
}

// MaskSecret identifies a secret without revealing it: its length class and
// last four characters, which is what OpenAI's dashboard shows too.
func MaskSecret(s string) string {
	if len(s) < 12 {
		return "****"
	}
	return "…" + s[len(s)-4:]
}

func maskURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(invalid)"
	}
	if u.User != nil {
		u.User = url.UserPassword("****", "****")
	}
	return u.Redacted()
}

func ms(d time.Duration) string { return strconv.FormatInt(d.Milliseconds(), 10) }

func prefixString(ps []netip.Prefix) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = p.String()
	}
	return strings.Join(s, ",")
}
