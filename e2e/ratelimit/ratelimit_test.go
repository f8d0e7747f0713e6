package ratelimite2e

import (
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rtgate/rtgate/internal/nginxtest"
	"github.com/rtgate/rtgate/internal/ratelimit/redistest"
)

// An hour-long window makes refill negligible during a test: with limit N
// the next request is admitted only after 3600/N seconds.
const hourMS = "3600000"

// TestInstancesShareOneLimit: three rtgate processes on one Redis admit
// exactly the limit in total for one client, whichever instance it hits.
func TestInstancesShareOneLimit(t *testing.T) {
	srv := redistest.Start(t)
	env := map[string]string{
		"REDIS_URL":               srv.URL(),
		"REDIS_KEY_PREFIX":        fmt.Sprintf("e2e%d:", time.Now().UnixNano()),
		"RATE_LIMIT_MAX_REQUESTS": "10",
		"RATE_LIMIT_WINDOW_MS":    hourMS,
	}
	var insts []*instance
	for range 3 {
		insts = append(insts, startRtgate(t, env))
	}
	c := clientFrom(t, "127.0.0.2")

	start := time.Now()
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		admitted int
		denied   []http.Header
	)
	for _, in := range insts {
		wg.Go(func() {
			for range 10 {
				code, h := mint(t, c, in.URL, nil)
				mu.Lock()
				if code == http.StatusOK {
					admitted++
				} else {
					denied = append(denied, h)
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if admitted != 10 || len(denied) != 20 {
		t.Fatalf("admitted %d, denied %d across 3 instances; want 10 and 20", admitted, len(denied))
	}
	for _, h := range denied {
		ra, err := strconv.Atoi(h.Get("Retry-After"))
		// The next admission is one emission interval (3600s/10) after the
		// first, minus the time the burst took, plus at most 10% jitter.
		if err != nil || ra < 360-int(time.Since(start).Seconds())-1 || ra > 360+36 {
			t.Fatalf("Retry-After %q; want about 360 (at most 396)", h.Get("Retry-After"))
		}
		if h.Get("RateLimit-Remaining") != "0" || h.Get("RateLimit-Limit") != "10" || h.Get("RateLimit") == "" {
			t.Fatalf("rate-limit headers on a 429: %v", h)
		}
	}

	// Another client has its own full quota on every instance.
	other := clientFrom(t, "127.0.0.3")
	for i := range 10 {
		if code, _ := mint(t, other, insts[i%3].URL, nil); code != http.StatusOK {
			t.Fatalf("second client request %d: %d", i+1, code)
		}
	}
	if code, _ := mint(t, other, insts[0].URL, nil); code != http.StatusTooManyRequests {
		t.Fatalf("second client 11th request: %d", code)
	}
}

// startNginx runs a real nginx on a free loopback port, proxying /api/ to
// the given rtgate instances with the shipped deploy/nginx/rtgate-proxy.conf.
// It returns the base URL.
func startNginx(t *testing.T, upstreams []*instance) string {
	t.Helper()
	snippet := nginxtest.DeployFile(t, "rtgate-proxy.conf")
	port := nginxtest.FreePort(t)
	var servers strings.Builder
	for _, in := range upstreams {
		fmt.Fprintf(&servers, "    server %s;\n", strings.TrimPrefix(in.URL, "http://"))
	}
	nginxtest.Start(t, fmt.Sprintf(`
  upstream rtgate {
%s    keepalive 4;
  }
  server {
    listen 127.0.0.1:%s;
    location /api/ {
      include %s;
      proxy_pass http://rtgate;
    }
  }`, servers.String(), port, snippet), port)
	return "http://127.0.0.1:" + port
}

// TestNginxInFront: behind the shipped nginx config, the limit follows the
// real client (its socket address as nginx saw it), and forging
// X-Forwarded-For or X-Real-IP gains nothing, in either CLIENT_IP_HEADER
// mode. A client that bypasses nginx cannot forge either.
func TestNginxInFront(t *testing.T) {
	for _, header := range []string{"X-Forwarded-For", "X-Real-IP"} {
		t.Run(header, func(t *testing.T) {
			srv := redistest.Start(t)
			env := map[string]string{
				"REDIS_URL":               srv.URL(),
				"RATE_LIMIT_MAX_REQUESTS": "5",
				"RATE_LIMIT_WINDOW_MS":    hourMS,
				"TRUSTED_PROXIES":         "127.0.0.1",
				"CLIENT_IP_HEADER":        header,
			}
			insts := []*instance{startRtgate(t, env), startRtgate(t, env)}
			front := startNginx(t, insts)

			// The attacker (127.0.0.2) forges a different client on every
			// request, including the victim's address and spoofed chains.
			attacker := clientFrom(t, "127.0.0.2")
			admitted := 0
			for i := range 15 {
				forged := http.Header{}
				forged.Add("X-Forwarded-For", fmt.Sprintf("203.0.113.%d", i))
				forged.Add("X-Forwarded-For", "127.0.0.3, 198.51.100."+strconv.Itoa(i))
				forged.Set("X-Real-IP", "127.0.0.3")
				if i%2 == 0 {
					forged.Set("X-Real-IP", fmt.Sprintf("192.0.2.%d", i))
				}
				if code, _ := mint(t, attacker, front, forged); code == http.StatusOK {
					admitted++
				}
			}
			if admitted != 5 {
				t.Fatalf("forging client admitted %d times; want exactly the limit 5", admitted)
			}

			// The victim, whose address the attacker forged, still has its
			// whole quota: nothing was charged to it.
			victim := clientFrom(t, "127.0.0.3")
			for i := range 5 {
				if code, _ := mint(t, victim, front, nil); code != http.StatusOK {
					t.Fatalf("victim request %d: %d", i+1, code)
				}
			}
			if code, h := mint(t, victim, front, nil); code != http.StatusTooManyRequests || h.Get("Retry-After") == "" {
				t.Fatalf("victim 6th request: %d %v", code, h)
			}

			// Straight to rtgate, bypassing nginx: the peer is not a trusted
			// proxy, so forged headers are ignored and the peer is limited.
			direct := clientFrom(t, "127.0.0.4")
			admitted = 0
			for i := range 10 {
				forged := http.Header{}
				forged.Set("X-Forwarded-For", fmt.Sprintf("203.0.113.%d, 127.0.0.1", i))
				forged.Set("X-Real-IP", fmt.Sprintf("203.0.113.%d", i))
				if code, _ := mint(t, direct, insts[i%2].URL, forged); code == http.StatusOK {
					admitted++
				}
			}
			if admitted != 5 {
				t.Fatalf("direct forging client admitted %d times; want 5", admitted)
			}
		})
	}
}

// TestPreflightsDoNotConsumeQuota: CORS preflights never count against the
// client's limit.
func TestPreflightsDoNotConsumeQuota(t *testing.T) {
	const origin = "https://app.example.com"
	in := startRtgate(t, map[string]string{
		"ALLOWED_ORIGINS":         origin,
		"RATE_LIMIT_MAX_REQUESTS": "3",
		"RATE_LIMIT_WINDOW_MS":    hourMS,
	})
	c := clientFrom(t, "127.0.0.2")
	for i := range 10 {
		req, _ := http.NewRequest(http.MethodOptions, in.URL+"/api/realtime-session", nil)
		req.Header.Set("Origin", origin)
		req.Header.Set("Access-Control-Request-Method", "POST")
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode >= 300 {
			t.Fatalf("preflight %d: %d", i+1, resp.StatusCode)
		}
	}
	h := http.Header{"Origin": {origin}}
	for i := range 3 {
		if code, _ := mint(t, c, in.URL, h); code != http.StatusOK {
			t.Fatalf("request %d after 10 preflights: %d", i+1, code)
		}
	}
	if code, _ := mint(t, c, in.URL, h); code != http.StatusTooManyRequests {
		t.Fatalf("4th request: %d", code)
	}
}

// TestIPv6ClientsAreLimitedByPrefix: behind a trusted proxy (the test
// client plays it from 127.0.0.1), IPv6 clients in one /64 share a limit
// (RATE_LIMIT_IPV6_PREFIX, default 64), another /64 does not, and an
// IPv4-mapped address counts as the IPv4 client.
func TestIPv6ClientsAreLimitedByPrefix(t *testing.T) {
	in := startRtgate(t, map[string]string{
		"TRUSTED_PROXIES":         "127.0.0.1",
		"RATE_LIMIT_MAX_REQUESTS": "3",
		"RATE_LIMIT_WINDOW_MS":    hourMS,
	})
	proxy := clientFrom(t, "127.0.0.1")
	from := func(client string) int {
		code, _ := mint(t, proxy, in.URL, http.Header{"X-Forwarded-For": {client}})
		return code
	}
	for _, c := range []string{"2001:db8:1:2::1", "2001:db8:1:2::ffff", "2001:db8:1:2:aaaa:bbbb:cccc:dddd"} {
		if code := from(c); code != http.StatusOK {
			t.Fatalf("%s: %d", c, code)
		}
	}
	if code := from("2001:db8:1:2::42"); code != http.StatusTooManyRequests {
		t.Fatalf("4th address in the same /64: %d; want 429", code)
	}
	if code := from("2001:db8:1:3::1"); code != http.StatusOK {
		t.Fatalf("another /64: %d", code)
	}
	for range 3 {
		if code := from("198.51.100.7"); code != http.StatusOK {
			t.Fatalf("IPv4 client: %d", code)
		}
	}
	if code := from("::ffff:198.51.100.7"); code != http.StatusTooManyRequests {
		t.Fatalf("IPv4-mapped form of an exhausted IPv4 client: %d; want 429", code)
	}
}

// TestWhitelistMatchesTheResolvedClient: a whitelisted client is never
// limited and gets no rate-limit headers; claiming a whitelisted address in
// a header does not whitelist anyone.
func TestWhitelistMatchesTheResolvedClient(t *testing.T) {
	in := startRtgate(t, map[string]string{
		"RATE_LIMIT_WHITELIST":    "127.0.0.5, 10.0.0.0/8",
		"RATE_LIMIT_MAX_REQUESTS": "2",
		"RATE_LIMIT_WINDOW_MS":    hourMS,
	})
	monitor := clientFrom(t, "127.0.0.5")
	for i := range 10 {
		code, h := mint(t, monitor, in.URL, nil)
		if code != http.StatusOK || h.Get("RateLimit-Limit") != "" || h.Get("RateLimit") != "" {
			t.Fatalf("whitelisted request %d: %d %v", i+1, code, h)
		}
	}
	forger := clientFrom(t, "127.0.0.2")
	claim := http.Header{"X-Forwarded-For": {"127.0.0.5"}, "X-Real-Ip": {"10.1.1.1"}}
	admitted := 0
	for range 5 {
		if code, _ := mint(t, forger, in.URL, claim); code == http.StatusOK {
			admitted++
		}
	}
	if admitted != 2 {
		t.Fatalf("client claiming a whitelisted address admitted %d times; want 2", admitted)
	}
}

// TestShadowModeCountsButDoesNotBlock: with RATE_LIMIT_SHADOW=true nothing
// is refused, and the would-be denials are counted on the admin /metrics.
func TestShadowModeCountsButDoesNotBlock(t *testing.T) {
	in := startRtgate(t, map[string]string{
		"RATE_LIMIT_SHADOW":       "true",
		"RATE_LIMIT_MAX_REQUESTS": "2",
		"RATE_LIMIT_WINDOW_MS":    hourMS,
	})
	c := clientFrom(t, "127.0.0.2")
	for i := range 6 {
		if code, h := mint(t, c, in.URL, nil); code != http.StatusOK || h.Get("Retry-After") != "" {
			t.Fatalf("shadow request %d: %d %v", i+1, code, h)
		}
	}
	resp, err := http.Get(in.AdminURL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, want := range []string{
		`rtgate_ratelimit_decisions_total{outcome="shadow_denied",scope="ip"} 4`,
		`rtgate_ratelimit_decisions_total{outcome="allowed",scope="ip"} 2`,
	} {
		if !strings.Contains(string(b), want) {
			t.Fatalf("/metrics lacks %q", want)
		}
	}
	if !strings.Contains(in.Logs(), "shadow mode") {
		t.Fatalf("shadow denials not logged:\n%s", in.Logs())
	}
}
