package gateway

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/rtgate/rtgate/internal/httpx"
	"github.com/rtgate/rtgate/internal/openai"
	"github.com/rtgate/rtgate/internal/users"
)

// Caller creates and ends WebRTC calls upstream with the standard key (the
// "unified interface": POST /realtime/calls as multipart, and its hangup).
// *openai.Client implements it.
type Caller interface {
	CreateCall(ctx context.Context, offer string, p openai.MintParams) (*openai.Call, error)
	Hangup(ctx context.Context, callID string) error
}

// Defaults and bounds of the SDP proxy.
const (
	// DefaultMaxSDPBytes is the offer size limit when WebOptions.MaxSDPBytes is 0.
	DefaultMaxSDPBytes = 32768
	// DefaultSessionMax is OpenAI's own cap on one Realtime session, used
	// when WebOptions.SessionMax is 0.
	DefaultSessionMax = 60 * time.Minute
	// CallTokenHeader carries the hangup token of an anonymous call.
	CallTokenHeader = "X-Call-Token"

	maxSDPLines   = 1000
	maxSDPMedia   = 16
	maxLiveCalls  = 100000
	hangupTimeout = 30 * time.Second
	retryDelay    = 30 * time.Second
	retryGiveUp   = 10 * time.Minute
)

var callIDPattern = regexp.MustCompile(`^call_[A-Za-z0-9_-]{22}$`)

// liveCall is one proxied call rtgate still tracks. Its id is rtgate's own;
// the upstream id never leaves the server.
type liveCall struct {
	id         string
	upstreamID string
	user       string   // "" for an anonymous caller
	ident      Identity // whose admission the call holds
	tokenHash  [32]byte // anonymous calls: SHA-256 of the hangup token
	deadline   time.Time
	timer      *time.Timer
}

// callTable tracks live proxied calls: ownership, and the timer that ends a
// call at USER_SESSION_MAX_SECONDS.
type callTable struct {
	mu    sync.Mutex
	calls map[string]*liveCall
}

func (t *callTable) get(id string) *liveCall {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.calls[id]
}

func (t *callTable) full() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.calls) >= maxLiveCalls
}

// remove deletes c if it is still tracked and reports whether it was.
func (t *callTable) remove(c *liveCall) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.calls[c.id] != c {
		return false
	}
	delete(t.calls, c.id)
	if c.timer != nil {
		c.timer.Stop()
	}
	return true
}

func (t *callTable) byUser(user string) []*liveCall {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []*liveCall
	for _, c := range t.calls {
		if c.user == user {
			out = append(out, c)
		}
	}
	return out
}

// callRoutes registers the SDP proxy endpoints (POST /api/realtime-call and
// POST /api/realtime-call/{id}/hangup). Without a Caller they are not served.
func (g *Gateway) callRoutes(mux *http.ServeMux) {
	w := &g.o.Web
	if w.Caller == nil {
		if c, ok := g.o.Upstream.(Caller); ok {
			w.Caller = c
		}
	}
	if w.MaxSDPBytes <= 0 {
		w.MaxSDPBytes = DefaultMaxSDPBytes
	}
	if w.SessionMax <= 0 || w.SessionMax > DefaultSessionMax {
		// 0 is "no cap of our own"; beyond 60 minutes the upstream ends the
		// call anyway. Either way rtgate stops tracking it then.
		w.SessionMax = DefaultSessionMax
	}
	w.calls = &callTable{calls: make(map[string]*liveCall)}
	if w.Caller == nil {
		return
	}
	mux.Handle("POST /api/realtime-call", g.handle(g.createCall))
	mux.Handle("/api/realtime-call", g.methodNotAllowed("POST"))
	mux.Handle("POST /api/realtime-call/{id}/hangup", g.handle(g.hangupCall))
	mux.Handle("/api/realtime-call/{id}/hangup", g.methodNotAllowed("POST"))
}

// createCall is POST /api/realtime-call: the browser's SDP offer goes
// upstream with the server key and the server-built session; the answer
// comes back with rtgate's own call location.
func (g *Gateway) createCall(w http.ResponseWriter, r *http.Request) error {
	if err := g.limitIP(w, r); err != nil {
		return err
	}
	offer, err := g.readOffer(r)
	if err != nil {
		return err
	}
	if g.o.Web.calls.full() {
		return unavailable(errors.New("too many live calls tracked"))
	}
	id, err := g.admitUser(w, r)
	if err != nil {
		return err
	}
	s := g.o.Session
	p := openai.MintParams{Model: s.Model, Voice: s.Voice, Instructions: s.Instructions, TTL: s.TTL, User: id.UserID, SafetyIdentifier: id.SafetyID}
	up, err := g.o.Web.Caller.CreateCall(r.Context(), offer, p)
	if err != nil {
		g.release(r, id) // no call came of this admission
		return upstream(err)
	}
	c, token := g.trackCall(up.ID, id)
	now := g.o.Now()
	g.record(r, id, users.Session{SessionID: up.ID, Kind: users.KindCall, Model: p.Model, CreatedAt: now, ExpiresAt: c.deadline})
	g.log.Info("call created", "request_id", httpx.RequestID(r.Context()), "user", id.UserID, "call", c.id, "upstream_call_id", up.ID, "model", p.Model, "ends_at", c.deadline.UTC().Format(time.RFC3339))

	h := w.Header()
	h.Set("Content-Type", "application/sdp")
	h.Set("Cache-Control", "no-store")
	h.Set("Location", "/api/realtime-call/"+c.id)
	if token != "" {
		h.Set(CallTokenHeader, token)
	}
	if h.Get("Access-Control-Allow-Origin") != "" {
		// A cross-origin page must be able to read where to hang up.
		h.Set("Access-Control-Expose-Headers", joinHeader(h.Get("Access-Control-Expose-Headers"), "Location, "+CallTokenHeader))
	}
	w.WriteHeader(http.StatusCreated)
	_, _ = io.WriteString(w, up.Answer)
	return nil
}

func joinHeader(a, b string) string {
	if a == "" {
		return b
	}
	return a + ", " + b
}

// trackCall starts tracking an upstream call for id and arms its duration
// timer. For an anonymous caller it returns the hangup token.
func (g *Gateway) trackCall(upstreamID string, id Identity) (*liveCall, string) {
	c := &liveCall{id: "call_" + randomToken(16), upstreamID: upstreamID, user: id.UserID, ident: id, deadline: g.o.Now().Add(g.o.Web.SessionMax)}
	var token string
	if id.Anonymous() {
		token = randomToken(32)
		c.tokenHash = sha256.Sum256([]byte(token))
	}
	t := g.o.Web.calls
	t.mu.Lock()
	t.calls[c.id] = c
	t.mu.Unlock()
	t.rearm(g, c, g.o.Web.SessionMax)
	return c, token
}

// expireCall runs when a call's timer fires: the decision is taken on the
// injected clock, and a timer that fired early is re-armed. A call whose
// hangup keeps failing is given up retryGiveUp after its deadline.
func (g *Gateway) expireCall(c *liveCall) {
	now := g.o.Now()
	if left := c.deadline.Sub(now); left > 0 {
		g.o.Web.calls.rearm(g, c, left)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), hangupTimeout)
	defer cancel()
	if err := g.endCall(ctx, c, "max_duration"); err != nil {
		g.log.Error("call hangup at max duration failed", "call", c.id, "upstream_call_id", c.upstreamID, "error", err.Error())
		if now.Sub(c.deadline) > retryGiveUp {
			g.o.Web.calls.remove(c)
			g.log.Error("call hangup given up", "call", c.id, "upstream_call_id", c.upstreamID)
		}
	}
}

// rearm (re)starts c's timer to fire after d, if c is still tracked.
func (t *callTable) rearm(g *Gateway, c *liveCall, d time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.calls[c.id] != c {
		return
	}
	if c.timer != nil {
		c.timer.Stop()
	}
	c.timer = time.AfterFunc(d, func() { g.expireCall(c) })
}

// endCall stops tracking c and hangs it up upstream. An upstream 404 (the
// call is already over) counts as success. If the hangup fails, c is tracked
// again and its timer retries no sooner than retryDelay.
func (g *Gateway) endCall(ctx context.Context, c *liveCall, reason string) error {
	t := g.o.Web.calls
	if !t.remove(c) {
		return nil // someone else ended it
	}
	err := g.o.Web.Caller.Hangup(ctx, c.upstreamID)
	var se *openai.StatusError
	if errors.As(err, &se) && se.Status == http.StatusNotFound {
		err = nil
	}
	if err != nil {
		t.mu.Lock()
		if _, taken := t.calls[c.id]; !taken {
			t.calls[c.id] = c
		}
		t.mu.Unlock()
		t.rearm(g, c, max(c.deadline.Sub(g.o.Now()), retryDelay))
		return err
	}
	// The call no longer holds one of the user's active sessions.
	g.end(ctx, c.ident)
	g.log.Info("call ended", "call", c.id, "upstream_call_id", c.upstreamID, "user", c.user, "reason", reason)
	return nil
}

// hangupBody is the optional body of a hangup: the token an anonymous call
// was created with.
type hangupBody struct {
	CallToken string `json:"call_token"`
}

// hangupCall is POST /api/realtime-call/{id}/hangup. Only the call's owner
// may end it: the same authenticated user, or, for an anonymous call, whoever
// holds its token. Anything else is a 404, so ids cannot be probed.
func (g *Gateway) hangupCall(w http.ResponseWriter, r *http.Request) error {
	if err := g.limitIP(w, r); err != nil {
		return err
	}
	var b hangupBody
	if r.ContentLength != 0 || len(r.TransferEncoding) > 0 {
		if err := g.decodeJSON(r, &b); err != nil {
			return err
		}
	}
	// Authentication only: a blocked or over-quota user may still end a call.
	user, err := g.o.Auth.Authenticate(r)
	if err != nil {
		return err
	}
	id := Identity{UserID: user}
	callID := r.PathValue("id")
	var c *liveCall
	if callIDPattern.MatchString(callID) {
		c = g.o.Web.calls.get(callID)
	}
	if c == nil || !c.ownedBy(id, b.CallToken) {
		return notFound(errors.New("no such call for this caller"))
	}
	if err := g.endCall(r.Context(), c, "hangup"); err != nil {
		return upstream(err) // still tracked: a retry or the timer ends it
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (c *liveCall) ownedBy(id Identity, token string) bool {
	if c.user != "" {
		return id.UserID == c.user
	}
	if !id.Anonymous() || token == "" {
		return false
	}
	h := sha256.Sum256([]byte(token))
	return subtle.ConstantTimeCompare(h[:], c.tokenHash[:]) == 1
}

// EndUser hangs up every live call of userID that went through the SDP
// proxy (for example when an operator blocks the user) and returns how many
// it ended. Calls whose upstream hangup failed are not counted and their
// errors are joined. An empty userID (anonymous callers) ends nothing.
func (g *Gateway) EndUser(ctx context.Context, userID string) (int, error) {
	if userID == "" || g.o.Web.Caller == nil {
		return 0, nil
	}
	var (
		n    int
		errs []error
	)
	for _, c := range g.o.Web.calls.byUser(userID) {
		if err := g.endCall(ctx, c, "ended_by_operator"); err != nil {
			errs = append(errs, fmt.Errorf("call %s: %w", c.id, err))
			continue
		}
		n++
	}
	return n, errors.Join(errs...)
}

// CheckSDPOffer is the sanity check an SDP offer must pass before it goes
// upstream: valid UTF-8 without NUL or other control characters (tab, CR and
// LF aside), "v=0" first, every line "<letter>=<value>", an o= line, between
// one and 16 m= sections, at most 1000 lines. It does not parse SDP
// semantics; the upstream does.
func CheckSDPOffer(b []byte) error {
	if len(b) == 0 {
		return errors.New("empty offer")
	}
	if !utf8.Valid(b) {
		return errors.New("not UTF-8")
	}
	for _, c := range b {
		if (c < 0x20 && c != '\t' && c != '\r' && c != '\n') || c == 0x7f {
			return fmt.Errorf("control character 0x%02x", c)
		}
	}
	text := string(b)
	if !strings.HasPrefix(text, "v=0\r\n") && !strings.HasPrefix(text, "v=0\n") {
		return errors.New("does not start with v=0")
	}
	var lines, media int
	var origin, ended bool
	for line := range strings.Lines(text) {
		line = strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r")
		lines++
		if lines > maxSDPLines {
			return fmt.Errorf("more than %d lines", maxSDPLines)
		}
		if line == "" {
			ended = true // blank lines are tolerated only at the end
			continue
		}
		if ended {
			return errors.New("content after a blank line")
		}
		if len(line) < 2 || line[0] < 'a' || line[0] > 'z' || line[1] != '=' {
			return fmt.Errorf("line %d is not <type>=<value>", lines)
		}
		switch line[0] {
		case 'o':
			origin = true
		case 'm':
			media++
		}
	}
	switch {
	case !origin:
		return errors.New("no o= line")
	case media == 0:
		return errors.New("no m= section")
	case media > maxSDPMedia:
		return fmt.Errorf("more than %d m= sections", maxSDPMedia)
	}
	return nil
}

// randomToken returns n random bytes, base64url without padding.
func randomToken(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
