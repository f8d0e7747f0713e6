package openai_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/rtgate/rtgate/internal/openai"
)

// Run with:
//
//	go test -run '^$' -bench . -benchmem ./internal/openai/
//
// The benchmarks use only the package's exported API, so the same file
// measures an older version of it too (docs/performance.md).

// mintAnswer is an answer in the documented shape, about the size of the
// benchmark's fake upstream's.
const mintAnswer = `{"value":"ek_68af296e8e408191a1120ab6383263c2","expires_at":1756310470,"session":{"type":"realtime","object":"realtime.session","id":"sess_C9CiUVUzUzYIssh3ELY1d","model":"gpt-realtime","output_modalities":["audio"],"instructions":"You are a friendly assistant.","tools":[],"tool_choice":"auto","max_output_tokens":"inf","tracing":null,"truncation":"auto","prompt":null,"expires_at":0,"audio":{"input":{"format":{"type":"audio/pcm","rate":24000},"transcription":null,"noise_reduction":null,"turn_detection":{"type":"server_vad","threshold":0.5,"prefix_padding_ms":300,"silence_duration_ms":200,"idle_timeout_ms":null,"create_response":true,"interrupt_response":true}},"output":{"format":{"type":"audio/pcm","rate":24000},"voice":"marin","speed":1.0}},"include":null}}`

// BenchmarkMintClientSecret is one mint through the upstream client
// (reuse check, breaker, queue, key, deadline, request, round trip over
// loopback to a server that answers at once, decoding) with the default
// breaker and queue settings rtgate runs with.
func BenchmarkMintClientSecret(b *testing.B) {
	c := newBenchClient(b)
	p := openai.MintParams{Model: "gpt-realtime", Voice: "marin", TTL: time.Minute}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.MintClientSecret(ctx, p); err != nil {
			b.Fatal(err)
		}
	}
}

// newBenchClient is the upstream client of the mint benchmarks, with the
// default breaker and queue settings rtgate runs with, to a loopback server
// that answers mintAnswer at once; both end with b.
func newBenchClient(b *testing.B) *openai.Client {
	length := strconv.Itoa(len(mintAnswer))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header()["Content-Type"] = []string{"application/json"}
		w.Header()["Content-Length"] = []string{length}
		_, _ = io.WriteString(w, mintAnswer)
	}))
	b.Cleanup(srv.Close)
	c := openai.New(openai.Options{
		BaseURL: srv.URL + "/v1", APIKey: "sk-bench-not-a-real-key", Timeout: 10 * time.Second,
		QueueSize: 64, Breaker: openai.BreakerOptions{Failures: 5},
	})
	b.Cleanup(c.CloseIdleConnections)
	return c
}
