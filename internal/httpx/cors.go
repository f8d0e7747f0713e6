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
	allowed map[string][]string // origin -> its Access-Control-Allow-Origin value (shared)
	log     *slog.Logger
	hint    *originHint
}

// CORS response values: the guide's methods and a 24 hour preflight cache.
const (
	corsMethods       = "GET, POST, OPTIONS"
	corsMaxAge        = "86400"
	corsAllowHeaders  = "Authorization, Content-Type, X-Request-ID, X-Call-Token"
	corsExposeHeaders = "X-Request-ID, Retry-After, RateLimit, RateLimit-Policy, RateLimit-Limit, RateLimit-Remaining, RateLimit-Reset"
)

var corsRequestHeaders = map[string]bool{"authorization": true, "content-type": true, "x-request-id": true}

// The CORS response fields with fixed values (see header.go).
var (
	fieldVaryOrigin    = newField("Vary", "Origin")
	fieldVaryMethod    = newField("Vary", "Access-Control-Request-Method")
	fieldVaryHeaders   = newField("Vary", "Access-Control-Request-Headers")
	fieldAllowCreds    = newField("Access-Control-Allow-Credentials", "true")
	fieldAllowMethods  = newField("Access-Control-Allow-Methods", corsMethods)
	fieldAllowHeaders  = newField("Access-Control-Allow-Headers", corsAllowHeaders)
	fieldMaxAge        = newField("Access-Control-Max-Age", corsMaxAge)
	fieldExposeHeaders = newField("Access-Control-Expose-Headers", corsExposeHeaders)
	keyAllowOrigin     = http.CanonicalHeaderKey("Access-Control-Allow-Origin")
	keyRequestHeaders  = http.CanonicalHeaderKey("Access-Control-Request-Headers")
)

// NewCORS builds the gate for the given normalised origins.
func NewCORS(origins []string, log *slog.Logger) *CORS {
	m := make(map[string][]string, len(origins))
	for _, o := range origins {
		m[o] = []string{o}
	}
	return &CORS{allowed: m, log: log, hint: newOriginHint(log, origins)}
}

// Allowed reports whether origin is on the list. Pure; exported for tests
// and for the audit command.
func (c *CORS) Allowed(origin string) bool {
	return c.allowOrigin(origin) != nil
}

// allowOrigin returns the Access-Control-Allow-Origin value for origin, or
// nil when origin is not allowed.
func (c *CORS) allowOrigin(origin string) []string {
	if origin == "" || origin == "null" {
		return nil
	}
	return c.allowed[origin]
}

var errOrigin = errors.New("origin not allowed")

// Middleware refuses requests from foreign origins with 403, answers
// preflights itself (204), and adds the CORS response headers for allowed
// origins. Requests without an Origin header (same-origin navigations,
// server-to-server calls, curl) pass through.
func (c *CORS) Middleware(next http.Handler) http.Handler { return corsGate{c: c, next: next} }

type corsGate struct {
	c    *CORS
	next http.Handler
}

func (g corsGate) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	origins := r.Header[keyOrigin]
	h := w.Header()
	fieldVaryOrigin.add(h)
	if len(origins) == 0 {
		g.next.ServeHTTP(w, r)
		return
	}
	var allow []string
	if len(origins) == 1 {
		allow = g.c.allowOrigin(origins[0])
	}
	if allow == nil {
		g.c.hint.refused(r, strings.Join(origins, ", "))
		WriteError(w, r, g.c.log, Errorf(http.StatusForbidden, CodeForbidden, errOrigin))
		return
	}
	h[keyAllowOrigin] = allow
	fieldAllowCreds.set(h)
	if r.Method == http.MethodOptions && len(r.Header[keyRequestMeth]) > 0 && r.Header[keyRequestMeth][0] != "" {
		fieldVaryMethod.add(h)
		fieldVaryHeaders.add(h)
		if !preflightOK(r) {
			WriteError(w, r, g.c.log, Errorf(http.StatusForbidden, CodeForbidden, errPreflight))
			return
		}
		fieldAllowMethods.set(h)
		fieldAllowHeaders.set(h)
		fieldMaxAge.set(h)
		w.WriteHeader(http.StatusNoContent)
		return
	}
	fieldExposeHeaders.set(h)
	g.next.ServeHTTP(w, r)
}

var errPreflight = errors.New("preflight method or headers not allowed")

func preflightOK(r *http.Request) bool {
	switch r.Header.Get("Access-Control-Request-Method") {
	case http.MethodGet, http.MethodPost:
	default:
		return false
	}
	for _, line := range r.Header[keyRequestHeaders] {
		for _, name := range strings.Split(line, ",") {
			name = strings.ToLower(strings.TrimSpace(name))
			if name != "" && !corsRequestHeaders[name] {
				return false
			}
		}
	}
	return true
}

var errCrossSiteFetch = errors.New("cross-site request without CORS (fetch metadata)")

// CrossSiteFetch reports, from a browser's fetch metadata (Sec-Fetch-*),
// whether r was made by another site without CORS: an <img>, <script> or
// <iframe>, a no-cors fetch, a link or a form on a foreign page — or on a
// sibling subdomain, which may be anyone's. It returns nil when r is not
// such a request:
//
//   - r has an Origin: it is a CORS (or same-origin POST) request, and the
//     origin gate has already checked the Origin against ALLOWED_ORIGINS;
//   - r has no fetch metadata: a non-browser client (curl, a server, an app)
//     or an old browser;
//   - Sec-Fetch-Site is same-origin or none (typed in, bookmarked), and
//     Sec-Fetch-Dest, when sent, is empty (fetch, XHR) or document.
//
// Anything else — Sec-Fetch-Site cross-site or same-site without an Origin,
// a destination such as image, script, style, iframe, object or worker —
// is refused by the endpoints that mint, call or erase.
func CrossSiteFetch(r *http.Request) error {
	if r.Header.Get("Origin") != "" {
		return nil
	}
	switch r.Header.Get("Sec-Fetch-Site") {
	case "", "same-origin", "none":
	default:
		return errCrossSiteFetch
	}
	switch r.Header.Get("Sec-Fetch-Dest") {
	case "", "empty", "document":
		return nil
	}
	return errCrossSiteFetch
}
