package admin

import (
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"

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
	API *API
	// Hosts are the names (ADMIN_HOSTS) the listener answers to besides IP
	// literals and localhost, for a scraper that addresses it by name.
	Hosts  []string
	Logger *slog.Logger
}

// Handler is the admin listener's handler: /metrics, /readyz with detail,
// /healthz, the operator API when there is one, and a JSON 404 for
// everything else, behind request ids, security headers, panic recovery
// and the Host check (ownHost).
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
	return httpx.Chain(mux, httpx.RequestIDs, httpx.Secure, httpx.Recover(o.Logger), ownHost(o.Hosts, o.Logger))
}

var errForeignHost = errors.New("admin listener: request for a foreign host name")

// ownHost refuses, with 421 Misdirected Request, a request whose Host is
// not one the admin listener answers to: an IP literal, localhost, or one
// of hosts (case-insensitive, any port). A DNS-rebinding page — evil.example
// re-pointed at 127.0.0.1 — sends its own name, so it cannot read the
// metrics, the readiness detail or the operator API; Prometheus and curl
// address the listener by IP (or by a name in ADMIN_HOSTS). A request
// without Host (HTTP/1.0) is not from a browser and passes.
func ownHost(hosts []string, log *slog.Logger) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if !allowedHost(r.Host, hosts) {
				httpx.WriteError(w, r, log, httpx.Errorf(http.StatusMisdirectedRequest, httpx.CodeForbidden, errForeignHost))
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

func allowedHost(host string, names []string) bool {
	if host == "" {
		return true
	}
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.Trim(host, "[]"), ".")
	if _, err := netip.ParseAddr(host); err == nil || strings.EqualFold(host, "localhost") {
		return true
	}
	for _, n := range names {
		if strings.EqualFold(host, n) {
			return true
		}
	}
	return false
}
