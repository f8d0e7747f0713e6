// Package connse2e runs the real rtgate binary under a low descriptor limit
// and floods it with idle connections from one address, to show that the
// connection caps (MAX_CONNS_PER_IP, MAX_CONNS) keep the process serving
// everyone else. These are properties of the process — descriptors, accept
// loop, start-up — so only the binary can show them.
package connse2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rtgate/rtgate/internal/apptest"
)

var rtgateBin string

func TestMain(m *testing.M) { os.Exit(run(m)) }

func run(m *testing.M) int {
	dir, err := os.MkdirTemp("", "rtgate-e2e-conns-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	if rtgateBin, err = apptest.BuildBinary(dir); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}

// process is one running rtgate.
type process struct {
	url, admin string
	logs       *syncBuffer
	cmd        *exec.Cmd
	exited     chan struct{}
}

type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startLimited runs `rtgate serve` (development, built-in simulator, loopback
// ports) under prlimit with a hard RLIMIT_NOFILE of nofile and a soft one of
// half that, and returns once it has logged its addresses.
func startLimited(t *testing.T, nofile int, env map[string]string) *process {
	t.Helper()
	prlimit, err := exec.LookPath("prlimit")
	if err != nil {
		t.Fatalf("prlimit (util-linux) is needed to run rtgate under a descriptor limit: %v", err)
	}
	n, soft := strconv.Itoa(nofile), strconv.Itoa(nofile/2)
	cmd := exec.Command(prlimit, "--nofile="+soft+":"+n, rtgateBin, "serve")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), "APP_ENV=development",
		"HOST=127.0.0.1", "PORT=0", "ADMIN_ADDR=127.0.0.1:0", "LOG_LEVEL=info"}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &process{logs: &syncBuffer{}, cmd: cmd, exited: make(chan struct{})}
	cmd.Stdout = p.logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	addrs := make(chan [2]string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			p.logs.Write([]byte(line + "\n"))
			var rec struct {
				Msg, Addr string
				AdminAddr string `json:"admin_addr"`
			}
			if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "rtgate listening" {
				addrs <- [2]string{rec.Addr, rec.AdminAddr}
			}
		}
		_, _ = io.Copy(io.Discard, stderr)
	}()
	go func() { _ = cmd.Wait(); close(p.exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.exited:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			<-p.exited
		}
		if t.Failed() {
			t.Logf("rtgate logs (last 8 KiB):\n%s", tail(p.logs.String(), 8<<10))
		}
	})
	select {
	case a := <-addrs:
		p.url, p.admin = "http://"+a[0], "http://"+a[1]
	case <-p.exited:
		t.Fatalf("rtgate exited during start-up:\n%s", p.logs.String())
	case <-time.After(60 * time.Second):
		t.Fatalf("rtgate did not report its address:\n%s", p.logs.String())
	}
	return p
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
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
	p := startLimited(t, nofile, nil)
	addr := strings.TrimPrefix(p.url, "http://")

	served, closeAll := flood(attempts, addr, func(int) string { return "127.0.0.2" })
	defer closeAll()

	// While the flood holds its connections: a mint from another address.
	mintFrom(t, "127.0.0.3", p.url, "during the flood")

	if served > perIP {
		t.Errorf("%d of %d connections from 127.0.0.2 were served; the per-address cap is %d", served, attempts, perIP)
	}
	if served == 0 {
		t.Errorf("no connection from 127.0.0.2 was served at all")
	}
	t.Logf("127.0.0.2: %d of %d connections served (cap %d)", served, attempts, perIP)
	t.Logf("ratio class=%q admitted=%d allowed=%d ratio=%.2f", "idle connections from one address", served, perIP, float64(served)/perIP)

	// The admin listener counts what was refused, with bounded labels only.
	refused := metric(t, p.admin, `rtgate_connections_refused_total{listener="public",reason="per_address"}`)
	if want := float64(attempts - served); refused != want {
		t.Errorf("refused per-address counter %v, want %v (attempts - served)", refused, want)
	}
	// At most a sampled log line, not one per refusal.
	if n := strings.Count(p.logs.String(), "connection refused"); n < 1 || n > 10 {
		t.Errorf("%d refusal log lines for %v refusals; want a sample (1..10)", n, refused)
	}
	// Start-up raised the soft descriptor limit to the hard one and said so.
	if !strings.Contains(p.logs.String(), `"nofile_soft":1100,"nofile_hard":1100`) {
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

// mintFrom mints one token from source address src with a generous
// timeout (no speed is asserted) and fails the test unless it succeeds.
func mintFrom(t *testing.T, src, base, when string) {
	t.Helper()
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 30 * time.Second}
	tr := &http.Transport{DialContext: d.DialContext}
	defer tr.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, base+"/api/realtime-session", nil)
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		t.Errorf("mint from %s %s: %v", src, when, err)
		return
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"ek_`) {
		t.Errorf("mint from %s %s: %d %s", src, when, resp.StatusCode, body)
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
	p := startLimited(t, nofile, nil)
	addr := strings.TrimPrefix(p.url, "http://")
	served, closeAll := flood(attempts, addr, func(i int) string { return fmt.Sprintf("127.0.0.%d", 10+i%30) })
	defer closeAll()
	t.Logf("%d of %d connections from 30 addresses served (total cap %d)", served, attempts, total)

	mintFrom(t, "127.0.0.3", p.url, "during the flood")

	open := metric(t, p.admin, `rtgate_connections_open{listener="public"}`)
	t.Logf("ratio class=%q admitted=%v allowed=%d ratio=%.2f", "connections held at once, 30 addresses", open, total, open/total)
	if open > total {
		t.Errorf("%v connections open; MAX_CONNS=auto is %d", open, total)
	}
	if n := metric(t, p.admin, `rtgate_connections_reclaimed_total{listener="public"}`); n < attempts-total {
		t.Errorf("%v idle connections reclaimed; at least %d must have been to stay under %d", n, attempts-total, total)
	}
	if strings.Contains(p.logs.String(), "too many open files") {
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
