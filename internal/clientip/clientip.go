// Package clientip finds the address of the client behind a request, trusting
// forwarding headers only from configured proxies (TRUSTED_PROXIES).
//
// # Rules
//
//   - The socket peer (Request.RemoteAddr) is the client unless it is in the
//     trusted set. Headers from an untrusted peer are ignored entirely, so a
//     client talking to rtgate directly cannot claim another address.
//   - Exactly one header is consulted, chosen by configuration
//     (CLIENT_IP_HEADER): X-Forwarded-For (the default) or X-Real-IP. The
//     other is never read, so there is no question of which one wins.
//   - X-Forwarded-For: all header lines are joined in order (RFC 9110 list
//     semantics) and walked from the right, the entries closest to us, which
//     our proxies appended. Trusted hops are skipped; the first untrusted
//     address is the client. Everything to its left was written by the
//     client or its proxies and is never believed, so forged left-most
//     entries gain nothing. If every hop is trusted, the left-most is used.
//   - X-Real-IP: a single address, believed only from a trusted peer.
//   - Entries are bare IPv4 or IPv6 addresses; "1.2.3.4:port" and
//     "[v6]:port" are also accepted (some proxies append ports) and the port
//     is dropped. IPv4-mapped IPv6 becomes IPv4. Empty list elements are
//     skipped as RFC 9110 requires. Anything else (names, "unknown", zones,
//     garbage) is malformed: the walk stops and the last good hop, i.e. the
//     nearest trusted proxy that relayed it, is used. At most MaxHops
//     entries are examined. A malformed header never panics and never
//     becomes a rate-limit key.
package clientip

import (
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"strings"
)

// Header names the resolver can be configured with.
const (
	HeaderXForwardedFor = "X-Forwarded-For"
	HeaderXRealIP       = "X-Real-IP"
)

// MaxHops bounds how many X-Forwarded-For entries are examined, so a huge
// header costs a bounded amount of work.
const MaxHops = 32

// ErrNoPeer is returned when the request's RemoteAddr is not an IP address.
var ErrNoPeer = errors.New("clientip: remote address is not an IP")

// Resolver resolves client addresses. The zero value trusts nothing and
// returns the socket peer. It is safe for concurrent use.
type Resolver struct {
	trusted []netip.Prefix
	realIP  bool
}

// NewResolver returns a Resolver trusting the given proxy prefixes and
// reading header ("X-Forwarded-For", the default when empty, or
// "X-Real-IP"; matched case-insensitively). It panics on any other header
// name: validate with ParseHeader at start-up.
func NewResolver(trusted []netip.Prefix, header string) *Resolver {
	h, err := ParseHeader(header)
	if err != nil {
		panic(err)
	}
	t := make([]netip.Prefix, 0, len(trusted))
	for _, p := range trusted {
		if p.IsValid() {
			t = append(t, unmapPrefix(p))
		}
	}
	return &Resolver{trusted: t, realIP: h == HeaderXRealIP}
}

// ParseHeader validates CLIENT_IP_HEADER and returns its canonical name;
// the empty string means X-Forwarded-For.
func ParseHeader(s string) (string, error) {
	switch {
	case s == "" || strings.EqualFold(s, HeaderXForwardedFor):
		return HeaderXForwardedFor, nil
	case strings.EqualFold(s, HeaderXRealIP):
		return HeaderXRealIP, nil
	}
	return "", fmt.Errorf("clientip: header %q is not X-Forwarded-For or X-Real-IP", s)
}

// Trusted reports whether a is a trusted proxy.
func (r *Resolver) Trusted(a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range r.trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// ClientIP returns the client address of req (unmapped, without zone). It
// fails only when RemoteAddr itself is not an address.
func (r *Resolver) ClientIP(req *http.Request) (netip.Addr, error) {
	peer, ok := parsePeer(req.RemoteAddr)
	if !ok {
		return netip.Addr{}, fmt.Errorf("%w: %q", ErrNoPeer, truncate(req.RemoteAddr))
	}
	if !r.Trusted(peer) {
		return peer, nil
	}
	if r.realIP {
		vals := req.Header.Values(HeaderXRealIP)
		if len(vals) != 1 {
			return peer, nil
		}
		if a, ok := parseHop(strings.TrimSpace(vals[0])); ok {
			return a, nil
		}
		return peer, nil
	}
	return r.walk(req.Header.Values(HeaderXForwardedFor), peer), nil
}

// walk scans the X-Forwarded-For lines right to left.
func (r *Resolver) walk(lines []string, peer netip.Addr) netip.Addr {
	last := peer
	hops := 0
	for i := len(lines) - 1; i >= 0; i-- {
		rest := lines[i]
		for rest != "" {
			var entry string
			if j := strings.LastIndexByte(rest, ','); j >= 0 {
				entry, rest = rest[j+1:], rest[:j]
			} else {
				entry, rest = rest, ""
			}
			entry = strings.TrimSpace(entry)
			if entry == "" {
				continue
			}
			if hops++; hops > MaxHops {
				return last
			}
			a, ok := parseHop(entry)
			if !ok {
				return last
			}
			if !r.Trusted(a) {
				return a
			}
			last = a
		}
	}
	return last
}

// parsePeer parses RemoteAddr ("host:port" as net/http sets it, or a bare
// address); a zone is dropped, since the socket peer is genuine.
func parsePeer(s string) (netip.Addr, bool) {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap().WithZone(""), true
	}
	if a, err := netip.ParseAddr(s); err == nil {
		return a.Unmap().WithZone(""), true
	}
	return netip.Addr{}, false
}

// parseHop parses "addr", "v4:port" or "[v6]:port" into an unmapped address
// without zone; zoned addresses are refused.
func parseHop(s string) (netip.Addr, bool) {
	if len(s) > 64 { // longest valid form is well under this
		return netip.Addr{}, false
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		ap, err2 := netip.ParseAddrPort(s)
		if err2 != nil {
			return netip.Addr{}, false
		}
		a = ap.Addr()
	}
	if a.Zone() != "" {
		return netip.Addr{}, false
	}
	return a.Unmap(), true
}

func truncate(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}

func unmapPrefix(p netip.Prefix) netip.Prefix {
	if a := p.Addr(); a.Is4In6() && p.Bits() >= 96 {
		return netip.PrefixFrom(a.Unmap(), p.Bits()-96).Masked()
	}
	return p.Masked()
}

// ParsePrefixes parses a list of IP addresses and CIDR prefixes separated by
// commas and/or whitespace (TRUSTED_PROXIES, RATE_LIMIT_WHITELIST). A bare
// address becomes a single-host prefix; IPv4-mapped IPv6 entries become
// IPv4. The error names the first bad entry. An empty list is nil, nil.
func ParsePrefixes(list string) ([]netip.Prefix, error) {
	fields := strings.FieldsFunc(list, func(r rune) bool {
		return r == ',' || r == ' ' || r == '\t' || r == '\n' || r == '\r'
	})
	var out []netip.Prefix
	for _, f := range fields {
		var p netip.Prefix
		if strings.Contains(f, "/") {
			var err error
			p, err = netip.ParsePrefix(f)
			if err != nil {
				return nil, fmt.Errorf("invalid IP or CIDR %q: %w", f, err)
			}
		} else {
			a, err := netip.ParseAddr(f)
			if err != nil {
				return nil, fmt.Errorf("invalid IP or CIDR %q: %w", f, err)
			}
			if a.Zone() != "" {
				return nil, fmt.Errorf("invalid IP or CIDR %q: zones are not allowed", f)
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		out = append(out, unmapPrefix(p))
	}
	return out, nil
}
