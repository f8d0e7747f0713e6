package users

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestKeyedHashIsHMAC: the pooled hashers give what hmac.New gives, for
// the safety identifier and the records' client address hash, also when
// used concurrently and after long inputs.
func TestKeyedHashIsHMAC(t *testing.T) {
	m, err := NewManager(Options{Store: NewMemory(), Retention: time.Hour, SafetyKey: []byte("safety-key"), IPHashKey: []byte("ip-key")})
	if err != nil {
		t.Fatal(err)
	}
	want := func(key, in []byte) string {
		mac := hmac.New(sha256.New, key)
		mac.Write(in)
		return hex.EncodeToString(mac.Sum(nil)[:16])
	}
	users := []string{"", "u", "auth0|65f1c0", strings.Repeat("x", 2000), "zé"}
	addrs := []string{"203.0.113.7", "::ffff:203.0.113.7", "2001:db8::1", "fe80::1%eth0"}
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 50 {
				for _, u := range users {
					if got := m.safety.hex16(u); got != SafetyID([]byte("safety-key"), u) {
						t.Errorf("safety id of %q: %s", u, got)
					}
				}
				for _, a := range addrs {
					ip := netip.MustParseAddr(a).Unmap().WithZone("")
					_, got := m.clientIP(netip.MustParseAddr(a))
					if w := want([]byte("ip-key"), ip.AsSlice()); got != w {
						t.Errorf("address hash of %s: %s, want %s", a, got, w)
					}
				}
			}
		})
	}
	wg.Wait()
}
