package ratelimit_test

import (
	"context"
	"fmt"
	"net/http"
	"net/netip"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rtgate/rtgate/internal/ratelimit"
	"github.com/rtgate/rtgate/internal/ratelimit/redistest"
	"github.com/rtgate/rtgate/internal/redisconn"
)

// Run with:
//
//	go test -run '^$' -bench . -benchmem ./internal/ratelimit/

var benchPolicy = ratelimit.Policy{Limit: 10, Window: time.Minute}

func benchKeys(n int) []string {
	keys := make([]string, n)
	for i := range keys {
		keys[i] = fmt.Sprintf("ip:10.%d.%d.%d", i>>16&255, i>>8&255, i&255)
	}
	return keys
}

// BenchmarkMemoryAllow is one decision in the memory store: a hot key, and
// 65,536 rotating keys (map misses, inserts and the GCRA arithmetic).
func BenchmarkMemoryAllow(b *testing.B) {
	ctx := context.Background()
	b.Run("one-key", func(b *testing.B) {
		m := ratelimit.NewMemory(ratelimit.MemoryOptions{})
		b.ReportAllocs()
		for b.Loop() {
			_, _ = m.Allow(ctx, "ip:192.0.2.1", benchPolicy)
		}
	})
	b.Run("64k-keys", func(b *testing.B) {
		m := ratelimit.NewMemory(ratelimit.MemoryOptions{})
		keys := benchKeys(1 << 16)
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			_, _ = m.Allow(ctx, keys[i&(1<<16-1)], benchPolicy)
			i++
		}
	})
	b.Run("64k-keys-parallel", func(b *testing.B) {
		m := ratelimit.NewMemory(ratelimit.MemoryOptions{})
		keys := benchKeys(1 << 16)
		var seq atomic.Uint64
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			i := int(seq.Add(1) * 7919)
			for pb.Next() {
				_, _ = m.Allow(ctx, keys[i&(1<<16-1)], benchPolicy)
				i++
			}
		})
	})
}

// BenchmarkLimiterAllowIP is the full per-IP decision the gateway makes:
// whitelist check, key building, memory store, metrics.
func BenchmarkLimiterAllowIP(b *testing.B) { benchAllowIP(b, nil) }

// BenchmarkLimiterAllowIPWithMetrics is BenchmarkLimiterAllowIP with the
// Prometheus decision counters the gateway registers.
func BenchmarkLimiterAllowIPWithMetrics(b *testing.B) {
	m, err := ratelimit.NewMetrics(prometheus.NewRegistry())
	if err != nil {
		b.Fatal(err)
	}
	benchAllowIP(b, m)
}

func benchAllowIP(b *testing.B, m *ratelimit.Metrics) {
	l, err := ratelimit.New(ratelimit.Options{
		IP:        benchPolicy,
		Store:     ratelimit.NewMemory(ratelimit.MemoryOptions{}),
		Whitelist: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")},
		Metrics:   m,
	})
	if err != nil {
		b.Fatal(err)
	}
	addrs := []netip.Addr{netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("2001:db8:1:2::3")}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		_, _ = l.AllowIP(context.Background(), addrs[i&1])
		i++
	}
}

// BenchmarkLimiterScale is how the cost of one per-IP decision and the
// memory per tracked client grow with the number of clients the memory
// store tracks: it admits one request from each of n distinct IPv4 clients,
// measures the live heap that added (bytes/client), then times admitted
// decisions for those clients in a scattered order. scripts/bench.sh runs
// it and charts the figures.
func BenchmarkLimiterScale(b *testing.B) {
	// Every decision is admitted (the more expensive path: a lookup and a
	// store), whatever b.N.
	p := ratelimit.Policy{Limit: 1_000_000, Window: 1_000_000 * time.Second}
	for _, n := range []int{1_000, 100_000, 1_000_000} {
		b.Run(fmt.Sprintf("clients=%d", n), func(b *testing.B) {
			addrs := make([]netip.Addr, n)
			for i := range addrs {
				addrs[i] = netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
			}
			ctx := context.Background()
			runtime.GC()
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			// Room for uneven hashing over the shards: nothing is refused.
			l, err := ratelimit.New(ratelimit.Options{IP: p, Store: ratelimit.NewMemory(ratelimit.MemoryOptions{MaxKeys: 2 * n})})
			if err != nil {
				b.Fatal(err)
			}
			for _, a := range addrs {
				if d, err := l.AllowIP(ctx, a); err != nil || !d.Allowed {
					b.Fatalf("%v: %+v %v", a, d, err)
				}
			}
			runtime.GC()
			runtime.ReadMemStats(&after)
			perClient := float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)) / float64(n)
			// A fixed odd stride visits every client once per pass, in an
			// order unrelated to insertion.
			stride := 7919 % n
			b.ReportAllocs()
			b.ResetTimer()
			i := 0
			for b.Loop() {
				_, _ = l.AllowIP(ctx, addrs[i])
				if i += stride; i >= n {
					i -= n
				}
			}
			b.ReportMetric(perClient, "bytes/client")
			runtime.KeepAlive(l)
		})
	}
}

// BenchmarkSetHeaders writes the rate-limit header fields of one admitted
// and one refused decision (both header sets, the default).
func BenchmarkSetHeaders(b *testing.B) {
	l, err := ratelimit.New(ratelimit.Options{IP: benchPolicy, Store: ratelimit.NewMemory(ratelimit.MemoryOptions{})})
	if err != nil {
		b.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		d    ratelimit.Decision
	}{
		{"allowed", ratelimit.Decision{Allowed: true, Limit: 10, Window: time.Minute, Remaining: 7, ResetAfter: 18 * time.Second, Scope: ratelimit.ScopeIP}},
		{"denied", ratelimit.Decision{Limit: 10, Window: time.Minute, RetryAfter: 5500 * time.Millisecond, ResetAfter: 59500 * time.Millisecond, Scope: ratelimit.ScopeIP}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			h := make(http.Header, 8)
			b.ReportAllocs()
			for b.Loop() {
				clear(h)
				l.SetHeaders(h, tc.d)
			}
		})
	}
}

// BenchmarkMemoryPerKey measures the heap cost of one tracked key at
// 1,000,000 keys (key strings included; they are retained by the store).
// Run it with -benchtime=1x.
func BenchmarkMemoryPerKey(b *testing.B) {
	const n = 1_000_000
	for b.Loop() {
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		// The bound is per shard, so leave headroom for uneven hashing.
		m := ratelimit.NewMemory(ratelimit.MemoryOptions{MaxKeys: 2 * n})
		ctx := context.Background()
		for i := range n {
			key := "ip:" + netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}).String()
			if d, err := m.Allow(ctx, key, benchPolicy); err != nil || !d.Allowed {
				b.Fatalf("%d: %+v %v", i, d, err)
			}
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		if m.Len() != n {
			b.Fatalf("Len = %d", m.Len())
		}
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/n, "bytes/key")
		runtime.KeepAlive(m)
	}
}

// BenchmarkRedisAllow is one decision against a real local redis-server
// (one EVALSHA round trip), serially and with 50 concurrent callers; then it
// runs redis-benchmark (50 clients) against the same server for comparison
// and logs its figures.
func BenchmarkRedisAllow(b *testing.B) {
	srv := redistest.Start(b)
	c, err := redisconn.New(srv.URL() + "?pool_size=64&read_timeout=2s&write_timeout=2s")
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	s := ratelimit.NewRedis(c, "bench:")
	ctx := context.Background()
	keys := benchKeys(1 << 16)
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if _, err := s.Allow(ctx, keys[i&(1<<16-1)], benchPolicy); err != nil {
				b.Fatal(err)
			}
			i++
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "decisions/s")
	})
	b.Run("parallel-50", func(b *testing.B) {
		b.SetParallelism((50 + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
		var seq atomic.Uint64
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			i := int(seq.Add(1) * 7919)
			for pb.Next() {
				if _, err := s.Allow(ctx, keys[i&(1<<16-1)], benchPolicy); err != nil {
					b.Error(err)
					return
				}
				i++
			}
		})
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "decisions/s")
	})
	b.Run("redis-benchmark", func(b *testing.B) {
		bin, err := exec.LookPath("redis-benchmark")
		if err != nil {
			b.Fatalf("redis-benchmark not on PATH (%v): run scripts/setup.sh", err)
		}
		for b.Loop() {
			_, port, _ := strings.Cut(srv.Addr(), ":")
			out, err := exec.Command(bin, "-h", "127.0.0.1", "-p", port, "-q", "-n", "100000", "-t", "ping,get,set").CombinedOutput()
			if err != nil {
				b.Fatalf("redis-benchmark: %v: %s", err, out)
			}
			var summary []string
			for _, line := range strings.Split(string(out), "\n") {
				// Progress is redrawn with \r; the last part is the result:
				// "GET: 98039.22 requests per second, p50=0.263 msec"
				line = strings.TrimSpace(line[strings.LastIndexByte(line, '\r')+1:])
				if line != "" {
					summary = append(summary, line)
				}
				if name, rest, ok := strings.Cut(line, ": "); ok {
					if f := strings.Fields(rest); len(f) > 0 {
						if v, err := strconv.ParseFloat(f[0], 64); err == nil {
							b.ReportMetric(v, strings.ToLower(strings.Fields(name)[0])+"-req/s")
						}
					}
				}
			}
			b.Logf("redis-benchmark -q -n 100000 -t ping,get,set (50 clients):\n%s", strings.Join(summary, "\n"))
		}
	})
}
