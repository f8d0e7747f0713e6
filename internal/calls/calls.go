// Package calls is the registry of live proxied calls: the WebRTC calls
// (Realtime) and sessions (GPT-Live) whose SDP offer rtgate exchanged with
// the server key, and which it must therefore be able to end: when the owner
// hangs up, when an operator blocks the user, and at the call's deadline.
//
// # Model
//
// A Call is rtgate's record of one upstream call: its own id (the only one a
// browser sees), the upstream id, the owner (a user id, or for an anonymous
// caller the SHA-256 of a hang-up token), the admission it holds, its
// deadline, and the instance that owns its control (the future sideband).
// The record lives in a Store shared by every instance (Memory for one
// process, Redis for many), so any instance can look a call up, check its
// owner and hang it up by its upstream id.
//
// Ending a call is a claim, then a hang-up, then a removal. A claim is the
// exclusive right to end one call until a lease runs out: End claims the call
// it is asked to end; the sweeper (Registry.Run, on every instance) claims
// the calls whose deadline has passed (Store.ClaimDue). The claimer hangs up
// upstream and then removes the record; only the instance whose Remove
// returns the call reports it ended (OnEnded: the user's active slot is freed
// and the duration recorded), so that happens exactly once. If the hang-up
// fails, the claimer releases the call with a retry time (its deadline, or
// RetryDelay from now if that is later); the sweeper tries again then, and
// gives up GiveUp after the deadline (the upstream ends every call by itself
// within 60 minutes). Meanwhile the call stays tracked: its owner can look it
// up and hang up again at once. If the claimer dies between claim and
// removal, its lease runs out, the call is due again, and another instance's
// sweeper ends it, with the reason the first claim gave. Sweeps run every
// SweepEvery (a second), so a call ends at most about that late.
//
// Control (the sideband WebSocket, sideband.go) belongs to one instance:
// Call.Instance. Each instance heartbeats its liveness into the store
// (Store.Heartbeat, once per sweep). When an instance's liveness lapses (it
// was killed, or left with Registry.Leave), the first other instance to
// sweep adopts its calls (Store.Adopt, a compare-and-set: exactly one
// adopter) and hands them to the OnAdopt hook, where its Controller
// re-attaches the sideband. A restarted instance has a new id, so its old
// calls are adopted like any dead instance's; it still finds them all by id.
//
// # Sideband control
//
// A Controller (sideband.go) holds one sideband per call its instance owns:
// it holds the call's session to the server's (policy.go: revert or hang
// up), ends the call in the registry as soon as the upstream ends it
// (Registry.Ended, without a hang-up), applies the idle timeout, and meters
// usage (events.go) into the call's record (Store.AddUsage, cumulative
// across instances) and a UsageSink (the per-user records, budgets). Its
// interfaces are the consumer's: Dialer (per kind), ServerSessions,
// UsageSink, ControlMetrics.
//
// Times come from the caller: a Registry reads its injected Clock and passes
// now to the store. Instances are assumed NTP-synchronised; a skew of s
// seconds ends a call s seconds early or late and shifts a lease by as much,
// which leases and liveness periods of tens of seconds absorb.
//
// # Figures
//
// go test -run '^$' -bench . -benchtime 2s ./internal/calls/ on the 2-core
// development machine, Redis 7.0 on loopback, 10,000 calls tracked. The
// machine was shared (load average 15 during the runs), so these are
// ranges over runs, not limits:
//
//	MemoryAddRemove    2-8 µs/op      one Add and one Remove
//	MemoryClaimDue     12-27 µs/op    claim 16 due calls
//	MemoryIdleSweep    2.5-4 µs/op    Sweep with nothing due or orphaned
//	RedisAddRemove     90-230 µs/op   two script round trips
//	RedisClaimDue      260-580 µs/op  claim 16 due calls, one script
//	                                  (~140 µs of it in Redis: SLOWLOG)
//	RedisIdleSweep     70-300 µs/op   heartbeat, adopt, claim: three
//	                                  round trips
//
// An idle instance therefore costs Redis three cheap scripts per
// SweepEvery (one second by default).
package calls

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"regexp"
	"time"

	"github.com/rtgate/rtgate/internal/usage"
)

// Kind is the upstream API of a call.
type Kind string

// Kinds of call.
const (
	// KindRealtime is a Realtime API WebRTC call (POST /v1/realtime/calls).
	KindRealtime Kind = "realtime"
	// KindLive is a GPT-Live session (POST /v1/live/sessions).
	KindLive Kind = "live"
)

// Call is rtgate's record of one live proxied call. It is server-side state:
// UpstreamID and TokenHash must never reach a client.
type Call struct {
	// ID is rtgate's id: "call_" and 22 base64url characters.
	ID string `json:"id"`
	// Kind is the upstream API the call was made on.
	Kind Kind `json:"kind"`
	// UpstreamID is OpenAI's id of the call or session.
	UpstreamID string `json:"upstream_id"`
	// User is the owner's user id; "" for an anonymous caller.
	User string `json:"user,omitempty"`
	// TokenHash is, for an anonymous call, the hex SHA-256 of its hang-up
	// token; "" otherwise.
	TokenHash string `json:"token_hash,omitempty"`
	// Reservation is the owner's admission handle, opaque here: the
	// active slot it names is freed when the call ends (OnEnded).
	Reservation string `json:"reservation,omitempty"`
	// Model is the upstream model.
	Model string `json:"model,omitempty"`
	// CreatedAt is when the call was set up.
	CreatedAt time.Time `json:"created_at"`
	// Deadline is when rtgate hangs the call up at the latest.
	Deadline time.Time `json:"deadline"`
	// Instance is the id of the instance that owns the call's control (its
	// sideband).
	Instance string `json:"instance"`
	// Usage is what the call consumed upstream so far, as its sideband
	// reported it (Store.AddUsage): cumulative over every instance that
	// controlled it.
	Usage usage.Usage `json:"usage,omitzero"`
}

// OwnedBy reports whether the caller owns c: for a user's call, the same
// user; for an anonymous call, an anonymous caller (user "") holding its
// token, compared in constant time. An authenticated user never owns an
// anonymous call, whatever token they show.
func (c Call) OwnedBy(user, token string) bool {
	if c.User != "" {
		return user == c.User
	}
	if user != "" || token == "" || c.TokenHash == "" {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(HashToken(token)), []byte(c.TokenHash)) == 1
}

// HashToken returns the hex SHA-256 of an anonymous call's hang-up token, as
// kept in Call.TokenHash.
func HashToken(token string) string {
	h := sha256.Sum256([]byte(token))
	return hex.EncodeToString(h[:])
}

var idPattern = regexp.MustCompile(`^call_[A-Za-z0-9_-]{22}$`)

// ValidID reports whether id has the shape of a call id ("call_" and 22
// base64url characters). Anything else cannot be a call and need not be
// looked up.
func ValidID(id string) bool { return idPattern.MatchString(id) }

// Claimed is a call a Store handed to a claimer, with the reason the last
// claim on it gave ("" when it was never claimed before: the claimer takes
// it because its deadline passed).
type Claimed struct {
	Call
	Reason string
}

// Store holds the calls of every instance that shares it. Every method is
// atomic with respect to the others, across all instances sharing the
// store. Times are the caller's (stores never read a clock) and are
// compared at millisecond precision.
//
// Identifiers the store keeps in its own structures are checked: an
// instance id is 1-64 characters of [A-Za-z0-9._-]; a claim holder is 1-128
// characters of [A-Za-z0-9._:-] (and not "-"); a reason is 1-64 characters
// of [a-z0-9_]. Anything else is ErrInvalid.
type Store interface {
	// Add keeps c, due for ending at c.Deadline and owned by c.Instance.
	// An id already kept is ErrExists. If c.Instance never heartbeated,
	// it counts as lapsed, so its calls can be adopted.
	Add(ctx context.Context, c Call, now time.Time) error
	// Get returns the call id, or ErrNotFound.
	Get(ctx context.Context, id string) (Call, error)
	// Remove deletes the call id and returns it. Of any number of
	// concurrent Removes of one call, exactly one gets it; the others get
	// ErrNotFound.
	Remove(ctx context.Context, id string) (Call, error)
	// ByUser returns user's calls, in no particular order. Anonymous
	// calls belong to no user: ByUser("") is always empty.
	ByUser(ctx context.Context, user string) ([]Call, error)
	// Count returns the number of calls kept.
	Count(ctx context.Context) (int, error)
	// Claim gives holder the right to end the call id until until, and
	// records reason. It is ErrNotFound when the call is not kept and
	// ErrClaimed while another claim on it has not lapsed (a claim lapses
	// at its until). A claimed call is not due before until.
	Claim(ctx context.Context, id, holder, reason string, now, until time.Time) (Call, error)
	// ClaimDue claims for holder until until at most max calls that are
	// due at now, earliest first: those whose deadline has passed (a
	// deadline at now is passed) and whose last claim lapsed, or whose
	// retry time a Release set has come. Each due call goes to exactly one
	// of any number of concurrent ClaimDues. until must be after now.
	ClaimDue(ctx context.Context, holder string, now, until time.Time, max int) ([]Claimed, error)
	// Release gives back holder's claim on the call id after a failed
	// hang-up: the call stays kept, with its reason, and is due again at
	// retryAt; a Claim may take it before then. It is ErrNotFound when the
	// call is gone and ErrClaimed when holder's claim is no longer the
	// call's last one (it lapsed and another holder claimed the call).
	Release(ctx context.Context, id, holder string, retryAt, now time.Time) error
	// Heartbeat records that instance is alive until until. An instance
	// whose until has come (until <= now) is lapsed.
	Heartbeat(ctx context.Context, instance string, until, now time.Time) error
	// AddUsage adds delta to the usage of the call id and returns the call
	// as it is now. It is ErrNotFound when the call is not kept. Concurrent
	// AddUsages of one call all count.
	AddUsage(ctx context.Context, id string, delta usage.Usage) (Call, error)
	// Adopt makes instance the owner of at most max calls whose owner is
	// another, lapsed instance, and returns them with Instance set. Each
	// such call goes to exactly one of any number of concurrent Adopts.
	// A lapsed instance left with no calls is forgotten; an adopter that
	// never heartbeated counts as lapsed, like an Add's instance.
	Adopt(ctx context.Context, instance string, now time.Time, max int) ([]Call, error)
}

// Errors of a Store and the Registry.
var (
	// ErrNotFound is a call that is not (or no longer) kept.
	ErrNotFound = errors.New("calls: no such call")
	// ErrExists is an Add of an id already kept.
	ErrExists = errors.New("calls: call id already exists")
	// ErrClaimed is a call someone else holds a claim on.
	ErrClaimed = errors.New("calls: call claimed by another holder")
	// ErrInvalid is an argument a store cannot keep (see Store).
	ErrInvalid = errors.New("calls: invalid argument")
)

// Linger is how long past its deadline (or its last claim or retry time, if
// later) a store keeps a call that nobody removes: the Redis keys' TTL. A
// Registry removes every call by GiveUp after its deadline while any
// instance runs, so Linger only matters when none does.
const Linger = 30 * time.Minute

var (
	instancePattern = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)
	holderPattern   = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,128}$`)
	reasonPattern   = regexp.MustCompile(`^[a-z0-9_]{1,64}$`)
)

// ValidInstance reports whether id can name an instance (1-64 characters of
// [A-Za-z0-9._-]).
func ValidInstance(id string) bool { return instancePattern.MatchString(id) }

func validHolder(h string) bool { return h != "-" && holderPattern.MatchString(h) }

func checkAdd(c Call) error {
	switch {
	case c.ID == "" || len(c.ID) > 256:
		return errors.Join(ErrInvalid, errors.New("call id empty or longer than 256 bytes"))
	case !ValidInstance(c.Instance):
		return errors.Join(ErrInvalid, errors.New("call instance"))
	case c.Deadline.IsZero():
		return errors.Join(ErrInvalid, errors.New("call without a deadline"))
	}
	return nil
}

func checkHolder(holder string) error {
	if !validHolder(holder) {
		return errors.Join(ErrInvalid, errors.New("claim holder"))
	}
	return nil
}

func checkClaim(holder, reason string, now, until time.Time) error {
	switch {
	case !validHolder(holder):
		return checkHolder(holder)
	case reason != "" && !reasonPattern.MatchString(reason):
		return errors.Join(ErrInvalid, errors.New("reason"))
	case !until.After(now):
		return errors.Join(ErrInvalid, errors.New("claim until not after now"))
	}
	return nil
}

func checkMax(max int) error {
	if max <= 0 {
		return errors.Join(ErrInvalid, errors.New("max must be positive"))
	}
	return nil
}

func checkInstance(instance string) error {
	if !ValidInstance(instance) {
		return errors.Join(ErrInvalid, errors.New("instance"))
	}
	return nil
}
