package metrics_test

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rtgate/rtgate/internal/metrics"
)

// Run with:
//
//	go test -run '^$' -bench . -benchmem ./internal/metrics/
//
// The benchmark uses only the package's exported API, so the same file
// measures an older version of it too (docs/performance.md).

// BenchmarkObserveRequest records one request, as the access log does.
func BenchmarkObserveRequest(b *testing.B) {
	m := metrics.New(prometheus.NewRegistry())
	b.ReportAllocs()
	for b.Loop() {
		m.ObserveRequest("GET /api/realtime-session", "GET", 200, 2*time.Millisecond)
	}
}

// BenchmarkObserveUpstream records one upstream call, as the upstream
// client does per attempt.
func BenchmarkObserveUpstream(b *testing.B) {
	m := metrics.New(prometheus.NewRegistry())
	b.ReportAllocs()
	for b.Loop() {
		m.ObserveUpstream("ok", 3*time.Millisecond)
	}
}
