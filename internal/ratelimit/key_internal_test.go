package ratelimit

import (
	"context"
	"net/netip"
	"testing"
	"time"
)

// TestAddrKeyIdentifiesTheSameClientsAsIPKey: two addresses share an addrKey
// exactly when they share an IPKey string, so the Limiter's string-free path
// keeps the clients IPKey defines.
func TestAddrKeyIdentifiesTheSameClientsAsIPKey(t *testing.T) {
	addrs := []string{
		"192.0.2.7", "192.0.2.8", "::ffff:192.0.2.7", "0.0.0.0", "255.255.255.255",
		"::", "::1", "::2", "::ffff:0:0", "::ffff:0.0.0.1", "0.0.0.1", "::192.0.2.7", "64:ff9b::192.0.2.7",
		"2001:db8:1:2::1", "2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:3::1", "2001:db8::",
		"2001:db8:aaaa:bbbb:cccc:dddd:eeee:ffff", "2001:db8:aaaa:bbbb:cccc:dddd:eeee:fffe",
		"fe80::1%eth0", "fe80::1%eth1", "fe80::1", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
	}
	for _, prefix := range []int{1, 8, 32, 48, 63, 64, 65, 96, 120, 127, 128} {
		for _, x := range addrs {
			for _, y := range addrs {
				a, b := netip.MustParseAddr(x), netip.MustParseAddr(y)
				checkSameClient(t, a, b, prefix)
			}
		}
	}
}

func checkSameClient(t *testing.T, a, b netip.Addr, prefix int) {
	t.Helper()
	ka, err1 := IPKey(a, prefix)
	kb, err2 := IPKey(b, prefix)
	if err1 != nil || err2 != nil {
		t.Fatalf("IPKey(%v|%v, %d): %v %v", a, b, prefix, err1, err2)
	}
	if same := addrKeyOf(a, prefix) == addrKeyOf(b, prefix); same != (ka == kb) {
		t.Errorf("prefix %d: %v (%s) and %v (%s): addrKey same=%v, IPKey same=%v", prefix, a, ka, b, kb, same, ka == kb)
	}
}

func FuzzAddrKeyIdentifiesTheSameClientsAsIPKey(f *testing.F) {
	f.Add([]byte{192, 0, 2, 7}, []byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 0, 2, 7}, uint8(64))
	f.Add([]byte{0x20, 1, 0xd, 0xb8, 0, 1, 0, 2, 0, 0, 0, 0, 0, 0, 0, 1}, []byte{0x20, 1, 0xd, 0xb8, 0, 1, 0, 2, 0xff, 0, 0, 0, 0, 0, 0, 1}, uint8(64))
	f.Fuzz(func(t *testing.T, x, y []byte, prefix uint8) {
		a, ok1 := netip.AddrFromSlice(x)
		b, ok2 := netip.AddrFromSlice(y)
		if !ok1 || !ok2 || prefix < 1 || prefix > 128 {
			return
		}
		checkSameClient(t, a, b, int(prefix))
	})
}

// hidden hides a store's concrete type, so a Limiter over it takes the
// string-keyed path every non-memory store takes.
type hidden struct{ Store }

// TestAddrPathDecidesLikeTheStringPath drives two limiters with the same
// clock and the same sequence of clients: one over a Memory (string-free
// path), one over the same kind of store seen only as a Store (IPKey
// strings). Every decision must be the same, at the key bound too.
func TestAddrPathDecidesLikeTheStringPath(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	clock := func() time.Time { return now }
	opts := MemoryOptions{Now: clock, MaxKeys: 8, Shards: 1}
	policy := Policy{Limit: 3, Window: 3 * time.Second}
	fast, err := New(Options{IP: policy, IPv6Prefix: 64, Store: NewMemory(opts)})
	if err != nil {
		t.Fatal(err)
	}
	slow, err := New(Options{IP: policy, IPv6Prefix: 64, Store: hidden{NewMemory(opts)}})
	if err != nil {
		t.Fatal(err)
	}
	if fast.mem == nil || slow.mem != nil {
		t.Fatal("the limiters do not take the two paths")
	}
	ctx := context.Background()
	clients := []string{"192.0.2.1", "::ffff:192.0.2.1", "2001:db8::1", "2001:db8::2", "2001:db8:0:1::1", "198.51.100.7", "fe80::1%eth0"}
	for step := range 400 {
		ip := netip.MustParseAddr(clients[(step*7+step/5)%len(clients)])
		if step%3 == 0 {
			// A burst of new clients, so the key bound is reached and freed.
			ip = netip.AddrFrom4([4]byte{10, 0, byte(step >> 8), byte(step)})
		}
		df, errF := fast.AllowIP(ctx, ip)
		ds, errS := slow.AllowIP(ctx, ip)
		if df != ds || (errF == nil) != (errS == nil) {
			t.Fatalf("step %d, %v: string-free path %+v %v; string path %+v %v", step, ip, df, errF, ds, errS)
		}
		now = now.Add(time.Duration(step%4) * 250 * time.Millisecond)
	}
	if f, s := fast.mem.Len(), slow.store.(hidden).Store.(*Memory).Len(); f != s {
		t.Fatalf("tracked keys: %d vs %d", f, s)
	}
}
