package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func sessionFile(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "session.json")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestSessionConfigFile(t *testing.T) {
	good := sessionFile(t, `{"realtime":{"max_output_tokens":512,"audio":{"input":{"transcription":{"model":"whisper-1"}}}}}`)
	c, warnings, err := Load(env(map[string]string{"SESSION_CONFIG_FILE": good}))
	if err != nil {
		t.Fatal(err)
	}
	if c.SessionConfigFile != good || c.Session == nil || c.Session.File() != good {
		t.Fatalf("session file not loaded: %q %v", c.SessionConfigFile, c.Session)
	}
	if len(warnings) != 1 || !strings.HasPrefix(warnings[0], "SESSION_CONFIG_FILE "+good+": realtime.audio.input.transcription.model: whisper-1") {
		t.Errorf("warnings %v", warnings)
	}
	if got, _ := c.Session.Realtime(c.RealtimeModel, c.RealtimeVoice); !strings.Contains(string(got), `"max_output_tokens":512`) {
		t.Errorf("session %s", got)
	}
	masked := map[string]string{}
	for _, kv := range c.Masked() {
		masked[kv[0]] = kv[1]
	}
	if masked["SESSION_CONFIG_FILE"] != good {
		t.Errorf("masked %q", masked["SESSION_CONFIG_FILE"])
	}

	// Without the variable the sessions come from the environment alone.
	c, _, err = Load(env(nil))
	if err != nil || c.Session == nil || c.Session.File() != "" {
		t.Fatalf("no file: %v", err)
	}

	cases := []struct {
		name string
		env  map[string]string
		want []string
	}{
		{"a missing file", map[string]string{"SESSION_CONFIG_FILE": filepath.Join(t.TempDir(), "none.json")}, []string{"SESSION_CONFIG_FILE", "cannot be read"}},
		{"an unknown field, by path", map[string]string{"SESSION_CONFIG_FILE": sessionFile(t, `{"realtime":{"audio":{"output":{"sped":1}}}}`)},
			[]string{"SESSION_CONFIG_FILE", "realtime.audio.output.sped: unknown field"}},
		{"instructions in the file and in REALTIME_INSTRUCTIONS", map[string]string{
			"SESSION_CONFIG_FILE": sessionFile(t, `{"realtime":{"instructions":"a"}}`), "REALTIME_INSTRUCTIONS": "b"},
			[]string{"SESSION_CONFIG_FILE", "realtime.instructions: is already set by REALTIME_INSTRUCTIONS"}},
		{"a file problem among others, all reported", map[string]string{
			"SESSION_CONFIG_FILE": sessionFile(t, `{"realtime":{"model":"gpt-realtime"}}`), "PORT": "x"},
			[]string{"PORT", "realtime.model: is set by REALTIME_MODEL"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := Load(env(tc.env))
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}
