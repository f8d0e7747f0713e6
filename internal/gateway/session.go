package gateway

import (
	"encoding/json"
	"fmt"
	"slices"

	"github.com/rtgate/rtgate/internal/calls"
	"github.com/rtgate/rtgate/internal/openai"
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

// LiveClientEvents are the only client events a browser may send on a
// GPT-Live session's data channel (client.data_channel.allowed_client_events):
// muting and unmuting its microphone and closing the session. Everything
// that would change what the model does (session.update,
// session.instructions.append and the other appends, response.create,
// decisions) is the server's, through its sideband.
var LiveClientEvents = []string{"session.input_audio.mute", "session.input_audio.unmute", "session.close"}

// realtimeCall is the server's session of a Realtime call running model
// (with the server's voice): mintParams, rendered from the session file
// when there is one.
func (s SessionPolicy) realtimeCall(model string) (openai.MintParams, error) {
	return s.mintParams(model, s.Voice)
}

// liveSession is the server's session of a GPT-Live session: rendered from
// the session file when there is one, else LiveSession with the
// LiveClientEvents allowlist. Its Model is the model the session runs.
func (s SessionPolicy) liveSession() openai.LiveParams {
	l := s.Live
	p := openai.LiveParams{Model: l.Model, Voice: l.Voice, Instructions: l.Instructions, AllowedClientEvents: slices.Clone(LiveClientEvents)}
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
// sideband policy holds it (calls.ServerSessions): the JSON the call was
// created with.
type ServerSessions struct{ Policy SessionPolicy }

// ServerSession implements calls.ServerSessions.
func (ss ServerSessions) ServerSession(c calls.Call) (json.RawMessage, error) {
	switch c.Kind {
	case calls.KindRealtime:
		p, err := ss.Policy.realtimeCall(c.Model)
		if err != nil {
			return nil, err
		}
		return openai.SessionJSON(p)
	case calls.KindLive:
		return openai.LiveSessionJSON(ss.Policy.liveSession())
	}
	return nil, fmt.Errorf("no server session for calls of kind %q", c.Kind)
}
