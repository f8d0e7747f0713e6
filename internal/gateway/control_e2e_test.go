package gateway_test

import (
	"encoding/json"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rtgate/rtgate/internal/apptest"
	"github.com/rtgate/rtgate/internal/auth/authtest"
	"github.com/rtgate/rtgate/internal/gateway"
	"github.com/rtgate/rtgate/internal/httpx"
	"github.com/rtgate/rtgate/internal/sessioncfg"
	"github.com/rtgate/rtgate/internal/simulator"
)

// The session-control tests: GPT-Live through the SDP proxy, the owner's
// view of a running call, rtgate's ids in the user's data, and the sideband
// policy, all through real HTTP and WebSockets against the simulator.

var liveLocation = regexp.MustCompile(`^/api/live-session/call_[A-Za-z0-9_-]{22}$`)

// upstreamIDs matches OpenAI's ids of calls and Live sessions.
var upstreamIDs = regexp.MustCompile(`\b(rtc|live)_[A-Za-z0-9]{6,}`)

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(30 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatalf("no %s", what)
		}
	}
}

func statusOf(t *testing.T, in *apptest.Instance, loc string, headers ...string) (gateway.CallStatus, *apptest.Response) {
	t.Helper()
	r := in.Do(t, "GET", loc, "", headers...)
	var st gateway.CallStatus
	if r.StatusCode == http.StatusOK {
		if err := json.Unmarshal([]byte(r.Body), &st); err != nil {
			t.Fatalf("status body %q: %v", r.Body, err)
		}
	}
	return st, r
}

// TestLiveSessionThroughTheProxy: an anonymous GPT-Live session is created
// with the server's session (LIVE_* and the data-channel allowlist),
// answered with rtgate's own location and hang-up token, watched on a
// sideband from before the answer, shown to its owner with its usage, and
// ended with session.close.
func TestLiveSessionThroughTheProxy(t *testing.T) {
	in, rec := startRecorded(t, map[string]string{"LIVE_MODEL": "gpt-live-1.1", "LIVE_VOICE": "cedar", "LIVE_INSTRUCTIONS": "Live rules.", "RATE_LIMIT_MAX_REQUESTS": "1000"})
	r := in.Do(t, "POST", "/api/live-session", testOffer, sdpType)
	if r.StatusCode != http.StatusCreated || r.Header.Get("Content-Type") != "application/sdp" || !strings.HasPrefix(r.Body, "v=0") {
		t.Fatalf("create: %d %q %q", r.StatusCode, r.Header.Get("Content-Type"), r.Body)
	}
	loc, token := r.Header.Get("Location"), r.Header.Get(gateway.CallTokenHeader)
	if !liveLocation.MatchString(loc) || len(token) < 40 {
		t.Fatalf("Location %q, token %q", loc, token)
	}
	live := in.Sim.LiveSessions()
	if len(live) != 1 {
		t.Fatalf("upstream sessions %v", live)
	}
	for k, vs := range r.Header {
		if strings.Contains(strings.Join(vs, ","), live[0]) || upstreamIDs.MatchString(strings.Join(vs, ",")) {
			t.Errorf("header %s reveals the upstream session", k)
		}
	}
	assertNoLeak(t, in, r.Body)

	up := rec.last("/v1/live/sessions")
	var body struct {
		Session   map[string]any    `json:"session"`
		Transport map[string]string `json:"transport"`
	}
	if err := json.Unmarshal(up.Body, &body); err != nil || up.Header.Get("Authorization") != "Bearer "+in.Key {
		t.Fatalf("upstream create %s (%v)", up.Body, err)
	}
	allowed, _ := body.Session["client"].(map[string]any)["data_channel"].(map[string]any)["allowed_client_events"].([]any)
	var names []string
	for _, a := range allowed {
		names = append(names, a.(string))
	}
	if body.Session["model"] != "gpt-live-1.1" || body.Session["instructions"] != "Live rules." || !slices.Equal(names, sessioncfg.DefaultLiveClientEvents) || body.Transport["sdp"] != testOffer {
		t.Fatalf("upstream session %s", up.Body)
	}
	if _, ok := body.Session["safety_identifier"]; ok {
		t.Error("a safety identifier in a Live session (not a Live field)")
	}
	if n := in.Sim.Sidebands(live[0]); n != 1 {
		t.Fatalf("sidebands %d, want 1", n)
	}
	if sb := rec.last("/v1/live/sessions/" + live[0] + "/attach"); sb.Header.Get("Authorization") != "Bearer "+in.Key {
		t.Fatalf("sideband handshake %v", sb.Header)
	}

	// The owner sees the session and its usage; nobody else does.
	if _, err := in.Sim.AdvanceLiveUsage(live[0], 2); err != nil {
		t.Fatal(err)
	}
	tok := gateway.CallTokenHeader + ": " + token
	waitUntil(t, "the usage on the status", func() bool {
		st, _ := statusOf(t, in, loc, tok)
		return st.Usage.LiveMillis >= 2000
	})
	st, sr := statusOf(t, in, loc, tok)
	if st.ID != strings.TrimPrefix(loc, "/api/live-session/") || st.Kind != "live" || st.Model != "gpt-live-1.1" || sr.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("status %+v", st)
	}
	if upstreamIDs.MatchString(sr.Body) {
		t.Fatalf("status reveals the upstream session: %s", sr.Body)
	}
	before := in.Sim.Requests()
	for _, h := range [][]string{nil, {gateway.CallTokenHeader + ": " + strings.Repeat("A", 43)}} {
		_, r := statusOf(t, in, loc, h...)
		assertRefused(t, in, r, http.StatusNotFound, httpx.CodeNotFound, before)
	}
	_, r = statusOf(t, in, "/api/realtime-call/"+st.ID, tok) // another kind's route
	assertRefused(t, in, r, http.StatusNotFound, httpx.CodeNotFound, before)
	r = in.Do(t, "POST", loc+"/hangup", "{}", "Content-Type: application/json") // no token
	assertRefused(t, in, r, http.StatusNotFound, httpx.CodeNotFound, before)

	// The owner's hang-up ends the session with session.close, not the
	// SIP-only hangup endpoint.
	if h := in.Do(t, "POST", loc+"/hangup", `{"call_token":"`+token+`"}`, "Content-Type: application/json"); h.StatusCode != http.StatusNoContent {
		t.Fatalf("hang-up: %d %s", h.StatusCode, h.Body)
	}
	if n := len(in.Sim.LiveSessions()); n != 0 {
		t.Fatalf("upstream sessions after the hang-up: %d", n)
	}
	if reason, _ := in.Sim.EndReason(live[0]); reason != "close_requested" || in.Sim.Hits("/v1/live/sessions/"+live[0]+"/hangup") != 0 {
		t.Fatalf("ended upstream with %q, hangup endpoint hits %d", reason, in.Sim.Hits("/v1/live/sessions/"+live[0]+"/hangup"))
	}
	if _, r := statusOf(t, in, loc, tok); r.StatusCode != http.StatusNotFound {
		t.Fatalf("status of an ended session: %d", r.StatusCode)
	}
	if strings.Contains(in.Logs.String(), token) || strings.Contains(in.Logs.String(), "Live rules.") {
		t.Error("the log holds the hang-up token or the instructions")
	}
}

// TestLiveCreateRefusalsNeverReachUpstream: every refusal of a Live create
// is decided before OpenAI is asked, and an upstream failure is never
// retried (each create is billed).
func TestLiveCreateRefusalsNeverReachUpstream(t *testing.T) {
	in := apptest.Start(t, map[string]string{"RATE_LIMIT_MAX_REQUESTS": "1000", "UPSTREAM_RETRIES": "2"})
	for _, tc := range []struct {
		name    string
		method  string
		body    string
		headers []string
		status  int
		code    string
	}{
		{"no content type", "POST", testOffer, nil, 415, httpx.CodeUnsupportedMediaType},
		{"not SDP", "POST", "hello world\r\n", []string{sdpType}, 400, httpx.CodeBadRequest},
		{"GET", "GET", "", nil, 405, httpx.CodeMethodNotAllowed},
		{"foreign origin", "POST", testOffer, []string{sdpType, "Origin: https://evil.example"}, 403, httpx.CodeForbidden},
		{"status of a call id that cannot be one", "GET", "", nil, 404, httpx.CodeNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := "/api/live-session"
			if strings.HasPrefix(tc.name, "status") {
				path += "/live_abc"
			}
			before := in.Sim.Requests()
			r := in.Do(t, tc.method, path, tc.body, tc.headers...)
			assertRefused(t, in, r, tc.status, tc.code, before)
			if len(in.Sim.LiveSessions()) != 0 {
				t.Error("a session was created")
			}
		})
	}
	in.Sim.SetFault(simulator.Fault{Kind: simulator.FaultServerError, Count: 3})
	r := in.Do(t, "POST", "/api/live-session", testOffer, sdpType)
	if r.StatusCode != http.StatusBadGateway || in.Sim.Hits("/v1/live/sessions") != 1 {
		t.Fatalf("upstream 500: %d after %d creates, want 502 after exactly 1", r.StatusCode, in.Sim.Hits("/v1/live/sessions"))
	}
	assertNoLeak(t, in, r.Body)
}

// TestUserDataShowsRtgateIDsAndUsage: a user's records of their calls name
// them by rtgate's id (what the browser knows) with the usage metered on
// their sidebands; OpenAI's ids are for operators only.
func TestUserDataShowsRtgateIDsAndUsage(t *testing.T) {
	secret := strings.Repeat("s", 40)
	admin := strings.Repeat("a", 40)
	in := apptest.Start(t, map[string]string{"AUTH_MODE": "jwt", "AUTH_JWT_SECRET": secret, "ADMIN_TOKEN": admin, "RATE_LIMIT_MAX_REQUESTS": "1000"})
	alice := "Authorization: Bearer " + authtest.HS256(t, []byte(secret), "", authtest.Claims("alice", "", "", time.Now()))
	bob := "Authorization: Bearer " + authtest.HS256(t, []byte(secret), "", authtest.Claims("bob", "", "", time.Now()))
	rt := createCall(t, in, alice)
	lv := in.Do(t, "POST", "/api/live-session", testOffer, sdpType, alice)
	if lv.StatusCode != http.StatusCreated {
		t.Fatalf("live: %d %s", lv.StatusCode, lv.Body)
	}
	rtID := strings.TrimPrefix(rt.Header.Get("Location"), "/api/realtime-call/")
	lvID := strings.TrimPrefix(lv.Header.Get("Location"), "/api/live-session/")
	if _, err := in.Sim.EmitResponse(in.Sim.Calls()[0], simulator.Usage{InputTokenDetails: simulator.InputTokenDetails{AudioTokens: 300, CachedTokens: 50, CachedTokensDetails: simulator.CachedDetails{AudioTokens: 50}},
		OutputTokenDetails: simulator.OutputTokenDetails{AudioTokens: 500, TextTokens: 40}}); err != nil {
		t.Fatal(err)
	}
	if _, err := in.Sim.AdvanceLiveUsage(in.Sim.LiveSessions()[0], 3); err != nil {
		t.Fatal(err)
	}

	type record struct {
		SessionID  string         `json:"session_id"`
		UpstreamID string         `json:"upstream_id"`
		Kind       string         `json:"kind"`
		Usage      map[string]int `json:"usage"`
	}
	var data struct {
		Sessions []record       `json:"sessions"`
		Usage    map[string]int `json:"usage"`
	}
	var raw string
	waitUntil(t, "the usage in the user's data", func() bool {
		r := in.Do(t, "GET", "/api/me/data", "", alice)
		raw = r.Body
		return r.StatusCode == 200 && json.Unmarshal([]byte(r.Body), &data) == nil && data.Usage["output_audio_tokens"] == 500 && data.Usage["live_ms"] >= 3000
	})
	if upstreamIDs.MatchString(raw) || strings.Contains(raw, "upstream_id") {
		t.Fatalf("the user's data shows OpenAI's ids: %s", raw)
	}
	ids := map[string]record{}
	for _, s := range data.Sessions {
		ids[s.SessionID] = s
	}
	if ids[rtID].Usage["input_audio_tokens"] != 300 || ids[rtID].Usage["cached_audio_tokens"] != 50 || ids[rtID].Usage["output_text_tokens"] != 40 ||
		ids[rtID].Usage["responses"] != 1 || ids[lvID].Usage["live_ms"] < 3000 || len(data.Sessions) != 2 {
		t.Fatalf("records %+v", data.Sessions)
	}

	// The owner's status agrees with the record; another user sees nothing.
	st, _ := statusOf(t, in, rt.Header.Get("Location"), alice)
	if st.Usage.OutputAudioTokens != 500 {
		t.Fatalf("status %+v", st)
	}
	before := in.Sim.Requests()
	_, r := statusOf(t, in, rt.Header.Get("Location"), bob)
	assertRefused(t, in, r, http.StatusNotFound, httpx.CodeNotFound, before)
	_, r = statusOf(t, in, rt.Header.Get("Location"))
	assertRefused(t, in, r, http.StatusUnauthorized, httpx.CodeUnauthorized, before)
	r = in.Do(t, "POST", lv.Header.Get("Location")+"/hangup", "", bob) // not bob's session
	assertRefused(t, in, r, http.StatusNotFound, httpx.CodeNotFound, before)
	r = in.Do(t, "POST", "/api/live-session/"+rtID+"/hangup", "", alice) // alice's, but a Realtime call
	assertRefused(t, in, r, http.StatusNotFound, httpx.CodeNotFound, before)
	if len(in.Sim.LiveSessions()) != 1 || len(in.Sim.Calls()) != 1 {
		t.Fatal("a refused hang-up ended something")
	}

	// Operators see OpenAI's ids, for support.
	a := apptest.DoURL(t, in.Client, "GET", in.AdminURL+"/admin/users/alice/data", "", "Authorization: Bearer "+admin)
	if a.StatusCode != 200 || !strings.Contains(a.Body, `"upstream_id":"`+in.Sim.Calls()[0]+`"`) || !strings.Contains(a.Body, `"output_audio_tokens":500`) {
		t.Fatalf("operator's view: %d %s", a.StatusCode, a.Body)
	}
	// Usage counters by kind and model, never by user.
	m := apptest.DoURL(t, in.Client, "GET", in.AdminURL+"/metrics", "")
	for _, want := range []string{
		`rtgate_call_usage_tokens_total{kind="realtime",model="` + in.Config.RealtimeModel + `",type="output_audio"} 500`,
		`rtgate_sidebands_open{kind="live"} 1`,
		`rtgate_sideband_attaches_total{kind="realtime",result="ok"} 1`,
	} {
		if !strings.Contains(m.Body, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if strings.Contains(m.Body, "alice") {
		t.Error("a metric names the user")
	}
}

// TestSessionPolicyThroughTheApp: a client's session.update changing the
// instructions is put back (revert) or ends the call and frees the slot
// (hangup); either way a counted security event.
func TestSessionPolicyThroughTheApp(t *testing.T) {
	for _, policy := range []string{"revert", "hangup"} {
		t.Run(policy, func(t *testing.T) {
			secret := strings.Repeat("s", 40)
			in := apptest.Start(t, map[string]string{"AUTH_MODE": "jwt", "AUTH_JWT_SECRET": secret, "SESSION_POLICY": policy,
				"REALTIME_INSTRUCTIONS": "Server rules.", "USER_MAX_ACTIVE_SESSIONS": "1", "RATE_LIMIT_MAX_REQUESTS": "1000"})
			alice := "Authorization: Bearer " + authtest.HS256(t, []byte(secret), "", authtest.Claims("alice", "", "", time.Now()))
			createCall(t, in, alice)
			id := in.Sim.Calls()[0]
			if err := in.Sim.ClientEvent(id, []byte(`{"type":"session.update","session":{"type":"realtime","instructions":"Browser rules."}}`)); err != nil {
				t.Fatal(err)
			}
			metric := `rtgate_session_policy_events_total{action="reverted",event="session_changed",kind="realtime"} 1`
			if policy == "hangup" {
				metric = `rtgate_session_policy_events_total{action="hung_up",event="session_changed",kind="realtime"} 1`
			}
			waitUntil(t, "the policy event counted", func() bool {
				return strings.Contains(apptest.DoURL(t, in.Client, "GET", in.AdminURL+"/metrics", "").Body, metric)
			})
			if policy == "revert" {
				waitUntil(t, "the instructions put back", func() bool {
					c, ok := in.Sim.LookupCall(id)
					return ok && strings.Contains(string(c.Session), `"instructions":"Server rules."`)
				})
				return
			}
			waitUntil(t, "the call hung up and the slot freed", func() bool {
				_, live := in.Sim.LookupCall(id)
				return !live && in.Do(t, "POST", "/api/realtime-call", testOffer, sdpType, alice).StatusCode == http.StatusCreated
			})
			if !strings.Contains(in.Logs.String(), `"reason":"session_policy"`) || strings.Contains(in.Logs.String(), "Browser rules.") {
				t.Error("no end for the policy in the log, or the client's instructions in it")
			}
		})
	}
}

// TestBudgetEndsARunningCall: the sideband's usage is charged to the
// user's budget as it arrives; when it runs out the call is ended — a
// Realtime call after its closing line and the grace, a GPT-Live session
// (which cannot be made to say a line) at once — with the reason
// budget_exhausted, and the user's slot is free again.
func TestBudgetEndsARunningCall(t *testing.T) {
	for _, kind := range []string{"realtime", "live"} {
		t.Run(kind, func(t *testing.T) {
			in := apptest.Start(t, budgetEnv(map[string]string{"USER_DAILY_BUDGET_USD": "0.50", "BUDGET_MIN_CALL_USD": "0.10",
				"BUDGET_CLOSING_LINE": "Your time is up. Goodbye.", "BUDGET_GRACE_SECONDS": "1", "USER_MAX_ACTIVE_SESSIONS": "1"}))
			alice := bearer(t, "alice")
			route := "/api/realtime-call"
			if kind == "live" {
				route = "/api/live-session"
			}
			r := in.Do(t, "POST", route, testOffer, sdpType, alice)
			if r.StatusCode != http.StatusCreated {
				t.Fatalf("create: %d %s", r.StatusCode, r.Body)
			}
			var up string
			if kind == "live" {
				up = in.Sim.LiveSessions()[0]
				// An hour of voice at $0.05 a minute: $3.
				if _, err := in.Sim.AdvanceLiveUsage(up, 3600); err != nil {
					t.Fatal(err)
				}
			} else {
				up = in.Sim.Calls()[0]
				// 20,000 audio output tokens at $64 per million: $1.28.
				if _, err := in.Sim.EmitResponse(up, simulator.Usage{OutputTokenDetails: simulator.OutputTokenDetails{AudioTokens: 20000}}); err != nil {
					t.Fatal(err)
				}
			}
			waitLog(t, in, `"reason":"budget_exhausted"`)
			waitUntil(t, "the call ended upstream", func() bool {
				_, rt := in.Sim.LookupCall(up)
				_, lv := in.Sim.LookupLive(up)
				return !rt && !lv
			})
			logs := in.Logs.String()
			sayFailed := strings.Contains(logs, "the closing line could not be sent")
			if sayFailed != (kind == "live") {
				t.Errorf("closing line not sent: %v (only GPT-Live cannot say one)", sayFailed)
			}
			m := admin(t, in, "GET", "/metrics", "").Body
			if !strings.Contains(m, `rtgate_calls_ended_total{kind="`+kind+`",reason="budget_exhausted"} 1`) || !strings.Contains(m, `rtgate_budget_hangups_total{limit="user_daily"} 1`) {
				t.Errorf("metrics:\n%s", grep(m, "budget_exhausted"))
			}
			// The slot is free, and the budget refuses the next call.
			before := in.Sim.Requests()
			r = in.Do(t, "POST", route, testOffer, sdpType, alice)
			assertRefused(t, in, r, http.StatusTooManyRequests, httpx.CodeBudgetExhausted, before)
		})
	}
}
