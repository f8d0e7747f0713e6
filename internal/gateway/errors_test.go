package gateway

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/rtgate/rtgate/internal/auth"
	"github.com/rtgate/rtgate/internal/budget"
	"github.com/rtgate/rtgate/internal/calls"
	"github.com/rtgate/rtgate/internal/httpx"
	"github.com/rtgate/rtgate/internal/openai"
	"github.com/rtgate/rtgate/internal/ratelimit"
	"github.com/rtgate/rtgate/internal/users"
)

// TestClientErrorMapsEveryDomainError is the contract of errors.go: each
// domain error a handler can return, and what the client then sees.
func TestClientErrorMapsEveryDomainError(t *testing.T) {
	bearer := &auth.Challenge{Scheme: "Bearer", Realm: "rtgate"}
	invalid := &auth.Challenge{Scheme: "Bearer", Realm: "rtgate", Error: "invalid_token"}
	tests := []struct {
		name       string
		err        error
		status     int
		code       string
		retryAfter time.Duration
		header     [2]string // name, value; "" name: none checked
	}{
		{"missing credentials, bearer mode", &auth.Failure{Reason: auth.ReasonMissing, Challenge: bearer}, 401, httpx.CodeUnauthorized, 0,
			[2]string{"WWW-Authenticate", `Bearer realm="rtgate"`}},
		{"refused token, bearer mode", &auth.Failure{Reason: auth.ReasonSignature, Err: errors.New("bad signature"), Challenge: invalid}, 401, httpx.CodeUnauthorized, 0,
			[2]string{"WWW-Authenticate", `Bearer realm="rtgate", error="invalid_token"`}},
		{"refused session, forward mode: no challenge", &auth.Failure{Reason: auth.ReasonDenied}, 401, httpx.CodeUnauthorized, 0,
			[2]string{"WWW-Authenticate", ""}},
		{"too many auth failures", &auth.FailureLimited{RetryAfter: 20 * time.Second}, 429, httpx.CodeRateLimited, 20 * time.Second, [2]string{}},
		{"credentials cannot be checked", &auth.Unavailable{Err: errors.New("jwks down")}, 503, httpx.CodeUnavailable, time.Second, [2]string{}},
		{"blocked user", &users.Refusal{Reason: users.ReasonBlocked}, 403, httpx.CodeForbidden, 0, [2]string{}},
		{"over the active-session cap", &users.Refusal{Reason: users.ReasonActiveSessions, RetryAfter: 90 * time.Second}, 429, httpx.CodeSessionLimit, 90 * time.Second, [2]string{}},
		{"daily quota used", &users.Refusal{Reason: users.ReasonDailyQuota, RetryAfter: 2 * time.Hour}, 429, httpx.CodeQuotaExceeded, 2 * time.Hour, [2]string{}},
		{"per-user rate limit (Retry-After comes with its headers)", &users.Refusal{Reason: users.ReasonRateLimit}, 429, httpx.CodeRateLimited, 0, [2]string{}},
		{"per-user state unreachable: fail closed", fmt.Errorf("%w: %w", users.ErrUnavailable, errors.New("dial tcp")), 503, httpx.CodeUnavailable, 0, [2]string{}},
		{"spend budget used up: Retry-After is the reset that frees enough", &budget.Refusal{Limit: budget.LimitUserMonthly, RetryAfter: 50 * time.Hour}, 429, httpx.CodeBudgetExhausted, 50 * time.Hour, [2]string{}},
		{"spend budget below a minimum call: no reset helps", &budget.Refusal{Limit: budget.LimitUserDaily}, 429, httpx.CodeBudgetExhausted, 0, [2]string{}},
		{"token mode while budgets are enforced", budget.ErrTokenMode, 403, httpx.CodeForbidden, 0, [2]string{}},
		{"budget state unreachable: fail closed", fmt.Errorf("%w: %w", budget.ErrUnavailable, errors.New("dial tcp")), 503, httpx.CodeUnavailable, 0, [2]string{}},
		{"per-IP limit", errIPLimited, 429, httpx.CodeRateLimited, 0, [2]string{}},
		{"rate limiter down (closed policy)", fmt.Errorf("%w: %w", errLimiter, ratelimit.ErrStoreUnavailable), 503, httpx.CodeUnavailable, 0, [2]string{}},
		{"upstream timeout", upstream(fmt.Errorf("mint: %w", openai.ErrTimeout)), 504, httpx.CodeUpstreamTimeout, 0, [2]string{}},
		{"upstream shed by rtgate", upstream(&openai.UnavailableError{Reason: "queue_full", RetryAfter: 3 * time.Second}), 503, httpx.CodeUnavailable, 3 * time.Second, [2]string{}},
		{"upstream unavailable without a hint", upstream(openai.ErrUnavailable), 503, httpx.CodeUnavailable, time.Second, [2]string{}},
		{"upstream rate limit: retry later with OpenAI's wait", upstream(&openai.StatusError{Status: 429, RetryAfter: 1500 * time.Millisecond}), 503, httpx.CodeUnavailable, 2 * time.Second, [2]string{}},
		{"upstream rate limit without a hint", upstream(&openai.StatusError{Status: 429}), 503, httpx.CodeUnavailable, time.Second, [2]string{}},
		{"upstream rate limit with a long hint: bounded", upstream(&openai.StatusError{Status: 429, RetryAfter: time.Hour}), 503, httpx.CodeUnavailable, time.Minute, [2]string{}},
		{"upstream status", upstream(&openai.StatusError{Status: 500, Code: "server_error"}), 502, httpx.CodeUpstreamError, 0, [2]string{}},
		{"upstream transport error", upstream(errors.New("dial tcp: connection refused")), 502, httpx.CodeUpstreamError, 0, [2]string{}},
		{"no such call", calls.ErrNotFound, 404, httpx.CodeNotFound, 0, [2]string{}},
		{"call registry full", callsError(calls.ErrFull), 503, httpx.CodeUnavailable, time.Second, [2]string{}},
		{"call registry unreachable", callsError(errors.New("dial tcp 127.0.0.1:6379: connection refused")), 503, httpx.CodeUnavailable, time.Second, [2]string{}},
		{"upstream hang-up failed (through the registry)", callsError(fmt.Errorf("calls: hang up call_x: %w", upstream(&openai.StatusError{Status: 500, Code: "server_error"}))), 502, httpx.CodeUpstreamError, 0, [2]string{}},
		{"client went away while the upstream failed", clientAborted(upstream(&openai.StatusError{Status: 500, Code: "server_error"})), 499, httpx.CodeBadRequest, 0, [2]string{}},
		{"gateway's own refusal passes", methodNotAllowedError("GET, POST"), 405, httpx.CodeMethodNotAllowed, 0, [2]string{"Allow", "GET, POST"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var e *httpx.Error
			if !errors.As(clientError(tt.err), &e) {
				t.Fatalf("%v is not mapped", tt.err)
			}
			if e.Status != tt.status || e.Code != tt.code || e.RetryAfter != tt.retryAfter {
				t.Fatalf("%d %s retry %v; want %d %s retry %v", e.Status, e.Code, e.RetryAfter, tt.status, tt.code, tt.retryAfter)
			}
			if tt.header[0] != "" && e.Header.Get(tt.header[0]) != tt.header[1] {
				t.Errorf("%s = %q, want %q", tt.header[0], e.Header.Get(tt.header[0]), tt.header[1])
			}
			// The message is the code's generic one: never the reason or the cause.
			msg := e.Message
			for _, leak := range []string{"signature", "jwks", "queue", "server_error", "dial", "denied", "blocked", "quota", "active"} {
				if strings.Contains(msg, leak) {
					t.Errorf("client message %q names %q", msg, leak)
				}
			}
			if e.Err == nil && e.Status != 405 {
				t.Errorf("the cause of %v is not kept for the log", tt.err)
			}
		})
	}
	t.Run("a call another request is ending is accepted", func(t *testing.T) {
		if err := endAccepted(calls.ErrEnding); err != nil {
			t.Fatalf("endAccepted(ErrEnding) = %v", err)
		}
		if err := endAccepted(calls.ErrNotFound); !errors.Is(err, calls.ErrNotFound) {
			t.Fatalf("endAccepted(ErrNotFound) = %v", err)
		}
	})
	t.Run("an unknown error stays unmapped (500)", func(t *testing.T) {
		err := errors.New("programming error")
		var e *httpx.Error
		if errors.As(clientError(err), &e) {
			t.Fatalf("mapped to %d", e.Status)
		}
	})
}
