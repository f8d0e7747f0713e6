package ratelimit

import (
	"context"
	"hash/maphash"
	"math/bits"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultMaxKeys is the default hard bound on keys tracked by a Memory store.
// One tracked client costs 50 to 85 bytes of heap, depending on how full
// the map's tables happen to be (BenchmarkLimiterScale; about 72 for a
// string key, BenchmarkMemoryPerKey), so the default bounds the store at
// roughly 85 MB even under a flood of rotating addresses, while 1,000,000
// distinct clients active within one window is far
// beyond what one gateway instance serves (at the guide's 10 requests per
// minute that is over 160,000 admitted requests per second).
const DefaultMaxKeys = 1_000_000

// DefaultShards is the default number of independently locked shards.
const DefaultShards = 64

// DefaultSweepInterval is how often Run removes fully replenished entries.
const DefaultSweepInterval = 30 * time.Second

// saturatedRetry caps the RetryAfter of a new key denied because the store is
// full: the earliest time a slot can free is usually much sooner.
const saturatedRetry = time.Second

// MemoryOptions configures NewMemory. The zero value is usable.
type MemoryOptions struct {
	// Now is the clock. When nil, the store reads the monotonic clock,
	// anchored at the wall-clock time the store was made: one clock read
	// per decision instead of time.Now's two, and a step of the wall clock
	// (NTP, an operator) cannot move the limiter's time backwards.
	Now func() time.Time
	// MaxKeys is the hard bound on tracked keys (RATE_LIMIT_MAX_KEYS);
	// DefaultMaxKeys when zero. The bound is enforced per shard as
	// ceil(MaxKeys/Shards), so the total never exceeds MaxKeys rounded up
	// to a multiple of Shards; with random hashing the first shard fills
	// when the total is about 98% of MaxKeys (64 shards, 1M keys).
	MaxKeys int
	// Shards is the number of independently locked shards, rounded up to a
	// power of two; DefaultShards when zero.
	Shards int
	// SweepInterval is the period of Run's janitor; DefaultSweepInterval
	// when zero.
	SweepInterval time.Duration
}

// Memory is the in-process Store. Keys are spread by a randomly seeded hash
// over shards, each with its own mutex, so there is no global lock on the hot
// path and an attacker cannot aim keys at one shard.
//
// At the key bound, Memory never evicts state that still matters: when a
// shard is full it first deletes entries that are fully replenished (their
// TAT is not after now, which is exactly equivalent to having no entry). If
// none can be freed, the new key is denied (Allowed false, a RetryAfter of at
// most one second) while every existing key keeps its exact state. So a flood
// of spoofed or rotating addresses can neither grow memory without limit, nor
// switch limiting off, nor reset an active offender's counter; its cost is
// that genuinely new clients are refused until the flood's entries
// replenish (at most one Window after the flood stops).
type Memory struct {
	now        func() time.Time // the injected clock, or nil
	epoch      time.Time        // with a nil now: the anchor of the monotonic clock
	epochMicro int64            // epoch in Unix microseconds
	seed       maphash.Seed
	addrSeed   [2]uint64 // random: keys the address hash that picks a shard
	mask       uint64
	perShard   int
	sweepEvery time.Duration
	shards     []memShard
	saturated  atomic.Uint64
}

type memShard struct {
	mu sync.Mutex
	m  map[string]int64 // key -> TAT in Unix microseconds
	// addrs holds the keys of client addresses decided through a Limiter
	// (the same entries m would hold under IPKey strings, without the
	// strings); the key bound counts both maps.
	addrs map[addrKey]int64
	// fullUntil, while the shard is full, is a lower bound of every TAT in
	// it: no entry can be freed before then, so no sweep is attempted.
	fullUntil int64
	_         [32]byte // keep shards on separate cache lines
}

func (s *memShard) len() int { return len(s.m) + len(s.addrs) }

var _ Store = (*Memory)(nil)

// NewMemory returns an empty Memory store.
func NewMemory(o MemoryOptions) *Memory {
	if o.MaxKeys <= 0 {
		o.MaxKeys = DefaultMaxKeys
	}
	if o.Shards <= 0 {
		o.Shards = DefaultShards
	}
	if o.SweepInterval <= 0 {
		o.SweepInterval = DefaultSweepInterval
	}
	n := 1 << bits.Len(uint(o.Shards-1)) // next power of two
	if n > o.MaxKeys {
		n = 1 << (bits.Len(uint(o.MaxKeys)) - 1) // largest power of two <= MaxKeys
	}
	epoch := time.Now()
	m := &Memory{
		now:        o.Now,
		epoch:      epoch,
		epochMicro: epoch.UnixMicro(),
		seed:       maphash.MakeSeed(),
		addrSeed:   [2]uint64{rand.Uint64(), rand.Uint64()},
		mask:       uint64(n - 1),
		perShard:   (o.MaxKeys + n - 1) / n,
		sweepEvery: o.SweepInterval,
		shards:     make([]memShard, n),
	}
	for i := range m.shards {
		m.shards[i].m = make(map[string]int64)
		m.shards[i].addrs = make(map[addrKey]int64)
	}
	return m
}

// Allow implements Store. It never returns an error for a valid policy.
func (m *Memory) Allow(_ context.Context, key string, p Policy) (Decision, error) {
	if !p.Enabled() || p.Validate() != nil {
		return Decision{}, ErrInvalidPolicy
	}
	s := &m.shards[maphash.String(m.seed, key)&m.mask]
	var d Decision
	allowIn(m, s, s.m, key, p, emissionInterval(p), &d)
	return d, nil
}

// allowAddr is Allow for a client address, writing the decision into *d:
// the Limiter's path, which builds no key string. p is valid and interval
// is emissionInterval(p).
func (m *Memory) allowAddr(k addrKey, p Policy, interval int64, d *Decision) {
	s := &m.shards[m.addrShard(k)]
	allowIn(m, s, s.addrs, k, p, interval, d)
}

// addrShard picks k's shard with a randomly keyed multiply-and-fold hash
// (the mixing step of wyhash): as unpredictable as maphash to a client that
// does not know the seed, at a fraction of the cost for 24 bytes.
func (m *Memory) addrShard(k addrKey) uint64 {
	hi, lo := bits.Mul64(k.hi^m.addrSeed[0], k.lo^m.addrSeed[1])
	hi, lo = bits.Mul64(hi^lo^k.bits, 0x9e3779b97f4a7c15^m.addrSeed[0])
	return (hi ^ lo) & m.mask
}

// nowMicro is the store's time in Unix microseconds.
func (m *Memory) nowMicro() int64 {
	if m.now != nil {
		return m.now().UnixMicro()
	}
	return m.epochMicro + int64(time.Since(m.epoch)/time.Microsecond)
}

// allowIn is one GCRA decision for key in tab, one of shard s's maps.
func allowIn[K comparable](m *Memory, s *memShard, tab map[K]int64, key K, p Policy, interval int64, d *Decision) {
	now := m.nowMicro()
	s.mu.Lock()
	tat, ok := tab[key]
	if !ok && s.len() >= m.perShard && !s.makeRoom(now) {
		wait := micros(s.fullUntil - now)
		s.mu.Unlock()
		m.saturated.Add(1)
		if wait > saturatedRetry || wait <= 0 {
			wait = saturatedRetry
		}
		*d = Decision{Limit: p.Limit, Window: p.Window, RetryAfter: wait, ResetAfter: wait}
		return
	}
	newTAT := gcraAt(now, tat, p, interval, d)
	if d.Allowed {
		tab[key] = newTAT
		if !ok {
			// fullUntil bounds the TATs present when the shard was last
			// found full; a new entry may replenish sooner.
			s.fullUntil = 0
		}
	}
	s.mu.Unlock()
}

// makeRoom deletes the shard's fully replenished entries and reports whether
// any slot was freed. The caller holds s.mu.
func (s *memShard) makeRoom(now int64) bool {
	if now < s.fullUntil {
		return false
	}
	n1, min1 := sweepMap(s.m, now)
	n2, min2 := sweepMap(s.addrs, now)
	if n1+n2 > 0 {
		s.fullUntil = 0
		return true
	}
	s.fullUntil = min1
	if min2 >= 0 && (min1 < 0 || min2 < min1) {
		s.fullUntil = min2
	}
	return false
}

// sweepMap deletes tab's entries whose TAT is not after now. It returns how
// many it deleted and the smallest TAT left (-1 when none is left).
func sweepMap[K comparable](tab map[K]int64, now int64) (deleted int, minTAT int64) {
	minTAT = -1
	for k, tat := range tab {
		if tat <= now {
			delete(tab, k)
			deleted++
		} else if minTAT < 0 || tat < minTAT {
			minTAT = tat
		}
	}
	return deleted, minTAT
}

// Sweep deletes every fully replenished entry now and returns how many were
// deleted. Run calls it periodically; it locks one shard at a time.
func (m *Memory) Sweep() int {
	now := m.nowMicro()
	n := 0
	for i := range m.shards {
		s := &m.shards[i]
		s.mu.Lock()
		n1, _ := sweepMap(s.m, now)
		n2, _ := sweepMap(s.addrs, now)
		s.mu.Unlock()
		n += n1 + n2
	}
	return n
}

// Run sweeps every SweepInterval until ctx is done. Start it once in its own
// goroutine; without it, entries are still freed on demand at the key bound.
func (m *Memory) Run(ctx context.Context) {
	t := time.NewTicker(m.sweepEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			m.Sweep()
		}
	}
}

// Len returns the number of tracked keys (including not yet swept
// replenished ones).
func (m *Memory) Len() int {
	n := 0
	for i := range m.shards {
		s := &m.shards[i]
		s.mu.Lock()
		n += s.len()
		s.mu.Unlock()
	}
	return n
}

// Saturated returns how many new keys were denied because the store was full.
func (m *Memory) Saturated() uint64 { return m.saturated.Load() }
