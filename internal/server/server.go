// Package server runs rtgate's listeners with hardened http.Server limits and
// shuts them down gracefully, letting in-flight requests finish.
package server

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/rtgate/rtgate/internal/connlimit"
)

// Limits are the http.Server timeouts and header bound.
type Limits struct {
	ReadHeaderTimeout time.Duration
	ReadTimeout       time.Duration
	WriteTimeout      time.Duration
	IdleTimeout       time.Duration
	MaxHeaderBytes    int
}

// DefaultLimits returns limits suited to a token endpoint whose upstream call
// may take up to upstreamTimeout.
func DefaultLimits(upstreamTimeout time.Duration, maxHeaderBytes int) Limits {
	return Limits{
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      upstreamTimeout + 15*time.Second,
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    maxHeaderBytes,
	}
}

// Listener is one bound listener and the handler it serves.
type Listener struct {
	Name    string
	Net     net.Listener
	Handler http.Handler
	Limits  Limits
	// ServeFunc, when set, replaces srv.Serve (used for TLS).
	ServeFunc func(srv *http.Server, ln net.Listener) error
	// Conns, when set, caps the listener's live connections per client
	// address and in total: over the per-address cap a connection is reset
	// at accept, before TLS or HTTP; at the total cap it takes the place of
	// the connection idle longest (the server reports states to
	// Conns.ConnState). Listeners may share one Limiter.
	Conns *connlimit.Limiter
}

// NewHTTPServer returns an http.Server with l's limits and an error log
// routed to log.
func NewHTTPServer(h http.Handler, l Limits, log *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: l.ReadHeaderTimeout,
		ReadTimeout:       l.ReadTimeout,
		WriteTimeout:      l.WriteTimeout,
		IdleTimeout:       l.IdleTimeout,
		MaxHeaderBytes:    l.MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}

// Run serves every listener until ctx is done, then calls beforeShutdown
// (to mark the service unready), and shuts all servers down, waiting up to
// grace for in-flight requests. It returns the first serve error.
func Run(ctx context.Context, log *slog.Logger, grace time.Duration, beforeShutdown func(), lns ...Listener) error {
	servers := make([]*http.Server, len(lns))
	errc := make(chan error, len(lns))
	for i, l := range lns {
		srv := NewHTTPServer(l.Handler, l.Limits, log)
		servers[i] = srv
		if l.Conns != nil {
			l.Net = l.Conns.Listener(l.Net, l.Name)
			srv.ConnState = l.Conns.ConnState
		}
		go func(l Listener) {
			serve := srv.Serve
			if l.ServeFunc != nil {
				serve = func(ln net.Listener) error { return l.ServeFunc(srv, ln) }
			}
			if err := serve(l.Net); err != nil && !errors.Is(err, http.ErrServerClosed) {
				errc <- err
				return
			}
			errc <- nil
		}(l)
	}
	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-errc:
	}
	log.Info("shutting down", "grace_ms", grace.Milliseconds())
	if beforeShutdown != nil {
		beforeShutdown()
	}
	sctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	var wg sync.WaitGroup
	for _, srv := range servers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := srv.Shutdown(sctx); err != nil {
				log.Warn("shutdown incomplete", "error", err.Error())
				_ = srv.Close()
			}
		}()
	}
	wg.Wait()
	return serveErr
}
