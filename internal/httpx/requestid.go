package httpx

import (
	"context"
	"encoding/base32"
	"encoding/binary"
	"math/rand/v2"
	"net/http"

	"github.com/rtgate/rtgate/internal/reqctx"
)

type ctxKey struct{}

// state is the per-request record shared by the middlewares: one context
// value, filled in as the request moves down the chain, read by the access
// log on the way back up. It is allocated once per request, together with
// the context that carries it and the storage the other middlewares would
// otherwise allocate (the X-Request-ID value, the access log's writer).
//
// Its reqctx.Values part is what the domain packages read through reqctx:
// the context answers reqctx's key with a pointer to it.
type state struct {
	reqctx.Values
	idVal [1]string    // the X-Request-ID response value
	sw    statusWriter // the access log's writer, when AccessLog runs inside RequestIDs
}

// stateCtx is context.WithValue(parent, ctxKey{}, &s) in one allocation
// with s. Everything but the state is the parent's: Done, Err, Deadline and
// every other value (cancellation propagates through Value, as it does for
// the context package's own value contexts).
type stateCtx struct {
	context.Context
	s state
}

func (c *stateCtx) Value(key any) any {
	switch key {
	case ctxKey{}:
		return &c.s
	case reqctx.Key:
		return &c.s.Values
	}
	return c.Context.Value(key)
}

func (c *stateCtx) String() string { return "httpx.requestState" }

func getState(ctx context.Context) *state {
	if c, ok := ctx.(*stateCtx); ok { // the common case: nothing wrapped it since
		return &c.s
	}
	s, _ := ctx.Value(ctxKey{}).(*state)
	return s
}

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

// NewRequestID returns a fresh random request id: 26 characters of
// [0-9a-z] encoding 128 random bits. The bits come from math/rand/v2's
// global generator (ChaCha8, seeded by the runtime from the operating
// system, per thread): unique with overwhelming probability and
// unpredictable in practice, at a few nanoseconds and one allocation.
// A request id is not a secret (clients choose their own), so it needs no
// more than that.
func NewRequestID() string {
	var b [16]byte
	binary.LittleEndian.PutUint64(b[:8], rand.Uint64())
	binary.LittleEndian.PutUint64(b[8:], rand.Uint64())
	var out [26]byte
	ridEncoding.Encode(out[:], b[:])
	return string(out[:])
}

// RequestIDs keeps a valid incoming X-Request-ID or makes a new one, puts it
// in the context, and sets it on the response.
func RequestIDs(next http.Handler) http.Handler { return requestIDs{next} }

type requestIDs struct{ next http.Handler }

func (m requestIDs) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c := &stateCtx{Context: r.Context()}
	s := &c.s
	// Header.Get, and a second line makes the id invalid.
	if vals := r.Header[keyRequestID]; len(vals) == 1 && ValidRequestID(vals[0]) {
		s.RequestID = vals[0]
	} else {
		s.RequestID = NewRequestID()
	}
	s.idVal[0] = s.RequestID
	w.Header()[keyRequestID] = s.idVal[:]
	m.next.ServeHTTP(w, r.WithContext(c))
}
