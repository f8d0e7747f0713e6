package clientip_test

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"

	"github.com/rtgate/rtgate/internal/clientip"
)

// Run with:
//
//	go test -run '^$' -bench . -benchmem ./internal/clientip/

// BenchmarkClientIP resolves the client of a request straight from the
// socket peer, and through a trusted proxy from a three-hop
// X-Forwarded-For.
func BenchmarkClientIP(b *testing.B) {
	r := clientip.NewResolver([]netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("127.0.0.1/32")}, "")
	direct := httptest.NewRequest("GET", "/", nil)
	direct.RemoteAddr = "203.0.113.7:51234"
	proxied := httptest.NewRequest("GET", "/", nil)
	proxied.RemoteAddr = "127.0.0.1:40000"
	proxied.Header.Set("X-Forwarded-For", "198.51.100.1, 203.0.113.7, 10.1.2.3")
	for _, tc := range []struct {
		name string
		req  *http.Request
	}{{"direct", direct}, {"trusted-proxy", proxied}} {
		req := tc.req
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := r.ClientIP(req); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
