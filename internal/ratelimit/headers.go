package ratelimit

import (
	"fmt"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"
)

// HeaderMode selects which rate-limit response header fields are sent.
type HeaderMode string

// Header modes (RATE_LIMIT_HEADERS).
const (
	// HeadersDraft sends the IETF draft fields (draft-ietf-httpapi-ratelimit-headers-10):
	//	RateLimit-Policy: "ip";q=10;w=60
	//	RateLimit: "ip";r=9;t=6
	HeadersDraft HeaderMode = "draft"
	// HeadersLegacy sends RateLimit-Limit, RateLimit-Remaining and
	// RateLimit-Reset (delta seconds), as Kong, Envoy and express-rate-limit do.
	HeadersLegacy HeaderMode = "legacy"
	// HeadersBoth sends both sets; the default.
	HeadersBoth HeaderMode = "both"
)

// ParseHeaderMode parses RATE_LIMIT_HEADERS; the empty string is HeadersBoth.
func ParseHeaderMode(s string) (HeaderMode, error) {
	switch m := HeaderMode(s); m {
	case "":
		return HeadersBoth, nil
	case HeadersDraft, HeadersLegacy, HeadersBoth:
		return m, nil
	}
	return "", fmt.Errorf("ratelimit: header mode %q is not one of draft, legacy, both", s)
}

func policyItem(name string, p Policy) string {
	if !p.Enabled() {
		return ""
	}
	b := strconv.AppendQuote(nil, name)
	b = append(b, ";q="...)
	b = strconv.AppendInt(b, int64(p.Limit), 10)
	b = append(b, ";w="...)
	b = strconv.AppendInt(b, ceilSeconds(p.Window), 10)
	return string(b)
}

// ceilSeconds rounds d up to whole seconds, so a client that waits that long
// is never early.
func ceilSeconds(d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	return int64((d + time.Second - 1) / time.Second)
}

// Canonical header keys, so the hot path writes the map directly instead of
// canonicalising (and, for "RateLimit-…", allocating) on every request.
var (
	keyPolicy     = http.CanonicalHeaderKey("RateLimit-Policy")
	keyRateLimit  = http.CanonicalHeaderKey("RateLimit")
	keyLimit      = http.CanonicalHeaderKey("RateLimit-Limit")
	keyRemaining  = http.CanonicalHeaderKey("RateLimit-Remaining")
	keyReset      = http.CanonicalHeaderKey("RateLimit-Reset")
	keyRetryAfter = http.CanonicalHeaderKey("Retry-After")
)

// smallValues[i] is the header value []string{"i"}. Header values are
// shared between responses, so they have len == cap: whoever appends to
// one (Header.Add) gets a fresh array. Nobody writes into one in place.
var smallValues = func() (v [256][]string) {
	for i := range v {
		v[i] = []string{strconv.Itoa(i)}
	}
	return v
}()

// intValue returns the header value for n: shared for small n.
func intValue(n int64) []string {
	if n >= 0 && n < int64(len(smallValues)) {
		return smallValues[n]
	}
	return []string{strconv.FormatInt(n, 10)}
}

// scopeHeaders holds the header values of one scope that do not change
// between requests, and the last RateLimit item rendered for it: under a
// flood every refusal within the same second carries the same item.
type scopeHeaders struct {
	policy []string // RateLimit-Policy value; nil when the scope's policy is off
	limit  int      // the policy's Limit, for which limitV is rendered
	limitV []string // RateLimit-Limit value
	quoted string   // the scope name, quoted for the draft items
	last   atomic.Pointer[rateLimitItem]
}

type rateLimitItem struct {
	remaining int
	reset     int64
	value     [1]string // the header value is value[:]
}

func (sh *scopeHeaders) init(name string, p Policy) {
	sh.quoted, sh.limit, sh.limitV = strconv.Quote(name), p.Limit, intValue(int64(p.Limit))
	if item := policyItem(name, p); item != "" {
		sh.policy = []string{item}
	}
}

// rateLimitValue returns the draft RateLimit item for remaining and reset,
// reusing the last one when it is the same.
func (sh *scopeHeaders) rateLimitValue(remaining int, reset int64) []string {
	if it := sh.last.Load(); it != nil && it.remaining == remaining && it.reset == reset {
		return it.value[:]
	}
	it := &rateLimitItem{remaining: remaining, reset: reset, value: [1]string{rateLimitItemString(sh.quoted, remaining, reset)}}
	sh.last.Store(it)
	return it.value[:]
}

func rateLimitItemString(quoted string, remaining int, reset int64) string {
	var buf [64]byte
	b := append(buf[:0], quoted...)
	b = append(b, ";r="...)
	b = strconv.AppendInt(b, int64(remaining), 10)
	b = append(b, ";t="...)
	b = strconv.AppendInt(b, reset, 10)
	return string(b)
}

// addValues is Header.Add of every value in v under the canonical key k.
func addValues(h http.Header, k string, v []string) {
	if old := h[k]; len(old) > 0 {
		h[k] = append(old[:len(old):len(old)], v...)
		return
	}
	h[k] = v
}

// SetHeaders writes the rate-limit fields for d into h: the draft
// RateLimit-Policy and RateLimit items (appended, so one call per scope
// yields one list item per scope) and/or the legacy RateLimit-Limit,
// RateLimit-Remaining and RateLimit-Reset (set, so the last call wins). The
// reset values are the whole seconds until the key is fully replenished,
// rounded up. On a denial it sets Retry-After: the whole seconds until the
// next request is admitted, rounded up, plus a jitter of 0..max(1, 10%)
// seconds so throttled clients do not return in lock-step; the jitter only
// ever adds, so Retry-After is never shorter than the true wait. Skipped and Shadowed
// decisions get no headers: clients must not adapt to limits that are not
// enforced.
//
// The values h receives may be shared with other responses: callers may
// replace or append to them, never write into them in place.
func (l *Limiter) SetHeaders(h http.Header, d Decision) {
	if d.Skipped || d.Shadowed || d.Limit <= 0 {
		return
	}
	var sh *scopeHeaders
	switch d.Scope {
	case ScopeIP:
		sh = &l.hdr[scopeIP]
	case ScopeUser:
		sh = &l.hdr[scopeUser]
	}
	reset := ceilSeconds(d.ResetAfter)
	if l.headers != HeadersLegacy {
		if sh != nil && sh.policy != nil {
			addValues(h, keyPolicy, sh.policy)
			addValues(h, keyRateLimit, sh.rateLimitValue(d.Remaining, reset))
		} else {
			name := d.Scope
			if name == "" {
				name = "default"
			}
			addValues(h, keyPolicy, []string{policyItem(name, Policy{Limit: d.Limit, Window: d.Window})})
			addValues(h, keyRateLimit, []string{rateLimitItemString(strconv.Quote(name), d.Remaining, reset)})
		}
	}
	if l.headers != HeadersDraft {
		if sh != nil && d.Limit == sh.limit {
			h[keyLimit] = sh.limitV
		} else {
			h[keyLimit] = intValue(int64(d.Limit))
		}
		h[keyRemaining] = intValue(int64(d.Remaining))
		h[keyReset] = intValue(reset)
	}
	if !d.Allowed {
		h[keyRetryAfter] = intValue(l.retryAfter(d))
	}
}

// RetryAfterSeconds returns the Retry-After value SetHeaders sends for a
// denial d (jittered; at least the true wait rounded up, and at least 1).
func (l *Limiter) RetryAfterSeconds(d Decision) int64 { return l.retryAfter(d) }

func (l *Limiter) retryAfter(d Decision) int64 {
	wait := ceilSeconds(d.RetryAfter)
	if wait < 1 {
		wait = 1
	}
	maxJitter := wait / 10
	if maxJitter < 1 {
		maxJitter = 1
	}
	r := l.rand()
	if r < 0 || r >= 1 {
		r = 0
	}
	j := int64(r * float64(maxJitter+1)) // 0..maxJitter inclusive
	return wait + j
}
