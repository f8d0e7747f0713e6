package app_test

import (
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/rtgate/rtgate/internal/apptest"
	"github.com/rtgate/rtgate/internal/simulator"
)

// TestProductionLocallyAgainstTheTLSSimulator is docs/simulator.md's
// "production on your machine": rtgate with APP_ENV=production (https
// upstream required) against the simulator serving TLS with its own CA.
// Until that CA is trusted, /readyz is unready and says why (the admin
// detail names OPENAI_CA_FILE) and a mint fails without reaching the
// simulator; with OPENAI_CA_FILE it is ready and mints.
func TestProductionLocallyAgainstTheTLSSimulator(t *testing.T) {
	key := apptest.RandomKey()
	sim := simulator.New(simulator.Options{APIKeys: []string{key}})
	tlsConfig, caFile, err := simulator.NewTLSCert(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: sim, TLSConfig: tlsConfig, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.ServeTLS(ln, "", "") }()
	t.Cleanup(func() { srv.Close() })
	simURL := "https://" + ln.Addr().String() + "/v1"

	prod := authEnv("APP_ENV", "production", "REQUIRE_HTTPS", "false", "LOG_LEVEL", "info")

	t.Run("the simulator's CA not trusted: unready, and says why", func(t *testing.T) {
		in := apptest.StartWith(t, sim, simURL, key, prod)
		if r := in.Do(t, "GET", "/readyz", ""); r.StatusCode != 503 || strings.Contains(r.Body, "OPENAI_CA_FILE") {
			t.Errorf("public /readyz: %d %s (want 503 without detail)", r.StatusCode, r.Body)
		}
		r := apptest.DoURL(t, in.Client, "GET", in.AdminURL+"/readyz", "")
		var ready struct {
			Status string            `json:"status"`
			Checks map[string]string `json:"checks"`
		}
		_ = json.Unmarshal([]byte(r.Body), &ready)
		if r.StatusCode != 503 || ready.Status != "unready" || !strings.Contains(ready.Checks["upstream_tls"], "OPENAI_CA_FILE") {
			t.Errorf("admin /readyz: %d %s", r.StatusCode, r.Body)
		}
		if !strings.Contains(in.Logs.String(), "not trusted") {
			t.Error("start-up did not log the untrusted certificate")
		}
		before := sim.Requests()
		if r, _ := mint(t, in, bearer(hsToken(t, "alice"))); r.StatusCode != 502 {
			t.Errorf("mint: %d %s", r.StatusCode, r.Body)
		}
		if sim.Requests() != before {
			t.Error("a request reached the simulator over an untrusted connection")
		}
	})
	t.Run("OPENAI_CA_FILE trusts it: ready, and mints", func(t *testing.T) {
		env := authEnv("APP_ENV", "production", "REQUIRE_HTTPS", "false", "OPENAI_CA_FILE", caFile)
		in := apptest.StartWith(t, sim, simURL, key, env)
		if r := in.Do(t, "GET", "/readyz", ""); r.StatusCode != 200 {
			t.Errorf("/readyz: %d %s", r.StatusCode, r.Body)
		}
		if r := apptest.DoURL(t, in.Client, "GET", in.AdminURL+"/readyz", ""); !strings.Contains(r.Body, `"upstream_tls":"ok"`) {
			t.Errorf("admin /readyz: %s", r.Body)
		}
		if r, id := mint(t, in, bearer(hsToken(t, "alice"))); r.StatusCode != 200 || id == "" {
			t.Errorf("mint: %d %s", r.StatusCode, r.Body)
		}
	})
}

// TestAzureByConfiguration: OPENAI_API_FLAVOR=azure against the simulator
// in Azure mode (/openai/v1, api-key, deployment names as models): the
// token mode mints, and the call mode sets up a call (a secret minted
// first, the offer posted with it) and hangs it up.
func TestAzureByConfiguration(t *testing.T) {
	key := apptest.RandomKey()
	sim := simulator.New(simulator.Options{APIKeys: []string{key}, Azure: true, Deployments: []string{"rt-deployment"}})
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	in := apptest.StartWith(t, sim, srv.URL+"/openai/v1", key, authEnv("OPENAI_API_FLAVOR", "azure", "REALTIME_MODEL", "rt-deployment"))
	alice := bearer(hsToken(t, "alice"))

	r, _ := mint(t, in, alice)
	if r.StatusCode != 200 || !strings.Contains(r.Body, `"ek_`) || sim.LastRequest().Header.Get("api-key") != key {
		t.Fatalf("token mode: %d %s", r.StatusCode, r.Body)
	}
	c := in.Do(t, "POST", "/api/realtime-call", apptest.Offer, "Content-Type: application/sdp", alice)
	if c.StatusCode != 201 || !strings.HasPrefix(c.Body, "v=0") {
		t.Fatalf("call mode: %d %s", c.StatusCode, c.Body)
	}
	if n := len(sim.Calls()); n != 1 {
		t.Fatalf("%d calls upstream, want 1", n)
	}
	if h := in.Do(t, "POST", c.Header.Get("Location")+"/hangup", "", alice); h.StatusCode != 204 || len(sim.Calls()) != 0 {
		t.Fatalf("hang-up: %d %s; upstream calls %v", h.StatusCode, h.Body, sim.Calls())
	}
}
