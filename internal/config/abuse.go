package config

import (
	"net"
	"net/netip"
	"net/url"
	"slices"
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
	// Overrides are the variables PRODUCTION_OVERRIDES acknowledges: a
	// production setting that would otherwise refuse to start because it
	// switches a limit off (RATE_LIMIT_SHADOW, RATE_LIMIT_REDIS_FAILURE).
	Overrides []string
	// Unsafe lists, in production, the settings that weaken the limits
	// but were accepted (acknowledged, or only warned about): each is a
	// start-up warning and shows in the admin /readyz detail.
	Unsafe []string
}

// acknowledgeable are the variables PRODUCTION_OVERRIDES may name.
var acknowledgeable = []string{"RATE_LIMIT_SHADOW", "RATE_LIMIT_REDIS_FAILURE"}

func (p *parser) loadAbuse(c *Config) {
	a := &c.Abuse
	a.AllowGetMint = p.boolean("ALLOW_GET_MINT", true)
	a.RateLimitBurst = p.integer("RATE_LIMIT_BURST", c.RateLimitMax, 1, max(c.RateLimitMax, 1))
	if c.Mode == Production && c.RedisURL != "" && c.Auth.IPHashSecret == "" && c.AuthMode == AuthNone {
		// With authentication on, auth.go already requires it.
		p.fail("IP_HASH_SECRET", "(or RECORD_HASH_SECRET) is required in production with REDIS_URL: it keys the hashes that stand for client addresses and user ids in the rate-limit keys")
	}
	p.productionGuards(c)
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
		{"PRODUCTION_OVERRIDES", strings.Join(a.Overrides, ",")},
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

// Narrowest prefixes production accepts in TRUSTED_PROXIES and
// RATE_LIMIT_WHITELIST: an IPv4 /8 (10.0.0.0/8 is a real proxy network),
// an IPv6 /24 unless all of it is private (fc00::/7, fe80::/10). Real
// proxy and CDN ranges are far narrower (Cloudflare's widest: an IPv4 /13,
// an IPv6 /29).
const (
	minTrustedBitsV4 = 8
	minTrustedBitsV6 = 24
)

var privateV6 = []netip.Prefix{netip.MustParsePrefix("fc00::/7"), netip.MustParsePrefix("fe80::/10")}

// productionGuards refuses, in production, the settings that make the
// limits meaningless, and lists in Abuse.Unsafe (and warns about) those
// that weaken them but may be meant:
//
//   - TRUSTED_PROXIES, RATE_LIMIT_WHITELIST: a catch-all or very broad
//     range is refused, with no override: with 0.0.0.0/0 trusted any client
//     names its own address, with it whitelisted nobody is limited;
//   - RATE_LIMIT_SHADOW=true, RATE_LIMIT_REDIS_FAILURE=open (with
//     REDIS_URL): refused unless PRODUCTION_OVERRIDES names them (a short
//     roll-out may mean it); then warned;
//   - ADMIN_ADDR not on loopback, AUTH_FORWARD_URL plain http to another
//     host: warned (a scraper on the network, a sidecar in a cluster are
//     common and the risk is exposure, not limits switched off).
func (p *parser) productionGuards(c *Config) {
	a := &c.Abuse
	// unsafe records a setting accepted although it weakens protection: a
	// start-up warning and a line in the /readyz detail.
	unsafe := func(msg string) {
		p.warn(msg)
		a.Unsafe = append(a.Unsafe, msg)
	}
	for _, name := range splitList(p.getenv("PRODUCTION_OVERRIDES")) {
		if !slices.Contains(acknowledgeable, name) {
			p.fail("PRODUCTION_OVERRIDES", "names %q; only %s can be acknowledged (catch-all ranges never can)", name, strings.Join(acknowledgeable, ", "))
			continue
		}
		a.Overrides = append(a.Overrides, name)
	}
	if c.Mode != Production {
		return
	}
	p.broadRanges("TRUSTED_PROXIES", c.TrustedProxies, "any client could name its own address in X-Forwarded-For and dodge every per-IP limit")
	p.broadRanges("RATE_LIMIT_WHITELIST", c.RateLimitWhitelist, "its clients are never limited")
	used := map[string]bool{}
	ack := func(name, what string) {
		used[name] = true
		if slices.Contains(a.Overrides, name) {
			unsafe(what + " (acknowledged in PRODUCTION_OVERRIDES)")
			return
		}
		p.fail(name, "in production: %s; if that is what you want (a short roll-out), add %s to PRODUCTION_OVERRIDES", what, name)
	}
	if c.RateLimitShadow {
		ack("RATE_LIMIT_SHADOW", "RATE_LIMIT_SHADOW=true admits every request over the per-IP and per-user rate limits")
	}
	if c.RateLimitRedisFailure == "open" && c.RedisURL != "" {
		ack("RATE_LIMIT_REDIS_FAILURE", "RATE_LIMIT_REDIS_FAILURE=open admits every request unlimited while Redis is unreachable")
	}
	for _, name := range a.Overrides {
		if !used[name] {
			p.warn("PRODUCTION_OVERRIDES names " + name + ", which is not set to a value that needs it: remove it")
		}
	}
	if c.AdminAddr != "" && !loopbackHost(hostOf(c.AdminAddr)) {
		unsafe("ADMIN_ADDR=" + c.AdminAddr + " is not on loopback: /metrics and the readiness detail are reachable from the network (the operator API still needs ADMIN_TOKEN); bind it to 127.0.0.1 or firewall it")
	}
	if c.AuthMode == AuthForward {
		if u, err := url.Parse(c.Auth.ForwardURL); err == nil && u.Scheme == "http" && !loopbackHost(u.Hostname()) {
			unsafe("AUTH_FORWARD_URL is plain http to " + u.Hostname() + ": users' cookies and tokens cross the network unencrypted; use https or a loopback address")
		}
	}
}

// broadRanges refuses catch-all and very broad prefixes in the list name.
func (p *parser) broadRanges(name string, prefixes []netip.Prefix, consequence string) {
	for _, pr := range prefixes {
		addr, bits := pr.Addr(), pr.Bits()
		if addr.Is4In6() && bits >= 96 { // ::ffff:0:0/96 is all of IPv4
			addr, bits = addr.Unmap(), bits-96
		}
		switch {
		case bits == 0:
			p.fail(name, "has %v, which matches every address: %s", pr, consequence)
		case addr.Is4() && bits < minTrustedBitsV4:
			p.fail(name, "has %v, broader than an IPv4 /%d: %s for a large part of the Internet; list your proxies' own ranges", pr, minTrustedBitsV4, consequence)
		case addr.Is6() && bits < minTrustedBitsV6 && !privateOnly(netip.PrefixFrom(addr, bits)):
			p.fail(name, "has %v, broader than a public IPv6 /%d: %s for a large part of the Internet; list your proxies' own ranges", pr, minTrustedBitsV6, consequence)
		}
	}
}

func privateOnly(pr netip.Prefix) bool {
	for _, priv := range privateV6 {
		if priv.Bits() <= pr.Bits() && priv.Contains(pr.Addr()) {
			return true
		}
	}
	return false
}

func hostOf(addr string) string {
	h, _, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	return h
}

// loopbackHost reports whether h is localhost or a loopback address.
func loopbackHost(h string) bool {
	if strings.EqualFold(h, "localhost") {
		return true
	}
	a, err := netip.ParseAddr(strings.Trim(h, "[]"))
	return err == nil && a.Unmap().IsLoopback()
}
