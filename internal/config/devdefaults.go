package config

import (
	"net"
	"strconv"
	"strings"
)

// Log formats (LOG_FORMAT).
const (
	LogJSON = "json"
	LogText = "text"
	// LogAuto is development's default: text when stderr is a terminal (a
	// person reading), JSON otherwise (a pipe, a file, a log collector).
	LogAuto = "auto"
)

// loadDevDefaults reads LOG_FORMAT and, when ALLOWED_ORIGINS is unset in
// development, derives the allowed origins from where the demo page is
// served (HOST, PORT, native TLS), so PORT=3001 next to `next dev` works.
func (p *parser) loadDevDefaults(c *Config) {
	def := LogAuto
	if c.Mode == Production {
		def = LogJSON
	}
	c.LogFormat = p.enum("LOG_FORMAT", def, LogJSON, LogText, LogAuto)
	if c.Mode != Production && strings.TrimSpace(p.getenv("ALLOWED_ORIGINS")) == "" {
		c.DevOrigins = true
		c.AllowedOrigins = DevOrigins(c.Host, c.Port, c.TLS.Native())
	}
}

// DevOrigins is development's default ALLOWED_ORIGINS for a public listener
// on host:port: the page's origin as a browser on this machine writes it
// (localhost, 127.0.0.1, [::1]), plus host itself when it is a specific
// address; https when rtgate serves TLS itself. PORT=0 is resolved by the
// caller once the port is known.
func DevOrigins(host string, port int, https bool) []string {
	scheme := "http"
	if https {
		scheme = "https"
	}
	hosts := []string{"localhost", "127.0.0.1", "[::1]"}
	if ip := net.ParseIP(host); ip != nil && !ip.IsUnspecified() && !ip.IsLoopback() {
		if ip.To4() == nil {
			host = "[" + host + "]"
		}
		hosts = append(hosts, host)
	}
	var out []string
	for _, h := range hosts {
		if o, err := NormalizeOrigin(scheme + "://" + h + ":" + strconv.Itoa(port)); err == nil && !contains(out, o) {
			out = append(out, o)
		}
	}
	return out
}

func (c *Config) maskedDevDefaults() [][2]string {
	return [][2]string{{"LOG_FORMAT", c.LogFormat}}
}
