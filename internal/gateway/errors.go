package gateway

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/rtgate/rtgate/internal/auth"
	"github.com/rtgate/rtgate/internal/budget"
	"github.com/rtgate/rtgate/internal/calls"
	"github.com/rtgate/rtgate/internal/httpx"
	"github.com/rtgate/rtgate/internal/openai"
	"github.com/rtgate/rtgate/internal/users"
)

// This file is the one place that decides what a client sees when a request
// is refused. Handlers return domain errors (auth, users, calls, ratelimit,
// openai) or the gateway's own refusals built below; clientError maps them
// to an *httpx.Error (status, code, safe message, headers), and
// httpx.WriteError writes it and logs the cause with the request id. An
// error nobody mapped is a 500 with a generic message.

// handle adapts a handler that returns its refusal to http.Handler, mapping
// the refusal with clientError. When the client has already gone, whatever
// the error, nothing can reach it: the request is logged as a client abort
// with the cause, and its status is statusClientClosed (access log and
// metrics), never an upstream error.
func (g *Gateway) handle(fn httpx.HandlerFunc) http.Handler {
	return httpx.Handle(g.log, func(w http.ResponseWriter, r *http.Request) error {
		err := fn(w, r)
		switch {
		case err == nil:
			return nil
		case clientGone(r):
			g.log.Info("client abort", "request_id", httpx.RequestID(r.Context()), "path", r.URL.Path, "cause", err.Error())
			w.WriteHeader(statusClientClosed)
			return nil
		}
		return clientError(err)
	})
}

// Refusals the gateway decides itself, before or around the domain calls.
var (
	// errIPLimited: the per-IP rate limit said no (its headers are set).
	errIPLimited = errors.New("ip rate limit")
	// errLimiter: the rate limiter could not decide.
	errLimiter = errors.New("rate limiter")
	// errClientGone: the client went away before its answer was ready
	// (see clientAborted); nobody reads what is written.
	errClientGone = errors.New("client closed the request")
	// errCallStore: the call registry's store could not be reached.
	errCallStore = errors.New("call registry unavailable")
)

// callsError passes the call registry's domain errors (and upstream
// failures of a hang-up) through and marks anything else it returns, a
// store failure, as errCallStore.
func callsError(err error) error {
	var ue *upstreamError
	switch {
	case err == nil, errors.Is(err, calls.ErrNotFound), errors.Is(err, calls.ErrFull),
		errors.Is(err, calls.ErrEnding), errors.As(err, &ue):
		return err
	}
	return fmt.Errorf("%w: %w", errCallStore, err)
}

// endAccepted is the outcome of ending a call as its owner sees it:
// calls.ErrEnding (another request or instance is ending it right now) is
// what they asked for, so it is accepted (nil: 204) like an end that
// completed here.
func endAccepted(err error) error {
	if errors.Is(err, calls.ErrEnding) {
		return nil
	}
	return err
}

// upstreamError marks a failed upstream (OpenAI) call: whatever its cause,
// the client gets an upstream error, never a 500. Its text is the cause's.
type upstreamError struct{ err error }

func (e *upstreamError) Error() string { return e.err.Error() }
func (e *upstreamError) Unwrap() error { return e.err }

func upstream(err error) error { return &upstreamError{err: err} }

// Constructors of the gateway's HTTP-level refusals (routes, methods,
// bodies). msg, where there is one, must never echo client input.
func notFound(cause error) *httpx.Error {
	return httpx.Errorf(http.StatusNotFound, httpx.CodeNotFound, cause)
}

func methodNotAllowedError(allow string) *httpx.Error {
	e := httpx.Errorf(http.StatusMethodNotAllowed, httpx.CodeMethodNotAllowed, nil)
	e.Header = http.Header{"Allow": {allow}}
	return e
}

func badRequest(msg string, cause error) *httpx.Error { return httpx.BadRequest(msg, cause) }

func unsupportedMediaType(cause error) *httpx.Error {
	return httpx.Errorf(http.StatusUnsupportedMediaType, httpx.CodeUnsupportedMediaType, cause)
}

func payloadTooLarge(cause error) *httpx.Error {
	return httpx.Errorf(http.StatusRequestEntityTooLarge, httpx.CodePayloadTooLarge, cause)
}

func unavailable(cause error) *httpx.Error {
	return httpx.Errorf(http.StatusServiceUnavailable, httpx.CodeUnavailable, cause)
}

// Bounds of the Retry-After given to a client for OpenAI's 429: its own
// hint rounded up to whole seconds, at least one, at most a minute (a
// client should ask again rather than stay away for OpenAI's whole reset).
const (
	minUpstreamRetryAfter = time.Second
	maxUpstreamRetryAfter = time.Minute
)

func upstreamRetryAfter(hint time.Duration) time.Duration {
	d := (hint + time.Second - 1) / time.Second * time.Second
	return min(max(d, minUpstreamRetryAfter), maxUpstreamRetryAfter)
}

// clientError maps err to the client's JSON error. The cause stays in the
// returned error for the log.
func clientError(err error) error {
	var (
		he *httpx.Error
		af *auth.Failure
		al *auth.FailureLimited
		au *auth.Unavailable
		ur *users.Refusal
		br *budget.Refusal
		ue *upstreamError
	)
	switch {
	case errors.As(err, &he):
		return he // decided above
	case errors.Is(err, errClientGone):
		// Logged as a client abort, whatever failed meanwhile.
		return &httpx.Error{Status: statusClientClosed, Code: httpx.CodeBadRequest, Message: "The client closed the request.", Err: err}

	// Authentication (stage 9).
	case errors.As(err, &af):
		e := httpx.Errorf(http.StatusUnauthorized, httpx.CodeUnauthorized, err)
		if c := af.Challenge; c != nil {
			v := c.Scheme + ` realm="` + c.Realm + `"`
			if c.Error != "" {
				v += `, error="` + c.Error + `"`
			}
			e.Header = http.Header{}
			e.Header.Set("WWW-Authenticate", v)
		}
		return e
	case errors.As(err, &al):
		e := httpx.Errorf(http.StatusTooManyRequests, httpx.CodeRateLimited, err)
		e.RetryAfter = al.RetryAfter
		return e
	case errors.As(err, &au):
		// The credentials may be good: never a 401 while they cannot be checked.
		e := unavailable(err)
		e.RetryAfter = time.Second
		return e

	// Per-user controls (stage 10) and the user data behind them.
	case errors.As(err, &ur):
		code := httpx.CodeRateLimited
		switch ur.Reason {
		case users.ReasonBlocked:
			return httpx.Errorf(http.StatusForbidden, httpx.CodeForbidden, err)
		case users.ReasonActiveSessions:
			code = httpx.CodeSessionLimit
		case users.ReasonDailyQuota:
			code = httpx.CodeQuotaExceeded
		}
		// The rate limit's own Retry-After (with jitter) is already set
		// from the Admission's decision; RetryAfter is 0 then.
		e := httpx.Errorf(http.StatusTooManyRequests, code, err)
		e.RetryAfter = ur.RetryAfter
		return e
	case errors.Is(err, users.ErrUnavailable):
		// Fail closed: the limits are about money.
		return unavailable(err)

	// Spend budgets (stage 10): 429, the budget's own code, and when the
	// reset that frees enough comes (none when no reset ever will).
	case errors.As(err, &br):
		e := httpx.Errorf(http.StatusTooManyRequests, httpx.CodeBudgetExhausted, err)
		e.RetryAfter = br.RetryAfter
		return e
	case errors.Is(err, budget.ErrTokenMode):
		return &httpx.Error{Status: http.StatusForbidden, Code: httpx.CodeForbidden, Err: err,
			Message: "Ephemeral tokens are disabled while spend budgets are enforced; use a server-side call."}
	case errors.Is(err, budget.ErrUnavailable):
		return unavailable(err)

	// Rate limits (stages 7 and 10).
	case errors.Is(err, errIPLimited):
		return httpx.Errorf(http.StatusTooManyRequests, httpx.CodeRateLimited, err)
	case errors.Is(err, errLimiter):
		return unavailable(err)

	// The registry of live calls (SDP proxy).
	case errors.Is(err, calls.ErrNotFound):
		return notFound(err)
	case errors.Is(err, calls.ErrFull), errors.Is(err, errCallStore):
		e := unavailable(err)
		e.RetryAfter = time.Second
		return e

	// Upstream (stage 11): never the upstream's own text.
	case errors.As(err, &ue):
		var se *openai.StatusError
		switch {
		case errors.As(err, &se) && se.Status == http.StatusTooManyRequests:
			// OpenAI's rate limit is the deployment's, not this client's:
			// 503 "retry later", not 429, whose RateLimit headers would
			// contradict the client's own remaining budget sent with it.
			e := unavailable(ue.err)
			e.RetryAfter = upstreamRetryAfter(se.RetryAfter)
			return e
		case errors.Is(err, openai.ErrTimeout):
			return httpx.Errorf(http.StatusGatewayTimeout, httpx.CodeUpstreamTimeout, ue.err)
		case errors.Is(err, openai.ErrUnavailable):
			e := unavailable(ue.err)
			e.RetryAfter = time.Second
			var ra interface{ RetryAfterHint() time.Duration }
			if errors.As(err, &ra) && ra.RetryAfterHint() > 0 {
				e.RetryAfter = ra.RetryAfterHint()
			}
			return e
		}
		return httpx.Errorf(http.StatusBadGateway, httpx.CodeUpstreamError, ue.err)
	}
	return err
}
