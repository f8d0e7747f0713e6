package openai

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/coder/websocket"
)

// This file is the sideband: the server-side WebSocket OpenAI offers on a
// running call (Realtime: GET /realtime?call_id=…; GPT-Live:
// GET /live/sessions/{id}/attach), opened with the server key. It sees
// every server event of the call and may send client events.
//
// It is written on coder/websocket rather than openai-go's sideband clients
// (live.SidebandService, realtime with call_id), which would fit (base URL,
// per-request key and HTTP client are options) but cost: linking openai-go's
// live and realtime packages adds about 18 MB to a stripped binary (24.6 MB
// for a program that only opens both sidebands, against 6.1 MB on
// coder/websocket, which the simulator already uses), and rtgate reads a
// handful of fields of raw JSON events and sends two kinds of event, so the
// SDK's typed unions would be decoded only to be ignored. The simulator's
// tests use the SDK as a client to prove the wire format is OpenAI's.

// SidebandKind names the API of a sideband.
type SidebandKind string

// Sideband kinds.
const (
	// SidebandRealtime is a Realtime call's sideband (call id rtc_…).
	SidebandRealtime SidebandKind = "realtime"
	// SidebandLive is a GPT-Live session's sideband (session id live_…),
	// attached with graceful_close=false: closing it never ends the
	// session, so a lost connection is not a hang-up.
	SidebandLive SidebandKind = "live"
)

// Sideband limits.
const (
	// SidebandReadLimit bounds one server event (a session.updated with
	// 16,384 tokens of instructions and tools is well under it).
	SidebandReadLimit = 4 << 20
	// sidebandWriteTimeout bounds one client event write.
	sidebandWriteTimeout = 10 * time.Second
)

// sidebandClient returns the HTTP client for sideband handshakes: hc's
// transport (TLS configuration, proxy, dialer) without its per-host
// connection cap, since an upgraded connection keeps its slot for as long
// as it is open and the REST calls must never wait behind sidebands.
func sidebandClient(hc *http.Client) *http.Client {
	t, ok := hc.Transport.(*http.Transport)
	if !ok {
		return hc
	}
	t = t.Clone()
	t.MaxConnsPerHost = 0
	return &http.Client{Transport: t}
}

// sidebandPath is the path and query of the sideband of the call id.
func sidebandPath(kind SidebandKind, id string) (string, error) {
	if !callIDPattern.MatchString(id) {
		return "", errors.New("invalid call id")
	}
	switch kind {
	case SidebandRealtime:
		return "/realtime?call_id=" + url.QueryEscape(id), nil
	case SidebandLive:
		return "/live/sessions/" + id + "/attach?graceful_close=false", nil
	}
	return "", fmt.Errorf("unknown sideband kind %q", kind)
}

// Sideband is one open sideband connection. Read and Write may be used by
// one reader and one writer at a time; Close may be called at any time.
type Sideband struct {
	conn *websocket.Conn
}

// DialSideband attaches to the sideband of the upstream call id with the
// active key, failing over to the other key on 401/403 as the REST calls
// do. It does not queue and does not consult the circuit breaker: a
// sideband controls a call that already exists (and costs money), and
// holds its connection for the call's whole life. ctx bounds the
// handshake only. A refusal is a *StatusError (404: the upstream no longer
// knows the call).
func (c *Client) DialSideband(ctx context.Context, kind SidebandKind, id string) (*Sideband, error) {
	p, err := sidebandPath(kind, id)
	if err != nil {
		return nil, err
	}
	return c.dialSideband(ctx, p)
}

func (c *Client) dialSideband(ctx context.Context, path string) (*Sideband, error) {
	tried := map[string]bool{}
	k := c.keys.pick()
	for {
		tried[k.value] = true
		start := c.now()
		conn, outcome, err := c.handshake(ctx, path, k.value)
		if next, refused := c.observeAttempt(k, tried, true, outcome, err, c.now().Sub(start)); refused {
			if next.value == "" {
				return nil, err
			}
			k = next
			continue
		}
		if err != nil {
			return nil, err
		}
		conn.SetReadLimit(SidebandReadLimit)
		return &Sideband{conn: conn}, nil
	}
}

// handshake opens one WebSocket to path with key.
func (c *Client) handshake(ctx context.Context, path, key string) (*websocket.Conn, string, error) {
	// The key as Azure OpenAI wants it (api-key) or as OpenAI does.
	h := http.Header{"Authorization": {"Bearer " + key}}
	if c.azure {
		h = http.Header{"Api-Key": {key}}
	}
	conn, resp, err := websocket.Dial(ctx, c.base+path, &websocket.DialOptions{HTTPClient: c.ws, HTTPHeader: h})
	if err == nil {
		return conn, OutcomeOK, nil
	}
	if resp != nil && resp.StatusCode != http.StatusSwitchingProtocols {
		raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
		return nil, statusOutcome(resp.StatusCode), statusError(resp, raw, c.now())
	}
	outcome, cerr := classify(ctx, err)
	return nil, outcome, cerr
}

// Read returns the next server event (a JSON text message); binary messages
// are skipped. Any error means the sideband is gone.
func (s *Sideband) Read(ctx context.Context) ([]byte, error) {
	for {
		typ, b, err := s.conn.Read(ctx)
		if err != nil {
			return nil, err
		}
		if typ == websocket.MessageText {
			return b, nil
		}
	}
}

// Write sends one client event (JSON), within ctx and at most ten seconds.
func (s *Sideband) Write(ctx context.Context, event []byte) error {
	ctx, cancel := context.WithTimeout(ctx, sidebandWriteTimeout)
	defer cancel()
	return s.conn.Write(ctx, websocket.MessageText, event)
}

// Close closes the connection normally. For a Live sideband (attached with
// graceful_close=false) and a Realtime one alike, the call goes on.
func (s *Sideband) Close() error {
	return s.conn.Close(websocket.StatusNormalClosure, "")
}

// CloseStatus is the close code the peer sent when err (from Read) is a
// WebSocket close, else -1.
func CloseStatus(err error) int { return int(websocket.CloseStatus(err)) }

// EndLive ends the GPT-Live WebRTC session id the documented way: it
// attaches a sideband, sends session.close and waits for session.closed
// (or the upstream closing the socket). OpenAI documents
// POST /live/sessions/{id}/hangup for SIP calls only, so rtgate does not
// rely on it for WebRTC sessions. It goes through the breaker, the queue
// and the key ring like the REST calls, within UPSTREAM_TIMEOUT_MS. A
// session the upstream no longer knows is a *StatusError with status 404.
func (c *Client) EndLive(ctx context.Context, id string) error {
	p, err := sidebandPath(SidebandLive, id)
	if err != nil {
		return err
	}
	return c.gate(ctx, func(ctx context.Context) error {
		sb, err := c.dialSideband(ctx, p)
		if err != nil {
			return err
		}
		defer sb.conn.CloseNow()
		if err := sb.Write(ctx, []byte(`{"type":"session.close"}`)); err != nil {
			outcome, err := classify(ctx, err)
			c.observe(outcome, 0)
			return err
		}
		for {
			b, err := sb.Read(ctx)
			if err != nil {
				if websocket.CloseStatus(err) == websocket.StatusNormalClosure {
					return nil // the session ended and took its sidebands with it
				}
				_, err = classify(ctx, err)
				return err
			}
			var ev struct {
				Type string `json:"type"`
			}
			if json.Unmarshal(b, &ev) == nil && ev.Type == "session.closed" {
				_ = sb.Close()
				return nil
			}
		}
	})
}
