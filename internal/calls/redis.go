package calls

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/rtgate/rtgate/internal/usage"
)

// Redis is the Store shared by every instance that points at the same
// Redis. Each operation is one Lua script (or one command), so it is atomic
// across instances. The registry is five keys under one hash tag, so every
// script works on Redis Cluster (the whole registry lives in one slot, which
// a few hundred thousand small entries at most do not outgrow):
//
//	<prefix>{calls}:rec    HASH  call id -> record (see below)
//	<prefix>{calls}:due    ZSET  call id -> when due for ending (ms): the
//	                             deadline, a claim's until, or a retry time
//	<prefix>{calls}:user   ZSET  "<user hash>:<call id>", score 0, read by
//	                             lexical range: the users' calls
//	<prefix>{calls}:owner  ZSET  "<instance>:<call id>", score 0: the
//	                             instances' calls
//	<prefix>{calls}:alive  ZSET  instance -> alive until (ms)
//
// User ids appear in no key name and no index: the user index holds the
// first 16 bytes of their SHA-256 (hex). A record is the call's mutable
// state, then its JSON:
//
//	<owner instance> <claim until ms> <holder|-> <reason|-> <user hash|-> <call JSON>
//
// so the scripts change the owner and the claim without decoding JSON.
//
// Every write sets each key's TTL to at least Linger past the latest
// deadline, claim or retry time it holds (never shortening it), so nothing
// outlives its calls by more than Linger when no instance is left to remove
// them. TTLs are relative to the caller's now; the scripts never read Redis
// TIME because every decision compares times the instances supply (the
// memory store decides the same way, and the contract suite drives time
// itself), and one clock for the leases is no better than NTP across the
// instances that hold them.
type Redis struct {
	c    redis.UniversalClient
	keys []string // rec, due, user, owner, alive
}

var _ Store = (*Redis)(nil)

// NewRedis returns a store on client with its keys under prefix (for
// example REDIS_KEY_PREFIX + "c:", "rtgate:c:").
func NewRedis(client redis.UniversalClient, prefix string) *Redis {
	base := prefix + "{calls}:"
	return &Redis{c: client, keys: []string{base + "rec", base + "due", base + "user", base + "owner", base + "alive"}}
}

// luaPrelude is shared by every script: KEYS are always rec, due, user,
// owner, alive.
const luaPrelude = `
local function parse(v)
  local owner, claim, holder, reason, uh, body = string.match(v, '^(%S+) (%d+) (%S+) (%S+) (%S+) (.*)$')
  return {owner = owner, claim = claim, holder = holder, reason = reason, uh = uh, body = body}
end
local function format(r)
  return r.owner .. ' ' .. r.claim .. ' ' .. r.holder .. ' ' .. r.reason .. ' ' .. r.uh .. ' ' .. r.body
end
local function keep(key, ms)
  local t = redis.call('PTTL', key)
  if t == -1 or (t >= 0 and t < ms) then redis.call('PEXPIRE', key, ms) end
end
local function keepAll(ms)
  for i = 1, #KEYS do keep(KEYS[i], ms) end
end
`

func script(body string) *redis.Script { return redis.NewScript(luaPrelude + body) }

// ARGV: id, record, due ms, user member or "", owner member, instance, keep ms.
var addScript = script(`
if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2]) == 0 then return 0 end
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
if ARGV[4] ~= '' then redis.call('ZADD', KEYS[3], 0, ARGV[4]) end
redis.call('ZADD', KEYS[4], 0, ARGV[5])
redis.call('ZADD', KEYS[5], 'NX', 0, ARGV[6])
keepAll(tonumber(ARGV[7]))
return 1
`)

// ARGV: id.
var removeScript = script(`
local v = redis.call('HGET', KEYS[1], ARGV[1])
if not v then return false end
local r = parse(v)
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
if r.uh ~= '-' then redis.call('ZREM', KEYS[3], r.uh .. ':' .. ARGV[1]) end
redis.call('ZREM', KEYS[4], r.owner .. ':' .. ARGV[1])
return v
`)

// ARGV: id, then counter name and increment pairs. The call JSON is decoded
// and encoded again with Redis's cjson (counters stay far below the 10^14
// its number format keeps exactly).
var addUsageScript = script(`
local v = redis.call('HGET', KEYS[1], ARGV[1])
if not v then return false end
local r = parse(v)
local c = cjson.decode(r.body)
local u = c.usage
if type(u) ~= 'table' then u = {} end
for i = 2, #ARGV, 2 do
  u[ARGV[i]] = (tonumber(u[ARGV[i]]) or 0) + tonumber(ARGV[i + 1])
end
c.usage = u
r.body = cjson.encode(c)
v = format(r)
redis.call('HSET', KEYS[1], ARGV[1], v)
return v
`)

// ARGV: user hash.
var byUserScript = script(`
local lo, hi = '[' .. ARGV[1] .. ':', '[' .. ARGV[1] .. ':\255'
local out = {}
for _, m in ipairs(redis.call('ZRANGEBYLEX', KEYS[3], lo, hi)) do
  local v = redis.call('HGET', KEYS[1], string.sub(m, #ARGV[1] + 2))
  if v then out[#out + 1] = v else redis.call('ZREM', KEYS[3], m) end
end
return out
`)

// ARGV: id, now, holder, until, reason, keep ms. Reply {0} not found,
// {1} claimed, {2, record} claimed for holder.
var claimScript = script(`
local v = redis.call('HGET', KEYS[1], ARGV[1])
if not v then return {0} end
local r = parse(v)
if tonumber(r.claim) > tonumber(ARGV[2]) then return {1} end
r.claim, r.holder, r.reason = ARGV[4], ARGV[3], ARGV[5]
v = format(r)
redis.call('HSET', KEYS[1], ARGV[1], v)
redis.call('ZADD', KEYS[2], ARGV[4], ARGV[1])
keepAll(tonumber(ARGV[6]))
return {2, v}
`)

// ARGV: now, holder, until, max, keep ms. A due call's last claim has
// lapsed: its due time is at least its claim's until.
var claimDueScript = script(`
local out = {}
for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[4]))) do
  local v = redis.call('HGET', KEYS[1], id)
  if v then
    local r = parse(v)
    r.claim, r.holder = ARGV[3], ARGV[2]
    v = format(r)
    redis.call('HSET', KEYS[1], id, v)
    redis.call('ZADD', KEYS[2], ARGV[3], id)
    out[#out + 1] = v
  else
    redis.call('ZREM', KEYS[2], id)
  end
end
if #out > 0 then keepAll(tonumber(ARGV[5])) end
return out
`)

// ARGV: id, holder, retry at, keep ms. Reply 0 not found, 1 not the
// holder, 2 released.
var releaseScript = script(`
local v = redis.call('HGET', KEYS[1], ARGV[1])
if not v then return 0 end
local r = parse(v)
if r.holder ~= ARGV[2] then return 1 end
r.claim, r.holder = '0', '-'
redis.call('HSET', KEYS[1], ARGV[1], format(r))
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
keepAll(tonumber(ARGV[4]))
return 2
`)

// ARGV: instance, until, keep ms.
var heartbeatScript = script(`
redis.call('ZADD', KEYS[5], ARGV[2], ARGV[1])
keep(KEYS[5], tonumber(ARGV[3]))
return 1
`)

// ARGV: now, instance, max, keep ms.
var adoptScript = script(`
local max = tonumber(ARGV[3])
local out = {}
for _, dead in ipairs(redis.call('ZRANGEBYSCORE', KEYS[5], '-inf', ARGV[1])) do
  if dead ~= ARGV[2] then
    local lo, hi = '[' .. dead .. ':', '[' .. dead .. ':\255'
    if #out < max then
      for _, m in ipairs(redis.call('ZRANGEBYLEX', KEYS[4], lo, hi, 'LIMIT', 0, max - #out)) do
        local id = string.sub(m, #dead + 2)
        redis.call('ZREM', KEYS[4], m)
        local v = redis.call('HGET', KEYS[1], id)
        if v then
          local r = parse(v)
          r.owner = ARGV[2]
          v = format(r)
          redis.call('HSET', KEYS[1], id, v)
          redis.call('ZADD', KEYS[4], 0, ARGV[2] .. ':' .. id)
          out[#out + 1] = v
        end
      end
    end
    if #redis.call('ZRANGEBYLEX', KEYS[4], lo, hi, 'LIMIT', 0, 1) == 0 then
      redis.call('ZREM', KEYS[5], dead)
    end
    if #out >= max then break end
  end
end
if #out > 0 then
  redis.call('ZADD', KEYS[5], 'NX', 0, ARGV[2])
  keep(KEYS[4], tonumber(ARGV[4]))
  keep(KEYS[5], tonumber(ARGV[4]))
end
return out
`)

// userHash names user in the user index.
func userHash(user string) string {
	h := sha256.Sum256([]byte(user))
	return hex.EncodeToString(h[:16])
}

// keepMS is the TTL that keeps a key until Linger past at, from now.
func keepMS(at, now time.Time) int64 {
	return max(at.Add(Linger).Sub(now), time.Second).Milliseconds()
}

// record is a call's stored state.
type record struct {
	Call
	claimUntil int64 // ms
	holder     string
	reason     string
}

func encode(c Call) (string, error) {
	owner := c.Instance
	c.Instance = "" // kept in the header, where the scripts change it
	b, err := json.Marshal(c)
	if err != nil {
		return "", err
	}
	uh := "-"
	if c.User != "" {
		uh = userHash(c.User)
	}
	return owner + " 0 - - " + uh + " " + string(b), nil
}

func decode(v string) (record, error) {
	f := strings.SplitN(v, " ", 6)
	if len(f) != 6 {
		return record{}, errors.New("calls: malformed record")
	}
	var r record
	if err := json.Unmarshal([]byte(f[5]), &r.Call); err != nil {
		return record{}, fmt.Errorf("calls: malformed record: %w", err)
	}
	n, err := strconv.ParseInt(f[1], 10, 64)
	if err != nil {
		return record{}, fmt.Errorf("calls: malformed record: %w", err)
	}
	r.Instance, r.claimUntil = f[0], n
	if f[2] != "-" {
		r.holder = f[2]
	}
	if f[3] != "-" {
		r.reason = f[3]
	}
	return r, nil
}

func decodeAll(vs []string) ([]Call, error) {
	out := make([]Call, 0, len(vs))
	for _, v := range vs {
		r, err := decode(v)
		if err != nil {
			return nil, err
		}
		out = append(out, r.Call)
	}
	return out, nil
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// Add implements Store.
func (r *Redis) Add(ctx context.Context, c Call, now time.Time) error {
	if err := checkAdd(c); err != nil {
		return err
	}
	v, err := encode(c)
	if err != nil {
		return err
	}
	userMember := ""
	if c.User != "" {
		userMember = userHash(c.User) + ":" + c.ID
	}
	n, err := addScript.Run(ctx, r.c, r.keys, c.ID, v, c.Deadline.UnixMilli(), userMember,
		c.Instance+":"+c.ID, c.Instance, keepMS(c.Deadline, now)).Int()
	if err != nil {
		return fmt.Errorf("calls: add: %w", err)
	}
	if n == 0 {
		return ErrExists
	}
	return nil
}

// Get implements Store.
func (r *Redis) Get(ctx context.Context, id string) (Call, error) {
	v, err := r.c.HGet(ctx, r.keys[0], id).Result()
	if errors.Is(err, redis.Nil) {
		return Call{}, ErrNotFound
	}
	if err != nil {
		return Call{}, fmt.Errorf("calls: get: %w", err)
	}
	rec, err := decode(v)
	return rec.Call, err
}

// Remove implements Store.
func (r *Redis) Remove(ctx context.Context, id string) (Call, error) {
	v, err := removeScript.Run(ctx, r.c, r.keys, id).Text()
	if errors.Is(err, redis.Nil) {
		return Call{}, ErrNotFound
	}
	if err != nil {
		return Call{}, fmt.Errorf("calls: remove: %w", err)
	}
	rec, err := decode(v)
	return rec.Call, err
}

// AddUsage implements Store.
func (r *Redis) AddUsage(ctx context.Context, id string, delta usage.Usage) (Call, error) {
	args := []any{id}
	for _, f := range delta.Fields() {
		if f.Value != 0 {
			args = append(args, f.Name, f.Value)
		}
	}
	if len(args) == 1 {
		return r.Get(ctx, id)
	}
	v, err := addUsageScript.Run(ctx, r.c, r.keys, args...).Text()
	if errors.Is(err, redis.Nil) {
		return Call{}, ErrNotFound
	}
	if err != nil {
		return Call{}, fmt.Errorf("calls: add usage: %w", err)
	}
	rec, err := decode(v)
	return rec.Call, err
}

// ByUser implements Store.
func (r *Redis) ByUser(ctx context.Context, user string) ([]Call, error) {
	if user == "" {
		return nil, nil
	}
	vs, err := byUserScript.Run(ctx, r.c, r.keys, userHash(user)).StringSlice()
	if err != nil {
		return nil, fmt.Errorf("calls: by user: %w", err)
	}
	return decodeAll(vs)
}

// Count implements Store.
func (r *Redis) Count(ctx context.Context) (int, error) {
	n, err := r.c.HLen(ctx, r.keys[0]).Result()
	if err != nil {
		return 0, fmt.Errorf("calls: count: %w", err)
	}
	return int(n), nil
}

// Claim implements Store.
func (r *Redis) Claim(ctx context.Context, id, holder, reason string, now, until time.Time) (Call, error) {
	if err := checkClaim(holder, reason, now, until); err != nil {
		return Call{}, err
	}
	reply, err := claimScript.Run(ctx, r.c, r.keys, id, now.UnixMilli(), holder, until.UnixMilli(), orDash(reason), keepMS(until, now)).Slice()
	if err != nil {
		return Call{}, fmt.Errorf("calls: claim: %w", err)
	}
	var code int64
	if len(reply) > 0 {
		code, _ = reply[0].(int64)
	}
	switch {
	case code == 0 && len(reply) == 1:
		return Call{}, ErrNotFound
	case code == 1 && len(reply) == 1:
		return Call{}, ErrClaimed
	case code == 2 && len(reply) == 2:
		if v, ok := reply[1].(string); ok {
			rec, err := decode(v)
			return rec.Call, err
		}
	}
	return Call{}, fmt.Errorf("calls: claim: unexpected reply %v", reply)
}

// ClaimDue implements Store.
func (r *Redis) ClaimDue(ctx context.Context, holder string, now, until time.Time, max int) ([]Claimed, error) {
	if err := checkClaim(holder, "", now, until); err != nil {
		return nil, err
	}
	if err := checkMax(max); err != nil {
		return nil, err
	}
	vs, err := claimDueScript.Run(ctx, r.c, r.keys, now.UnixMilli(), holder, until.UnixMilli(), max, keepMS(until, now)).StringSlice()
	if err != nil {
		return nil, fmt.Errorf("calls: claim due: %w", err)
	}
	out := make([]Claimed, 0, len(vs))
	for _, v := range vs {
		rec, err := decode(v)
		if err != nil {
			return nil, err
		}
		out = append(out, Claimed{Call: rec.Call, Reason: rec.reason})
	}
	return out, nil
}

// Release implements Store.
func (r *Redis) Release(ctx context.Context, id, holder string, retryAt, now time.Time) error {
	if err := checkHolder(holder); err != nil {
		return err
	}
	n, err := releaseScript.Run(ctx, r.c, r.keys, id, holder, retryAt.UnixMilli(), keepMS(retryAt, now)).Int()
	if err != nil {
		return fmt.Errorf("calls: release: %w", err)
	}
	switch n {
	case 0:
		return ErrNotFound
	case 1:
		return ErrClaimed
	}
	return nil
}

// Heartbeat implements Store.
func (r *Redis) Heartbeat(ctx context.Context, instance string, until, now time.Time) error {
	if err := checkInstance(instance); err != nil {
		return err
	}
	if err := heartbeatScript.Run(ctx, r.c, r.keys, instance, until.UnixMilli(), keepMS(until, now)).Err(); err != nil {
		return fmt.Errorf("calls: heartbeat: %w", err)
	}
	return nil
}

// Adopt implements Store.
func (r *Redis) Adopt(ctx context.Context, instance string, now time.Time, max int) ([]Call, error) {
	if err := checkInstance(instance); err != nil {
		return nil, err
	}
	if err := checkMax(max); err != nil {
		return nil, err
	}
	vs, err := adoptScript.Run(ctx, r.c, r.keys, now.UnixMilli(), instance, max, keepMS(now, now)).StringSlice()
	if err != nil {
		return nil, fmt.Errorf("calls: adopt: %w", err)
	}
	return decodeAll(vs)
}
