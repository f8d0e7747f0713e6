package admin_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rtgate/rtgate/internal/admin"
	"github.com/rtgate/rtgate/internal/httpx"
	"github.com/rtgate/rtgate/internal/users"
)

const token = "admin-token-0123456789abcdefghijklm"

// fakeUsers records what the operator asked and answers from fixed data.
type fakeUsers struct {
	mu    sync.Mutex
	calls []string
	down  bool
}

func (f *fakeUsers) note(s string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, s)
	if f.down {
		return fmt.Errorf("%w: dial tcp: connection refused", users.ErrUnavailable)
	}
	return nil
}

func (f *fakeUsers) ActiveSessions(_ context.Context, user string) (users.UserData, error) {
	return users.UserData{UserID: user, Sessions: []users.Record{{UserID: user, SessionID: "sess_1"}}, ActiveSessions: 1}, f.note("sessions " + user)
}

func (f *fakeUsers) Export(_ context.Context, user string) (users.UserData, error) {
	return users.UserData{UserID: user, Sessions: []users.Record{}}, f.note("export " + user)
}

func (f *fakeUsers) Erase(_ context.Context, user string, by users.ErasedBy) (users.Erasure, error) {
	return users.Erasure{UserID: user, Erased: users.Erased{Sessions: 2, Counters: by == users.ByOperator}}, f.note("erase " + user + " by " + string(by))
}

func (f *fakeUsers) Block(_ context.Context, user, reason string) (users.Block, error) {
	err := f.note("block " + user + ": " + reason)
	return users.Block{Reason: reason, Since: time.Date(2026, 3, 9, 12, 0, 0, 0, time.UTC)}, err
}

func (f *fakeUsers) Unblock(_ context.Context, user string) (bool, error) {
	return true, f.note("unblock " + user)
}

func (f *fakeUsers) log() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

type fakeCalls struct {
	ended   int
	err     error
	users   []string
	reasons []string
}

func (f *fakeCalls) EndUser(_ context.Context, user, reason string) (int, error) {
	f.users = append(f.users, user)
	f.reasons = append(f.reasons, reason)
	return f.ended, f.err
}

type clock struct{ now time.Time }

func (c *clock) Now() time.Time { return c.now }

func newAPI(u admin.Users, calls admin.CallEnder, failureMax int) (http.Handler, *bytes.Buffer, *clock) {
	var logs bytes.Buffer
	c := &clock{now: time.Date(2026, 3, 9, 12, 0, 0, 0, time.UTC)}
	mux := http.NewServeMux()
	admin.New(admin.Options{Token: token, Users: u, Calls: calls, FailureMax: failureMax, FailureWindow: time.Minute,
		Now: c.Now, Logger: slog.New(slog.NewJSONHandler(&logs, nil))}).Register(mux)
	return httpx.Chain(mux, httpx.RequestIDs), &logs, c
}

func do(h http.Handler, method, path, body string, header ...string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, path, strings.NewReader(body))
	r.RemoteAddr = "192.0.2.10:4444"
	r.Host = "127.0.0.1:9090"
	for _, kv := range header {
		k, v, _ := strings.Cut(kv, ":")
		if k == "Host" {
			r.Host = strings.TrimSpace(v)
			continue
		}
		r.Header.Add(k, strings.TrimSpace(v))
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func code(t *testing.T, w *httptest.ResponseRecorder) string {
	t.Helper()
	var e struct {
		Error struct{ Code string } `json:"error"`
	}
	_ = json.Unmarshal(w.Body.Bytes(), &e)
	return e.Error.Code
}

var bearer = "Authorization: Bearer " + token

func TestEveryEndpointNeedsTheToken(t *testing.T) {
	u := &fakeUsers{}
	h, logs, _ := newAPI(u, &fakeCalls{}, 0)
	for _, e := range []struct{ method, path string }{
		{"GET", "/admin/users/alice/sessions"}, {"GET", "/admin/users/alice/data"}, {"DELETE", "/admin/users/alice/data"},
		{"POST", "/admin/users/alice/block"}, {"DELETE", "/admin/users/alice/block"},
	} {
		for _, hdr := range [][]string{nil, {"Authorization: Bearer wrong-token-wrong-token-wrong-token"}, {"Authorization: Bearer " + token[:len(token)-1]},
			{"Authorization: Basic " + token}, {"Authorization: Bearer " + token + "x"}} {
			w := do(h, e.method, e.path, "", hdr...)
			if w.Code != 401 || code(t, w) != httpx.CodeUnauthorized || w.Header().Get("WWW-Authenticate") != `Bearer realm="rtgate-admin"` {
				t.Errorf("%s %s with %v: %d %s", e.method, e.path, hdr, w.Code, w.Body)
			}
			if strings.Contains(w.Body.String(), token) {
				t.Error("the answer shows the token")
			}
		}
	}
	if n := len(u.log()); n != 0 {
		t.Fatalf("refused requests reached the user state: %v", u.log())
	}
	if !strings.Contains(logs.String(), `"event":"admin_auth_failure"`) || strings.Contains(logs.String(), token) {
		t.Errorf("audit lines: %s", logs)
	}
}

func TestFailedTokensAreLimitedPerClient(t *testing.T) {
	u := &fakeUsers{}
	h, _, c := newAPI(u, nil, 3)
	for range 3 {
		if w := do(h, "GET", "/admin/users/alice/data", "", "Authorization: Bearer guess"); w.Code != 401 {
			t.Fatalf("%d", w.Code)
		}
	}
	w := do(h, "GET", "/admin/users/alice/data", "", bearer)
	if w.Code != 429 || code(t, w) != httpx.CodeRateLimited || w.Header().Get("Retry-After") != "20" {
		t.Fatalf("after the burst, even the right token: %d Retry-After %q", w.Code, w.Header().Get("Retry-After"))
	}
	c.now = c.now.Add(20 * time.Second)
	if w := do(h, "GET", "/admin/users/alice/data", "", bearer); w.Code != 200 {
		t.Fatalf("after the wait: %d", w.Code)
	}
}

func TestOperatorActions(t *testing.T) {
	u := &fakeUsers{}
	calls := &fakeCalls{ended: 2}
	h, _, _ := newAPI(u, calls, 0)
	tests := []struct {
		name, method, path, body string
		status                   int
		contains                 string
		asked                    string
	}{
		{"active sessions", "GET", "/admin/users/alice/sessions", "", 200, `"session_id":"sess_1"`, "sessions alice"},
		{"export", "GET", "/admin/users/alice/data", "", 200, `"user_id":"alice"`, "export alice"},
		{"erase resets counters too", "DELETE", "/admin/users/alice/data", "", 200, `"counters":true`, "erase alice by operator"},
		{"block with a reason hangs up the calls", "POST", "/admin/users/bob/block", `{"reason":"abuse report #42"}`, 200, `"calls_ended":2`, "block bob: abuse report #42"},
		{"block without a body", "POST", "/admin/users/bob/block", "", 200, `"blocked":{"since":`, "block bob: "},
		{"unblock", "DELETE", "/admin/users/bob/block", "", 200, `"was_blocked":true`, "unblock bob"},
		{"a user id with a control character", "GET", "/admin/users/a%0Ab/data", "", 400, `"bad_request"`, ""},
		{"a block body that is not JSON", "POST", "/admin/users/bob/block", `reason=x`, 400, `"bad_request"`, ""},
		{"a reason over 512 bytes", "POST", "/admin/users/bob/block", `{"reason":"` + strings.Repeat("x", 513) + `"}`, 400, `"bad_request"`, ""},
		{"a block body over 4096 bytes", "POST", "/admin/users/bob/block", `{"reason":"x","pad":"` + strings.Repeat("x", 4096) + `"}`, 400, `"bad_request"`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(u.log())
			w := do(h, tt.method, tt.path, tt.body, bearer)
			if w.Code != tt.status || !strings.Contains(w.Body.String(), tt.contains) {
				t.Fatalf("%d %s", w.Code, w.Body)
			}
			got := u.log()[before:]
			if tt.asked == "" && len(got) != 0 || tt.asked != "" && (len(got) != 1 || got[0] != tt.asked) {
				t.Fatalf("asked the user state %v, want %q", got, tt.asked)
			}
		})
	}
	if len(calls.users) != 2 || calls.users[0] != "bob" {
		t.Errorf("calls ended for %v, want bob twice (two blocks)", calls.users)
	}
	for _, r := range calls.reasons {
		if r != "ended_by_operator" {
			t.Errorf("calls ended with reason %q, want ended_by_operator", r)
		}
	}
}

func TestBlockStandsWhenHangingUpFails(t *testing.T) {
	h, logs, _ := newAPI(&fakeUsers{}, &fakeCalls{ended: 1, err: errors.New("upstream down")}, 0)
	w := do(h, "POST", "/admin/users/bob/block", "", bearer)
	if w.Code != 200 || !strings.Contains(w.Body.String(), `"calls_end_failed":true`) || !strings.Contains(w.Body.String(), `"calls_ended":1`) {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	if !strings.Contains(logs.String(), "ending a blocked user's calls failed") {
		t.Errorf("failure not logged: %s", logs)
	}
}

func TestUnreachableStateIs503(t *testing.T) {
	h, _, _ := newAPI(&fakeUsers{down: true}, &fakeCalls{}, 0)
	for _, e := range []struct{ method, path string }{
		{"GET", "/admin/users/alice/sessions"}, {"GET", "/admin/users/alice/data"}, {"DELETE", "/admin/users/alice/data"},
		{"POST", "/admin/users/alice/block"}, {"DELETE", "/admin/users/alice/block"},
	} {
		w := do(h, e.method, e.path, "", bearer)
		if w.Code != 503 || code(t, w) != httpx.CodeUnavailable || strings.Contains(w.Body.String(), "dial") {
			t.Errorf("%s %s: %d %s", e.method, e.path, w.Code, w.Body)
		}
	}
}

func TestListenerHandler(t *testing.T) {
	named := func(name string) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte(name)) })
	}
	api := admin.New(admin.Options{Token: token, Users: &fakeUsers{}})
	tests := []struct {
		name, path string
		api        *admin.API
		status     int
		body       string
	}{
		{"metrics", "/metrics", nil, 200, "metrics"},
		{"readiness with detail", "/readyz", nil, 200, "ready"},
		{"liveness", "/healthz", nil, 200, `{"status":"ok"}`},
		{"anything else is a JSON 404", "/nope", nil, 404, `"not_found"`},
		{"operator API off", "/admin/users/alice/data", nil, 404, `"not_found"`},
		{"operator API on", "/admin/users/alice/data", api, 200, `"user_id":"alice"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := admin.Handler(admin.ListenerOptions{Metrics: named("metrics"), Ready: named("ready"), API: tt.api})
			w := do(h, "GET", tt.path, "", bearer)
			if w.Code != tt.status || !strings.Contains(w.Body.String(), tt.body) {
				t.Fatalf("%d %s", w.Code, w.Body)
			}
			if w.Header().Get("X-Request-ID") == "" || w.Header().Get("X-Frame-Options") != "DENY" {
				t.Error("no request id or security headers")
			}
		})
	}
}

// TestAdminListenerAnswersOnlyItsOwnNames is issue 11, item 11: a page on
// evil.example whose name an attacker re-points at 127.0.0.1 (DNS
// rebinding) must not read /metrics, /readyz or the operator API. The
// admin listener answers only requests addressed to an IP literal,
// localhost, or a name in ADMIN_HOSTS.
func TestAdminListenerAnswersOnlyItsOwnNames(t *testing.T) {
	served := 0
	metrics := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { served++; _, _ = w.Write([]byte("rtgate_up 1")) })
	h := admin.Handler(admin.ListenerOptions{Metrics: metrics, Ready: metrics, API: admin.New(admin.Options{Token: token, Users: &fakeUsers{}}),
		Hosts: []string{"rtgate-admin.internal"}})
	for _, tc := range []struct {
		host string
		ok   bool
	}{
		{"127.0.0.1:9090", true},
		{"[::1]:9090", true},
		{"10.0.0.5:9090", true},
		{"localhost:9090", true},
		{"LOCALHOST", true},
		{"rtgate-admin.internal:9090", true},
		{"Rtgate-Admin.Internal", true},
		{"evil.example:9090", false},
		{"evil.example", false},
		{"localhost.evil.example:9090", false},
		{"rtgate-admin.internal.evil.example", false},
		{"127.0.0.1.nip.io:9090", false},
	} {
		for _, path := range []string{"/metrics", "/readyz", "/healthz", "/admin/users/alice/data"} {
			t.Run(tc.host+path, func(t *testing.T) {
				before := served
				w := do(h, "GET", path, "", bearer, "Host: "+tc.host)
				if tc.ok {
					if w.Code != 200 {
						t.Fatalf("%d %s", w.Code, w.Body)
					}
					return
				}
				if w.Code != http.StatusMisdirectedRequest || code(t, w) != httpx.CodeForbidden || served != before || strings.Contains(w.Body.String(), "rtgate_up") || strings.Contains(w.Body.String(), "alice") {
					t.Fatalf("%d %s (served %d)", w.Code, w.Body, served-before)
				}
			})
		}
	}
}
