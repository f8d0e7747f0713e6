package audit

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestJudgeHSTS(t *testing.T) {
	cases := []struct {
		v  string
		ok bool
	}{
		{"max-age=31536000", true},
		{"max-age=31536000; includeSubDomains; preload", true},
		{`max-age="15552000"`, true},
		{"includeSubDomains; max-age=63072000", true},
		{"max-age=300", false},
		{"max-age=0", false},
		{"includeSubDomains", false},
		{"max-age=forever", false},
	}
	for _, tc := range cases {
		if got := judgeHSTS(tc.v) == ""; got != tc.ok {
			t.Errorf("%q: sound=%v, want %v", tc.v, got, tc.ok)
		}
	}
}

func TestJudgeCSP(t *testing.T) {
	cases := []struct {
		v  string
		ok bool
	}{
		{"default-src 'self'", true},
		{"default-src 'none'; frame-ancestors 'none'", true},
		{"frame-ancestors 'none'", true},
		{"default-src *", false},
		{"default-src 'self' 'unsafe-eval'", false},
		{"script-src 'self'", false},
	}
	for _, tc := range cases {
		if got := judgeCSP(tc.v) == ""; got != tc.ok {
			t.Errorf("%q: sound=%v, want %v", tc.v, got, tc.ok)
		}
	}
}

func TestLeaks(t *testing.T) {
	cases := []struct {
		name string
		body string
		want string // "" means clean
	}{
		{"rtgate's generic error is clean", `{"error":{"code":"bad_request","message":"The request is invalid.","request_id":"f3a9c1d2e4b5a6c7"}}`, ""},
		{"a URL is not a file path", `{"docs":"https://example.com/var/docs"}`, ""},
		{"a URL path is not a file path", `{"error":"not found","path":"/app/settings"}`, ""},
		{"Node stack from a container's /app", "Error: boom\n    at handler (/app/route.js:10:5)", "a JavaScript stack trace"},
		{"Go panic", "panic: runtime error\n\ngoroutine 7 [running]:\nmain.f()", "a Go stack trace"},
		{"Go file and line", "at handler.go:42", "a Go stack trace"},
		{"Node stack", "TypeError: x is undefined\n    at handler (/srv/app/route.js:10:5)", "a JavaScript stack trace"},
		{"node_modules", "Error in node_modules/next/dist/server.js", "a JavaScript stack trace"},
		{"Python traceback", "Traceback (most recent call last):\n  File \"app.py\", line 3", "a Python traceback"},
		{"Java stack", "Exception in thread \"main\" java.lang.NullPointerException", "a Java stack trace"},
		{"Unix path", `{"error":"open /home/deploy/.env: permission denied"}`, "a file path"},
		{"Windows path", `{"error":"C:\\Users\\deploy\\app"}`, "a file path"},
		{"OpenAI key", `{"error":"invalid key sk-proj-AbCdEf0123456789"}`, "an OpenAI key-like string"},
		{"ephemeral secret in an error", `{"error":"ek_68af0123456789abcdef expired"}`, "an ephemeral secret-like string"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := Leaks(tc.body)
			if tc.want == "" {
				if len(got) != 0 {
					t.Fatalf("flagged %v", got)
				}
				return
			}
			if !slices.Contains(got, tc.want) {
				t.Fatalf("got %v, want %q among them", got, tc.want)
			}
		})
	}
}

func TestLookalikesNeverIncludeTheOriginItself(t *testing.T) {
	got := Lookalikes("https://app.example.com")
	want := []string{"https://app.example.com.evil.example", "https://evilapp.example.com", "https://evil-app.example.com", "http://app.example.com"}
	if !slices.Equal(got, want) {
		t.Fatalf("got %v", got)
	}
	if slices.Contains(Lookalikes("http://localhost:3000"), "http://localhost:3000") {
		t.Fatal("look-alikes contain the origin")
	}
}

func TestValidRetryAfter(t *testing.T) {
	cases := map[string]bool{"60": true, "1": true, "0": false, "-1": false, "": false, "soon": false, "Wed, 21 Oct 2026 07:28:00 GMT": true}
	for v, want := range cases {
		if got := validRetryAfter(v); got != want {
			t.Errorf("%q: %v, want %v", v, got, want)
		}
	}
}

// near is a deployment that is sound except for the flaws its fields turn
// on, so each check can be seen to fail for its own reason alone. Sound, it
// mints only for a request carrying credentials (a bearer token).
type near struct {
	allowed      string
	matches      func(origin, allowed string) bool
	noRetryAfter bool
	anonymous    bool // mints without credentials
	originOnly   bool // refuses requests without Origin, mints for an allowed one without credentials
	limit        int64
	n            atomic.Int64
}

func (s *near) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	for _, kv := range [][2]string{
		{"Strict-Transport-Security", "max-age=31536000"}, {"X-Content-Type-Options", "nosniff"}, {"X-Frame-Options", "DENY"},
		{"X-XSS-Protection", "1; mode=block"}, {"Referrer-Policy", "strict-origin-when-cross-origin"},
		{"Permissions-Policy", "microphone=(self)"}, {"Content-Security-Policy", "default-src 'self'"},
	} {
		h.Set(kv[0], kv[1])
	}
	if o := r.Header.Get("Origin"); o != "" {
		if !s.matches(o, s.allowed) {
			w.WriteHeader(http.StatusForbidden)
			return
		}
		h.Set("Access-Control-Allow-Origin", o)
		if r.Method == http.MethodOptions {
			h.Set("Access-Control-Allow-Methods", "GET, POST")
			h.Set("Access-Control-Max-Age", "600")
			w.WriteHeader(http.StatusNoContent)
			return
		}
	}
	if r.URL.Path != "/api/realtime-session" {
		w.WriteHeader(http.StatusNotFound)
		return
	}
	if r.Method != http.MethodPost {
		w.WriteHeader(http.StatusMethodNotAllowed)
		return
	}
	if s.n.Add(1) > s.limit {
		if !s.noRetryAfter {
			h.Set("Retry-After", "30")
		}
		w.WriteHeader(http.StatusTooManyRequests)
		return
	}
	if r.ContentLength > 4096 {
		w.WriteHeader(http.StatusRequestEntityTooLarge)
		return
	}
	if r.Header.Get("Content-Type") != "application/json" {
		w.WriteHeader(http.StatusUnsupportedMediaType)
		return
	}
	switch hasOrigin := r.Header.Get("Origin") != ""; {
	case s.originOnly && !hasOrigin:
		w.WriteHeader(http.StatusForbidden)
		return
	case s.anonymous, s.originOnly && hasOrigin:
	case !strings.HasPrefix(r.Header.Get("Authorization"), "Bearer "):
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	_, _ = io.Copy(io.Discard, r.Body)
	_, _ = io.WriteString(w, `{"value":"ek_0123456789abcdef"}`)
}

func exact(o, allowed string) bool { return o == allowed }

func TestEachFlawFailsItsOwnCheck(t *testing.T) {
	cases := []struct {
		name  string
		srv   *near
		check string
		why   string
	}{
		{"prefix origin matcher", &near{matches: strings.HasPrefix, limit: 5}, CheckCORSLookalik, "app.example.com.evil.example"},
		{"substring origin matcher", &near{matches: func(o, a string) bool { return strings.Contains(o, strings.TrimPrefix(a, "https://")) }, limit: 5}, CheckCORSLookalik, "evilapp.example.com"},
		{"scheme-blind origin matcher", &near{matches: func(o, a string) bool {
			return strings.TrimPrefix(strings.TrimPrefix(o, "http://"), "https://") == strings.TrimPrefix(a, "https://")
		}, limit: 5}, CheckCORSLookalik, "http://app.example.com"},
		{"null accepted", &near{matches: func(o, a string) bool { return o == a || o == "null" }, limit: 5}, CheckCORSNull, "null"},
		{"429 without Retry-After", &near{matches: exact, limit: 5, noRetryAfter: true}, CheckRateLimit, "Retry-After"},
		{"anyone can mint", &near{matches: exact, limit: 8, anonymous: true}, CheckAnonymous,
			"POST without Origin or credentials → 200, a token: anyone on the internet can mint; require authentication (rtgate: AUTH_MODE=jwt or AUTH_MODE=forward)"},
		{"Origin is the only gate", &near{matches: exact, limit: 8, originOnly: true}, CheckAnonymous,
			"POST without Origin or credentials → 403, but POST with Origin: https://app.example.com and no credentials → 200, a token: Origin is not authentication"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.srv.allowed = "https://app.example.com"
			srv := httptest.NewServer(tc.srv)
			t.Cleanup(srv.Close)
			rep := Run(context.Background(), Options{URL: srv.URL, Origin: "https://app.example.com", BurstCap: 20})
			for _, c := range rep.Checks {
				switch {
				case c.Name == tc.check:
					if c.Status != Fail || !strings.Contains(c.Reason, tc.why) {
						t.Errorf("%s: %s %q, want FAIL naming %q", c.Name, c.Status, c.Reason, tc.why)
					}
				case c.Name == CheckHTTPS || c.Name == CheckCertificate || c.Name == CheckTLSFloor || c.Name == CheckTLSCiphers || c.Name == CheckRedirect || c.Name == HeaderCheckPrefix+"Strict-Transport-Security":
					// plain-HTTP test server: these fail by construction
				case c.Status != Pass:
					t.Errorf("%s: %s %q, want PASS (only %s is flawed)", c.Name, c.Status, c.Reason, tc.check)
				}
			}
		})
	}
}

// TestAnonymousMintingNeedsEveryProbeRefused: what the check makes of each
// answer to its credential-less POSTs.
func TestAnonymousMintingNeedsEveryProbeRefused(t *testing.T) {
	cases := []struct {
		name         string
		withOrigin   bool
		noOrigin     int // status without Origin
		allowed      int // status with the allowed Origin
		want         Status
		reason       string
		requestsSent int
	}{
		{"401 both ways passes", true, 401, 401, Pass, "POST without Origin or credentials → 401; POST with Origin: https://app.example.com and no credentials → 401", 2},
		{"403 both ways passes", true, 403, 403, Pass, "→ 403; POST with Origin", 2},
		{"without --origin one probe decides", false, 401, 200, Pass, "POST without Origin or credentials → 401", 1},
		{"a token for no one fails at once", true, 200, 401, Fail, "anyone on the internet can mint", 1},
		{"a 201 call counts as minting", true, 201, 401, Fail, "→ 201, a token", 1},
		{"a token for the allowed Origin fails", true, 403, 200, Fail, "Origin is not authentication", 2},
		{"429 cannot be judged", true, 429, 401, Skip, "429 before authentication was judged", 1},
		{"a 400 shows no refusal of credentials", true, 401, 400, Skip, "→ 400: neither a token nor a refusal", 2},
		{"a 502 shows no refusal of credentials", true, 502, 401, Skip, "→ 502", 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var hits atomic.Int64
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				hits.Add(1)
				if r.Header.Get("Authorization") != "" || r.Header.Get("Cookie") != "" {
					t.Errorf("the probe sent credentials")
				}
				if r.Header.Get("Origin") == "" {
					w.WriteHeader(tc.noOrigin)
				} else {
					w.WriteHeader(tc.allowed)
				}
			}))
			t.Cleanup(srv.Close)
			o := Options{URL: srv.URL, Timeout: 10 * time.Second}
			if tc.withOrigin {
				o.Origin = "https://app.example.com"
			}
			u, _ := url.Parse(srv.URL)
			a := &auditor{o: o, base: u, endpoint: DefaultEndpoint, rep: &Report{}}
			a.client = a.newClient()
			a.checkAnonymous(context.Background())
			got := a.rep.Result(CheckAnonymous)
			if got.Status != tc.want || !strings.Contains(got.Reason, tc.reason) {
				t.Errorf("%s %q, want %s containing %q", got.Status, got.Reason, tc.want, tc.reason)
			}
			if a.rep.RequestsSent != tc.requestsSent || hits.Load() != int64(tc.requestsSent) {
				t.Errorf("sent %d (server saw %d), want %d", a.rep.RequestsSent, hits.Load(), tc.requestsSent)
			}
		})
	}
}
