// Package ratelimite2e runs real rtgate processes against a real
// redis-server and behind a real nginx, and checks that rate limits hold
// across instances and follow the real client, and that the connection caps
// keep floods of connections from exhausting the process's descriptors.
package ratelimite2e

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
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rtgate/rtgate/internal/apptest"
)

// rtgateBin is the binary built by TestMain.
var rtgateBin string

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	dir, err := os.MkdirTemp("", "rtgate-e2e-ratelimit-")
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

// instance is one running rtgate process.
type instance struct {
	URL    string // http://127.0.0.1:port
	Admin  string
	logs   *syncBuffer
	cmd    *exec.Cmd
	exited chan struct{}
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

// startRtgate runs `rtgate serve` in development mode with the built-in
// simulator (no OpenAI key), on loopback ports chosen by the kernel, with
// env added to a minimal base environment. It returns when the process has
// logged its listening address and answers /healthz.
func startRtgate(t *testing.T, env map[string]string) *instance {
	t.Helper()
	return startRtgateWith(t, env, nil)
}

// startRtgateWith is startRtgate with the command run through wrap (e.g.
// prlimit and its arguments), which must exec rtgate in its own place.
func startRtgateWith(t *testing.T, env map[string]string, wrap []string) *instance {
	t.Helper()
	base := map[string]string{
		"PATH":       os.Getenv("PATH"),
		"HOME":       t.TempDir(),
		"APP_ENV":    "development",
		"HOST":       "127.0.0.1",
		"PORT":       "0",
		"ADMIN_ADDR": "127.0.0.1:0",
		"LOG_LEVEL":  "info",
	}
	for k, v := range env {
		base[k] = v
	}
	var kv []string
	for k, v := range base {
		kv = append(kv, k+"="+v)
	}
	argv := append(append([]string{}, wrap...), rtgateBin, "serve")
	cmd := exec.Command(argv[0], argv[1:]...)
	dieWithParent(cmd)
	cmd.Env = kv
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	cmd.Stdout = logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	in := &instance{logs: logs, cmd: cmd, exited: make(chan struct{})}
	addrs := make(chan [2]string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		sent := false
		for sc.Scan() {
			line := sc.Text()
			logs.Write([]byte(line + "\n"))
			if sent {
				continue
			}
			var rec struct {
				Msg, Addr string
				AdminAddr string `json:"admin_addr"`
			}
			if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "rtgate listening" {
				addrs <- [2]string{rec.Addr, rec.AdminAddr}
				sent = true
			}
		}
		_, _ = io.Copy(io.Discard, stderr)
	}()
	go func() { _ = cmd.Wait(); close(in.exited) }()
	t.Cleanup(func() { in.stop(t) })
	select {
	case a := <-addrs:
		in.URL, in.Admin = "http://"+a[0], "http://"+a[1]
	case <-in.exited:
		t.Fatalf("rtgate exited during start-up:\n%s", logs.String())
	case <-time.After(30 * time.Second):
		t.Fatalf("rtgate did not report its address:\n%s", logs.String())
	}
	waitHTTP(t, in.URL+"/healthz")
	return in
}

func (in *instance) stop(t *testing.T) {
	_ = in.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-in.exited:
	case <-time.After(10 * time.Second):
		_ = in.cmd.Process.Kill()
		<-in.exited
	}
	if t.Failed() {
		t.Logf("rtgate %s logs:\n%s", in.URL, in.logs.String())
	}
}

func waitHTTP(t *testing.T, url string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not ready: %v", url, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// clientFrom returns an HTTP client whose connections come from the given
// loopback source address (127.0.0.2, 127.0.0.3, ...), so one machine can
// play several clients.
func clientFrom(t *testing.T, src string) *http.Client {
	t.Helper()
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 5 * time.Second}
	tr := &http.Transport{DialContext: d.DialContext, MaxIdleConnsPerHost: 8}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}
}

// mint makes one POST /api/realtime-session and returns the status and
// headers; any status other than 200 and 429 fails the test.
func mint(t *testing.T, c *http.Client, base string, hdr http.Header) (int, http.Header) {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), http.MethodPost, base+"/api/realtime-session", nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, vs := range hdr {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("POST %s: %d %s", base, resp.StatusCode, body)
	}
	return resp.StatusCode, resp.Header
}
