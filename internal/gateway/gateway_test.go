package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"

	"github.com/rtgate/rtgate/internal/openai"
)

// panickingUpstream stands in for OpenAI and blows up mid-request.
type panickingUpstream struct{}

func (panickingUpstream) MintClientSecret(context.Context, openai.MintParams) (*openai.Minted, error) {
	panic("boom: /home/dev/rtgate/internal/openai/client.go:42 key=sk-proj-secret")
}

type peerResolver struct{}

func (peerResolver) ClientIP(r *http.Request) (netip.Addr, error) {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	return ap.Addr(), err
}

func TestPanicBecomesGeneric500(t *testing.T) {
	var logs strings.Builder
	g := New(Options{
		Logger:       slog.New(slog.NewJSONHandler(&logs, nil)),
		Upstream:     panickingUpstream{},
		Resolver:     peerResolver{},
		MaxBodyBytes: 1024,
		Session:      SessionPolicy{Model: "gpt-realtime", AllowedModels: []string{"gpt-realtime"}},
	})
	srv := httptest.NewServer(g.Handler())
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/api/realtime-session")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 500 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	var eb struct {
		Error struct{ Code, Message, RequestID string } `json:"error"`
	}
	if err := json.Unmarshal(b, &eb); err != nil || eb.Error.Code != "internal" {
		t.Fatalf("body %s", b)
	}
	for _, leak := range []string{"boom", ".go", "sk-proj", "goroutine"} {
		if strings.Contains(string(b), leak) {
			t.Errorf("500 body leaks %q: %s", leak, b)
		}
	}
	if resp.Header.Get("X-Frame-Options") != "DENY" || resp.Header.Get("Content-Security-Policy") == "" {
		t.Error("security headers missing on 500")
	}
	// The detail is in the server log, with the request id.
	if !strings.Contains(logs.String(), "boom") || !strings.Contains(logs.String(), resp.Header.Get("X-Request-ID")) {
		t.Error("panic detail not logged with the request id")
	}
}

func TestHealthCheck(t *testing.T) {
	for _, tc := range []struct {
		name     string
		degraded string
		err      error
		ready    bool
		detail   string
	}{
		{"fine", "", nil, true, ""},
		{"degraded: ready, shown", "on the backup key", nil, true, "on the backup key"},
		{"down: unready", "", errors.New("redis unreachable"), false, "redis unreachable"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := HealthCheck("x", func(context.Context) (string, error) { return tc.degraded, tc.err })
			err := c.Check(context.Background())
			if ready := err == nil || errors.Is(err, ErrDegraded); ready != tc.ready {
				t.Fatalf("%v: ready %v", err, ready)
			}
			if tc.detail != "" && !strings.Contains(err.Error(), tc.detail) {
				t.Fatalf("%v lacks %q", err, tc.detail)
			}
		})
	}
}
