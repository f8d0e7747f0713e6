package openai

import (
	"context"
	"errors"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Backoff bounds: the first retry waits about retryBase, doubling, never
// more than retryCap (unless the upstream's Retry-After asks for longer).
const (
	retryBase = 100 * time.Millisecond
	retryCap  = 2 * time.Second
)

// retryable reports whether err may be retried, and after how long. A
// request is re-sent only when the failed attempt provably did not act
// upstream: the connection failed before the request was sent (nothing
// reached OpenAI), or OpenAI answered 429, which it does not act on
// (honouring its Retry-After). After a 5xx, a timeout or a connection
// dropped once the request was sent, OpenAI may have created the secret or
// the call: a create is never re-sent then, since that would make a second
// one (a duplicate secret, a second billed call). Only an idempotent request
// (a hang-up) is also retried after 500, 502, 503 and 504. A retry that
// could not finish before the deadline is not attempted.
func (c *Client) retryable(ctx context.Context, r request, err error, retry int) (time.Duration, bool) {
	wait := c.backoff(retry)
	switch se, isStatus := errors.AsType[*StatusError](err); {
	case isStatus:
		if !retryStatus(se.Status, r.idempotent) {
			return 0, false
		}
		wait = max(wait, se.RetryAfter)
	case notSent(err):
	default:
		return 0, false
	}
	if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) <= wait {
		return 0, false
	}
	return wait, true
}

// retryStatus reports whether an answer with status may be re-sent: 429
// always, the 5xx "try again" statuses only for an idempotent request.
func retryStatus(status int, idempotent bool) bool {
	switch status {
	case http.StatusTooManyRequests:
		return true
	case http.StatusInternalServerError, http.StatusBadGateway,
		http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return idempotent
	}
	return false
}

// NotActed reports whether a failed call provably did not act upstream, so
// that whatever was reserved for it (a user's quota, an active-session
// slot) may be given back: rtgate did not send it (queue full or timed
// out, breaker open), the connection failed before the request was sent,
// or OpenAI refused it with a 4xx status (its 400, 401, 403 and 429 create
// nothing). A 5xx, a timeout, a dropped connection, a malformed 2xx answer
// or a cancelled call may have acted. Since a create is re-sent only after
// attempts that did not act (see retryable), the final error decides for
// the whole call.
func NotActed(err error) bool {
	if err == nil {
		return false
	}
	var se *StatusError
	switch {
	case errors.Is(err, ErrUnavailable):
		return true
	case errors.As(err, &se):
		return se.Status >= 400 && se.Status < 500
	}
	return notSent(err)
}

// notSent reports whether err happened before any byte of the request
// reached the upstream: a failed dial (refused, unreachable), or Go's
// transport finding a pooled connection closed before writing.
func notSent(err error) bool {
	if errors.Is(err, ErrTimeout) {
		return false
	}
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Op == "dial" {
		return true
	}
	return strings.Contains(err.Error(), "server closed idle connection")
}

// maxRetryAfterHint bounds the wait read from the upstream's headers.
const maxRetryAfterHint = time.Hour

// retryAfterHint is the wait an upstream answer asks for, from OpenAI's
// headers in this order: retry-after-ms (milliseconds), Retry-After
// (seconds or an HTTP date), and the x-ratelimit-reset-requests/-tokens
// durations ("1s", "6m0s", "20ms") — of the limits whose
// x-ratelimit-remaining-* is 0 the latest, else the soonest. 0 when none
// is usable; never more than an hour.
func retryAfterHint(h http.Header, now time.Time) time.Duration {
	d := func() time.Duration {
		if ms, err := strconv.ParseInt(strings.TrimSpace(h.Get("retry-after-ms")), 10, 64); err == nil && ms > 0 {
			return time.Duration(min(ms, int64(maxRetryAfterHint/time.Millisecond))) * time.Millisecond
		}
		if v := strings.TrimSpace(h.Get("Retry-After")); v != "" {
			if n, err := strconv.ParseInt(v, 10, 64); err == nil {
				if n > 0 {
					return time.Duration(min(n, int64(maxRetryAfterHint/time.Second))) * time.Second
				}
			} else if t, err := http.ParseTime(v); err == nil && t.After(now) {
				return t.Sub(now)
			}
		}
		var exhausted, soonest time.Duration
		for _, kind := range []string{"requests", "tokens"} {
			reset, err := time.ParseDuration(strings.TrimSpace(h.Get("x-ratelimit-reset-" + kind)))
			if err != nil || reset <= 0 {
				continue
			}
			if strings.TrimSpace(h.Get("x-ratelimit-remaining-"+kind)) == "0" {
				exhausted = max(exhausted, reset)
			}
			if soonest == 0 || reset < soonest {
				soonest = reset
			}
		}
		if exhausted > 0 {
			return exhausted
		}
		return soonest
	}()
	return min(d, maxRetryAfterHint)
}

// backoff is exponential with jitter: a uniform wait in [d/2, d) where d
// doubles per retry from retryBase up to retryCap.
func (c *Client) backoff(retry int) time.Duration {
	d := retryBase << min(retry, 10)
	d = min(d, retryCap)
	half := int64(d / 2)
	return time.Duration(half + c.jitter(half))
}

func randInt64N(n int64) int64 {
	if n <= 0 {
		return 0
	}
	return rand.Int64N(n)
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
