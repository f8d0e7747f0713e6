package app_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/rtgate/rtgate/internal/app"
	"github.com/rtgate/rtgate/internal/apptest"
)

// TestSimulateServesTLSAndAzure: `rtgate simulate` with SIMULATOR_TLS=1 and
// SIMULATOR_AZURE=1 serves the Azure v1 shape over https, logs the CA file
// to trust, and removes it on exit.
func TestSimulateServesTLSAndAzure(t *testing.T) {
	env := map[string]string{"SIMULATOR_ADDR": "127.0.0.1:0", "SIMULATOR_API_KEYS": "sk-azure-sim-key-0123456789",
		"SIMULATOR_TLS": "1", "SIMULATOR_AZURE": "true"}
	logs := &apptest.Buffer{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() { done <- app.Simulate(ctx, func(k string) string { return env[k] }, logs) }()
	stopped := false
	stop := func() int {
		if stopped {
			return app.ExitOK
		}
		stopped = true
		cancel()
		select {
		case code := <-done:
			return code
		case <-time.After(10 * time.Second):
			t.Error("simulate did not stop")
			return -1
		}
	}
	t.Cleanup(func() { stop() })

	var line struct {
		BaseURL string `json:"base_url"`
		CAFile  string `json:"ca_file"`
		Azure   bool   `json:"azure"`
	}
	deadline := time.Now().Add(10 * time.Second)
	for line.BaseURL == "" && time.Now().Before(deadline) {
		for l := range strings.Lines(logs.String()) {
			if strings.Contains(l, "simulator listening") {
				_ = json.Unmarshal([]byte(l), &line)
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	if !strings.HasPrefix(line.BaseURL, "https://127.0.0.1:") || !strings.HasSuffix(line.BaseURL, "/openai/v1") || !line.Azure {
		t.Fatalf("listening line: %+v\n%s", line, logs.String())
	}
	if !strings.Contains(logs.String(), "trust the CA in "+line.CAFile) {
		t.Errorf("the CA file is not printed:\n%s", logs.String())
	}
	pem, err := os.ReadFile(line.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatal("CA file holds no certificate")
	}
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	req, _ := http.NewRequest(http.MethodPost, line.BaseURL+"/realtime/client_secrets", strings.NewReader(`{}`))
	req.Header.Set("api-key", env["SIMULATOR_API_KEYS"])
	req.Header.Set("Content-Type", "application/json")
	res, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("mint over TLS in Azure mode: %d", res.StatusCode)
	}
	if code := stop(); code != app.ExitOK {
		t.Errorf("exit %d", code)
	}
	if _, err := os.Stat(line.CAFile); !os.IsNotExist(err) {
		t.Errorf("the CA file outlived the simulator: %v", err)
	}
}

func TestSimulateRefusesABadFlag(t *testing.T) {
	for _, name := range []string{"SIMULATOR_TLS", "SIMULATOR_AZURE"} {
		logs := &apptest.Buffer{}
		code := app.Simulate(context.Background(), func(k string) string {
			if k == name {
				return "sometimes"
			}
			return ""
		}, logs)
		if code != app.ExitConfig || !strings.Contains(logs.String(), name) {
			t.Errorf("%s=sometimes: exit %d, %q", name, code, logs.String())
		}
	}
}
