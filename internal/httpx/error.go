// Package httpx holds rtgate's small HTTP middlewares and the one JSON error
// writer that decides what a client sees when a request is refused.
package httpx

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
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

	// CodeSessionLimit: the user already holds USER_MAX_ACTIVE_SESSIONS
	// sessions; Retry-After is when the earliest one ends.
	CodeSessionLimit = "session_limit"
	// CodeQuotaExceeded: the user's USER_DAILY_QUOTA is used up;
	// Retry-After is the next UTC midnight.
	CodeQuotaExceeded = "quota_exceeded"
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
	CodeSessionLimit:         "Too many sessions at once. End one or retry later.",
	CodeQuotaExceeded:        "The daily usage limit is reached. Please retry later.",
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

// bodyPrefixes holds, for every code, the start of its error body with the
// code's default message, up to the request id.
var bodyPrefixes = func() map[string]string {
	m := make(map[string]string, len(defaultMessages))
	for code, msg := range defaultMessages {
		m[code] = string(appendBodyPrefix(nil, code, msg))
	}
	return m
}()

// appendBodyPrefix appends `{"error":{"code":"<code>","message":"<msg>","request_id":`.
func appendBodyPrefix(b []byte, code, msg string) []byte {
	b = append(b, `{"error":{"code":`...)
	b = appendJSONString(b, code)
	b = append(b, `,"message":`...)
	b = appendJSONString(b, msg)
	return append(b, `,"request_id":`...)
}

// appendJSONString appends s as a JSON string exactly as encoding/json
// writes it (HTML-safe escaping, invalid UTF-8 replaced). Plain printable
// ASCII, which request ids, codes and messages are, is copied as is.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s) // never fails for a string
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// bodyBufs recycles the buffers error bodies are assembled in: the
// ResponseWriter copies what it is given, so a buffer is free again when
// Write returns.
var bodyBufs = sync.Pool{New: func() any { b := make([]byte, 0, 256); return &b }}

// WriteError is the only place that turns an error into a response. Errors
// that are not *Error become a 500 with a generic message; the detail goes to
// the log with the request id.
//
// The body is {"error":{"code":…,"message":…,"request_id":…}} and a newline,
// byte for byte what encoding/json writes for it, assembled from a prefix
// made once per code; the log line ("request refused") is built from typed
// attributes and handed to the logger's handler directly, without
// reflection or call-stack capture.
func WriteError(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	e, ok := err.(*Error)
	if !ok {
		e = asError(err)
	}
	ctx := r.Context()
	rid := RequestID(ctx)
	if log != nil {
		logRefusal(ctx, log, e, rid)
	}
	h := w.Header()
	for k, vs := range e.Header {
		h[k] = vs
	}
	if e.RetryAfter > 0 {
		h[keyRetryAfter] = intHeader(int((e.RetryAfter + time.Second - 1) / time.Second))
	}
	msg := e.Message
	if msg == "" {
		msg = defaultMessages[e.Code]
	}
	bp := bodyBufs.Get().(*[]byte)
	b := (*bp)[:0]
	if prefix, ok := bodyPrefixes[e.Code]; ok && msg == defaultMessages[e.Code] {
		b = append(b, prefix...)
	} else {
		b = appendBodyPrefix(b, e.Code, msg)
	}
	b = appendJSONString(b, rid)
	b = append(b, "}}\n"...)
	writeJSON(w, e.Status, b)
	*bp = b
	bodyBufs.Put(bp)
}

// asError is errors.As for *Error, or the generic 500 for anything else.
// (Taking the address of WriteError's own variable would move it to the
// heap on every call.)
func asError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return Errorf(http.StatusInternalServerError, CodeInternal, err)
}

func logRefusal(ctx context.Context, log *slog.Logger, e *Error, rid string) {
	level := slog.LevelInfo
	if e.Status >= 500 {
		level = slog.LevelError
	}
	if !log.Enabled(ctx, level) {
		return
	}
	rec := slog.NewRecord(time.Now(), level, "request refused", 0)
	rec.AddAttrs(slog.String("request_id", rid), slog.Int("status", e.Status), slog.String("code", e.Code))
	if e.Err != nil {
		rec.AddAttrs(slog.String("cause", e.Err.Error()))
	}
	_ = log.Handler().Handle(ctx, rec)
}

// WriteJSON writes v as a JSON response with status. Responses are never cached.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":{"code":"internal","message":"Internal server error."}}`)
	}
	WriteRawJSON(w, status, b)
}

var newline = []byte{'\n'}

// WriteRawJSON writes an already-encoded JSON body, followed by a newline.
func WriteRawJSON(w http.ResponseWriter, status int, b []byte) {
	setJSONHeaders(w.Header(), len(b)+1)
	w.WriteHeader(status)
	_, _ = w.Write(b)
	_, _ = w.Write(newline)
}

// writeJSON writes b, which already ends in its newline.
func writeJSON(w http.ResponseWriter, status int, b []byte) {
	setJSONHeaders(w.Header(), len(b))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

func setJSONHeaders(h http.Header, length int) {
	fieldJSON.set(h)
	fieldNoStore.set(h)
	h[keyLength] = intHeader(length)
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
