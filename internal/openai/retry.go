package openai

import (
	"context"
	"errors"
	"math/rand/v2"
	"net"
	"net/http"
	"strings"
	"time"
)

// Backoff bounds: the first retry waits about retryBase, doubling, never
// more than retryCap (unless the upstream's Retry-After asks for longer).
const (
	retryBase = 100 * time.Millisecond
	retryCap  = 2 * time.Second
)

// retryable reports whether err may be retried, and after how long. Only
// two kinds are: a connection that failed before the request was sent
// (nothing reached the upstream), and a 429 or 5xx answer the upstream
// gives to say "try again" (honouring its Retry-After). A retry that could
// not finish before the deadline is not attempted.
func (c *Client) retryable(ctx context.Context, r request, err error, retry int) (time.Duration, bool) {
	wait := c.backoff(retry)
	var se *StatusError
	switch {
	case errors.As(err, &se):
		if !r.retryStatus || !retryStatus(se.Status) || (r.acts && se.Status != http.StatusTooManyRequests) {
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

func retryStatus(status int) bool {
	switch status {
	case http.StatusTooManyRequests, http.StatusInternalServerError, http.StatusBadGateway,
		http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
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
