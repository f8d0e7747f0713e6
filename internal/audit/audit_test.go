package audit_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rtgate/rtgate/internal/apptest"
	"github.com/rtgate/rtgate/internal/audit"
	"github.com/rtgate/rtgate/internal/tlsx/tlsxtest"
)

// allChecks is every check the audit must report, in order.
var allChecks = []string{
	audit.CheckHTTPS, audit.CheckRedirect, audit.CheckCertificate, audit.CheckTLSFloor, audit.CheckTLSCiphers,
	audit.CheckMethods, audit.CheckOversize, audit.CheckContentType,
	"header:Strict-Transport-Security", "header:X-Content-Type-Options", "header:X-Frame-Options",
	"header:X-XSS-Protection", "header:Referrer-Policy", "header:Permissions-Policy", "header:Content-Security-Policy",
	audit.CheckCORSForeign, audit.CheckCORSLookalik, audit.CheckCORSNull, audit.CheckPreflight,
	audit.CheckErrorLeaks, audit.CheckAnonymous, audit.CheckRateLimit,
}

// authenticated is the environment of an rtgate that mints only for a
// valid JWT (the audit has none).
var authenticated = map[string]string{"AUTH_MODE": "jwt", "AUTH_JWT_SECRET": "audit-test-secret-0123456789abcdefghijklmnop"}

func with(base map[string]string, kv ...string) map[string]string {
	out := map[string]string{}
	for k, v := range base {
		out[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		out[kv[i]] = kv[i+1]
	}
	return out
}

func names(rep *audit.Report) []string {
	var n []string
	for _, c := range rep.Checks {
		n = append(n, c.Name)
	}
	return n
}

// TestAuditOfRtgateOverTLSIsAllPass audits an rtgate that does everything
// right, authentication included: every check passes, and the audit mints
// nothing at all.
func TestAuditOfRtgateOverTLSIsAllPass(t *testing.T) {
	d := apptest.StartTLS(t, with(authenticated, "RATE_LIMIT_MAX_REQUESTS", "8", "RATE_LIMIT_WINDOW_MS", "3600000", "REQUIRE_HTTPS", "true"))
	var out, errOut bytes.Buffer
	code := audit.Main(context.Background(), []string{d.URL, "--origin", "https://app.example.com", "--http", d.RedirectURL, "--ca", d.CAFile, "--json", "--burst-cap", "30"}, &out, &errOut)
	var rep audit.Report
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("--json output does not parse: %v\n%s\nstderr: %s", err, out.String(), errOut.String())
	}
	if !slices.Equal(names(&rep), allChecks) {
		t.Fatalf("checks %v\nwant %v", names(&rep), allChecks)
	}
	for _, c := range rep.Checks {
		if c.Status != audit.Pass {
			t.Errorf("%s %s: %s", c.Status, c.Name, c.Reason)
		}
	}
	if code != 0 || rep.Summary.Pass != len(allChecks) || rep.Summary.Fail != 0 || rep.Summary.Skip != 0 {
		t.Errorf("exit %d, summary %+v", code, rep.Summary)
	}
	// Without credentials nothing is minted, and the simulator agrees.
	if minted := len(d.Sim.Minted()); rep.TokensMinted != 0 || minted != 0 {
		t.Errorf("report says %d tokens minted, simulator %d; want none", rep.TokensMinted, minted)
	}
	if r := rep.Result(audit.CheckAnonymous).Reason; !strings.Contains(r, "without Origin or credentials → 401") || !strings.Contains(r, "with Origin: https://app.example.com and no credentials → 401") {
		t.Errorf("anonymous-mint reason %q", r)
	}
	if !strings.Contains(rep.Notice, "mints a real ephemeral client secret") || !strings.Contains(errOut.String(), rep.Notice) {
		t.Errorf("notice %q not in the report and on stderr (%q)", rep.Notice, errOut.String())
	}
}

// TestAuditFlagsAnonymousMinting audits the same rtgate with AUTH_MODE=none:
// sound in every other respect, so anonymous-mint is the one FAIL, and the
// report's token count (the probe plus the burst) is what the upstream saw.
func TestAuditFlagsAnonymousMinting(t *testing.T) {
	const limit = 8
	d := apptest.StartTLS(t, map[string]string{"AUTH_MODE": "none", "RATE_LIMIT_MAX_REQUESTS": "8", "RATE_LIMIT_WINDOW_MS": "3600000", "REQUIRE_HTTPS": "true"})
	var out bytes.Buffer
	code := audit.Main(context.Background(), []string{d.URL, "--origin", "https://app.example.com", "--http", d.RedirectURL, "--ca", d.CAFile, "--burst-cap", "30"}, &out, io.Discard)
	text := out.String()
	if code != 1 {
		t.Errorf("exit code %d, want 1", code)
	}
	// The report starts with the audit as asked for, so a saved transcript
	// shows which options (--http) made which checks run.
	if first, _, _ := strings.Cut(text, "\n"); first != "rtgate audit "+d.URL+" --origin https://app.example.com --http "+d.RedirectURL+" --ca "+d.CAFile {
		t.Errorf("first line %q does not repeat the command", first)
	}
	for _, name := range allChecks {
		line := lineOf(text, name)
		switch {
		case name != audit.CheckAnonymous:
			if !strings.HasPrefix(line, "PASS") {
				t.Errorf("%s: %q, want PASS (only authentication is missing)", name, line)
			}
		case !strings.HasPrefix(line, "FAIL") || !strings.Contains(line, "anyone on the internet can mint") || !strings.Contains(line, "AUTH_MODE=jwt or AUTH_MODE=forward"):
			t.Errorf("%s: %q, want FAIL saying how to require authentication", name, line)
		}
	}
	minted := len(d.Sim.Minted())
	if minted == 0 || minted > limit || !strings.Contains(text, fmt.Sprintf(", %d tokens minted\n", minted)) {
		t.Errorf("simulator minted %d (limit %d); report:\n%s", minted, limit, text)
	}
}

// misconfigured is everything the guide warns against: no security
// headers, CORS open to any origin, stack traces and keys in errors, no rate
// limit, every method and body accepted, and plain HTTP served as is.
func misconfigured() http.Handler {
	var n atomic.Int64
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Access-Control-Allow-Origin", "*")
		w.Header().Set("Access-Control-Allow-Methods", "*")
		if r.URL.Path != "/api/realtime-session" {
			w.WriteHeader(http.StatusNotFound)
			_, _ = io.WriteString(w, "Error: not found\ngoroutine 1 [running]:\nmain.handler()\n\t/home/dev/app/main.go:42 +0x1d\nOPENAI_API_KEY=sk-proj-abcdefghijklmnopqrstuvwx\n")
			return
		}
		if r.Method == http.MethodOptions {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"value":"ek_`+strings.Repeat("x", 20)+string(rune('a'+n.Add(1)%26))+`"}`)
	})
}

func TestAuditOfAMisconfiguredServerFailsEveryCheck(t *testing.T) {
	srv := httptest.NewServer(misconfigured())
	t.Cleanup(srv.Close)
	var out bytes.Buffer
	code := audit.Main(context.Background(), []string{srv.URL, "--origin", "https://app.example.com", "--burst-cap", "15"}, &out, io.Discard)
	text := out.String()
	if code != 1 {
		t.Errorf("exit code %d, want 1", code)
	}
	// The notice comes before any result.
	if i, j := strings.Index(text, "note: "), strings.Index(text, "FAIL"); i < 0 || j < i {
		t.Errorf("notice missing or after the results:\n%s", text)
	}
	for _, name := range allChecks {
		line := lineOf(text, name)
		if !strings.HasPrefix(line, "FAIL") {
			t.Errorf("%s: %q, want FAIL", name, line)
		}
	}
	if strings.Contains(text, "sk-proj-abcdefghijklmnopqrstuvwx") {
		t.Error("the report repeats the leaked key")
	}
	if !strings.Contains(lineOf(text, audit.CheckRateLimit), "no 429 after 15 requests") {
		t.Errorf("rate-limit reason: %q", lineOf(text, audit.CheckRateLimit))
	}
}

func lineOf(text, check string) string {
	for _, l := range strings.Split(text, "\n") {
		f := strings.Fields(l)
		if len(f) >= 2 && f[1] == check {
			return l
		}
	}
	return ""
}

// TestAuditOfWeakTLSFailsTheTLSChecks runs a server that is sound over HTTP
// but whose TLS is not: a certificate expiring in five days and TLS 1.0
// still accepted.
func TestAuditOfWeakTLSFailsTheTLSChecks(t *testing.T) {
	ca := tlsxtest.NewCA(t)
	leaf := ca.Issue(t, 5*24*time.Hour, "127.0.0.1")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{
		Handler:   http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNotFound) }),
		TLSConfig: &tls.Config{Certificates: []tls.Certificate{leaf.TLS(t)}, MinVersion: tls.VersionTLS10},
		ErrorLog:  log.New(io.Discard, "", 0),
	}
	go func() { _ = srv.ServeTLS(ln, "", "") }()
	t.Cleanup(func() { _ = srv.Close() })

	rep := audit.Run(context.Background(), audit.Options{URL: "https://" + ln.Addr().String(), RootCAs: ca.Pool(), BurstCap: 1})
	want := map[string]audit.Status{
		audit.CheckHTTPS:       audit.Pass,
		audit.CheckCertificate: audit.Fail,
		audit.CheckTLSFloor:    audit.Fail,
		audit.CheckTLSCiphers:  audit.Fail,
		audit.CheckRedirect:    audit.Skip, // non-default port and no --http
	}
	for name, st := range want {
		if got := rep.Result(name); got.Status != st {
			t.Errorf("%s: %s (%s), want %s", name, got.Status, got.Reason, st)
		}
	}
	if r := rep.Result(audit.CheckTLSFloor).Reason; !strings.Contains(r, "TLS 1.0") {
		t.Errorf("tls floor reason %q does not name TLS 1.0", r)
	}
	if r := rep.Result(audit.CheckCertificate).Reason; !strings.Contains(r, "in 4 days") && !strings.Contains(r, "in 5 days") {
		t.Errorf("certificate reason %q", r)
	}

	// The same server seen without the CA: not trusted.
	rep = audit.Run(context.Background(), audit.Options{URL: "https://" + ln.Addr().String(), BurstCap: 1})
	if got := rep.Result(audit.CheckCertificate); got.Status != audit.Fail || !strings.Contains(got.Reason, "not trusted") {
		t.Errorf("untrusted certificate: %s %s", got.Status, got.Reason)
	}
}

func TestMainRefusesBadUsage(t *testing.T) {
	cases := map[string][]string{
		"no URL":             nil,
		"two URLs":           {"https://a.example", "https://b.example"},
		"not a URL":          {"ftp://a.example"},
		"origin with a path": {"https://a.example", "--origin", "https://app.example/x"},
		"http flag not http": {"https://a.example", "--http", "https://a.example"},
		"burst cap of zero":  {"https://a.example", "--burst-cap", "0"},
		"missing CA file":    {"https://a.example", "--ca", filepath.Join(t.TempDir(), "none.pem")},
		"unknown flag":       {"https://a.example", "--yolo"},
	}
	for name, args := range cases {
		t.Run(name, func(t *testing.T) {
			if code := audit.Main(context.Background(), args, io.Discard, io.Discard); code != 2 {
				t.Fatalf("exit %d, want 2", code)
			}
		})
	}
}
