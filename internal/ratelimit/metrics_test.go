package ratelimit_test

import (
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/rtgate/rtgate/internal/ratelimit"
	"github.com/rtgate/rtgate/internal/ratelimit/storetest"
)

// TestMetricsGolden drives a known sequence of decisions and compares the
// exposition with testdata/metrics/decisions.txt.
func TestMetricsGolden(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := ratelimit.NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	clock := storetest.NewClock()
	mem := ratelimit.NewMemory(ratelimit.MemoryOptions{Now: clock.Now, MaxKeys: 2, Shards: 1})
	m.ObserveMemory(mem)
	l, err := ratelimit.New(ratelimit.Options{
		IP:        ratelimit.Policy{Limit: 2, Window: time.Minute},
		User:      ratelimit.Policy{Limit: 1, Window: time.Minute},
		Whitelist: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")},
		Store:     mem,
		Metrics:   m,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	a := netip.MustParseAddr("192.0.2.1")
	for range 3 { // allowed, allowed, denied
		_, _ = l.AllowIP(ctx, a)
	}
	_, _ = l.AllowIP(ctx, netip.MustParseAddr("10.1.1.1"))  // skipped
	_, _ = l.AllowIP(ctx, netip.Addr{})                     // error
	_, _ = l.AllowUser(ctx, "alice")                        // allowed (2 keys: bound reached)
	_, _ = l.AllowIP(ctx, netip.MustParseAddr("192.0.2.2")) // denied: store full
	f, err := os.Open(filepath.Join("testdata", "metrics", "decisions.txt"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := testutil.GatherAndCompare(reg, f); err != nil {
		t.Fatal(err)
	}
}

func TestMetricsHaveNoIPOrUserLabels(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := ratelimit.NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	m.ObserveMemory(ratelimit.NewMemory(ratelimit.MemoryOptions{}))
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, mf := range mfs {
		names[mf.GetName()] = true
		for _, metric := range mf.GetMetric() {
			for _, l := range metric.GetLabel() {
				if l.GetName() != "scope" && l.GetName() != "outcome" {
					t.Errorf("%s has label %q", mf.GetName(), l.GetName())
				}
			}
		}
	}
	for _, want := range []string{
		"rtgate_ratelimit_decisions_total", "rtgate_ratelimit_memory_keys", "rtgate_ratelimit_memory_saturated_total",
		"rtgate_ratelimit_redis_errors_total", "rtgate_ratelimit_fallback_activations_total",
		"rtgate_ratelimit_fallback_recoveries_total", "rtgate_ratelimit_store_degraded",
	} {
		if !names[want] {
			t.Errorf("missing %s", want)
		}
	}
	if _, err := ratelimit.NewMetrics(reg); err == nil {
		t.Error("double registration accepted")
	}
}
