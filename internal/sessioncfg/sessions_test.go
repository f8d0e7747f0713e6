package sessioncfg_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/rtgate/rtgate/internal/sessioncfg"
)

func writeSession(t *testing.T, path, body string) {
	t.Helper()
	// Write then rename, as an operator's deploy tool would: a reader never
	// sees half a file.
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func maxTokens(t *testing.T, s *sessioncfg.Sessions) any {
	t.Helper()
	b, err := s.Realtime("gpt-realtime-2.1", "marin")
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	return m["max_output_tokens"]
}

func TestReload(t *testing.T) {
	path := filepath.Join(t.TempDir(), "session.json")
	writeSession(t, path, `{"realtime":{"max_output_tokens":100}}`)
	cfg, err := sessioncfg.Load(path, testEnv())
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	var logs bytes.Buffer
	s, err := sessioncfg.New(cfg, sessioncfg.Options{Registerer: reg, Logger: slog.New(slog.NewJSONHandler(&logs, nil)),
		Now: func() time.Time { return time.Unix(1_800_000_000, 0) }})
	if err != nil {
		t.Fatal(err)
	}
	count := func(result string) float64 {
		return testutil.ToFloat64(s.ReloadsForTest(result))
	}
	if maxTokens(t, s) != 100.0 {
		t.Fatalf("max_output_tokens %v", maxTokens(t, s))
	}

	// Unchanged: counted, nothing swapped.
	before := s.Current()
	if changed, err := s.Reload(); changed || err != nil || s.Current() != before || count(sessioncfg.ReloadUnchanged) != 1 {
		t.Fatalf("unchanged reload: %v %v", changed, err)
	}

	// Changed: new renders use it.
	writeSession(t, path, `{"realtime":{"max_output_tokens":200}}`)
	if changed, err := s.Reload(); !changed || err != nil || maxTokens(t, s) != 200.0 || count(sessioncfg.ReloadChanged) != 1 {
		t.Fatalf("changed reload: %v %v %v", changed, err, maxTokens(t, s))
	}

	// Broken: the error names the variable and the path, the old
	// configuration stays, the failure is logged and counted.
	for i, bad := range []string{`{"realtime":{"max_output_tokens":0}}`, `{"realtime":`, ``} {
		writeSession(t, path, bad)
		_, err := s.Reload()
		if err == nil || !strings.HasPrefix(err.Error(), "SESSION_CONFIG_FILE "+path+": ") {
			t.Fatalf("broken file %q: %v", bad, err)
		}
		if maxTokens(t, s) != 200.0 {
			t.Fatal("a broken file replaced the configuration in force")
		}
		if got := count(sessioncfg.ReloadError); got != float64(i+1) {
			t.Fatalf("error count %v", got)
		}
	}
	if !strings.Contains(logs.String(), `"msg":"session configuration reload failed; the previous configuration stays in force"`) ||
		!strings.Contains(logs.String(), "realtime.max_output_tokens: must be an integer between 1 and 4096") {
		t.Errorf("logs:\n%s", logs.String())
	}

	// Removed file: the same.
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Reload(); err == nil || maxTokens(t, s) != 200.0 {
		t.Fatalf("removed file: %v", err)
	}
	if v := testutil.ToFloat64(s.LoadedForTest()); v != 1_800_000_000 {
		t.Errorf("loaded timestamp %v", v)
	}
	n, err := testutil.GatherAndCount(reg, "rtgate_session_config_reloads_total", "rtgate_session_config_loaded_timestamp_seconds")
	if err != nil || n != 4 {
		t.Errorf("registered series %d (%v)", n, err)
	}
}

// TestReloadUnderConcurrentReaders runs renders, lock checks and reloads at
// once; with -race it proves readers never see a Config being built. Each
// render must be one of the two files, whole.
func TestReloadUnderConcurrentReaders(t *testing.T) {
	path := filepath.Join(t.TempDir(), "session.json")
	files := []string{
		`{"realtime":{"max_output_tokens":111,"instructions":"one"},"live":{"model":"gpt-live-1","instructions":"one"}}`,
		`{"realtime":{"max_output_tokens":222,"instructions":"two","tools":[{"type":"function","name":"f"}]},"live":{"model":"gpt-live-1.1","instructions":"two"}}`,
	}
	writeSession(t, path, files[0])
	cfg, err := sessioncfg.Load(path, testEnv())
	if err != nil {
		t.Fatal(err)
	}
	s, err := sessioncfg.New(cfg, sessioncfg.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	errs := make(chan string, 100)
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			voices := []string{"marin", "cedar"}
			for n := 0; ctx.Err() == nil; n++ {
				b, err := s.Realtime("gpt-realtime-2.1", voices[n%2])
				var m map[string]any
				if err != nil || json.Unmarshal(b, &m) != nil {
					errs <- "bad render"
					return
				}
				pair := m["instructions"].(string) + "/" + string(mustJSON(m["max_output_tokens"]))
				if pair != "one/111" && pair != "two/222" {
					errs <- "torn render: " + pair
					return
				}
				var l map[string]any
				if json.Unmarshal(s.Live(), &l) != nil || (l["instructions"] == "one") != (l["model"] == "gpt-live-1") {
					errs <- "torn live render"
					return
				}
				cfg := s.Current() // one snapshot for the render and its locks
				b, _ = cfg.Realtime("gpt-realtime-2.1", voices[n%2])
				d, err := cfg.Locks("gpt-realtime-2.1", "marin").Check(b)
				if err != nil || slices.Contains(d.Fields, "audio.output.voice") != (voices[n%2] != "marin") ||
					slices.Contains(d.Fields, "instructions") || slices.Contains(d.Fields, "max_output_tokens") || slices.Contains(d.Fields, "tools") {
					errs <- "locks disagree with the render they came from"
					return
				}
			}
		}()
	}
	for i := 0; i < 200; i++ {
		writeSession(t, path, files[(i+1)%2])
		if _, err := s.Reload(); err != nil {
			t.Fatal(err)
		}
	}
	cancel()
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

func mustJSON(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}

// TestWatchReloadsOnSignal: a SIGHUP on the channel reloads; a Config
// without a file ignores signals.
func TestWatchReloadsOnSignal(t *testing.T) {
	path := filepath.Join(t.TempDir(), "session.json")
	writeSession(t, path, `{"realtime":{"max_output_tokens":100}}`)
	cfg, _ := sessioncfg.Load(path, testEnv())
	s, _ := sessioncfg.New(cfg, sessioncfg.Options{})
	sig := make(chan os.Signal)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Watch(ctx, sig); close(done) }()
	writeSession(t, path, `{"realtime":{"max_output_tokens":300}}`)
	sig <- syscall.SIGHUP
	sig <- syscall.SIGHUP // the first was handled once the second is taken
	if maxTokens(t, s) != 300.0 {
		t.Errorf("not reloaded on the signal: %v", maxTokens(t, s))
	}
	cancel()
	<-done

	plain, _ := sessioncfg.Load("", testEnv())
	ps, _ := sessioncfg.New(plain, sessioncfg.Options{})
	ctx, cancel = context.WithCancel(context.Background())
	done = make(chan struct{})
	go func() { ps.Watch(ctx, sig); close(done) }()
	sig <- syscall.SIGHUP
	sig <- syscall.SIGHUP
	if ps.Current() != plain {
		t.Error("a Config without a file changed on a signal")
	}
	cancel()
	<-done
}
