package httpx

import (
	"net/http"
	"strconv"
	"sync/atomic"
)

// Response header values on the hot path are written straight into the
// header map under their canonical keys, and the value slices of fixed
// fields are made once and shared by every response: Header.Set would
// canonicalise the key (allocating for keys such as "X-XSS-Protection") and
// allocate a fresh []string{v} per field per response. A shared value has
// len == cap, so Header.Add or append on it copies; nothing in rtgate writes
// into a header value in place, and nothing may.

// field is one response header field with a fixed value.
type field struct {
	key   string   // canonical
	value []string // shared; len == cap == 1
}

func newField(key, value string) field {
	return field{key: http.CanonicalHeaderKey(key), value: []string{value}}
}

func (f field) set(h http.Header) { h[f.key] = f.value }

// add is Header.Add of f's value.
func (f field) add(h http.Header) {
	if old := h[f.key]; len(old) > 0 {
		h[f.key] = append(old[:len(old):len(old)], f.value...)
		return
	}
	h[f.key] = f.value
}

var (
	fieldJSON      = newField("Content-Type", "application/json; charset=utf-8")
	fieldNoStore   = newField("Cache-Control", "no-store")
	keyLength      = http.CanonicalHeaderKey("Content-Length")
	keyRetryAfter  = http.CanonicalHeaderKey("Retry-After")
	keyRequestID   = http.CanonicalHeaderKey(RequestIDHeader)
	keyOrigin      = http.CanonicalHeaderKey("Origin")
	keyRequestMeth = http.CanonicalHeaderKey("Access-Control-Request-Method")
)

// intValues is a small direct-mapped cache of decimal header values
// (Content-Length, Retry-After): a server sends the same few lengths over
// and over (one per kind of response), so the steady state allocates
// nothing, and the cache never holds more than len(intValues) entries.
var intValues [64]atomic.Pointer[intValue]

type intValue struct {
	n     int
	value []string
}

// intHeader returns the header value for n >= 0 (shared; see above).
func intHeader(n int) []string {
	slot := &intValues[uint(n)%uint(len(intValues))]
	if v := slot.Load(); v != nil && v.n == n {
		return v.value
	}
	v := &intValue{n: n, value: []string{strconv.Itoa(n)}}
	slot.Store(v)
	return v.value
}
