package gateway_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rtgate/rtgate/internal/apptest"
	"github.com/rtgate/rtgate/internal/auth/authtest"
	"github.com/rtgate/rtgate/internal/gateway"
	"github.com/rtgate/rtgate/internal/httpx"
	"github.com/rtgate/rtgate/internal/simulator"
)

// testOffer is the trimmed browser offer: audio plus the events data channel.
const testOffer = apptest.Offer

var ourLocation = regexp.MustCompile(`^/api/realtime-call/call_[A-Za-z0-9_-]{22}$`)

const sdpType = "Content-Type: application/sdp"

func createCall(t *testing.T, in *apptest.Instance, headers ...string) *apptest.Response {
	t.Helper()
	r := in.Do(t, "POST", "/api/realtime-call", testOffer, append([]string{sdpType}, headers...)...)
	if r.StatusCode != http.StatusCreated {
		t.Fatalf("create call: status %d: %s", r.StatusCode, r.Body)
	}
	return r
}

// recorder keeps the requests that reach the simulator, by path.
type recorder struct {
	h    http.Handler
	mu   sync.Mutex
	reqs map[string]simulator.RecordedRequest
}

func (rc *recorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	r.Body = io.NopCloser(bytes.NewReader(body))
	rc.mu.Lock()
	rc.reqs[r.URL.Path] = simulator.RecordedRequest{Path: r.URL.Path, Header: r.Header.Clone(), Body: body}
	rc.mu.Unlock()
	rc.h.ServeHTTP(w, r)
}

// last is the last request to path.
func (rc *recorder) last(path string) simulator.RecordedRequest {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return rc.reqs[path]
}

// startRecorded is apptest.Start with a recorder in front of the simulator.
func startRecorded(t *testing.T, env map[string]string) (*apptest.Instance, *recorder) {
	t.Helper()
	key := apptest.RandomKey()
	sim := simulator.New(simulator.Options{APIKeys: []string{key}})
	rc := &recorder{h: sim, reqs: map[string]simulator.RecordedRequest{}}
	srv := httptest.NewServer(rc)
	t.Cleanup(srv.Close)
	return apptest.StartWith(t, sim, srv.URL+"/v1", key, env), rc
}

func TestCallProxyForwardsTheOfferAndHidesTheUpstream(t *testing.T) {
	in, rec := startRecorded(t, map[string]string{"REALTIME_VOICE": "cedar", "REALTIME_INSTRUCTIONS": "Server says hi."})
	r := createCall(t, in)

	if ct := r.Header.Get("Content-Type"); ct != "application/sdp" {
		t.Errorf("Content-Type = %q", ct)
	}
	if !strings.HasPrefix(r.Body, "v=0") || !strings.Contains(r.Body, "m=audio") {
		t.Errorf("body is not the SDP answer: %q", r.Body)
	}
	loc := r.Header.Get("Location")
	if !ourLocation.MatchString(loc) {
		t.Errorf("Location = %q, want rtgate's own /api/realtime-call/call_…", loc)
	}
	calls := in.Sim.Calls()
	if len(calls) != 1 {
		t.Fatalf("upstream calls = %v", calls)
	}
	for _, h := range []string{loc, r.Header.Get(gateway.CallTokenHeader), r.Body} {
		if strings.Contains(h, calls[0]) || strings.Contains(h, "/v1/") {
			t.Errorf("response reveals the upstream call: %q", h)
		}
	}
	if tok := r.Header.Get(gateway.CallTokenHeader); len(tok) < 40 {
		t.Errorf("anonymous call has no usable hangup token: %q", tok)
	}
	if r.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("Cache-Control = %q", r.Header.Get("Cache-Control"))
	}
	assertSecurityHeaders(t, r)
	assertNoLeak(t, in, r.Body)
	for k, vs := range r.Header {
		assertNoLeak(t, in, k+": "+strings.Join(vs, ","))
	}

	// The call's sideband was attached with the standard key before the
	// answer came back.
	if n := in.Sim.Sidebands(calls[0]); n != 1 {
		t.Errorf("sidebands attached to the call: %d, want 1", n)
	}
	if sb := rec.last("/v1/realtime"); sb.Header.Get("Authorization") != "Bearer "+in.Key || sb.Header.Get("Upgrade") != "websocket" {
		t.Errorf("sideband handshake headers %v", sb.Header)
	}

	// What went upstream: multipart with the offer and the server's session,
	// the standard key.
	up := rec.last("/v1/realtime/calls")
	if up.Path != "/v1/realtime/calls" || up.Header.Get("Authorization") != "Bearer "+in.Key {
		t.Fatalf("upstream request %s, standard key sent: %v", up.Path, up.Header.Get("Authorization") == "Bearer "+in.Key)
	}
	mt, params, err := mime.ParseMediaType(up.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/form-data" {
		t.Fatalf("upstream content type %q", up.Header.Get("Content-Type"))
	}
	parts := map[string]string{}
	mr := multipart.NewReader(bytes.NewReader(up.Body), params["boundary"])
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(p)
		parts[p.FormName()] = string(b)
	}
	if parts["sdp"] != testOffer {
		t.Errorf("upstream sdp part differs from the offer")
	}
	var sess struct {
		Type         string `json:"type"`
		Model        string `json:"model"`
		Instructions string `json:"instructions"`
		Audio        struct {
			Output struct {
				Voice string `json:"voice"`
			} `json:"output"`
		} `json:"audio"`
	}
	if err := json.Unmarshal([]byte(parts["session"]), &sess); err != nil {
		t.Fatalf("session part %q: %v", parts["session"], err)
	}
	if sess.Type != "realtime" || sess.Model != "gpt-realtime-2.1" || sess.Instructions != "Server says hi." || sess.Audio.Output.Voice != "cedar" {
		t.Errorf("session part is not the server's config: %+v", sess)
	}
	if strings.Contains(in.Logs.String(), r.Header.Get(gateway.CallTokenHeader)) {
		t.Error("the hangup token was logged")
	}
}

func TestCallHangupOnlyByItsOwner(t *testing.T) {
	in := apptest.Start(t, map[string]string{"RATE_LIMIT_MAX_REQUESTS": "1000"})
	mine := createCall(t, in)
	other := createCall(t, in)
	loc, token := mine.Header.Get("Location"), mine.Header.Get(gateway.CallTokenHeader)
	json := "Content-Type: application/json"
	if n := len(in.Sim.Calls()); n != 2 {
		t.Fatalf("upstream calls = %d", n)
	}

	refusals := []struct {
		name, path, body string
		headers          []string
	}{
		{"no token", loc + "/hangup", "", nil},
		{"wrong token", loc + "/hangup", `{"call_token":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}`, []string{json}},
		{"another call's token", loc + "/hangup", `{"call_token":"` + other.Header.Get(gateway.CallTokenHeader) + `"}`, []string{json}},
		{"unknown call id", "/api/realtime-call/call_AAAAAAAAAAAAAAAAAAAAAA/hangup", `{"call_token":"` + token + `"}`, []string{json}},
		{"the upstream call id", "/api/realtime-call/" + in.Sim.Calls()[0] + "/hangup", `{"call_token":"` + token + `"}`, []string{json}},
	}
	for _, tc := range refusals {
		t.Run(tc.name, func(t *testing.T) {
			before := in.Sim.Requests()
			r := in.Do(t, "POST", tc.path, tc.body, tc.headers...)
			assertRefused(t, in, r, http.StatusNotFound, httpx.CodeNotFound, before)
		})
	}
	if r := in.Do(t, "POST", loc+"/hangup", `{"call_token":"`+token+`"}`, "Content-Type: text/plain"); r.StatusCode != http.StatusUnsupportedMediaType {
		t.Errorf("hangup body of the wrong type: status %d", r.StatusCode)
	}

	r := in.Do(t, "POST", loc+"/hangup", `{"call_token":"`+token+`"}`, json)
	if r.StatusCode != http.StatusNoContent {
		t.Fatalf("owner's hangup: status %d: %s", r.StatusCode, r.Body)
	}
	if n := len(in.Sim.Calls()); n != 1 {
		t.Fatalf("upstream calls after hangup = %d, want 1 (the other call)", n)
	}
	before := in.Sim.Requests()
	r = in.Do(t, "POST", loc+"/hangup", `{"call_token":"`+token+`"}`, json)
	assertRefused(t, in, r, http.StatusNotFound, httpx.CodeNotFound, before)
}

func TestCallRefusalsNeverReachUpstream(t *testing.T) {
	in := apptest.Start(t, map[string]string{"MAX_SDP_BYTES": "1024", "RATE_LIMIT_MAX_REQUESTS": "1000"})
	big := testOffer + strings.Repeat("a=x-padding:0123456789abcdef\r\n", 40)
	cases := []struct {
		name    string
		method  string
		body    string
		headers []string
		status  int
		code    string
	}{
		{"no content type", "POST", testOffer, nil, 415, httpx.CodeUnsupportedMediaType},
		{"JSON instead of SDP", "POST", `{"sdp":"v=0"}`, []string{"Content-Type: application/json"}, 415, httpx.CodeUnsupportedMediaType},
		{"text/plain", "POST", testOffer, []string{"Content-Type: text/plain"}, 415, httpx.CodeUnsupportedMediaType},
		{"latin-1 charset", "POST", testOffer, []string{"Content-Type: application/sdp; charset=latin1"}, 415, httpx.CodeUnsupportedMediaType},
		{"offer over MAX_SDP_BYTES", "POST", big, []string{sdpType}, 413, httpx.CodePayloadTooLarge},
		{"empty body", "POST", "", []string{sdpType}, 400, httpx.CodeBadRequest},
		{"not SDP", "POST", "hello world\r\n", []string{sdpType}, 400, httpx.CodeBadRequest},
		{"no media section", "POST", "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n", []string{sdpType}, 400, httpx.CodeBadRequest},
		{"NUL byte", "POST", strings.Replace(testOffer, "s=-", "s=\x00", 1), []string{sdpType}, 400, httpx.CodeBadRequest},
		{"invalid UTF-8", "POST", strings.Replace(testOffer, "s=-", "s=\xff\xfe", 1), []string{sdpType}, 400, httpx.CodeBadRequest},
		{"GET", "GET", "", nil, 405, httpx.CodeMethodNotAllowed},
		{"foreign origin", "POST", testOffer, []string{sdpType, "Origin: https://evil.example"}, 403, httpx.CodeForbidden},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := in.Sim.Requests()
			r := in.Do(t, tc.method, "/api/realtime-call", tc.body, tc.headers...)
			assertRefused(t, in, r, tc.status, tc.code, before)
			if len(in.Sim.Calls()) != 0 {
				t.Error("a call was created")
			}
		})
	}
}

func TestCallIPRateLimitComesBeforeTheBody(t *testing.T) {
	in := apptest.Start(t, map[string]string{"RATE_LIMIT_MAX_REQUESTS": "1"})
	createCall(t, in)
	before := in.Sim.Requests()
	// Even a malformed body is refused for the rate, not the body.
	r := in.Do(t, "POST", "/api/realtime-call", "garbage", "Content-Type: text/plain")
	assertRefused(t, in, r, http.StatusTooManyRequests, httpx.CodeRateLimited, before)
	if r.Header.Get("Retry-After") == "" {
		t.Error("no Retry-After")
	}
}

func TestCallCrossOriginPreflightAndExposedHeaders(t *testing.T) {
	in := apptest.Start(t, map[string]string{"RATE_LIMIT_MAX_REQUESTS": "1000"})
	origin := "Origin: https://app.example.com"
	pre := in.Do(t, "OPTIONS", "/api/realtime-call", "", origin, "Access-Control-Request-Method: POST", "Access-Control-Request-Headers: content-type")
	if pre.StatusCode != http.StatusNoContent || pre.Header.Get("Access-Control-Allow-Origin") != "https://app.example.com" {
		t.Fatalf("preflight: status %d, headers %v", pre.StatusCode, pre.Header)
	}
	r := createCall(t, in, origin)
	exposed := r.Header.Get("Access-Control-Expose-Headers")
	for _, h := range []string{"Location", gateway.CallTokenHeader, "X-Request-ID"} {
		if !strings.Contains(exposed, h) {
			t.Errorf("Access-Control-Expose-Headers %q lacks %s", exposed, h)
		}
	}
}

func TestDemoPageServedWithItsOwnCSP(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		page bool
	}{
		{"on by default in development", nil, true},
		{"off when DEMO_PAGE=false", map[string]string{"DEMO_PAGE": "false"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := apptest.Start(t, tt.env)
			r := in.Do(t, "GET", "/", "")
			if !tt.page {
				if r.StatusCode != http.StatusNotFound {
					t.Fatalf("status %d, want 404", r.StatusCode)
				}
				assertSecurityHeaders(t, r)
				return
			}
			if r.StatusCode != http.StatusOK || !strings.HasPrefix(r.Header.Get("Content-Type"), "text/html") {
				t.Fatalf("status %d, type %q", r.StatusCode, r.Header.Get("Content-Type"))
			}
			simOrigin := strings.TrimSuffix(in.SimURL, "/v1")
			want := gateway.DemoPageCSP(simOrigin)
			if got := r.Header.Get("Content-Security-Policy"); got != want {
				t.Errorf("page CSP = %q, want %q", got, want)
			}
			if !strings.Contains(want, "connect-src 'self' "+simOrigin+";") || strings.Contains(want, "unsafe") {
				t.Errorf("CSP %q", want)
			}
			if !strings.Contains(r.Body, `content="`+in.SimURL+`"`) {
				t.Error("page does not carry the realtime URL")
			}
			if strings.Contains(r.Body, "<script>") || strings.Contains(r.Body, "style=") || strings.Contains(r.Body, "<style") || regexp.MustCompile(`\son[a-z]+=`).MatchString(r.Body) {
				t.Error("page has inline script or style")
			}
			assertNoLeak(t, in, r.Body)
			for _, asset := range []struct{ path, ctype string }{{"/app.js", "text/javascript"}, {"/app.css", "text/css"}, {"/favicon.svg", "image/svg+xml"}} {
				a := in.Do(t, "GET", asset.path, "")
				if a.StatusCode != http.StatusOK || !strings.HasPrefix(a.Header.Get("Content-Type"), asset.ctype) {
					t.Errorf("%s: status %d, type %q", asset.path, a.StatusCode, a.Header.Get("Content-Type"))
				}
				// API-style default CSP stays on everything but the page.
				assertSecurityHeaders(t, a)
			}
			api := in.Do(t, "GET", "/api/realtime-session", "")
			assertSecurityHeaders(t, api)
		})
	}
}

// TestOwnersHangupIsNeverRateLimited (issue 11): once the caller's per-IP
// budget is spent, creating is refused, but the owner's hang-up still ends
// the paid call; a stranger's hang-up is still only a 404.
func TestOwnersHangupIsNeverRateLimited(t *testing.T) {
	in := apptest.Start(t, map[string]string{"RATE_LIMIT_MAX_REQUESTS": "1", "RATE_LIMIT_WINDOW_MS": "3600000"})
	r := createCall(t, in)
	loc, token := r.Header.Get("Location"), r.Header.Get(gateway.CallTokenHeader)
	before := in.Sim.Requests()
	assertRefused(t, in, in.Do(t, "POST", "/api/realtime-call", testOffer, sdpType), http.StatusTooManyRequests, httpx.CodeRateLimited, before)

	for range 3 { // a stranger, as often as they like: 404, upstream untouched
		r := in.Do(t, "POST", loc+"/hangup", `{"call_token":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}`, "Content-Type: application/json")
		assertRefused(t, in, r, http.StatusNotFound, httpx.CodeNotFound, before)
	}
	if r := in.Do(t, "POST", loc+"/hangup", `{"call_token":"`+token+`"}`, "Content-Type: application/json"); r.StatusCode != http.StatusNoContent {
		t.Fatalf("owner's hang-up with the budget spent: %d %s", r.StatusCode, r.Body)
	}
	if calls := in.Sim.Calls(); len(calls) != 0 {
		t.Fatalf("upstream calls still live: %v", calls)
	}
}

// TestClientAbortMidCreateKeepsTheQuotaSpent (issue 11): a client that
// hangs up while the upstream creates its call does not get its quota
// back. With USER_DAILY_QUOTA=1, an aborted create and then a second one:
// the second is refused (429) and the upstream saw exactly one create.
func TestClientAbortMidCreateKeepsTheQuotaSpent(t *testing.T) {
	secret := strings.Repeat("k", 32)
	key := apptest.RandomKey()
	sim := simulator.New(simulator.Options{APIKeys: []string{key}})
	arrived, release := make(chan struct{}, 1), make(chan struct{})
	// The simulator holds the create until the client has gone.
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v1/realtime/calls" {
			arrived <- struct{}{}
			<-release
		}
		sim.ServeHTTP(w, r)
	}))
	t.Cleanup(front.Close)
	in := apptest.StartWith(t, sim, front.URL+"/v1", key, map[string]string{
		"AUTH_MODE": "jwt", "AUTH_JWT_SECRET": secret, "USER_DAILY_QUOTA": "1", "RATE_LIMIT_MAX_REQUESTS": "1000",
	})
	auth := "Bearer " + authtest.HS256(t, []byte(secret), "", authtest.Claims("user-1", "", "", time.Now()))

	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, in.URL+"/api/realtime-call", strings.NewReader(testOffer))
	req.Header.Set("Content-Type", "application/sdp")
	req.Header.Set("Authorization", auth)
	errc := make(chan error, 1)
	go func() {
		resp, err := in.Client.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		errc <- err
	}()
	<-arrived
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("the aborted client got %v", err)
	}
	// Give rtgate a moment to notice the closed connection. The verdict
	// does not depend on it (if it has not noticed, the answer goes to a
	// closed connection and everything below holds the same); without the
	// pause the test would rarely exercise the aborted request's path.
	time.Sleep(100 * time.Millisecond)
	close(release)

	// The second create is refused without reaching the upstream, once
	// the first request has finished upstream (its record exists).
	waitLog(t, in, `"path":"/api/realtime-call"`)
	before := in.Sim.Requests()
	r := in.Do(t, "POST", "/api/realtime-call", testOffer, sdpType, "Authorization: "+auth)
	assertRefused(t, in, r, http.StatusTooManyRequests, httpx.CodeQuotaExceeded, before)
	if n := sim.Hits("/v1/realtime/calls"); n != 1 {
		t.Fatalf("upstream creates = %d, want exactly 1", n)
	}
	// The call the upstream made for the client that left is on record
	// (and tracked: ended at once, or at its deadline).
	var data struct {
		Sessions []struct {
			Kind string `json:"kind"`
		} `json:"sessions"`
		UsedToday int `json:"used_today"`
	}
	if r := in.Do(t, "GET", "/api/me/data", "", "Authorization: "+auth); r.StatusCode != 200 || json.Unmarshal([]byte(r.Body), &data) != nil {
		t.Fatalf("export: %d %s", r.StatusCode, r.Body)
	}
	if len(data.Sessions) != 1 || data.Sessions[0].Kind != "call" || data.UsedToday != 1 {
		t.Fatalf("records %+v; want the aborted client's call recorded and counted", data)
	}
	if strings.Contains(in.Logs.String(), `"status":502`) {
		t.Errorf("the client abort was logged as an upstream error:\n%s", in.Logs)
	}
}

// waitLog waits until the instance's log holds s (an event, not a time).
func waitLog(t *testing.T, in *apptest.Instance, s string) {
	t.Helper()
	for end := time.Now().Add(30 * time.Second); !strings.Contains(in.Logs.String(), s); {
		if time.Now().After(end) {
			t.Fatalf("no log line with %s:\n%s", s, in.Logs)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
