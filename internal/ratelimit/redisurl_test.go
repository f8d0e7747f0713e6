package ratelimit_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rtgate/rtgate/internal/ratelimit"
	"github.com/rtgate/rtgate/internal/ratelimit/redistest"
)

func TestParseRedisURL(t *testing.T) {
	tests := []struct {
		url                string
		addrs              string
		user, pass, master string
		db                 int
		tls, cluster       bool
		read               time.Duration
	}{
		{url: "redis://localhost:6379", addrs: "localhost:6379", read: 150 * time.Millisecond},
		{url: "redis://h", addrs: "h:6379", read: 150 * time.Millisecond},
		{url: "redis://:s3cret@h:6380/2", addrs: "h:6380", pass: "s3cret", db: 2, read: 150 * time.Millisecond},
		{url: "rediss://app:p%40ss@cache.example:6380?read_timeout=1s", addrs: "cache.example:6380", user: "app", pass: "p@ss", tls: true, read: time.Second},
		{url: "redis://a:1,b:2,c:3", addrs: "a:1,b:2,c:3", cluster: true, read: 150 * time.Millisecond},
		{url: "redis+cluster://seed:7000", addrs: "seed:7000", cluster: true, read: 150 * time.Millisecond},
		{url: "redis+sentinel://:pw@s1,s2:26380/1?master=mymaster", addrs: "s1:26379,s2:26380", pass: "pw", master: "mymaster", db: 1, read: 150 * time.Millisecond},
		{url: "redis://[::1]:6379", addrs: "[::1]:6379", read: 150 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			o, err := ratelimit.ParseRedisURL(tt.url)
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(o.Addrs, ","); got != tt.addrs {
				t.Errorf("addrs %q; want %q", got, tt.addrs)
			}
			if o.Username != tt.user || o.Password != tt.pass || o.MasterName != tt.master || o.DB != tt.db {
				t.Errorf("user %q pass %q master %q db %d", o.Username, o.Password, o.MasterName, o.DB)
			}
			if (o.TLSConfig != nil) != tt.tls || o.IsClusterMode != tt.cluster || o.ReadTimeout != tt.read {
				t.Errorf("tls %v cluster %v read %v", o.TLSConfig != nil, o.IsClusterMode, o.ReadTimeout)
			}
			if o.DialTimeout != 250*time.Millisecond || o.MaxRetries != -1 {
				t.Errorf("dial %v retries %d", o.DialTimeout, o.MaxRetries)
			}
		})
	}
}

func TestParseRedisURLErrorsNeverEchoThePassword(t *testing.T) {
	for _, u := range []string{
		"http://:hunter2@h",
		"redis://:hunter2@h/db",
		"redis+sentinel://:hunter2@h",
		"redis://:hunter2@h?dial_timeout=soon",
		"redis://:hunter2@a:1,b:2/3",
		"redis://:hunter2@",
		"redis://:hunter2@h\x7f",
	} {
		_, err := ratelimit.ParseRedisURL(u)
		if err == nil {
			t.Errorf("%q accepted", u)
			continue
		}
		if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("error leaks the password: %v", err)
		}
	}
}

func TestNewUniversalFromURLTalksToRedis(t *testing.T) {
	srv := redistest.Start(t)
	c := newClient(t, srv.URL()+"/3")
	if err := c.Ping(context.Background()).Err(); err != nil {
		t.Fatal(err)
	}
	if err := ratelimit.NewRedis(c, "").Ping(context.Background()); err != nil {
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

func TestRedisURLAuthAgainstRealServer(t *testing.T) {
	srv := redistest.Start(t, "--requirepass", "s3cret")
	ctx := context.Background()
	p := ratelimit.Policy{Limit: 1, Window: time.Minute}
	if _, err := ratelimit.NewRedis(newClient(t, srv.URL()), "").Allow(ctx, "k", p); err == nil {
		t.Fatal("no password: accepted")
	}
	wrong := "redis://:nope@" + srv.Addr()
	if _, err := ratelimit.NewRedis(newClient(t, wrong), "").Allow(ctx, "k", p); err == nil {
		t.Fatal("wrong password: accepted")
	}
	right := "redis://:s3cret@" + srv.Addr()
	if d, err := ratelimit.NewRedis(newClient(t, right), "").Allow(ctx, "k", p); err != nil || !d.Allowed {
		t.Fatalf("right password: %+v %v", d, err)
	}
}

func TestRedisURLTLSAgainstRealServer(t *testing.T) {
	srv := redistest.StartTLS(t)
	ctx := context.Background()
	p := ratelimit.Policy{Limit: 1, Window: time.Minute}
	if d, err := ratelimit.NewRedis(newClient(t, srv.URL()), "").Allow(ctx, "k", p); err != nil || !d.Allowed {
		t.Fatalf("rediss with the server's CA: %+v %v", d, err)
	}
	// Without the private CA the certificate is not trusted.
	if _, err := ratelimit.NewRedis(newClient(t, "rediss://"+srv.Addr()), "").Allow(ctx, "k", p); err == nil {
		t.Fatal("untrusted certificate accepted")
	}
	// Plain text to a TLS-only port fails.
	if _, err := ratelimit.NewRedis(newClient(t, "redis://"+srv.Addr()), "").Allow(ctx, "k", p); err == nil {
		t.Fatal("plain text to the TLS port accepted")
	}
}

func TestParseRedisURLRejectsUnknownAndMisplacedParameters(t *testing.T) {
	for _, u := range []string{
		"redis://h?read_timout=1s",
		"redis://h?tls_ca_file=/etc/ssl/ca.pem",
		"rediss://h?tls_ca_file=/nonexistent/ca.pem",
		"redis://h?max_retries=-2",
	} {
		if _, err := ratelimit.ParseRedisURL(u); err == nil {
			t.Errorf("%q accepted", u)
		}
	}
}

func TestRedisURLSentinelAgainstRealServer(t *testing.T) {
	master := redistest.Start(t)
	sentinel := redistest.StartSentinel(t, master)
	ctx := context.Background()
	s := ratelimit.NewRedis(newClient(t, "redis+sentinel://"+sentinel.Addr()+"?master=mymaster"), "sen:")
	if d, err := s.Allow(ctx, "k", ratelimit.Policy{Limit: 2, Window: time.Minute}); err != nil || !d.Allowed || d.Remaining != 1 {
		t.Fatalf("through sentinel: %+v %v", d, err)
	}
	// The decision was stored on the master the sentinel named.
	n, err := newClient(t, master.URL()).Exists(ctx, "sen:k").Result()
	if err != nil || n != 1 {
		t.Fatalf("key on master: %d %v", n, err)
	}
}
