package app

import (
	"context"
	"errors"
	"log/slog"
	"net/http"

	"github.com/rtgate/rtgate/internal/admin"
	"github.com/rtgate/rtgate/internal/config"
	"github.com/rtgate/rtgate/internal/metrics"
)

// NewEmbedded builds an App for a program that serves its handlers itself
// (the public package github.com/rtgate/rtgate/rtgate): everything New
// builds but the listeners, so no port is bound and TLS, connection caps
// and server timeouts are the host's. Native TLS settings are refused.
// Call RunBackground for its background work and Close when done.
func NewEmbedded(cfg *config.Config, log *slog.Logger) (*App, error) {
	if cfg.TLS.Native() || cfg.TLS.RedirectAddr != "" {
		return nil, errors.New("TLS_CERT_FILE, ACME_DOMAINS and HTTP_REDIRECT_ADDR do not apply to an embedded gateway: the program that serves it terminates TLS")
	}
	return build(cfg, log, true)
}

// Handler is the gateway's public handler: every route of the public
// listener, behind the whole middleware chain (request id, security
// headers, access log, client IP, HTTPS guard, origin gate, ...).
func (a *App) Handler() http.Handler { return a.gw.Handler() }

// AdminHandler is what the admin listener serves: /metrics, /readyz with
// detail, /healthz and, with ADMIN_TOKEN, the operator API.
func (a *App) AdminHandler() http.Handler {
	return admin.Handler(admin.ListenerOptions{Metrics: metrics.Handler(a.registry), Ready: a.gw.ReadyHandler(), API: a.operator, Hosts: a.cfg.Abuse.AdminHosts, Logger: a.log})
}

// RunBackground runs the App's background work (rate-limit and user-state
// sweeps, key-file reloads, the call registry's sweeper, JWKS refreshes)
// until ctx ends; then it marks the gateway draining, stops that work and
// releases everything, as Run does after its listeners drained.
func (a *App) RunBackground(ctx context.Context) error {
	defer a.Close()
	stop := a.startBackground()
	<-ctx.Done()
	a.gw.SetDraining()
	stop()
	return nil
}
