// Command floor is the benchmark's lower bound: a bare net/http forwarder
// with no checks at all, the most any Go gateway can do on the machine.
//
//	GET|POST /api/realtime-session      POST the fixed session configuration to the
//	                                    upstream's /realtime/client_secrets with the key,
//	                                    and answer with its body (a POST body is read
//	                                    and discarded)
//	GET|POST /api/realtime-session/429  an unconditional 429 with a JSON error body and
//	                                    the same header fields rtgate sends on one
//	GET /_mallocs                       heap objects allocated so far (runtime/metrics,
//	                                    tiny ones included, as go_memstats_mallocs_total
//	                                    counts them), for allocations per request
//
// Its upstream client has the pool rtgate's has by default (64 connections
// per host, all kept idle). It listens on loopback only.
package main

import (
	"bytes"
	"flag"
	"io"
	"log"
	"net/http"
	"runtime/metrics"
	"strconv"
	"time"

	"github.com/rtgate/rtgate/bench/internal/loopback"
)

// mintBody is the session configuration rtgate sends by default.
const mintBody = `{"expires_after":{"anchor":"created_at","seconds":60},"session":{"type":"realtime","model":"gpt-realtime","audio":{"output":{"voice":"marin"}}}}`

// refusal is rtgate's 429 body with a request id of its usual length.
const refusal = `{"error":{"code":"rate_limited","message":"Too many requests. Please retry later.","request_id":"0123456789abcdefghjkmnpqrs"}}` + "\n"

// refusalHeader has the header fields rtgate sends with a 429 (values fixed).
var refusalHeader = http.Header{
	"Access-Control-Allow-Credentials": {"true"},
	"Access-Control-Allow-Origin":      {"https://app.example.com"},
	"Access-Control-Expose-Headers":    {"X-Request-ID, Retry-After, RateLimit, RateLimit-Policy, RateLimit-Limit, RateLimit-Remaining, RateLimit-Reset"},
	"Cache-Control":                    {"no-store"},
	"Content-Length":                   {strconv.Itoa(len(refusal))},
	"Content-Security-Policy":          {"default-src 'self'"},
	"Content-Type":                     {"application/json; charset=utf-8"},
	"Permissions-Policy":               {"microphone=(self)"},
	"Ratelimit":                        {`"ip";r=0;t=60`},
	"Ratelimit-Limit":                  {"1"},
	"Ratelimit-Policy":                 {`"ip";q=1;w=60`},
	"Ratelimit-Remaining":              {"0"},
	"Ratelimit-Reset":                  {"60"},
	"Referrer-Policy":                  {"strict-origin-when-cross-origin"},
	"Retry-After":                      {"60"},
	"Strict-Transport-Security":        {"max-age=31536000"},
	"Vary":                             {"Origin"},
	"X-Content-Type-Options":           {"nosniff"},
	"X-Frame-Options":                  {"DENY"},
	"X-Request-Id":                     {"0123456789abcdefghjkmnpqrs"},
	"X-Xss-Protection":                 {"1; mode=block"},
}

func main() {
	addr := flag.String("addr", "127.0.0.1:18101", "loopback listen address")
	upstream := flag.String("upstream", "http://127.0.0.1:18100/v1", "upstream base URL")
	key := flag.String("key", "sk-bench", "API key sent upstream")
	flag.Parse()
	ln, err := loopback.Listen(*addr)
	if err != nil {
		log.Fatal(err)
	}
	client := &http.Client{Transport: &http.Transport{
		MaxIdleConns:        64,
		MaxIdleConnsPerHost: 64,
		MaxConnsPerHost:     64,
		IdleConnTimeout:     90 * time.Second,
	}}
	target := *upstream + "/realtime/client_secrets"
	auth := []string{"Bearer " + *key}
	jsonType := []string{"application/json"}

	mint := func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			_, _ = io.Copy(io.Discard, r.Body)
		}
		req, err := http.NewRequestWithContext(r.Context(), http.MethodPost, target, bytes.NewReader([]byte(mintBody)))
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		req.Header["Authorization"] = auth
		req.Header["Content-Type"] = jsonType
		resp, err := client.Do(req)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		h := w.Header()
		h["Content-Type"] = jsonType
		h["Content-Length"] = []string{strconv.Itoa(len(body))}
		w.WriteHeader(resp.StatusCode)
		_, _ = w.Write(body)
	}
	refuse := func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		for k, v := range refusalHeader {
			h[k] = v
		}
		w.WriteHeader(http.StatusTooManyRequests)
		_, _ = io.WriteString(w, refusal)
	}

	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/realtime-session", mint)
	mux.HandleFunc("POST /api/realtime-session", mint)
	mux.HandleFunc("GET /api/realtime-session/429", refuse)
	mux.HandleFunc("POST /api/realtime-session/429", refuse)
	mux.HandleFunc("GET /_mallocs", func(w http.ResponseWriter, r *http.Request) {
		s := []metrics.Sample{{Name: "/gc/heap/allocs:objects"}, {Name: "/gc/heap/tiny/allocs:objects"}}
		metrics.Read(s)
		_, _ = io.WriteString(w, strconv.FormatUint(s[0].Value.Uint64()+s[1].Value.Uint64(), 10)+"\n")
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	log.Fatal(srv.Serve(ln))
}
