package app_test

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rtgate/rtgate/internal/apptest"
)

func TestHTTPSGuardRefusesPlainRequestsBeforeTheUpstream(t *testing.T) {
	cases := []struct {
		name    string
		env     map[string]string
		headers []string
		want    int
	}{
		{"plain HTTP without trusted proxy is refused", map[string]string{"REQUIRE_HTTPS": "true"}, nil, http.StatusForbidden},
		{"plain HTTP with X-Forwarded-Proto but no trusted proxy is refused", map[string]string{"REQUIRE_HTTPS": "true"}, []string{"X-Forwarded-Proto: https"}, http.StatusForbidden},
		{"forged X-Forwarded-Proto from an untrusted peer is refused", map[string]string{"REQUIRE_HTTPS": "true", "TRUSTED_PROXIES": "10.0.0.0/8"}, []string{"X-Forwarded-Proto: https"}, http.StatusForbidden},
		{"trusted proxy without X-Forwarded-Proto is refused", map[string]string{"REQUIRE_HTTPS": "true", "TRUSTED_PROXIES": "127.0.0.1"}, nil, http.StatusForbidden},
		{"trusted proxy saying http is refused", map[string]string{"REQUIRE_HTTPS": "true", "TRUSTED_PROXIES": "127.0.0.1"}, []string{"X-Forwarded-Proto: http"}, http.StatusForbidden},
		{"trusted proxy saying https is allowed", map[string]string{"REQUIRE_HTTPS": "true", "TRUSTED_PROXIES": "127.0.0.1"}, []string{"X-Forwarded-Proto: https"}, http.StatusOK},
		{"guard off in development by default", nil, nil, http.StatusOK},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			in := apptest.Start(t, tc.env)
			before := in.Sim.Requests()
			r := in.Do(t, "POST", "/api/realtime-session", "", tc.headers...)
			if r.StatusCode != tc.want {
				t.Fatalf("status %d, want %d: %s", r.StatusCode, tc.want, r.Body)
			}
			calls := in.Sim.Requests() - before
			if tc.want != http.StatusOK {
				if calls != 0 {
					t.Errorf("upstream called %d times for a refused request", calls)
				}
				if strings.Contains(r.Body, "ek_") || !strings.Contains(r.Body, `"code":"forbidden"`) {
					t.Errorf("refusal body %s", r.Body)
				}
				if r.Header.Get("Strict-Transport-Security") == "" {
					t.Error("refusal without security headers")
				}
			} else if calls != 1 || !strings.Contains(r.Body, `"ek_`) {
				t.Errorf("allowed request: upstream calls %d, body %s", calls, r.Body)
			}
		})
	}
	t.Run("health probes pass over plain HTTP", func(t *testing.T) {
		in := apptest.Start(t, map[string]string{"REQUIRE_HTTPS": "true"})
		if r := in.Do(t, "GET", "/healthz", ""); r.StatusCode != http.StatusOK {
			t.Fatalf("healthz %d", r.StatusCode)
		}
	})
}

func TestNativeTLSServesHTTP2AndRedirectsPlainHTTP(t *testing.T) {
	d := apptest.StartTLS(t, map[string]string{"REQUIRE_HTTPS": "true"})
	r := apptest.DoURL(t, d.Client, "POST", d.URL+"/api/realtime-session", "")
	if r.StatusCode != http.StatusOK || r.ProtoMajor != 2 {
		t.Fatalf("mint over TLS: %d %s %s", r.StatusCode, r.Proto, r.Body)
	}
	var tok struct{ Value string }
	if err := json.Unmarshal([]byte(r.Body), &tok); err != nil || !strings.HasPrefix(tok.Value, "ek_") {
		t.Fatalf("token %q (%v)", tok.Value, err)
	}

	plain := &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	before := d.Sim.Requests()
	cases := []struct{ method, path, want string }{
		{"GET", "/api/realtime-session?a=1", d.URL + "/api/realtime-session?a=1"},
		{"POST", "/api/realtime-session", d.URL + "/api/realtime-session"},
		{"GET", "/", d.URL + "/"},
	}
	for _, tc := range cases {
		r := apptest.DoURL(t, plain, tc.method, d.RedirectURL+tc.path, "")
		if r.StatusCode != http.StatusPermanentRedirect || r.Header.Get("Location") != tc.want {
			t.Errorf("%s %s → %d Location %q, want 308 %q", tc.method, tc.path, r.StatusCode, r.Header.Get("Location"), tc.want)
		}
	}
	// A Host the certificate does not cover is not redirected: the
	// listener is no open redirect even without ACME_DOMAINS.
	for _, host := range []string{"evil.example", "evil.example:80", "localhost.evil.example"} {
		req, err := http.NewRequest("GET", d.RedirectURL+"/api/realtime-session", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Host = host
		resp, err := plain.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound || resp.Header.Get("Location") != "" {
			t.Errorf("Host %s → %d Location %q, want 404 and no Location", host, resp.StatusCode, resp.Header.Get("Location"))
		}
	}
	if n := d.Sim.Requests() - before; n != 0 {
		t.Errorf("the redirect listener reached the upstream %d times", n)
	}

	for _, v := range []uint16{tls.VersionTLS10, tls.VersionTLS11} {
		c, err := tls.Dial("tcp", strings.TrimPrefix(d.URL, "https://"), &tls.Config{RootCAs: d.CA.Pool(), MinVersion: v, MaxVersion: v})
		if err == nil {
			c.Close()
			t.Errorf("%s handshake accepted", tls.VersionName(v))
		}
	}
}

func TestCertificateFileSwapUnderLoadFailsNoRequest(t *testing.T) {
	d := apptest.StartTLS(t, map[string]string{"TLS_RELOAD_INTERVAL_MS": "100", "RATE_LIMIT_MAX_REQUESTS": "1000000"})
	// No keep-alive: every request is a new handshake showing the served certificate.
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: d.CA.Pool()}, DisableKeepAlives: true, ForceAttemptHTTP2: true,
	}}
	var (
		failed, sent atomic.Int64
		mu           sync.Mutex
		seen         = map[string]int{}
		firstErr     string
	)
	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for i := range 4 {
		path := "/healthz"
		if i == 0 {
			path = "/api/realtime-session" // token requests in the mix
		}
		wg.Go(func() {
			for ctx.Err() == nil {
				sent.Add(1)
				var resp *http.Response
				var err error
				if path == "/healthz" {
					resp, err = client.Get(d.URL + path)
				} else {
					resp, err = client.Post(d.URL+path, "", nil)
				}
				if err != nil || resp.StatusCode != http.StatusOK {
					failed.Add(1)
					mu.Lock()
					if firstErr == "" {
						firstErr = "error"
						if err != nil {
							firstErr = err.Error()
						} else {
							firstErr = resp.Status
						}
					}
					mu.Unlock()
					if resp != nil {
						resp.Body.Close()
					}
					continue
				}
				mu.Lock()
				seen[resp.TLS.PeerCertificates[0].SerialNumber.String()]++
				mu.Unlock()
				resp.Body.Close()
			}
		})
	}
	count := func(s string) int { mu.Lock(); defer mu.Unlock(); return seen[s] }
	wait(t, "load on the first certificate", func() bool { return count(d.Leaf.Cert.SerialNumber.String()) >= 20 })
	next := d.CA.Issue(t, 90*24*time.Hour, "127.0.0.1", "localhost")
	next.Write(t, d.CertFile, d.KeyFile)
	wait(t, "the renewed certificate to be served", func() bool { return count(next.Cert.SerialNumber.String()) >= 20 })
	stop()
	wg.Wait()
	if n := failed.Load(); n != 0 {
		t.Fatalf("%d of %d requests failed across the swap; first: %s", n, sent.Load(), firstErr)
	}
	if got := d.App.TLSCertificate().Leaf.SerialNumber; got.Cmp(next.Cert.SerialNumber) != 0 {
		t.Fatalf("serving serial %v, want %v", got, next.Cert.SerialNumber)
	}
	if !strings.Contains(d.Logs.String(), "TLS certificate reloaded") {
		t.Error("the reload was not logged")
	}
}

func wait(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
