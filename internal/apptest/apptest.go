// Package apptest starts a real rtgate App in-process for end-to-end tests:
// public and admin listeners on loopback port 0, the upstream pointed at a
// simulator the test controls, and logs captured for inspection.
package apptest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rtgate/rtgate/internal/app"
	"github.com/rtgate/rtgate/internal/config"
	"github.com/rtgate/rtgate/internal/simulator"
)

// Offer is a trimmed browser SDP offer (audio and the oai-events data
// channel) that rtgate and the simulator accept: what the end-to-end tests
// post to /api/realtime-call and /api/live-session.
const Offer = "v=0\r\n" +
	"o=- 4611731400430051336 2 IN IP4 127.0.0.1\r\n" +
	"s=-\r\n" +
	"t=0 0\r\n" +
	"a=group:BUNDLE 0 1\r\n" +
	"m=audio 9 UDP/TLS/RTP/SAVPF 111\r\n" +
	"c=IN IP4 0.0.0.0\r\n" +
	"a=mid:0\r\n" +
	"a=sendrecv\r\n" +
	"a=rtpmap:111 opus/48000/2\r\n" +
	"m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n" +
	"c=IN IP4 0.0.0.0\r\n" +
	"a=mid:1\r\n" +
	"a=sctp-port:5000\r\n"

// Instance is a running rtgate with its simulator.
type Instance struct {
	App *app.App
	URL string // public base URL, e.g. http://127.0.0.1:41234 (https with native TLS)
	// RedirectURL is the plain-HTTP redirect listener's base URL, when
	// HTTP_REDIRECT_ADDR is set.
	RedirectURL string
	AdminURL    string // admin base URL
	Key         string // the API key the simulator accepts
	Sim         *simulator.Simulator
	SimURL      string // simulator base URL including /v1
	Logs        *Buffer
	Config      *config.Config
	Client      *http.Client

	cancel context.CancelFunc
	done   chan error
	once   sync.Once
	runErr error
}

// Buffer is a concurrency-safe bytes.Buffer for captured logs.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

// String returns everything written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// RandomKey returns a fresh key shaped like an OpenAI project key.
func RandomKey() string {
	var b [24]byte
	_, _ = rand.Read(b[:])
	return "sk-proj-" + hex.EncodeToString(b[:])
}

// Env returns the base environment Start uses; tests override entries.
func Env(key, simURL string) map[string]string {
	return map[string]string{
		"APP_ENV":         "development",
		"OPENAI_API_KEY":  key,
		"OPENAI_BASE_URL": simURL,
		"HOST":            "127.0.0.1",
		"PORT":            "0",
		"ADMIN_ADDR":      "127.0.0.1:0",
		"ALLOWED_ORIGINS": "https://app.example.com,http://localhost:3000",
		"LOG_LEVEL":       "debug",
	}
}

// Start runs rtgate with env layered over Env(...). An env value of "-"
// removes the variable. The instance stops at test cleanup.
func Start(t testing.TB, env map[string]string) *Instance {
	t.Helper()
	key := RandomKey()
	sim := simulator.New(simulator.Options{APIKeys: []string{key}})
	simSrv := httptest.NewServer(sim)
	t.Cleanup(simSrv.Close)
	return StartWith(t, sim, simSrv.URL+"/v1", key, env)
}

// StartWith is Start with a simulator the caller runs.
func StartWith(t testing.TB, sim *simulator.Simulator, simURL, key string, env map[string]string) *Instance {
	t.Helper()
	full := Env(key, simURL)
	for k, v := range env {
		if v == "-" {
			delete(full, k)
		} else {
			full[k] = v
		}
	}
	cfg, _, err := config.Load(func(k string) string { return full[k] })
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	logs := &Buffer{}
	a, err := app.New(cfg, app.NewLogger(logs, cfg.LogLevel))
	if err != nil {
		t.Fatalf("app.New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	in := &Instance{
		App: a, URL: "http://" + a.PublicAddr(), Key: key, Sim: sim, SimURL: simURL, Logs: logs, Config: cfg,
		Client: &http.Client{Timeout: 30 * time.Second},
		cancel: cancel, done: make(chan error, 1),
	}
	if cfg.TLS.Native() {
		in.URL = "https://" + a.PublicAddr()
	}
	if ra := a.RedirectAddr(); ra != "" {
		in.RedirectURL = "http://" + ra
	}
	if a.AdminAddr() != "" {
		in.AdminURL = "http://" + a.AdminAddr()
	}
	go func() { in.done <- a.Run(ctx) }()
	t.Cleanup(func() { _ = in.Stop() })
	return in
}

// Stop cancels the instance and waits for Run to return.
func (in *Instance) Stop() error {
	in.once.Do(func() {
		in.cancel()
		in.runErr = <-in.done
	})
	return in.runErr
}

// Do sends a request to the public listener. headers are "Name: value" lines.
func (in *Instance) Do(t testing.TB, method, path, body string, headers ...string) *Response {
	t.Helper()
	return DoURL(t, in.Client, method, in.URL+path, body, headers...)
}

// Response is a fully read response.
type Response struct {
	*http.Response
	Body string
}

// DoURL sends one request and reads the whole response.
func DoURL(t testing.TB, c *http.Client, method, url, body string, headers ...string) *Response {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range headers {
		k, v, _ := strings.Cut(h, ":")
		req.Header.Add(strings.TrimSpace(k), strings.TrimSpace(v))
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return &Response{Response: resp, Body: string(b)}
}

// BuildBinary builds cmd/rtgate into dir and returns the binary's path, for
// tests that need real processes (signals, several instances, exit codes).
func BuildBinary(dir string) (string, error) {
	bin := filepath.Join(dir, "rtgate")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/rtgate/rtgate/cmd/rtgate").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build ./cmd/rtgate: %w\n%s", err, out)
	}
	return bin, nil
}
