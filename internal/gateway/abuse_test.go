package gateway_test

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/rtgate/rtgate/internal/apptest"
	"github.com/rtgate/rtgate/internal/auth/authtest"
	"github.com/rtgate/rtgate/internal/httpx"
)

// TestCrossSiteFetchesAreRefused is the attack of issue 11, item 6: a
// foreign page makes the browser fetch an endpoint that mints, calls or
// erases (an <img>, a no-cors fetch, a sibling subdomain's link). Such a
// request carries no Origin, but the browser's fetch metadata says where it
// came from; it is refused before the rate limit (so it does not burn the
// user's budget either) and never reaches the upstream. A CORS request from
// an allowed origin, a same-origin fetch, a typed-in navigation and a
// client without fetch metadata pass.
func TestCrossSiteFetchesAreRefused(t *testing.T) {
	in := apptest.Start(t, map[string]string{"RATE_LIMIT_MAX_REQUESTS": "1000"})
	refused := []struct {
		name, method, path, body string
		headers                  []string
	}{
		{"cross-site <img> GET mint", "GET", "/api/realtime-session", "", []string{"Sec-Fetch-Site: cross-site", "Sec-Fetch-Mode: no-cors", "Sec-Fetch-Dest: image"}},
		{"cross-site GET mint, metadata site only", "GET", "/api/realtime-session", "", []string{"Sec-Fetch-Site: cross-site"}},
		{"cross-site navigation to the mint", "GET", "/api/realtime-session", "", []string{"Sec-Fetch-Site: cross-site", "Sec-Fetch-Mode: navigate", "Sec-Fetch-Dest: document"}},
		{"same-site (sibling subdomain) no-cors GET", "GET", "/api/realtime-session", "", []string{"Sec-Fetch-Site: same-site", "Sec-Fetch-Mode: no-cors", "Sec-Fetch-Dest: empty"}},
		{"same-origin <script> of the mint", "GET", "/api/realtime-session", "", []string{"Sec-Fetch-Site: same-origin", "Sec-Fetch-Mode: no-cors", "Sec-Fetch-Dest: script"}},
		{"an <iframe> of the mint", "GET", "/api/realtime-session", "", []string{"Sec-Fetch-Site: same-origin", "Sec-Fetch-Mode: navigate", "Sec-Fetch-Dest: iframe"}},
		{"cross-site no-cors POST mint", "POST", "/api/realtime-session", "", []string{"Sec-Fetch-Site: cross-site", "Sec-Fetch-Mode: no-cors"}},
		{"cross-site call", "POST", "/api/realtime-call", testOffer, []string{sdpType, "Sec-Fetch-Site: cross-site", "Sec-Fetch-Mode: no-cors"}},
		{"cross-site erase", "POST", "/api/me/data/delete", "", []string{"Sec-Fetch-Site: cross-site", "Sec-Fetch-Mode: navigate", "Sec-Fetch-Dest: document"}},
		{"cross-site export", "GET", "/api/me/data", "", []string{"Sec-Fetch-Site: cross-site", "Sec-Fetch-Dest: script"}},
	}
	start := in.Sim.Requests()
	for _, tc := range refused {
		t.Run("refuses "+tc.name, func(t *testing.T) {
			before := in.Sim.Requests()
			r := in.Do(t, tc.method, tc.path, tc.body, tc.headers...)
			assertRefused(t, in, r, 403, httpx.CodeForbidden, before)
			if r.Header.Get("RateLimit-Remaining") != "" {
				t.Error("a refused cross-site request consumed rate-limit budget")
			}
		})
	}
	t.Logf("admitted/allowed: %d upstream calls from %d cross-site requests (allowed: 0)", in.Sim.Requests()-start, len(refused))
	passed := []struct {
		name    string
		headers []string
	}{
		{"no fetch metadata (curl, a server, an app)", nil},
		{"same-origin fetch", []string{"Sec-Fetch-Site: same-origin", "Sec-Fetch-Mode: cors", "Sec-Fetch-Dest: empty"}},
		{"typed into the address bar", []string{"Sec-Fetch-Site: none", "Sec-Fetch-Mode: navigate", "Sec-Fetch-Dest: document"}},
		{"CORS fetch from an allowed origin on another site", []string{"Origin: https://app.example.com", "Sec-Fetch-Site: cross-site", "Sec-Fetch-Mode: cors", "Sec-Fetch-Dest: empty"}},
		{"CORS fetch from an allowed origin on the same site", []string{"Origin: https://app.example.com", "Sec-Fetch-Site: same-site", "Sec-Fetch-Mode: cors", "Sec-Fetch-Dest: empty"}},
	}
	for _, tc := range passed {
		t.Run("passes "+tc.name, func(t *testing.T) {
			before := in.Sim.Requests()
			r := in.Do(t, "GET", "/api/realtime-session", "", tc.headers...)
			if r.StatusCode != 200 || in.Sim.Requests() != before+1 {
				t.Fatalf("status %d, upstream calls %d: %s", r.StatusCode, in.Sim.Requests()-before, r.Body)
			}
		})
	}
	t.Run("the demo page and health stay reachable from anywhere", func(t *testing.T) {
		for _, p := range []string{"/healthz", "/readyz"} {
			if r := in.Do(t, "GET", p, "", "Sec-Fetch-Site: cross-site", "Sec-Fetch-Mode: no-cors", "Sec-Fetch-Dest: image"); r.StatusCode != 200 {
				t.Errorf("%s: %d", p, r.StatusCode)
			}
		}
	})
}

// TestGetMintCanBeTurnedOff: with ALLOW_GET_MINT=false only POST mints.
func TestGetMintCanBeTurnedOff(t *testing.T) {
	in := apptest.Start(t, map[string]string{"ALLOW_GET_MINT": "false"})
	before := in.Sim.Requests()
	r := in.Do(t, "GET", "/api/realtime-session", "")
	assertRefused(t, in, r, 405, httpx.CodeMethodNotAllowed, before)
	if r.Header.Get("Allow") != "POST" {
		t.Errorf("Allow = %q", r.Header.Get("Allow"))
	}
	if r := in.Do(t, "POST", "/api/realtime-session", ""); r.StatusCode != 200 || !strings.Contains(r.Body, `"value"`) {
		t.Fatalf("POST: %d %s", r.StatusCode, r.Body)
	}
}

// TestErasureIsNeverRateLimited is issue 11, item 7 for the data rights: a
// user whose per-IP budget is spent may still erase their data (both
// forms); only minting is refused.
func TestErasureIsNeverRateLimited(t *testing.T) {
	secret := strings.Repeat("k", 32)
	in := apptest.Start(t, map[string]string{
		"AUTH_MODE":               "jwt",
		"AUTH_JWT_SECRET":         secret,
		"RATE_LIMIT_MAX_REQUESTS": "2",
	})
	auth := "Authorization: Bearer " + authtest.HS256(t, []byte(secret), "", authtest.Claims("user-1", "", "", time.Now()))
	for i := range 2 {
		if r := in.Do(t, "POST", "/api/realtime-session", "", auth); r.StatusCode != 200 {
			t.Fatalf("mint %d: %d %s", i+1, r.StatusCode, r.Body)
		}
	}
	before := in.Sim.Requests()
	assertRefused(t, in, in.Do(t, "POST", "/api/realtime-session", "", auth), 429, httpx.CodeRateLimited, before)
	erasures := []struct{ method, path string }{{"POST", "/api/me/data/delete"}, {"DELETE", "/api/me/data"}, {"POST", "/api/me/data/delete"}}
	refused := 0
	for _, e := range erasures {
		r := in.Do(t, e.method, e.path, "", auth)
		if r.StatusCode != 200 || !strings.Contains(r.Body, `"sessions"`) {
			refused++
			t.Errorf("%s %s with the budget spent: %d %s", e.method, e.path, r.StatusCode, r.Body)
		}
	}
	if in.Sim.Requests() != before {
		t.Error("erasure called the upstream")
	}
	t.Logf("erasures with the per-IP budget spent: %d answered, %d refused by a rate limit", len(erasures)-refused, refused)
}

// TestRateLimitBurst is issue 11, item 9: RATE_LIMIT_BURST=1 makes the
// per-IP limit strict (N in any window, not up to 2N-1): the second
// request at once is refused for one emission interval, and the headers
// say so.
func TestRateLimitBurst(t *testing.T) {
	in := apptest.Start(t, map[string]string{"RATE_LIMIT_MAX_REQUESTS": "3", "RATE_LIMIT_WINDOW_MS": "60000", "RATE_LIMIT_BURST": "1"})
	r := in.Do(t, "POST", "/api/realtime-session", "")
	if r.StatusCode != 200 || r.Header.Get("RateLimit-Remaining") != "0" || r.Header.Get("RateLimit-Limit") != "3" {
		t.Fatalf("first: %d remaining %q limit %q", r.StatusCode, r.Header.Get("RateLimit-Remaining"), r.Header.Get("RateLimit-Limit"))
	}
	before := in.Sim.Requests()
	r = in.Do(t, "POST", "/api/realtime-session", "")
	assertRefused(t, in, r, 429, httpx.CodeRateLimited, before)
	if ra := r.Header.Get("Retry-After"); ra != "20" && ra != "21" && ra != "22" {
		t.Errorf("Retry-After = %q, want one interval (20 s) plus jitter", ra)
	}
}

// TestHeaderLimitIsMaxHeaderBytesPlus4096 pins what MAX_HEADER_BYTES means
// on HTTP/1.1 (issue 11, item 11): net/http reads a request head — request
// line, header lines and the blank line — of at most MAX_HEADER_BYTES +
// 4096 bytes and answers 431 beyond. The README states it; this test
// notices if Go changes it.
func TestHeaderLimitIsMaxHeaderBytesPlus4096(t *testing.T) {
	in := apptest.Start(t, map[string]string{"MAX_HEADER_BYTES": "4096"})
	status := func(total int) int {
		t.Helper()
		c, err := net.Dial("tcp", strings.TrimPrefix(in.URL, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		head, tail := "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Pad: ", "\r\n\r\n"
		if _, err := io.WriteString(c, head+strings.Repeat("a", total-len(head)-len(tail))+tail); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if s := status(4096 + 4096); s != 200 {
		t.Errorf("a head of MAX_HEADER_BYTES+4096 bytes: %d, want 200", s)
	}
	if s := status(4096 + 4096 + 1); s != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("a head of MAX_HEADER_BYTES+4097 bytes: %d, want 431", s)
	}
}
