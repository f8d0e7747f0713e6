package ratelimit

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// DefaultRedisPrefix is the default key prefix (RATE_LIMIT_KEY_PREFIX).
const DefaultRedisPrefix = "rtgate:rl:"

// gcraScript is gcra() in Lua: one atomic round trip per decision. It reads
// the time from Redis (TIME), so instances with skewed clocks agree. ARGV[3],
// when present, overrides the time; only tests pass it (see export_test.go).
// All values are integer microseconds held exactly in Lua doubles; the TAT is
// stored with %.0f so it round-trips without exponent notation.
//
//	KEYS[1] key; ARGV[1] burst; ARGV[2] emission interval (µs); [ARGV[3] now (µs)]
//	returns {allowed 0|1, remaining, retry_after µs, reset_after µs}
var gcraScript = redis.NewScript(`
if redis.replicate_commands then redis.replicate_commands() end -- Redis < 5: TIME before a write
local key = KEYS[1]
local burst = tonumber(ARGV[1])
local interval = tonumber(ARGV[2])
local now
if ARGV[3] then
  now = tonumber(ARGV[3])
else
  local t = redis.call("TIME")
  now = tonumber(t[1]) * 1000000 + tonumber(t[2])
end
local tat = tonumber(redis.call("GET", key) or "")
if tat == nil or tat < now then
  tat = now
end
local new_tat = tat + interval
local diff = now - (new_tat - interval * burst)
if diff < 0 then
  return {0, 0, string.format("%.0f", -diff), string.format("%.0f", tat - now)}
end
local remaining = math.floor(diff / interval)
if remaining * interval > diff then
  remaining = remaining - 1
end
local reset = new_tat - now
redis.call("SET", key, string.format("%.0f", new_tat), "PX", math.ceil(reset / 1000))
return {1, remaining, "0", string.format("%.0f", reset)}
`)

// Redis is a Store shared by every instance that uses the same Redis,
// prefix and key secret. Each decision is one EVALSHA of a Lua script
// implementing the same GCRA as Memory, with Redis' own clock; keys expire
// (PEXPIRE) when they are fully replenished.
//
// Redis never holds a client address or a user id: a key "ip:192.0.2.1" is
// stored as <prefix>ip:<HMAC-SHA256 of the key, 32 hex digits>, keyed by
// the secret given with WithKeySecret (IP_HASH_SECRET, the key of the
// session records' address hash). The scope stays readable for operators.
// The stored name has no braces, so no Cluster hash tag: each key lands on
// its own slot, and a user id such as "{x}" cannot pin keys to one node.
type Redis struct {
	client redis.UniversalClient
	prefix string
	mac    hash.Hash        // HMAC of the key names; guarded by mu
	mu     sync.Mutex       // guards mac
	now    func() time.Time // test-only clock override; nil = Redis TIME
}

var _ Store = (*Redis)(nil)

// RedisOption configures NewRedis.
type RedisOption func(*redisOptions)

type redisOptions struct{ secret []byte }

// WithKeySecret keys the hash of the stored key names with secret. Every
// instance sharing the store must use the same one. Without it the hash is
// keyed with a fixed, public value: still no raw address in Redis, but one
// that could be recovered by hashing every IPv4 address.
func WithKeySecret(secret []byte) RedisOption {
	return func(o *redisOptions) { o.secret = secret }
}

// keyDomain separates the rate-limit keys' hash from other uses of the
// same secret (the session records' address hash).
const keyDomain = "rtgate rate-limit keys v1"

// NewRedis returns a Store on client with keys under prefix
// (DefaultRedisPrefix when empty).
func NewRedis(client redis.UniversalClient, prefix string, opts ...RedisOption) *Redis {
	if prefix == "" {
		prefix = DefaultRedisPrefix
	}
	var o redisOptions
	for _, opt := range opts {
		opt(&o)
	}
	sub := hmac.New(sha256.New, o.secret)
	sub.Write([]byte(keyDomain))
	return &Redis{client: client, prefix: prefix, mac: hmac.New(sha256.New, sub.Sum(nil))}
}

// storedKey is the name under which key lives in Redis: the prefix, the
// key's scope (the part before the first colon) and a keyed hash of the
// whole key.
func (r *Redis) storedKey(key string) string {
	scope, _, ok := strings.Cut(key, ":")
	if !ok || !isScope(scope) {
		scope = "k"
	}
	var sum [sha256.Size]byte
	r.mu.Lock()
	r.mac.Reset()
	r.mac.Write([]byte(key))
	r.mac.Sum(sum[:0])
	r.mu.Unlock()
	return r.prefix + scope + ":" + hex.EncodeToString(sum[:16])
}

func isScope(s string) bool {
	if s == "" || len(s) > 16 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 'a' || s[i] > 'z' {
			return false
		}
	}
	return true
}

// Allow implements Store.
func (r *Redis) Allow(ctx context.Context, key string, p Policy) (Decision, error) {
	if !p.Enabled() || p.Validate() != nil {
		return Decision{}, ErrInvalidPolicy
	}
	args := []any{p.burst(), emissionInterval(p)}
	if r.now != nil {
		args = append(args, r.now().UnixMicro())
	}
	res, err := gcraScript.Run(ctx, r.client, []string{r.storedKey(key)}, args...).Slice()
	if err != nil {
		return Decision{}, fmt.Errorf("redis rate limit: %w", err)
	}
	d, err := parseScriptResult(res)
	if err != nil {
		return Decision{}, fmt.Errorf("redis rate limit: %w", err)
	}
	d.Limit, d.Window = p.Limit, p.Window
	return d, nil
}

// Ping checks that Redis answers; for /readyz.
func (r *Redis) Ping(ctx context.Context) error { return r.client.Ping(ctx).Err() }

func parseScriptResult(res []any) (Decision, error) {
	if len(res) != 4 {
		return Decision{}, errors.New("unexpected script result")
	}
	allowed, ok1 := res[0].(int64)
	remaining, ok2 := res[1].(int64)
	retryS, ok3 := res[2].(string)
	resetS, ok4 := res[3].(string)
	if !ok1 || !ok2 || !ok3 || !ok4 {
		return Decision{}, errors.New("unexpected script result types")
	}
	retry, err := strconv.ParseInt(retryS, 10, 64)
	if err != nil {
		return Decision{}, err
	}
	reset, err := strconv.ParseInt(resetS, 10, 64)
	if err != nil {
		return Decision{}, err
	}
	return Decision{
		Allowed:    allowed == 1,
		Remaining:  int(remaining),
		RetryAfter: micros(retry),
		ResetAfter: micros(reset),
	}, nil
}
