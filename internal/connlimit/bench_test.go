package connlimit

import (
	"io"
	"net"
	"net/http"
	"net/netip"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// The accept-path cost: what a Limiter adds to each accepted connection.
// Figures are in docs/abuse.md (go test -run '^$' -bench . ./internal/connlimit/).

func BenchmarkAcquireRelease(b *testing.B) {
	trusted := netip.MustParsePrefix("10.0.0.0/8")
	cases := []struct {
		name string
		o    Options
		peer netip.Addr
	}{
		{"ipv4", Options{PerAddr: 64, Total: 1 << 20, Exempt: trusted.Contains}, netip.MustParseAddr("192.0.2.1")},
		{"ipv6", Options{PerAddr: 64, Total: 1 << 20, Exempt: trusted.Contains}, netip.MustParseAddr("2001:db8:1:2::1")},
		{"trusted-proxy", Options{PerAddr: 64, Total: 1 << 20, Exempt: trusted.Contains}, netip.MustParseAddr("10.0.0.1")},
		{"total-only", Options{Total: 1 << 20}, netip.MustParseAddr("192.0.2.1")},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			l, err := New(tc.o)
			if err != nil {
				b.Fatal(err)
			}
			// Other clients hold connections, so the map is not trivially empty.
			for i := range 1000 {
				l.acquire(netip.AddrFrom4([4]byte{198, 51, byte(i >> 8), byte(i)}))
			}
			b.ReportAllocs()
			ln := &listener{l: l}
			for b.Loop() {
				key, perAddr, _, _ := l.acquire(tc.peer)
				l.release(&conn{ln: ln, key: key, perAddr: perAddr})
			}
		})
	}
}

func BenchmarkAcquireReleaseParallel(b *testing.B) {
	l, err := New(Options{PerAddr: 1 << 20, Total: 1 << 30})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		peer := netip.MustParseAddr("192.0.2.1")
		ln := &listener{l: l}
		for pb.Next() {
			key, perAddr, _, _ := l.acquire(peer)
			l.release(&conn{ln: ln, key: key, perAddr: perAddr})
		}
	})
}

// BenchmarkAccept is the whole wrapper — Accept, peer parsing, metrics,
// the conn wrapper, Close — against a listener that costs nothing, next to
// the same listener unwrapped.
func BenchmarkAccept(b *testing.B) {
	m, err := NewMetrics(prometheus.NewRegistry())
	if err != nil {
		b.Fatal(err)
	}
	l, err := New(Options{PerAddr: 64, Total: 1 << 20, Metrics: m})
	if err != nil {
		b.Fatal(err)
	}
	peer := &net.TCPAddr{IP: net.ParseIP("192.0.2.1"), Port: 40000}
	for _, wrapped := range []bool{false, true} {
		name := "bare"
		if wrapped {
			name = "limited"
		}
		b.Run(name, func(b *testing.B) {
			var ln net.Listener = &loopListener{c: &fakeConn{remote: peer}}
			if wrapped {
				ln = l.Listener(ln, "public")
			}
			b.ReportAllocs()
			for b.Loop() {
				c, err := ln.Accept()
				if err != nil {
					b.Fatal(err)
				}
				_ = c.Close()
			}
		})
	}
}

// loopListener returns the same connection forever.
type loopListener struct{ c net.Conn }

func (l *loopListener) Accept() (net.Conn, error) { return l.c, nil }
func (l *loopListener) Close() error              { return nil }
func (l *loopListener) Addr() net.Addr            { return l.c.RemoteAddr() }

// BenchmarkLoopbackConnect is a real TCP connect, accept and close over
// loopback, bare and limited: the check against what a connection costs
// anyway. Each round waits for the server's close, so one connection is
// open at a time and none is refused.
func BenchmarkLoopbackConnect(b *testing.B) {
	for _, wrapped := range []bool{false, true} {
		name := "bare"
		if wrapped {
			name = "limited"
		}
		b.Run(name, func(b *testing.B) {
			raw, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			defer raw.Close()
			ln := raw
			if wrapped {
				l, err := New(Options{PerAddr: 64, Total: 1 << 20})
				if err != nil {
					b.Fatal(err)
				}
				ln = l.Listener(raw, "public")
			}
			go func() {
				for {
					c, err := ln.Accept()
					if err != nil {
						return
					}
					_ = c.Close()
				}
			}()
			addr := raw.Addr().String()
			for b.Loop() {
				c, err := net.Dial("tcp", addr)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := c.Read(make([]byte, 1)); err != io.EOF {
					b.Fatalf("want the server's close, got %v", err)
				}
				_ = c.Close()
			}
		})
	}
}

// BenchmarkConnState is the hook net/http calls on every state change (an
// HTTP/1.1 keep-alive request costs two: active, then idle).
func BenchmarkConnState(b *testing.B) {
	l, err := New(Options{PerAddr: 64, Total: 1 << 20})
	if err != nil {
		b.Fatal(err)
	}
	c := &conn{Conn: &fakeConn{}, ln: &listener{l: l}}
	b.ReportAllocs()
	for b.Loop() {
		l.ConnState(c, http.StateActive)
		l.ConnState(c, http.StateIdle)
	}
}
