package tlsx_test

import (
	"context"
	"crypto/tls"
	"io"
	"log"
	"net"
	"net/http"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rtgate/rtgate/internal/tlsx"
	"github.com/rtgate/rtgate/internal/tlsx/tlsxtest"
)

type pair struct{ cert, key string }

func newPair(t *testing.T) pair {
	d := t.TempDir()
	return pair{filepath.Join(d, "cert.pem"), filepath.Join(d, "key.pem")}
}

// server is an HTTPS server on loopback with ServerConfig(r.GetCertificate).
type server struct {
	URL  string
	Addr string
}

func serve(t *testing.T, r *tlsx.Reloader) *server {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{
		Handler:   http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("ok")) }),
		TLSConfig: tlsx.ServerConfig(r.GetCertificate),
		ErrorLog:  log.New(io.Discard, "", 0),
	}
	go func() { _ = srv.ServeTLS(ln, "", "") }()
	t.Cleanup(func() { _ = srv.Close() })
	return &server{URL: "https://" + ln.Addr().String(), Addr: ln.Addr().String()}
}

func TestReloadSwapsCertificateUnderLoadWithoutFailedRequests(t *testing.T) {
	ca := tlsxtest.NewCA(t)
	p := newPair(t)
	first := ca.Issue(t, 90*24*time.Hour, "127.0.0.1")
	first.Write(t, p.cert, p.key)
	r, err := tlsx.NewReloader(p.cert, p.key, nil)
	if err != nil {
		t.Fatal(err)
	}
	srv := serve(t, r)

	// Every request is a new connection, so every request is a handshake
	// that shows which certificate is served.
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool()}, DisableKeepAlives: true, ForceAttemptHTTP2: true}
	client := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	second := ca.Issue(t, 90*24*time.Hour, "127.0.0.1")

	var (
		sent, failed atomic.Int64
		mu           sync.Mutex
		seen         = map[string]int{}
		firstErr     error
	)
	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for ctx.Err() == nil {
				resp, err := client.Get(srv.URL)
				sent.Add(1)
				if err != nil || resp.StatusCode != 200 {
					failed.Add(1)
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
					continue
				}
				s := resp.TLS.PeerCertificates[0].SerialNumber.String()
				resp.Body.Close()
				mu.Lock()
				seen[s]++
				mu.Unlock()
			}
		})
	}
	count := func(serial string) int {
		mu.Lock()
		defer mu.Unlock()
		return seen[serial]
	}
	waitFor(t, "requests on the first certificate", func() bool { return count(first.Cert.SerialNumber.String()) >= 20 })

	second.Write(t, p.cert, p.key)
	changed, err := r.Reload()
	if err != nil || !changed {
		t.Fatalf("Reload after swap: changed=%v err=%v", changed, err)
	}
	waitFor(t, "requests on the second certificate", func() bool { return count(second.Cert.SerialNumber.String()) >= 20 })
	stop()
	wg.Wait()

	if n := failed.Load(); n != 0 {
		t.Fatalf("%d of %d requests failed during the swap; first error: %v", n, sent.Load(), firstErr)
	}
	if len(seen) != 2 {
		t.Fatalf("served serials %v, want exactly the two issued", seen)
	}
	if got := r.Certificate().Leaf.SerialNumber; got.Cmp(second.Cert.SerialNumber) != 0 {
		t.Fatalf("current serial %v, want %v", got, second.Cert.SerialNumber)
	}
}

func TestReloadKeepsServingTheOldPairWhileTheNewOneIsHalfWritten(t *testing.T) {
	ca := tlsxtest.NewCA(t)
	p := newPair(t)
	first := ca.Issue(t, 90*24*time.Hour, "127.0.0.1")
	first.Write(t, p.cert, p.key)
	r, err := tlsx.NewReloader(p.cert, p.key, nil)
	if err != nil {
		t.Fatal(err)
	}
	second := ca.Issue(t, 90*24*time.Hour, "127.0.0.1")

	// The new certificate has landed, its key not yet: a mismatched pair.
	half := &tlsxtest.Leaf{CertPEM: second.CertPEM, KeyPEM: first.KeyPEM}
	half.Write(t, p.cert, p.key)
	if changed, err := r.Reload(); err == nil || changed {
		t.Fatalf("mismatched pair accepted: changed=%v err=%v", changed, err)
	}
	if got := r.Certificate().Leaf.SerialNumber; got.Cmp(first.Cert.SerialNumber) != 0 {
		t.Fatal("the old certificate was dropped")
	}
	second.Write(t, p.cert, p.key)
	if changed, err := r.Reload(); err != nil || !changed {
		t.Fatalf("complete pair: changed=%v err=%v", changed, err)
	}
	if changed, err := r.Reload(); err != nil || changed {
		t.Fatalf("unchanged files reloaded again: changed=%v err=%v", changed, err)
	}
}

func TestNewReloaderRefusesFilesThatDoNotLoad(t *testing.T) {
	p := newPair(t)
	if _, err := tlsx.NewReloader(p.cert, p.key, nil); err == nil {
		t.Fatal("missing files accepted")
	}
}

func TestRunPicksUpASwapByPolling(t *testing.T) {
	ca := tlsxtest.NewCA(t)
	p := newPair(t)
	ca.Issue(t, time.Hour, "127.0.0.1").Write(t, p.cert, p.key)
	r, err := tlsx.NewReloader(p.cert, p.key, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { r.Run(ctx, 20*time.Millisecond); close(done) }()
	next := ca.Issue(t, time.Hour, "127.0.0.1")
	next.Write(t, p.cert, p.key)
	waitFor(t, "the poller to load the new pair", func() bool {
		return r.Certificate().Leaf.SerialNumber.Cmp(next.Cert.SerialNumber) == 0
	})
	cancel()
	<-done
}

func TestServerConfigVersionFloorAndALPN(t *testing.T) {
	ca := tlsxtest.NewCA(t)
	p := newPair(t)
	ca.Issue(t, time.Hour, "127.0.0.1").Write(t, p.cert, p.key)
	r, err := tlsx.NewReloader(p.cert, p.key, nil)
	if err != nil {
		t.Fatal(err)
	}
	srv := serve(t, r)
	addr := srv.Addr
	cases := []struct {
		name    string
		version uint16
		suites  []uint16
		ok      bool
	}{
		{"TLS 1.0 refused", tls.VersionTLS10, nil, false},
		{"TLS 1.1 refused", tls.VersionTLS11, nil, false},
		{"TLS 1.2 accepted", tls.VersionTLS12, nil, true},
		{"TLS 1.3 accepted", tls.VersionTLS13, nil, true},
		{"TLS 1.2 with only CBC suites refused", tls.VersionTLS12, []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA, tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: ca.Pool(), MinVersion: tc.version, MaxVersion: tc.version, CipherSuites: tc.suites, NextProtos: []string{"h2", "http/1.1"}})
			if tc.ok != (err == nil) {
				t.Fatalf("handshake err=%v, want ok=%v", err, tc.ok)
			}
			if err == nil {
				defer c.Close()
				if got := c.ConnectionState().NegotiatedProtocol; got != "h2" {
					t.Errorf("ALPN %q, want h2", got)
				}
			}
		})
	}
}

// waitFor polls cond until it holds; a condition that never holds fails
// the test after a generous bound (not a performance assertion).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// BenchmarkHandshake is one full TLS 1.3 handshake (ECDSA P-256 certificate
// from the Reloader) over an in-memory pipe.
func BenchmarkHandshake(b *testing.B) {
	ca := tlsxtest.NewCA(b)
	d := b.TempDir()
	certFile, keyFile := filepath.Join(d, "cert.pem"), filepath.Join(d, "key.pem")
	ca.Issue(b, time.Hour, "127.0.0.1").Write(b, certFile, keyFile)
	r, err := tlsx.NewReloader(certFile, keyFile, nil)
	if err != nil {
		b.Fatal(err)
	}
	srvCfg := tlsx.ServerConfig(r.GetCertificate)
	cliCfg := &tls.Config{RootCAs: ca.Pool(), ServerName: "127.0.0.1"}
	b.ReportAllocs()
	for b.Loop() {
		c1, c2 := net.Pipe()
		srv := tls.Server(c1, srvCfg)
		done := make(chan error, 1)
		go func() { done <- srv.Handshake() }()
		if err := tls.Client(c2, cliCfg).Handshake(); err != nil {
			b.Fatal(err)
		}
		if err := <-done; err != nil {
			b.Fatal(err)
		}
		c1.Close()
		c2.Close()
	}
}

func BenchmarkReloadUnchanged(b *testing.B) {
	ca := tlsxtest.NewCA(b)
	d := b.TempDir()
	certFile, keyFile := filepath.Join(d, "cert.pem"), filepath.Join(d, "key.pem")
	ca.Issue(b, time.Hour, "127.0.0.1").Write(b, certFile, keyFile)
	r, err := tlsx.NewReloader(certFile, keyFile, nil)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := r.Reload(); err != nil {
			b.Fatal(err)
		}
	}
}
