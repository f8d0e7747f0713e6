package config

import (
	"crypto/tls"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
)

// DefaultACMEDirectory is Let's Encrypt's production ACME directory, used
// when ACME_DOMAINS is set and ACME_DIRECTORY_URL is not.
const DefaultACMEDirectory = "https://acme-v02.api.letsencrypt.org/directory"

// TLSConfig holds native TLS, ACME and the HTTPS guard settings.
type TLSConfig struct {
	// CertFile and KeyFile are PEM files served natively; they are
	// re-read when they change (ReloadInterval), so renewals need no restart.
	CertFile string
	KeyFile  string
	// ReloadInterval is how often the certificate files are checked.
	ReloadInterval time.Duration
	// RedirectAddr, when set, is a plain-HTTP listener that answers every
	// request with a 308 to https (and ACME http-01 challenges).
	RedirectAddr string

	// ACMEDomains, when set, turns on automatic certificates.
	ACMEDomains      []string
	ACMEEmail        string
	ACMEDirectoryURL string
	ACMECacheDir     string
	// ACMECAFile is an extra PEM bundle trusted for the ACME directory's own
	// HTTPS (a private ACME server such as step-ca or Pebble).
	ACMECAFile string

	// RequireHTTPS refuses plain-HTTP requests unless a trusted proxy says
	// with X-Forwarded-Proto that the client used https. Default: on in
	// production.
	RequireHTTPS bool
}

// Native reports whether rtgate terminates TLS itself (files or ACME).
func (t TLSConfig) Native() bool { return t.CertFile != "" || len(t.ACMEDomains) > 0 }

// ACME reports whether certificates come from ACME.
func (t TLSConfig) ACME() bool { return len(t.ACMEDomains) > 0 }

func (p *parser) loadTLS(c *Config) {
	prod := c.Mode == Production
	t := &c.TLS
	t.CertFile = p.str("TLS_CERT_FILE", "")
	t.KeyFile = p.str("TLS_KEY_FILE", "")
	t.ReloadInterval = p.millis("TLS_RELOAD_INTERVAL_MS", 10000, 100, 3600*1000)
	switch {
	case t.CertFile == "" && t.KeyFile != "":
		p.fail("TLS_CERT_FILE", "is required when TLS_KEY_FILE is set")
	case t.CertFile != "" && t.KeyFile == "":
		p.fail("TLS_KEY_FILE", "is required when TLS_CERT_FILE is set")
	case t.CertFile != "":
		// Load once now, exactly as serve will, so `config check` catches a
		// broken pair. The error never holds key material.
		if _, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile); err != nil {
			p.fail("TLS_CERT_FILE", "and TLS_KEY_FILE do not load as a certificate and its key: %v", err)
		}
	}

	for _, d := range splitList(p.getenv("ACME_DOMAINS")) {
		d = strings.ToLower(d)
		if !validACMEDomain(d) {
			p.fail("ACME_DOMAINS", "has an invalid entry %q (want a DNS name with at least one dot, no wildcard, no IP)", d)
			continue
		}
		if !contains(t.ACMEDomains, d) {
			t.ACMEDomains = append(t.ACMEDomains, d)
		}
	}
	t.ACMEEmail = p.str("ACME_EMAIL", "")
	if t.ACMEEmail != "" && (strings.ContainsAny(t.ACMEEmail, " \t\r\n,<>") || !strings.Contains(t.ACMEEmail, "@")) {
		p.fail("ACME_EMAIL", "must be an e-mail address, got %q", t.ACMEEmail)
	}
	t.ACMEDirectoryURL = p.str("ACME_DIRECTORY_URL", DefaultACMEDirectory)
	if u, err := url.Parse(t.ACMEDirectoryURL); err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil {
		p.fail("ACME_DIRECTORY_URL", "must be an https URL without credentials, got %q", t.ACMEDirectoryURL)
	}
	t.ACMECacheDir = p.str("ACME_CACHE_DIR", "")
	t.ACMECAFile = p.str("ACME_CA_FILE", "")
	if t.ACMECAFile != "" {
		if _, err := os.Stat(t.ACMECAFile); err != nil {
			p.fail("ACME_CA_FILE", "cannot be read: %v", err)
		}
	}
	if t.ACME() {
		if t.CertFile != "" {
			p.fail("ACME_DOMAINS", "and TLS_CERT_FILE are exclusive: choose certificate files or ACME")
		}
		if t.ACMECacheDir == "" {
			p.fail("ACME_CACHE_DIR", "is required with ACME_DOMAINS (certificates must survive restarts, or the CA's rate limits bite)")
		} else if st, err := os.Stat(t.ACMECacheDir); err == nil && !st.IsDir() {
			p.fail("ACME_CACHE_DIR", "is not a directory")
		}
	} else {
		for _, name := range []string{"ACME_EMAIL", "ACME_CACHE_DIR", "ACME_CA_FILE"} {
			if strings.TrimSpace(p.getenv(name)) != "" {
				p.fail(name, "is set but ACME_DOMAINS is empty")
			}
		}
		if strings.TrimSpace(p.getenv("ACME_DIRECTORY_URL")) != "" {
			p.fail("ACME_DIRECTORY_URL", "is set but ACME_DOMAINS is empty")
		}
	}

	if raw := strings.TrimSpace(p.getenv("HTTP_REDIRECT_ADDR")); raw != "" && raw != "off" {
		t.RedirectAddr = p.addr("HTTP_REDIRECT_ADDR", "", false)
		if !t.Native() {
			p.fail("HTTP_REDIRECT_ADDR", "needs native TLS (TLS_CERT_FILE or ACME_DOMAINS): there is no https to redirect to")
		}
		if t.RedirectAddr != "" && t.RedirectAddr == c.Addr() && c.Port != 0 {
			p.fail("HTTP_REDIRECT_ADDR", "must differ from HOST:PORT")
		}
	}

	t.RequireHTTPS = p.boolean("REQUIRE_HTTPS", prod)
	if prod && !t.RequireHTTPS {
		p.warn("REQUIRE_HTTPS=false in production: tokens may be handed out over plain HTTP")
	}
}

// validACMEDomain accepts what a public CA can issue for and autocert can
// serve: a lower-case DNS name with at least two labels.
func validACMEDomain(d string) bool {
	if len(d) > 253 || !strings.Contains(d, ".") || net.ParseIP(d) != nil {
		return false
	}
	for _, label := range strings.Split(d, ".") {
		if len(label) == 0 || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}

func (c *Config) maskedTLS() [][2]string {
	t := c.TLS
	return [][2]string{
		{"TLS_CERT_FILE", t.CertFile},
		{"TLS_KEY_FILE", t.KeyFile},
		{"TLS_RELOAD_INTERVAL_MS", ms(t.ReloadInterval)},
		{"HTTP_REDIRECT_ADDR", t.RedirectAddr},
		{"ACME_DOMAINS", strings.Join(t.ACMEDomains, ",")},
		{"ACME_EMAIL", t.ACMEEmail},
		{"ACME_DIRECTORY_URL", acmeDir(t)},
		{"ACME_CACHE_DIR", t.ACMECacheDir},
		{"ACME_CA_FILE", t.ACMECAFile},
		{"REQUIRE_HTTPS", strconv.FormatBool(t.RequireHTTPS)},
	}
}

func acmeDir(t TLSConfig) string {
	if !t.ACME() {
		return ""
	}
	return t.ACMEDirectoryURL
}
