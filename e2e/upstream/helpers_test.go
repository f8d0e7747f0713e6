// Package upstream_test proves rtgate's upstream resilience end to end:
// a real rtgate (in-process through apptest, or a built binary for
// signals) in front of the OpenAI simulator, over real HTTP on loopback.
package upstream_test

import (
	"bufio"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rtgate/rtgate/internal/apptest"
)

// baseEnv keeps the per-IP limiter out of the way: these tests are about
// the upstream.
func baseEnv(extra map[string]string) map[string]string {
	env := map[string]string{"RATE_LIMIT_WHITELIST": "127.0.0.1"}
	for k, v := range extra {
		env[k] = v
	}
	return env
}

// writeKey replaces a key file atomically, as an operator or a secret
// manager should: write a temporary file, then rename it over.
func writeKey(t *testing.T, path, key string) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(key+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func keyFile(t *testing.T, key string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "openai-key")
	writeKey(t, p, key)
	return p
}

// load sends mint requests from a few workers until stopped and counts
// statuses; any transport error or non-200 is a failure.
type load struct {
	ok     atomic.Int64
	failed atomic.Int64
	mu     sync.Mutex
	first  string
	stop   chan struct{}
	wg     sync.WaitGroup
}

func startLoad(t *testing.T, url string, workers int) *load {
	t.Helper()
	l := &load{stop: make(chan struct{})}
	client := &http.Client{Timeout: 30 * time.Second}
	for i := 0; i < workers; i++ {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for {
				select {
				case <-l.stop:
					return
				default:
				}
				resp, err := client.Post(url+"/api/realtime-session", "", nil)
				if err != nil {
					l.fail(err.Error())
					continue
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					l.fail("status " + strconv.Itoa(resp.StatusCode))
					continue
				}
				l.ok.Add(1)
			}
		}()
	}
	t.Cleanup(l.finish)
	return l
}

func (l *load) fail(why string) {
	l.failed.Add(1)
	l.mu.Lock()
	if l.first == "" {
		l.first = why
	}
	l.mu.Unlock()
}

func (l *load) finish() {
	select {
	case <-l.stop:
	default:
		close(l.stop)
	}
	l.wg.Wait()
}

// waitOK waits until the load has n more successes than now.
func (l *load) waitOK(t *testing.T, n int64) {
	t.Helper()
	target := l.ok.Load() + n
	eventually(t, "load progress", func() bool { return l.ok.Load() >= target })
}

// eventually polls cond for up to 20 seconds: a bound for a hung test,
// not a timing assertion.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// metric returns the value of the sample whose name and labels start with
// prefix (e.g. `rtgate_upstream_requests_total{outcome="ok"}`), or -1.
func metric(t *testing.T, adminURL, prefix string) float64 {
	t.Helper()
	resp, err := http.Get(adminURL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, prefix+" ") {
			v, err := strconv.ParseFloat(strings.TrimSpace(strings.TrimPrefix(line, prefix)), 64)
			if err != nil {
				t.Fatalf("metric line %q", line)
			}
			return v
		}
	}
	return -1
}

func authOf(in *apptest.Instance) string {
	return strings.TrimPrefix(in.Sim.LastRequest().Header.Get("Authorization"), "Bearer ")
}
