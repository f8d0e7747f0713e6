package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rtgate/rtgate/internal/apptest"
)

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "rtgate-bin")
	if err != nil {
		panic(err)
	}
	if binary, err = apptest.BuildBinary(dir); err != nil {
		panic(err)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// command runs the binary with exactly env (nothing inherited but PATH).
func command(ctx context.Context, env map[string]string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	return cmd
}

func TestProductionRefusesToStartWithoutItsVariables(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var stderr bytes.Buffer
	cmd := command(ctx, map[string]string{"APP_ENV": "production", "PORT": "0", "ADMIN_ADDR": "127.0.0.1:0"})
	cmd.Stderr = &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	if !errorsAs(err, &ee) || ee.ExitCode() != 2 {
		t.Fatalf("exit: %v (stderr %s)", err, stderr.String())
	}
	for _, name := range []string{"OPENAI_API_KEY", "ALLOWED_ORIGINS", "AUTH_MODE"} {
		if !strings.Contains(stderr.String(), name) {
			t.Errorf("message does not name %s:\n%s", name, stderr.String())
		}
	}
	if strings.Contains(stderr.String(), "simulator") {
		t.Error("production mentioned the simulator")
	}
}

func errorsAs(err error, target **exec.ExitError) bool {
	e, ok := err.(*exec.ExitError)
	if ok {
		*target = e
	}
	return ok
}

// start runs the binary with env and returns it with its JSON log lines up
// to "rtgate listening" (the last one); the rest of its log is discarded.
// It is killed at the end of the test unless the test waited for it.
func start(t *testing.T, ctx context.Context, env map[string]string) (*exec.Cmd, []map[string]any) {
	t.Helper()
	cmd := command(ctx, env)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	sc := bufio.NewScanner(stderr)
	var lines []map[string]any
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("log line is not JSON: %s", sc.Text())
		}
		lines = append(lines, m)
		if m["msg"] == "rtgate listening" {
			go io.Copy(io.Discard, stderr)
			return cmd, lines
		}
	}
	t.Fatalf("never listened: %v", lines)
	return nil, nil
}

// TestDevelopmentRunsWithNoKeyAndNoFlags is the README quick start: no key,
// no flags, and a token from the built-in simulator.
func TestDevelopmentRunsWithNoKeyAndNoFlags(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd, lines := start(t, ctx, map[string]string{"PORT": "0", "ADMIN_ADDR": "127.0.0.1:0", "HOST": "127.0.0.1"})
	addr, _ := lines[len(lines)-1]["addr"].(string)
	if msg, _ := lines[0]["msg"].(string); !strings.Contains(msg, "simulator") {
		t.Errorf("first log line does not say the simulator is in use: %v", lines[0])
	}

	resp, err := http.Post("http://"+addr+"/api/realtime-session", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var minted struct {
		Value string `json:"value"`
	}
	_ = json.Unmarshal(body, &minted)
	if resp.StatusCode != 200 || !strings.HasPrefix(minted.Value, "ek_") {
		t.Fatalf("status %d body %s", resp.StatusCode, body)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("exit after SIGTERM: %v", err)
	}
}

func TestSubcommands(t *testing.T) {
	cases := []struct {
		name     string
		args     []string
		env      map[string]string
		code     int
		stdout   string
		stderr   string
		noStdout string
	}{
		{"version", []string{"version"}, nil, 0, "rtgate ", "", ""},
		{"unknown command", []string{"frobnicate"}, nil, 2, "", "unknown command", ""},
		{"config check prints masked values", []string{"config", "check"}, map[string]string{"OPENAI_API_KEY": "sk-proj-abcdefghijklmnop9876"}, 0, "…9876", "", "abcdefghijklmnop"},
		{"config check fails like serve", []string{"config", "check"}, map[string]string{"PORT": "http"}, 2, "", "PORT", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := run(context.Background(), tc.args, func(k string) string { return tc.env[k] }, &out, &errb)
			if code != tc.code || !strings.Contains(out.String(), tc.stdout) || !strings.Contains(errb.String(), tc.stderr) {
				t.Fatalf("code %d stdout %q stderr %q", code, out.String(), errb.String())
			}
			if tc.noStdout != "" && strings.Contains(out.String(), tc.noStdout) {
				t.Errorf("stdout leaks %q", tc.noStdout)
			}
		})
	}
}

// TestProductionRefusesSettingsThatSwitchLimitsOff is issue 11, item 8 on
// the real binary: with TRUSTED_PROXIES=0.0.0.0/0 any client could name
// its own address (the attack minted 50 of 50 at a limit of 10), so
// production does not start; neither does it with the other settings that
// make the limits meaningless, unless acknowledged. An acknowledged one
// starts with a loud warning and shows in the admin /readyz detail.
func TestProductionRefusesSettingsThatSwitchLimitsOff(t *testing.T) {
	prod := func(extra map[string]string) map[string]string {
		env := map[string]string{"APP_ENV": "production", "OPENAI_API_KEY": "sk-proj-0123456789abcdef0123", "ALLOWED_ORIGINS": "https://app.example.com",
			"AUTH_MODE": "none", "HOST": "127.0.0.1", "PORT": "0", "ADMIN_ADDR": "127.0.0.1:0"}
		for k, v := range extra {
			env[k] = v
		}
		return env
	}
	for _, tc := range []struct {
		name string
		env  map[string]string
		want string
	}{
		{"catch-all trusted proxies", map[string]string{"TRUSTED_PROXIES": "0.0.0.0/0"}, "TRUSTED_PROXIES"},
		{"catch-all IPv6 trusted proxies", map[string]string{"TRUSTED_PROXIES": "::/0"}, "TRUSTED_PROXIES"},
		{"catch-all whitelist", map[string]string{"RATE_LIMIT_WHITELIST": "0.0.0.0/0"}, "RATE_LIMIT_WHITELIST"},
		{"shadow mode", map[string]string{"RATE_LIMIT_SHADOW": "true"}, "PRODUCTION_OVERRIDES"},
		{"fail open on a Redis outage", map[string]string{"REDIS_URL": "redis://127.0.0.1:1", "RECORD_HASH_SECRET": strings.Repeat("r", 32), "RATE_LIMIT_REDIS_FAILURE": "open"}, "RATE_LIMIT_REDIS_FAILURE"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			var stderr bytes.Buffer
			cmd := command(ctx, prod(tc.env))
			cmd.Stderr = &stderr
			err := cmd.Run()
			var ee *exec.ExitError
			if !errorsAs(err, &ee) || ee.ExitCode() != 2 {
				t.Fatalf("exit: %v, want 2 (stderr %s)", err, stderr.String())
			}
			if !strings.Contains(stderr.String(), tc.want) {
				t.Errorf("message does not name %s:\n%s", tc.want, stderr.String())
			}
		})
	}
	t.Run("acknowledged shadow mode starts, warns and shows in readiness", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		_, lines := start(t, ctx, prod(map[string]string{"RATE_LIMIT_SHADOW": "true", "PRODUCTION_OVERRIDES": "RATE_LIMIT_SHADOW"}))
		admin, _ := lines[len(lines)-1]["admin_addr"].(string)
		warned := false
		for _, m := range lines {
			if msg, _ := m["msg"].(string); strings.HasPrefix(msg, "WARNING: ") && strings.Contains(msg, "RATE_LIMIT_SHADOW=true") && m["level"] == "WARN" {
				warned = true
			}
		}
		if admin == "" || !warned {
			t.Fatalf("admin %q, warned %v", admin, warned)
		}
		resp, err := http.Get("http://" + admin + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var ready struct {
			Status string            `json:"status"`
			Checks map[string]string `json:"checks"`
		}
		if err := json.Unmarshal(body, &ready); err != nil || resp.StatusCode != 200 || ready.Status != "ready" ||
			!strings.Contains(ready.Checks["unsafe_settings"], "RATE_LIMIT_SHADOW=true") {
			t.Fatalf("readyz %d %s", resp.StatusCode, body)
		}
	})
}
