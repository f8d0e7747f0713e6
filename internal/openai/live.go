package openai

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
)

// LiveParams is the server-built configuration of one GPT-Live session.
type LiveParams struct {
	// Model is the Live model (LIVE_MODEL), for example gpt-live-1.
	Model string
	// Voice is audio.output.voice; "" leaves OpenAI's default (marin).
	Voice string
	// Instructions are the session's instructions; "" leaves OpenAI's
	// default. They cannot change once the session started.
	Instructions string
	// AllowedClientEvents is client.data_channel.allowed_client_events:
	// the only client events the browser may send on its data channel.
	// nil sends nothing, which OpenAI reads as "all".
	AllowedClientEvents []string
	// Session, when set, is the whole MediaSessionConfig to send (rendered
	// by sessioncfg from the environment and SESSION_CONFIG_FILE); the
	// fields above then only describe it.
	Session json.RawMessage
}

type liveSession struct {
	Model        string            `json:"model"`
	Instructions string            `json:"instructions,omitempty"`
	Audio        *audioConfig      `json:"audio,omitempty"`
	Client       *liveClientConfig `json:"client,omitempty"`
}

type liveClientConfig struct {
	DataChannel struct {
		AllowedClientEvents []string `json:"allowed_client_events"`
	} `json:"data_channel"`
}

// LiveSessionJSON is the MediaSessionConfig for p, as sent in "session" to
// POST /live/sessions: p.Session when set, else built from p's fields.
func LiveSessionJSON(p LiveParams) ([]byte, error) {
	if p.Session != nil {
		return p.Session, nil
	}
	s := liveSession{Model: p.Model, Instructions: p.Instructions}
	if p.Voice != "" {
		s.Audio = &audioConfig{}
		s.Audio.Output.Voice = p.Voice
	}
	if p.AllowedClientEvents != nil {
		s.Client = &liveClientConfig{}
		s.Client.DataChannel.AllowedClientEvents = p.AllowedClientEvents
	}
	return json.Marshal(s)
}

type liveCreateRequest struct {
	Session   json.RawMessage `json:"session"`
	Transport liveTransport   `json:"transport"`
}

type liveTransport struct {
	Type string `json:"type"`
	SDP  string `json:"sdp"`
}

type liveCreateResponse struct {
	Session struct {
		ID string `json:"id"`
	} `json:"session"`
	Transport liveTransport `json:"transport"`
}

// CreateLive starts a GPT-Live WebRTC session: POST /live/sessions with the
// server-built session and the browser's SDP offer, answered 201 with the
// session id and the SDP answer. Every create places a call and is billed
// (15 s at initialization), so once the request may have reached OpenAI it
// is never retried: only a connection that failed before sending, and a
// 429 (refused before acting), are. It goes through the same queue,
// breaker and key ring as the other calls.
func (c *Client) CreateLive(ctx context.Context, offer string, p LiveParams) (*Call, error) {
	sess, err := LiveSessionJSON(p)
	if err != nil {
		return nil, err
	}
	body, err := json.Marshal(liveCreateRequest{Session: sess, Transport: liveTransport{Type: "webrtc", SDP: offer}})
	if err != nil {
		return nil, err
	}
	var call *Call
	err = c.call(ctx, request{
		method: http.MethodPost, path: "/live/sessions", body: body,
		header: http.Header{"Content-Type": {"application/json"}, "Accept": {"application/json"}},
	}, func(resp *http.Response, raw []byte) (string, error) {
		if resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusOK {
			return OutcomeBadResponse, fmt.Errorf("%w: status %d", ErrBadResponse, resp.StatusCode)
		}
		var lr liveCreateResponse
		if err := json.Unmarshal(raw, &lr); err != nil {
			return OutcomeBadResponse, fmt.Errorf("%w: %v", ErrBadResponse, err)
		}
		if !callIDPattern.MatchString(lr.Session.ID) || lr.Transport.SDP == "" {
			return OutcomeBadResponse, fmt.Errorf("%w: no session id or empty answer", ErrBadResponse)
		}
		call = &Call{ID: lr.Session.ID, Answer: lr.Transport.SDP}
		return OutcomeOK, nil
	})
	if err != nil {
		return nil, err
	}
	return call, nil
}
