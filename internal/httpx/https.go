package httpx

import (
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
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

// RedirectToHTTPS answers with 308 to the same host and path over https on
// port (omitted when 443): the plain-HTTP listener of HTTP_REDIRECT_ADDR.
// Only hosts that ours accepts (lower-case, without port or brackets) are
// redirected — the names rtgate serves HTTPS for; others, and every host
// when ours is nil, get 404, so the listener is no open redirect.
func RedirectToHTTPS(port int, ours func(host string) bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host := r.Host
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
		host = strings.ToLower(strings.Trim(host, "[]"))
		if !validHost(host) || ours == nil || !ours(host) {
			WriteError(w, r, nil, Errorf(http.StatusNotFound, CodeNotFound, nil))
			return
		}
		if strings.Contains(host, ":") {
			host = "[" + host + "]"
		}
		if port != 443 {
			host = net.JoinHostPort(strings.Trim(host, "[]"), strconv.Itoa(port))
		}
		u := url.URL{Scheme: "https", Host: host, Path: r.URL.Path, RawPath: r.URL.RawPath, RawQuery: r.URL.RawQuery}
		w.Header().Set("Location", u.String())
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusPermanentRedirect)
	})
}

// validHost accepts a DNS name or an IP address literal (without brackets):
// letters, digits, dots, dashes and, for IPv6, colons.
func validHost(h string) bool {
	if h == "" || len(h) > 253 {
		return false
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '.' || c == '-' || c == ':') {
			return false
		}
	}
	return true
}
