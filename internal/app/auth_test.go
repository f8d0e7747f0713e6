package app_test

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/rtgate/rtgate/internal/apptest"
	"github.com/rtgate/rtgate/internal/auth/authtest"
	"github.com/rtgate/rtgate/internal/ratelimit/redistest"
	"github.com/rtgate/rtgate/internal/users"
)

const (
	jwtSecret   = "test-jwt-secret-0123456789abcdefghij"
	safetyKey   = "safety-key-0123456789abcdefghijklmn"
	adminToken  = "admin-token-0123456789abcdefghijklm"
	testIssuer  = "https://tenant.example-idp.com/"
	testAudient = "https://rtgate.example.com"
)

// authEnv is a JWT (HS256) setup with limits out of the way; tests override.
func authEnv(kv ...string) map[string]string {
	m := map[string]string{
		"AUTH_MODE":                "jwt",
		"AUTH_JWT_SECRET":          jwtSecret,
		"AUTH_JWT_ISSUER":          testIssuer,
		"AUTH_JWT_AUDIENCE":        testAudient,
		"SAFETY_ID_SECRET":         safetyKey,
		"IP_HASH_SECRET":           "ip-hash-key-0123456789abcdefghijklm",
		"RATE_LIMIT_MAX_REQUESTS":  "100000",
		"AUTH_FAILURE_MAX":         "100000",
		"USER_MAX_ACTIVE_SESSIONS": "0",
		"USER_DAILY_QUOTA":         "0",
	}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return m
}

func hsToken(t *testing.T, user string) string {
	return authtest.HS256(t, []byte(jwtSecret), "", authtest.Claims(user, testIssuer, testAudient, time.Now()))
}

func bearer(tok string) string { return "Authorization: Bearer " + tok }

type apiError struct {
	Error struct {
		Code      string `json:"code"`
		Message   string `json:"message"`
		RequestID string `json:"request_id"`
	} `json:"error"`
}

// mustRefuse checks a generic JSON refusal that never reached OpenAI and
// shows none of the given secrets.
func mustRefuse(t *testing.T, in *apptest.Instance, r *apptest.Response, status int, code string, before int, secrets ...string) {
	t.Helper()
	if r.StatusCode != status {
		t.Fatalf("status %d, want %d: %s", r.StatusCode, status, r.Body)
	}
	var e apiError
	if err := json.Unmarshal([]byte(r.Body), &e); err != nil || e.Error.Code != code {
		t.Fatalf("body %s, want code %s", r.Body, code)
	}
	if n := in.Sim.Requests(); n != before {
		t.Fatalf("upstream called %d times", n-before)
	}
	for _, s := range secrets {
		if s != "" && strings.Contains(r.Body, s) {
			t.Fatalf("response shows a secret: %s", r.Body)
		}
	}
}

func mint(t *testing.T, in *apptest.Instance, headers ...string) (*apptest.Response, string) {
	t.Helper()
	r := in.Do(t, "POST", "/api/realtime-session", "", headers...)
	var body struct {
		Session struct {
			ID string `json:"id"`
		} `json:"session"`
	}
	_ = json.Unmarshal([]byte(r.Body), &body)
	return r, body.Session.ID
}

func TestJWTNegativeMatrixNeverReachesUpstream(t *testing.T) {
	rsaKey := authtest.NewRSAKey(t, "key-2026-03")
	jwks := authtest.NewJWKSServer(t, rsaKey.JWK())
	hs := apptest.Start(t, authEnv())
	ks := apptest.Start(t, authEnv("AUTH_JWT_SECRET", "", "AUTH_JWT_JWKS_URL", jwks.JWKSURL()))

	now := time.Now()
	good := authtest.Claims("alice", testIssuer, testAudient, now)
	with := func(k string, v any) jwt.MapClaims {
		c := maps.Clone(good)
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
		return c
	}
	hsSign := func(c jwt.MapClaims) string { return authtest.HS256(t, []byte(jwtSecret), "", c) }
	stranger := authtest.NewRSAKey(t, "key-unknown")
	impostor := authtest.NewRSAKey(t, "key-2026-03") // right kid, wrong key
	cases := []struct {
		name  string
		in    *apptest.Instance
		token string
	}{
		{"expired", hs, hsSign(with("exp", now.Add(-5*time.Minute).Unix()))},
		{"not yet valid (nbf)", hs, hsSign(with("nbf", now.Add(5*time.Minute).Unix()))},
		{"wrong issuer", hs, hsSign(with("iss", "https://evil.example.com/"))},
		{"wrong audience", hs, hsSign(with("aud", "https://another-api.example.com"))},
		{"bad signature", hs, authtest.HS256(t, []byte("not-the-secret-not-the-secret-xxxx"), "", good)},
		{"alg none", hs, authtest.None(t, good)},
		{"missing sub", hs, hsSign(with("sub", nil))},
		{"garbage", hs, "garbage"},
		{"JWKS: expired", ks, rsaKey.Sign(t, with("exp", now.Add(-5*time.Minute).Unix()))},
		{"JWKS: bad signature", ks, impostor.Sign(t, good)},
		{"JWKS: alg none", ks, authtest.None(t, good)},
		{"JWKS: HS256 signed with the RSA public key", ks, authtest.HS256(t, rsaKey.PublicPEM(t), "key-2026-03", good)},
		{"JWKS: unknown kid", ks, stranger.Sign(t, good)},
		{"JWKS: missing sub", ks, rsaKey.Sign(t, with("sub", nil))},
		{"JWKS: garbage", ks, "eyJhbGciOiJSUzI1NiJ9.e30.AAAA"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := tc.in.Sim.Requests()
			r := tc.in.Do(t, "POST", "/api/realtime-session", "", bearer(tc.token))
			mustRefuse(t, tc.in, r, 401, "unauthorized", before, tc.token, jwtSecret)
			if !strings.HasPrefix(r.Header.Get("WWW-Authenticate"), `Bearer realm="rtgate"`) {
				t.Errorf("WWW-Authenticate = %q", r.Header.Get("WWW-Authenticate"))
			}
		})
	}
	t.Run("no credentials", func(t *testing.T) {
		before := hs.Sim.Requests()
		r := hs.Do(t, "GET", "/api/realtime-session", "")
		mustRefuse(t, hs, r, 401, "unauthorized", before)
		if r.Header.Get("WWW-Authenticate") != `Bearer realm="rtgate"` {
			t.Errorf("WWW-Authenticate = %q", r.Header.Get("WWW-Authenticate"))
		}
	})

	for _, in := range []*apptest.Instance{hs, ks} {
		tok := hsToken(t, "alice")
		if in == ks {
			tok = rsaKey.Sign(t, good)
		}
		r, _ := mint(t, in, bearer(tok))
		if r.StatusCode != 200 {
			t.Fatalf("valid token: %d %s", r.StatusCode, r.Body)
		}
		sid := in.Sim.LastRequest().SafetyIdentifier
		if want := users.SafetyID([]byte(safetyKey), "alice"); sid != want || strings.Contains(sid, "alice") {
			t.Errorf("OpenAI-Safety-Identifier = %q, want the keyed hash %q", sid, want)
		}
		logs := in.Logs.String()
		for _, c := range cases {
			if strings.Contains(logs, c.token) {
				t.Errorf("a token is in the log (%s)", c.name)
			}
		}
		for _, s := range []string{tok, jwtSecret, safetyKey} {
			if strings.Contains(logs, s) {
				t.Error("a secret or token is in the log")
			}
		}
		if !strings.Contains(logs, `"event":"auth_failure"`) {
			t.Error("no auth_failure audit line")
		}
	}
}

func TestJWKSUnreachableAtStartUp(t *testing.T) {
	key := authtest.NewRSAKey(t, "k1")
	jwks := authtest.NewJWKSServer(t, key.JWK())
	jwks.SetStatus(503)
	in := apptest.Start(t, authEnv("AUTH_JWT_SECRET", "", "AUTH_JWT_JWKS_URL", jwks.JWKSURL()))
	before := in.Sim.Requests()
	r := in.Do(t, "POST", "/api/realtime-session", "", bearer(key.Sign(t, authtest.Claims("alice", testIssuer, testAudient, time.Now()))))
	// rtgate started; a possibly valid token gets 503, never 401 or a mint.
	mustRefuse(t, in, r, 503, "unavailable", before)
	if r.Header.Get("Retry-After") == "" {
		t.Error("no Retry-After")
	}
}

// sessionService is an existing app's session check endpoint.
func sessionService(t *testing.T) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, _ := r.Cookie("_session")
		v := ""
		if c != nil {
			v = c.Value
		}
		switch v {
		case "alice-cookie":
			w.Header().Set("X-User-ID", "alice")
		case "wrong-header":
			w.Header().Set("X-Remote-User", "alice")
		case "slow":
			<-r.Context().Done()
			return
		default:
			w.WriteHeader(http.StatusUnauthorized)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestForwardAuthEndToEnd(t *testing.T) {
	svc := sessionService(t)
	in := apptest.Start(t, authEnv("AUTH_MODE", "forward", "AUTH_FORWARD_URL", svc.URL+"/session/check", "AUTH_FORWARD_TIMEOUT_MS", "200"))
	cases := []struct {
		name, cookie string
		status       int
		code         string
	}{
		{"a live session admits", "alice-cookie", 200, ""},
		{"a refused session is 401", "expired-cookie", 401, "unauthorized"},
		{"2xx without the user header is 401", "wrong-header", 401, "unauthorized"},
		{"a slow session service is 503", "slow", 503, "unavailable"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := in.Sim.Requests()
			r, _ := mint(t, in, "Cookie: _session="+tc.cookie)
			if tc.status == 200 {
				if r.StatusCode != 200 || in.Sim.Requests() != before+1 {
					t.Fatalf("%d %s", r.StatusCode, r.Body)
				}
				if sid := in.Sim.LastRequest().SafetyIdentifier; sid != users.SafetyID([]byte(safetyKey), "alice") {
					t.Errorf("safety id %q", sid)
				}
				return
			}
			mustRefuse(t, in, r, tc.status, tc.code, before, tc.cookie)
			if r.Header.Get("WWW-Authenticate") != "" {
				t.Errorf("forward auth sent a bearer challenge: %q", r.Header.Get("WWW-Authenticate"))
			}
		})
	}
	if strings.Contains(in.Logs.String(), "alice-cookie") {
		t.Error("a cookie is in the log")
	}
}

func TestAuthFailureBurstIsRateLimited(t *testing.T) {
	in := apptest.Start(t, authEnv("AUTH_FAILURE_MAX", "3", "AUTH_FAILURE_WINDOW_MS", "60000"))
	for i := range 3 {
		if r := in.Do(t, "POST", "/api/realtime-session", "", bearer("forged")); r.StatusCode != 401 {
			t.Fatalf("failure %d: %d", i+1, r.StatusCode)
		}
	}
	before := in.Sim.Requests()
	r := in.Do(t, "POST", "/api/realtime-session", "", bearer(hsToken(t, "alice")))
	mustRefuse(t, in, r, 429, "rate_limited", before)
	if r.Header.Get("Retry-After") == "" {
		t.Error("no Retry-After")
	}
}

type userData struct {
	UserID         string         `json:"user_id"`
	Sessions       []users.Record `json:"sessions"`
	ActiveSessions int            `json:"active_sessions"`
	UsedToday      int            `json:"used_today"`
	Blocked        *users.Block   `json:"blocked"`
}

func export(t *testing.T, in *apptest.Instance, tok string) userData {
	t.Helper()
	r := in.Do(t, "GET", "/api/me/data", "", bearer(tok))
	if r.StatusCode != 200 {
		t.Fatalf("export: %d %s", r.StatusCode, r.Body)
	}
	if r.Header.Get("Cache-Control") != "no-store" {
		t.Error("export is cacheable")
	}
	var d userData
	if err := json.Unmarshal([]byte(r.Body), &d); err != nil {
		t.Fatal(err)
	}
	for _, s := range in.Sim.Minted() {
		if strings.Contains(r.Body, s) {
			t.Fatal("the export holds an ephemeral secret")
		}
	}
	return d
}

func TestExportAndErase(t *testing.T) {
	in := apptest.Start(t, authEnv())
	alice, bob := hsToken(t, "alice"), hsToken(t, "bob")
	var aliceSessions []string
	for range 2 {
		r, id := mint(t, in, bearer(alice))
		if r.StatusCode != 200 || id == "" {
			t.Fatalf("%d %s", r.StatusCode, r.Body)
		}
		aliceSessions = append(aliceSessions, id)
	}
	_, bobSession := mint(t, in, bearer(bob))

	t.Run("export returns exactly the caller's data", func(t *testing.T) {
		d := export(t, in, alice)
		if d.UserID != "alice" || len(d.Sessions) != 2 || d.UsedToday != 2 || d.ActiveSessions != 2 {
			t.Fatalf("alice: %+v", d)
		}
		for i, s := range d.Sessions {
			if s.UserID != "alice" || s.SessionID != aliceSessions[i] || s.Kind != "token" || s.Model != "gpt-realtime-2.1" ||
				s.ClientNet != "127.0.0.0/24" || len(s.ClientIPHash) != 32 || !s.ActiveUntil.Equal(s.ExpiresAt) {
				t.Errorf("record %d: %+v", i, s)
			}
		}
		b := export(t, in, bob)
		if b.UserID != "bob" || len(b.Sessions) != 1 || b.Sessions[0].SessionID != bobSession {
			t.Fatalf("bob: %+v", b)
		}
	})
	t.Run("erase says what went; export is then empty", func(t *testing.T) {
		r := in.Do(t, "DELETE", "/api/me/data", "", bearer(alice))
		var e struct {
			UserID string       `json:"user_id"`
			Erased users.Erased `json:"erased"`
		}
		if r.StatusCode != 200 || json.Unmarshal([]byte(r.Body), &e) != nil || e.UserID != "alice" || e.Erased.Sessions != 2 {
			t.Fatalf("erase: %d %s", r.StatusCode, r.Body)
		}
		if d := export(t, in, alice); len(d.Sessions) != 0 {
			t.Fatalf("after erase: %+v", d)
		}
		if b := export(t, in, bob); len(b.Sessions) != 1 {
			t.Fatalf("erasing alice touched bob: %+v", b)
		}
		if !strings.Contains(in.Logs.String(), `"event":"data_erased"`) {
			t.Error("no data_erased audit line")
		}
	})
	t.Run("browsers erase with POST /api/me/data/delete", func(t *testing.T) {
		r := in.Do(t, "POST", "/api/me/data/delete", "", bearer(bob), "Origin: https://app.example.com")
		if r.StatusCode != 200 || r.Header.Get("Access-Control-Allow-Origin") != "https://app.example.com" {
			t.Fatalf("%d %s", r.StatusCode, r.Body)
		}
		if b := export(t, in, bob); len(b.Sessions) != 0 {
			t.Fatalf("after erase: %+v", b)
		}
		pre := in.Do(t, "OPTIONS", "/api/me/data/delete", "", "Origin: https://app.example.com", "Access-Control-Request-Method: POST", "Access-Control-Request-Headers: authorization")
		if pre.StatusCode != 204 {
			t.Errorf("POST preflight: %d", pre.StatusCode)
		}
		// The guide's preflight allows GET, POST, OPTIONS: no cross-origin DELETE.
		pre = in.Do(t, "OPTIONS", "/api/me/data", "", "Origin: https://app.example.com", "Access-Control-Request-Method: DELETE")
		if pre.StatusCode != 403 {
			t.Errorf("DELETE preflight: %d, want 403 (browsers use POST /api/me/data/delete)", pre.StatusCode)
		}
	})
	t.Run("the data endpoints need the same auth", func(t *testing.T) {
		for _, m := range []struct{ method, path string }{{"GET", "/api/me/data"}, {"DELETE", "/api/me/data"}, {"POST", "/api/me/data/delete"}} {
			r := in.Do(t, m.method, m.path, "", bearer("forged"))
			mustRefuse(t, in, r, 401, "unauthorized", in.Sim.Requests())
		}
		if r := in.Do(t, "PUT", "/api/me/data", "", bearer(alice)); r.StatusCode != 405 || r.Header.Get("Allow") != "GET, DELETE" {
			t.Errorf("PUT: %d Allow %q", r.StatusCode, r.Header.Get("Allow"))
		}
	})
}

func TestDataEndpointsWithoutAuthAre404(t *testing.T) {
	in := apptest.Start(t, map[string]string{"AUTH_MODE": "none"})
	if r := in.Do(t, "GET", "/api/me/data", ""); r.StatusCode != 404 {
		t.Fatalf("GET /api/me/data with AUTH_MODE=none: %d", r.StatusCode)
	}
}

func adminDo(t *testing.T, in *apptest.Instance, method, path, body string, headers ...string) *apptest.Response {
	t.Helper()
	return apptest.DoURL(t, in.Client, method, in.AdminURL+path, body, headers...)
}

func TestOperatorEndpoints(t *testing.T) {
	in := apptest.Start(t, authEnv("ADMIN_TOKEN", adminToken, "USER_MAX_ACTIVE_SESSIONS", "2"))
	alice, bob := hsToken(t, "alice"), hsToken(t, "bob")
	for _, tok := range []string{alice, alice, bob} {
		if r, _ := mint(t, in, bearer(tok)); r.StatusCode != 200 {
			t.Fatalf("%d %s", r.StatusCode, r.Body)
		}
	}
	auth := bearer(adminToken)

	t.Run("every endpoint needs ADMIN_TOKEN", func(t *testing.T) {
		for _, e := range []struct{ method, path string }{
			{"GET", "/admin/users/alice/sessions"}, {"GET", "/admin/users/alice/data"}, {"DELETE", "/admin/users/alice/data"},
			{"POST", "/admin/users/alice/block"}, {"DELETE", "/admin/users/alice/block"},
		} {
			for _, h := range [][]string{nil, {bearer("wrong-token-wrong-token-wrong-token")}, {bearer(adminToken[:len(adminToken)-1])}, {"Authorization: Basic " + adminToken}} {
				r := adminDo(t, in, e.method, e.path, "", h...)
				if r.StatusCode != 401 || strings.Contains(r.Body, adminToken) {
					t.Errorf("%s %s with %v: %d", e.method, e.path, h, r.StatusCode)
				}
			}
		}
		if r := adminDo(t, in, "GET", "/admin/users/alice/sessions", "", auth); r.StatusCode != 200 {
			t.Fatalf("after failures the operator is locked out: %d", r.StatusCode)
		}
	})
	t.Run("list a user's active sessions", func(t *testing.T) {
		r := adminDo(t, in, "GET", "/admin/users/alice/sessions", "", auth)
		var d userData
		if r.StatusCode != 200 || json.Unmarshal([]byte(r.Body), &d) != nil || d.UserID != "alice" || len(d.Sessions) != 2 || d.ActiveSessions != 2 {
			t.Fatalf("%d %s", r.StatusCode, r.Body)
		}
		for _, s := range d.Sessions {
			if s.UserID != "alice" {
				t.Errorf("another user's session: %+v", s)
			}
		}
	})
	t.Run("a blocked user gets 403 before any upstream call", func(t *testing.T) {
		r := adminDo(t, in, "POST", "/admin/users/bob/block", `{"reason":"abuse report #42"}`, auth)
		if r.StatusCode != 200 {
			t.Fatalf("block: %d %s", r.StatusCode, r.Body)
		}
		before := in.Sim.Requests()
		r, _ = mint(t, in, bearer(bob))
		mustRefuse(t, in, r, 403, "forbidden", before)
		if r, _ := mint(t, in, bearer(hsToken(t, "carol"))); r.StatusCode != 200 {
			t.Fatalf("carol: %d", r.StatusCode)
		}
		if d := export(t, in, bob); d.Blocked == nil || d.Blocked.Reason != "abuse report #42" {
			t.Errorf("bob's export does not show the block: %+v", d)
		}
		r = adminDo(t, in, "DELETE", "/admin/users/bob/block", "", auth)
		if r.StatusCode != 200 || !strings.Contains(r.Body, `"was_blocked":true`) {
			t.Fatalf("unblock: %d %s", r.StatusCode, r.Body)
		}
		if r, _ := mint(t, in, bearer(bob)); r.StatusCode != 200 {
			t.Fatalf("after unblock: %d", r.StatusCode)
		}
		logs := in.Logs.String()
		for _, ev := range []string{`"event":"user_blocked"`, `"event":"user_unblocked"`, `"event":"blocked_user_refused"`} {
			if !strings.Contains(logs, ev) {
				t.Errorf("no %s audit line", ev)
			}
		}
	})
	t.Run("operator erasure resets the counters too", func(t *testing.T) {
		before := in.Sim.Requests()
		r, _ := mint(t, in, bearer(alice))
		mustRefuse(t, in, r, 429, "session_limit", before)
		r = adminDo(t, in, "DELETE", "/admin/users/alice/data", "", auth)
		if r.StatusCode != 200 || !strings.Contains(r.Body, `"sessions":2`) {
			t.Fatalf("erase: %d %s", r.StatusCode, r.Body)
		}
		if d := export(t, in, alice); len(d.Sessions) != 0 || d.ActiveSessions != 0 {
			t.Fatalf("after erase: %+v", d)
		}
		if r, _ := mint(t, in, bearer(alice)); r.StatusCode != 200 {
			t.Fatalf("after operator erase: %d", r.StatusCode)
		}
	})
	if strings.Contains(in.Logs.String(), adminToken) {
		t.Error("the admin token is in the log")
	}
}

func TestOperatorEndpointsOffWithoutAdminToken(t *testing.T) {
	in := apptest.Start(t, authEnv())
	if r := adminDo(t, in, "GET", "/admin/users/alice/sessions", "", bearer(adminToken)); r.StatusCode != 404 {
		t.Fatalf("%d", r.StatusCode)
	}
}

func TestLimitsAcrossTwoInstancesSharingRedis(t *testing.T) {
	srv := redistest.Start(t)
	start := func(kv ...string) (*apptest.Instance, *apptest.Instance) {
		env := authEnv(append([]string{"REDIS_URL", srv.URL(), "REDIS_KEY_PREFIX", fmt.Sprintf("t%d:", time.Now().UnixNano())}, kv...)...)
		return apptest.Start(t, env), apptest.Start(t, env)
	}
	t.Run("active-session cap, with concurrent requests on both", func(t *testing.T) {
		a, b := start("USER_MAX_ACTIVE_SESSIONS", "3")
		tok := hsToken(t, "alice")
		var ok, limited atomic.Int64
		var wg sync.WaitGroup
		for i := range 12 {
			in := a
			if i%2 == 1 {
				in = b
			}
			wg.Go(func() {
				r, _ := mint(t, in, bearer(tok))
				switch r.StatusCode {
				case 200:
					ok.Add(1)
				case 429:
					limited.Add(1)
				default:
					t.Errorf("status %d: %s", r.StatusCode, r.Body)
				}
			})
		}
		wg.Wait()
		if ok.Load() != 3 || limited.Load() != 9 {
			t.Fatalf("admitted %d, limited %d; want 3 and 9", ok.Load(), limited.Load())
		}
		if got := a.Sim.Requests() + b.Sim.Requests(); got != 3 {
			t.Fatalf("upstream calls %d, want 3", got)
		}
		// Another user is not affected.
		if r, _ := mint(t, b, bearer(hsToken(t, "bob"))); r.StatusCode != 200 {
			t.Fatalf("bob: %d", r.StatusCode)
		}
	})
	t.Run("daily quota", func(t *testing.T) {
		a, b := start("USER_DAILY_QUOTA", "4")
		tok := hsToken(t, "alice")
		for i := range 4 {
			in := []*apptest.Instance{a, b}[i%2]
			if r, _ := mint(t, in, bearer(tok)); r.StatusCode != 200 {
				t.Fatalf("mint %d: %d", i+1, r.StatusCode)
			}
		}
		for _, in := range []*apptest.Instance{a, b} {
			before := in.Sim.Requests()
			r, _ := mint(t, in, bearer(tok))
			mustRefuse(t, in, r, 429, "quota_exceeded", before)
			if r.Header.Get("Retry-After") == "" {
				t.Error("no Retry-After")
			}
		}
		// Both instances export the same record set.
		da, db := export(t, a, tok), export(t, b, tok)
		if len(da.Sessions) != 4 || len(db.Sessions) != 4 || da.UsedToday != 4 {
			t.Fatalf("exports: %d and %d records, used %d", len(da.Sessions), len(db.Sessions), da.UsedToday)
		}
	})
	t.Run("a block on one instance holds on the other", func(t *testing.T) {
		a, b := start("ADMIN_TOKEN", adminToken)
		if r := adminDo(t, a, "POST", "/admin/users/mallory/block", "", bearer(adminToken)); r.StatusCode != 200 {
			t.Fatalf("block: %d", r.StatusCode)
		}
		before := b.Sim.Requests()
		r, _ := mint(t, b, bearer(hsToken(t, "mallory")))
		mustRefuse(t, b, r, 403, "forbidden", before)
	})
}

func TestSessionStoreDownFailsClosed(t *testing.T) {
	srv := redistest.Start(t)
	in := apptest.Start(t, authEnv("REDIS_URL", srv.URL(), "USER_DAILY_QUOTA", "100"))
	tok := hsToken(t, "alice")
	if r, _ := mint(t, in, bearer(tok)); r.StatusCode != 200 {
		t.Fatalf("with Redis: %d %s", r.StatusCode, r.Body)
	}
	srv.Kill()
	before := in.Sim.Requests()
	r, _ := mint(t, in, bearer(tok))
	// The per-IP limit falls back to memory (RATE_LIMIT_REDIS_FAILURE=local);
	// the per-user quota cannot be checked, so no token is minted.
	mustRefuse(t, in, r, 503, "unavailable", before)
	srv.Restart()
	if r, _ := mint(t, in, bearer(tok)); r.StatusCode != 200 {
		t.Fatalf("after Redis came back: %d %s", r.StatusCode, r.Body)
	}
}

// TestBlockEndsLiveProxiedCalls: blocking a user also hangs up the calls
// rtgate proxied for them, upstream, and leaves other users' calls alone.
func TestBlockEndsLiveProxiedCalls(t *testing.T) {
	in := apptest.Start(t, authEnv("ADMIN_TOKEN", adminToken))
	call := func(user string) {
		t.Helper()
		r := in.Do(t, "POST", "/api/realtime-call", apptest.Offer, "Content-Type: application/sdp", bearer(hsToken(t, user)))
		if r.StatusCode != 201 {
			t.Fatalf("call for %s: %d %s", user, r.StatusCode, r.Body)
		}
	}
	call("mallory")
	call("mallory")
	call("alice")
	if n := len(in.Sim.Calls()); n != 3 {
		t.Fatalf("live upstream calls = %d, want 3", n)
	}
	r := adminDo(t, in, "POST", "/admin/users/mallory/block", "", bearer(adminToken))
	if r.StatusCode != 200 || !strings.Contains(r.Body, `"calls_ended":2`) {
		t.Fatalf("block: %d %s", r.StatusCode, r.Body)
	}
	if n := len(in.Sim.Calls()); n != 1 {
		t.Fatalf("live upstream calls after the block = %d, want alice's 1", n)
	}
	before := in.Sim.Requests()
	r = in.Do(t, "POST", "/api/realtime-call", apptest.Offer, "Content-Type: application/sdp", bearer(hsToken(t, "mallory")))
	mustRefuse(t, in, r, 403, "forbidden", before)
}

// TestHangupFreesTheActiveSlot: a proxied call that was hung up no longer
// counts against USER_MAX_ACTIVE_SESSIONS; it still counts for the day.
func TestHangupFreesTheActiveSlot(t *testing.T) {
	in := apptest.Start(t, authEnv("USER_MAX_ACTIVE_SESSIONS", "1", "USER_DAILY_QUOTA", "2"))
	alice := bearer(hsToken(t, "alice"))
	call := func() *apptest.Response {
		return in.Do(t, "POST", "/api/realtime-call", apptest.Offer, "Content-Type: application/sdp", alice)
	}
	r := call()
	if r.StatusCode != 201 {
		t.Fatalf("first call: %d %s", r.StatusCode, r.Body)
	}
	before := in.Sim.Requests()
	mustRefuse(t, in, call(), 429, "session_limit", before)
	if h := in.Do(t, "POST", r.Header.Get("Location")+"/hangup", "", alice); h.StatusCode != 204 {
		t.Fatalf("hangup: %d %s", h.StatusCode, h.Body)
	}
	if r := call(); r.StatusCode != 201 {
		t.Fatalf("after hangup the slot is still taken: %d %s", r.StatusCode, r.Body)
	}
	before = in.Sim.Requests()
	mustRefuse(t, in, call(), 429, "quota_exceeded", before) // the day's quota of 2 is used
}
