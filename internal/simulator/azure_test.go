package simulator

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// wantAzureError asserts one of Azure's {"error":{"code","message"}} bodies.
func wantAzureError(t *testing.T, res response, status int, code string) {
	t.Helper()
	var body struct {
		Error map[string]any `json:"error"`
	}
	if res.status != status || json.Unmarshal(res.body, &body) != nil {
		t.Fatalf("status %d, want %d: %s", res.status, status, res.body)
	}
	if body.Error["code"] != code || body.Error["message"] == "" || len(body.Error) != 2 {
		t.Errorf("error = %v, want code %s", body.Error, code)
	}
}

// TestAzureMode: the same endpoints under /openai/v1, standard keys in
// api-key, Bearer only for ek_ secrets at /calls, deployments as models.
func TestAzureMode(t *testing.T) {
	e, ans := busEnv(t, func(o *Options) {
		o.Azure = true
		o.Deployments = []string{"rt-prod", "live-prod"}
	})
	apiKey := map[string]string{"Authorization": "", "api-key": testKey}
	sdp := map[string]string{"Authorization": "", "api-key": testKey, "Content-Type": "application/sdp"}

	// The OpenAI paths are not served.
	res := e.do(t, http.MethodPost, "/v1/realtime/client_secrets", apiKey, `{}`)
	wantError(t, res, 404, "invalid_request_error", "", "")

	mint := func(hdr map[string]string, query, body string) response {
		return e.do(t, http.MethodPost, "/openai/v1/realtime/client_secrets"+query, hdr, body)
	}
	const rtSession = `{"session":{"type":"realtime","model":"rt-prod"}}`
	wantAzureError(t, mint(nil, "", rtSession), 401, "401") // Bearer standard key
	wantAzureError(t, mint(map[string]string{"Authorization": "", "api-key": "sk-wrong-0123456789"}, "", rtSession), 401, "401")
	wantAzureError(t, mint(map[string]string{"Authorization": ""}, "", rtSession), 401, "401")
	wantAzureError(t, mint(apiKey, "?api-version=2025-04-01-preview", rtSession), 400, "BadRequest")
	wantAzureError(t, mint(apiKey, "", `{"session":{"type":"realtime","model":"gpt-realtime"}}`), 404, "DeploymentNotFound")
	res = mint(apiKey, "", rtSession)
	if res.status != http.StatusOK {
		t.Fatalf("mint: %d %s", res.status, res.body)
	}
	secret := res.json(t)["value"].(string)
	if !secretPattern.MatchString(secret) || res.json(t)["session"].(map[string]any)["model"] != "rt-prod" {
		t.Fatalf("mint = %s", res.body)
	}

	// /calls takes the ek_ as Bearer, and refuses api-key.
	wantAzureError(t, e.do(t, http.MethodPost, "/openai/v1/realtime/calls", sdp, offer), 401, "401")
	res = e.do(t, http.MethodPost, "/openai/v1/realtime/calls", map[string]string{"Authorization": "Bearer " + secret, "Content-Type": "application/sdp"}, offer)
	if res.status != http.StatusCreated || !strings.HasPrefix(res.header.Get("Location"), "/openai/v1/realtime/calls/rtc_") {
		t.Fatalf("call: %d %v %s", res.status, res.header, res.body)
	}
	call := res.header.Get("Location")[len("/openai/v1/realtime/calls/"):]

	// Sidebands and control endpoints use api-key too.
	if _, r, err := e.dial(t, "/openai/v1/realtime?call_id="+call, nil); err == nil || r.StatusCode != 401 {
		t.Fatalf("Bearer sideband: err %v", err)
	}
	sb, _, err := e.dial(t, "/openai/v1/realtime?call_id="+call, apiKey)
	if err != nil {
		t.Fatalf("api-key sideband: %v", err)
	}
	br := openBrowser(t, ans.link(call))
	br.next(t, "session.created")
	br.send(t, map[string]any{"type": "session.update", "session": map[string]any{"type": "realtime", "instructions": "x"}})
	sb.waitFor(t, "session.updated")
	res = e.do(t, http.MethodPost, "/_simulator/calls/"+call+"/turn", apiKey, `{"speech_ms":100}`)
	if res.status != 200 {
		t.Fatalf("control: %d %s", res.status, res.body)
	}
	sb.waitFor(t, "response.done")
	wantAzureError(t, e.do(t, http.MethodPost, "/openai/v1/realtime/calls/"+call+"/hangup", nil, ""), 401, "401")
	if res := e.do(t, http.MethodPost, "/openai/v1/realtime/calls/"+call+"/hangup", apiKey, ""); res.status != 200 {
		t.Fatalf("hangup: %d %s", res.status, res.body)
	}

	// GPT-Live with a deployment name.
	live := func(model string) response {
		return e.do(t, http.MethodPost, "/openai/v1/live/sessions", map[string]string{"Authorization": "", "api-key": testKey},
			liveBody(`{"model":"`+model+`"}`, webrtcOffer))
	}
	wantAzureError(t, live("gpt-live-1"), 404, "DeploymentNotFound")
	res = live("live-prod")
	if res.status != http.StatusCreated {
		t.Fatalf("live: %d %s", res.status, res.body)
	}
	id := res.json(t)["session"].(map[string]any)["id"].(string)
	lsb, _, err := e.dial(t, "/openai/v1/live/sessions/"+id+"/attach?graceful_close=false", apiKey)
	if err != nil {
		t.Fatal(err)
	}
	if res := e.do(t, http.MethodPost, "/openai/v1/live/sessions/"+id+"/hangup", apiKey, ""); res.status != 200 {
		t.Fatalf("live hangup: %d", res.status)
	}
	if ev := lsb.next(t, "session.closed"); ev["session"].(map[string]any)["model"] != "live-prod" {
		t.Errorf("session.closed = %v", ev)
	}
}

func TestAzureModeWithoutDeploymentsAcceptsAnyName(t *testing.T) {
	e, _ := busEnv(t, func(o *Options) { o.Azure = true })
	res := e.do(t, http.MethodPost, "/openai/v1/live/sessions", map[string]string{"Authorization": "", "api-key": testKey},
		liveBody(`{"model":"my-live"}`, webrtcOffer))
	if res.status != http.StatusCreated {
		t.Fatalf("live: %d %s", res.status, res.body)
	}
	res = e.do(t, http.MethodPost, "/openai/v1/live/sessions", map[string]string{"Authorization": "", "api-key": testKey},
		liveBody(`{"model":""}`, webrtcOffer))
	wantError(t, res, 400, "invalid_request_error", "empty_string", "session.model")
}
