package httpx_test

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"

	"github.com/rtgate/rtgate/internal/httpx"
)

func TestRedirectToHTTPS(t *testing.T) {
	ours := func(names ...string) func(string) bool {
		return func(h string) bool { return slices.Contains(names, h) }
	}
	cases := []struct {
		name     string
		port     int
		allowed  func(string) bool
		host     string
		target   string
		status   int
		location string
	}{
		{"same host and path on the https port", 8443, ours("rtgate.example.com"), "rtgate.example.com:8080", "/api/realtime-session?a=1", 308, "https://rtgate.example.com:8443/api/realtime-session?a=1"},
		{"port 443 is omitted", 443, ours("rtgate.example.com"), "rtgate.example.com", "/x", 308, "https://rtgate.example.com/x"},
		{"IPv6 literal", 8443, ours("::1"), "[::1]:8080", "/", 308, "https://[::1]:8443/"},
		{"IPv6 literal on 443", 443, ours("::1"), "[::1]", "/", 308, "https://[::1]/"},
		{"host is lower-cased before the check", 443, ours("rtgate.example.com"), "RTGate.Example.com", "/", 308, "https://rtgate.example.com/"},
		{"a host that is not ours is no open redirect", 443, ours("rtgate.example.com"), "evil.example", "/", 404, ""},
		{"without names nothing is redirected", 443, nil, "evil.example", "/", 404, ""},
		{"host with a path character", 443, ours("evil.example%2f"), "evil.example%2f", "/", 404, ""},
		{"host with userinfo", 443, ours("a@evil.example"), "a@evil.example", "/", 404, ""},
		{"empty host", 443, ours(""), "", "/", 404, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", tc.target, nil)
			r.Host = tc.host
			w := httptest.NewRecorder()
			httpx.RedirectToHTTPS(tc.port, tc.allowed).ServeHTTP(w, r)
			if w.Code != tc.status || w.Header().Get("Location") != tc.location {
				t.Fatalf("%d %q, want %d %q", w.Code, w.Header().Get("Location"), tc.status, tc.location)
			}
			if tc.status == http.StatusPermanentRedirect && w.Header().Get("Cache-Control") != "no-store" {
				t.Error("redirect is cacheable")
			}
		})
	}
}
