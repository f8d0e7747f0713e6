package users

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/rtgate/rtgate/internal/usage"
)

// Redis is the Store shared by every instance that points at the same
// Redis: admission is one Lua script (check block, quota and cap, then
// reserve), so two instances can never both take the last slot. A user's
// keys share one hash tag, so scripts work on Redis Cluster too; the tag is a
// hash of the user id, so ids never appear in key names:
//
//	<prefix>s:{<hash>}:a          ZSET reservation -> active-until (ms)
//	<prefix>s:{<hash>}:d:YYYYMMDD  mints that UTC day (expires after 48h)
//	<prefix>s:{<hash>}:r          ZSET record JSON -> created (ms)
//	<prefix>s:{<hash>}:b          block JSON
//	<prefix>s:{<hash>}:u:<session> HASH usage counter -> value, one per
//	                               metered session (a proxied call)
//
// Every key but the block carries a TTL, so a user who never returns
// leaves nothing behind after the retention period; a block stays until an
// operator lifts it. Times come from the caller (the
// instances' clocks, NTP-synchronised); a skew of seconds shifts an expiry
// by seconds.
type Redis struct {
	c      redis.UniversalClient
	prefix string
}

var _ Store = (*Redis)(nil)

// NewRedis returns a store on client with keys under prefix (for example
// REDIS_KEY_PREFIX, "rtgate:").
func NewRedis(client redis.UniversalClient, prefix string) *Redis {
	return &Redis{c: client, prefix: prefix}
}

type userKeys struct{ base string }

func (r *Redis) keys(user string) userKeys {
	h := sha256.Sum256([]byte(user))
	return userKeys{base: r.prefix + "s:{" + hex.EncodeToString(h[:16]) + "}:"}
}

func (k userKeys) active() string         { return k.base + "a" }
func (k userKeys) day(t time.Time) string { return k.base + "d:" + dayOf(t) }
func (k userKeys) records() string        { return k.base + "r" }
func (k userKeys) block() string          { return k.base + "b" }
func (k userKeys) usage(session string) string {
	return k.base + "u:" + session
}

// dayTTL keeps a day's counter a day past its end, whatever the time zone
// of the instance that wrote it.
const dayTTL = 48 * time.Hour

// Outcomes as the admit script returns them.
var admitScript = redis.NewScript(`
local now = tonumber(ARGV[1])
if redis.call('EXISTS', KEYS[3]) == 1 then return {1, 0, 0, 0} end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local active = redis.call('ZCARD', KEYS[1])
local used = tonumber(redis.call('GET', KEYS[2]) or '0')
local cap = tonumber(ARGV[2])
local quota = tonumber(ARGV[3])
if quota > 0 and used >= quota then return {3, active, used, 0} end
if cap > 0 and active >= cap then
  local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return {2, active, used, tonumber(first[2]) - now}
end
redis.call('ZADD', KEYS[1], ARGV[5], ARGV[4])
local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
redis.call('PEXPIRE', KEYS[1], math.max(tonumber(last[2]) - now, 0) + 60000)
used = redis.call('INCR', KEYS[2])
redis.call('PEXPIRE', KEYS[2], ARGV[6])
return {0, active + 1, used, 0}
`)

// Admit implements Store.
func (r *Redis) Admit(ctx context.Context, user string, now time.Time, lim Limits, res string, pendingUntil time.Time) (Decision, error) {
	if user == "" {
		return Decision{}, ErrEmptyUser
	}
	k := r.keys(user)
	v, err := admitScript.Run(ctx, r.c, []string{k.active(), k.day(now), k.block()},
		now.UnixMilli(), lim.MaxActive, lim.DailyQuota, res, pendingUntil.UnixMilli(), dayTTL.Milliseconds()).Int64Slice()
	if err != nil {
		return Decision{}, fmt.Errorf("users: admit: %w", err)
	}
	if len(v) != 4 {
		return Decision{}, fmt.Errorf("users: admit: unexpected reply %v", v)
	}
	d := Decision{Active: int(v[1]), UsedToday: int(v[2])}
	switch v[0] {
	case 0:
		d.Outcome = Admitted
	case 1:
		d.Outcome = Blocked
	case 2:
		d.Outcome, d.RetryAfter = OverActiveCap, time.Duration(v[3])*time.Millisecond
	case 3:
		d.Outcome, d.RetryAfter = OverDailyQuota, untilMidnight(now)
	default:
		return Decision{}, fmt.Errorf("users: admit: unexpected outcome %d", v[0])
	}
	return d, nil
}

var commitScript = redis.NewScript(`
local now = tonumber(ARGV[1])
local retention = tonumber(ARGV[6])
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[2])
local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
redis.call('PEXPIRE', KEYS[1], math.max(tonumber(last[2]) - now, 0) + 60000)
redis.call('ZADD', KEYS[2], ARGV[5], ARGV[4])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', '(' .. (now - retention))
redis.call('PEXPIRE', KEYS[2], retention)
return 1
`)

// Commit implements Store.
func (r *Redis) Commit(ctx context.Context, user, res string, rec Record, now time.Time, retention time.Duration) error {
	if user == "" {
		return ErrEmptyUser
	}
	b, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	k := r.keys(user)
	err = commitScript.Run(ctx, r.c, []string{k.active(), k.records()},
		now.UnixMilli(), res, rec.ActiveUntil.UnixMilli(), b, rec.CreatedAt.UnixMilli(), retention.Milliseconds()).Err()
	if err != nil {
		return fmt.Errorf("users: commit: %w", err)
	}
	return nil
}

var releaseScript = redis.NewScript(`
if redis.call('ZREM', KEYS[1], ARGV[1]) == 0 then return 0 end
local used = tonumber(redis.call('GET', KEYS[2]) or '0')
if used > 0 then redis.call('DECR', KEYS[2]) end
return 1
`)

// Release implements Store.
func (r *Redis) Release(ctx context.Context, user, res string, day time.Time) error {
	if user == "" {
		return ErrEmptyUser
	}
	k := r.keys(user)
	if err := releaseScript.Run(ctx, r.c, []string{k.active(), k.day(day)}, res).Err(); err != nil {
		return fmt.Errorf("users: release: %w", err)
	}
	return nil
}

// End implements Store.
func (r *Redis) End(ctx context.Context, user, res string) error {
	if user == "" {
		return ErrEmptyUser
	}
	if err := r.c.ZRem(ctx, r.keys(user).active(), res).Err(); err != nil {
		return fmt.Errorf("users: end: %w", err)
	}
	return nil
}

// ARGV: retention ms, then counter name and increment pairs.
var addUsageScript = redis.NewScript(`
for i = 2, #ARGV, 2 do redis.call('HINCRBY', KEYS[1], ARGV[i], ARGV[i + 1]) end
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return 1
`)

// AddUsage implements Store. The usage of a session lives in its own hash
// (one HINCRBY per counter, in one script), kept for the retention period
// after its last change; Data shows it with its record only, and Erase
// deletes it with the records. Usage arriving for an erased record makes a
// hash nobody shows, which expires after the retention period.
func (r *Redis) AddUsage(ctx context.Context, user, sessionID string, delta usage.Usage, _ time.Time, retention time.Duration) error {
	if user == "" {
		return ErrEmptyUser
	}
	args := []any{retention.Milliseconds()}
	for _, f := range delta.Fields() {
		if f.Value != 0 {
			args = append(args, f.Name, f.Value)
		}
	}
	if len(args) == 1 {
		return nil
	}
	if err := addUsageScript.Run(ctx, r.c, []string{r.keys(user).usage(sessionID)}, args...).Err(); err != nil {
		return fmt.Errorf("users: add usage: %w", err)
	}
	return nil
}

// Data implements Store.
func (r *Redis) Data(ctx context.Context, user string, now time.Time, retention time.Duration) (UserData, error) {
	if user == "" {
		return UserData{}, ErrEmptyUser
	}
	k := r.keys(user)
	var (
		active *redis.IntCmd
		used   *redis.StringCmd
		recs   *redis.StringSliceCmd
		block  *redis.StringCmd
	)
	_, err := r.c.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.ZRemRangeByScore(ctx, k.active(), "-inf", strconv.FormatInt(now.UnixMilli(), 10))
		active = p.ZCard(ctx, k.active())
		used = p.Get(ctx, k.day(now))
		p.ZRemRangeByScore(ctx, k.records(), "-inf", "("+strconv.FormatInt(now.Add(-retention).UnixMilli(), 10))
		recs = p.ZRange(ctx, k.records(), 0, -1)
		block = p.Get(ctx, k.block())
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return UserData{}, fmt.Errorf("users: data: %w", err)
	}
	if err := recs.Err(); err != nil {
		return UserData{}, fmt.Errorf("users: data: %w", err)
	}
	out := UserData{UserID: user, Sessions: []Record{}, ActiveSessions: int(active.Val())}
	if n, err := used.Int(); err == nil {
		out.UsedToday = n
	}
	for _, s := range recs.Val() {
		var rec Record
		if err := json.Unmarshal([]byte(s), &rec); err != nil {
			return UserData{}, fmt.Errorf("users: data: bad record: %w", err)
		}
		out.Sessions = append(out.Sessions, rec)
	}
	if err := r.readUsage(ctx, k, out.Sessions); err != nil {
		return UserData{}, err
	}
	out.sumUsage()
	if s, err := block.Result(); err == nil {
		var b Block
		if err := json.Unmarshal([]byte(s), &b); err != nil {
			return UserData{}, fmt.Errorf("users: data: bad block: %w", err)
		}
		out.Blocked = &b
	}
	return out, nil
}

// readUsage fills in the usage of the call records among recs, in one
// pipeline.
func (r *Redis) readUsage(ctx context.Context, k userKeys, recs []Record) error {
	cmds := make([]*redis.MapStringStringCmd, len(recs))
	_, err := r.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, rec := range recs {
			if rec.Kind == KindCall {
				cmds[i] = p.HGetAll(ctx, k.usage(rec.SessionID))
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("users: data: usage: %w", err)
	}
	for i, c := range cmds {
		if c != nil {
			recs[i].Usage = usage.FromStrings(c.Val())
		}
	}
	return nil
}

// KEYS: records, active, day, then the usage hashes of the records. ARGV:
// counters flag.
var eraseScript = redis.NewScript(`
local n = redis.call('ZCARD', KEYS[1])
redis.call('DEL', KEYS[1])
if ARGV[1] == '1' then redis.call('DEL', KEYS[2], KEYS[3]) end
for i = 4, #KEYS do redis.call('DEL', KEYS[i]) end
return n
`)

// Erase implements Store.
func (r *Redis) Erase(ctx context.Context, user string, now time.Time, counters bool) (Erased, error) {
	if user == "" {
		return Erased{}, ErrEmptyUser
	}
	k := r.keys(user)
	flag := "0"
	if counters {
		flag = "1"
	}
	// The records' usage hashes go with them. A call recorded between this
	// read and the script keeps its usage hash, which nobody shows and
	// which expires after the retention period.
	members, err := r.c.ZRange(ctx, k.records(), 0, -1).Result()
	if err != nil {
		return Erased{}, fmt.Errorf("users: erase: %w", err)
	}
	keys := []string{k.records(), k.active(), k.day(now)}
	for _, m := range members {
		var rec Record
		if json.Unmarshal([]byte(m), &rec) == nil && rec.Kind == KindCall {
			keys = append(keys, k.usage(rec.SessionID))
		}
	}
	n, err := eraseScript.Run(ctx, r.c, keys, flag).Int()
	if err != nil {
		return Erased{}, fmt.Errorf("users: erase: %w", err)
	}
	return Erased{Sessions: n, Counters: counters}, nil
}

// SetBlock implements Store.
func (r *Redis) SetBlock(ctx context.Context, user string, b Block) error {
	if user == "" {
		return ErrEmptyUser
	}
	v, err := json.Marshal(b)
	if err != nil {
		return err
	}
	if err := r.c.Set(ctx, r.keys(user).block(), v, 0).Err(); err != nil {
		return fmt.Errorf("users: block: %w", err)
	}
	return nil
}

// Unblock implements Store.
func (r *Redis) Unblock(ctx context.Context, user string) (bool, error) {
	n, err := r.c.Del(ctx, r.keys(user).block()).Result()
	if err != nil {
		return false, fmt.Errorf("users: unblock: %w", err)
	}
	return n > 0, nil
}

// Ping reports whether Redis answers; for readiness checks.
func (r *Redis) Ping(ctx context.Context) error { return r.c.Ping(ctx).Err() }
