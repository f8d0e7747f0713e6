package openai

import (
	"bytes"
	"encoding/json"
	"io"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"
)

// This file keeps the mint's per-request work small: the request body is
// marshalled once per session configuration, and the answer is read for
// the few fields rtgate keeps without decoding the whole object.

// A mint's body is shaped by the session (rendered by sessioncfg, or built
// from the model, voice and instructions) and the secret's lifetime, and
// cached under exactly those. A field added to MintParams that shapes the
// body must be added to the key (TestMintBodyKeyCoversMintParams fails until
// it is classified), or two configurations would share one body.

// maxMintBodies bounds the cache: the configurations come from the server's
// allowlists and its session file, so a handful is the norm; past the
// bound, bodies are marshalled per call as before.
const maxMintBodies = 64

// mintBodies is the cache of request bodies, copy on write: a lookup is a
// load and a map read, without a lock. Bodies are filed by session (with
// their lifetime alongside), so a rendered session is looked up by its
// bytes without copying them.
type mintBodies struct {
	m  atomic.Pointer[map[string][]cachedBody] // session -> one body per lifetime
	mu sync.Mutex                              // serialises writers
}

type cachedBody struct {
	ttl  time.Duration
	body []byte
}

// body returns the request body for p, marshalled once per configuration.
// The bytes are shared by every call: nobody may write into them.
func (c *mintBodies) body(p MintParams) ([]byte, error) {
	m := c.m.Load()
	if m != nil {
		var cbs []cachedBody
		if p.Session != nil {
			cbs = (*m)[string(p.Session)] // no copy: a map index by string(bytes)
		} else {
			cbs = (*m)[builtKey(p)]
		}
		for _, cb := range cbs {
			if cb.ttl == p.TTL {
				return cb.body, nil
			}
		}
	}
	b, err := marshalMintBody(p)
	if err != nil {
		return nil, err
	}
	k := string(p.Session)
	if p.Session == nil {
		k = builtKey(p)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	old := c.m.Load()
	n := 0
	for _, cbs := range mapOrNil(old) {
		n += len(cbs)
	}
	if n >= maxMintBodies {
		return b, nil
	}
	nm := make(map[string][]cachedBody, 1+len(mapOrNil(old)))
	for ok, ob := range mapOrNil(old) {
		nm[ok] = ob
	}
	for _, cb := range nm[k] {
		if cb.ttl == p.TTL {
			return cb.body, nil // another writer was first
		}
	}
	nm[k] = append(slices.Clip(nm[k]), cachedBody{ttl: p.TTL, body: b})
	c.m.Store(&nm)
	return b, nil
}

// builtKey files a session built from p's model, voice and instructions
// (no rendered session). Its leading NUL keeps it apart from any rendered
// session, which is a JSON object.
func builtKey(p MintParams) string {
	return "\x00" + p.Model + "\x00" + p.Voice + "\x00" + p.Instructions
}

func mapOrNil(m *map[string][]cachedBody) map[string][]cachedBody {
	if m == nil {
		return nil
	}
	return *m
}

// marshalMintBody is the body of /realtime/client_secrets for p.
func marshalMintBody(p MintParams) ([]byte, error) {
	sess, err := SessionJSON(p)
	if err != nil {
		return nil, err
	}
	return json.Marshal(mintRequest{
		ExpiresAfter: expiresAfter{Anchor: "created_at", Seconds: int(p.TTL / time.Second)},
		Session:      sess,
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

// scanMintResponse reads raw when it is valid JSON (as json.Valid has it),
// an object, and every field rtgate keeps is there at most once, under its
// exact name (not another case of it, no escapes), with a plain value:
// value, session.id and session.model strings of valid UTF-8 without
// escapes, expires_at an integer, session an object. Other members are
// checked and skipped, as json.Unmarshal skips them. ok is false for
// anything else. It reads raw once, validating as it goes.
func scanMintResponse(raw []byte) (mr mintResponse, ok bool) {
	s := jsonScanner{b: raw}
	s.ws()
	if s.i >= len(raw) || raw[s.i] != '{' {
		return mr, false
	}
	var seen [3]bool
	var strs [3][]byte // value, session.id, session.model
	ok = s.object(func(key []byte, escaped bool) bool {
		f := -2 // an escaped name is left to json.Unmarshal
		if !escaped {
			f = field(key, "value", "expires_at", "session")
		}
		switch f {
		case -1:
			return s.value() // not kept
		case 0, 1:
			if seen[f] {
				return false
			}
			seen[f] = true
			if f == 0 {
				str, plain := s.plainString()
				strs[0] = str
				return plain
			}
			n, integer := s.integer()
			mr.ExpiresAt = n
			return integer
		case 2:
			if seen[2] || s.i >= len(raw) || raw[s.i] != '{' {
				return false
			}
			seen[2] = true
			var sseen [2]bool
			return s.object(func(key []byte, escaped bool) bool {
				f := -2
				if !escaped {
					f = field(key, "id", "model")
				}
				if f == -1 {
					return s.value()
				}
				if f < 0 || sseen[f] {
					return false
				}
				sseen[f] = true
				str, plain := s.plainString()
				strs[1+f] = str
				return plain
			})
		}
		return false // a name json.Unmarshal would match that is not exact
	})
	if !ok {
		return mr, false
	}
	if s.ws(); s.i != len(raw) {
		return mr, false // trailing data
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
// in any case, and -2 when json.Unmarshal might still match it to one (a
// byte outside ASCII, another case): the caller then leaves the answer to
// json.Unmarshal.
func field(key []byte, names ...string) int {
	for _, c := range key {
		if c >= utf8.RuneSelf {
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

// maxNestingDepth is encoding/json's: deeper input is invalid.
const maxNestingDepth = 10000

// jsonScanner reads JSON with the grammar encoding/json's scanner accepts
// (json.Valid): RFC 8259, strings of any bytes from 0x20 on (UTF-8 is not
// checked), at most maxNestingDepth levels. Each method reads one element
// at b[i] and reports whether it was valid; on false, i is undefined.
type jsonScanner struct {
	b     []byte
	i     int
	depth int
}

// validJSON is json.Valid(b), read with a jsonScanner.
func validJSON(b []byte) bool {
	s := jsonScanner{b: b}
	s.ws()
	if !s.value() {
		return false
	}
	s.ws()
	return s.i == len(b)
}

func (s *jsonScanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// value reads one value and the white space before it.
func (s *jsonScanner) value() bool {
	s.ws()
	if s.i >= len(s.b) {
		return false
	}
	switch c := s.b[s.i]; {
	case c == '"':
		_, _, ok := s.str()
		return ok
	case c == '{':
		return s.object(func([]byte, bool) bool { return s.value() })
	case c == '[':
		return s.array()
	case c == '-' || c >= '0' && c <= '9':
		_, ok := s.number()
		return ok
	case c == 't':
		return s.literal("true")
	case c == 'f':
		return s.literal("false")
	case c == 'n':
		return s.literal("null")
	}
	return false
}

func (s *jsonScanner) literal(lit string) bool {
	if !bytes.HasPrefix(s.b[s.i:], []byte(lit)) {
		return false
	}
	s.i += len(lit)
	return true
}

// object reads the object at b[i]; member is called with each key (its
// raw content, and whether it holds an escape) with i at the start of the
// member's value (white space skipped), and must read that value.
func (s *jsonScanner) object(member func(key []byte, escaped bool) bool) bool {
	more, ok := s.open('}')
	for ok && more {
		if s.i >= len(s.b) || s.b[s.i] != '"' {
			return false
		}
		key, escaped, valid := s.str()
		if !valid {
			return false
		}
		s.ws()
		if s.i >= len(s.b) || s.b[s.i] != ':' {
			return false
		}
		s.i++
		s.ws()
		if !member(key, escaped) {
			return false
		}
		more, ok = s.next('}')
	}
	return ok
}

func (s *jsonScanner) array() bool {
	more, ok := s.open(']')
	for ok && more {
		if !s.value() {
			return false
		}
		more, ok = s.next(']')
	}
	return ok
}

// open enters the object or array at b[i], whose closing byte is end:
// more is false when it is empty (and read whole).
func (s *jsonScanner) open(end byte) (more, ok bool) {
	if s.depth++; s.depth > maxNestingDepth {
		return false, false
	}
	s.i++ // '{' or '['
	s.ws()
	if s.i < len(s.b) && s.b[s.i] == end {
		s.i++
		s.depth--
		return false, true
	}
	return true, true
}

// next reads what follows an element of the object or array closed by
// end: a ',' (more is true, white space after it skipped) or end.
func (s *jsonScanner) next(end byte) (more, ok bool) {
	s.ws()
	if s.i >= len(s.b) {
		return false, false
	}
	switch s.b[s.i] {
	case ',':
		s.i++
		s.ws()
		return true, true
	case end:
		s.i++
		s.depth--
		return false, true
	}
	return false, false
}

// plainBytes marks the bytes a string holds as they are: any from 0x20
// on but '"' and '\\'.
var plainBytes = func() (t [256]bool) {
	for c := 0x20; c < 256; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// str reads the string at b[i] (a '"'): its raw content, and whether it
// holds an escape.
func (s *jsonScanner) str() (content []byte, escaped, ok bool) {
	start := s.i + 1
	i := start
	for {
		for i < len(s.b) && plainBytes[s.b[i]] {
			i++
		}
		if i >= len(s.b) {
			return nil, false, false
		}
		switch s.b[i] {
		case '"':
			s.i = i + 1
			return s.b[start:i], escaped, true
		case '\\':
			escaped = true
			if i+1 >= len(s.b) {
				return nil, false, false
			}
			switch s.b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+6 > len(s.b) {
					return nil, false, false
				}
				for _, h := range s.b[i+2 : i+6] {
					if !('0' <= h && h <= '9' || 'a' <= h && h <= 'f' || 'A' <= h && h <= 'F') {
						return nil, false, false
					}
				}
				i += 6
			default:
				return nil, false, false
			}
		default: // a control character
			return nil, false, false
		}
	}
}

// number reads the number at b[i]: its text.
func (s *jsonScanner) number() ([]byte, bool) {
	b, start := s.b, s.i
	i := start
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && b[i] >= '1' && b[i] <= '9':
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
	default:
		return nil, false
	}
	if i < len(b) && b[i] == '.' {
		i++
		if i >= len(b) || b[i] < '0' || b[i] > '9' {
			return nil, false
		}
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if i >= len(b) || b[i] < '0' || b[i] > '9' {
			return nil, false
		}
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
	}
	s.i = i
	return b[start:i], true
}

// plainString reads a string value that reads as is: no escape, valid
// UTF-8. False for anything else (another type, an escape), valid or not.
func (s *jsonScanner) plainString() ([]byte, bool) {
	if s.i >= len(s.b) || s.b[s.i] != '"' {
		return nil, false
	}
	content, escaped, ok := s.str()
	if !ok || escaped || !utf8.Valid(content) {
		return nil, false
	}
	return content, true
}

// integer reads a number value that json.Unmarshal stores in an int64
// (strconv.ParseInt of its text). False for anything else.
func (s *jsonScanner) integer() (int64, bool) {
	if s.i >= len(s.b) || (s.b[s.i] != '-' && (s.b[s.i] < '0' || s.b[s.i] > '9')) {
		return 0, false
	}
	text, ok := s.number()
	if !ok {
		return 0, false
	}
	return parseInt64(text)
}

// parseInt64 is strconv.ParseInt(string(b), 10, 64) for a JSON number,
// without the string: ok is false for a fraction, an exponent or an
// overflow, as json.Unmarshal into an int64 refuses them.
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
