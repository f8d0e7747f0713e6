package openai_test

import (
	"context"
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
	c := newBenchClient(b)
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
