package gateway

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/rtgate/rtgate/internal/clientip"
	"github.com/rtgate/rtgate/internal/openai"
	"github.com/rtgate/rtgate/internal/ratelimit"
)

// cannedUpstream stands in for OpenAI so the benchmark measures rtgate only.
type cannedUpstream struct{ body []byte }

func (c cannedUpstream) MintClientSecret(context.Context, openai.MintParams) (*openai.Minted, error) {
	return &openai.Minted{Body: c.body, Value: "ek_x", ExpiresAt: time.Unix(1756310470, 0), SessionID: "sess_x"}, nil
}

// BenchmarkMintPipeline runs one POST with a JSON body through the whole
// middleware chain (request id, headers, access log, recovery, client IP,
// CORS, routing, rate limit, strict body decode, upstream stub, response).
func BenchmarkMintPipeline(b *testing.B) {
	lim, err := ratelimit.New(ratelimit.Options{
		IP:    ratelimit.Policy{Limit: 1_000_000, Window: time.Second * 1_000_000},
		Store: ratelimit.NewMemory(ratelimit.MemoryOptions{}),
	})
	if err != nil {
		b.Fatal(err)
	}
	g := New(Options{
		Logger:       slog.New(slog.DiscardHandler),
		Upstream:     cannedUpstream{body: []byte(`{"value":"ek_68af296e8e408191a1120ab6383263c2","expires_at":1756310470,"session":{"type":"realtime","id":"sess_C9CiUVUzUzYIssh3ELY1d"}}`)},
		Limiter:      lim,
		Resolver:     clientip.NewResolver(nil, "X-Forwarded-For"),
		Origins:      []string{"https://app.example.com"},
		MaxBodyBytes: 16384,
		Session:      SessionPolicy{Model: "gpt-realtime", Voice: "marin", TTL: time.Minute, AllowedModels: []string{"gpt-realtime"}, AllowedVoices: []string{"marin"}},
	})
	h := g.Handler()
	body := `{"voice":"marin"}`
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		req := httptest.NewRequest(http.MethodPost, "/api/realtime-session", strings.NewReader(body))
		req.RemoteAddr = "203.0.113.7:5555"
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Origin", "https://app.example.com")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != 200 {
			b.Fatalf("status %d: %s", w.Code, w.Body)
		}
	}
}
