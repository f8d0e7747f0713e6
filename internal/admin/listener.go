package admin

import (
	"log/slog"
	"net/http"

	"github.com/rtgate/rtgate/internal/httpx"
)

// ListenerOptions is what the admin listener (ADMIN_ADDR) serves.
type ListenerOptions struct {
	// Metrics serves GET /metrics (Prometheus).
	Metrics http.Handler
	// Ready serves GET /readyz with per-check detail.
	Ready http.Handler
	// API is the operator API; nil when it is off (no ADMIN_TOKEN, or
	// AUTH_MODE=none).
	API    *API
	Logger *slog.Logger
}

// Handler is the admin listener's handler: /metrics, /readyz with detail,
// /healthz, the operator API when there is one, and a JSON 404 for
// everything else, behind request ids, security headers and panic recovery.
func Handler(o ListenerOptions) http.Handler {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", o.Metrics)
	mux.Handle("GET /readyz", o.Ready)
	if o.API != nil {
		o.API.Register(mux)
	}
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		httpx.WriteJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.Handle("/", httpx.Handle(o.Logger, func(http.ResponseWriter, *http.Request) error {
		return httpx.Errorf(http.StatusNotFound, httpx.CodeNotFound, nil)
	}))
	return httpx.Chain(mux, httpx.RequestIDs, httpx.Secure, httpx.Recover(o.Logger))
}
