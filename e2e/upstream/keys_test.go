package upstream_test

import (
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/rtgate/rtgate/internal/apptest"
	"github.com/rtgate/rtgate/internal/openai"
	"github.com/rtgate/rtgate/internal/simulator"
)

// startWithKeyFile runs rtgate reading its key from a file, in front of a
// simulator that accepts only that key.
func startWithKeyFile(t *testing.T, env map[string]string) (*apptest.Instance, string, string) {
	t.Helper()
	oldKey := apptest.RandomKey()
	file := keyFile(t, oldKey)
	sim := simulator.New(simulator.Options{APIKeys: []string{oldKey}})
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	env = baseEnv(env)
	env["OPENAI_API_KEY"] = "-"
	env["OPENAI_API_KEY_FILE"] = file
	return apptest.StartWith(t, sim, srv.URL+"/v1", oldKey, env), file, oldKey
}

func TestKeyRotationByFileWriteUnderLoad(t *testing.T) {
	cases := []struct {
		name string
		poll string
		// overlap: the old key stays valid until rtgate uses the new one
		// (create, deploy, then revoke). Without it the old key is revoked
		// the moment the file is written, and rtgate must re-read the file
		// when the upstream refuses the old key.
		overlap bool
	}{
		{"new key picked up by the file poll, then the old one revoked", "50", true},
		{"old key revoked at the moment of the write, no poll", "0", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			in, file, oldKey := startWithKeyFile(t, map[string]string{"OPENAI_API_KEY_FILE_POLL_MS": tc.poll})
			l := startLoad(t, in.URL, 4)
			l.waitOK(t, 20)
			if authOf(in) != oldKey {
				t.Fatal("not using the key from the file")
			}
			newKey := apptest.RandomKey()
			if tc.overlap {
				in.Sim.SetKeys(oldKey, newKey)
				writeKey(t, file, newKey)
				eventually(t, "the new key in use", func() bool { return authOf(in) == newKey })
				in.Sim.SetKeys(newKey)
			} else {
				writeKey(t, file, newKey)
				in.Sim.SetKeys(newKey)
			}
			l.waitOK(t, 50)
			l.finish()
			if l.failed.Load() != 0 {
				t.Fatalf("%d of %d requests failed during the rotation; first: %s", l.failed.Load(), l.failed.Load()+l.ok.Load(), l.first)
			}
			if authOf(in) != newKey {
				t.Fatal("not using the new key")
			}
			if strings.Contains(in.Logs.String(), newKey) || strings.Contains(in.Logs.String(), oldKey) {
				t.Fatal("a key reached the log")
			}
			if !strings.Contains(in.Logs.String(), openai.KeyID(newKey)) {
				t.Error("the reload is not logged with the new key's id")
			}
		})
	}
}

func TestPrimaryRejectedBackupServes(t *testing.T) {
	backup := apptest.RandomKey()
	primary := apptest.RandomKey()
	sim := simulator.New(simulator.Options{APIKeys: []string{backup}})
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	in := apptest.StartWith(t, sim, srv.URL+"/v1", primary, baseEnv(map[string]string{"OPENAI_API_KEY_BACKUP": backup}))
	for i := 0; i < 3; i++ {
		if r := in.Do(t, "POST", "/api/realtime-session", ""); r.StatusCode != 200 {
			t.Fatalf("request %d: %d %s", i, r.StatusCode, r.Body)
		}
	}
	if sim.Requests() != 4 {
		t.Fatalf("upstream requests %d, want 4 (one refusal, then the backup)", sim.Requests())
	}
	checks := []struct {
		metric string
		want   float64
	}{
		{`rtgate_upstream_requests_total{outcome="key_failover"}`, 1},
		{`rtgate_upstream_requests_total{outcome="ok"}`, 3},
		{`rtgate_upstream_key_active{slot="backup"}`, 1},
		{`rtgate_upstream_key_rejected{slot="primary"}`, 1},
	}
	for _, c := range checks {
		if got := metric(t, in.AdminURL, c.metric); got != c.want {
			t.Errorf("%s = %v, want %v", c.metric, got, c.want)
		}
	}
	if r := apptest.DoURL(t, in.Client, "GET", in.AdminURL+"/readyz", ""); r.StatusCode != 200 {
		t.Errorf("unready while the backup works: %s", r.Body)
	}
	logs := in.Logs.String()
	if !strings.Contains(logs, "failover") || !strings.Contains(logs, openai.KeyID(primary)) {
		t.Error("failover not logged with the key id")
	}
	if strings.Contains(logs, primary) || strings.Contains(logs, backup) {
		t.Fatal("a key reached the log")
	}
}

func TestBothKeysRejected502AndUnready(t *testing.T) {
	backup := apptest.RandomKey()
	in := apptest.Start(t, baseEnv(map[string]string{"OPENAI_API_KEY_BACKUP": backup}))
	in.Sim.SetKeys(apptest.RandomKey())
	r := in.Do(t, "POST", "/api/realtime-session", "")
	if r.StatusCode != 502 || !strings.Contains(r.Body, `"upstream_error"`) {
		t.Fatalf("both keys refused: %d %s", r.StatusCode, r.Body)
	}
	ready := apptest.DoURL(t, in.Client, "GET", in.AdminURL+"/readyz", "")
	var body struct {
		Status string            `json:"status"`
		Checks map[string]string `json:"checks"`
	}
	if err := json.Unmarshal([]byte(ready.Body), &body); err != nil {
		t.Fatal(err)
	}
	if ready.StatusCode != 503 || body.Status != "unready" || !strings.Contains(body.Checks["upstream_keys"], "rejected") {
		t.Fatalf("readiness: %d %s", ready.StatusCode, ready.Body)
	}
	if pub := in.Do(t, "GET", "/readyz", ""); pub.StatusCode != 503 || strings.Contains(pub.Body, "upstream_keys") {
		t.Errorf("public readiness: %d %s", pub.StatusCode, pub.Body)
	}
	// The backup is accepted again (say, a revocation undone): ready again.
	in.Sim.SetKeys(backup)
	if r := in.Do(t, "POST", "/api/realtime-session", ""); r.StatusCode != 200 {
		t.Fatalf("after recovery: %d", r.StatusCode)
	}
	if r := apptest.DoURL(t, in.Client, "GET", in.AdminURL+"/readyz", ""); r.StatusCode != 200 {
		t.Fatalf("still unready: %s", r.Body)
	}
}
