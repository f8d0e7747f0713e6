// Package ratelimit decides whether a client may make one more request. It
// implements GCRA (the generic cell rate algorithm) over a pluggable store, so
// that the memory store and the Redis store give the same answers.
//
// # Why GCRA
//
// "Limit requests per Window" is enforced as a burst of Burst requests
// (Limit unless set lower) that refills continuously at one request every
// Window/Limit (the emission interval). So Limit per Window is the average
// rate, and the guarantee in any interval of length Window is Burst +
// (requests refilled during it) - at worst Burst+Limit-1: 2×Limit-1 with the
// default burst, exactly Limit with a burst of 1. Unlike a fixed window, the
// worst case does not come from a window boundary but from a full burst
// followed by one request per interval, and it is the same everywhere. GCRA needs one number per key (the
// theoretical arrival time, TAT) instead of a log of timestamps, so a decision
// is O(1) in memory and one small atomic Lua script in Redis. The formula is
// the one go-redis/redis_rate uses.
//
// # Arithmetic
//
// All arithmetic is done on whole microseconds in int64. Redis' TIME has
// microsecond resolution and Lua numbers are doubles, which represent every
// integer below 2^53 exactly (Unix time in µs is about 2^50.6), so the memory
// store and the Lua script compute bit-for-bit the same results. The emission
// interval is Window/Limit rounded down to a whole microsecond; for a window
// that does not divide evenly this refills at most one microsecond per request
// faster than the exact rate, which is not observable through second-granular
// headers.
package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Policy is "Limit requests per Window" on average, with bursts of at most
// Burst. A zero Limit disables the policy.
type Policy struct {
	Limit  int
	Window time.Duration
	// Burst is how many requests a fresh key may make at once (1..Limit);
	// 0 means Limit. In any window at most Burst+Limit-1 are admitted.
	Burst int
}

// burst is p's effective burst.
func (p Policy) burst() int {
	if p.Burst == 0 {
		return p.Limit
	}
	return p.Burst
}

// Enabled reports whether p limits anything (Limit > 0).
func (p Policy) Enabled() bool { return p.Limit > 0 }

// Validate reports whether p is usable: a positive Limit and a Window of at
// least one microsecond per request. A disabled (zero) policy is valid.
func (p Policy) Validate() error {
	if p.Limit == 0 && p.Window == 0 {
		return nil
	}
	if p.Limit < 0 {
		return fmt.Errorf("ratelimit: limit %d is negative", p.Limit)
	}
	if p.Limit == 0 {
		return nil
	}
	if p.Window.Microseconds() < int64(p.Limit) {
		return fmt.Errorf("ratelimit: window %v is too short for %d requests (need at least 1µs per request)", p.Window, p.Limit)
	}
	if p.Burst < 0 || p.Burst > p.Limit {
		return fmt.Errorf("ratelimit: burst %d is not between 1 and the limit %d", p.Burst, p.Limit)
	}
	return nil
}

// ErrInvalidPolicy is returned by a Store when asked to decide under a
// disabled or invalid Policy; callers must check Policy.Enabled first.
var ErrInvalidPolicy = errors.New("ratelimit: invalid policy")

// Decision is the outcome of one rate-limit check.
type Decision struct {
	// Allowed reports whether the request may proceed. In shadow mode it is
	// true even when the limit was exceeded; see Shadowed.
	Allowed bool
	// Limit is the policy's requests per window (its average rate; the
	// burst is Remaining+1 on a fresh key).
	Limit int
	// Window is the policy's window.
	Window time.Duration
	// Remaining is how many more requests would be admitted right now.
	Remaining int
	// ResetAfter is the time until the key is fully replenished.
	ResetAfter time.Duration
	// RetryAfter is the time until the next request would be admitted;
	// zero when Allowed.
	RetryAfter time.Duration
	// Skipped is true when no limit applied (whitelisted client, disabled
	// policy, or a store that is down under the "open" failure policy).
	Skipped bool
	// Shadowed is true when the limit was exceeded but shadow mode let the
	// request through (Allowed is then true, RetryAfter says what would have
	// been sent).
	Shadowed bool
	// Scope names the limit that produced the decision ("ip" or "user"); it
	// is also the policy name in the draft RateLimit headers.
	Scope string
}

// Store answers one GCRA decision for key under p, atomically. The stored
// state is only the key's TAT, so an entry whose TAT is not after now is
// equivalent to no entry at all, whatever the policy.
type Store interface {
	Allow(ctx context.Context, key string, p Policy) (Decision, error)
}

// emissionInterval is Window/Limit in whole microseconds (at least 1).
func emissionInterval(p Policy) int64 {
	i := p.Window.Microseconds() / int64(p.Limit)
	if i < 1 {
		i = 1
	}
	return i
}

// gcra is the pure decision function shared (in Go) by the memory store and
// (in Lua) by the Redis store. now and tat are Unix microseconds; tat is zero
// (or any value not after now) for a key without state. It returns the TAT to
// store, which is only meaningful when d.Allowed; a denial never changes the
// state.
func gcra(now, tat int64, p Policy) (newTAT int64, d Decision) {
	newTAT = gcraAt(now, tat, p, emissionInterval(p), &d)
	return newTAT, d
}

// gcraAt is gcra with the emission interval of p already computed, so a
// caller that decides many times under one policy divides once, writing
// the decision into *d.
func gcraAt(now, tat int64, p Policy, interval int64, d *Decision) (newTAT int64) {
	burstOffset := interval * int64(p.burst())
	if tat < now {
		tat = now
	}
	newTAT = tat + interval
	allowAt := newTAT - burstOffset
	diff := now - allowAt
	*d = Decision{Limit: p.Limit, Window: p.Window}
	if diff < 0 {
		d.RetryAfter = micros(-diff)
		d.ResetAfter = micros(tat - now)
		return tat
	}
	d.Allowed = true
	d.Remaining = int(diff / interval)
	d.ResetAfter = micros(newTAT - now)
	return newTAT
}

func micros(us int64) time.Duration { return time.Duration(us) * time.Microsecond }
