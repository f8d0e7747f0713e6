package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestProvider(t *testing.T) {
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "not.pem")
	_ = os.WriteFile(notPEM, []byte("hello"), 0o600)
	key := "sk-test-0123456789abcdef"
	cases := []struct {
		name   string
		env    map[string]string
		flavor string
		err    string
	}{
		{"OpenAI by default", map[string]string{"OPENAI_API_KEY": key}, FlavorOpenAI, ""},
		{"Azure detected from the host", map[string]string{"OPENAI_API_KEY": key, "OPENAI_BASE_URL": "https://myres.openai.azure.com/openai/v1"}, FlavorAzure, ""},
		{"Azure AI Foundry host", map[string]string{"OPENAI_API_KEY": key, "OPENAI_BASE_URL": "https://myres.services.ai.azure.com/openai/v1"}, FlavorAzure, ""},
		{"a look-alike host is not Azure", map[string]string{"OPENAI_API_KEY": key, "OPENAI_BASE_URL": "https://openai.azure.com.evil.example/openai/v1"}, FlavorOpenAI, ""},
		{"explicit azure for any URL", map[string]string{"OPENAI_API_KEY": key, "OPENAI_BASE_URL": "http://127.0.0.1:8089/openai/v1", "OPENAI_API_FLAVOR": "Azure"}, FlavorAzure, ""},
		{"explicit openai wins over the host", map[string]string{"OPENAI_API_KEY": key, "OPENAI_BASE_URL": "https://myres.openai.azure.com/openai/v1", "OPENAI_API_FLAVOR": "openai"}, FlavorOpenAI, ""},
		{"azure needs its base URL", map[string]string{"OPENAI_API_KEY": key, "OPENAI_API_FLAVOR": "azure"}, "", "OPENAI_BASE_URL is required with OPENAI_API_FLAVOR=azure"},
		{"unknown flavor", map[string]string{"OPENAI_API_FLAVOR": "gemini"}, "", "OPENAI_API_FLAVOR must be"},
		{"missing CA file", map[string]string{"OPENAI_CA_FILE": filepath.Join(dir, "nope.pem")}, "", "OPENAI_CA_FILE cannot be read"},
		{"a CA file without a certificate", map[string]string{"OPENAI_CA_FILE": notPEM}, "", "OPENAI_CA_FILE holds no PEM certificate"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, _, err := Load(func(k string) string { return tc.env[k] })
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil || c.Provider.Flavor != tc.flavor {
				t.Fatalf("%v: flavor %q, want %q", err, c.Provider.Flavor, tc.flavor)
			}
		})
	}
}
