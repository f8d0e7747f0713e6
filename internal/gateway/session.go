package gateway

import (
	"encoding/json"
	"fmt"
	"slices"

	"github.com/rtgate/rtgate/internal/calls"
	"github.com/rtgate/rtgate/internal/openai"
	"github.com/rtgate/rtgate/internal/sessioncfg"
)

// This file is the server's session of every proxied call: one function per
// kind builds it from the SessionPolicy, and both the upstream create and
// the sideband policy (ServerSessions) use that function, so what a call is
// held to is exactly what it was created with.

// LiveSession is the server's GPT-Live configuration (LIVE_MODEL,
// LIVE_VOICE, LIVE_INSTRUCTIONS).
type LiveSession struct {
	Model        string
	Voice        string
	Instructions string
}

// realtimeCall is the server's session of a Realtime call running model
// (with the server's voice): mintParams, rendered from the session file
// when there is one.
func (s SessionPolicy) realtimeCall(model string) (openai.MintParams, error) {
	return s.mintParams(model, s.Voice)
}

// liveSession is the server's session of a GPT-Live session: rendered from
// the session file when there is one, else LiveSession with the
// allowlist sessioncfg.DefaultLiveClientEvents (mute, unmute, close: the
// browser cannot change the session). Its Model is the model the session
// runs.
func (s SessionPolicy) liveSession() openai.LiveParams {
	l := s.Live
	p := openai.LiveParams{Model: l.Model, Voice: l.Voice, Instructions: l.Instructions, AllowedClientEvents: slices.Clone(sessioncfg.DefaultLiveClientEvents)}
	if s.Sessions != nil {
		p.Session = s.Sessions.Live()
		var m struct {
			Model string `json:"model"`
		}
		if json.Unmarshal(p.Session, &m) == nil && m.Model != "" {
			p.Model = m.Model
		}
	}
	return p
}

// ServerSessions is the server's session of each proxied call, as the
// sideband policy holds it (calls.ServerSessions), made from the JSON the
// call is created with: for a Realtime call with the session file in
// force, sessioncfg's locks (OpenAI's documented defaults locked too, a
// dated model snapshot taken for its alias, tools compared as a set);
// otherwise calls.NewLocks.
type ServerSessions struct{ Policy SessionPolicy }

// Locks implements calls.ServerSessions.
func (ss ServerSessions) Locks(c calls.Call) (calls.Locks, error) {
	switch c.Kind {
	case calls.KindRealtime:
		p, err := ss.Policy.realtimeCall(c.Model)
		if err != nil {
			return nil, err
		}
		b, err := openai.SessionJSON(p)
		if err != nil {
			return nil, err
		}
		if ss.Policy.Sessions == nil {
			return calls.NewLocks(c.Kind, b)
		}
		l, err := sessioncfg.LocksOf(b)
		if err != nil {
			return nil, err
		}
		return fileLocks{l}, nil
	case calls.KindLive:
		b, err := openai.LiveSessionJSON(ss.Policy.liveSession())
		if err != nil {
			return nil, err
		}
		return calls.NewLocks(c.Kind, b)
	}
	return nil, fmt.Errorf("no server session for calls of kind %q", c.Kind)
}

// fileLocks are a Realtime call's locks from the session file
// (sessioncfg.Locks) as calls.Locks. Every locked field has a known value,
// so there is nothing to learn; a model cannot be put back.
type fileLocks struct{ l *sessioncfg.Locks }

func (fileLocks) Learn(map[string]any) {}

func (f fileLocks) Check(session map[string]any) ([]string, []byte) {
	b, err := json.Marshal(session)
	if err != nil {
		return nil, nil
	}
	d, err := f.l.Check(b)
	if err != nil || len(d.Fields) == 0 {
		return nil, nil
	}
	if slices.Contains(d.Fields, "model") {
		return d.Fields, nil
	}
	return d.Fields, d.Update
}

func (f fileLocks) Assert() []byte {
	d, err := f.l.Check([]byte(`{}`)) // every locked field
	if err != nil || d.Update == nil {
		return nil
	}
	var ev struct {
		Type    string         `json:"type"`
		Session map[string]any `json:"session"`
	}
	if json.Unmarshal(d.Update, &ev) != nil {
		return nil
	}
	delete(ev.Session, "model") // fixed for the call's life
	b, _ := json.Marshal(ev)
	return b
}
