package upstream_test

import (
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rtgate/rtgate/internal/apptest"
	"github.com/rtgate/rtgate/internal/simulator"
)

// gate holds upstream requests while hold is set, until open is closed.
type gate struct {
	h       http.Handler
	hold    atomic.Bool
	open    chan struct{}
	arrived atomic.Int32
}

func (g *gate) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if g.hold.Load() {
		g.arrived.Add(1)
		select {
		case <-g.open:
		case <-r.Context().Done():
			return
		}
	}
	g.h.ServeHTTP(w, r)
}

func TestBurstOfTenTimesTheConcurrency(t *testing.T) {
	const concurrency, queue, burst = 2, 4, 20
	key := apptest.RandomKey()
	sim := simulator.New(simulator.Options{APIKeys: []string{key}})
	g := &gate{h: sim, open: make(chan struct{})}
	srv := httptest.NewServer(g)
	t.Cleanup(srv.Close)
	in := apptest.StartWith(t, sim, srv.URL+"/v1", key, baseEnv(map[string]string{
		"UPSTREAM_MAX_CONCURRENCY":  "2",
		"UPSTREAM_QUEUE_SIZE":       "4",
		"UPSTREAM_QUEUE_TIMEOUT_MS": "10000",
		"UPSTREAM_TIMEOUT_MS":       "30000",
		"LOG_LEVEL":                 "warn",
	}))
	client := &http.Client{Timeout: 60 * time.Second}
	post := func() (int, string) {
		resp, err := client.Post(in.URL+"/api/realtime-session", "", nil)
		if err != nil {
			return 0, err.Error()
		}
		resp.Body.Close()
		return resp.StatusCode, resp.Header.Get("Retry-After")
	}
	// Warm up, then take the baseline with no connection left open.
	if code, _ := post(); code != 200 {
		t.Fatalf("warm-up: %d", code)
	}
	g.hold.Store(true)
	client.CloseIdleConnections()
	time.Sleep(100 * time.Millisecond)
	baseline := runtime.NumGoroutine()

	var mu sync.Mutex
	codes := map[int]int{}
	var refused atomic.Int32
	var wg sync.WaitGroup
	for i := 0; i < burst; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			code, retryAfter := post()
			if code == http.StatusServiceUnavailable {
				if retryAfter == "" {
					t.Error("503 without Retry-After")
				}
				refused.Add(1)
			}
			mu.Lock()
			codes[code]++
			mu.Unlock()
		}()
	}
	// The refusals come back while the upstream still holds every call
	// it has: they waited for nothing.
	eventually(t, "the requests beyond the queue refused", func() bool { return refused.Load() == burst-concurrency-queue })
	eventually(t, "the calls holding a slot to reach the upstream", func() bool { return g.arrived.Load() >= concurrency })
	if g.arrived.Load() != concurrency {
		t.Fatalf("upstream calls in flight %d, want %d", g.arrived.Load(), concurrency)
	}
	if d := metric(t, in.AdminURL, "rtgate_upstream_queue_depth"); d != queue {
		t.Errorf("queue depth %v, want %d", d, queue)
	}
	if f := metric(t, in.AdminURL, "rtgate_upstream_in_flight"); f != concurrency {
		t.Errorf("in flight %v, want %d", f, concurrency)
	}
	close(g.open)
	wg.Wait()
	if codes[200] != concurrency+queue || codes[503] != burst-concurrency-queue {
		t.Fatalf("statuses %v", codes)
	}
	if n := metric(t, in.AdminURL, `rtgate_upstream_requests_total{outcome="queue_full"}`); n != burst-concurrency-queue {
		t.Errorf("queue_full outcomes %v", n)
	}
	client.CloseIdleConnections()
	// Goroutines return to the baseline: a few may remain for pooled
	// upstream connections (two per connection, at most the concurrency).
	slack := 2*concurrency + 4
	eventually(t, "goroutines back to the baseline", func() bool { return runtime.NumGoroutine() <= baseline+slack })
	if d := metric(t, in.AdminURL, "rtgate_upstream_queue_depth"); d != 0 {
		t.Errorf("queue depth after the burst %v", d)
	}
}

func TestUpstreamDownBreakerOpensFailsFastAndRecovers(t *testing.T) {
	in := apptest.Start(t, baseEnv(map[string]string{
		"UPSTREAM_BREAKER_FAILURES":    "3",
		"UPSTREAM_BREAKER_COOLDOWN_MS": "3000",
		"UPSTREAM_RETRIES":             "0",
	}))
	in.Sim.SetFault(simulator.Fault{Kind: simulator.FaultServerError})
	for i := 0; i < 3; i++ {
		if r := in.Do(t, "POST", "/api/realtime-session", ""); r.StatusCode != 502 {
			t.Fatalf("failure %d: %d", i, r.StatusCode)
		}
	}
	before := in.Sim.Requests()
	for i := 0; i < 5; i++ {
		r := in.Do(t, "POST", "/api/realtime-session", "")
		if r.StatusCode != 503 || !strings.Contains(r.Body, `"unavailable"`) || r.Header.Get("Retry-After") == "" {
			t.Fatalf("while open: %d %s %v", r.StatusCode, r.Body, r.Header)
		}
	}
	if in.Sim.Requests() != before {
		t.Fatalf("the open breaker let %d requests reach the upstream", in.Sim.Requests()-before)
	}
	if v := metric(t, in.AdminURL, `rtgate_upstream_breaker_state{state="open"}`); v != 1 {
		t.Errorf("breaker state metric %v", v)
	}
	if v := metric(t, in.AdminURL, `rtgate_upstream_requests_total{outcome="breaker_open"}`); v != 5 {
		t.Errorf("breaker_open outcomes %v", v)
	}
	ready := apptest.DoURL(t, in.Client, "GET", in.AdminURL+"/readyz", "")
	if !strings.Contains(ready.Body, `"upstream_breaker":"open`) {
		t.Errorf("readiness detail: %s", ready.Body)
	}
	// The upstream comes back; after the cool-down a probe closes the breaker.
	in.Sim.SetFault(simulator.Fault{})
	eventually(t, "the breaker to close", func() bool {
		return in.Do(t, "POST", "/api/realtime-session", "").StatusCode == 200
	})
	if v := metric(t, in.AdminURL, `rtgate_upstream_breaker_state{state="closed"}`); v != 1 {
		t.Errorf("breaker not closed: %v", v)
	}
	if r := apptest.DoURL(t, in.Client, "GET", in.AdminURL+"/readyz", ""); r.StatusCode != 200 {
		t.Errorf("unready after recovery: %s", r.Body)
	}
}

func TestSlowUpstreamGets504AtTheDeadline(t *testing.T) {
	in := apptest.Start(t, baseEnv(map[string]string{"UPSTREAM_TIMEOUT_MS": "300"}))
	in.Sim.SetFault(simulator.Fault{Kind: simulator.FaultSlow, Delay: 20 * time.Second})
	start := time.Now()
	r := in.Do(t, "POST", "/api/realtime-session", "")
	took := time.Since(start)
	if r.StatusCode != 504 || !strings.Contains(r.Body, `"upstream_timeout"`) {
		t.Fatalf("%d %s", r.StatusCode, r.Body)
	}
	if took < 300*time.Millisecond || took > 15*time.Second {
		t.Fatalf("answered after %v: not at the deadline", took)
	}
	if in.Sim.Requests() != 1 {
		t.Fatalf("a timed-out call was retried: %d upstream requests", in.Sim.Requests())
	}
}
