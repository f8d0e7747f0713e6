package metrics_test

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/rtgate/rtgate/internal/metrics"
)

func TestUpstreamStateGaugesReadAtScrape(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := metrics.New(reg)
	state := metrics.UpstreamState{QueueDepth: 3, InFlight: 2, Breaker: "open", ActiveKey: "backup", Keys: map[string]bool{"primary": true, "backup": false}}
	if err := m.WatchUpstream(func() metrics.UpstreamState { return state }); err != nil {
		t.Fatal(err)
	}
	m.ObserveKeyReload("changed")
	m.ObserveUpstream("key_failover", 0)
	want := `
# HELP rtgate_upstream_breaker_state Circuit breaker state: 1 for the current state (closed, open, half_open).
# TYPE rtgate_upstream_breaker_state gauge
rtgate_upstream_breaker_state{state="closed"} 0
rtgate_upstream_breaker_state{state="half_open"} 0
rtgate_upstream_breaker_state{state="open"} 1
# HELP rtgate_upstream_in_flight Upstream calls in flight.
# TYPE rtgate_upstream_in_flight gauge
rtgate_upstream_in_flight 2
# HELP rtgate_upstream_key_active 1 for the API key slot in use.
# TYPE rtgate_upstream_key_active gauge
rtgate_upstream_key_active{slot="backup"} 1
rtgate_upstream_key_active{slot="primary"} 0
# HELP rtgate_upstream_key_rejected 1 when the upstream has rejected the key in this slot (401/403).
# TYPE rtgate_upstream_key_rejected gauge
rtgate_upstream_key_rejected{slot="backup"} 0
rtgate_upstream_key_rejected{slot="primary"} 1
# HELP rtgate_upstream_key_reloads_total Re-reads of the API key files by result (changed, unchanged, error).
# TYPE rtgate_upstream_key_reloads_total counter
rtgate_upstream_key_reloads_total{result="changed"} 1
# HELP rtgate_upstream_queue_depth Upstream calls waiting for a concurrency slot.
# TYPE rtgate_upstream_queue_depth gauge
rtgate_upstream_queue_depth 3
# HELP rtgate_upstream_requests_total Calls to the OpenAI API by outcome.
# TYPE rtgate_upstream_requests_total counter
rtgate_upstream_requests_total{outcome="key_failover"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want),
		"rtgate_upstream_breaker_state", "rtgate_upstream_in_flight", "rtgate_upstream_key_active",
		"rtgate_upstream_key_rejected", "rtgate_upstream_key_reloads_total", "rtgate_upstream_queue_depth",
		"rtgate_upstream_requests_total"); err != nil {
		t.Fatal(err)
	}
	state.QueueDepth = 0
	want = `
# HELP rtgate_upstream_queue_depth Upstream calls waiting for a concurrency slot.
# TYPE rtgate_upstream_queue_depth gauge
rtgate_upstream_queue_depth 0
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "rtgate_upstream_queue_depth"); err != nil {
		t.Fatalf("not read at scrape: %v", err)
	}
}
