package simulator

import (
	"net/http"
	"testing"
)

func TestRoutingErrorsUseOpenAIShape(t *testing.T) {
	tests := []struct {
		name, method, path string
		status             int
		allow              string
		msg                string
	}{
		{name: "unknown path is 404", method: "POST", path: "/v1/nope", status: 404, msg: "Invalid URL (POST /v1/nope)"},
		{name: "path outside v1 is 404", method: "GET", path: "/", status: 404, msg: "Invalid URL (GET /)"},
		{name: "trailing slash is a different path", method: "POST", path: "/v1/realtime/client_secrets/", status: 404},
		{name: "translation secrets are not simulated", method: "POST", path: "/v1/realtime/translations/client_secrets", status: 404},
		{name: "GET client_secrets is 405", method: "GET", path: "/v1/realtime/client_secrets", status: 405, allow: "POST"},
		{name: "DELETE calls is 405", method: "DELETE", path: "/v1/realtime/calls", status: 405, allow: "POST"},
		{name: "GET hangup is 405", method: "GET", path: "/v1/realtime/calls/rtc_1/hangup", status: 405, allow: "POST"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			res := e.do(t, tt.method, tt.path, nil, "")
			got := wantError(t, res, tt.status, "invalid_request_error", "", "")
			if tt.msg != "" && got["message"] != tt.msg {
				t.Errorf("message = %q, want %q", got["message"], tt.msg)
			}
			if a := res.header.Get("Allow"); a != tt.allow {
				t.Errorf("Allow = %q, want %q", a, tt.allow)
			}
			if e.sim.Requests() != 1 || e.sim.Hits(tt.path) != 1 {
				t.Errorf("Requests() = %d, Hits = %d", e.sim.Requests(), e.sim.Hits(tt.path))
			}
		})
	}
}

func TestBetaSessionsEndpointIsRetired(t *testing.T) {
	for _, path := range []string{"/v1/realtime/sessions", "/v1/realtime/transcription_sessions"} {
		t.Run(path, func(t *testing.T) {
			e := newEnv(t)
			body := `{"model":"gpt-4o-realtime-preview-2025-06-03","voice":"verse"}`
			res := e.do(t, http.MethodPost, path, map[string]string{"Authorization": "Bearer sk-wrong-key-1234567890"}, body)
			wantError(t, res, 401, "invalid_request_error", "invalid_api_key", "")
			res = e.do(t, http.MethodPost, path, nil, body)
			got := wantError(t, res, 400, "invalid_request_error", "beta_api_shape_disabled", "")
			if got["message"] != "The Realtime Beta API is no longer supported. Please use /v1/realtime/client_secrets for the GA API." {
				t.Errorf("message = %q", got["message"])
			}
			if e.sim.Hits(path) != 2 || len(e.sim.Minted()) != 0 {
				t.Errorf("Hits = %d, minted %d", e.sim.Hits(path), len(e.sim.Minted()))
			}
			if e.sim.Hits("/v1/realtime/client_secrets") != 0 {
				t.Error("Hits counts other paths")
			}
		})
	}
}

func TestOversizedBodyIs413(t *testing.T) {
	e := newEnv(t)
	big := make([]byte, MaxBodyBytes+1)
	for i := range big {
		big[i] = ' '
	}
	res := e.do(t, http.MethodPost, "/v1/realtime/client_secrets", nil, string(big))
	wantError(t, res, 413, "invalid_request_error", "", "")
}

func TestRateLimitHeadersCountDownWithinAMinute(t *testing.T) {
	e := newEnv(t)
	r1 := e.do(t, http.MethodPost, "/v1/realtime/client_secrets", nil, "{}")
	r2 := e.do(t, http.MethodPost, "/v1/realtime/client_secrets", nil, "{}")
	if a, b := r1.header.Get("x-ratelimit-remaining-requests"), r2.header.Get("x-ratelimit-remaining-requests"); a != "4999" || b != "4998" {
		t.Errorf("remaining = %s then %s, want 4999 then 4998", a, b)
	}
	e.clock.Advance(61e9)
	r3 := e.do(t, http.MethodPost, "/v1/realtime/client_secrets", nil, "{}")
	if got := r3.header.Get("x-ratelimit-remaining-requests"); got != "4999" {
		t.Errorf("after a minute remaining = %s, want 4999", got)
	}
}

func TestNewRequiresAStandardKey(t *testing.T) {
	for name, keys := range map[string][]string{"none": nil, "empty": {""}, "ephemeral": {"ek_abc"}} {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Error("New did not panic")
				}
			}()
			New(Options{APIKeys: keys})
		})
	}
}

func TestBrowserCORS(t *testing.T) {
	e := newEnv(t)
	e.sim.SetFault(Fault{Kind: FaultServerError, Count: 1})
	res := e.do(t, http.MethodOptions, "/v1/realtime/calls", map[string]string{
		"Origin":                         "http://localhost:3000",
		"Access-Control-Request-Method":  "POST",
		"Access-Control-Request-Headers": "authorization,content-type",
		"Authorization":                  "",
	}, "")
	if res.status != http.StatusNoContent || len(res.body) != 0 {
		t.Fatalf("preflight status %d: %s", res.status, res.body)
	}
	for k, want := range map[string]string{
		"Access-Control-Allow-Origin":  "*",
		"Access-Control-Allow-Methods": "POST, OPTIONS",
		"Access-Control-Allow-Headers": "authorization,content-type",
	} {
		if got := res.header.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	if e.sim.Requests() != 0 || e.sim.CurrentFault().Count != 1 {
		t.Errorf("preflight counted (%d) or consumed the fault (%+v)", e.sim.Requests(), e.sim.CurrentFault())
	}
	e.sim.SetFault(Fault{})

	res = e.do(t, http.MethodPost, "/v1/realtime/calls", map[string]string{"Origin": "http://localhost:3000", "Content-Type": "application/sdp"}, offer)
	if res.status != http.StatusCreated || res.header.Get("Access-Control-Allow-Origin") != "*" ||
		res.header.Get("Access-Control-Expose-Headers") != "Location, x-request-id" {
		t.Errorf("status %d, CORS headers %v", res.status, res.header)
	}
	res = e.do(t, http.MethodPost, "/v1/realtime/calls", map[string]string{"Origin": "http://localhost:3000", "Authorization": ""}, offer)
	if res.status != http.StatusUnauthorized || res.header.Get("Access-Control-Allow-Origin") != "*" {
		t.Errorf("error responses need CORS too, so a browser can read them: status %d, %v", res.status, res.header)
	}
	res = e.do(t, http.MethodPost, "/v1/realtime/client_secrets", nil, "{}")
	if res.header.Get("Access-Control-Allow-Origin") != "" {
		t.Error("CORS headers sent without an Origin")
	}
	res = e.do(t, http.MethodOptions, "/v1/realtime/calls", nil, "")
	wantError(t, res, 405, "invalid_request_error", "", "")
}
