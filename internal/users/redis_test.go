package users_test

import (
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/rtgate/rtgate/internal/ratelimit/redistest"
	"github.com/rtgate/rtgate/internal/redisconn"
	"github.com/rtgate/rtgate/internal/users"
	"github.com/rtgate/rtgate/internal/users/userstest"
)

func newClient(t *testing.T, url string) redis.UniversalClient {
	t.Helper()
	c, err := newClientTB(t, url)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func newClientTB(tb testing.TB, url string) (redis.UniversalClient, error) {
	c, err := redisconn.New(url)
	if err != nil {
		return nil, err
	}
	tb.Cleanup(func() { c.Close() })
	return c, nil
}

var prefixSeq atomic.Int64

func TestRedisContract(t *testing.T) {
	srv := redistest.Start(t)
	a, b := newClient(t, srv.URL()), newClient(t, srv.URL())
	userstest.Run(t, func(t *testing.T) (users.Store, users.Store) {
		prefix := fmt.Sprintf("test%d:", prefixSeq.Add(1))
		return users.NewRedis(a, prefix), users.NewRedis(b, prefix)
	})
}

func TestRedisKeysHideUserIDsAndExpire(t *testing.T) {
	srv := redistest.Start(t)
	c := newClient(t, srv.URL())
	s := users.NewRedis(c, "rtgate:")
	ctx := t.Context()
	now := time.Now()
	user := "alice@example.com"
	if _, err := s.Admit(ctx, user, now, users.Limits{MaxActive: 3, DailyQuota: 3}, "r1", now.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	rec := users.Record{UserID: user, SessionID: "sess_1", CreatedAt: now, ExpiresAt: now.Add(time.Minute), ActiveUntil: now.Add(time.Hour)}
	if err := s.Commit(ctx, user, "r1", rec, now, 24*time.Hour); err != nil {
		t.Fatal(err)
	}
	keys, err := c.Keys(ctx, "*").Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 3 {
		t.Fatalf("keys %v, want active, day and records", keys)
	}
	for _, k := range keys {
		if !strings.HasPrefix(k, "rtgate:s:{") {
			t.Errorf("key %q outside the prefix", k)
		}
		for _, part := range []string{"alice", "example"} {
			if strings.Contains(k, part) {
				t.Errorf("key %q shows the user id", k)
			}
		}
		ttl, err := c.PTTL(ctx, k).Result()
		if err != nil || ttl <= 0 || ttl > 48*time.Hour {
			t.Errorf("key %q TTL %v, %v", k, ttl, err)
		}
	}
}
