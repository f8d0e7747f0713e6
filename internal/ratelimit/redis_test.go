package ratelimit_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/rtgate/rtgate/internal/ratelimit"
	"github.com/rtgate/rtgate/internal/ratelimit/redistest"
	"github.com/rtgate/rtgate/internal/ratelimit/storetest"
	"github.com/rtgate/rtgate/internal/redisconn"
)

func newClient(t *testing.T, url string) redis.UniversalClient {
	t.Helper()
	c, err := redisconn.New(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

var prefixSeq atomic.Int64

func freshPrefix(t *testing.T) string {
	return fmt.Sprintf("test:%d:%s:", prefixSeq.Add(1), t.Name())
}

func TestRedisContract(t *testing.T) {
	srv := redistest.Start(t)
	client := newClient(t, srv.URL())
	clock := storetest.NewClock()
	storetest.Run(t, func(t *testing.T) ratelimit.Store {
		return ratelimit.NewRedisWithClock(client, freshPrefix(t), clock.Now)
	}, clock.Advance)
}

// TestRedisUsesServerTime runs without a clock override: the numbers that do
// not depend on the current time must be exact, and the rest bounded.
func TestRedisUsesServerTime(t *testing.T) {
	srv := redistest.Start(t)
	client := newClient(t, srv.URL())
	s := ratelimit.NewRedis(client, freshPrefix(t))
	ctx := context.Background()
	p := ratelimit.Policy{Limit: 10, Window: time.Hour}
	d, err := s.Allow(ctx, "k", p)
	if err != nil || !d.Allowed || d.Remaining != 9 || d.ResetAfter != 6*time.Minute {
		t.Fatalf("first: %+v %v", d, err)
	}
	for range 9 {
		if d, err = s.Allow(ctx, "k", p); err != nil || !d.Allowed {
			t.Fatalf("%+v %v", d, err)
		}
	}
	d, err = s.Allow(ctx, "k", p)
	if err != nil || d.Allowed || d.RetryAfter <= 0 || d.RetryAfter > 6*time.Minute {
		t.Fatalf("11th: %+v %v", d, err)
	}
}

// TestRedisKeysAreKeyedHashes (issue 11, item 11): what Redis holds names
// neither the client address nor the user id — only the scope and a keyed
// hash, under the prefix, with no Cluster hash tag (a user id with braces
// cannot pin keys to one slot) — and expires when replenished. Instances
// with the same secret share keys; another secret gives other keys.
func TestRedisKeysAreKeyedHashes(t *testing.T) {
	srv := redistest.Start(t)
	client := newClient(t, srv.URL())
	ctx := context.Background()
	secret := []byte("ip-hash:0123456789abcdef0123456789abcdef")
	s := ratelimit.NewRedis(client, "myapp:rl:", ratelimit.WithKeySecret(secret))
	p := ratelimit.Policy{Limit: 10, Window: time.Minute}
	for _, k := range []string{"ip:192.0.2.1", "ip:2001:db8::/64", "user:alice@example.com", "user:{evil}"} {
		if _, err := s.Allow(ctx, k, p); err != nil {
			t.Fatal(err)
		}
	}
	keys, err := client.Keys(ctx, "*").Result()
	if err != nil || len(keys) != 4 {
		t.Fatalf("keys = %v, %v", keys, err)
	}
	shape := regexp.MustCompile(`^myapp:rl:(ip|user):[0-9a-f]{32}$`)
	for _, k := range keys {
		if !shape.MatchString(k) {
			t.Errorf("key %q is not <prefix><scope>:<32 hex digits>", k)
		}
		for _, raw := range []string{"192.0.2.1", "2001:db8", "alice", "evil", "{", "}"} {
			if strings.Contains(k, raw) {
				t.Errorf("key %q holds %q", k, raw)
			}
		}
		ttl, err := client.PTTL(ctx, k).Result()
		if err != nil || ttl <= 0 || ttl > 6*time.Second {
			t.Fatalf("TTL = %v, %v; want (0, 6s] (time to full replenishment)", ttl, err)
		}
	}
	// Same secret, another instance: the same counter.
	burst := ratelimit.NewRedis(newClient(t, srv.URL()), "myapp:rl:", ratelimit.WithKeySecret(secret))
	for range 9 {
		if _, err := burst.Allow(ctx, "ip:192.0.2.1", p); err != nil {
			t.Fatal(err)
		}
	}
	if d, err := s.Allow(ctx, "ip:192.0.2.1", p); err != nil || d.Allowed {
		t.Fatalf("the 11th request across two instances: %+v %v", d, err)
	}
	// Another secret: other keys.
	other := ratelimit.NewRedis(client, "myapp:rl:", ratelimit.WithKeySecret([]byte("another secret, another deployment")))
	if d, err := other.Allow(ctx, "ip:192.0.2.1", p); err != nil || !d.Allowed || d.Remaining != 9 {
		t.Fatalf("another secret shares the key: %+v %v", d, err)
	}
	if s2 := ratelimit.NewRedis(client, ""); s2 == nil {
		t.Fatal("nil store")
	}
}

// TestTwoInstancesShareOneLimit: two stores on two clients (as two rtgate
// instances would be) admit exactly Limit requests in total.
func TestTwoInstancesShareOneLimit(t *testing.T) {
	srv := redistest.Start(t)
	prefix := freshPrefix(t)
	a := ratelimit.NewRedis(newClient(t, srv.URL()), prefix)
	b := ratelimit.NewRedis(newClient(t, srv.URL()), prefix)
	p := ratelimit.Policy{Limit: 10, Window: time.Hour}
	admitted := 0
	for i := range 40 {
		s := a
		if i%2 == 1 {
			s = b
		}
		d, err := s.Allow(context.Background(), "ip:198.51.100.1", p)
		if err != nil {
			t.Fatal(err)
		}
		if d.Allowed {
			admitted++
		}
	}
	if admitted != 10 {
		t.Fatalf("admitted %d across two instances; want 10", admitted)
	}
}

// TestMemoryAndRedisAgree replays one random workload against both stores
// with the same clock and requires identical decisions.
func TestMemoryAndRedisAgree(t *testing.T) {
	srv := redistest.Start(t)
	clock := storetest.NewClock()
	mem := ratelimit.NewMemory(ratelimit.MemoryOptions{Now: clock.Now})
	red := ratelimit.NewRedisWithClock(newClient(t, srv.URL()), freshPrefix(t), clock.Now)
	policies := []ratelimit.Policy{
		{Limit: 10, Window: time.Minute},
		{Limit: 7, Window: 13 * time.Second},
		{Limit: 1, Window: time.Second},
		{Limit: 1000, Window: 24 * time.Hour},
		{Limit: 10, Window: time.Minute, Burst: 1},
		{Limit: 7, Window: 13 * time.Second, Burst: 3},
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 2000 {
		p := policies[rng.IntN(len(policies))]
		key := fmt.Sprintf("k%d-%d-%d", rng.IntN(5), p.Limit, p.Burst)
		clock.Advance(time.Duration(rng.Int64N(int64(3 * time.Second))))
		dm, err := mem.Allow(context.Background(), key, p)
		if err != nil {
			t.Fatal(err)
		}
		dr, err := red.Allow(context.Background(), key, p)
		if err != nil {
			t.Fatal(err)
		}
		if dm != dr {
			t.Fatalf("step %d (%s %+v): memory %+v, redis %+v", i, key, p, dm, dr)
		}
	}
}

// TestRedisClusterContract runs the store contract on a real three-node
// Redis Cluster reached through REDIS_URL with several addresses.
func TestRedisClusterContract(t *testing.T) {
	nodes := redistest.StartCluster(t)
	url := "redis://" + nodes[0].Addr() + "," + nodes[1].Addr() + "," + nodes[2].Addr()
	client := newClient(t, url)
	if _, ok := client.(*redis.ClusterClient); !ok {
		t.Fatalf("REDIS_URL with three addresses gave %T; want a cluster client", client)
	}
	clock := storetest.NewClock()
	storetest.Run(t, func(t *testing.T) ratelimit.Store {
		return ratelimit.NewRedisWithClock(client, freshPrefix(t), clock.Now)
	}, clock.Advance)
}
