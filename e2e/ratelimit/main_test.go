// Package ratelimite2e runs real rtgate processes against a real
// redis-server and behind a real nginx, and checks that rate limits hold
// across instances and follow the real client, and that the connection caps
// keep floods of connections from exhausting the process's descriptors.
package ratelimite2e

import (
	"context"
	"io"
	"maps"
	"net"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/rtgate/rtgate/e2e/clustertest"
)

func TestMain(m *testing.M) { os.Exit(clustertest.Main(m)) }

// instance is one running rtgate process.
type instance = clustertest.Instance

// startRtgate runs `rtgate serve` in development mode with the built-in
// simulator (no OpenAI key), on loopback ports chosen by the kernel, with
// env added to a minimal base environment. It returns when the process has
// logged its listening address and answers /healthz.
func startRtgate(t *testing.T, env map[string]string) *instance {
	t.Helper()
	return startRtgateWith(t, env, nil)
}

// startRtgateWith is startRtgate with the command run through wrap (e.g.
// prlimit and its arguments), which must exec rtgate in its own place.
func startRtgateWith(t *testing.T, env map[string]string, wrap []string) *instance {
	t.Helper()
	base := clustertest.BaseEnv(t)
	maps.Copy(base, env)
	return clustertest.Run(t, base, wrap...)
}

// clientFrom returns an HTTP client whose connections come from the given
// loopback source address (127.0.0.2, 127.0.0.3, ...), so one machine can
// play several clients.
func clientFrom(t *testing.T, src string) *http.Client {
	t.Helper()
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 5 * time.Second}
	tr := &http.Transport{DialContext: d.DialContext, MaxIdleConnsPerHost: 8}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}
}

// mint makes one POST /api/realtime-session and returns the status and
// headers; any status other than 200 and 429 fails the test.
func mint(t *testing.T, c *http.Client, base string, hdr http.Header) (int, http.Header) {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), http.MethodPost, base+"/api/realtime-session", nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, vs := range hdr {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("POST %s: %d %s", base, resp.StatusCode, body)
	}
	return resp.StatusCode, resp.Header
}
