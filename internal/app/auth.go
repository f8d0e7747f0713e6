package app

import (
	"fmt"

	"github.com/rtgate/rtgate/internal/config"
	"net/http"

	"github.com/rtgate/rtgate/internal/gateway"
	"github.com/rtgate/rtgate/internal/ratelimit"
)

// newAuth builds the authenticator and the per-user controls. With
// AUTH_MODE=none both are nil: every caller is anonymous.
func (a *App) newAuth(limiter *ratelimit.Limiter) (gateway.Authenticator, gateway.UserControls, error) {
	_ = limiter
	if a.cfg.AuthMode != config.AuthNone {
		return nil, nil, fmt.Errorf("AUTH_MODE=%s is not wired yet", a.cfg.AuthMode)
	}
	return nil, nil, nil
}

// adminRoutes adds operator endpoints to the admin listener.
func (a *App) adminRoutes(mux *http.ServeMux) { _ = mux }
