package app_test

import (
	"context"
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
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/letsencrypt/pebble/v2/ca"
	"github.com/letsencrypt/pebble/v2/db"
	"github.com/letsencrypt/pebble/v2/va"
	"github.com/letsencrypt/pebble/v2/wfe"
	"github.com/miekg/dns"

	"github.com/rtgate/rtgate/internal/apptest"
)

// loopbackDNS answers every A query with 127.0.0.1 and every other query
// with no records, over TCP (Pebble's VA asks over TCP).
func loopbackDNS(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &dns.Server{Listener: ln, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, m *dns.Msg) {
		r := new(dns.Msg)
		r.SetReply(m)
		for _, q := range m.Question {
			if q.Qtype == dns.TypeA {
				r.Answer = append(r.Answer, &dns.A{Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeA, Class: dns.ClassINET}, A: net.IPv4(127, 0, 0, 1)})
			}
		}
		_ = w.WriteMsg(r)
	})}
	go func() { _ = srv.ActivateAndServe() }()
	t.Cleanup(func() { _ = srv.Shutdown() })
	return ln.Addr().String()
}

// TestACMECertificateFromPebble obtains a certificate from a real ACME
// server (Pebble, in-process, loopback only) with the tls-alpn-01 challenge:
// Pebble's validation authority really connects to rtgate's TLS port and
// checks the challenge certificate autocert serves there.
func TestACMECertificateFromPebble(t *testing.T) {
	t.Setenv("PEBBLE_VA_NOSLEEP", "1")
	t.Setenv("PEBBLE_WFE_NONCEREJECT", "0")
	const domain = "rtgate.test"
	plog := log.New(io.Discard, "pebble ", 0)
	if testing.Verbose() {
		plog = log.New(os.Stderr, "pebble ", 0)
	}

	// Pebble's directory over HTTPS, with its handler set once rtgate's
	// port (the one the VA must validate against) is known.
	var handler atomic.Pointer[http.Handler]
	acmeSrv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if h := handler.Load(); h != nil {
			(*h).ServeHTTP(w, r)
			return
		}
		http.Error(w, "starting", http.StatusServiceUnavailable)
	}))
	t.Cleanup(acmeSrv.Close)
	dir := t.TempDir()
	caFile := filepath.Join(dir, "acme-server-ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: acmeSrv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}

	d := apptest.StartDeployment(t, map[string]string{
		"ACME_DOMAINS":       domain,
		"ACME_EMAIL":         "ops@rtgate.test",
		"ACME_DIRECTORY_URL": acmeSrv.URL + "/dir",
		"ACME_CACHE_DIR":     filepath.Join(dir, "cache"),
		"ACME_CA_FILE":       caFile,
	})
	_, portStr, _ := net.SplitHostPort(d.App.PublicAddr())
	port, _ := strconv.Atoi(portStr)

	store := db.NewMemoryStore()
	authority := ca.New(plog, store, "", "ecdsa", 0, 1, map[string]ca.Profile{"default": {Description: "default"}})
	validator := va.New(plog, 0, port, false, loopbackDNS(t), store)
	front := wfe.New(plog, store, validator, authority, []string{"pebble.letsencrypt.org"}, false, false, 1, 1)
	h := front.Handler()
	handler.Store(&h)

	roots := x509.NewCertPool()
	root := authority.GetRootCert(0)
	roots.AddCert(root.Cert)

	// The first handshake for the domain makes autocert order the
	// certificate; Pebble validates tls-alpn-01 against rtgate meanwhile.
	client := &http.Client{Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: roots, ServerName: domain},
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, d.App.PublicAddr())
		},
		ForceAttemptHTTP2: true,
	}}
	r := apptest.DoURL(t, client, "POST", "https://"+domain+"/api/realtime-session", "")
	if r.StatusCode != http.StatusOK || !strings.Contains(r.Body, `"ek_`) {
		t.Fatalf("mint over the ACME certificate: %d %s", r.StatusCode, r.Body)
	}
	leaf := r.TLS.PeerCertificates[0]
	if len(leaf.DNSNames) != 1 || leaf.DNSNames[0] != domain {
		t.Fatalf("certificate names %v", leaf.DNSNames)
	}
	if r.TLS.Version < tls.VersionTLS12 || r.ProtoMajor != 2 {
		t.Errorf("negotiated %s over %s", tls.VersionName(r.TLS.Version), r.Proto)
	}
	// autocert keeps what it obtained, so a restart does not re-order.
	entries, err := os.ReadDir(filepath.Join(dir, "cache"))
	if err != nil || len(entries) < 2 {
		t.Errorf("ACME cache holds %d entries (%v), want the account key and the certificate", len(entries), err)
	}
	// A name outside ACME_DOMAINS gets no certificate (and orders nothing).
	other := &tls.Config{RootCAs: roots, ServerName: "evil.test"}
	if c, err := tls.Dial("tcp", d.App.PublicAddr(), other); err == nil {
		c.Close()
		t.Error("handshake for a domain outside ACME_DOMAINS succeeded")
	}
}
