package audit_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rtgate/rtgate/internal/apptest"
	"github.com/rtgate/rtgate/internal/audit"
	"github.com/rtgate/rtgate/internal/nginxtest"
	"github.com/rtgate/rtgate/internal/tlsx/tlsxtest"
)

// startNginx runs deploy/nginx/production.conf in a real nginx, rewritten to
// loopback: its listen ports, certificate paths and upstream. It returns the
// https and http base URLs.
func startNginx(t *testing.T, upstream, certFile, keyFile string) (string, string) {
	src, err := os.ReadFile(nginxtest.DeployFile(t, "production.conf"))
	if err != nil {
		t.Fatal(err)
	}
	httpsPort, httpPort := nginxtest.FreePort(t), nginxtest.FreePort(t)
	conf := string(src)
	for _, r := range [][2]string{
		{"    listen [::]:80;\n", ""},
		{"    listen [::]:443 ssl http2;\n", ""},
		{"listen 80;", "listen 127.0.0.1:" + httpPort + ";"},
		{"listen 443 ssl http2;", "listen 127.0.0.1:" + httpsPort + " ssl http2;"},
		{"/etc/letsencrypt/live/rtgate.example.com/fullchain.pem", certFile},
		{"/etc/letsencrypt/live/rtgate.example.com/privkey.pem", keyFile},
		{"server 127.0.0.1:3000;", "server " + upstream + ";"},
	} {
		if !strings.Contains(conf, r[0]) {
			t.Fatalf("production.conf no longer contains %q; update this test", r[0])
		}
		conf = strings.ReplaceAll(conf, r[0], r[1])
	}
	site := filepath.Join(t.TempDir(), "production.conf")
	if err := os.WriteFile(site, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	nginxtest.Start(t, "    include "+site+";", httpsPort, httpPort)
	return "https://127.0.0.1:" + httpsPort, "http://127.0.0.1:" + httpPort
}

// TestAuditThroughNginxIsAllPass audits rtgate behind the production nginx
// example: nginx terminates TLS and adds X-Forwarded-Proto, rtgate trusts
// it (TRUSTED_PROXIES) and keeps its HTTPS guard on.
func TestAuditThroughNginxIsAllPass(t *testing.T) {
	in := apptest.Start(t, map[string]string{
		"REQUIRE_HTTPS":           "true",
		"TRUSTED_PROXIES":         "127.0.0.1",
		"RATE_LIMIT_MAX_REQUESTS": "4",
		"RATE_LIMIT_WINDOW_MS":    "3600000", // no refill during the run, so the minted count is exact
	})
	ca := tlsxtest.NewCA(t)
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	ca.Issue(t, 90*24*time.Hour, "127.0.0.1").Write(t, certFile, keyFile)
	httpsURL, httpURL := startNginx(t, strings.TrimPrefix(in.URL, "http://"), certFile, keyFile)

	// Straight to rtgate without nginx's X-Forwarded-Proto: refused.
	if r := in.Do(t, "POST", "/api/realtime-session", ""); r.StatusCode != 403 {
		t.Errorf("plain request straight to rtgate: %d", r.StatusCode)
	}

	rep := audit.Run(context.Background(), audit.Options{URL: httpsURL, Origin: "https://app.example.com", HTTPURL: httpURL, RootCAs: ca.Pool(), BurstCap: 30})
	for _, c := range rep.Checks {
		t.Logf("%s %s: %s", c.Status, c.Name, c.Reason)
		if c.Status != audit.Pass {
			t.Errorf("%s %s: %s", c.Status, c.Name, c.Reason)
		}
	}
	if len(rep.Checks) != len(allChecks) {
		t.Errorf("%d checks, want %d", len(rep.Checks), len(allChecks))
	}
	if got := in.Sim.Minted(); len(got) != rep.TokensMinted || len(got) > 4 {
		t.Errorf("minted %d, report says %d", len(got), rep.TokensMinted)
	}
}
