// Package tlsx is rtgate's native TLS: a hardened server tls.Config, a
// certificate that is re-read from its files when they change (so renewals
// need no restart), and automatic certificates over ACME.
package tlsx

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/acme"
	"golang.org/x/crypto/acme/autocert"
)

// CipherSuites are the TLS 1.2 suites rtgate offers: forward-secret ECDHE
// key exchange with AEAD ciphers only (no CBC, no RSA key exchange, no 3DES).
// TLS 1.3 suites are not configurable in Go and are all AEAD.
var CipherSuites = []uint16{
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
}

// ServerConfig returns the base server configuration: TLS 1.2 minimum, the
// AEAD CipherSuites, and ALPN for HTTP/2 and HTTP/1.1. getCert supplies the
// certificate for each handshake.
func ServerConfig(getCert func(*tls.ClientHelloInfo) (*tls.Certificate, error)) *tls.Config {
	return &tls.Config{
		MinVersion:     tls.VersionTLS12,
		CipherSuites:   CipherSuites,
		NextProtos:     []string{"h2", "http/1.1"},
		GetCertificate: getCert,
	}
}

// Reloader serves a certificate and key pair read from files and re-reads
// them when their content changes (it compares the bytes, not modification
// times, so coarse clocks, copies that keep mtimes and symlink swaps as done
// by Kubernetes secrets are all seen). A pair that
// fails to load (say, the certificate was replaced but the key not yet) is
// ignored and the previous certificate kept, so a renewal in progress never
// breaks handshakes; the next check tries again. It is safe for concurrent
// use.
type Reloader struct {
	certFile, keyFile string
	log               *slog.Logger

	cur atomic.Pointer[tls.Certificate]

	mu         sync.Mutex // serialises Reload
	loaded     [sha256.Size]byte
	lastFailed bool
}

// NewReloader loads the pair once; it fails if the files do not load.
func NewReloader(certFile, keyFile string, log *slog.Logger) (*Reloader, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	r := &Reloader{certFile: certFile, keyFile: keyFile, log: log}
	changed, err := r.Reload()
	if err != nil {
		return nil, err
	}
	if !changed {
		return nil, errors.New("tlsx: certificate not loaded")
	}
	return r, nil
}

// GetCertificate is the tls.Config hook: the current certificate.
func (r *Reloader) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return r.cur.Load(), nil
}

// Certificate returns the certificate currently served.
func (r *Reloader) Certificate() *tls.Certificate { return r.cur.Load() }

// Reload re-reads the files if they changed since the last successful load
// and reports whether a new certificate is now served. On error the previous
// certificate stays in place.
func (r *Reloader) Reload() (bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	certPEM, err := os.ReadFile(r.certFile)
	if err != nil {
		return false, r.failed(fmt.Errorf("tlsx: certificate file: %w", err))
	}
	keyPEM, err := os.ReadFile(r.keyFile)
	if err != nil {
		return false, r.failed(fmt.Errorf("tlsx: key file: %w", err))
	}
	h := sha256.New()
	h.Write(certPEM)
	h.Write([]byte{0})
	h.Write(keyPEM)
	var sum [sha256.Size]byte
	h.Sum(sum[:0])
	if r.cur.Load() != nil && sum == r.loaded {
		return false, nil
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return false, r.failed(fmt.Errorf("tlsx: load certificate and key: %w", err))
	}
	r.loaded, r.lastFailed = sum, false
	old := r.cur.Swap(&pair)
	if old != nil {
		r.log.Info("TLS certificate reloaded", "subject", pair.Leaf.Subject.String(),
			"serial", pair.Leaf.SerialNumber.Text(16), "not_after", pair.Leaf.NotAfter.UTC().Format(time.RFC3339))
	}
	return true, nil
}

func (r *Reloader) failed(err error) error {
	if !r.lastFailed {
		// Log once per failure streak: a half-written renewal is normal
		// for a moment; a persistent failure is logged again after success.
		r.log.Warn("TLS certificate reload failed; keeping the current certificate", "error", err.Error())
	}
	r.lastFailed = true
	return err
}

// Run checks the files every interval until ctx is done.
func (r *Reloader) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			_, _ = r.Reload()
		}
	}
}

// ACMEOptions configures automatic certificates.
type ACMEOptions struct {
	Domains      []string
	Email        string
	DirectoryURL string
	CacheDir     string
	// RootCAs, when set, is trusted for the ACME directory's HTTPS instead
	// of the system roots (private ACME servers, tests with Pebble).
	RootCAs *x509.CertPool
}

// NewACME returns an autocert manager limited to o.Domains, accepting the
// CA's terms, caching account and certificates in o.CacheDir. Serve it with
// ACMEServerConfig; its HTTPHandler answers http-01 challenges.
func NewACME(o ACMEOptions) (*autocert.Manager, error) {
	if len(o.Domains) == 0 {
		return nil, errors.New("tlsx: ACME needs at least one domain")
	}
	if o.CacheDir == "" {
		return nil, errors.New("tlsx: ACME needs a cache directory")
	}
	if err := os.MkdirAll(o.CacheDir, 0o700); err != nil {
		return nil, fmt.Errorf("tlsx: ACME cache directory: %w", err)
	}
	client := &acme.Client{DirectoryURL: o.DirectoryURL, UserAgent: "rtgate"}
	if o.RootCAs != nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.TLSClientConfig = &tls.Config{RootCAs: o.RootCAs, MinVersion: tls.VersionTLS12}
		client.HTTPClient = &http.Client{Transport: tr, Timeout: time.Minute}
	}
	return &autocert.Manager{
		Prompt:     autocert.AcceptTOS,
		Cache:      autocert.DirCache(o.CacheDir),
		HostPolicy: autocert.HostWhitelist(o.Domains...),
		Client:     client,
		Email:      o.Email,
	}, nil
}

// ACMEServerConfig is ServerConfig with m's certificates and the
// tls-alpn-01 challenge protocol enabled.
func ACMEServerConfig(m *autocert.Manager) *tls.Config {
	c := ServerConfig(m.GetCertificate)
	c.NextProtos = append(c.NextProtos, acme.ALPNProto)
	return c
}

// LoadCertPool reads a PEM bundle into a new pool.
func LoadCertPool(file string) (*x509.CertPool, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	p := x509.NewCertPool()
	if !p.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("tlsx: %s holds no PEM certificate", file)
	}
	return p, nil
}
