package openai

import (
	"context"
	"crypto/x509"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestTLSProbe(t *testing.T) {
	srv := httptest.NewTLSServer(http.NotFoundHandler())
	t.Cleanup(srv.Close)
	trusted := x509.NewCertPool()
	trusted.AddCert(srv.Certificate())
	now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	counted := func(p *TLSProbe) *int {
		n := new(int)
		dial := p.dial
		p.dial = func(ctx context.Context, network, addr string) (net.Conn, error) {
			*n++
			return dial(ctx, network, addr)
		}
		return n
	}

	t.Run("a plain-http upstream has nothing to check", func(t *testing.T) {
		if p := NewTLSProbe("http://127.0.0.1:8089/v1", nil, clock); p != nil {
			t.Fatal("probe for http")
		}
		var p *TLSProbe
		if d, err := p.Health(context.Background()); d != "" || err != nil {
			t.Fatal(d, err)
		}
	})
	t.Run("an untrusted certificate makes it unready, named, and cached briefly", func(t *testing.T) {
		p := NewTLSProbe(srv.URL+"/v1", x509.NewCertPool(), clock)
		dials := counted(p)
		_, err := p.Health(context.Background())
		if !errors.Is(err, ErrUntrusted) || !strings.Contains(err.Error(), "OPENAI_CA_FILE") || !strings.Contains(err.Error(), "127.0.0.1") {
			t.Fatalf("%v", err)
		}
		for range 10 {
			p.Health(context.Background())
		}
		now = now.Add(TLSProbeFailTTL - time.Second)
		p.Health(context.Background())
		if *dials != 1 {
			t.Errorf("%d handshakes within the failure TTL, want 1", *dials)
		}
		now = now.Add(time.Second)
		p.Health(context.Background())
		if *dials != 2 {
			t.Errorf("no new handshake after the failure TTL")
		}
	})
	t.Run("a trusted certificate is ready and checked again after the OK TTL", func(t *testing.T) {
		p := NewTLSProbe(srv.URL+"/v1", trusted, clock)
		dials := counted(p)
		for range 5 {
			if d, err := p.Health(context.Background()); d != "" || err != nil {
				t.Fatal(d, err)
			}
		}
		now = now.Add(TLSProbeOKTTL)
		p.Health(context.Background())
		if *dials != 2 {
			t.Errorf("%d handshakes, want 2", *dials)
		}
	})
	t.Run("an unreachable upstream is degraded, not unready", func(t *testing.T) {
		ln, _ := net.Listen("tcp", "127.0.0.1:0")
		addr := ln.Addr().String()
		ln.Close()
		p := NewTLSProbe("https://"+addr+"/v1", trusted, clock)
		d, err := p.Health(context.Background())
		if err != nil || !strings.Contains(d, "not reachable") {
			t.Fatalf("%q %v", d, err)
		}
	})
}
