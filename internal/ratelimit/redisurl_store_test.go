package ratelimit_test

import (
	"context"
	"testing"
	"time"

	"github.com/rtgate/rtgate/internal/ratelimit"
	"github.com/rtgate/rtgate/internal/ratelimit/redistest"
)

// The REDIS_URL forms themselves are tested in internal/redisconn; these
// tests run the rate-limit store through a client built from REDIS_URL
// against a real redis-server: a database number, a password, TLS with a
// private CA, and a Sentinel.

func TestRedisStoreThroughREDIS_URL(t *testing.T) {
	srv := redistest.Start(t)
	c := newClient(t, srv.URL()+"/3")
	if err := c.Ping(context.Background()).Err(); err != nil {
		t.Fatal(err)
	}
	if err := ratelimit.NewRedis(c, "").Ping(context.Background()); err != nil {
		t.Fatal(err)
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

func TestRedisURLSentinelAgainstRealServer(t *testing.T) {
	master := redistest.Start(t)
	sentinel := redistest.StartSentinel(t, master)
	ctx := context.Background()
	s := ratelimit.NewRedis(newClient(t, "redis+sentinel://"+sentinel.Addr()+"?master=mymaster"), "sen:")
	if d, err := s.Allow(ctx, "k", ratelimit.Policy{Limit: 2, Window: time.Minute}); err != nil || !d.Allowed || d.Remaining != 1 {
		t.Fatalf("through sentinel: %+v %v", d, err)
	}
	// The decision was stored on the master the sentinel named.
	keys, err := newClient(t, master.URL()).Keys(ctx, "sen:*").Result()
	if err != nil || len(keys) != 1 {
		t.Fatalf("keys on master: %v %v", keys, err)
	}
}
