package budget

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/rtgate/rtgate/internal/pricing"
)

// Redis is the Store shared by every instance that points at the same
// Redis. A charge is one Lua script that adds to the user's day, month and
// day-time counters and the global day counter and reads the user's
// override, so the four counters move together and every charge sees the
// totals of all charges before it, from any instance.
//
// The global counter is shared by all users, so every budget key carries
// one hash tag, {budget}: on Redis Cluster they all live in one slot (a few
// small counters per user), which is what lets one script touch them. User
// ids never appear in key names, only a hash of them:
//
//	<prefix>{budget}:u:<hash>:d:YYYYMMDD   user's spend that day (µ$)
//	<prefix>{budget}:u:<hash>:t:YYYYMMDD   user's call time that day (ms)
//	<prefix>{budget}:u:<hash>:m:YYYYMM     user's spend that month (µ$)
//	<prefix>{budget}:u:<hash>:o            user's override (HASH; no TTL)
//	<prefix>{budget}:g:d:YYYYMMDD          everyone's spend that day (µ$)
//	<prefix>{budget}:l:d:YYYYMMDD          ZSET user id -> spend that day
//	<prefix>{budget}:l:m:YYYYMM            ZSET user id -> spend that month
//
// The counters are integers (INCRBY); the two listings exist only for the
// operator's "who spent most" and hold the same sums as scores (exact below
// 2⁵³ micro-dollars). Day keys expire two days after their last write,
// month keys 62 days after; an override stays until an operator clears it.
type Redis struct {
	c      redis.UniversalClient
	prefix string
}

var _ Store = (*Redis)(nil)

// NewRedis returns a store on client with keys under prefix (for example
// REDIS_KEY_PREFIX followed by "b:").
func NewRedis(client redis.UniversalClient, prefix string) *Redis {
	return &Redis{c: client, prefix: prefix + "{budget}:"}
}

const (
	dayTTL   = 48 * time.Hour
	monthTTL = 62 * 24 * time.Hour
)

func (r *Redis) userBase(user string) string {
	h := sha256.Sum256([]byte(user))
	return r.prefix + "u:" + hex.EncodeToString(h[:16]) + ":"
}

// keys are the seven keys of a charge, in the scripts' KEYS order. The
// anonymous user's keys are placeholders the script never touches.
func (r *Redis) keys(user string, now time.Time) []string {
	day, month := dayOf(now), monthOf(now)
	u := r.userBase(user)
	return []string{u + "d:" + day, u + "m:" + month, u + "t:" + day, r.prefix + "g:d:" + day, u + "o",
		r.prefix + "l:d:" + day, r.prefix + "l:m:" + month}
}

// chargeScript charges (ARGV[1] = "1") or only reads, and returns the four
// totals after it, the four limits in force (-1 for none) and a flag
// telling whether an override exists, followed by its three fields ("" for
// a field not set).
//
// ARGV: charge flag, cost µ$, time ms, user ("" anonymous), default limits
// user day, user month, user time, global day, day TTL ms, month TTL ms.
var chargeScript = redis.NewScript(`
local charge = ARGV[1] == '1'
local cost, ms, user = tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4]
local lim = {tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8])}
local dayTTL, monthTTL = ARGV[9], ARGV[10]
local spent = {0, 0, 0, 0}
if charge then
  spent[4] = redis.call('INCRBY', KEYS[4], cost)
  redis.call('PEXPIRE', KEYS[4], dayTTL)
else
  spent[4] = tonumber(redis.call('GET', KEYS[4]) or '0')
end
local o = {'', '', ''}
local has = 0
if user == '' then
  lim = {-1, -1, -1, lim[4]}
else
  if charge then
    spent[1] = redis.call('INCRBY', KEYS[1], cost)
    spent[2] = redis.call('INCRBY', KEYS[2], cost)
    spent[3] = redis.call('INCRBY', KEYS[3], ms)
    redis.call('PEXPIRE', KEYS[1], dayTTL)
    redis.call('PEXPIRE', KEYS[3], dayTTL)
    redis.call('PEXPIRE', KEYS[2], monthTTL)
    if cost > 0 then
      redis.call('ZADD', KEYS[6], spent[1], user)
      redis.call('ZADD', KEYS[7], spent[2], user)
      redis.call('PEXPIRE', KEYS[6], dayTTL)
      redis.call('PEXPIRE', KEYS[7], monthTTL)
    end
  else
    spent[1] = tonumber(redis.call('GET', KEYS[1]) or '0')
    spent[2] = tonumber(redis.call('GET', KEYS[2]) or '0')
    spent[3] = tonumber(redis.call('GET', KEYS[3]) or '0')
  end
  local v = redis.call('HMGET', KEYS[5], 'd', 'm', 't')
  for i = 1, 3 do
    if v[i] then
      has = 1
      o[i] = v[i]
      lim[i] = tonumber(v[i])
    end
  end
end
return {spent[1], spent[2], spent[3], spent[4], lim[1], lim[2], lim[3], lim[4], has, o[1], o[2], o[3]}
`)

func (r *Redis) run(ctx context.Context, charge bool, user string, now time.Time, a Amount, def Totals) (Balance, error) {
	flag := "0"
	if charge {
		flag = "1"
	}
	v, err := chargeScript.Run(ctx, r.c, r.keys(user, now), flag, int64(a.Cost), a.Time.Milliseconds(), user,
		int64(def.UserDaily), int64(def.UserMonthly), limitMillis(def.UserDailyTime), int64(def.GlobalDaily),
		dayTTL.Milliseconds(), monthTTL.Milliseconds()).Slice()
	if err != nil {
		if !charge {
			return Balance{}, fmt.Errorf("budget: balance: %w", err)
		}
		return Balance{}, fmt.Errorf("budget: charge: %w", err)
	}
	if len(v) != 12 {
		return Balance{}, fmt.Errorf("budget: charge: unexpected reply %v", v)
	}
	n := make([]int64, 9)
	for i := range n {
		x, ok := v[i].(int64)
		if !ok {
			return Balance{}, fmt.Errorf("budget: charge: unexpected reply %v", v)
		}
		n[i] = x
	}
	b := Balance{
		Spent:  Totals{UserDaily: pricing.Micros(n[0]), UserMonthly: pricing.Micros(n[1]), UserDailyTime: time.Duration(n[2]) * time.Millisecond, GlobalDaily: pricing.Micros(n[3])},
		Limits: Totals{UserDaily: pricing.Micros(n[4]), UserMonthly: pricing.Micros(n[5]), UserDailyTime: millisLimit(n[6]), GlobalDaily: pricing.Micros(n[7])},
	}
	if n[8] == 1 {
		var f [3]*int64
		for i := range f {
			s, _ := v[9+i].(string)
			if s == "" {
				continue
			}
			m, err := strconv.ParseInt(s, 10, 64)
			if err != nil {
				return Balance{}, fmt.Errorf("budget: bad override: %w", err)
			}
			f[i] = &m
		}
		var o Override
		if f[0] != nil {
			o.UserDaily = ptr(pricing.Micros(*f[0]))
		}
		if f[1] != nil {
			o.UserMonthly = ptr(pricing.Micros(*f[1]))
		}
		if f[2] != nil {
			o.UserDailyTime = ptr(millisLimit(*f[2]))
		}
		b.Override = &o
	}
	return b, nil
}

func ptr[T any](v T) *T { return &v }

// limitMillis is a time limit in milliseconds, NoLimit kept as -1.
func limitMillis(d time.Duration) int64 {
	if d < 0 {
		return NoLimit
	}
	return d.Milliseconds()
}

func millisLimit(ms int64) time.Duration {
	if ms < 0 {
		return NoLimit
	}
	return time.Duration(ms) * time.Millisecond
}

// Charge implements Store.
func (r *Redis) Charge(ctx context.Context, user string, now time.Time, a Amount, def Totals) (Balance, error) {
	return r.run(ctx, true, user, now, a, def)
}

// Balance implements Store.
func (r *Redis) Balance(ctx context.Context, user string, now time.Time, def Totals) (Balance, error) {
	return r.run(ctx, false, user, now, Amount{}, def)
}

// SetOverride implements Store.
func (r *Redis) SetOverride(ctx context.Context, user string, o Override) error {
	if user == "" {
		return ErrEmptyUser
	}
	key := r.userBase(user) + "o"
	_, err := r.c.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Del(ctx, key)
		var fields []any
		if o.UserDaily != nil {
			fields = append(fields, "d", int64(*o.UserDaily))
		}
		if o.UserMonthly != nil {
			fields = append(fields, "m", int64(*o.UserMonthly))
		}
		if o.UserDailyTime != nil {
			fields = append(fields, "t", limitMillis(*o.UserDailyTime))
		}
		if len(fields) > 0 {
			p.HSet(ctx, key, fields...)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("budget: set override: %w", err)
	}
	return nil
}

// ClearOverride implements Store.
func (r *Redis) ClearOverride(ctx context.Context, user string) (bool, error) {
	if user == "" {
		return false, ErrEmptyUser
	}
	n, err := r.c.Del(ctx, r.userBase(user)+"o").Result()
	if err != nil {
		return false, fmt.Errorf("budget: clear override: %w", err)
	}
	return n > 0, nil
}

// Spenders implements Store.
func (r *Redis) Spenders(ctx context.Context, now time.Time, n int) (Spending, error) {
	var day, month *redis.ZSliceCmd
	_, err := r.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		day = p.ZRevRangeWithScores(ctx, r.prefix+"l:d:"+dayOf(now), 0, int64(n)-1)
		month = p.ZRevRangeWithScores(ctx, r.prefix+"l:m:"+monthOf(now), 0, int64(n)-1)
		return nil
	})
	if err != nil {
		return Spending{}, fmt.Errorf("budget: spenders: %w", err)
	}
	conv := func(zs []redis.Z) []Spender {
		out := make([]Spender, 0, len(zs))
		for _, z := range zs {
			user, _ := z.Member.(string)
			out = append(out, Spender{User: user, Spent: pricing.Micros(z.Score)})
		}
		// Redis orders equal scores by member descending; the contract
		// says user order.
		return top(out, n)
	}
	return Spending{Day: conv(day.Val()), Month: conv(month.Val())}, nil
}

// Ping reports whether Redis answers; for readiness checks.
func (r *Redis) Ping(ctx context.Context) error { return r.c.Ping(ctx).Err() }
