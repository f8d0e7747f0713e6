package calls

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
)

// This file is the session policy: which fields of a call's session are
// the server's to decide, how a session the upstream reports is compared
// with the server's, and the client event that puts the server's values
// back.

// Policy is what the controller does when a call's session no longer
// matches the server's (SESSION_POLICY).
type Policy string

// Policies.
const (
	// PolicyRevert puts the server's values back through the sideband and
	// hangs up only if that fails (not confirmed within RevertWithin, or
	// refused) or the client keeps trying (MaxViolations).
	PolicyRevert Policy = "revert"
	// PolicyHangup hangs the call up at the first change.
	PolicyHangup Policy = "hangup"
)

// lockedFields are, per kind, the dotted paths of the session fields the
// policy holds to the server's values.
var lockedFields = map[Kind][]string{
	KindRealtime: {"model", "instructions", "tools", "tool_choice", "max_output_tokens",
		"audio.output.voice", "audio.input.turn_detection", "prompt"},
	// A Live session's model, instructions and voice cannot change once it
	// started, and its data-channel allowlist keeps the browser from even
	// asking; delegation is the one thing a session.update may change.
	KindLive: {"model", "instructions", "audio.output.voice", "client.data_channel", "delegation"},
}

// revertible are the locked fields a session.update may set, per kind.
var revertible = map[Kind]map[string]bool{
	KindRealtime: {"instructions": true, "tools": true, "tool_choice": true, "max_output_tokens": true,
		"audio.output.voice": true, "audio.input.turn_detection": true, "prompt": true},
	KindLive: {"delegation": true},
}

// reference is the server's session of one call as the policy holds it:
// the locked fields the server's session states, and, for those it leaves
// to OpenAI's defaults, the values the upstream reported when the call
// started (learned from session.created / session.started, which precede
// anything a client can send, since the sideband attaches before the
// browser gets its SDP answer).
type reference struct {
	kind     Kind
	explicit map[string]any
	learned  map[string]any
}

// Locks is the server's session of one call as the policy holds it: the
// locked fields, how a session the upstream reports is compared with them,
// and the client event that puts them back. NewLocks is the policy's own;
// a ServerSessions may give another (the session file's Realtime locks).
type Locks interface {
	// Learn takes the session the upstream reported when the call started
	// (session.created / session.started), before any client could change
	// it: the values of the locked fields the server's session leaves to
	// OpenAI's defaults.
	Learn(session map[string]any)
	// Check compares a session the upstream reports with the server's: the
	// locked fields it changed, and the client event (a session.update
	// without event_id) that puts all of them back, or nil when some
	// cannot be put back (a model).
	Check(session map[string]any) (changed []string, revert []byte)
	// Assert is the client event that sets every locked field that can be
	// set (after a late attach: nobody watched the session meanwhile), or
	// nil.
	Assert() []byte
}

// NewLocks is the policy's Locks for a call of kind created with session
// (its JSON): the fields of lockedFields the session states, compared on
// what it states, and the others learned from the call's start.
func NewLocks(kind Kind, session json.RawMessage) (Locks, error) {
	r, err := newReference(kind, session)
	if err != nil {
		return nil, err
	}
	return r, nil
}

// Learn implements Locks.
func (r *reference) Learn(session map[string]any) { r.learn(session) }

// Check implements Locks.
func (r *reference) Check(session map[string]any) ([]string, []byte) {
	changed := r.changed(session)
	if len(changed) == 0 {
		return nil, nil
	}
	revert, all := r.revert(changed, "")
	if !all {
		return changed, nil
	}
	return changed, revert
}

// Assert implements Locks.
func (r *reference) Assert() []byte { return r.reassert("") }

// newReference decodes the server's session of a call of kind.
func newReference(kind Kind, session json.RawMessage) (*reference, error) {
	var m map[string]any
	if err := json.Unmarshal(session, &m); err != nil {
		return nil, fmt.Errorf("calls: the server's session is not a JSON object: %w", err)
	}
	r := &reference{kind: kind, explicit: map[string]any{}, learned: map[string]any{}}
	for _, p := range lockedFields[kind] {
		if v, ok := lookup(m, p); ok {
			r.explicit[p] = v
		}
	}
	return r, nil
}

// learn records, for every locked field the server's session leaves
// unset, the value the upstream's first session (session.created or
// session.started) reports.
func (r *reference) learn(session map[string]any) {
	for _, p := range lockedFields[r.kind] {
		if _, ok := r.explicit[p]; ok {
			continue
		}
		if _, ok := r.learned[p]; ok {
			continue
		}
		if v, ok := lookup(session, p); ok {
			r.learned[p] = v
		}
	}
}

// want returns the locked value of field p, if the policy knows one.
func (r *reference) want(p string) (any, bool) {
	if v, ok := r.explicit[p]; ok {
		return v, true
	}
	v, ok := r.learned[p]
	return v, ok
}

// changed returns the locked fields whose value in session differs from
// the server's. An object the server states is compared on the members it
// states (OpenAI fills in the others); anything else must be equal.
func (r *reference) changed(session map[string]any) []string {
	var out []string
	for _, p := range lockedFields[r.kind] {
		want, ok := r.want(p)
		if !ok {
			continue
		}
		got, _ := lookup(session, p)
		if !matches(want, got) {
			out = append(out, p)
		}
	}
	return out
}

// revert returns the client event that puts fields back to the server's
// values, and whether all of them can be put back.
func (r *reference) revert(fields []string, eventID string) ([]byte, bool) {
	session := map[string]any{}
	if r.kind == KindRealtime {
		session["type"] = "realtime"
	}
	all := true
	n := 0
	for _, p := range fields {
		want, ok := r.want(p)
		if !ok || !revertible[r.kind][p] {
			all = false
			continue
		}
		set(session, p, want)
		n++
	}
	if n == 0 {
		return nil, false
	}
	ev := map[string]any{"type": "session.update", "session": session}
	if eventID != "" {
		ev["event_id"] = eventID
	}
	b, err := json.Marshal(ev)
	if err != nil {
		return nil, false
	}
	return b, all
}

// reassert returns the client event that sets every revertible locked
// field the server's session states, or nil when there is none.
func (r *reference) reassert(eventID string) []byte {
	var fields []string
	for _, p := range lockedFields[r.kind] {
		if _, ok := r.explicit[p]; ok && revertible[r.kind][p] {
			fields = append(fields, p)
		}
	}
	if len(fields) == 0 {
		return nil
	}
	b, _ := r.revert(fields, eventID)
	return b
}

// matches reports whether got holds want: for an object, every member of
// want matches got's; for anything else, deep equality of the decoded JSON.
func matches(want, got any) bool {
	if w, ok := want.(map[string]any); ok {
		g, ok := got.(map[string]any)
		if !ok {
			return false
		}
		for k, v := range w {
			if !matches(v, g[k]) {
				return false
			}
		}
		return true
	}
	return reflect.DeepEqual(want, got)
}

// lookup returns the value at the dotted path p of m.
func lookup(m map[string]any, p string) (any, bool) {
	var cur any = m
	for part := range strings.SplitSeq(p, ".") {
		o, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = o[part]; !ok {
			return nil, false
		}
	}
	return cur, true
}

// set puts v at the dotted path p of m, creating the objects on the way.
func set(m map[string]any, p string, v any) {
	parts := strings.Split(p, ".")
	for _, part := range parts[:len(parts)-1] {
		next, ok := m[part].(map[string]any)
		if !ok {
			next = map[string]any{}
			m[part] = next
		}
		m = next
	}
	m[parts[len(parts)-1]] = v
}

// withEventID returns the client event ev with its event_id set to id, or
// nil when ev is not a JSON object.
func withEventID(ev []byte, id string) []byte {
	var m map[string]any
	if json.Unmarshal(ev, &m) != nil || m == nil {
		return nil
	}
	m["event_id"] = id
	b, err := json.Marshal(m)
	if err != nil {
		return nil
	}
	return b
}
