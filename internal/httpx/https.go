package httpx

import (
	"errors"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
)

var errPlainHTTP = errors.New("plain http: not TLS and no X-Forwarded-Proto: https from a trusted proxy")

// RequireHTTPS is the production HTTPS guard. A request passes when it came
// over TLS to rtgate itself, or when its socket peer is a trusted proxy
// (trusted reports that) and every X-Forwarded-Proto value it sent is
// "https". Anything else — plain HTTP straight to rtgate, or an
// X-Forwarded-Proto from a peer that is not a trusted proxy — is refused with
// 403 forbidden and the generic JSON error, before the origin gate, the rate
// limiter or the upstream see it: a plain request never gets a token.
//
// 403 rather than 421 Misdirected Request: 421 tells a client to retry on
// another connection, which would invite an automatic retry over the same
// plain channel; 403 with the "forbidden" code is in rtgate's fixed error
// set and clients already handle it.
//
// GET and HEAD of /healthz and /readyz pass over plain HTTP, since load
// balancers probe backends that way; they carry no secret.
func RequireHTTPS(trusted func(netip.Addr) bool, log *slog.Logger) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.TLS != nil || probe(r) || forwardedHTTPS(r, trusted) {
				next.ServeHTTP(w, r)
				return
			}
			WriteError(w, r, log, &Error{Status: http.StatusForbidden, Code: CodeForbidden, Message: "HTTPS is required.", Err: errPlainHTTP})
		})
	}
}

func probe(r *http.Request) bool {
	return (r.Method == http.MethodGet || r.Method == http.MethodHead) && (r.URL.Path == "/healthz" || r.URL.Path == "/readyz")
}

// forwardedHTTPS reports whether a trusted proxy said the client used https.
// Every value must say so: "https, http" means some hop was plain.
func forwardedHTTPS(r *http.Request, trusted func(netip.Addr) bool) bool {
	if trusted == nil {
		return false
	}
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil || !trusted(ap.Addr().Unmap()) {
		return false
	}
	vals := r.Header.Values("X-Forwarded-Proto")
	if len(vals) == 0 {
		return false
	}
	for _, line := range vals {
		for _, v := range strings.Split(line, ",") {
			if !strings.EqualFold(strings.TrimSpace(v), "https") {
				return false
			}
		}
	}
	return true
}
