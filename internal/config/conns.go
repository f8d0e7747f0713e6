package config

import (
	"strconv"
	"strings"
)

// Connection caps (MAX_CONNS_PER_IP, MAX_CONNS).
const (
	// DefaultMaxConnsPerIP is MAX_CONNS_PER_IP's default. A browser holds at
	// most six HTTP/1.1 connections or one HTTP/2 connection to a host, and
	// the per-IP rate limit admits 10 mints a minute: 64 leaves room for a
	// busy NAT while one address can no longer hold the process's
	// descriptors.
	DefaultMaxConnsPerIP = 64
	// AutoMaxConns as ConnsConfig.Max means "derive the total cap from the
	// descriptor limit at start-up" (MAX_CONNS unset or "auto").
	AutoMaxConns = -1
)

// ConnsConfig holds the connection caps applied at accept time on the public
// listeners (and the plain-HTTP redirect listener), before TLS or HTTP.
type ConnsConfig struct {
	// PerIP is the most live connections one client address may hold (IPv6
	// folded to RATE_LIMIT_IPV6_PREFIX); 0 disables the cap. The socket peer
	// is the address: peers in TRUSTED_PROXIES are exempt (behind a proxy,
	// the proxy caps its clients), and meet only the total cap.
	PerIP int
	// Max is the most live connections in total (at the cap a newcomer
	// takes the place of the connection idle longest); 0 disables the cap
	// and AutoMaxConns derives it from the descriptor limit at start-up.
	Max int
}

func (p *parser) loadConns(c *Config) {
	k := &c.Conns
	k.PerIP = p.integer("MAX_CONNS_PER_IP", DefaultMaxConnsPerIP, 0, 1_000_000)
	k.Max = AutoMaxConns
	if raw := p.str("MAX_CONNS", "auto"); !strings.EqualFold(raw, "auto") {
		k.Max = p.integer("MAX_CONNS", 0, 0, 100_000_000)
	}
	if k.Max > 0 && k.PerIP > k.Max {
		p.fail("MAX_CONNS_PER_IP", "(%d) must not exceed MAX_CONNS (%d)", k.PerIP, k.Max)
	}
}

func (c *Config) maskedConns() [][2]string {
	total := "auto"
	if c.Conns.Max != AutoMaxConns {
		total = strconv.Itoa(c.Conns.Max)
	}
	return [][2]string{
		{"MAX_CONNS_PER_IP", strconv.Itoa(c.Conns.PerIP)},
		{"MAX_CONNS", total},
	}
}
