package config

import (
	"net/url"
	"strconv"
)

// Bounds of the web section's settings.
const (
	defaultSDPBytes = 32768
	minSDPBytes     = 1024
	maxSDPBytes     = 262144
)

// WebConfig holds the demo page and SDP proxy settings (DEMO_PAGE,
// MAX_SDP_BYTES). The proxied calls' maximum duration is
// USER_SESSION_MAX_SECONDS, in AuthConfig.SessionMax.
type WebConfig struct {
	// DemoPage serves the embedded demo client at "/". Default: on in
	// development, off in production.
	DemoPage bool
	// MaxSDPBytes bounds the SDP offer body of POST /api/realtime-call.
	MaxSDPBytes int64
}

func (p *parser) loadWeb(c *Config) {
	w := &c.Web
	w.DemoPage = p.boolean("DEMO_PAGE", c.Mode != Production)
	w.MaxSDPBytes = int64(p.integer("MAX_SDP_BYTES", defaultSDPBytes, minSDPBytes, maxSDPBytes))
}

func (c *Config) maskedWeb() [][2]string {
	return [][2]string{
		{"DEMO_PAGE", strconv.FormatBool(c.Web.DemoPage)},
		{"MAX_SDP_BYTES", strconv.FormatInt(c.Web.MaxSDPBytes, 10)},
	}
}

// RealtimeOrigin is the origin of OPENAI_BASE_URL (scheme://host[:port]),
// which a browser in ephemeral-token mode posts its SDP offer to; the demo
// page's CSP allows connect-src to exactly this origin. It is computed from
// the current base URL, so it follows the built-in simulator when that is in
// use. It returns "" if the base URL is unusable.
func (c *Config) RealtimeOrigin() string { return OriginOf(c.OpenAIBaseURL) }

// OriginOf returns the normalised origin of an absolute http(s) URL, or ""
// when raw is not one.
func OriginOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return ""
	}
	o, err := NormalizeOrigin(u.Scheme + "://" + u.Host)
	if err != nil {
		return ""
	}
	return o
}
