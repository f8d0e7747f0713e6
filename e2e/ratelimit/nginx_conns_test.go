package ratelimite2e

import (
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rtgate/rtgate/internal/nginxtest"
	"github.com/rtgate/rtgate/internal/tlsx/tlsxtest"
)

// TestNginxCapsRequestsInProgressPerClient runs deploy/nginx/production.conf
// in a real nginx in front of an upstream that holds every request until
// released: 64 requests in progress from 127.0.0.2 reach the upstream, the
// 65th is answered 429 by nginx in rtgate's JSON shape and never reaches
// it, and 127.0.0.3 is still let through.
func TestNginxCapsRequestsInProgressPerClient(t *testing.T) {
	const perClient = 64 // limit_conn rtgate_conn 64 in production.conf
	var arrived atomic.Int32
	release := make(chan struct{})
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived.Add(1)
		<-release
	}))
	t.Cleanup(up.Close)
	var once sync.Once
	open := func() { once.Do(func() { close(release) }) }
	t.Cleanup(open)

	ca := tlsxtest.NewCA(t)
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	ca.Issue(t, 90*24*time.Hour, "127.0.0.1").Write(t, certFile, keyFile)
	httpsURL, _ := nginxtest.StartProduction(t, strings.TrimPrefix(up.URL, "http://"), certFile, keyFile)

	client := func(src string) *http.Client {
		d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 10 * time.Second}
		tr := &http.Transport{DialContext: d.DialContext, TLSClientConfig: &tls.Config{RootCAs: ca.Pool()}, MaxConnsPerHost: 0}
		t.Cleanup(tr.CloseIdleConnections)
		return &http.Client{Transport: tr, Timeout: 60 * time.Second}
	}
	flooder := client("127.0.0.2")
	var wg sync.WaitGroup
	for range perClient {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if resp, err := flooder.Get(httpsURL + "/held"); err == nil {
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		}()
	}
	t.Cleanup(wg.Wait)
	waitFor(t, func() bool { return arrived.Load() == perClient }, "the first 64 requests to reach the upstream")

	resp, err := flooder.Get(httpsURL + "/held")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusTooManyRequests || !strings.Contains(string(body), `"code":"rate_limited"`) {
		t.Errorf("request %d from 127.0.0.2: %d %s, want 429 rate_limited", perClient+1, resp.StatusCode, body)
	}
	n := arrived.Load()
	t.Logf("ratio class=%q admitted=%d allowed=%d ratio=%.2f", "requests in progress per client through nginx", n, perClient, float64(n)/perClient)
	if n != perClient {
		t.Errorf("the upstream saw %d requests, want %d: the refused one got through", n, perClient)
	}

	done := make(chan int, 1)
	go func() {
		resp, err := client("127.0.0.3").Get(httpsURL + "/held")
		if err != nil {
			done <- 0
			return
		}
		resp.Body.Close()
		done <- resp.StatusCode
	}()
	waitFor(t, func() bool { return arrived.Load() == perClient+1 }, "127.0.0.3's request to reach the upstream")
	open()
	if code := <-done; code != http.StatusOK {
		t.Errorf("127.0.0.3: %d", code)
	}
}

// waitFor polls cond (no timing is asserted; the deadline only stops a
// hung test).
func waitFor(t *testing.T, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
