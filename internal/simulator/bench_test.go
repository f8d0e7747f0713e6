package simulator

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// BenchmarkMintClientSecret measures one full mint through ServeHTTP (auth,
// validation, secret generation, JSON encoding), without the network.
func BenchmarkMintClientSecret(b *testing.B) {
	sim := New(Options{APIKeys: []string{testKey}})
	const body = `{"expires_after":{"anchor":"created_at","seconds":60},"session":{"type":"realtime","model":"gpt-realtime","audio":{"output":{"voice":"marin"}}}}`
	b.ReportAllocs()
	for b.Loop() {
		req := httptest.NewRequest(http.MethodPost, "/v1/realtime/client_secrets", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+testKey)
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		sim.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatalf("status %d", rec.Code)
		}
	}
}
