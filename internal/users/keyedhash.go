package users

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"hash"
	"sync"
)

// keyedHash is HMAC-SHA256 under one key, its hashers pooled: a call costs
// a Reset instead of hmac.New's allocations and key schedule. It computes
// exactly what hmac.New(sha256.New, key) does.
type keyedHash struct{ pool sync.Pool }

// keyedHasher is one pooled hasher with room for its input and its sum.
type keyedHasher struct {
	mac      hash.Hash
	in, cksm []byte
}

func newKeyedHash(key []byte) *keyedHash {
	k := &keyedHash{}
	k.pool.New = func() any {
		return &keyedHasher{mac: hmac.New(sha256.New, key), cksm: make([]byte, 0, sha256.Size)}
	}
	return k
}

// hex16 is the hex of the first 16 bytes of the MAC of s, as SafetyID and
// the records' client address hash keep it.
func (k *keyedHash) hex16(s string) string {
	h := k.pool.Get().(*keyedHasher)
	h.mac.Reset()
	h.in = append(h.in[:0], s...)
	h.mac.Write(h.in)
	h.cksm = h.mac.Sum(h.cksm[:0])
	out := hex.EncodeToString(h.cksm[:16])
	if cap(h.in) <= 1024 {
		k.pool.Put(h)
	}
	return out
}
