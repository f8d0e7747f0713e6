package simulator

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/coder/websocket"
)

// TestTLSServesHTTPSAndWSSToAClientTrustingOnlyTheCAFile: NewTLSCert's CA
// file is all a client needs, for REST and for the sideband WebSocket.
func TestTLSServesHTTPSAndWSSToAClientTrustingOnlyTheCAFile(t *testing.T) {
	dir := t.TempDir()
	cfg, caFile, err := NewTLSCert(dir)
	if err != nil {
		t.Fatal(err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 || caFile != filepath.Join(dir, CAFileName) {
		t.Fatalf("wrote %v, CA file %q (the CA key must never be written)", entries, caFile)
	}
	pemBytes, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	block, rest := pem.Decode(pemBytes)
	ca, err := x509.ParseCertificate(block.Bytes)
	if err != nil || block.Type != "CERTIFICATE" || len(strings.TrimSpace(string(rest))) != 0 || !ca.IsCA {
		t.Fatalf("CA file: %v, type %q, CA %v", err, block.Type, ca != nil && ca.IsCA)
	}
	leaf, err := x509.ParseCertificate(cfg.Certificates[0].Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	for _, host := range []string{"127.0.0.1", "::1", "localhost"} {
		if _, err := leaf.Verify(x509.VerifyOptions{Roots: pool, DNSName: host}); err != nil {
			t.Errorf("leaf does not verify for %s: %v", host, err)
		}
	}

	sim := New(Options{APIKeys: []string{testKey}})
	t.Cleanup(sim.Close)
	srv := httptest.NewUnstartedServer(sim)
	srv.TLS = cfg
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the untrusting client's handshake failure
	srv.StartTLS()
	t.Cleanup(srv.Close)
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	trusting := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	post := func(c *http.Client, url, ctype, body string) (*http.Response, error) {
		req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+testKey)
		req.Header.Set("Content-Type", ctype)
		return c.Do(req)
	}
	for _, host := range []string{"127.0.0.1", "localhost"} {
		res, err := post(trusting, "https://"+host+":"+port+"/v1/realtime/client_secrets", "application/json", "{}")
		if err != nil || res.StatusCode != http.StatusOK {
			t.Fatalf("https via %s: %v", host, err)
		}
		res.Body.Close()
	}
	if _, err := post(&http.Client{}, "https://127.0.0.1:"+port+"/v1/realtime/client_secrets", "application/json", "{}"); err == nil {
		t.Fatal("a client with the system roots trusted the simulator's certificate")
	}

	res, err := post(trusting, "https://127.0.0.1:"+port+"/v1/realtime/calls", "application/sdp", offer)
	if err != nil || res.StatusCode != http.StatusCreated {
		t.Fatalf("call: %v", err)
	}
	res.Body.Close()
	call := res.Header.Get("Location")[len("/v1/realtime/calls/"):]
	conn, _, err := websocket.Dial(t.Context(), "wss://127.0.0.1:"+port+"/v1/realtime?call_id="+call, &websocket.DialOptions{
		HTTPClient: trusting, HTTPHeader: http.Header{"Authorization": {"Bearer " + testKey}}})
	if err != nil {
		t.Fatalf("wss sideband: %v", err)
	}
	defer conn.CloseNow()
	sb := &wsClient{conn: conn}
	sb.send(t, map[string]any{"type": "session.update", "session": map[string]any{"type": "realtime", "instructions": "over TLS"}})
	if s := sb.next(t, "session.updated")["session"].(map[string]any); s["instructions"] != "over TLS" {
		t.Fatalf("session.updated = %v", s)
	}
}
