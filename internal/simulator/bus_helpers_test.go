package simulator

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// waitTimeout bounds every wait for an event.
const waitTimeout = 10 * time.Second

// linkAnswerer is an Answerer that keeps each session's Link so a test can
// play the browser's peer (data channel, audio, going away) without WebRTC.
type linkAnswerer struct {
	mu     sync.Mutex
	links  map[string]*Link
	hungUp []string
}

func (a *linkAnswerer) Answer(_ context.Context, offer string, link *Link) (string, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.links == nil {
		a.links = map[string]*Link{}
	}
	a.links[link.ID()] = link
	return CannedAnswer(context.Background(), offer, link)
}

func (a *linkAnswerer) Hangup(id string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.hungUp = append(a.hungUp, id)
}

func (a *linkAnswerer) link(id string) *Link {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.links[id]
}

// browser is a fake data channel opened on a Link.
type browser struct {
	link   *Link
	events chan map[string]any
}

func openBrowser(t *testing.T, link *Link) *browser {
	t.Helper()
	if link == nil {
		t.Fatal("no link for that session")
	}
	b := &browser{link: link, events: make(chan map[string]any, 4096)}
	link.Open(func(ev []byte) error {
		var m map[string]any
		if err := json.Unmarshal(ev, &m); err != nil {
			t.Errorf("data channel event is not JSON: %s", ev)
		}
		b.events <- m
		return nil
	})
	return b
}

func (b *browser) send(t *testing.T, ev any) {
	t.Helper()
	raw, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	b.link.Receive(raw)
}

// next returns the next event, failing unless its type is typ.
func (b *browser) next(t *testing.T, typ string) map[string]any {
	t.Helper()
	select {
	case ev := <-b.events:
		if ev["type"] != typ {
			t.Fatalf("data channel got %v, want %s: %v", ev["type"], typ, ev)
		}
		return ev
	case <-time.After(waitTimeout):
		t.Fatalf("data channel: no %s", typ)
	}
	return nil
}

// waitFor skips events until one of type typ.
func (b *browser) waitFor(t *testing.T, typ string) map[string]any {
	t.Helper()
	deadline := time.After(waitTimeout)
	for {
		select {
		case ev := <-b.events:
			if ev["type"] == typ {
				return ev
			}
		case <-deadline:
			t.Fatalf("data channel: no %s", typ)
		}
	}
}

// types drains the events already delivered and returns their types.
func (b *browser) types(t *testing.T) []string {
	t.Helper()
	var out []string
	for {
		select {
		case ev := <-b.events:
			out = append(out, ev["type"].(string))
		case <-time.After(100 * time.Millisecond):
			return out
		}
	}
}

// wsClient is a raw WebSocket sideband.
type wsClient struct {
	conn *websocket.Conn
}

// wsURL turns the env's http URL and a path into a ws URL.
func (e *env) wsURL(path string) string { return "ws" + strings.TrimPrefix(e.url, "http") + path }

// dial opens a sideband with the standard key (hdr adds or, with "", removes
// headers); it returns the handshake response on failure.
func (e *env) dial(t *testing.T, path string, hdr map[string]string) (*wsClient, *http.Response, error) {
	t.Helper()
	h := http.Header{"Authorization": {"Bearer " + testKey}}
	for k, v := range hdr {
		if v == "" {
			h.Del(k)
		} else {
			h.Set(k, v)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	conn, res, err := websocket.Dial(ctx, e.wsURL(path), &websocket.DialOptions{HTTPHeader: h})
	if err != nil {
		return nil, res, err
	}
	t.Cleanup(func() { _ = conn.CloseNow() })
	return &wsClient{conn: conn}, res, nil
}

func (e *env) attach(t *testing.T, path string) *wsClient {
	t.Helper()
	c, res, err := e.dial(t, path, nil)
	if err != nil {
		status := 0
		if res != nil {
			status = res.StatusCode
		}
		t.Fatalf("attach %s: %v (status %d)", path, err, status)
	}
	return c
}

func (c *wsClient) read(t *testing.T) (map[string]any, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	_, data, err := c.conn.Read(ctx)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatalf("sideband event is not JSON: %s", data)
	}
	return m, nil
}

// next returns the next event, failing unless its type is typ.
func (c *wsClient) next(t *testing.T, typ string) map[string]any {
	t.Helper()
	ev, err := c.read(t)
	if err != nil {
		t.Fatalf("sideband: no %s: %v", typ, err)
	}
	if ev["type"] != typ {
		t.Fatalf("sideband got %v, want %s: %v", ev["type"], typ, ev)
	}
	return ev
}

// waitFor skips events until one of type typ.
func (c *wsClient) waitFor(t *testing.T, typ string) map[string]any {
	t.Helper()
	for {
		ev, err := c.read(t)
		if err != nil {
			t.Fatalf("sideband: no %s: %v", typ, err)
		}
		if ev["type"] == typ {
			return ev
		}
	}
}

func (c *wsClient) send(t *testing.T, ev any) {
	t.Helper()
	raw, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.conn.Write(context.Background(), websocket.MessageText, raw); err != nil {
		t.Fatal(err)
	}
}

// closed reads until the socket ends and returns how it was closed.
func (c *wsClient) closed(t *testing.T) (websocket.StatusCode, string) {
	t.Helper()
	for {
		if _, err := c.read(t); err != nil {
			var ce websocket.CloseError
			if !errors.As(err, &ce) {
				t.Fatalf("sideband ended without a close frame: %v", err)
			}
			return ce.Code, ce.Reason
		}
	}
}

// createCall creates a Realtime call with the standard key and an optional
// multipart session, returning its id.
func (e *env) createCall(t *testing.T) string {
	t.Helper()
	res := e.do(t, http.MethodPost, "/v1/realtime/calls", map[string]string{"Content-Type": "application/sdp"}, offer)
	if res.status != http.StatusCreated {
		t.Fatalf("create call: %d %s", res.status, res.body)
	}
	return callLocation.FindStringSubmatch(res.header.Get("Location"))[1]
}

// createLive creates a Live session with the given session config JSON.
func (e *env) createLive(t *testing.T, session string) string {
	t.Helper()
	body := `{"session":` + session + `,"transport":{"type":"webrtc","sdp":` + mustQuote(offer) + `}}`
	res := e.do(t, http.MethodPost, "/v1/live/sessions", nil, body)
	if res.status != http.StatusCreated {
		t.Fatalf("create live: %d %s", res.status, res.body)
	}
	return res.json(t)["session"].(map[string]any)["id"].(string)
}

func mustQuote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// busEnv is an env whose answerer hands out Links, with a tick interval long
// enough that only explicit Tick calls drive the clock.
func busEnv(t *testing.T, mod ...func(*Options)) (*env, *linkAnswerer) {
	t.Helper()
	ans := &linkAnswerer{}
	e := newEnv(t, append([]func(*Options){func(o *Options) {
		o.Answerer = ans
		o.TickInterval = time.Hour
	}}, mod...)...)
	t.Cleanup(e.sim.Close)
	return e, ans
}
