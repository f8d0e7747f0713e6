package app

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strconv"
	"time"

	"golang.org/x/crypto/acme/autocert"

	"github.com/rtgate/rtgate/internal/clientip"
	"github.com/rtgate/rtgate/internal/config"
	"github.com/rtgate/rtgate/internal/httpx"
	"github.com/rtgate/rtgate/internal/server"
	"github.com/rtgate/rtgate/internal/tlsx"
)

// tlsState is native TLS: the server configuration of the public listener,
// its certificate source, and the optional plain-HTTP redirect listener.
type tlsState struct {
	config   *tls.Config
	reloader *tlsx.Reloader    // TLS_CERT_FILE / TLS_KEY_FILE
	acme     *autocert.Manager // ACME_DOMAINS
	redirect net.Listener      // HTTP_REDIRECT_ADDR
}

// setupTLS prepares native TLS when configured. Without it rtgate serves
// plain HTTP (behind a TLS-terminating proxy in production).
func (a *App) setupTLS() error {
	c := a.cfg.TLS
	if !c.Native() {
		if a.cfg.Mode == config.Production && c.RequireHTTPS && len(a.cfg.TrustedProxies) == 0 {
			a.log.Warn("production without native TLS and without TRUSTED_PROXIES: every plain-HTTP request except health probes will be refused (set TLS_CERT_FILE, ACME_DOMAINS or TRUSTED_PROXIES)")
		}
		return nil
	}
	st := &tlsState{}
	a.tls = st
	switch {
	case c.ACME():
		var roots *x509.CertPool
		if c.ACMECAFile != "" {
			p, err := tlsx.LoadCertPool(c.ACMECAFile)
			if err != nil {
				return fmt.Errorf("ACME_CA_FILE: %w", err)
			}
			roots = p
		}
		m, err := tlsx.NewACME(tlsx.ACMEOptions{
			Domains: c.ACMEDomains, Email: c.ACMEEmail, DirectoryURL: c.ACMEDirectoryURL,
			CacheDir: c.ACMECacheDir, RootCAs: roots,
		})
		if err != nil {
			return fmt.Errorf("ACME_DOMAINS: %w", err)
		}
		st.acme = m
		st.config = tlsx.ACMEServerConfig(m)
	default:
		r, err := tlsx.NewReloader(c.CertFile, c.KeyFile, a.log.With("component", "tls"))
		if err != nil {
			return fmt.Errorf("TLS_CERT_FILE/TLS_KEY_FILE: %w", err)
		}
		st.reloader = r
		st.config = tlsx.ServerConfig(r.GetCertificate)
		interval := c.ReloadInterval
		a.background = append(a.background, func(ctx context.Context) { r.Run(ctx, interval) })
	}
	if c.RedirectAddr != "" {
		ln, err := net.Listen("tcp", c.RedirectAddr)
		if err != nil {
			return fmt.Errorf("listen on %s (HTTP_REDIRECT_ADDR): %w", c.RedirectAddr, err)
		}
		st.redirect = ln
		a.closers = append(a.closers, func() { _ = ln.Close() })
	}
	return nil
}

// publicServe serves the public listener: TLS (HTTP/2 and HTTP/1.1) when
// native TLS is configured, plain HTTP otherwise.
func (a *App) publicServe(srv *http.Server, ln net.Listener) error {
	if a.tls == nil {
		return srv.Serve(ln)
	}
	srv.TLSConfig = a.tls.config.Clone()
	return srv.ServeTLS(ln, "", "")
}

// transportGuard is the gateway's Transport hook: the HTTPS guard when
// REQUIRE_HTTPS is on (the production default), nothing otherwise.
func (a *App) transportGuard() func(http.Handler) http.Handler {
	if !a.cfg.TLS.RequireHTTPS {
		return nil
	}
	res := clientip.NewResolver(a.cfg.TrustedProxies, a.cfg.ClientIPHeader)
	return httpx.RequireHTTPS(res.Trusted, a.log)
}

// extraListeners are the listeners native TLS adds: the plain-HTTP redirect.
func (a *App) extraListeners() []server.Listener {
	if a.tls == nil || a.tls.redirect == nil {
		return nil
	}
	var h http.Handler = httpx.RedirectToHTTPS(a.publicPort(), a.servedName)
	if a.tls.acme != nil {
		// http-01 challenges are answered here too; everything else redirects.
		h = a.tls.acme.HTTPHandler(h)
	}
	h = httpx.Chain(h, httpx.RequestIDs, httpx.Secure, httpx.Recover(a.log))
	return []server.Listener{{Name: "redirect", Net: a.tls.redirect, Handler: h, Limits: server.DefaultLimits(5*time.Second, 16384), Conns: a.conns}}
}

// servedName reports whether rtgate serves HTTPS for host: one of
// ACME_DOMAINS, or a name (or IP) the current certificate from
// TLS_CERT_FILE is valid for, wildcards included. The redirect listener
// sends nobody anywhere else.
func (a *App) servedName(host string) bool {
	if a.tls.acme != nil {
		return slices.Contains(a.cfg.TLS.ACMEDomains, host)
	}
	cert := a.TLSCertificate()
	return cert != nil && cert.Leaf != nil && cert.Leaf.VerifyHostname(host) == nil
}

// RedirectAddr is the plain-HTTP redirect listener's address, or "".
func (a *App) RedirectAddr() string {
	if a.tls == nil || a.tls.redirect == nil {
		return ""
	}
	return a.tls.redirect.Addr().String()
}

// TLSCertificate returns the certificate currently served from
// TLS_CERT_FILE, or nil (no native TLS, or ACME).
func (a *App) TLSCertificate() *tls.Certificate {
	if a.tls == nil || a.tls.reloader == nil {
		return nil
	}
	return a.tls.reloader.Certificate()
}

func (a *App) publicPort() int {
	if a.public != nil {
		if p, err := portOf(a.public.Addr().String()); err == nil {
			return p
		}
	}
	return a.cfg.Port
}

func portOf(s string) (int, error) {
	_, p, err := net.SplitHostPort(s)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(p)
}
