// Package reqctx carries the request-scoped values that every layer logs
// with or decides on — the request id and the resolved client address —
// from the HTTP edge (httpx's middlewares fill them in) to the domain
// packages (auth, users), which must not depend on HTTP packages.
package reqctx

import (
	"context"
	"net/netip"
)

// Values are one request's values. httpx creates them when a request
// arrives and fills them in as the request moves down the middleware chain;
// everyone else only reads them.
type Values struct {
	// RequestID is the request's id (X-Request-ID).
	RequestID string
	// ClientIP is the client address after trusted-proxy resolution; the
	// zero Addr until it was resolved.
	ClientIP netip.Addr
	// Route is the matched route pattern, for the access log and metrics.
	Route string
}

type key struct{}

// Key is the context key the Values live under. A context type of the
// HTTP edge's own (httpx allocates the Values together with the context
// that carries them) answers Value(Key) with its *Values; everyone else uses
// With and From.
var Key any = key{}

// With returns ctx carrying v.
func With(ctx context.Context, v *Values) context.Context {
	return context.WithValue(ctx, Key, v)
}

// From returns the values ctx carries, or nil.
func From(ctx context.Context) *Values {
	v, _ := ctx.Value(Key).(*Values)
	return v
}

// RequestID returns the request id ctx carries, or "".
func RequestID(ctx context.Context) string {
	if v := From(ctx); v != nil {
		return v.RequestID
	}
	return ""
}

// ClientIP returns the client address ctx carries, or the zero Addr.
func ClientIP(ctx context.Context) netip.Addr {
	if v := From(ctx); v != nil {
		return v.ClientIP
	}
	return netip.Addr{}
}
