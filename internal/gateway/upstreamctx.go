package gateway

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/rtgate/rtgate/internal/openai"
)

// This file is what every endpoint that creates something upstream (a
// token, a call) shares once the upstream may act (issue 11): the upstream
// call runs on a context detached from the client's cancellation, so a
// client that hangs up mid-request cannot stop work that already reached
// OpenAI; what came of it is kept (recorded, tracked, counted); and the
// admission is given back only when the upstream provably did not act.

// DefaultUpstreamDeadline bounds the upstream work of one request once it
// no longer follows the client's cancellation, when
// Options.UpstreamDeadline is 0. The upstream client's own deadlines
// (queue wait, UPSTREAM_TIMEOUT_MS) normally end it much sooner.
const DefaultUpstreamDeadline = 2 * time.Minute

// statusClientClosed is nginx's "client closed request": the status the
// access log shows for a request whose client went away before its answer
// was ready. Nobody receives it.
const statusClientClosed = 499

// upstreamContext returns the context for r's upstream work: r's values
// (request id, client IP) without its cancellation, and a deadline of its
// own (Options.UpstreamDeadline).
func (g *Gateway) upstreamContext(r *http.Request) (context.Context, context.CancelFunc) {
	d := g.o.UpstreamDeadline
	if d <= 0 {
		d = DefaultUpstreamDeadline
	}
	return context.WithTimeout(context.WithoutCancel(r.Context()), d)
}

// upstreamActed reports whether a failed upstream create may have acted
// (made a secret or a call, or billed anything). It is false only when the
// upstream provably did not (openai.NotActed): rtgate refused before
// sending (queue full or timed out, breaker open), the connection failed
// before the request was sent (a dial error), or OpenAI answered 4xx (it
// acts on no request it refuses, 429 included). A 5xx, a timeout, a reset
// or a malformed 2xx may have acted.
func upstreamActed(err error) bool { return !openai.NotActed(err) }

// settle decides what a failed upstream mint costs id. Only when the
// upstream provably did not act is the whole admission given back.
// Otherwise the upstream may have minted: the day's count stays and only
// the active-session slot is freed, since no secret reached the client.
func (g *Gateway) settle(r *http.Request, id Identity, err error) {
	if !upstreamActed(err) {
		g.release(r, id)
		return
	}
	g.end(r.Context(), id)
}

// clientGone reports whether r's client went away (its connection closed or
// its stream was reset) before the answer was written.
func clientGone(r *http.Request) bool { return r.Context().Err() != nil }

// clientAborted is the error of a request whose client went away: logged
// as a client abort (status 499) with cause, not as an upstream error.
func clientAborted(cause error) error {
	if cause == nil {
		return errClientGone
	}
	return errors.Join(errClientGone, cause)
}
