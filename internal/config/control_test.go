package config

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestSessionControl(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		want ControlConfig
	}{
		{"defaults: gpt-live-1 with OpenAI's voice and instructions, revert, no idle timeout", map[string]string{"REALTIME_VOICE": "cedar", "REALTIME_INSTRUCTIONS": "Be brief."},
			ControlConfig{LiveModel: "gpt-live-1", Policy: "revert", AttachTimeout: 5 * time.Second, Retries: 3, RetryDelay: time.Second}},
		{"everything set", map[string]string{"LIVE_MODEL": "gpt-live-1.1", "LIVE_VOICE": "marin", "LIVE_INSTRUCTIONS": "Live.", "REALTIME_INSTRUCTIONS": "Realtime.",
			"SESSION_POLICY": "hangup", "SESSION_IDLE_SECONDS": "120", "SIDEBAND_ATTACH_TIMEOUT_MS": "2000", "SIDEBAND_RETRIES": "5", "SIDEBAND_RETRY_DELAY_MS": "250"},
			ControlConfig{LiveModel: "gpt-live-1.1", LiveVoice: "marin", LiveInstructions: "Live.", Policy: "hangup", Idle: 2 * time.Minute, AttachTimeout: 2 * time.Second, Retries: 5, RetryDelay: 250 * time.Millisecond}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _, err := Load(env(tt.env))
			if err != nil {
				t.Fatal(err)
			}
			if c.Control != tt.want {
				t.Fatalf("Control = %+v\nwant      %+v", c.Control, tt.want)
			}
			m := c.Masked()
			if !slices.Contains(m, [2]string{"SESSION_POLICY", tt.want.Policy}) || !slices.Contains(m, [2]string{"LIVE_MODEL", tt.want.LiveModel}) {
				t.Errorf("Masked() lacks the session control: %v", m)
			}
			for _, kv := range m {
				if tt.want.LiveInstructions != "" && strings.Contains(kv[1], tt.want.LiveInstructions) {
					t.Errorf("Masked() shows the instructions: %v", kv)
				}
			}
			var live struct {
				Model        string `json:"model"`
				Instructions string `json:"instructions"`
				Audio        struct {
					Output struct{ Voice string } `json:"output"`
				} `json:"audio"`
			}
			if err := json.Unmarshal(c.Session.Live(), &live); err != nil || live.Model != tt.want.LiveModel ||
				live.Instructions != tt.want.LiveInstructions || live.Audio.Output.Voice != tt.want.LiveVoice {
				t.Errorf("the rendered Live session %s (%v)", c.Session.Live(), err)
			}
		})
	}
}

func TestSessionControlRejectsMalformedValues(t *testing.T) {
	for _, tt := range []struct {
		env  map[string]string
		name string
	}{
		{map[string]string{"SESSION_POLICY": "ignore"}, "SESSION_POLICY"},
		{map[string]string{"SESSION_IDLE_SECONDS": "-1"}, "SESSION_IDLE_SECONDS"},
		{map[string]string{"SESSION_IDLE_SECONDS": "1m"}, "SESSION_IDLE_SECONDS"},
		{map[string]string{"SIDEBAND_RETRIES": "0"}, "SIDEBAND_RETRIES"},
		{map[string]string{"SIDEBAND_ATTACH_TIMEOUT_MS": "10"}, "SIDEBAND_ATTACH_TIMEOUT_MS"},
		{map[string]string{"SIDEBAND_RETRY_DELAY_MS": "x"}, "SIDEBAND_RETRY_DELAY_MS"},
		{map[string]string{"LIVE_MODEL": "gpt live"}, "LIVE_MODEL"},
		{map[string]string{"LIVE_INSTRUCTIONS": strings.Repeat("x", 16385)}, "LIVE_INSTRUCTIONS"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := Load(env(tt.env))
			if err == nil || !strings.Contains(err.Error(), tt.name+" ") {
				t.Fatalf("%v: err = %v, want one naming %s", tt.env, err, tt.name)
			}
		})
	}
}

func TestIdleTimeoutBeyondTheMaximumDurationWarns(t *testing.T) {
	_, warnings, err := Load(env(map[string]string{"SESSION_IDLE_SECONDS": "3600", "USER_SESSION_MAX_SECONDS": "600"}))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(warnings, func(w string) bool { return strings.Contains(w, "SESSION_IDLE_SECONDS") }) {
		t.Fatalf("warnings %v", warnings)
	}
}

// TestLiveModelFromTheFileOrTheDefault: without LIVE_MODEL the session
// file may name the Live model; with it the file may not; with neither the
// model is gpt-live-1.
func TestLiveModelFromTheFileOrTheDefault(t *testing.T) {
	file := writePrices(t, `{"live": {"model": "gpt-live-1.1", "instructions": "From the file."}}`)
	c, _, err := Load(env(map[string]string{"SESSION_CONFIG_FILE": file}))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(c.Session.Live()), `"model":"gpt-live-1.1"`) || c.Control.LiveModel != "" {
		t.Fatalf("the file's model: %s (LIVE_MODEL %q)", c.Session.Live(), c.Control.LiveModel)
	}
	if _, _, err := Load(env(map[string]string{"SESSION_CONFIG_FILE": file, "LIVE_MODEL": "gpt-live-1"})); err == nil || !strings.Contains(err.Error(), "LIVE_MODEL") {
		t.Fatalf("LIVE_MODEL and the file's model: %v", err)
	}
	if _, _, err := Load(env(map[string]string{"SESSION_CONFIG_FILE": file, "LIVE_INSTRUCTIONS": "x"})); err == nil || !strings.Contains(err.Error(), "LIVE_INSTRUCTIONS") {
		t.Fatalf("LIVE_INSTRUCTIONS and the file's instructions: %v", err)
	}
}
