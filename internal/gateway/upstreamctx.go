package gateway

import (
	"context"
	"net/http"

	"github.com/rtgate/rtgate/internal/openai"
)

// upstreamContext is the context of an upstream call made for r: detached
// from the client's cancellation and bounded by Options.UpstreamDeadline
// instead. A client that hangs up must not cancel a call the upstream may
// already be carrying out: the call finishes, and what it did is counted
// and recorded (a client cannot buy back its quota by hanging up).
func (g *Gateway) upstreamContext(r *http.Request) (context.Context, context.CancelFunc) {
	ctx := context.WithoutCancel(r.Context())
	if d := g.o.UpstreamDeadline; d > 0 {
		return context.WithTimeout(ctx, d)
	}
	return context.WithCancel(ctx)
}

// settle decides what a failed upstream call costs id. Only when the
// upstream provably did not act (openai.NotActed: rtgate shed the call, the
// connection failed before sending, OpenAI refused it with a 4xx) is the
// whole admission given back. Otherwise the upstream may have minted: the
// day's count stays and only the active-session slot is freed, since no
// secret or call reached the client.
func (g *Gateway) settle(r *http.Request, id Identity, err error) {
	if openai.NotActed(err) {
		g.release(r, id)
		return
	}
	g.end(r.Context(), id)
}

// clientGone reports whether r's client went away before its answer
// (the request context is cancelled only when the connection or the
// HTTP/2 stream closes, or when the handler has returned).
func clientGone(r *http.Request) bool { return r.Context().Err() != nil }
