package clientip_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"

	"github.com/rtgate/rtgate/internal/clientip"
)

func mustPrefixes(t testing.TB, s string) []netip.Prefix {
	t.Helper()
	p, err := clientip.ParsePrefixes(s)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestClientIP(t *testing.T) {
	const trusted = "10.0.0.0/8, 2001:db8:ffff::/48 127.0.0.1"
	tests := []struct {
		name    string
		header  string // resolver header; "" = XFF
		trusted string
		remote  string
		xff     []string
		xrealip []string
		want    string
	}{
		{"no proxies: the peer is the client", "", "", "203.0.113.9:5555", nil, nil, "203.0.113.9"},
		{"forged XFF from untrusted peer is ignored", "", trusted, "203.0.113.9:5555", []string{"1.1.1.1"}, nil, "203.0.113.9"},
		{"forged X-Real-IP from untrusted peer is ignored", "X-Real-IP", trusted, "203.0.113.9:5555", nil, []string{"1.1.1.1"}, "203.0.113.9"},
		{"trusted peer without XFF is the client", "", trusted, "10.0.0.1:5555", nil, nil, "10.0.0.1"},
		{"trusted peer: right-most untrusted hop is the client", "", trusted, "10.0.0.1:5555", []string{"198.51.100.7"}, nil, "198.51.100.7"},
		{"spoofed left-most entries are ignored", "", trusted, "10.0.0.1:5555", []string{"1.1.1.1, 2.2.2.2, 198.51.100.7"}, nil, "198.51.100.7"},
		{"trusted hops are skipped", "", trusted, "10.0.0.1:5555", []string{"1.1.1.1, 198.51.100.7, 10.9.9.9, 10.8.8.8"}, nil, "198.51.100.7"},
		{"several XFF lines are one list in order", "", trusted, "10.0.0.1:5555", []string{"1.1.1.1, 198.51.100.7", "10.9.9.9"}, nil, "198.51.100.7"},
		{"forged entry in a separate earlier line is ignored", "", trusted, "10.0.0.1:5555", []string{"6.6.6.6", "198.51.100.7"}, nil, "198.51.100.7"},
		{"all hops trusted: the left-most", "", trusted, "10.0.0.1:5555", []string{"10.1.1.1, 10.2.2.2"}, nil, "10.1.1.1"},
		{"spaces and empty elements are tolerated", "", trusted, "10.0.0.1:5555", []string{"  ,198.51.100.7 ,, 10.2.2.2 ,"}, nil, "198.51.100.7"},
		{"garbage stops the walk at the last good hop", "", trusted, "10.0.0.1:5555", []string{"198.51.100.7, garbage, 10.2.2.2"}, nil, "10.2.2.2"},
		{"garbage right next to the proxy: the proxy", "", trusted, "10.0.0.1:5555", []string{"198.51.100.7, unknown"}, nil, "10.0.0.1"},
		{"garbage left of the client is never read", "", trusted, "10.0.0.1:5555", []string{"<script>, 198.51.100.7"}, nil, "198.51.100.7"},
		{"an IPv6 zone in XFF is malformed", "", trusted, "10.0.0.1:5555", []string{"198.51.100.7, fe80::1%eth0"}, nil, "10.0.0.1"},
		{"IPv4-mapped IPv6 hop is IPv4", "", trusted, "10.0.0.1:5555", []string{"::ffff:198.51.100.7"}, nil, "198.51.100.7"},
		{"mapped trusted hop is still trusted", "", trusted, "10.0.0.1:5555", []string{"198.51.100.7, ::ffff:10.3.3.3"}, nil, "198.51.100.7"},
		{"v4 with port is accepted", "", trusted, "10.0.0.1:5555", []string{"198.51.100.7:4711"}, nil, "198.51.100.7"},
		{"bracketed v6 with port is accepted", "", trusted, "10.0.0.1:5555", []string{"[2001:db8:1::5]:4711"}, nil, "2001:db8:1::5"},
		{"bare bracketed v6 is malformed", "", trusted, "10.0.0.1:5555", []string{"[2001:db8:1::5]"}, nil, "10.0.0.1"},
		{"IPv6 client through IPv6 proxy", "", trusted, "[2001:db8:ffff::1]:443", []string{"2001:db8:1::5"}, nil, "2001:db8:1::5"},
		{"mapped IPv4 peer is trusted as IPv4", "", trusted, "[::ffff:10.0.0.1]:5555", []string{"198.51.100.7"}, nil, "198.51.100.7"},
		{"peer with zone is unzoned", "", "", "[fe80::1%eth0]:5555", nil, nil, "fe80::1"},
		{"X-Forwarded-For is not read in X-Real-IP mode", "X-Real-IP", trusted, "10.0.0.1:5555", []string{"1.1.1.1"}, []string{"198.51.100.7"}, "198.51.100.7"},
		{"X-Real-IP is not read in XFF mode", "", trusted, "10.0.0.1:5555", []string{"198.51.100.7"}, []string{"1.1.1.1"}, "198.51.100.7"},
		{"X-Real-IP missing: the proxy", "X-Real-IP", trusted, "10.0.0.1:5555", nil, nil, "10.0.0.1"},
		{"X-Real-IP garbage: the proxy", "X-Real-IP", trusted, "10.0.0.1:5555", nil, []string{"1.1.1.1, 2.2.2.2"}, "10.0.0.1"},
		{"X-Real-IP repeated: the proxy", "X-Real-IP", trusted, "10.0.0.1:5555", nil, []string{"1.1.1.1", "2.2.2.2"}, "10.0.0.1"},
		{"X-Real-IP with spaces", "X-Real-IP", trusted, "10.0.0.1:5555", nil, []string{" 198.51.100.7 "}, "198.51.100.7"},
		{"huge header: at most MaxHops trusted hops are walked", "", trusted, "10.0.0.1:5555",
			[]string{"198.51.100.7," + strings.Repeat("10.1.1.1,", 10000) + "10.2.2.2"}, nil, "10.1.1.1"},
		{"huge garbage entry", "", trusted, "10.0.0.1:5555", []string{strings.Repeat("9", 100000)}, nil, "10.0.0.1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := clientip.NewResolver(mustPrefixes(t, tt.trusted), tt.header)
			req := httptest.NewRequest(http.MethodGet, "/", nil)
			req.RemoteAddr = tt.remote
			for _, v := range tt.xff {
				req.Header.Add("X-Forwarded-For", v)
			}
			for _, v := range tt.xrealip {
				req.Header.Add("X-Real-IP", v)
			}
			got, err := r.ClientIP(req)
			if err != nil {
				t.Fatal(err)
			}
			if want := netip.MustParseAddr(tt.want); got != want {
				t.Fatalf("ClientIP = %v; want %v", got, want)
			}
		})
	}
}

func TestClientIPBadRemoteAddrIsAnError(t *testing.T) {
	r := clientip.NewResolver(nil, "")
	for _, ra := range []string{"", "pipe", "example.com:80", "@"} {
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		req.RemoteAddr = ra
		if a, err := r.ClientIP(req); !errors.Is(err, clientip.ErrNoPeer) || a.IsValid() {
			t.Errorf("RemoteAddr %q: %v %v; want ErrNoPeer", ra, a, err)
		}
	}
}

func TestParsePrefixes(t *testing.T) {
	tests := []struct {
		in      string
		want    []string
		wantErr string
	}{
		{"", nil, ""},
		{"  ,, ", nil, ""},
		{"10.0.0.0/8", []string{"10.0.0.0/8"}, ""},
		{"10.1.2.3/8", []string{"10.0.0.0/8"}, ""},
		{"192.0.2.1, 2001:db8::/32\t127.0.0.1\n::1", []string{"192.0.2.1/32", "2001:db8::/32", "127.0.0.1/32", "::1/128"}, ""},
		{"::ffff:10.0.0.0/104", []string{"10.0.0.0/8"}, ""},
		{"::ffff:10.0.0.1", []string{"10.0.0.1/32"}, ""},
		{"10.0.0.0/8, 10.0.0.300", nil, `"10.0.0.300"`},
		{"10.0.0.0/33", nil, `"10.0.0.0/33"`},
		{"localhost", nil, `"localhost"`},
		{"fe80::1%eth0", nil, `"fe80::1%eth0"`},
		{"10.0.0.1:80", nil, `"10.0.0.1:80"`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := clientip.ParsePrefixes(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v; want one naming %s", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %v; want %v", got, tt.want)
			}
			for i := range got {
				if got[i].String() != tt.want[i] {
					t.Fatalf("got %v; want %v", got, tt.want)
				}
			}
		})
	}
}

func TestParseHeader(t *testing.T) {
	for in, want := range map[string]string{"": "X-Forwarded-For", "x-forwarded-for": "X-Forwarded-For", "X-REAL-IP": "X-Real-IP"} {
		if got, err := clientip.ParseHeader(in); err != nil || got != want {
			t.Errorf("ParseHeader(%q) = %q, %v", in, got, err)
		}
	}
	for _, bad := range []string{"Forwarded", "CF-Connecting-IP", "X-Forwarded-For,X-Real-IP"} {
		if _, err := clientip.ParseHeader(bad); err == nil {
			t.Errorf("ParseHeader(%q) accepted", bad)
		}
	}
}

func FuzzClientIP(f *testing.F) {
	f.Add("10.0.0.1:1", "1.2.3.4, 10.0.0.2", "5.6.7.8")
	f.Add("[::ffff:10.0.0.1]:1", "[2001:db8::1]:80,,garbage", "")
	f.Add("10.0.0.1:1", "fe80::1%lo, ::ffff:1.2.3.4", " ")
	f.Add("x", "", "")
	f.Add("::", "0", "0")
	f.Add("[fe80::1%eth0]:9", "1.2.3.4", "")
	trusted := mustPrefixes(f, "10.0.0.0/8, ::1")
	xff := clientip.NewResolver(trusted, "")
	real := clientip.NewResolver(trusted, "X-Real-IP")
	f.Fuzz(func(t *testing.T, remote, fwd, realIP string) {
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		req.RemoteAddr = remote
		req.Header["X-Forwarded-For"] = []string{fwd}
		req.Header["X-Real-Ip"] = []string{realIP}
		for _, r := range []*clientip.Resolver{xff, real} {
			a, err := r.ClientIP(req)
			if err != nil {
				if a.IsValid() {
					t.Fatalf("error with an address: %v", a)
				}
				continue
			}
			if !a.IsValid() || a.Zone() != "" || a.Is4In6() {
				t.Fatalf("ClientIP = %v: must be a valid, unzoned, unmapped address", a)
			}
			peer, perr := netip.ParseAddr(remote)
			if ap, err := netip.ParseAddrPort(remote); err == nil {
				peer, perr = ap.Addr(), nil
			}
			if perr != nil {
				t.Fatalf("unparseable peer %q resolved to %v", remote, a)
			}
			if peer = peer.Unmap().WithZone(""); !r.Trusted(peer) && a != peer {
				t.Fatalf("untrusted peer %q resolved to %v", remote, a)
			}
		}
	})
}

func FuzzParsePrefixes(f *testing.F) {
	for _, s := range []string{"10.0.0.0/8, ::1", "::ffff:10.0.0.0/104", "1.2.3.4/33", "fe80::1%eth0", " , ,", "2001:db8::/129"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ps, err := clientip.ParsePrefixes(s)
		if err != nil {
			if ps != nil {
				t.Fatalf("error with prefixes %v", ps)
			}
			return
		}
		for _, p := range ps {
			if !p.IsValid() || p != p.Masked() || p.Addr().Is4In6() || p.Addr().Zone() != "" {
				t.Fatalf("ParsePrefixes(%q) gave %v", s, p)
			}
		}
	})
}
