package httpx

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"net/http"

	"github.com/rtgate/rtgate/internal/reqctx"
)

// getState returns the per-request record shared by the middlewares: one
// context value (reqctx.Values), filled in as the request moves down the
// chain, read by the access log on the way back up.
func getState(ctx context.Context) *reqctx.Values { return reqctx.From(ctx) }

// RequestIDHeader is the header that carries the request id both ways.
const RequestIDHeader = "X-Request-ID"

// RequestID returns the request id stored by the RequestIDs middleware, or "".
func RequestID(ctx context.Context) string { return reqctx.RequestID(ctx) }

// ValidRequestID reports whether s may be kept as a request id:
// 1 to 128 characters of [A-Za-z0-9._-].
func ValidRequestID(s string) bool {
	if len(s) == 0 || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

var ridEncoding = base32.NewEncoding("0123456789abcdefghjkmnpqrstvwxyz").WithPadding(base32.NoPadding)

// NewRequestID returns a fresh random request id (26 characters).
func NewRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return ridEncoding.EncodeToString(b[:])
}

// RequestIDs keeps a valid incoming X-Request-ID or makes a new one, puts it
// in the context, and sets it on the response.
func RequestIDs(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get(RequestIDHeader)
		if !ValidRequestID(id) || len(r.Header.Values(RequestIDHeader)) > 1 {
			id = NewRequestID()
		}
		w.Header().Set(RequestIDHeader, id)
		next.ServeHTTP(w, r.WithContext(reqctx.With(r.Context(), &reqctx.Values{RequestID: id})))
	})
}
