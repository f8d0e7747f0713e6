package app

import (
	"net"
	"net/http"
)

// setupTLS prepares native TLS when configured. Without it rtgate serves
// plain HTTP (behind a TLS-terminating proxy in production).
func (a *App) setupTLS() error { return nil }

// publicServe serves the public listener: plain HTTP for now.
func (a *App) publicServe(srv *http.Server, ln net.Listener) error { return srv.Serve(ln) }
