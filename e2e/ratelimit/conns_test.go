package ratelimite2e

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// startLimited runs rtgate (development, built-in simulator, default caps)
// under prlimit with a hard RLIMIT_NOFILE of nofile and a soft one of half
// that.
func startLimited(t *testing.T, nofile int) *instance {
	t.Helper()
	prlimit, err := exec.LookPath("prlimit")
	if err != nil {
		t.Fatalf("prlimit (util-linux) is needed to run rtgate under a descriptor limit: %v", err)
	}
	return startRtgateWith(t, nil, []string{prlimit, fmt.Sprintf("--nofile=%d:%d", nofile/2, nofile)})
}

// idleConn opens a connection from src to addr, sends one keep-alive
// request for /healthz, and reports whether it was answered 200. The
// connection is left open and idle either way; the caller closes it.
func idleConn(src, addr string, wait time.Duration) (net.Conn, bool) {
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: wait}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		return nil, false
	}
	_ = c.SetDeadline(time.Now().Add(wait))
	if _, err := io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: rtgate\r\n\r\n"); err != nil {
		return c, false
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return c, false
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	_ = c.SetDeadline(time.Time{})
	return c, resp.StatusCode == http.StatusOK
}

// TestOneAddressCannotExhaustDescriptors is issue 11's attack 5: under a
// 1,100 descriptor limit, 1,150 idle keep-alive connections from 127.0.0.2.
// With the default caps, at most MAX_CONNS_PER_IP of them are ever served,
// the rest are refused at accept, and a mint from 127.0.0.3 still succeeds.
func TestOneAddressCannotExhaustDescriptors(t *testing.T) {
	const (
		nofile   = 1100
		attempts = 1150
		perIP    = 64 // the default MAX_CONNS_PER_IP
	)
	p := startLimited(t, nofile)
	addr := strings.TrimPrefix(p.URL, "http://")

	served, closeAll := flood(attempts, addr, func(int) string { return "127.0.0.2" })
	defer closeAll()

	// While the flood holds its connections: a mint from another address.
	mintFrom(t, "127.0.0.3", p.URL, "during the flood")

	if served > perIP {
		t.Errorf("%d of %d connections from 127.0.0.2 were served; the per-address cap is %d", served, attempts, perIP)
	}
	if served == 0 {
		t.Errorf("no connection from 127.0.0.2 was served at all")
	}
	t.Logf("127.0.0.2: %d of %d connections served (cap %d)", served, attempts, perIP)
	t.Logf("ratio class=%q admitted=%d allowed=%d ratio=%.2f", "idle connections from one address", served, perIP, float64(served)/perIP)

	// The admin listener counts what was refused, with bounded labels only.
	refused := metric(t, p.AdminURL, `rtgate_connections_refused_total{listener="public",reason="per_address"}`)
	// All flood connections are still open, so at most perIP were ever
	// admitted and every other one was refused.
	if least := float64(attempts - perIP); refused < least || refused > attempts {
		t.Errorf("refused per-address counter %v, want %v..%d", refused, least, attempts)
	}
	// At most a sampled log line, not one per refusal.
	if n := strings.Count(p.Logs(), "connection refused"); n < 1 || n > 10 {
		t.Errorf("%d refusal log lines for %v refusals; want a sample (1..10)", n, refused)
	}
	// Start-up raised the soft descriptor limit to the hard one and said so.
	if !strings.Contains(p.Logs(), `"nofile_soft":1100,"nofile_hard":1100`) {
		t.Errorf("no start-up line reporting the descriptor limits 1100/1100")
	}
}

// flood opens n idle keep-alive connections to addr at once, the i-th from
// source address src(i), and holds them open. It returns how many were
// served and a function that closes them all.
func flood(n int, addr string, src func(i int) string) (int, func()) {
	var (
		mu     sync.Mutex
		conns  []net.Conn
		served int
		wg     sync.WaitGroup
	)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, ok := idleConn(src(i), addr, 20*time.Second)
			mu.Lock()
			defer mu.Unlock()
			if c != nil {
				conns = append(conns, c)
			}
			if ok {
				served++
			}
		}()
	}
	wg.Wait()
	return served, func() {
		for _, c := range conns {
			c.Close()
		}
	}
}

// mintFrom mints one token from source address src (a generous client
// timeout, no speed asserted) and fails the test unless it succeeds.
func mintFrom(t *testing.T, src, base, when string) {
	t.Helper()
	if code, _ := mint(t, clientFrom(t, src), base, nil); code != http.StatusOK {
		t.Errorf("mint from %s %s: %d", src, when, code)
	}
}

// TestManyAddressesCannotLockOthersOut: 1,150 idle keep-alive connections
// from 30 addresses, each under the per-address cap, against a 1,100
// descriptor limit. The default total cap (three quarters of the limit:
// 825) is reached, and from then on each new connection takes the place of
// the one idle longest: the process never runs out of descriptors (no
// accept error), holds at most 825 connections, and a mint from 127.0.0.3
// during the flood succeeds.
func TestManyAddressesCannotLockOthersOut(t *testing.T) {
	const (
		nofile   = 1100
		attempts = 1150
		total    = nofile * 3 / 4 // MAX_CONNS=auto
	)
	p := startLimited(t, nofile)
	addr := strings.TrimPrefix(p.URL, "http://")
	served, closeAll := flood(attempts, addr, func(i int) string { return fmt.Sprintf("127.0.0.%d", 10+i%30) })
	defer closeAll()
	t.Logf("%d of %d connections from 30 addresses served (total cap %d)", served, attempts, total)

	mintFrom(t, "127.0.0.3", p.URL, "during the flood")

	open := metric(t, p.AdminURL, `rtgate_connections_open{listener="public"}`)
	t.Logf("ratio class=%q admitted=%v allowed=%d ratio=%.2f", "connections held at once, 30 addresses", open, total, open/total)
	if open > total {
		t.Errorf("%v connections open; MAX_CONNS=auto is %d", open, total)
	}
	if n := metric(t, p.AdminURL, `rtgate_connections_reclaimed_total{listener="public"}`); n < attempts-total {
		t.Errorf("%v idle connections reclaimed; at least %d must have been to stay under %d", n, attempts-total, total)
	}
	if strings.Contains(p.Logs(), "too many open files") {
		t.Errorf("the process ran out of descriptors")
	}
}

// metric reads one sample from the admin listener's /metrics.
func metric(t *testing.T, admin, series string) float64 {
	t.Helper()
	resp, err := http.Get(admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), series+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("%s: %v", series, err)
			}
			return f
		}
	}
	t.Errorf("/metrics has no %s", series)
	return 0
}
