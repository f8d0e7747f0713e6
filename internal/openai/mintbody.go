package openai

import (
	"bytes"
	"encoding/json"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"
)

// This file keeps the mint's per-request work small: the request body is
// marshalled once per session configuration, and the answer is read for
// the few fields rtgate keeps without decoding the whole object.

// mintBodyKey is everything in MintParams that shapes the body of
// /realtime/client_secrets. A field added to MintParams that shapes the
// body must be added here (TestMintBodyKeyCoversMintParams fails until it
// is), or two configurations would share one body.
type mintBodyKey struct {
	model, voice, instructions string
	ttl                        time.Duration
}

// maxMintBodies bounds the cache: the configurations come from the server's
// allowlists, so a handful is the norm; past the bound, bodies are
// marshalled per call as before.
const maxMintBodies = 64

// mintBodies is the cache of request bodies, copy on write: a lookup is a
// load and a map read, without a lock.
type mintBodies struct {
	m  atomic.Pointer[map[mintBodyKey][]byte]
	mu sync.Mutex // serialises writers
}

// body returns the request body for p, marshalled once per configuration.
// The bytes are shared by every call: nobody may write into them.
func (c *mintBodies) body(p MintParams) ([]byte, error) {
	k := mintBodyKey{model: p.Model, voice: p.Voice, instructions: p.Instructions, ttl: p.TTL}
	if m := c.m.Load(); m != nil {
		if b, ok := (*m)[k]; ok {
			return b, nil
		}
	}
	b, err := marshalMintBody(p)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	old := c.m.Load()
	if old != nil && len(*old) >= maxMintBodies {
		return b, nil
	}
	m := make(map[mintBodyKey][]byte, 1+len(mapOrNil(old)))
	for ok, ob := range mapOrNil(old) {
		m[ok] = ob
	}
	m[k] = b
	c.m.Store(&m)
	return b, nil
}

func mapOrNil(m *map[mintBodyKey][]byte) map[mintBodyKey][]byte {
	if m == nil {
		return nil
	}
	return *m
}

// marshalMintBody is the body of /realtime/client_secrets for p.
func marshalMintBody(p MintParams) ([]byte, error) {
	return json.Marshal(mintRequest{
		ExpiresAfter: expiresAfter{Anchor: "created_at", Seconds: int(p.TTL / time.Second)},
		Session:      session(p),
	})
}

// decodeMintResponse reads the fields rtgate keeps from a 2xx answer of
// /realtime/client_secrets: exactly what json.Unmarshal into a
// mintResponse gives, error included. Answers in OpenAI's documented shape
// are read by scanMintResponse without reflection; anything else is left
// to json.Unmarshal.
func decodeMintResponse(raw []byte) (mintResponse, error) {
	if mr, ok := scanMintResponse(raw); ok {
		return mr, nil
	}
	var mr mintResponse
	err := json.Unmarshal(raw, &mr)
	return mr, err
}

// scanMintResponse reads raw when it is valid JSON, an object, and every
// field rtgate keeps is there at most once, under its exact name (not
// another case of it, no escapes), with a plain value: value, session.id
// and session.model strings of valid UTF-8 without escapes, expires_at an
// integer, session an object. Other members are skipped, as json.Unmarshal
// skips them. ok is false for anything else.
func scanMintResponse(raw []byte) (mr mintResponse, ok bool) {
	if !json.Valid(raw) {
		return mr, false
	}
	i := skipWS(raw, 0)
	if i >= len(raw) || raw[i] != '{' {
		return mr, false
	}
	var seen [3]bool
	var strs [3][]byte // value, session.id, session.model
	var sseen [2]bool
	ok = members(raw, i, func(key, val []byte) bool {
		switch field(key, "value", "expires_at", "session") {
		case -1:
			return true // not kept
		case 0:
			if seen[0] {
				return false
			}
			seen[0] = true
			s, plain := plainJSONString(val)
			strs[0] = s
			return plain
		case 1:
			if seen[1] {
				return false
			}
			seen[1] = true
			n, integer := parseInt64(val)
			mr.ExpiresAt = n
			return integer
		case 2:
			if seen[2] || val[0] != '{' {
				return false
			}
			seen[2] = true
			return members(val, 0, func(key, val []byte) bool {
				f := field(key, "id", "model")
				if f == -1 {
					return true
				}
				if f < 0 || sseen[f] {
					return false
				}
				sseen[f] = true
				s, plain := plainJSONString(val)
				strs[1+f] = s
				return plain
			})
		}
		return false // a name json.Unmarshal would match that is not exact
	})
	if !ok {
		return mr, false
	}
	// The three strings share one allocation.
	var sb strings.Builder
	sb.Grow(len(strs[0]) + len(strs[1]) + len(strs[2]))
	for _, s := range strs {
		sb.Write(s)
	}
	all := sb.String()
	n0, n1 := len(strs[0]), len(strs[0])+len(strs[1])
	mr.Value, mr.Session.ID, mr.Session.Model = all[:n0], all[n0:n1], all[n1:]
	return mr, true
}

// field returns the index of the name key is, -1 when it is none of names
// in any case, and -2 when json.Unmarshal might still match it to one (an
// escape, a byte outside ASCII, another case): the caller then leaves the
// answer to json.Unmarshal.
func field(key []byte, names ...string) int {
	for _, c := range key {
		if c == '\\' || c >= utf8.RuneSelf {
			return -2
		}
	}
	for i, n := range names {
		if string(key) == n {
			return i
		}
		if bytes.EqualFold(key, []byte(n)) {
			return -2
		}
	}
	return -1
}

// plainJSONString returns the content of val (a JSON string of valid JSON)
// when it has no escape and is valid UTF-8, so it reads as is.
func plainJSONString(val []byte) ([]byte, bool) {
	if len(val) < 2 || val[0] != '"' {
		return nil, false
	}
	s := val[1 : len(val)-1]
	if bytes.IndexByte(s, '\\') >= 0 || !utf8.Valid(s) {
		return nil, false
	}
	return s, true
}

// parseInt64 is strconv.ParseInt(string(b), 10, 64) for a JSON number
// (valid JSON), without the string: ok is false for a fraction, an
// exponent or an overflow, as json.Unmarshal into an int64 refuses them.
func parseInt64(b []byte) (int64, bool) {
	neg := len(b) > 0 && b[0] == '-'
	if neg {
		b = b[1:]
	}
	if len(b) == 0 || len(b) > 19 {
		return 0, false
	}
	var n uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + uint64(c-'0')
	}
	switch {
	case neg && n <= 1<<63:
		return int64(-n), true
	case !neg && n < 1<<63:
		return int64(n), true
	}
	return 0, false
}

// members calls fn with the raw key (without its quotes) and the raw value
// of each member of the object at raw[i], in order, until fn returns
// false. raw must be valid JSON.
func members(raw []byte, i int, fn func(key, val []byte) bool) bool {
	i = skipWS(raw, i+1) // past '{'
	if raw[i] == '}' {
		return true
	}
	for {
		kend := skipValue(raw, i)
		key := raw[i+1 : kend-1]
		i = skipWS(raw, skipWS(raw, kend)+1) // past ':'
		vend := skipValue(raw, i)
		if !fn(key, raw[i:vend]) {
			return false
		}
		i = skipWS(raw, vend)
		if raw[i] == '}' {
			return true
		}
		i = skipWS(raw, i+1) // past ','
	}
}

// skipValue returns the index just past the value at raw[i] (valid JSON).
func skipValue(raw []byte, i int) int {
	switch raw[i] {
	case '"':
		for j := i + 1; ; j++ {
			switch raw[j] {
			case '\\':
				j++
			case '"':
				return j + 1
			}
		}
	case '{', '[':
		depth := 0
		for j := i; ; j++ {
			switch raw[j] {
			case '"':
				j = skipValue(raw, j) - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return j + 1
				}
			}
		}
	}
	j := i
	for j < len(raw) {
		switch raw[j] {
		case ',', '}', ']', ' ', '\t', '\n', '\r':
			return j
		}
		j++
	}
	return j
}

func skipWS(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// readBounded reads r to its end, or to max+1 bytes, whichever comes
// first; size, when not negative, is the length the body declared, so the
// common answer is read into one buffer of the right size.
func readBounded(r io.Reader, size, max int64) ([]byte, error) {
	n := int64(512)
	if size >= 0 && size <= max {
		n = size + 1 // room to see the end without growing
	}
	buf := make([]byte, 0, n)
	for int64(len(buf)) <= max {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		want := min(int64(cap(buf)), max+1)
		m, err := r.Read(buf[len(buf):want])
		buf = buf[:len(buf)+m]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
	return buf, nil
}
