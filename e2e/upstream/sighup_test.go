package upstream_test

import (
	"bufio"
	"encoding/json"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rtgate/rtgate/internal/apptest"
	"github.com/rtgate/rtgate/internal/simulator"
)

// process is a built rtgate binary running as a child process.
type process struct {
	cmd      *exec.Cmd
	url      string
	adminURL string
	mu       sync.Mutex
	log      strings.Builder
}

func (p *process) logs() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.log.String()
}

func buildRtgate(t *testing.T) string {
	t.Helper()
	bin, err := apptest.BuildBinary(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

// startProcess runs bin serve with env and waits for its listening line.
func startProcess(t *testing.T, bin string, env map[string]string) *process {
	t.Helper()
	p := &process{cmd: exec.Command(bin, "serve")}
	p.cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	for k, v := range env {
		p.cmd.Env = append(p.cmd.Env, k+"="+v)
	}
	stderr, err := p.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			_ = p.cmd.Process.Kill()
			_ = p.cmd.Wait()
		}
	})
	listening := make(chan map[string]any, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			p.mu.Lock()
			p.log.WriteString(line + "\n")
			p.mu.Unlock()
			var m map[string]any
			if json.Unmarshal([]byte(line), &m) == nil && m["msg"] == "rtgate listening" {
				listening <- m
			}
		}
	}()
	select {
	case m := <-listening:
		p.url = "http://" + m["addr"].(string)
		p.adminURL = "http://" + m["admin_addr"].(string)
	case <-time.After(30 * time.Second):
		t.Fatalf("rtgate did not start:\n%s", p.logs())
	}
	return p
}

func TestKeyRotationBySIGHUPUnderLoad(t *testing.T) {
	bin := buildRtgate(t)
	oldKey, newKey := apptest.RandomKey(), apptest.RandomKey()
	file := keyFile(t, oldKey)
	sim := simulator.New(simulator.Options{APIKeys: []string{oldKey}})
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	p := startProcess(t, bin, map[string]string{
		"APP_ENV":                     "development",
		"OPENAI_API_KEY_FILE":         file,
		"OPENAI_API_KEY_FILE_POLL_MS": "0", // only SIGHUP (or a refused key) re-reads the file
		"OPENAI_BASE_URL":             srv.URL + "/v1",
		"HOST":                        "127.0.0.1",
		"PORT":                        "0",
		"ADMIN_ADDR":                  "127.0.0.1:0",
		"RATE_LIMIT_WHITELIST":        "127.0.0.1",
	})
	auth := func() string { return strings.TrimPrefix(sim.LastRequest().Header.Get("Authorization"), "Bearer ") }

	l := startLoad(t, p.url, 4)
	l.waitOK(t, 20)
	if auth() != oldKey {
		t.Fatal("not using the key from the file")
	}
	// Create the new key, write it, signal, and revoke the old key once
	// rtgate uses the new one: no request may fail.
	sim.SetKeys(oldKey, newKey)
	writeKey(t, file, newKey)
	l.waitOK(t, 20)
	if auth() != oldKey {
		t.Fatal("the file was re-read without a signal: this test would prove nothing")
	}
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the new key in use after SIGHUP", func() bool { return auth() == newKey })
	sim.SetKeys(newKey)
	l.waitOK(t, 50)
	l.finish()
	if l.failed.Load() != 0 {
		t.Fatalf("%d of %d requests failed during the rotation; first: %s", l.failed.Load(), l.failed.Load()+l.ok.Load(), l.first)
	}
	if v := metric(t, p.adminURL, `rtgate_upstream_key_reloads_total{result="changed"}`); v != 1 {
		t.Errorf("changed reloads %v", v)
	}
	// A second SIGHUP with nothing changed is harmless.
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the unchanged reload", func() bool {
		return metric(t, p.adminURL, `rtgate_upstream_key_reloads_total{result="unchanged"}`) == 1
	})
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Wait(); err != nil {
		t.Fatalf("exit: %v\n%s", err, p.logs())
	}
	logs := p.logs()
	if strings.Contains(logs, oldKey) || strings.Contains(logs, newKey) {
		t.Fatal("a key reached the log")
	}
	if !strings.Contains(logs, "reloading upstream API keys on signal") {
		t.Error("the signal is not logged")
	}
}
