package browser_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/golang-jwt/jwt/v5"

	"github.com/rtgate/rtgate/internal/gateway"
	"github.com/rtgate/rtgate/internal/simulator"
	"github.com/rtgate/rtgate/internal/simulator/webrtcpeer"
	"github.com/rtgate/rtgate/web"
)

// jsResult is what the page scripts below return: either the connection's
// shape or the RtgateError they caught.
type jsResult struct {
	Error *struct {
		Name       string `json:"name"`
		Code       string `json:"code"`
		Status     int    `json:"status"`
		RetryAfter *int   `json:"retryAfter"`
		RequestID  string `json:"requestId"`
		Source     string `json:"source"`
		Message    string `json:"message"`
	} `json:"error"`
	Members []string `json:"members"`
	Mode    string   `json:"mode"`
	CallID  string   `json:"callId"`
	CallURL string   `json:"callURL"`
	Label   string   `json:"label"`
	Mic     string   `json:"mic"`
	Remote  string   `json:"remote"`
}

// clientScript wraps body in an async function that has the module as rt,
// and returns a jsResult: conn's shape if body returns a connection, the
// caught error otherwise. window.__conn keeps the connection and
// window.__events the events it received.
func clientScript(body string) string {
	return `(async () => {
  const rt = await import("/rtgate-client.js");
  window.__events = [];
  const onEvent = (ev) => window.__events.push(ev.type);
  try {
    const conn = await (async () => {` + body + `})();
    window.__conn = conn;
    return {
      members: Object.keys(Object.getOwnPropertyDescriptors(conn)),
      mode: conn.mode, callId: conn.callId || "", callURL: conn.callURL || "", label: conn.dc.label,
      mic: conn.microphone.getAudioTracks().map((t) => t.readyState).join(),
      remote: conn.audioElement && conn.audioElement.srcObject ? conn.audioElement.srcObject.getAudioTracks().map((t) => t.readyState).join() : "",
    };
  } catch (e) {
    return { error: { name: e.name, code: e.code, status: e.status, retryAfter: e.retryAfter, requestId: e.requestId, source: e.source, message: e.message } };
  }
})()`
}

func runClient(t *testing.T, tb *tab, body string) jsResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, waitTimeout)
	defer cancel()
	r, err := chromedp.Run(ctx, chromedp.Evaluate[jsResult](clientScript(body), chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("page script: %v\n%s", err, tb.state(t))
	}
	return r
}

// connected fails the test unless r is a connection in mode whose members
// are exactly the declared ones.
func connected(t *testing.T, r jsResult, mode string) {
	t.Helper()
	if r.Error != nil {
		t.Fatalf("connect failed: %+v", *r.Error)
	}
	slices.Sort(r.Members)
	if want := declaredConnectionMembers(t); !slices.Equal(r.Members, want) {
		t.Errorf("connection members %v, declared %v", r.Members, want)
	}
	if r.Mode != mode || r.Label != "oai-events" || r.Mic != "live" || r.Remote != "live" {
		t.Errorf("connection: mode %q, data channel %q, microphone %q, remote audio %q", r.Mode, r.Label, r.Mic, r.Remote)
	}
}

// declaredConnectionMembers reads the Connection member list of
// web/typecheck/example.ts, which tsc holds equal to rtgate-client.d.ts
// (web/typecheck_test.go).
func declaredConnectionMembers(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile("../../web/typecheck/example.ts")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`export const connectionMembers = \{([^}]*)\}`).FindSubmatch(b)
	if m == nil {
		t.Fatal("web/typecheck/example.ts has no connectionMembers")
	}
	var names []string
	for _, n := range regexp.MustCompile(`(\w+): true`).FindAllSubmatch(m[1], -1) {
		names = append(names, string(n[1]))
	}
	slices.Sort(names)
	return names
}

func hangupInPage(t *testing.T, tb *tab) jsResult {
	t.Helper()
	return runClient(t, tb, `await window.__conn.hangup(); return window.__conn;`)
}

func signJWT(t *testing.T, secret, user string) string {
	t.Helper()
	now := time.Now()
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": user, "iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}).SignedString([]byte(secret))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestClientModuleThroughRtgate drives rtgate-client.js itself, from a page
// on rtgate's origin under the demo page's CSP, against a real rtgate with
// AUTH_MODE=jwt: a JWT user in call mode and in token mode (getAuthHeader),
// and refusals that carry rtgate's error code, status, Retry-After and
// request id.
func TestClientModuleThroughRtgate(t *testing.T) {
	t.Parallel()
	secret := strings.Repeat("k", 40)
	st := startStack(t, map[string]string{
		"AUTH_MODE": "jwt", "AUTH_JWT_SECRET": secret,
		"USER_RATE_LIMIT_MAX_REQUESTS": "1", "USER_RATE_LIMIT_WINDOW_MS": "3600000",
	})
	alice, bob, carol := signJWT(t, secret, "alice"), signJWT(t, secret, "bob"), signJWT(t, secret, "carol")
	tb := openTab(t, newBrowser(t))
	tb.do(t, chromedp.Navigate(st.origin+"/"))

	t.Run("call mode with a JWT", func(t *testing.T) {
		r := runClient(t, tb, `return rt.connect({ mode: "call", onEvent, getAuthHeader: async () => "Bearer `+alice+`" });`)
		connected(t, r, "call")
		if !strings.HasPrefix(r.CallID, "call_") || r.CallURL != "/api/realtime-call/"+r.CallID {
			t.Errorf("call id %q, url %q", r.CallID, r.CallURL)
		}
		tb.waitFor(t, "session.created through the module", `window.__events.includes("session.created")`)
		upstream := st.in.Sim.Calls()
		if len(upstream) != 1 {
			t.Fatalf("upstream calls = %d, want 1", len(upstream))
		}
		// rtgate shows a call only to its owner: this proves the module
		// authenticates its requests about the call as alice.
		var cs struct {
			ID, Kind string
		}
		if err := json.Unmarshal([]byte(evalAwait[string](t, tb, `(async () => JSON.stringify(await window.__conn.status()))()`)), &cs); err != nil || cs.ID != r.CallID || cs.Kind != "realtime" {
			t.Fatalf("status(): %+v (%v)", cs, err)
		}
		if h := hangupInPage(t, tb); h.Error != nil || h.Mic != "ended" {
			t.Fatalf("hangup: %+v, microphone %q (the module's own stream must be stopped)", h.Error, h.Mic)
		}
		// hangup() closes the peer, which the simulator (and rtgate's
		// sideband) also take as the end, and asks rtgate to hang up: the
		// request reached rtgate and the call is over upstream.
		waitLog(t, st, `"path":"/api/realtime-call/`+r.CallID+`/hangup"`)
		if calls := st.in.Sim.Calls(); len(calls) != 0 {
			t.Errorf("hangup() left the call upstream: %v", calls)
		}
	})

	t.Run("token mode with a JWT", func(t *testing.T) {
		minted := len(st.in.Sim.Minted())
		r := runClient(t, tb, `return rt.connect({ mode: "token", onEvent, realtimeURL: "`+st.in.SimURL+`", getAuthHeader: () => "Bearer `+bob+`" });`)
		connected(t, r, "token")
		if !strings.HasPrefix(r.CallID, "rtc_") || r.CallURL != "" {
			t.Errorf("token mode: call id %q (OpenAI's), url %q (none)", r.CallID, r.CallURL)
		}
		tb.waitFor(t, "session.created through the module", `window.__events.includes("session.created")`)
		if got := len(st.in.Sim.Minted()) - minted; got != 1 {
			t.Errorf("secrets minted = %d, want 1", got)
		}
		if h := hangupInPage(t, tb); h.Error != nil {
			t.Fatalf("hangup: %+v", *h.Error)
		}
	})

	t.Run("refusals carry the code", func(t *testing.T) {
		requests := st.in.Sim.Requests()
		r := runClient(t, tb, `return rt.connect({ mode: "call" });`)
		if e := r.Error; e == nil || e.Name != "RtgateError" || e.Code != "unauthorized" || e.Status != 401 || e.Source != "rtgate" || e.RequestID == "" || e.RetryAfter != nil {
			t.Errorf("without a JWT: %+v", r.Error)
		}
		r = runClient(t, tb, `return rt.connect({ mode: "call", getAuthHeader: () => "Bearer `+alice+`" });`)
		if e := r.Error; e == nil || e.Code != "rate_limited" || e.Status != 429 || e.Source != "rtgate" || e.RetryAfter == nil || *e.RetryAfter <= 0 {
			t.Errorf("over the per-user limit: %+v", r.Error)
		}
		r = runClient(t, tb, `return rt.connect({ mode: "token", realtimeURL: "`+st.in.SimURL+`" });`)
		if e := r.Error; e == nil || e.Code != "unauthorized" || e.Status != 401 || e.Source != "rtgate" {
			t.Errorf("token mode without a JWT: %+v", r.Error)
		}
		if got := st.in.Sim.Requests(); got != requests {
			t.Errorf("upstream requests %d → %d for refused connects", requests, got)
		}
		// The secret is minted, then OpenAI (here: a wrong realtimeURL)
		// refuses the offer: its error type is the code.
		r = runClient(t, tb, `return rt.connect({ mode: "token", realtimeURL: "`+st.in.SimURL+`/nope", getAuthHeader: () => "Bearer `+carol+`" });`)
		if e := r.Error; e == nil || e.Code != "invalid_request_error" || e.Status != 404 || e.Source != "openai" || !strings.Contains(e.Message, "The Realtime API refused the call") {
			t.Errorf("token mode refused by the Realtime API: %+v", r.Error)
		}
	})
	t.Run("the demo page shows the code", func(t *testing.T) {
		// The demo page sends no JWT, so rtgate refuses it.
		tb.do(t, chromedp.Click(chromedp.CSS(`input[name="mode"][value="call"]`)), chromedp.Click(chromedp.ID("start")))
		tb.waitFor(t, "the error message", `!document.getElementById("message").hidden`)
		msg := eval[string](t, tb, `document.getElementById("message").textContent`)
		if code := eval[string](t, tb, `document.getElementById("message").dataset.code`); code != "unauthorized" || !strings.Contains(msg, "(unauthorized, request id ") {
			t.Errorf("message %q, data-code %q", msg, code)
		}
		if eval[bool](t, tb, `document.getElementById("start").disabled`) {
			t.Error("Start stays disabled after the refusal")
		}
	})
	if v := eval[[]string](t, tb, `window.__cspViolations`); len(v) != 0 {
		t.Errorf("CSP violations: %v", v)
	}
	if strings.Contains(tb.everything(t), st.in.Key) {
		t.Error("the API key appears in the page, its traffic or its console")
	}
}

// liveStub serves the contract of rtgate's GPT-Live endpoint (POST
// /api/live-session: SDP offer in, 201 with the SDP answer, Location and,
// for anonymous callers, X-Call-Token; POST …/{id}/hangup) in front of the
// simulator's GPT-Live endpoint with a real WebRTC peer, so the module's live
// mode can be tested before rtgate serves the endpoint. The X-Scenario
// request header (the module's headers option) picks a refusal.
type liveStub struct {
	ans *webrtcpeer.Answerer
	sim *httptest.Server // the OpenAI simulator, with stubKey
	srv *httptest.Server

	mu      sync.Mutex
	offers  []stubRequest
	hangups []stubRequest
	tokens  map[string]string // call id → hang-up token
}

type stubRequest struct {
	path, contentType, auth, origin, scenario, body string
}

func startLiveStub(t *testing.T) *liveStub {
	t.Helper()
	ans, err := webrtcpeer.New(webrtcpeer.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ans.Close)
	sim := simulator.New(simulator.Options{APIKeys: []string{stubKey}, Answerer: ans})
	t.Cleanup(sim.Close)
	s := &liveStub{ans: ans, sim: httptest.NewServer(sim), tokens: make(map[string]string)}
	t.Cleanup(s.sim.Close)
	module, err := web.FS().Open("rtgate-client.js")
	if err != nil {
		t.Fatal(err)
	}
	moduleJS, _ := io.ReadAll(module)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", gateway.DemoPageCSP(""))
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		io.WriteString(w, "<!doctype html><title>live contract</title><p>stub</p>")
	})
	mux.HandleFunc("GET /rtgate-client.js", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
		w.Write(moduleJS)
	})
	mux.HandleFunc("POST /api/live-session", s.create)
	mux.HandleFunc("POST /api/live-session/{id}/hangup", s.hangup)
	s.srv = httptest.NewServer(mux)
	t.Cleanup(s.srv.Close)
	return s
}

func record(r *http.Request) stubRequest {
	b, _ := io.ReadAll(r.Body)
	return stubRequest{path: r.URL.Path, contentType: r.Header.Get("Content-Type"), auth: r.Header.Get("Authorization"), origin: r.Header.Get("Origin"), scenario: r.Header.Get("X-Scenario"), body: string(b)}
}

func stubError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Request-ID", "req-stub-1")
	w.WriteHeader(status)
	fmt.Fprintf(w, `{"error":{"code":%q,"message":%q,"request_id":"req-stub-1"}}`, code, msg)
}

func (s *liveStub) create(w http.ResponseWriter, r *http.Request) {
	req := record(r)
	s.mu.Lock()
	s.offers = append(s.offers, req)
	s.mu.Unlock()
	switch req.scenario {
	case "rate_limited":
		w.Header().Set("Retry-After", "7")
		stubError(w, http.StatusTooManyRequests, "rate_limited", "Too many requests. Please retry later.")
		return
	case "html_503":
		w.Header().Set("Retry-After", "30")
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusServiceUnavailable)
		io.WriteString(w, "<html><body>503 Service Temporarily Unavailable</body></html>")
		return
	}
	id, answer, err := s.upstreamLive(req.body)
	if err != nil {
		stubError(w, http.StatusBadRequest, "bad_request", "The request body must be an SDP offer.")
		return
	}
	token := rand.Text()
	s.mu.Lock()
	s.tokens[id] = token
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/sdp")
	if req.scenario != "no_location" {
		w.Header().Set("Location", "/api/live-session/"+id)
	}
	w.Header().Set("X-Call-Token", token)
	w.WriteHeader(http.StatusCreated)
	io.WriteString(w, answer)
}

func (s *liveStub) hangup(w http.ResponseWriter, r *http.Request) {
	req := record(r)
	id := r.PathValue("id")
	s.mu.Lock()
	s.hangups = append(s.hangups, req)
	token, ok := s.tokens[id]
	s.mu.Unlock()
	var body struct {
		CallToken string `json:"call_token"`
	}
	if !ok || req.contentType != "application/json" || json.Unmarshal([]byte(req.body), &body) != nil || body.CallToken != token {
		stubError(w, http.StatusNotFound, "not_found", "Not found.")
		return
	}
	if res, err := s.upstream("/v1/live/sessions/"+id+"/hangup", ""); err == nil {
		res.Body.Close()
	}
	switch req.scenario {
	case "hangup_502":
		stubError(w, http.StatusBadGateway, "upstream_error", "The upstream service failed.")
		return
	}
	s.mu.Lock()
	delete(s.tokens, id)
	s.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

// stubKey is the liveStub simulator's standard key.
const stubKey = "sk-live-stub-0123456789abcdef"

// upstream posts body (JSON, or nothing) to the stub's simulator.
func (s *liveStub) upstream(path, body string) (*http.Response, error) {
	req, _ := http.NewRequest(http.MethodPost, s.sim.URL+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+stubKey)
	req.Header.Set("Content-Type", "application/json")
	return http.DefaultClient.Do(req)
}

// upstreamLive creates a GPT-Live session for the offer at the simulator, as
// rtgate will: it returns the session id and the SDP answer.
func (s *liveStub) upstreamLive(offer string) (string, string, error) {
	body, _ := json.Marshal(map[string]any{"session": map[string]any{"model": "gpt-live-1"},
		"transport": map[string]any{"type": "webrtc", "sdp": offer}})
	res, err := s.upstream("/v1/live/sessions", string(body))
	if err != nil {
		return "", "", err
	}
	defer res.Body.Close()
	var out struct {
		Session   struct{ ID string }  `json:"session"`
		Transport struct{ SDP string } `json:"transport"`
	}
	if err := json.NewDecoder(res.Body).Decode(&out); err != nil || res.StatusCode != http.StatusCreated {
		return "", "", fmt.Errorf("simulator answered %d", res.StatusCode)
	}
	return out.Session.ID, out.Transport.SDP, nil
}

func (s *liveStub) requests() (offers, hangups []stubRequest) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.offers), slices.Clone(s.hangups)
}

// TestClientModuleLiveModeContract exercises the module's "live" mode
// against a stub of rtgate's POST /api/live-session contract (the endpoint
// itself has its own Chromium test with rtgate): the offer, Location and
// X-Call-Token, the authenticated hang-up with the token, hang-up when the
// page goes away, refusals with and without rtgate's JSON error, and a
// caller-owned microphone left running.
func TestClientModuleLiveModeContract(t *testing.T) {
	t.Parallel()
	stub := startLiveStub(t)
	bctx := newBrowser(t)
	tb := openTab(t, bctx)
	tb.do(t, chromedp.Navigate(stub.srv.URL+"/"))
	live := func(extra string) string {
		return `return rt.connect({ mode: "live", onEvent, getAuthHeader: async () => "Bearer live-jwt", ` + extra + ` });`
	}

	t.Run("connect and hang up", func(t *testing.T) {
		r := runClient(t, tb, live(`headers: { "X-Scenario": "ok" }`))
		connected(t, r, "live")
		if !strings.HasPrefix(r.CallID, "live_") || r.CallURL != "/api/live-session/"+r.CallID {
			t.Errorf("call id %q, url %q", r.CallID, r.CallURL)
		}
		tb.waitFor(t, "the first event through the module", `window.__events.length > 0`)
		offers, _ := stub.requests()
		o := offers[len(offers)-1]
		if o.contentType != "application/sdp" || !strings.HasPrefix(o.body, "v=0") || o.auth != "Bearer live-jwt" || o.scenario != "ok" || o.origin != stub.srv.URL {
			t.Errorf("offer: %+v", o)
		}
		if h := hangupInPage(t, tb); h.Error != nil || h.Mic != "ended" {
			t.Fatalf("hangup: %+v, microphone %q", h.Error, h.Mic)
		}
		_, hangups := stub.requests()
		if len(hangups) != 1 || hangups[0].path != "/api/live-session/"+r.CallID+"/hangup" || hangups[0].auth != "Bearer live-jwt" {
			t.Fatalf("hang-ups: %+v", hangups)
		}
		stub.mu.Lock()
		_, open := stub.tokens[r.CallID]
		stub.mu.Unlock()
		if open || stub.ans.Peers() != 0 {
			t.Error("the stub did not accept the hang-up (token, content type), or the peer is still open")
		}
		// A second hangup() is the same promise: no second request.
		hangupInPage(t, tb)
		if _, again := stub.requests(); len(again) != 1 {
			t.Errorf("hang-ups after a second hangup(): %d", len(again))
		}
	})

	t.Run("refusals", func(t *testing.T) {
		offersBefore, _ := stub.requests()
		for _, c := range []struct {
			scenario   string
			code       string
			status     int
			retryAfter int
			source     string
		}{
			{"rate_limited", "rate_limited", 429, 7, "rtgate"},
			{"html_503", "http_503", 503, 30, "browser"},
		} {
			r := runClient(t, tb, live(`headers: { "X-Scenario": "`+c.scenario+`" }`))
			e := r.Error
			if e == nil || e.Code != c.code || e.Status != c.status || e.RetryAfter == nil || *e.RetryAfter != c.retryAfter || e.Source != c.source || e.RequestID == "" && c.source == "rtgate" {
				t.Errorf("%s: %+v", c.scenario, e)
			}
		}
		r := runClient(t, tb, live(`headers: { "X-Scenario": "no_location" }`))
		if r.Error == nil || r.Error.Code != "invalid_response" || !strings.Contains(r.Error.Message, "Access-Control-Expose-Headers") {
			t.Errorf("answer without Location: %+v", r.Error)
		}
		r = runClient(t, tb, `const a = new AbortController(); a.abort(); return rt.connect({ mode: "live", signal: a.signal });`)
		if r.Error == nil || r.Error.Code != "aborted" {
			t.Errorf("aborted: %+v", r.Error)
		}
		r = runClient(t, tb, `return rt.connect({ mode: "proxy" });`)
		if r.Error == nil || r.Error.Code != "invalid_options" {
			t.Errorf("unknown mode: %+v", r.Error)
		}
		if offers, _ := stub.requests(); len(offers)-len(offersBefore) != 3 {
			t.Errorf("offers posted = %d, want 3 (none for the aborted and invalid ones)", len(offers)-len(offersBefore))
		}
	})

	t.Run("hang-up refused, and already over", func(t *testing.T) {
		connected(t, runClient(t, tb, live(`headers: { "X-Scenario": "hangup_502" }`)), "live")
		h := hangupInPage(t, tb)
		if e := h.Error; e == nil || e.Code != "upstream_error" || e.Status != 502 || e.Source != "rtgate" {
			t.Errorf("hangup answered 502: %+v", h.Error)
		}
		// The stub forgot nothing; a fresh connection whose token the stub
		// no longer knows gets 404, which hangup() treats as over.
		connected(t, runClient(t, tb, live(`headers: { "X-Scenario": "ok" }`)), "live")
		stub.mu.Lock()
		clear(stub.tokens)
		stub.mu.Unlock()
		if h := hangupInPage(t, tb); h.Error != nil {
			t.Errorf("hangup answered 404: %+v", *h.Error)
		}
	})

	t.Run("a caller's microphone stays running", func(t *testing.T) {
		r := runClient(t, tb, `window.__mic = await navigator.mediaDevices.getUserMedia({ audio: true });
      return rt.connect({ mode: "live", microphone: window.__mic, headers: { "X-Scenario": "ok" } });`)
		connected(t, r, "live")
		hangupInPage(t, tb)
		if state := eval[string](t, tb, `window.__mic.getAudioTracks()[0].readyState`); state != "live" {
			t.Errorf("caller-owned microphone after hangup(): %q", state)
		}
	})

	if v := eval[[]string](t, tb, `window.__cspViolations`); len(v) != 0 {
		t.Errorf("CSP violations: %v", v)
	}

	t.Run("leaving the page hangs up", func(t *testing.T) {
		_, before := stub.requests()
		r := runClient(t, tb, live(`headers: { "X-Scenario": "ok" }`))
		connected(t, r, "live")
		tb.do(t, chromedp.Navigate("about:blank"))
		deadline := time.Now().Add(waitTimeout)
		for {
			_, hangups := stub.requests()
			if len(hangups) > len(before) {
				h := hangups[len(hangups)-1]
				if h.path != r.CallURL+"/hangup" || h.auth != "Bearer live-jwt" || !strings.Contains(h.body, "call_token") {
					t.Errorf("page-hide hang-up: %+v", h)
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("no hang-up after the page went away")
			}
			time.Sleep(20 * time.Millisecond)
		}
		// The stub records a hang-up as it arrives and forgets the call once
		// it has ended it upstream.
		for {
			stub.mu.Lock()
			_, open := stub.tokens[r.CallID]
			stub.mu.Unlock()
			if !open {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("the stub did not accept the page-hide hang-up")
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
}
