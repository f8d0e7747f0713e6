package openai

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"sync"
	"time"
)

// How long a TLS probe's verdict is kept: a trusted certificate is
// checked again after TLSProbeOKTTL, an untrusted one (or an unreachable
// upstream) after TLSProbeFailTTL, so /readyz costs at most one handshake
// per interval however often it is asked.
const (
	TLSProbeOKTTL   = 5 * time.Minute
	TLSProbeFailTTL = 10 * time.Second
	tlsProbeTimeout = 2 * time.Second
)

// ErrUntrusted marks a TLS probe that reached the upstream and refused its
// certificate: every upstream call would fail the same way.
var ErrUntrusted = errors.New("upstream certificate not trusted")

// TLSProbe checks, cheaply and cached, that the upstream's certificate is
// one rtgate trusts (the system roots, SSL_CERT_FILE, or OPENAI_CA_FILE).
type TLSProbe struct {
	addr, host string
	config     *tls.Config
	now        func() time.Time
	dial       func(ctx context.Context, network, addr string) (net.Conn, error)

	mu       sync.Mutex
	until    time.Time
	degraded string
	err      error
}

// NewTLSProbe returns the probe of baseURL's host with roots (nil: the
// system roots); nil when baseURL is not https, since there is nothing to
// check. now is the clock (time.Now when nil).
func NewTLSProbe(baseURL string, roots *x509.CertPool, now func() time.Time) *TLSProbe {
	u, err := url.Parse(baseURL)
	if err != nil || u.Scheme != "https" {
		return nil
	}
	port := u.Port()
	if port == "" {
		port = "443"
	}
	if now == nil {
		now = time.Now
	}
	d := &net.Dialer{Timeout: tlsProbeTimeout}
	return &TLSProbe{
		addr: net.JoinHostPort(u.Hostname(), port), host: u.Hostname(),
		config: &tls.Config{RootCAs: roots, ServerName: u.Hostname(), MinVersion: tls.VersionTLS12},
		now:    now, dial: d.DialContext,
	}
}

// Health is the probe's verdict for readiness: an error wrapping
// ErrUntrusted while the certificate is refused (unready: every mint would
// fail), a degraded detail while the upstream cannot be reached (still
// ready: the circuit breaker answers for outages), else neither.
func (p *TLSProbe) Health(ctx context.Context) (string, error) {
	if p == nil {
		return "", nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.now()
	if now.Before(p.until) {
		return p.degraded, p.err
	}
	p.degraded, p.err = p.probe(ctx)
	ttl := TLSProbeOKTTL
	if p.degraded != "" || p.err != nil {
		ttl = TLSProbeFailTTL
	}
	p.until = now.Add(ttl)
	return p.degraded, p.err
}

func (p *TLSProbe) probe(ctx context.Context) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, tlsProbeTimeout)
	defer cancel()
	raw, err := p.dial(ctx, "tcp", p.addr)
	if err != nil {
		return fmt.Sprintf("upstream %s not reachable for the TLS check: %v", p.addr, err), nil
	}
	defer raw.Close()
	conn := tls.Client(raw, p.config)
	err = conn.HandshakeContext(ctx)
	if err == nil {
		return "", nil
	}
	var (
		unknown  x509.UnknownAuthorityError
		invalid  x509.CertificateInvalidError
		hostname x509.HostnameError
		verify   *tls.CertificateVerificationError
	)
	if errors.As(err, &unknown) || errors.As(err, &invalid) || errors.As(err, &hostname) || errors.As(err, &verify) {
		return "", fmt.Errorf("%w: %s (%s): %v; trust its CA with OPENAI_CA_FILE (or SSL_CERT_FILE)", ErrUntrusted, p.host, p.addr, err)
	}
	return fmt.Sprintf("TLS handshake with upstream %s failed: %v", p.addr, err), nil
}
