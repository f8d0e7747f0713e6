package openai_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/rtgate/rtgate/internal/detach"
	"github.com/rtgate/rtgate/internal/openai"
)

// BenchmarkMintDetached is BenchmarkMintClientSecret under the gateway's
// upstream context, made per mint as the gateway makes it: context.WithTimeout
// of context.WithoutCancel (before issue 14's third round) and
// detach.WithDeadline (after).
func BenchmarkMintDetached(b *testing.B) {
	length := strconv.Itoa(len(mintAnswer))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header()["Content-Type"] = []string{"application/json"}
		w.Header()["Content-Length"] = []string{length}
		_, _ = io.WriteString(w, mintAnswer)
	}))
	defer srv.Close()
	c := openai.New(openai.Options{
		BaseURL: srv.URL + "/v1", APIKey: "sk-bench-not-a-real-key", Timeout: 10 * time.Second,
		QueueSize: 64, Breaker: openai.BreakerOptions{Failures: 5},
	})
	defer c.CloseIdleConnections()
	p := openai.MintParams{Model: "gpt-realtime", Voice: "marin", TTL: time.Minute}
	req, cancelReq := context.WithCancel(context.Background())
	defer cancelReq()
	for _, bc := range []struct {
		name string
		ctx  func() (context.Context, context.CancelFunc)
	}{
		{"context", func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(context.WithoutCancel(req), 2*time.Minute)
		}},
		{"detach", func() (context.Context, context.CancelFunc) {
			return detach.WithDeadline(req, time.Now().Add(2*time.Minute))
		}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				ctx, cancel := bc.ctx()
				_, err := c.MintClientSecret(ctx, p)
				cancel()
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
