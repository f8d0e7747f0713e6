package config

import (
	"strings"
	"testing"
)

func TestWebSettings(t *testing.T) {
	tests := []struct {
		name     string
		env      map[string]string
		demo     bool
		sdpBytes int64
	}{
		{name: "development serves the demo page by default", env: map[string]string{}, demo: true, sdpBytes: 32768},
		{name: "production does not serve the demo page by default", env: prodEnv(), demo: false, sdpBytes: 32768},
		{name: "production may turn the demo page on", env: webEnvWith(prodEnv(), "DEMO_PAGE", "true"), demo: true, sdpBytes: 32768},
		{name: "development may turn it off", env: map[string]string{"DEMO_PAGE": "off"}, demo: false, sdpBytes: 32768},
		{name: "the SDP size limit is configurable", env: map[string]string{"MAX_SDP_BYTES": "8192"}, demo: true, sdpBytes: 8192},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _, err := Load(env(tt.env))
			if err != nil {
				t.Fatal(err)
			}
			if c.Web.DemoPage != tt.demo || c.Web.MaxSDPBytes != tt.sdpBytes {
				t.Fatalf("Web = %+v, want demo %v, sdp %d", c.Web, tt.demo, tt.sdpBytes)
			}
		})
	}
}

func TestWebSettingsRejectMalformedValues(t *testing.T) {
	tests := []struct{ name, value string }{
		{"DEMO_PAGE", "maybe"},
		{"MAX_SDP_BYTES", "100"},
		{"MAX_SDP_BYTES", "10000000"},
	}
	for _, tt := range tests {
		t.Run(tt.name+"="+tt.value, func(t *testing.T) {
			_, _, err := Load(env(map[string]string{tt.name: tt.value}))
			if err == nil || !strings.Contains(err.Error(), tt.name) {
				t.Fatalf("err = %v, want one naming %s", err, tt.name)
			}
		})
	}
}

func TestRealtimeOriginFollowsTheBaseURL(t *testing.T) {
	tests := []struct{ base, want string }{
		{"https://api.openai.com/v1", "https://api.openai.com"},
		{"https://API.OpenAI.com:443/v1", "https://api.openai.com"},
		{"http://127.0.0.1:8089/v1", "http://127.0.0.1:8089"},
		{"http://[::1]:8089/v1", "http://[::1]:8089"},
		{"ftp://example.com/v1", ""},
		{"not a url", ""},
	}
	for _, tt := range tests {
		c := &Config{OpenAIBaseURL: tt.base}
		if got := c.RealtimeOrigin(); got != tt.want {
			t.Errorf("RealtimeOrigin(%q) = %q, want %q", tt.base, got, tt.want)
		}
	}
}

func TestMaskedListsWebSettings(t *testing.T) {
	c, _, err := Load(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, kv := range c.Masked() {
		got[kv[0]] = kv[1]
	}
	for k, want := range map[string]string{"DEMO_PAGE": "true", "MAX_SDP_BYTES": "32768"} {
		if got[k] != want {
			t.Errorf("%s = %q, want %q", k, got[k], want)
		}
	}
}

func webEnvWith(m map[string]string, k, v string) map[string]string {
	m[k] = v
	return m
}
