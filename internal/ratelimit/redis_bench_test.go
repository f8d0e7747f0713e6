package ratelimit_test

import (
	"context"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/rtgate/rtgate/internal/ratelimit"
	"github.com/rtgate/rtgate/internal/ratelimit/redistest"
	"github.com/rtgate/rtgate/internal/redisconn"
)

// The Redis benchmark lives apart from bench_test.go, whose in-memory hot
// path benchmarks scripts/bench-micro.sh also builds against older trees
// (which have no redisconn).

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
