package openai

import (
	"crypto/sha256"
	"encoding/binary"
	"slices"
	"sync"
	"time"
)

// reuseCache keeps each authenticated user's last secret per session
// configuration, so a user asking again soon gets it back instead of a new
// upstream mint. It never holds anonymous callers' secrets, and its key
// covers the user and everything that shapes the session, so no secret is
// ever handed to another user or for another configuration.
type reuseCache struct {
	minLeft time.Duration
	max     int
	now     func() time.Time

	mu      sync.Mutex
	entries map[[32]byte]*Minted
}

func newReuseCache(minLeft time.Duration, maxEntries int, now func() time.Time) *reuseCache {
	if maxEntries <= 0 {
		maxEntries = 10000
	}
	return &reuseCache{minLeft: minLeft, max: maxEntries, now: now, entries: map[[32]byte]*Minted{}}
}

func reuseKey(p MintParams) [32]byte {
	h := sha256.New()
	for _, f := range []string{p.User, p.Model, p.Voice, p.Instructions, p.SafetyIdentifier, string(p.Session)} {
		var n [8]byte
		binary.BigEndian.PutUint64(n[:], uint64(len(f)))
		h.Write(n[:])
		h.Write([]byte(f))
	}
	var ttl [8]byte
	binary.BigEndian.PutUint64(ttl[:], uint64(p.TTL))
	h.Write(ttl[:])
	var k [32]byte
	h.Sum(k[:0])
	return k
}

// get returns a copy of the user's secret for p if it has more than
// minLeft before it expires.
func (c *reuseCache) get(p MintParams) (*Minted, bool) {
	if p.User == "" {
		return nil, false
	}
	k := reuseKey(p)
	c.mu.Lock()
	defer c.mu.Unlock()
	m, ok := c.entries[k]
	if !ok {
		return nil, false
	}
	if m.ExpiresAt.Sub(c.now()) <= c.minLeft {
		delete(c.entries, k)
		return nil, false
	}
	cp := *m
	cp.Body = slices.Clone(m.Body)
	cp.Reused = true
	return &cp, true
}

// put remembers m for p. When the cache is full it first drops what can no
// longer be reused; if it is still full, m is not kept.
func (c *reuseCache) put(p MintParams, m *Minted) {
	if p.User == "" || m.ExpiresAt.Sub(c.now()) <= c.minLeft {
		return
	}
	k := reuseKey(p)
	cp := *m
	cp.Body = slices.Clone(m.Body)
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.entries[k]; !ok && len(c.entries) >= c.max {
		now := c.now()
		for ek, e := range c.entries {
			if e.ExpiresAt.Sub(now) <= c.minLeft {
				delete(c.entries, ek)
			}
		}
		if len(c.entries) >= c.max {
			return
		}
	}
	c.entries[k] = &cp
}
