package connlimit

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// op is one step of a scenario: open a connection from addr (expecting
// refusal reason want, "" for admitted, and the i-th admitted connection
// reclaimed when reclaims is i+1), close the i-th admitted one, or report
// a server state for it.
type op struct {
	open     string
	want     string
	reclaims int
	close    int
	state    http.ConnState
	hasState bool
}

func opn(addr, want string) op { return op{open: addr, want: want} }
func cls(i int) op             { return op{close: i} }

// reclaim opens a connection from addr that must be admitted by resetting
// the i-th admitted one.
func reclaim(addr string, i int) op { return op{open: addr, reclaims: i + 1} }

// state reports the i-th admitted connection's server state.
func state(i int, s http.ConnState) op { return op{close: i, state: s, hasState: true} }

func TestCaps(t *testing.T) {
	trusted := netip.MustParsePrefix("10.0.0.0/8")
	cases := []struct {
		name string
		o    Options
		ops  []op
	}{
		{"the per-address cap refuses one over it", Options{PerAddr: 2}, []op{
			opn("192.0.2.1", ""), opn("192.0.2.1", ""), opn("192.0.2.1", ReasonPerAddress),
		}},
		{"another address is not affected by a full one", Options{PerAddr: 1}, []op{
			opn("192.0.2.1", ""), opn("192.0.2.1", ReasonPerAddress), opn("192.0.2.2", ""), opn("192.0.2.3", ""),
		}},
		{"closing a connection frees its place", Options{PerAddr: 1}, []op{
			opn("192.0.2.1", ""), opn("192.0.2.1", ReasonPerAddress), cls(0), opn("192.0.2.1", ""),
		}},
		{"closing twice frees one place", Options{PerAddr: 2}, []op{
			opn("192.0.2.1", ""), opn("192.0.2.1", ""), cls(0), cls(0), opn("192.0.2.1", ""), opn("192.0.2.1", ReasonPerAddress),
		}},
		{"IPv6 addresses in one /64 share a cap", Options{PerAddr: 2}, []op{
			opn("2001:db8:1:2::1", ""), opn("2001:db8:1:2:ffff:ffff:ffff:ffff", ""), opn("2001:db8:1:2:abcd::9", ReasonPerAddress),
		}},
		{"IPv6 addresses in different /64s do not", Options{PerAddr: 1}, []op{
			opn("2001:db8:1:2::1", ""), opn("2001:db8:1:3::1", ""), opn("2001:db8:1:2::2", ReasonPerAddress),
		}},
		{"an IPv6 zone does not make a new client", Options{PerAddr: 1}, []op{
			opn("[fe80::1%eth0]", ""), opn("[fe80::1%eth1]", ReasonPerAddress),
		}},
		{"IPv4-mapped IPv6 is the IPv4 address", Options{PerAddr: 1}, []op{
			opn("192.0.2.1", ""), opn("::ffff:192.0.2.1", ReasonPerAddress),
		}},
		{"a /48 setting folds wider", Options{PerAddr: 1, IPv6Prefix: 48}, []op{
			opn("2001:db8:1:2::1", ""), opn("2001:db8:1:ffff::1", ReasonPerAddress), opn("2001:db8:2::1", ""),
		}},
		{"a /128 setting keeps every address apart", Options{PerAddr: 1, IPv6Prefix: 128}, []op{
			opn("2001:db8::1", ""), opn("2001:db8::2", ""), opn("2001:db8::1", ReasonPerAddress),
		}},
		{"IPv4 addresses are never folded", Options{PerAddr: 1, IPv6Prefix: 32}, []op{
			opn("192.0.2.1", ""), opn("192.0.2.2", ""),
		}},
		{"a trusted proxy is exempt from the per-address cap", Options{PerAddr: 1, Exempt: trusted.Contains}, []op{
			opn("10.1.2.3", ""), opn("10.1.2.3", ""), opn("10.1.2.3", ""), opn("192.0.2.1", ""), opn("192.0.2.1", ReasonPerAddress),
		}},
		{"the total cap refuses everyone, trusted proxies too", Options{PerAddr: 5, Total: 3, Exempt: trusted.Contains}, []op{
			opn("192.0.2.1", ""), opn("192.0.2.2", ""), opn("10.0.0.1", ""), opn("10.0.0.1", ReasonTotal), opn("192.0.2.9", ReasonTotal),
			cls(2), opn("192.0.2.9", ""),
		}},
		{"a full address is named before a full total", Options{PerAddr: 1, Total: 1}, []op{
			opn("192.0.2.1", ""), opn("192.0.2.1", ReasonPerAddress), opn("192.0.2.2", ReasonTotal),
		}},
		{"a peer that is not an IP address meets only the total cap", Options{PerAddr: 1, Total: 2}, []op{
			opn("@", ""), opn("@", ""), opn("@", ReasonTotal),
		}},
		{"at the total cap the connection idle longest is reclaimed", Options{PerAddr: 5, Total: 2}, []op{
			opn("192.0.2.1", ""), opn("192.0.2.2", ""), state(1, http.StateIdle), state(0, http.StateIdle),
			reclaim("192.0.2.3", 1), reclaim("192.0.2.4", 0), opn("192.0.2.5", ReasonTotal),
		}},
		{"a connection that has not sent a request yet is reclaimable", Options{Total: 1}, []op{
			opn("192.0.2.1", ""), state(0, http.StateNew), reclaim("192.0.2.2", 0),
		}},
		{"a connection serving a request is never reclaimed", Options{Total: 1}, []op{
			opn("192.0.2.1", ""), state(0, http.StateNew), state(0, http.StateActive), opn("192.0.2.2", ReasonTotal),
			state(0, http.StateIdle), reclaim("192.0.2.2", 0),
		}},
		{"a hijacked connection is never reclaimed", Options{Total: 1}, []op{
			opn("192.0.2.1", ""), state(0, http.StateIdle), state(0, http.StateHijacked), opn("192.0.2.2", ReasonTotal),
		}},
		{"a state reported after close does not make a closed connection reclaimable", Options{Total: 1}, []op{
			opn("192.0.2.1", ""), state(0, http.StateIdle), cls(0), state(0, http.StateIdle),
			opn("192.0.2.2", ""), opn("192.0.2.3", ReasonTotal),
		}},
		{"reclaiming never lifts the per-address cap", Options{PerAddr: 1, Total: 5}, []op{
			opn("192.0.2.1", ""), state(0, http.StateIdle), opn("192.0.2.1", ReasonPerAddress),
		}},
		{"without a total cap nothing is reclaimed", Options{PerAddr: 1}, []op{
			opn("192.0.2.1", ""), state(0, http.StateIdle), opn("192.0.2.1", ReasonPerAddress), opn("192.0.2.2", ""),
		}},
		{"zero caps admit everything", Options{}, []op{
			opn("192.0.2.1", ""), opn("192.0.2.1", ""), opn("192.0.2.1", ""), opn("@", ""),
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			l, err := New(tc.o)
			if err != nil {
				t.Fatal(err)
			}
			fl := newFakeListener()
			ln := l.Listener(fl, "public")
			var admitted []net.Conn
			for i, step := range tc.ops {
				switch {
				case step.hasState:
					l.ConnState(admitted[step.close], step.state)
					continue
				case step.open == "":
					_ = admitted[step.close].Close()
					continue
				}
				open := make([]bool, len(admitted))
				for j, a := range admitted {
					open[j] = !a.(*conn).Conn.(*fakeConn).closed.Load()
				}
				c := fl.push(step.open)
				got := accept(t, ln, fl)
				switch {
				case step.want == "" && got == nil:
					t.Fatalf("step %d: %s refused, want admitted", i, step.open)
				case step.want != "" && got != nil:
					t.Fatalf("step %d: %s admitted, want refused (%s)", i, step.open, step.want)
				case step.want != "" && !c.closed.Load():
					t.Fatalf("step %d: refused connection left open", i)
				}
				for j, a := range admitted {
					if closed := a.(*conn).Conn.(*fakeConn).closed.Load(); open[j] && closed != (step.reclaims == j+1) {
						t.Fatalf("step %d: connection %d closed=%v, want reclaimed=%v", i, j, closed, step.reclaims == j+1)
					}
				}
				if got != nil {
					admitted = append(admitted, got)
				}
			}
			for _, c := range admitted {
				_ = c.Close()
			}
			if n, keys, idle := l.Open(), len(l.byAddr), l.idle.Len(); n != 0 || keys != 0 || idle != 0 {
				t.Fatalf("after closing everything: %d open, %d per-address entries, %d reclaimable", n, keys, idle)
			}
		})
	}
}

// TestConnStateSeesThroughTLS: net/http reports a TLS connection's states
// with the *tls.Conn that wraps the admitted one.
func TestConnStateSeesThroughTLS(t *testing.T) {
	l, err := New(Options{Total: 1})
	if err != nil {
		t.Fatal(err)
	}
	fl := newFakeListener()
	ln := l.Listener(fl, "public")
	fl.push("192.0.2.1")
	first := accept(t, ln, fl)
	l.ConnState(tls.Server(first, &tls.Config{}), http.StateIdle)
	fl.push("192.0.2.2")
	if accept(t, ln, fl) == nil {
		t.Fatal("the idle TLS connection was not reclaimed")
	}
	// A connection of another Limiter is none of this one's business.
	other, _ := New(Options{Total: 1})
	ofl := newFakeListener()
	oln := other.Listener(ofl, "admin")
	ofl.push("192.0.2.3")
	foreign := accept(t, oln, ofl)
	l.ConnState(foreign, http.StateIdle)
	if l.idle.Len() != 0 {
		t.Fatal("a foreign connection became reclaimable")
	}
}

// accept calls ln.Accept for the connection just pushed: it returns it if
// admitted, or nil if the listener refused it (then Accept moved on to the
// end-of-queue marker).
func accept(t *testing.T, ln net.Listener, fl *fakeListener) net.Conn {
	t.Helper()
	fl.pushMarker()
	c, err := ln.Accept()
	if errors.Is(err, errMarker) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ln.Accept(); !errors.Is(err, errMarker) {
		t.Fatalf("marker: %v", err)
	}
	return c
}

var errMarker = errors.New("end of queue")

// fakeListener hands out queued fake connections; a nil entry makes Accept
// fail with errMarker.
type fakeListener struct{ q chan *fakeConn }

func newFakeListener() *fakeListener { return &fakeListener{q: make(chan *fakeConn, 1024)} }

func (f *fakeListener) push(addr string) *fakeConn {
	c := &fakeConn{remote: fakeAddr(addr)}
	f.q <- c
	return c
}

func (f *fakeListener) pushMarker() { f.q <- nil }

func (f *fakeListener) Accept() (net.Conn, error) {
	c, ok := <-f.q
	if !ok {
		return nil, net.ErrClosed
	}
	if c == nil {
		return nil, errMarker
	}
	return c, nil
}

func (f *fakeListener) Close() error   { return nil }
func (f *fakeListener) Addr() net.Addr { return fakeAddr("127.0.0.1") }

// fakeAddr is a peer address in text: an IP address with port 1 added, or
// anything else (not an IP, like a unix socket's "@").
type fakeAddr string

func (fakeAddr) Network() string { return "tcp" }
func (a fakeAddr) String() string {
	s := string(a)
	if strings.HasPrefix(s, "[") {
		return s + ":1"
	}
	if ip, err := netip.ParseAddr(s); err == nil {
		return netip.AddrPortFrom(ip, 1).String()
	}
	return s
}

type fakeConn struct {
	net.Conn // nil: only the methods below are used
	remote   net.Addr
	closed   atomic.Bool
}

func (c *fakeConn) RemoteAddr() net.Addr { return c.remote }
func (c *fakeConn) Close() error         { c.closed.Store(true); return nil }

func TestNewRefusesBadOptions(t *testing.T) {
	for _, o := range []Options{{PerAddr: -1}, {Total: -1}, {IPv6Prefix: 129}, {IPv6Prefix: -1}} {
		if _, err := New(o); err == nil {
			t.Errorf("%+v accepted", o)
		}
	}
}

func TestDefaultTotal(t *testing.T) {
	cases := map[uint64]int{0: 1, 1: 1, 4: 3, 1024: 768, 1100: 825, 1 << 20: 786432, ^uint64(0): 3 << 38}
	for nofile, want := range cases {
		if got := DefaultTotal(nofile); got != want {
			t.Errorf("DefaultTotal(%d) = %d, want %d", nofile, got, want)
		}
	}
}

// TestConcurrentOpenAndCloseKeepTheCountsExact opens and closes connections
// from a handful of addresses on many goroutines (run with -race): no
// address ever holds more than the cap, nothing exceeds the total, and when
// all are closed nothing is left counted.
func TestConcurrentOpenAndCloseKeepTheCountsExact(t *testing.T) {
	const perAddr, total, workers, rounds = 3, 10, 16, 400
	addrs := []string{"192.0.2.1", "192.0.2.2", "2001:db8::1", "2001:db8::2", "10.0.0.1"}
	trusted := netip.MustParsePrefix("10.0.0.0/8")
	l, err := New(Options{PerAddr: perAddr, Total: total, Exempt: trusted.Contains})
	if err != nil {
		t.Fatal(err)
	}
	// No total-cap reclaiming here (no ConnState calls): the test's own
	// counts must match what the Limiter holds.
	var held [5]atomic.Int32 // per address index, as seen by the test
	var all atomic.Int32
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 1))
			type admitted struct {
				c net.Conn
				i int
			}
			var mine []admitted
			for range rounds {
				if len(mine) > 0 && rng.IntN(2) == 0 {
					a := mine[len(mine)-1]
					mine = mine[:len(mine)-1]
					held[a.i].Add(-1)
					all.Add(-1)
					_ = a.c.Close()
					if rng.IntN(4) == 0 {
						_ = a.c.Close() // a second Close frees nothing more
					}
					continue
				}
				i := rng.IntN(len(addrs))
				peer := peerOf(fakeAddr(addrs[i]))
				key, perA, _, reason := l.acquire(peer)
				if reason != "" {
					continue
				}
				c := &conn{Conn: &fakeConn{}, ln: &listener{l: l}, key: key, perAddr: perA}
				// addrs 2 and 3 share a /64: judge them together.
				n := held[i].Add(1)
				if i == 2 || i == 3 {
					n = held[2].Load() + held[3].Load()
				}
				if i != 4 && n > perAddr {
					t.Errorf("%s holds %d connections, cap %d", addrs[i], n, perAddr)
				}
				if a := all.Add(1); a > total {
					t.Errorf("%d connections open, total cap %d", a, total)
				}
				mine = append(mine, admitted{c, i})
			}
			for _, a := range mine {
				held[a.i].Add(-1)
				all.Add(-1)
				_ = a.c.Close()
			}
		}()
	}
	wg.Wait()
	if n, keys := l.Open(), len(l.byAddr); n != 0 || keys != 0 {
		t.Fatalf("after closing everything: %d open, %d per-address entries", n, keys)
	}
}

// TestConcurrentReclaimingKeepsTheCountsExact: connections admitted at the
// total cap by reclaiming others, state changes and closes from many
// goroutines at once (run with -race): the count never exceeds the cap by
// more than the reclaims in flight, and nothing is left counted at the end.
func TestConcurrentReclaimingKeepsTheCountsExact(t *testing.T) {
	const total, workers, rounds = 8, 8, 500
	l, err := New(Options{PerAddr: 100, Total: total})
	if err != nil {
		t.Fatal(err)
	}
	ln := &listener{l: l}
	states := []http.ConnState{http.StateNew, http.StateActive, http.StateIdle, http.StateHijacked}
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 2))
			var mine []*conn
			for range rounds {
				switch r := rng.IntN(3); {
				case r == 0 && len(mine) > 0:
					i := rng.IntN(len(mine))
					_ = mine[i].Close()
					mine = append(mine[:i], mine[i+1:]...)
				case r == 1 && len(mine) > 0:
					l.ConnState(mine[rng.IntN(len(mine))], states[rng.IntN(len(states))])
				default:
					peer := netip.AddrFrom4([4]byte{192, 0, 2, byte(rng.IntN(4))})
					key, perA, victim, reason := l.acquire(peer)
					if reason != "" {
						continue
					}
					if victim != nil {
						_ = victim.Close() // its owner closes it again later: no second release
					}
					c := &conn{Conn: &fakeConn{}, ln: ln, key: key, perAddr: perA}
					l.ConnState(c, http.StateNew)
					mine = append(mine, c)
					if n := l.Open(); n > total+workers {
						t.Errorf("%d open, cap %d", n, total)
					}
				}
			}
			for _, c := range mine {
				_ = c.Close()
			}
		})
	}
	wg.Wait()
	if n, keys, idle := l.Open(), len(l.byAddr), l.idle.Len(); n != 0 || keys != 0 || idle != 0 {
		t.Fatalf("after closing everything: %d open, %d per-address entries, %d reclaimable", n, keys, idle)
	}
}

// TestRefusalsAreCountedAndLoggedBySample: every refusal is counted in the
// metrics; the log gets at most one line per interval, which says how many
// were refused since the last one.
func TestRefusalsAreCountedAndLoggedBySample(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	m, err := NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	l, err := New(Options{PerAddr: 1, Total: 2, Metrics: m, Logger: slog.New(slog.NewJSONHandler(&logs, nil)),
		LogEvery: 10 * time.Second, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	fl := newFakeListener()
	ln := l.Listener(fl, "public")
	fl.push("2001:db8:1:2::1")
	first := accept(t, ln, fl)
	for range 5 {
		fl.push("2001:db8:1:2::99") // same /64
		if accept(t, ln, fl) != nil {
			t.Fatal("admitted over the per-address cap")
		}
	}
	if got := strings.Count(logs.String(), "\n"); got != 1 {
		t.Fatalf("%d log lines for 5 refusals in one interval, want 1:\n%s", got, logs.String())
	}
	now = now.Add(10 * time.Second)
	fl.push("192.0.2.1")
	second := accept(t, ln, fl)
	fl.push("192.0.2.2")
	if accept(t, ln, fl) != nil {
		t.Fatal("admitted over the total cap")
	}
	lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("want a second line after the interval:\n%s", logs.String())
	}
	for i, want := range []string{
		`"listener":"public","reason":"per_address","client":"2001:db8:1:2::/64","cap":1,"events":1`,
		`"listener":"public","reason":"total","client":"192.0.2.2","cap":2,"events":5`,
	} {
		if !strings.Contains(lines[i], want) {
			t.Errorf("line %d: %s\nwant it to contain %s", i, lines[i], want)
		}
	}
	if got := testutil.ToFloat64(m.refused.WithLabelValues("public", ReasonPerAddress)); got != 5 {
		t.Errorf("per-address refusals counted %v, want 5", got)
	}
	if got := testutil.ToFloat64(m.refused.WithLabelValues("public", ReasonTotal)); got != 1 {
		t.Errorf("total refusals counted %v, want 1", got)
	}
	if got := testutil.ToFloat64(m.open.WithLabelValues("public")); got != 2 {
		t.Errorf("open gauge %v, want 2", got)
	}
	_ = first.Close()
	_ = second.Close()
	_ = second.Close()
	if got := testutil.ToFloat64(m.open.WithLabelValues("public")); got != 0 {
		t.Errorf("open gauge %v after closing, want 0", got)
	}
	if err := testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP rtgate_connections_refused_total Client connections reset at accept by listener and reason (per_address: MAX_CONNS_PER_IP; total: MAX_CONNS).
# TYPE rtgate_connections_refused_total counter
rtgate_connections_refused_total{listener="public",reason="per_address"} 5
rtgate_connections_refused_total{listener="public",reason="total"} 1
`), "rtgate_connections_refused_total"); err != nil {
		t.Error(err)
	}
}

// TestOverRealTCP runs an http.Server behind the limiter on loopback, with
// clients bound to 127.0.0.2 and 127.0.0.3: the address over its cap is
// reset before HTTP is spoken, the other is served, and a closed
// connection gives its place back.
func TestOverRealTCP(t *testing.T) {
	l, err := New(Options{PerAddr: 2})
	if err != nil {
		t.Fatal(err)
	}
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(l.Listener(raw, "public")) }()
	t.Cleanup(func() { _ = srv.Close() })
	addr := raw.Addr().String()

	a1, ok1 := get(t, "127.0.0.2", addr)
	a2, ok2 := get(t, "127.0.0.2", addr)
	a3, ok3 := get(t, "127.0.0.2", addr)
	b1, okb := get(t, "127.0.0.3", addr)
	for _, c := range []net.Conn{a1, a2, a3, b1} {
		if c != nil {
			defer c.Close()
		}
	}
	if !ok1 || !ok2 || ok3 || !okb {
		t.Fatalf("served: 127.0.0.2 %v %v %v (want true true false), 127.0.0.3 %v", ok1, ok2, ok3, okb)
	}
	// The client closes one; the server notices, closes its side, and the
	// place is free again.
	a1.Close()
	deadline := time.Now().Add(30 * time.Second)
	for l.openFrom(netip.MustParseAddr("127.0.0.2")) != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("the closed connection still counts: %d", l.openFrom(netip.MustParseAddr("127.0.0.2")))
		}
		time.Sleep(5 * time.Millisecond)
	}
	a4, ok4 := get(t, "127.0.0.2", addr)
	if !ok4 {
		t.Fatal("a new connection after a close was refused")
	}
	a4.Close()
}

// openFrom returns the per-address count of a (for tests).
func (l *Limiter) openFrom(a netip.Addr) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.byAddr[l.fold(a)]
}

// get opens a keep-alive connection from src and sends one request; it
// reports whether it was answered. The connection is left open; it is nil
// when the dial itself failed (a reset can arrive before connect returns).
func get(t *testing.T, src, addr string) (net.Conn, bool) {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 10 * time.Second}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		return nil, false
	}
	_ = c.SetDeadline(time.Now().Add(20 * time.Second))
	if _, err := fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		return c, false
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return c, false
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return c, resp.StatusCode == http.StatusOK
}

// TestReclaimOverRealTCP: behind a real http.Server with the ConnState
// hook, at the total cap a newcomer is served and the connection idle
// longest is reset.
func TestReclaimOverRealTCP(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	l, err := New(Options{PerAddr: 64, Total: 2, Metrics: m})
	if err != nil {
		t.Fatal(err)
	}
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}), ReadHeaderTimeout: 10 * time.Second, ConnState: l.ConnState}
	go func() { _ = srv.Serve(l.Listener(raw, "public")) }()
	t.Cleanup(func() { _ = srv.Close() })
	addr := raw.Addr().String()

	old, ok1 := get(t, "127.0.0.2", addr)
	recent, ok2 := get(t, "127.0.0.3", addr)
	if !ok1 || !ok2 {
		t.Fatalf("first two not served: %v %v", ok1, ok2)
	}
	defer old.Close()
	defer recent.Close()
	// Both are idle once the server has finished their requests.
	deadline := time.Now().Add(30 * time.Second)
	for {
		l.mu.Lock()
		n := l.idle.Len()
		l.mu.Unlock()
		if n == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d reclaimable connections, want 2", n)
		}
		time.Sleep(5 * time.Millisecond)
	}
	newcomer, ok3 := get(t, "127.0.0.4", addr)
	if !ok3 {
		t.Fatal("the newcomer was not served at the total cap")
	}
	defer newcomer.Close()
	_ = old.SetReadDeadline(time.Now().Add(20 * time.Second))
	if _, err := old.Read(make([]byte, 1)); err == nil {
		t.Fatal("the connection idle longest is still open")
	}
	second, ok4 := get(t, "127.0.0.2", addr)
	if !ok4 {
		// recent is now the longest idle: it makes room again.
		t.Fatal("a second newcomer was not served")
	}
	defer second.Close()
	if got := testutil.ToFloat64(m.reclaimed.WithLabelValues("public")); got != 2 {
		t.Errorf("reclaimed counter %v, want 2", got)
	}
	if n := l.Open(); n > 2 {
		t.Errorf("%d open, cap 2", n)
	}
}
