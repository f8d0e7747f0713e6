// Package httpx holds rtgate's small HTTP middlewares and the one JSON error
// writer that decides what a client sees when a request is refused.
package httpx

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"time"
)

// Error codes: the whole set a client can see.
const (
	CodeBadRequest           = "bad_request"
	CodeUnauthorized         = "unauthorized"
	CodeForbidden            = "forbidden"
	CodeNotFound             = "not_found"
	CodeMethodNotAllowed     = "method_not_allowed"
	CodePayloadTooLarge      = "payload_too_large"
	CodeUnsupportedMediaType = "unsupported_media_type"
	CodeRateLimited          = "rate_limited"
	CodeBudgetExhausted      = "budget_exhausted"
	CodeUpstreamError        = "upstream_error"
	CodeUpstreamTimeout      = "upstream_timeout"
	CodeUnavailable          = "unavailable"
	CodeInternal             = "internal"
)

// Error is a request refusal: Status and Code decide the response, Message is
// the safe text the client sees, Err is the cause that only the log sees.
type Error struct {
	Status  int
	Code    string
	Message string
	Err     error
	// RetryAfter, when positive, is sent as a Retry-After header (seconds, rounded up).
	RetryAfter time.Duration
	// Header holds extra response headers (Allow, WWW-Authenticate, ...).
	Header http.Header
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %v", e.Code, e.Err)
	}
	return e.Code + ": " + e.Message
}

func (e *Error) Unwrap() error { return e.Err }

var defaultMessages = map[string]string{
	CodeBadRequest:           "The request is invalid.",
	CodeUnauthorized:         "Authentication is required.",
	CodeForbidden:            "This request is not allowed.",
	CodeNotFound:             "Not found.",
	CodeMethodNotAllowed:     "Method not allowed.",
	CodePayloadTooLarge:      "The request body is too large.",
	CodeUnsupportedMediaType: "Unsupported content type.",
	CodeRateLimited:          "Too many requests. Please retry later.",
	CodeBudgetExhausted:      "The spending budget for calls is used up.",
	CodeUpstreamError:        "The upstream service failed.",
	CodeUpstreamTimeout:      "The upstream service timed out.",
	CodeUnavailable:          "The service is temporarily unavailable.",
	CodeInternal:             "Internal server error.",
}

// Errorf builds an Error with the code's default message and a logged cause.
func Errorf(status int, code string, cause error) *Error {
	return &Error{Status: status, Code: code, Message: defaultMessages[code], Err: cause}
}

// BadRequest is a 400 whose message says what was wrong in general terms;
// msg must never echo client input or internal detail.
func BadRequest(msg string, cause error) *Error {
	return &Error{Status: http.StatusBadRequest, Code: CodeBadRequest, Message: msg, Err: cause}
}

type errorBody struct {
	Error errorFields `json:"error"`
}

type errorFields struct {
	Code      string `json:"code"`
	Message   string `json:"message"`
	RequestID string `json:"request_id"`
}

// WriteError is the only place that turns an error into a response. Errors
// that are not *Error become a 500 with a generic message; the detail goes to
// the log with the request id.
func WriteError(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	var e *Error
	if !errors.As(err, &e) {
		e = Errorf(http.StatusInternalServerError, CodeInternal, err)
	}
	rid := RequestID(r.Context())
	if log != nil {
		level := slog.LevelInfo
		if e.Status >= 500 {
			level = slog.LevelError
		}
		attrs := []any{"request_id", rid, "status", e.Status, "code", e.Code}
		if e.Err != nil {
			attrs = append(attrs, "cause", e.Err.Error())
		}
		log.Log(r.Context(), level, "request refused", attrs...)
	}
	h := w.Header()
	for k, vs := range e.Header {
		h[k] = vs
	}
	if e.RetryAfter > 0 {
		h.Set("Retry-After", strconv.Itoa(int((e.RetryAfter+time.Second-1)/time.Second)))
	}
	msg := e.Message
	if msg == "" {
		msg = defaultMessages[e.Code]
	}
	WriteJSON(w, e.Status, errorBody{Error: errorFields{Code: e.Code, Message: msg, RequestID: rid}})
}

// WriteJSON writes v as a JSON response with status. Responses are never cached.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":{"code":"internal","message":"Internal server error."}}`)
	}
	WriteRawJSON(w, status, b)
}

// WriteRawJSON writes an already-encoded JSON body.
func WriteRawJSON(w http.ResponseWriter, status int, b []byte) {
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Length", strconv.Itoa(len(b)+1))
	w.WriteHeader(status)
	_, _ = w.Write(b)
	_, _ = w.Write([]byte{'\n'})
}

// HandlerFunc is a handler that returns its refusal instead of writing it.
type HandlerFunc func(w http.ResponseWriter, r *http.Request) error

// Handle adapts fn to http.Handler, sending any returned error through WriteError.
func Handle(log *slog.Logger, fn HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := fn(w, r); err != nil {
			WriteError(w, r, log, err)
		}
	})
}
