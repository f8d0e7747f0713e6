package ratelimit

import (
	"encoding/binary"
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

// addrKey is the memory store's key for one client address. It identifies
// exactly the clients IPKey does (two addresses get the same addrKey if and
// only if they get the same IPKey string, for the same prefix length), but it
// is a fixed-size value without pointers: building one allocates nothing,
// hashing it is one pass over 24 bytes, and a map of them holds nothing for
// the garbage collector to scan.
type addrKey struct {
	// hi and lo are the address in its 16-byte form (IPv4 as
	// ::ffff:a.b.c.d), masked to bits.
	hi, lo uint64
	// bits is the prefix length in that 16-byte form: 128 for an IPv4
	// address (a v4-mapped IPv6 address is always unmapped first, so no
	// IPv6 key can equal an IPv4 key) and v6Prefix for IPv6.
	bits uint64
}

// addrKeyOf is IPKey without the string. v6Prefix must be in 1..128 (New
// checks it); a is valid (AllowIP checks it).
func addrKeyOf(a netip.Addr, v6Prefix int) addrKey {
	a = a.Unmap() // a zone is ignored by As16
	b := a.As16()
	k := addrKey{hi: binary.BigEndian.Uint64(b[:8]), lo: binary.BigEndian.Uint64(b[8:]), bits: 128}
	if a.Is4() {
		return k
	}
	k.bits = uint64(v6Prefix)
	switch {
	case v6Prefix < 64:
		k.hi &= ^uint64(0) << (64 - v6Prefix)
		k.lo = 0
	case v6Prefix < 128:
		k.lo &= ^uint64(0) << (128 - v6Prefix)
	}
	return k
}
