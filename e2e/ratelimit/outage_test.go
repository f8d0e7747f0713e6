package ratelimite2e

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/rtgate/rtgate/internal/ratelimit/redistest"
)

type readiness struct {
	Status string            `json:"status"`
	Checks map[string]string `json:"checks"`
}

func readyz(t *testing.T, in *instance) (int, readiness) {
	t.Helper()
	resp, err := http.Get(in.AdminURL + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var r readiness
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, r
}

// TestRedisOutage kills the shared Redis under a running rtgate for each
// RATE_LIMIT_REDIS_FAILURE policy: the policy holds while it is down, the
// admin /readyz says so, and after a restart rtgate goes back to Redis by
// itself.
func TestRedisOutage(t *testing.T) {
	for _, policy := range []string{"local", "open", "closed"} {
		t.Run(policy, func(t *testing.T) {
			srv := redistest.Start(t)
			in := startRtgate(t, map[string]string{
				"REDIS_URL":                srv.URL(),
				"REDIS_KEY_PREFIX":         "outage:",
				"RATE_LIMIT_MAX_REQUESTS":  "3",
				"RATE_LIMIT_WINDOW_MS":     hourMS,
				"RATE_LIMIT_REDIS_FAILURE": policy,
			})
			c := clientFrom(t, "127.0.0.2")
			for i := range 3 {
				if code, _ := mint(t, c, in.URL, nil); code != http.StatusOK {
					t.Fatalf("request %d with Redis up: %d", i+1, code)
				}
			}
			if code, _ := mint(t, c, in.URL, nil); code != http.StatusTooManyRequests {
				t.Fatalf("4th request with Redis up: %d", code)
			}

			srv.Kill()
			for i := range 5 {
				code, h := do(t, c, in.URL)
				switch policy {
				case "local": // a fresh per-instance limit
					want := http.StatusOK
					if i >= 3 {
						want = http.StatusTooManyRequests
					}
					if code != want {
						t.Fatalf("local, request %d while down: %d; want %d", i+1, code, want)
					}
				case "open":
					if code != http.StatusOK || h.Get("RateLimit-Limit") != "" {
						t.Fatalf("open, request %d while down: %d %v", i+1, code, h)
					}
				case "closed":
					if code != http.StatusServiceUnavailable {
						t.Fatalf("closed, request %d while down: %d", i+1, code)
					}
				}
			}
			status, r := readyz(t, in)
			wantStatus := http.StatusOK
			if policy == "closed" {
				wantStatus = http.StatusServiceUnavailable
			}
			if status != wantStatus || !strings.Contains(r.Checks["ratelimit_store"], policy) {
				t.Fatalf("/readyz while down: %d %+v", status, r)
			}

			srv.Restart()
			// Recovery needs no operator: keep a trickle of traffic from
			// another client and wait for the store to report ok.
			probe := clientFrom(t, "127.0.0.9")
			deadline := time.Now().Add(20 * time.Second)
			for {
				do(t, probe, in.URL)
				if _, r := readyz(t, in); r.Checks["ratelimit_store"] == "ok" {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("did not recover: %+v\n%s", r, in.Logs())
				}
				time.Sleep(100 * time.Millisecond)
			}
			// Decisions are shared again: the restarted (empty) Redis now
			// holds this client's key.
			// (Key names are keyed hashes, never the address: count them.)
			rc := redis.NewClient(&redis.Options{Addr: srv.Addr()})
			defer rc.Close()
			before, err := rc.Keys(context.Background(), "outage:*").Result()
			if err != nil {
				t.Fatal(err)
			}
			fresh := clientFrom(t, "127.0.0.3")
			code, h := mint(t, fresh, in.URL, nil)
			if code != http.StatusOK || h.Get("RateLimit-Remaining") != "2" {
				t.Fatalf("first request after recovery: %d %v", code, h)
			}
			keys, err := rc.Keys(context.Background(), "outage:*").Result()
			if err != nil || len(keys) != len(before)+1 {
				t.Fatalf("Redis keys after the fresh client's request: %v (before %v) %v", keys, before, err)
			}
			for _, k := range keys {
				if strings.Contains(k, "127.0.0") {
					t.Errorf("Redis key %q holds a client address", k)
				}
			}
			if n := strings.Count(in.Logs(), "rate limit store unavailable"); n != 1 {
				t.Fatalf("outage logged %d times; want once", n)
			}
			if n := strings.Count(in.Logs(), "rate limit store recovered"); n != 1 {
				t.Fatalf("recovery logged %d times; want once", n)
			}
		})
	}
}

// do is mint without the status check (503 is expected under "closed").
func do(t *testing.T, c *http.Client, base string) (int, http.Header) {
	t.Helper()
	resp, err := c.Post(base+"/api/realtime-session", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode, resp.Header
}
