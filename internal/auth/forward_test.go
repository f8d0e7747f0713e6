package auth_test

import (
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rtgate/rtgate/internal/auth"
)

// sessionService is a stand-in for an existing app's session endpoint: it
// knows a few cookies and tokens and answers like Rails or Next.js would.
type sessionService struct {
	*httptest.Server
	calls atomic.Int64
	mu    sync.Mutex
	last  http.Header
}

func newSessionService(t *testing.T) *sessionService {
	s := &sessionService{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.calls.Add(1)
		s.mu.Lock()
		s.last = r.Header.Clone()
		s.mu.Unlock()
		c, _ := r.Cookie("_app_session")
		authz := r.Header.Get("Authorization")
		switch {
		case c != nil && c.Value == "alice-session", authz == "Bearer alice-api-token":
			w.Header().Set("X-User-ID", "alice")
			w.WriteHeader(http.StatusNoContent)
		case c != nil && c.Value == "bob-session":
			w.Header().Set("X-User-ID", "bob")
			w.WriteHeader(http.StatusOK)
		case c != nil && c.Value == "no-header":
			w.WriteHeader(http.StatusOK)
		case c != nil && c.Value == "two-headers":
			w.Header().Add("X-User-ID", "alice")
			w.Header().Add("X-User-ID", "bob")
			w.WriteHeader(http.StatusOK)
		case c != nil && c.Value == "wrong-header":
			w.Header().Set("X-Remote-User", "alice")
			w.WriteHeader(http.StatusOK)
		case c != nil && c.Value == "redirect":
			w.Header().Set("X-User-ID", "alice")
			http.Redirect(w, r, "/login", http.StatusFound)
		case c != nil && c.Value == "broken":
			w.WriteHeader(http.StatusInternalServerError)
		case c != nil && c.Value == "slow":
			<-r.Context().Done()
		case c != nil && c.Value == "forbidden":
			w.WriteHeader(http.StatusForbidden)
		default:
			w.WriteHeader(http.StatusUnauthorized)
		}
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *sessionService) lastHeader() http.Header {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last
}

func TestForward(t *testing.T) {
	svc := newSessionService(t)
	f, err := auth.NewForward(auth.ForwardOptions{URL: svc.URL + "/auth/check", Timeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name   string
		header []string
		user   string
		reason string
		calls  int64
	}{
		{"session cookie admits", []string{"Cookie: _app_session=alice-session"}, "alice", "", 1},
		{"bearer token admits", []string{"Authorization: Bearer alice-api-token"}, "alice", "", 1},
		{"200 with the user header admits", []string{"Cookie: theme=dark; _app_session=bob-session"}, "bob", "", 1},
		{"401 denies", []string{"Cookie: _app_session=stolen"}, "", auth.ReasonDenied, 1},
		{"403 denies", []string{"Cookie: _app_session=forbidden"}, "", auth.ReasonDenied, 1},
		{"a redirect to the login page denies", []string{"Cookie: _app_session=redirect"}, "", auth.ReasonDenied, 1},
		{"2xx without the user header denies", []string{"Cookie: _app_session=no-header"}, "", auth.ReasonNoUser, 1},
		{"2xx with the user in another header denies", []string{"Cookie: _app_session=wrong-header"}, "", auth.ReasonNoUser, 1},
		{"2xx with two user headers denies", []string{"Cookie: _app_session=two-headers"}, "", auth.ReasonNoUser, 1},
		{"5xx is unavailable, not an admission", []string{"Cookie: _app_session=broken"}, "", "unavailable", 1},
		{"slow service times out as unavailable", []string{"Cookie: _app_session=slow"}, "", "unavailable", 1},
		{"no credentials: no call", nil, "", auth.ReasonMissing, 0},
		{"cross-site cookie without Origin: no call", []string{"Cookie: _app_session=alice-session", "Sec-Fetch-Site: cross-site"}, "", auth.ReasonCrossSiteCookie, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := svc.calls.Load()
			user, err := f.Verify(request(tc.header...))
			if user != tc.user || reason(err) != tc.reason {
				t.Fatalf("Verify = %q, %v (reason %q); want %q, %q", user, err, reason(err), tc.user, tc.reason)
			}
			if n := svc.calls.Load() - before; n != tc.calls {
				t.Errorf("%d calls to the service, want %d", n, tc.calls)
			}
		})
	}
}

func TestForwardSendsOnlyTheCredentials(t *testing.T) {
	svc := newSessionService(t)
	f, err := auth.NewForward(auth.ForwardOptions{URL: svc.URL, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	r := request("Cookie: _app_session=alice-session", "Authorization: Bearer x", "X-Api-Key: other-secret", "Content-Type: application/json")
	if _, err := f.Verify(r); err != nil {
		t.Fatal(err)
	}
	h := svc.lastHeader()
	if h.Get("Cookie") != "_app_session=alice-session" || h.Get("Authorization") != "Bearer x" {
		t.Errorf("credentials not forwarded: %v", h)
	}
	if h.Get("X-Api-Key") != "" || h.Get("Content-Type") != "" {
		t.Errorf("other headers forwarded: %v", h)
	}
	if h.Get("X-Original-URI") != "/api/realtime-session" || h.Get("X-Original-Method") != "POST" {
		t.Errorf("original request not described: %v", h)
	}
}

func TestForwardCache(t *testing.T) {
	svc := newSessionService(t)
	clock := &manualClock{now: t0}
	f, err := auth.NewForward(auth.ForwardOptions{URL: svc.URL, Timeout: time.Second, CacheTTL: 10 * time.Second, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	verify := func(cookie string) (string, string) {
		u, err := f.Verify(request("Cookie: _app_session=" + cookie))
		return u, reason(err)
	}
	for range 3 {
		if u, r := verify("alice-session"); u != "alice" || r != "" {
			t.Fatalf("%q %q", u, r)
		}
	}
	if n := svc.calls.Load(); n != 1 {
		t.Fatalf("%d calls for three requests within the TTL, want 1", n)
	}
	if u, _ := verify("bob-session"); u != "bob" || svc.calls.Load() != 2 {
		t.Fatalf("other credentials share the cache entry: %q", u)
	}
	for range 2 {
		verify("stolen")
	}
	if n := svc.calls.Load(); n != 4 {
		t.Fatalf("refusals were cached: %d calls, want 4", n)
	}
	clock.Advance(10 * time.Second)
	verify("alice-session")
	if n := svc.calls.Load(); n != 5 {
		t.Fatalf("expired entry served: %d calls, want 5", n)
	}
}
