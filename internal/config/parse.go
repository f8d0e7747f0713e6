package config

import (
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/rtgate/rtgate/internal/clientip"
)

// parser collects every problem instead of stopping at the first, so an
// operator fixes a deployment in one round.
type parser struct {
	getenv   func(string) string
	errs     []error
	warnings []string
}

func (p *parser) fail(name, format string, args ...any) {
	p.errs = append(p.errs, fmt.Errorf("%s %s", name, fmt.Sprintf(format, args...)))
}

func (p *parser) warn(msg string) { p.warnings = append(p.warnings, msg) }

func (p *parser) str(name, def string) string {
	if v := strings.TrimSpace(p.getenv(name)); v != "" {
		return v
	}
	return def
}

func (p *parser) integer(name string, def, lo, hi int) int {
	raw := strings.TrimSpace(p.getenv(name))
	if raw == "" {
		return def
	}
	n, err := strconv.Atoi(raw)
	if err != nil {
		p.fail(name, "must be a whole number, got %q", raw)
		return def
	}
	if n < lo || n > hi {
		p.fail(name, "must be between %d and %d, got %d", lo, hi, n)
		return def
	}
	return n
}

func (p *parser) millis(name string, def, lo, hi int) time.Duration {
	return time.Duration(p.integer(name, def, lo, hi)) * time.Millisecond
}

func (p *parser) boolean(name string, def bool) bool {
	raw := strings.TrimSpace(p.getenv(name))
	if raw == "" {
		return def
	}
	switch strings.ToLower(raw) {
	case "1", "true", "yes", "on":
		return true
	case "0", "false", "no", "off":
		return false
	}
	p.fail(name, "must be true or false, got %q", raw)
	return def
}

func (p *parser) enum(name, def string, allowed ...string) string {
	raw := strings.TrimSpace(p.getenv(name))
	if raw == "" {
		return def
	}
	for _, a := range allowed {
		if raw == a {
			return a
		}
	}
	p.fail(name, "must be one of %s, got %q", strings.Join(allowed, "|"), raw)
	return def
}

func (p *parser) enumFold(name, def string, allowed ...string) string {
	raw := strings.TrimSpace(p.getenv(name))
	if raw == "" {
		return def
	}
	for _, a := range allowed {
		if strings.EqualFold(raw, a) {
			return a
		}
	}
	p.fail(name, "must be one of %s, got %q", strings.Join(allowed, "|"), raw)
	return def
}

// token reads a model or voice name: short, printable, no separators.
func (p *parser) token(name, def string) string {
	v := p.str(name, def)
	if !validToken(v) {
		p.fail(name, "must be 1-64 characters of [A-Za-z0-9._:-], got %q", v)
	}
	return v
}

func validToken(s string) bool { return alnumPlus(s, 64, "._:-") }

// alnumPlus reports whether s is 1 to maxLen ASCII letters, digits and bytes
// from extra.
func alnumPlus(s string, maxLen int, extra string) bool {
	if len(s) == 0 || len(s) > maxLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte(extra, c) >= 0) {
			return false
		}
	}
	return true
}

// list reads a comma-separated allowlist; def is always a member, since the
// server's own default must be something a client may ask for.
func (p *parser) list(name, def string) []string {
	out := []string{def}
	for _, f := range splitList(p.getenv(name)) {
		if !validToken(f) {
			p.fail(name, "has an invalid entry %q", f)
			continue
		}
		if f != def && !contains(out, f) {
			out = append(out, f)
		}
	}
	return out
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func splitList(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' || r == '\n' })
}

func (p *parser) mode() Mode {
	name, raw := "APP_ENV", strings.TrimSpace(p.getenv("APP_ENV"))
	if raw == "" {
		name, raw = "NODE_ENV", strings.TrimSpace(p.getenv("NODE_ENV"))
	}
	switch strings.ToLower(raw) {
	case "", "development", "dev":
		return Development
	case "production", "prod":
		return Production
	case "test":
		// NODE_ENV=test is common in Node projects; it is not production.
		return Development
	}
	p.fail(name, "must be production or development, got %q", raw)
	// An unreadable mode must not relax the production guards.
	return Production
}

func (p *parser) level() slog.Level {
	raw := strings.TrimSpace(p.getenv("LOG_LEVEL"))
	switch strings.ToLower(raw) {
	case "", "info":
		return slog.LevelInfo
	case "debug":
		return slog.LevelDebug
	case "warn", "warning":
		return slog.LevelWarn
	case "error":
		return slog.LevelError
	}
	p.fail("LOG_LEVEL", "must be debug, info, warn or error, got %q", raw)
	return slog.LevelInfo
}

func (p *parser) baseURL(name, def string, prod bool) string {
	raw := p.str(name, def)
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		p.fail(name, "must be an absolute http(s) URL without credentials, query or fragment, got %q", raw)
		return def
	}
	if prod && u.Scheme != "https" {
		p.fail(name, "must use https in production")
	}
	return strings.TrimRight(raw, "/")
}

func (p *parser) addr(name, def string, allowEmpty bool) string {
	raw, set := strings.TrimSpace(p.getenv(name)), false
	if raw != "" {
		set = true
	} else {
		raw = def
	}
	if allowEmpty && set && (raw == "off" || raw == "none") {
		return ""
	}
	host, port, err := net.SplitHostPort(raw)
	if err == nil {
		var n int
		n, err = strconv.Atoi(port)
		if err == nil && (n < 0 || n > 65535) {
			err = fmt.Errorf("port out of range")
		}
		if err == nil && host != "" && host != "localhost" && net.ParseIP(host) == nil {
			err = fmt.Errorf("host must be an IP")
		}
	}
	if err != nil {
		p.fail(name, "must be host:port, got %q", raw)
		return def
	}
	return raw
}

func (p *parser) prefixes(name string) []netip.Prefix {
	out, err := clientip.ParsePrefixes(p.getenv(name))
	if err != nil {
		p.fail(name, "has an %v (want IP addresses or CIDRs)", err)
	}
	return out
}

// origins validates ALLOWED_ORIGINS. Each entry must be a bare origin
// (scheme://host[:port]); wildcards and "null" are refused, since the gate
// answers with credentials allowed.
func (p *parser) origins(prod bool) []string {
	raw := strings.TrimSpace(p.getenv("ALLOWED_ORIGINS"))
	if raw == "" {
		if prod {
			p.fail("ALLOWED_ORIGINS", "is required in production (comma-separated origins such as https://app.example.com)")
		}
		// Development's default follows the listener: devdefaults.go.
		return nil
	}
	var out []string
	for _, f := range splitList(raw) {
		o, err := NormalizeOrigin(f)
		if err != nil {
			p.fail("ALLOWED_ORIGINS", "has an invalid entry %q: %v", f, err)
			continue
		}
		if prod && strings.HasPrefix(o, "http://") {
			p.warn("ALLOWED_ORIGINS entry " + o + " is plain http in production")
		}
		if !contains(out, o) {
			out = append(out, o)
		}
	}
	if len(out) == 0 && len(p.errs) == 0 {
		p.fail("ALLOWED_ORIGINS", "lists no origin")
	}
	return out
}

// NormalizeOrigin turns a configured origin into the exact form browsers
// send in the Origin header: lower-case scheme and host, no default port,
// no path.
func NormalizeOrigin(s string) (string, error) {
	if s == "*" || strings.EqualFold(s, "null") {
		return "", fmt.Errorf("wildcards and null are not allowed")
	}
	u, err := url.Parse(s)
	if err != nil {
		return "", fmt.Errorf("not a URL")
	}
	scheme := strings.ToLower(u.Scheme)
	if scheme != "http" && scheme != "https" {
		return "", fmt.Errorf("scheme must be http or https")
	}
	if u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" {
		return "", fmt.Errorf("must be scheme://host[:port] only")
	}
	host := strings.ToLower(u.Hostname())
	if host == "" || strings.ContainsAny(host, "*%") {
		return "", fmt.Errorf("host must be a plain host name or address")
	}
	port := u.Port()
	if (scheme == "https" && port == "443") || (scheme == "http" && port == "80") {
		port = ""
	}
	if port != "" {
		n, err := strconv.Atoi(port)
		if err != nil || n < 1 || n > 65535 {
			return "", fmt.Errorf("bad port")
		}
	}
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	if port != "" {
		return scheme + "://" + host + ":" + port, nil
	}
	return scheme + "://" + host, nil
}
