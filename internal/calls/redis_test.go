package calls_test

import (
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/rtgate/rtgate/internal/calls"
	"github.com/rtgate/rtgate/internal/calls/callstest"
	"github.com/rtgate/rtgate/internal/ratelimit/redistest"
)

// newClient connects to the redis-server at addr; calls builds no client
// of its own (the caller passes a redis.UniversalClient).
func newClient(tb testing.TB, addr string) redis.UniversalClient {
	c := redis.NewClient(&redis.Options{Addr: addr})
	tb.Cleanup(func() { c.Close() })
	return c
}

var prefixSeq atomic.Int64

func freshPrefix() string { return fmt.Sprintf("test%d:c:", prefixSeq.Add(1)) }

func TestRedisContract(t *testing.T) {
	srv := redistest.Start(t)
	a, b := newClient(t, srv.Addr()), newClient(t, srv.Addr())
	callstest.Run(t, func(t *testing.T) (calls.Store, calls.Store) {
		p := freshPrefix()
		return calls.NewRedis(a, p), calls.NewRedis(b, p)
	})
}

// TestRedisClusterContract runs the contract on a real three-node Redis
// Cluster: every script touches only keys of the registry's one hash tag.
func TestRedisClusterContract(t *testing.T) {
	nodes := redistest.StartCluster(t)
	newCluster := func() redis.UniversalClient {
		c := redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{nodes[0].Addr(), nodes[1].Addr(), nodes[2].Addr()}})
		t.Cleanup(func() { c.Close() })
		return c
	}
	a, b := newCluster(), newCluster()
	callstest.Run(t, func(t *testing.T) (calls.Store, calls.Store) {
		p := freshPrefix()
		return calls.NewRedis(a, p), calls.NewRedis(b, p)
	})
}

func TestRedisKeysHideUsersShareOneTagAndExpire(t *testing.T) {
	srv := redistest.Start(t)
	c := newClient(t, srv.Addr())
	ctx := t.Context()
	s := calls.NewRedis(c, "rtgate:c:")
	now := time.Now().Truncate(time.Millisecond)
	user := "alice@example.com"
	call := callstest.NewCall(user, "inst-a", now.Add(time.Hour))
	if err := s.Add(ctx, call, now); err != nil {
		t.Fatal(err)
	}
	if err := s.Heartbeat(ctx, "inst-a", now.Add(15*time.Second), now); err != nil {
		t.Fatal(err)
	}
	keys, err := c.Keys(ctx, "*").Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 5 {
		t.Fatalf("keys %v, want rec, due, user, owner, alive", keys)
	}
	for _, k := range keys {
		if !strings.HasPrefix(k, "rtgate:c:{calls}:") {
			t.Errorf("key %q outside the prefix and hash tag", k)
		}
		// Redis Cluster hashes the first {...} of a key name.
		if open, end := strings.Index(k, "{"), strings.Index(k, "}"); k[open:end+1] != "{calls}" {
			t.Errorf("key %q hashes on %q, not the registry's tag", k, k[open:end+1])
		}
		// A call keeps its keys until Linger past its deadline, no more.
		ttl, err := c.PTTL(ctx, k).Result()
		if err != nil || ttl <= 0 || ttl > time.Hour+calls.Linger {
			t.Errorf("key %q TTL %v, %v; want (0, 1h+Linger]", k, ttl, err)
		}
		if k == "rtgate:c:{calls}:user" {
			members, _ := c.ZRange(ctx, k, 0, -1).Result()
			for _, m := range members {
				if strings.Contains(m, "alice") || strings.Contains(m, "example") {
					t.Errorf("user index member %q shows the user id", m)
				}
			}
		}
		if strings.Contains(k, "alice") || strings.Contains(k, "example") {
			t.Errorf("key %q shows the user id", k)
		}
	}

	// A later, shorter-lived call never shortens a key's TTL.
	short := callstest.NewCall(user, "inst-a", now.Add(time.Minute))
	if err := s.Add(ctx, short, now); err != nil {
		t.Fatal(err)
	}
	if ttl, err := c.PTTL(ctx, "rtgate:c:{calls}:rec").Result(); err != nil || ttl <= 30*time.Minute+calls.Linger {
		t.Fatalf("record TTL after a shorter call %v, %v; want the longer call's", ttl, err)
	}
	if _, err := s.Remove(ctx, short.ID); err != nil {
		t.Fatal(err)
	}

	// Removing the last call leaves only the liveness entries, which expire
	// with the calls whose owners they name.
	if _, err := s.Remove(ctx, call.ID); err != nil {
		t.Fatal(err)
	}
	keys, _ = c.Keys(ctx, "*").Result()
	if len(keys) != 1 || keys[0] != "rtgate:c:{calls}:alive" {
		t.Fatalf("after the last remove: %v", keys)
	}
	if ttl, _ := c.PTTL(ctx, keys[0]).Result(); ttl <= 0 || ttl > time.Hour+calls.Linger {
		t.Fatalf("liveness TTL %v", ttl)
	}
}
