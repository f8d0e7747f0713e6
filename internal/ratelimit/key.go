package ratelimit

import (
	"errors"
	"fmt"
	"net/netip"
)

// DefaultIPv6Prefix is the default prefix length IPv6 clients are folded to:
// one subscriber usually holds a whole /64.
const DefaultIPv6Prefix = 64

// ErrInvalidAddr is returned for an invalid (zero) address; such an address
// never becomes a key.
var ErrInvalidAddr = errors.New("ratelimit: invalid client address")

// Unmap returns the address a client is limited as: an IPv4-mapped IPv6
// address becomes the IPv4 address, and any IPv6 zone is dropped (a zone is
// local to the host and must not make one client into several).
func Unmap(a netip.Addr) netip.Addr {
	return a.Unmap().WithZone("")
}

// IPKey returns the store key for client address a: "ip:<IPv4>" for IPv4
// (IPv4-mapped IPv6 included) and "ip:<prefix>/<bits>" for IPv6 folded to
// its first v6Prefix bits (1..128; 128 keeps the full address). An invalid
// address or prefix length is an error, never a key.
func IPKey(a netip.Addr, v6Prefix int) (string, error) {
	if !a.IsValid() {
		return "", ErrInvalidAddr
	}
	a = Unmap(a)
	var buf [64]byte
	b := append(buf[:0], "ip:"...)
	if a.Is4() {
		return string(a.AppendTo(b)), nil
	}
	if v6Prefix < 1 || v6Prefix > 128 {
		return "", fmt.Errorf("ratelimit: IPv6 prefix length %d out of range 1..128", v6Prefix)
	}
	p, err := a.Prefix(v6Prefix)
	if err != nil {
		return "", fmt.Errorf("ratelimit: %w", err)
	}
	return string(p.AppendTo(b)), nil
}

// UserKey returns the store key for an authenticated user id.
func UserKey(userID string) (string, error) {
	if userID == "" {
		return "", errors.New("ratelimit: empty user id")
	}
	return "user:" + userID, nil
}
