package ratelimit

import (
	"fmt"
	"net/http"
	"strconv"
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
	return fmt.Sprintf("%q;q=%d;w=%d", name, p.Limit, ceilSeconds(p.Window))
}

// ceilSeconds rounds d up to whole seconds, so a client that waits that long
// is never early.
func ceilSeconds(d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	return int64((d + time.Second - 1) / time.Second)
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
func (l *Limiter) SetHeaders(h http.Header, d Decision) {
	if d.Skipped || d.Shadowed || d.Limit <= 0 {
		return
	}
	name := d.Scope
	if name == "" {
		name = "default"
	}
	reset := ceilSeconds(d.ResetAfter)
	if l.headers != HeadersLegacy {
		pol := l.policyIP
		if d.Scope == ScopeUser {
			pol = l.policyUser
		}
		if pol == "" || (d.Scope != ScopeIP && d.Scope != ScopeUser) {
			pol = policyItem(name, Policy{Limit: d.Limit, Window: d.Window})
		}
		h.Add("RateLimit-Policy", pol)
		h.Add("RateLimit", strconv.Quote(name)+";r="+strconv.Itoa(d.Remaining)+";t="+strconv.FormatInt(reset, 10))
	}
	if l.headers != HeadersDraft {
		h.Set("RateLimit-Limit", strconv.Itoa(d.Limit))
		h.Set("RateLimit-Remaining", strconv.Itoa(d.Remaining))
		h.Set("RateLimit-Reset", strconv.FormatInt(reset, 10))
	}
	if !d.Allowed {
		h.Set("Retry-After", strconv.FormatInt(l.retryAfter(d), 10))
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
