package app_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rtgate/rtgate/internal/apptest"
)

// TestSessionFileReloadsOnSIGHUP sends the process a real SIGHUP: a changed
// file is in force for the next mint; a broken one is logged and counted and
// the previous configuration stays.
func TestSessionFileReloadsOnSIGHUP(t *testing.T) {
	path := filepath.Join(t.TempDir(), "session.json")
	write := func(body string) {
		t.Helper()
		if err := os.WriteFile(path+".tmp", []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(path+".tmp", path); err != nil {
			t.Fatal(err)
		}
	}
	write(`{"realtime":{"max_output_tokens":100}}`)
	in := apptest.Start(t, map[string]string{"SESSION_CONFIG_FILE": path, "RATE_LIMIT_MAX_REQUESTS": "1000"})

	mintedMax := func() any {
		t.Helper()
		r := in.Do(t, "GET", "/api/realtime-session", "")
		if r.StatusCode != 200 {
			t.Fatalf("mint: %d %s", r.StatusCode, r.Body)
		}
		var body struct{ Session map[string]any }
		if err := json.Unmarshal(in.Sim.LastRequest().Body, &body); err != nil {
			t.Fatal(err)
		}
		return body.Session["max_output_tokens"]
	}
	hup := func() {
		t.Helper()
		if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
	}
	reloads := func(result string) float64 {
		return adminMetric(t, in, `rtgate_session_config_reloads_total{result="`+result+`"}`)
	}

	if got := mintedMax(); got != 100.0 {
		t.Fatalf("max_output_tokens %v", got)
	}
	write(`{"realtime":{"max_output_tokens":200}}`)
	if got := mintedMax(); got != 100.0 {
		t.Fatal("the file was re-read without a signal: this test would prove nothing")
	}
	hup()
	waitFor(t, "the changed reload", func() bool { return reloads("changed") == 1 })
	if got := mintedMax(); got != 200.0 {
		t.Fatalf("after SIGHUP max_output_tokens %v", got)
	}

	write(`{"realtime":{"max_output_tokens":200,"tools":[{"type":"function"}]}}`)
	hup()
	waitFor(t, "the failed reload", func() bool { return reloads("error") == 1 })
	if got := mintedMax(); got != 200.0 {
		t.Fatalf("a broken file changed the session: %v", got)
	}
	logs := in.Logs.String()
	if !strings.Contains(logs, "session configuration reload failed; the previous configuration stays in force") ||
		!strings.Contains(logs, "SESSION_CONFIG_FILE "+path+": realtime.tools[0].name: is required") {
		t.Errorf("the failure is not logged with the variable and the path:\n%s", logs)
	}
	if reloads("changed") != 1 {
		t.Error("a failed reload counted as a change")
	}
}

// adminMetric is the value of the admin listener's sample whose name and
// labels are exactly series, or -1.
func adminMetric(t *testing.T, in *apptest.Instance, series string) float64 {
	t.Helper()
	r := apptest.DoURL(t, in.Client, "GET", in.AdminURL+"/metrics", "")
	for _, line := range strings.Split(r.Body, "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			var f float64
			if err := json.Unmarshal([]byte(v), &f); err == nil {
				return f
			}
		}
	}
	return -1
}

// waitFor polls cond for up to 20 seconds: a bound for a hung test, not a
// timing assertion.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}
