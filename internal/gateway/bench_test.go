package gateway

import (
	"bytes"
	"context"
	"io"
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

// newBenchGateway is the gateway of the pipeline benchmarks: a per-IP limit
// that never refuses, CORS, a session policy, the upstream stubbed; opts
// change the options before the gateway is made.
func newBenchGateway(b *testing.B, opts ...func(*Options)) http.Handler {
	lim, err := ratelimit.New(ratelimit.Options{
		IP:    ratelimit.Policy{Limit: 1_000_000, Window: time.Second * 1_000_000},
		Store: ratelimit.NewMemory(ratelimit.MemoryOptions{}),
	})
	if err != nil {
		b.Fatal(err)
	}
	o := Options{
		Logger:       slog.New(slog.DiscardHandler),
		Upstream:     cannedUpstream{body: []byte(`{"value":"ek_68af296e8e408191a1120ab6383263c2","expires_at":1756310470,"session":{"type":"realtime","id":"sess_C9CiUVUzUzYIssh3ELY1d"}}`)},
		Limiter:      lim,
		Resolver:     clientip.NewResolver(nil, "X-Forwarded-For"),
		Origins:      []string{"https://app.example.com"},
		MaxBodyBytes: 16384,
		Session:      SessionPolicy{Model: "gpt-realtime", Voice: "marin", TTL: time.Minute, AllowedModels: []string{"gpt-realtime"}, AllowedVoices: []string{"marin"}},
	}
	for _, f := range opts {
		f(&o)
	}
	return New(o).Handler()
}

const benchMintBody = `{"voice":"marin"}`

// pipelineWriter is the ResponseWriter of BenchmarkMintPipeline: a fresh
// header map per request, as net/http gives a handler, and nothing kept
// of the body.
type pipelineWriter struct {
	h      http.Header
	status int
}

func (w *pipelineWriter) Header() http.Header { return w.h }
func (w *pipelineWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
}
func (w *pipelineWriter) Write(b []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	return len(b), nil
}

// BenchmarkMintPipeline runs one POST with a JSON body through the whole
// middleware chain (request id, headers, access log, recovery, client IP,
// CORS, routing, rate limit, strict body decode, upstream stub, response)
// and counts what rtgate allocates: the request is made once and re-armed
// per iteration, and the writer keeps nothing but gets a fresh header map
// per request (its growth to rtgate's ~20 fields is counted), so net/http's
// own per-request work (parsing the request, cloning the header map for
// the wire) is left out. BenchmarkMintPipelineHTTPTest is the same
// pipeline with httptest's request and recorder, which add about twenty
// allocations of their own.
func BenchmarkMintPipeline(b *testing.B) { benchMintPipeline(b, newBenchGateway(b)) }

// benchMintPipeline is BenchmarkMintPipeline's loop on the gateway h.
func benchMintPipeline(b *testing.B, h http.Handler) {
	body := bytes.NewReader([]byte(benchMintBody))
	tmpl := httptest.NewRequest(http.MethodPost, "/api/realtime-session", nil)
	tmpl.RemoteAddr = "203.0.113.7:5555"
	tmpl.Header.Set("Content-Type", "application/json")
	tmpl.Header.Set("Origin", "https://app.example.com")
	tmpl.Body, tmpl.ContentLength = io.NopCloser(body), int64(body.Len())
	req := new(http.Request)
	w := new(pipelineWriter)
	b.ReportAllocs()
	for b.Loop() {
		body.Reset([]byte(benchMintBody))
		*req = *tmpl
		w.h, w.status = make(http.Header), 0
		h.ServeHTTP(w, req)
		if w.status != 200 {
			b.Fatalf("status %d", w.status)
		}
	}
}

// BenchmarkMintPipelineHTTPTest is BenchmarkMintPipeline with a request
// made by httptest.NewRequest and an httptest.ResponseRecorder per
// iteration (the benchmark's form before issue 14's second round).
func BenchmarkMintPipelineHTTPTest(b *testing.B) {
	h := newBenchGateway(b)
	b.ReportAllocs()
	for b.Loop() {
		req := httptest.NewRequest(http.MethodPost, "/api/realtime-session", strings.NewReader(benchMintBody))
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
