package audit_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rtgate/rtgate/internal/apptest"
	"github.com/rtgate/rtgate/internal/audit"
	"github.com/rtgate/rtgate/internal/nginxtest"
	"github.com/rtgate/rtgate/internal/tlsx/tlsxtest"
)

// TestAuditThroughNginxIsAllPass audits rtgate behind the production nginx
// example: nginx terminates TLS and adds X-Forwarded-Proto, rtgate trusts
// it (TRUSTED_PROXIES), keeps its HTTPS guard on and requires a JWT.
func TestAuditThroughNginxIsAllPass(t *testing.T) {
	in := apptest.Start(t, with(authenticated,
		"REQUIRE_HTTPS", "true",
		"TRUSTED_PROXIES", "127.0.0.1",
		"RATE_LIMIT_MAX_REQUESTS", "6", // the body, leak and anonymous-mint checks spend 5
		"RATE_LIMIT_WINDOW_MS", "3600000", // no refill during the run
	))
	ca := tlsxtest.NewCA(t)
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	ca.Issue(t, 90*24*time.Hour, "127.0.0.1").Write(t, certFile, keyFile)
	httpsURL, httpURL := nginxtest.StartProduction(t, strings.TrimPrefix(in.URL, "http://"), certFile, keyFile)

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
	if got := in.Sim.Minted(); len(got) != 0 || rep.TokensMinted != 0 {
		t.Errorf("minted %d, report says %d; want none without credentials", len(got), rep.TokensMinted)
	}
}
