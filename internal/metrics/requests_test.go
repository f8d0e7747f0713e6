package metrics

import (
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestObserveRequestCountsPerLabels: the cached children count exactly as
// the labelled metrics would, past the cache's bound too.
func TestObserveRequestCountsPerLabels(t *testing.T) {
	m := New(prometheus.NewRegistry())
	for range 3 {
		m.ObserveRequest("GET /api/realtime-session", "GET", 200, 2*time.Millisecond)
	}
	m.ObserveRequest("GET /api/realtime-session", "GET", 429, time.Millisecond)
	m.ObserveRequest("POST /api/realtime-session", "POST", 200, 3*time.Millisecond)
	m.ObserveRequest("unmatched", "BREW", 404, time.Millisecond)
	m.ObserveRequest("unmatched", "BREW", 404, time.Millisecond)
	for _, tc := range []struct {
		route, method, code string
		want                float64
	}{
		{"GET /api/realtime-session", "GET", "200", 3},
		{"GET /api/realtime-session", "GET", "429", 1},
		{"POST /api/realtime-session", "POST", "200", 1},
		{"unmatched", "OTHER", "404", 2},
	} {
		if got := testutil.ToFloat64(m.requests.WithLabelValues(tc.route, tc.method, tc.code)); got != tc.want {
			t.Errorf("%s %s %s: %v, want %v", tc.route, tc.method, tc.code, got, tc.want)
		}
	}
	if n := testutil.CollectAndCount(m.requests); n != 4 {
		t.Errorf("%d request series, want 4", n)
	}
	if n := testutil.CollectAndCount(m.duration); n != 3 {
		t.Errorf("%d duration series, want 3", n)
	}
	// Past the bound, requests are still counted.
	for s := range maxChildren + 50 {
		m.ObserveRequest("r", "GET", 1000+s, time.Millisecond)
		m.ObserveRequest("r", "GET", 1000+s, time.Millisecond)
	}
	if got := testutil.ToFloat64(m.requests.WithLabelValues("r", "GET", strconv.Itoa(1000+maxChildren+49))); got != 2 {
		t.Errorf("past the cache's bound: %v, want 2", got)
	}
	if n := m.nChildren.Load(); n != maxChildren {
		t.Errorf("%d children kept, want %d", n, maxChildren)
	}
}

// TestObserveUpstreamCountsPerOutcome: the cached children count as the
// labelled counter would.
func TestObserveUpstreamCountsPerOutcome(t *testing.T) {
	m := New(prometheus.NewRegistry())
	for _, o := range []string{"ok", "ok", "5xx", "ok", "timeout"} {
		m.ObserveUpstream(o, time.Millisecond)
	}
	m.ObserveUpstream("queue_full", 0)
	for o, want := range map[string]float64{"ok": 3, "5xx": 1, "timeout": 1, "queue_full": 1} {
		if got := testutil.ToFloat64(m.upstream.WithLabelValues(o)); got != want {
			t.Errorf("%s: %v, want %v", o, got, want)
		}
	}
}
