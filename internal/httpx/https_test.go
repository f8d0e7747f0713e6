package httpx_test

import (
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"

	"github.com/rtgate/rtgate/internal/httpx"
)

func TestRequireHTTPS(t *testing.T) {
	proxy := netip.MustParsePrefix("10.0.0.0/8")
	trusted := func(a netip.Addr) bool { return proxy.Contains(a) }
	cases := []struct {
		name   string
		method string
		path   string
		peer   string
		tls    bool
		proto  []string
		pass   bool
	}{
		{"TLS straight to rtgate passes", "POST", "/api/realtime-session", "203.0.113.9:5000", true, nil, true},
		{"plain HTTP straight to rtgate is refused", "POST", "/api/realtime-session", "203.0.113.9:5000", false, nil, false},
		{"trusted proxy saying https passes", "POST", "/api/realtime-session", "10.1.2.3:5000", false, []string{"https"}, true},
		{"trusted proxy saying HTTPS in upper case passes", "GET", "/api/realtime-session", "10.1.2.3:5000", false, []string{"HTTPS"}, true},
		{"trusted proxy saying http is refused", "POST", "/api/realtime-session", "10.1.2.3:5000", false, []string{"http"}, false},
		{"trusted proxy without X-Forwarded-Proto is refused", "POST", "/api/realtime-session", "10.1.2.3:5000", false, nil, false},
		{"a plain hop anywhere in the chain is refused", "POST", "/api/realtime-session", "10.1.2.3:5000", false, []string{"https, http"}, false},
		{"a plain hop on a second header line is refused", "POST", "/api/realtime-session", "10.1.2.3:5000", false, []string{"https", "http"}, false},
		{"forged X-Forwarded-Proto from an untrusted peer is refused", "POST", "/api/realtime-session", "203.0.113.9:5000", false, []string{"https"}, false},
		{"trusted IPv4-mapped peer is recognised", "POST", "/api/realtime-session", "[::ffff:10.1.2.3]:5000", false, []string{"https"}, true},
		{"health probe over plain HTTP passes", "GET", "/healthz", "203.0.113.9:5000", false, nil, true},
		{"readiness probe over plain HTTP passes", "HEAD", "/readyz", "203.0.113.9:5000", false, nil, true},
		{"POST to a probe path over plain HTTP is refused", "POST", "/healthz", "203.0.113.9:5000", false, nil, false},
		{"unparseable peer is refused", "POST", "/api/realtime-session", "@", false, []string{"https"}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			called := false
			h := httpx.RequireHTTPS(trusted, nil)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				called = true
				_, _ = w.Write([]byte(`{"value":"ek_secret"}`))
			}))
			r := httptest.NewRequest(tc.method, tc.path, nil)
			r.RemoteAddr = tc.peer
			if tc.tls {
				r.TLS = &tls.ConnectionState{}
			} else {
				r.TLS = nil
			}
			for _, v := range tc.proto {
				r.Header.Add("X-Forwarded-Proto", v)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if called != tc.pass {
				t.Fatalf("handler called=%v, want %v", called, tc.pass)
			}
			if !tc.pass {
				if w.Code != http.StatusForbidden {
					t.Errorf("status %d, want 403", w.Code)
				}
				body := w.Body.String()
				if !strings.Contains(body, `"code":"forbidden"`) || strings.Contains(body, "ek_") {
					t.Errorf("body %s", body)
				}
			}
		})
	}
}

func TestRequireHTTPSWithoutTrustedProxiesTrustsNoHeader(t *testing.T) {
	h := httpx.RequireHTTPS(nil, nil)(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { t.Fatal("handler reached") }))
	r := httptest.NewRequest("POST", "/api/realtime-session", nil)
	r.TLS = nil
	r.RemoteAddr = "127.0.0.1:1234"
	r.Header.Set("X-Forwarded-Proto", "https")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != http.StatusForbidden {
		t.Fatalf("status %d", w.Code)
	}
}

// FuzzRequireHTTPS: whatever X-Forwarded-Proto and peer address say, a
// plain request for a token from a peer outside the trusted set never
// passes, and from a trusted peer it passes only when every value is https.
func FuzzRequireHTTPS(f *testing.F) {
	f.Add("https", "10.1.2.3:5000")
	f.Add("https, http", "10.1.2.3:5000")
	f.Add("https", "203.0.113.9:1")
	f.Add("HTTPS ,https", "[::ffff:10.0.0.1]:80")
	f.Add("", "garbage")
	proxy := netip.MustParsePrefix("10.0.0.0/8")
	trusted := func(a netip.Addr) bool { return proxy.Contains(a) }
	h := httpx.RequireHTTPS(trusted, nil)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(299) }))
	f.Fuzz(func(t *testing.T, proto, peer string) {
		r := httptest.NewRequest("POST", "/api/realtime-session", nil)
		r.TLS = nil
		r.RemoteAddr = peer
		r.Header["X-Forwarded-Proto"] = []string{proto}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		passed := w.Code == 299
		ap, err := netip.ParseAddrPort(peer)
		isTrusted := err == nil && proxy.Contains(ap.Addr().Unmap())
		allHTTPS := true
		for _, v := range strings.Split(proto, ",") {
			allHTTPS = allHTTPS && strings.EqualFold(strings.TrimSpace(v), "https")
		}
		if passed != (isTrusted && allHTTPS) {
			t.Fatalf("proto %q peer %q: passed=%v trusted=%v allHTTPS=%v", proto, peer, passed, isTrusted, allHTTPS)
		}
	})
}

func BenchmarkRequireHTTPSTrustedProxy(b *testing.B) {
	proxy := netip.MustParsePrefix("10.0.0.0/8")
	h := httpx.RequireHTTPS(func(a netip.Addr) bool { return proxy.Contains(a) }, nil)(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	r := httptest.NewRequest("POST", "/api/realtime-session", nil)
	r.TLS = nil
	r.RemoteAddr = "10.1.2.3:5000"
	r.Header.Set("X-Forwarded-Proto", "https")
	w := httptest.NewRecorder()
	b.ReportAllocs()
	for b.Loop() {
		h.ServeHTTP(w, r)
	}
}
