package httpx_test

import (
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"
	"time"

	"github.com/rtgate/rtgate/internal/httpx"
)

// Run with:
//
//	go test -run '^$' -bench . -benchmem ./internal/httpx/
//
// The benchmarks use only the package's exported API, so the same file
// measures an older version of it too (docs/performance.md).

// benchWriter is a ResponseWriter that keeps nothing, so a benchmark counts
// the middlewares' work and allocations, not a recorder's.
type benchWriter struct {
	h      http.Header
	status int
}

func (w *benchWriter) Header() http.Header         { return w.h }
func (w *benchWriter) WriteHeader(code int)        { w.status = code }
func (w *benchWriter) Write(b []byte) (int, error) { return len(b), nil }

type benchResolver struct{}

func (benchResolver) ClientIP(*http.Request) (netip.Addr, error) {
	return netip.AddrFrom4([4]byte{203, 0, 113, 7}), nil
}

// benchChain is the gateway's order of the httpx middlewares, with a JSON
// access log written to io.Discard.
func benchChain(h http.Handler) http.Handler {
	log := slog.New(slog.NewJSONHandler(io.Discard, nil))
	mux := http.NewServeMux()
	mux.Handle("/api/realtime-session", h)
	return httpx.Chain(httpx.WithRoute(mux),
		httpx.RequestIDs,
		httpx.Secure,
		httpx.AccessLog(log, nil, time.Now),
		httpx.Recover(log),
		httpx.WithClientIP(benchResolver{}, log),
		httpx.NewCORS([]string{"https://app.example.com"}, log).Middleware,
	)
}

func benchServe(b *testing.B, h http.Handler) {
	req := httptest.NewRequest(http.MethodGet, "/api/realtime-session", nil)
	req.Header.Set("Origin", "https://app.example.com")
	w := &benchWriter{h: make(http.Header)}
	b.ReportAllocs()
	for b.Loop() {
		clear(w.h)
		h.ServeHTTP(w, req)
	}
}

// BenchmarkMiddlewareChain is every httpx middleware around a handler that
// answers with a small JSON body: request id, security headers, access log
// line, panic recovery, client IP, origin gate and CORS headers.
func BenchmarkMiddlewareChain(b *testing.B) {
	body := []byte(`{"value":"ek_68af296e8e408191a1120ab6383263c2","expires_at":1756310470}`)
	benchServe(b, benchChain(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		httpx.WriteRawJSON(w, http.StatusOK, body)
	})))
}

// BenchmarkRefusal429 is the same chain around a handler that refuses with
// a 429 (Retry-After, JSON error body, "request refused" log line).
func BenchmarkRefusal429(b *testing.B) {
	log := slog.New(slog.NewJSONHandler(io.Discard, nil))
	cause := errors.New("ip rate limit")
	benchServe(b, benchChain(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e := &httpx.Error{Status: http.StatusTooManyRequests, Code: httpx.CodeRateLimited, Err: cause, RetryAfter: 6 * time.Second}
		httpx.WriteError(w, r, log, e)
	})))
}

// BenchmarkWriteError is the error writer alone (no log).
func BenchmarkWriteError(b *testing.B) {
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	w := &benchWriter{h: make(http.Header)}
	e := &httpx.Error{Status: http.StatusTooManyRequests, Code: httpx.CodeRateLimited, RetryAfter: 6 * time.Second}
	b.ReportAllocs()
	for b.Loop() {
		clear(w.h)
		httpx.WriteError(w, req, nil, e)
	}
}

// BenchmarkNewRequestID makes one fresh request id.
func BenchmarkNewRequestID(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		_ = httpx.NewRequestID()
	}
}
