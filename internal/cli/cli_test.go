package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// invalid is an environment serve, simulate and config check all refuse
// at once: a command that ran instead of printing its help would say so
// on stderr (or block).
var invalid = map[string]string{"PORT": "http", "SIMULATOR_ADDR": "nowhere", "SIMULATOR_TLS": "maybe"}

func runCLI(t *testing.T, env map[string]string, args ...string) (int, string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var out, errb bytes.Buffer
	code := Main(ctx, args, IO{Getenv: func(k string) string { return env[k] }, Stdout: &out, Stderr: &errb})
	return code, out.String(), errb.String()
}

func TestEveryCommandTakesHelp(t *testing.T) {
	commands := [][]string{nil, {"serve"}, {"simulate"}, {"audit"}, {"config"}, {"config", "check"}, {"version"}, {"help"}}
	for _, cmd := range commands {
		for _, h := range []string{"-h", "--help", "-help"} {
			args := append(append([]string{}, cmd...), h)
			t.Run(strings.Join(args, " "), func(t *testing.T) {
				code, out, errOut := runCLI(t, invalid, args...)
				want := "usage: rtgate"
				if len(cmd) > 0 && cmd[0] != "help" {
					want += " " + cmd[0]
				}
				if code != 0 || !strings.HasPrefix(out, want) || errOut != "" {
					t.Fatalf("exit %d, stdout %q, stderr %q; want 0 and %q on stdout only", code, out, errOut, want)
				}
			})
		}
	}
	for _, topic := range []string{"serve", "simulate", "audit", "config", "version"} {
		if code, out, _ := runCLI(t, invalid, "help", topic); code != 0 || !strings.HasPrefix(out, "usage: rtgate "+topic) {
			t.Errorf("help %s: %d %q", topic, code, out)
		}
	}
}

func TestUnknownFlagsAndStrayArgumentsAreRefused(t *testing.T) {
	cases := []struct {
		args []string
		want string // in stderr
	}{
		{[]string{"serve", "--port", "3001"}, "-port"},
		{[]string{"serve", "extra"}, `unexpected argument "extra"`},
		{[]string{"simulate", "--tls"}, "-tls"},
		{[]string{"simulate", "now"}, `unexpected argument "now"`},
		{[]string{"config"}, "missing subcommand"},
		{[]string{"config", "validate"}, `unknown subcommand "validate"`},
		{[]string{"config", "check", "extra"}, `unexpected argument "extra"`},
		{[]string{"config", "check", "--strict"}, "-strict"},
		{[]string{"config", "check", "--env-file"}, "env-file"},
		{[]string{"version", "--short"}, "-short"},
		{[]string{"version", "2"}, `unexpected argument "2"`},
		{[]string{"audit"}, "missing the URL"},
		{[]string{"audit", "https://a.example", "https://b.example"}, `unexpected argument "https://b.example"`},
		{[]string{"audit", "https://a.example", "--bogus"}, "-bogus"},
		{[]string{"help", "frobnicate"}, `unknown command "frobnicate"`},
		{[]string{"help", "serve", "simulate"}, `unexpected argument "simulate"`},
		{[]string{"frobnicate"}, `unknown command "frobnicate"`},
		{[]string{"--frobnicate"}, `unknown command "--frobnicate"`},
	}
	for _, tc := range cases {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			code, out, errOut := runCLI(t, invalid, tc.args...)
			if code != 2 || !strings.Contains(errOut, tc.want) || out != "" {
				t.Fatalf("exit %d, stdout %q, stderr %q; want 2 and %q on stderr", code, out, errOut, tc.want)
			}
		})
	}
}

func TestVersion(t *testing.T) {
	for _, args := range [][]string{{"version"}, {"--version"}} {
		code, out, _ := runCLI(t, nil, args...)
		if code != 0 || !strings.HasPrefix(out, "rtgate ") {
			t.Errorf("%v: %d %q", args, code, out)
		}
	}
	if Version("v1.2.3") != "v1.2.3" || Version("") == "" {
		t.Error("Version")
	}
}

// TestConfigCheckEnvFile: --env-file reads dotenv syntax (quotes, spaces,
// comments, export), is the whole environment (the process's is not
// read), later files win, and a syntax error names the file and line.
func TestConfigCheckEnvFile(t *testing.T) {
	dir := t.TempDir()
	main := filepath.Join(dir, "rtgate.env")
	writeFile(t, main, `# /etc/rtgate/rtgate.env
export APP_ENV=development
PORT=3001
REALTIME_INSTRUCTIONS="Be brief. Answer in \"plain\" French."   # 35 bytes
REALTIME_VOICE='marin'
LOG_LEVEL = warn
`)
	override := filepath.Join(dir, "override.env")
	writeFile(t, override, "LOG_LEVEL=error\n")

	code, out, errOut := runCLI(t, map[string]string{"PORT": "not-a-port"}, "config", "check", "--env-file", main, "--env-file", override)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{"# configuration from " + main + ", " + override + " only", "PORT ", "3001", "(35 bytes)", "LOG_LEVEL", "error", "configuration OK"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}

	bad := filepath.Join(dir, "bad.env")
	writeFile(t, bad, "A=1\nOPENAI_API_KEY=\"sk-proj-unterminated\n")
	code, out, errOut = runCLI(t, nil, "config", "check", "--env-file", bad)
	if code != 2 || !strings.Contains(errOut, bad+": line 2: OPENAI_API_KEY") || strings.Contains(errOut, "sk-proj") || out != "" {
		t.Errorf("bad file: %d %q %q", code, out, errOut)
	}
	code, _, errOut = runCLI(t, nil, "config", "check", "--env-file", filepath.Join(dir, "missing.env"))
	if code != 2 || !strings.Contains(errOut, "missing.env") {
		t.Errorf("missing file: %d %q", code, errOut)
	}
	// An invalid configuration in the file fails like serve would.
	writeFile(t, bad, "PORT=http\n")
	if code, _, errOut := runCLI(t, nil, "config", "check", "--env-file", bad); code != 2 || !strings.Contains(errOut, "PORT") {
		t.Errorf("invalid PORT in the file: %d %q", code, errOut)
	}
}

func writeFile(t *testing.T, path, s string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
}
