package httpx_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/rtgate/rtgate/internal/httpx"
)

func TestRedirectToHTTPS(t *testing.T) {
	cases := []struct {
		name     string
		port     int
		domains  []string
		host     string
		target   string
		status   int
		location string
	}{
		{"same host and path on the https port", 8443, nil, "rtgate.example.com:8080", "/api/realtime-session?a=1", 308, "https://rtgate.example.com:8443/api/realtime-session?a=1"},
		{"port 443 is omitted", 443, nil, "rtgate.example.com", "/x", 308, "https://rtgate.example.com/x"},
		{"IPv6 literal", 8443, nil, "[::1]:8080", "/", 308, "https://[::1]:8443/"},
		{"IPv6 literal on 443", 443, nil, "[::1]", "/", 308, "https://[::1]/"},
		{"host is lower-cased", 443, nil, "RTGate.Example.com", "/", 308, "https://rtgate.example.com/"},
		{"ACME domain listed", 443, []string{"rtgate.example.com"}, "rtgate.example.com", "/", 308, "https://rtgate.example.com/"},
		{"host outside ACME_DOMAINS is no open redirect", 443, []string{"rtgate.example.com"}, "evil.example", "/", 404, ""},
		{"host with a path character", 443, nil, "evil.example%2f", "/", 404, ""},
		{"host with userinfo", 443, nil, "a@evil.example", "/", 404, ""},
		{"empty host", 443, nil, "", "/", 404, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", tc.target, nil)
			r.Host = tc.host
			w := httptest.NewRecorder()
			httpx.RedirectToHTTPS(tc.port, tc.domains).ServeHTTP(w, r)
			if w.Code != tc.status || w.Header().Get("Location") != tc.location {
				t.Fatalf("%d %q, want %d %q", w.Code, w.Header().Get("Location"), tc.status, tc.location)
			}
			if tc.status == http.StatusPermanentRedirect && w.Header().Get("Cache-Control") != "no-store" {
				t.Error("redirect is cacheable")
			}
		})
	}
}
