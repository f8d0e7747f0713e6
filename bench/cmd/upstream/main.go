// Command upstream is the benchmark's fake OpenAI: it answers
// POST /v1/realtime/client_secrets at once (0 ms) with a fixed client secret
// in the shape of OpenAI's documented RealtimeCreateClientSecretResponse, so
// that every target in the comparison pays the same, minimal upstream cost.
// It listens on loopback only and checks nothing but the method and path.
//
//	upstream -addr 127.0.0.1:18100
package main

import (
	"flag"
	"fmt"
	"log"
	"net/http"
	"strconv"
	"time"

	"github.com/rtgate/rtgate/bench/internal/loopback"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:18100", "loopback listen address")
	flag.Parse()
	ln, err := loopback.Listen(*addr)
	if err != nil {
		log.Fatal(err)
	}
	// One body for the whole run: expires_at an hour after start, so the
	// gateways under test see a secret that is still valid.
	body := []byte(fmt.Sprintf(`{"value":"ek_68af296e8e408191a1120ab6383263c2","expires_at":%d,"session":{"type":"realtime","object":"realtime.session","id":"sess_C9CiUVUzUzYIssh3ELY1d","model":"gpt-realtime","output_modalities":["audio"],"instructions":"You are a friendly assistant.","tools":[],"tool_choice":"auto","max_output_tokens":"inf","tracing":null,"truncation":"auto","prompt":null,"expires_at":0,"audio":{"input":{"format":{"type":"audio/pcm","rate":24000},"transcription":null,"noise_reduction":null,"turn_detection":{"type":"server_vad","threshold":0.5,"prefix_padding_ms":300,"silence_duration_ms":200,"idle_timeout_ms":null,"create_response":true,"interrupt_response":true}},"output":{"format":{"type":"audio/pcm","rate":24000},"voice":"marin","speed":1.0}},"include":null}}`,
		time.Now().Add(time.Hour).Unix()))
	contentType := []string{"application/json"}
	contentLength := []string{strconv.Itoa(len(body))}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/realtime/client_secrets", func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h["Content-Type"] = contentType
		h["Content-Length"] = contentLength
		_, _ = w.Write(body)
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	log.Fatal(srv.Serve(ln))
}
