package sessioncfg

import (
	"bytes"
	"encoding/json"
	"errors"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// Locks is the part of a running Realtime session that belongs to the
// server: every field the server's session sets, plus the fields below,
// which are locked to OpenAI's documented defaults when the server leaves
// them unset. A browser can change any of them with session.update
// (OpenAI offers no way to lock a field); a sideband compares each
// session.updated against Locks and puts the server's values back.
//
// Comparison rules, chosen so OpenAI's own echo never reads as a change:
//   - null, absent, "", [] and {} are the same (an empty value);
//   - numbers compare by value (1, 1.0 and 1e0 are equal);
//   - model may come back as a dated snapshot of the alias sent
//     ("gpt-realtime-2.1" → "gpt-realtime-2.1-2026-05-07");
//   - tools compare as a set: order does not matter, but each tool must
//     match exactly (a member the server did not send must be empty);
//   - audio.input.format, transcription, noise_reduction, turn_detection,
//     audio.output.format, reasoning, tracing and truncation compare the
//     members the server set; OpenAI fills in the others with its
//     defaults, so a member the server left unset is not locked;
//   - everything else compares exactly.
//
// Locks is immutable and safe for concurrent use.
type Locks struct {
	fields []lockedField
}

// lockedDefaults are locked even when the server's session leaves them
// unset, at OpenAI's documented defaults: they change what a session may do
// or cost.
var lockedDefaults = []struct {
	path []string
	want any
}{
	{[]string{"output_modalities"}, []any{"audio"}},
	{[]string{"tools"}, []any{}},
	{[]string{"tool_choice"}, "auto"},
	{[]string{"max_output_tokens"}, "inf"},
	{[]string{"prompt"}, nil},
	{[]string{"tracing"}, nil},
	{[]string{"truncation"}, "auto"},
	{[]string{"audio", "input", "transcription"}, nil},
}

// subsetFields compare only the members the server set.
var subsetFields = []string{"audio.input.format", "audio.input.transcription", "audio.input.noise_reduction",
	"audio.input.turn_detection", "audio.output.format", "reasoning", "tracing", "truncation"}

type matchKind int

const (
	matchExact matchKind = iota
	matchSubset
	matchSet   // an array compared as a multiset of exact items
	matchModel // a model alias or its dated snapshot
)

type lockedField struct {
	name string
	path []string
	want any
	kind matchKind
}

// Locked is one locked field: its dotted name and the server's value.
type Locked struct {
	Field string
	Value json.RawMessage
}

// Drift is what Check found: the locked fields a session changed, and the
// client event that puts them back.
type Drift struct {
	// Fields names the changed fields ("instructions", "tools",
	// "audio.output.voice", ...) in the order of Locks.Fields.
	Fields []string
	// Update is a session.update client event setting exactly the changed
	// fields to the server's values; nil when nothing changed.
	Update json.RawMessage
}

// Locks is the locked fields of a Realtime session rendered by Realtime
// with model and voice.
func (c *Config) Locks(model, voice string) *Locks {
	return newLocks(c.realtimeSession(model, voice))
}

// LocksOf is the locked fields of session, a Realtime session object as
// rtgate sent it upstream (Config.Realtime's output). Use it to keep
// enforcing the session a call was created with after a reload.
func LocksOf(session []byte) (*Locks, error) {
	v, err := decodeStrict(session)
	if err != nil {
		return nil, err
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, errors.New("the session is not a JSON object")
	}
	return newLocks(m), nil
}

func newLocks(sess map[string]any) *Locks {
	l := &Locks{}
	add := func(path []string, want any) {
		name := strings.Join(path, ".")
		if slices.ContainsFunc(l.fields, func(f lockedField) bool { return f.name == name }) {
			return
		}
		kind := matchExact
		switch {
		case name == "model":
			kind = matchModel
		case name == "tools":
			kind = matchSet
		case slices.Contains(subsetFields, name):
			kind = matchSubset
		}
		l.fields = append(l.fields, lockedField{name: name, path: path, want: want, kind: kind})
	}
	for _, k := range sortedKeys(sess) {
		switch k {
		case "type":
		case "audio":
			audio, _ := sess[k].(map[string]any)
			for _, dir := range sortedKeys(audio) {
				sub, _ := audio[dir].(map[string]any)
				for _, f := range sortedKeys(sub) {
					add([]string{"audio", dir, f}, sub[f])
				}
			}
		default:
			add([]string{k}, sess[k])
		}
	}
	for _, d := range lockedDefaults {
		add(d.path, d.want)
	}
	return l
}

// Fields lists the locked fields with the server's values, by name.
func (l *Locks) Fields() []Locked {
	out := make([]Locked, 0, len(l.fields))
	for _, f := range l.fields {
		b, _ := json.Marshal(f.want)
		out = append(out, Locked{Field: f.name, Value: b})
	}
	return out
}

// Check compares a session as OpenAI reports it (the "session" object of a
// session.created or session.updated event, or the whole event) with the
// server's values. An error means observed is not a session object.
func (l *Locks) Check(observed []byte) (Drift, error) {
	dec := json.NewDecoder(bytes.NewReader(observed))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return Drift{}, err
	}
	sess, ok := v.(map[string]any)
	if !ok {
		return Drift{}, errors.New("the session is not a JSON object")
	}
	if t, _ := sess["type"].(string); strings.HasPrefix(t, "session.") {
		if sess, ok = sess["session"].(map[string]any); !ok {
			return Drift{}, errors.New("the event has no session object")
		}
	}
	var d Drift
	update := map[string]any{"type": "realtime"}
	for _, f := range l.fields {
		got, present := lookup(sess, f.path)
		if f.matches(got, present) {
			continue
		}
		d.Fields = append(d.Fields, f.name)
		set(update, f.path, f.want)
	}
	if len(d.Fields) == 0 {
		return d, nil
	}
	var err error
	d.Update, err = json.Marshal(map[string]any{"type": "session.update", "session": update})
	return d, err
}

func lookup(m map[string]any, path []string) (any, bool) {
	var cur any = m
	for _, p := range path {
		mm, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = mm[p]; !ok {
			return nil, false
		}
	}
	return cur, true
}

func set(m map[string]any, path []string, v any) {
	for _, p := range path[:len(path)-1] {
		next, ok := m[p].(map[string]any)
		if !ok {
			next = map[string]any{}
			m[p] = next
		}
		m = next
	}
	m[path[len(path)-1]] = v
}

var snapshotSuffix = regexp.MustCompile(`^-\d{4}-\d{2}-\d{2}$`)

func (f lockedField) matches(got any, present bool) bool {
	if !present {
		got = nil
	}
	switch f.kind {
	case matchModel:
		want, _ := f.want.(string)
		g, ok := got.(string)
		return ok && (g == want || strings.HasPrefix(g, want) && snapshotSuffix.MatchString(g[len(want):]))
	case matchSet:
		return sameSet(f.want, got)
	case matchSubset:
		return subset(f.want, got)
	}
	return canon(f.want) == canon(got)
}

// sameSet compares two arrays as multisets of exact items.
func sameSet(want, got any) bool {
	if empty(want) || empty(got) {
		return empty(want) && empty(got)
	}
	wa, ok1 := want.([]any)
	ga, ok2 := got.([]any)
	if !ok1 || !ok2 || len(wa) != len(ga) {
		return false
	}
	ws, gs := make([]string, len(wa)), make([]string, len(ga))
	for i := range wa {
		ws[i], gs[i] = canon(wa[i]), canon(ga[i])
	}
	slices.Sort(ws)
	slices.Sort(gs)
	return slices.Equal(ws, gs)
}

// subset reports whether every member want sets has the same value in got;
// members only got has are ignored. Arrays compare item by item.
func subset(want, got any) bool {
	switch w := want.(type) {
	case map[string]any:
		if len(w) == 0 {
			return empty(got)
		}
		g, ok := got.(map[string]any)
		if !ok {
			return false
		}
		for k, wv := range w {
			if !subset(wv, g[k]) {
				return false
			}
		}
		return true
	case []any:
		g, ok := got.([]any)
		if len(w) == 0 || !ok {
			return empty(want) && empty(got)
		}
		if len(w) != len(g) {
			return false
		}
		for i := range w {
			if !subset(w[i], g[i]) {
				return false
			}
		}
		return true
	}
	return canon(want) == canon(got)
}

// empty reports whether v is null, "", [] or {}.
func empty(v any) bool {
	switch x := v.(type) {
	case nil:
		return true
	case string:
		return x == ""
	case []any:
		return len(x) == 0
	case map[string]any:
		return len(x) == 0
	}
	return false
}

// canon is a canonical text of v: members in key order, empty values as
// null and empty members dropped, numbers as exact fractions.
func canon(v any) string {
	var b strings.Builder
	writeCanon(&b, v)
	return b.String()
}

func writeCanon(b *strings.Builder, v any) {
	if empty(v) {
		b.WriteString("null")
		return
	}
	switch x := v.(type) {
	case string:
		b.WriteString(strconv.Quote(x))
	case bool:
		b.WriteString(strconv.FormatBool(x))
	case []any:
		b.WriteByte('[')
		for i, e := range x {
			if i > 0 {
				b.WriteByte(',')
			}
			writeCanon(b, e)
		}
		b.WriteByte(']')
	case map[string]any:
		b.WriteByte('{')
		first := true
		for _, k := range sortedKeys(x) {
			if empty(x[k]) {
				continue
			}
			if !first {
				b.WriteByte(',')
			}
			first = false
			b.WriteString(strconv.Quote(k))
			b.WriteByte(':')
			writeCanon(b, x[k])
		}
		b.WriteByte('}')
	default:
		if r, ok := numberRat(x); ok {
			b.WriteString("#" + r.RatString())
			return
		}
		b.WriteString("?")
	}
}
