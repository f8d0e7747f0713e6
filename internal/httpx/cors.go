package httpx

import (
	"errors"
	"log/slog"
	"net/http"
	"strings"
)

// CORS is the origin gate. An Origin must equal one of Allowed byte for byte
// (they are normalised at start-up to the form browsers send); there is no
// substring, suffix, wildcard or case folding, and "null" never matches.
type CORS struct {
	allowed map[string]struct{}
	log     *slog.Logger
}

// CORS response values: the guide's methods and a 24 hour preflight cache.
const (
	corsMethods       = "GET, POST, OPTIONS"
	corsMaxAge        = "86400"
	corsAllowHeaders  = "Authorization, Content-Type, X-Request-ID, X-Call-Token"
	corsExposeHeaders = "X-Request-ID, Retry-After, RateLimit, RateLimit-Policy, RateLimit-Limit, RateLimit-Remaining, RateLimit-Reset"
)

var corsRequestHeaders = map[string]bool{"authorization": true, "content-type": true, "x-request-id": true}

// NewCORS builds the gate for the given normalised origins.
func NewCORS(origins []string, log *slog.Logger) *CORS {
	m := make(map[string]struct{}, len(origins))
	for _, o := range origins {
		m[o] = struct{}{}
	}
	return &CORS{allowed: m, log: log}
}

// Allowed reports whether origin is on the list. Pure; exported for tests
// and for the audit command.
func (c *CORS) Allowed(origin string) bool {
	if origin == "" || origin == "null" {
		return false
	}
	_, ok := c.allowed[origin]
	return ok
}

var errOrigin = errors.New("origin not allowed")

// Middleware refuses requests from foreign origins with 403, answers
// preflights itself (204), and adds the CORS response headers for allowed
// origins. Requests without an Origin header (same-origin navigations,
// server-to-server calls, curl) pass through.
func (c *CORS) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		origins := r.Header.Values("Origin")
		h := w.Header()
		h.Add("Vary", "Origin")
		if len(origins) == 0 {
			next.ServeHTTP(w, r)
			return
		}
		if len(origins) > 1 || !c.Allowed(origins[0]) {
			WriteError(w, r, c.log, Errorf(http.StatusForbidden, CodeForbidden, errOrigin))
			return
		}
		origin := origins[0]
		h.Set("Access-Control-Allow-Origin", origin)
		h.Set("Access-Control-Allow-Credentials", "true")
		if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
			h.Add("Vary", "Access-Control-Request-Method")
			h.Add("Vary", "Access-Control-Request-Headers")
			if !preflightOK(r) {
				WriteError(w, r, c.log, Errorf(http.StatusForbidden, CodeForbidden, errors.New("preflight method or headers not allowed")))
				return
			}
			h.Set("Access-Control-Allow-Methods", corsMethods)
			h.Set("Access-Control-Allow-Headers", corsAllowHeaders)
			h.Set("Access-Control-Max-Age", corsMaxAge)
			w.WriteHeader(http.StatusNoContent)
			return
		}
		h.Set("Access-Control-Expose-Headers", corsExposeHeaders)
		next.ServeHTTP(w, r)
	})
}

func preflightOK(r *http.Request) bool {
	switch r.Header.Get("Access-Control-Request-Method") {
	case http.MethodGet, http.MethodPost:
	default:
		return false
	}
	for _, line := range r.Header.Values("Access-Control-Request-Headers") {
		for _, name := range strings.Split(line, ",") {
			name = strings.ToLower(strings.TrimSpace(name))
			if name != "" && !corsRequestHeaders[name] {
				return false
			}
		}
	}
	return true
}
