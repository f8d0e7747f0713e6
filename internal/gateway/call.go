package gateway

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/rtgate/rtgate/internal/budget"
	"github.com/rtgate/rtgate/internal/calls"
	"github.com/rtgate/rtgate/internal/httpx"
	"github.com/rtgate/rtgate/internal/openai"
	"github.com/rtgate/rtgate/internal/usage"
	"github.com/rtgate/rtgate/internal/users"
)

// Caller creates and ends Realtime WebRTC calls upstream with the standard
// key (the "unified interface": POST /realtime/calls as multipart, and its
// hangup). *openai.Client implements it.
type Caller interface {
	CreateCall(ctx context.Context, offer string, p openai.MintParams) (*openai.Call, error)
	Hangup(ctx context.Context, callID string) error
}

// CallRegistry tracks the SDP proxy's live calls for every instance that
// shares its store; *calls.Registry implements it. Its refusals are
// calls.ErrNotFound, calls.ErrFull and calls.ErrEnding (errors.go maps
// them); any other error is its store failing (503). The registry's own
// hooks come from here too: CallUpstreams.Hangup and CallEnded.
type CallRegistry interface {
	// CheckCapacity is calls.ErrFull when no more calls can be tracked.
	CheckCapacity(ctx context.Context) error
	// Create tracks a call set up upstream and returns it with, for an
	// anonymous caller, its hang-up token.
	Create(ctx context.Context, n calls.NewCall) (calls.Call, string, error)
	// Lookup returns a tracked call, or calls.ErrNotFound.
	Lookup(ctx context.Context, id string) (calls.Call, error)
	// End hangs a tracked call up upstream and stops tracking it.
	End(ctx context.Context, id, reason string) error
}

// LiveCaller creates and ends GPT-Live WebRTC sessions upstream with the
// standard key (POST /live/sessions; session.close on a sideband).
// *openai.Client implements it.
type LiveCaller interface {
	CreateLive(ctx context.Context, offer string, p openai.LiveParams) (*openai.Call, error)
	EndLive(ctx context.Context, id string) error
}

// SidebandDialer attaches to the sideband of an upstream call or session
// with the standard key. *openai.Client implements it.
type SidebandDialer interface {
	DialSideband(ctx context.Context, kind openai.SidebandKind, id string) (*openai.Sideband, error)
}

// CallControl takes a call the SDP proxy just created under control: its
// sideband is attached before the browser gets the answer.
// *calls.Controller implements it.
type CallControl interface {
	Control(ctx context.Context, c calls.Call) error
}

// CallUpstreams are the upstream APIs behind the SDP proxy, one per
// calls.Kind; a nil one is not served. Each becomes a callKind (kinds).
type CallUpstreams struct {
	// Realtime serves POST /api/realtime-call (calls.KindRealtime) over
	// POST /v1/realtime/calls.
	Realtime Caller
	// Live serves POST /api/live-session (calls.KindLive) over
	// POST /v1/live/sessions.
	Live LiveCaller
	// Sidebands attaches the calls' sidebands (Dialers).
	Sidebands SidebandDialer
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
	// ReasonClientGone is the reason a call ends when its client went away
	// before the SDP answer reached it: nobody can ever connect to it.
	ReasonClientGone = "client_gone"

	maxSDPLines = 1000
	maxSDPMedia = 16
)

// callKind is one upstream API behind the SDP proxy: its public route, and
// how a call of its kind is created and hung up upstream. A new kind (for
// example GPT-Live sessions) is a new field of CallUpstreams and one more
// entry in kinds; the handlers, the registry and the hooks are shared.
type callKind struct {
	kind  calls.Kind
	route string // e.g. "/api/realtime-call"; the call is at route + "/" + id
	// create sends the browser's offer upstream with the server-built
	// session for the caller id.
	create func(ctx context.Context, offer string, s SessionPolicy, id Identity) (upstreamCall, error)
	// hangup ends the call upstreamID upstream.
	hangup func(ctx context.Context, upstreamID string) error
	// sideband is the kind's sideband API.
	sideband openai.SidebandKind
}

// upstreamCall is a call the upstream set up: its id (never shown to the
// client), the SDP answer and the model it runs.
type upstreamCall struct {
	ID, Answer, Model string
}

// kinds lists the call kinds u serves. Each creates its calls with the
// server's session of its kind (session.go), the one ServerSessions holds
// them to.
func (u CallUpstreams) kinds() []callKind {
	var ks []callKind
	if c := u.Realtime; c != nil {
		ks = append(ks, callKind{
			kind: calls.KindRealtime, route: "/api/realtime-call", sideband: openai.SidebandRealtime,
			create: func(ctx context.Context, offer string, s SessionPolicy, id Identity) (upstreamCall, error) {
				p, err := s.realtimeCall(s.Model)
				if err != nil {
					return upstreamCall{}, err
				}
				p.User, p.SafetyIdentifier = id.UserID, id.SafetyID
				up, err := c.CreateCall(ctx, offer, p)
				if err != nil {
					return upstreamCall{}, err
				}
				return upstreamCall{ID: up.ID, Answer: up.Answer, Model: p.Model}, nil
			},
			hangup: c.Hangup,
		})
	}
	if c := u.Live; c != nil {
		ks = append(ks, callKind{
			kind: calls.KindLive, route: "/api/live-session", sideband: openai.SidebandLive,
			create: func(ctx context.Context, offer string, s SessionPolicy, _ Identity) (upstreamCall, error) {
				// GPT-Live documents no safety identifier; none is sent.
				p := s.liveSession()
				up, err := c.CreateLive(ctx, offer, p)
				if err != nil {
					return upstreamCall{}, err
				}
				return upstreamCall{ID: up.ID, Answer: up.Answer, Model: p.Model}, nil
			},
			hangup: c.EndLive,
		})
	}
	return ks
}

// Dialers are the calls' sideband dialers, one per kind served
// (calls.ControllerOptions.Dialers): an upstream 404 is calls.ErrGone.
func (u CallUpstreams) Dialers() map[calls.Kind]calls.Dialer {
	out := map[calls.Kind]calls.Dialer{}
	if u.Sidebands == nil {
		return out
	}
	for _, k := range u.kinds() {
		out[k.kind] = calls.DialerFunc(func(ctx context.Context, c calls.Call) (calls.Sideband, error) {
			sb, err := u.Sidebands.DialSideband(ctx, k.sideband, c.UpstreamID)
			if err != nil {
				if isNotFound(err) {
					return nil, fmt.Errorf("%w: %w", calls.ErrGone, err)
				}
				return nil, err
			}
			return sb, nil
		})
	}
	return out
}

// isNotFound reports whether err is the upstream's 404.
func isNotFound(err error) bool {
	var se *openai.StatusError
	return errors.As(err, &se) && se.Status == http.StatusNotFound
}

// Hangup hangs c up on the upstream of its kind: it is the registry's
// calls.Options.Hangup. An upstream 404 (the call is already over) is
// calls.ErrGone; any other failure is an upstream error, which a hang-up
// request answers as 502, 503 or 504.
func (u CallUpstreams) Hangup(ctx context.Context, c calls.Call) error {
	for _, k := range u.kinds() {
		if k.kind == c.Kind {
			return k.end(ctx, c.UpstreamID)
		}
	}
	return fmt.Errorf("no upstream for calls of kind %q", c.Kind)
}

// end hangs the call upstreamID up upstream; see CallUpstreams.Hangup.
func (k callKind) end(ctx context.Context, upstreamID string) error {
	err := k.hangup(ctx, upstreamID)
	switch {
	case err == nil:
		return nil
	case isNotFound(err):
		return calls.ErrGone
	}
	return upstream(err)
}

// CallEnded is the registry's calls.Options.OnEnded for the gateway's
// calls: it frees the user's active slot the call held (UserControls.End
// with the call's reservation). The registry logs the end, its reason and
// the call's duration. u nil (AUTH_MODE=none) keeps no slots.
func CallEnded(u UserControls) func(ctx context.Context, c calls.Call, reason string) error {
	return func(ctx context.Context, c calls.Call, _ string) error {
		if u == nil || c.User == "" || c.Reservation == "" {
			return nil
		}
		return u.End(ctx, c.User, users.Reservation(c.Reservation))
	}
}

// CallUsage is the controller's usage sink for the gateway's calls
// (calls.UsageSink): each increment is added to the user's record of the
// call (its rtgate id). Anonymous calls keep no records; u nil
// (AUTH_MODE=none) keeps none.
func CallUsage(u UserControls) calls.UsageSink { return callUsage{u} }

type callUsage struct{ u UserControls }

func (cu callUsage) AddUsage(ctx context.Context, c calls.Call, delta usage.Usage, _ bool) error {
	if cu.u == nil || c.User == "" {
		return nil
	}
	return cu.u.AddUsage(ctx, c.User, c.ID, delta)
}

// callRoutes registers the SDP proxy's endpoints for every kind served
// (POST {route}, GET {route}/{id} and POST {route}/{id}/hangup). Without a
// CallRegistry nothing is served.
func (g *Gateway) callRoutes(mux *http.ServeMux) {
	w := &g.o.Web
	if w.MaxSDPBytes <= 0 {
		w.MaxSDPBytes = DefaultMaxSDPBytes
	}
	if w.SessionMax <= 0 || w.SessionMax > DefaultSessionMax {
		// 0 is "no cap of our own"; beyond 60 minutes the upstream ends the
		// call anyway. Either way rtgate stops tracking it then.
		w.SessionMax = DefaultSessionMax
	}
	if w.Calls == nil {
		return
	}
	for _, k := range w.Upstreams.kinds() {
		mux.Handle("POST "+k.route, g.handle(g.createCall(k)))
		mux.Handle(k.route, g.methodNotAllowed("POST"))
		mux.Handle("POST "+k.route+"/{id}/hangup", g.handle(g.hangupCall(k)))
		mux.Handle(k.route+"/{id}/hangup", g.methodNotAllowed("POST"))
		mux.Handle("GET "+k.route+"/{id}", g.handle(g.callStatus(k)))
		mux.Handle(k.route+"/{id}", g.methodNotAllowed("GET"))
	}
}

// createCall is POST {route}: the browser's SDP offer goes upstream with
// the server key and the server-built session; the answer comes back with
// rtgate's own call location. Once the upstream may have acted, the
// admission counts and the call is tracked whatever the client does.
func (g *Gateway) createCall(k callKind) httpx.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		if err := g.limitIP(w, r); err != nil {
			return err
		}
		offer, err := g.readOffer(r)
		if err != nil {
			return err
		}
		reg := g.o.Web.Calls
		// A call that could not be tracked must not be made.
		if err := reg.CheckCapacity(r.Context()); err != nil {
			return callsError(err)
		}
		id, err := g.admitUser(w, r)
		if err != nil {
			return err
		}
		if err := g.admitBudget(r, id, budget.Kind(k.kind), ""); err != nil {
			return err
		}
		ctx, cancel := g.upstreamContext(r)
		defer cancel()
		up, err := k.create(ctx, offer, g.o.Session, id)
		if err != nil {
			if !upstreamActed(err) {
				g.release(r, id) // no call came of this admission
			}
			if clientGone(r) {
				return clientAborted(upstream(err))
			}
			return upstream(err)
		}
		// The call exists upstream: from here on it is recorded, charged and
		// tracked even if the client has gone, so its deadline (or an end)
		// frees it. The user's record names it by rtgate's id; OpenAI's is
		// for operators.
		g.chargeBudget(ctx, budget.Call{User: id.UserID, Kind: budget.Kind(k.kind), Model: up.Model})
		rc := r.WithContext(ctx)
		now := g.o.Now()
		rec := users.Session{UpstreamID: up.ID, Kind: users.KindCall, Model: up.Model, CreatedAt: now, ExpiresAt: now.Add(g.o.Web.SessionMax)}
		c, token, err := reg.Create(ctx, calls.NewCall{Kind: k.kind, UpstreamID: up.ID, User: id.UserID, Reservation: string(id.Reservation), Model: up.Model, MaxDuration: g.o.Web.SessionMax})
		if err != nil {
			g.record(rc, id, rec)
			g.hangupUntracked(rc, k, up.ID, id, err)
			return callsError(err)
		}
		rec.SessionID = c.ID
		g.record(rc, id, rec)
		rid := httpx.RequestID(ctx)
		g.log.Info("call created", "request_id", rid, "kind", string(k.kind), "user", id.UserID, "call", c.ID, "upstream_call_id", up.ID, "model", up.Model, "instance", c.Instance, "ends_at", c.Deadline.UTC().Format(time.RFC3339))
		// The sideband is attached before the browser can connect, so no
		// client event precedes it. If it cannot be attached now the
		// controller keeps trying and ends the call if it never can.
		if ctl := g.o.Web.Control; ctl != nil {
			if err := ctl.Control(ctx, c); err != nil {
				g.log.Warn("call sideband not attached yet", "request_id", rid, "call", c.ID, "error", err.Error())
			}
		}
		if clientGone(r) {
			// Nobody will ever read the answer, so nobody can connect:
			// end the call now rather than at its deadline.
			if err := endAccepted(reg.End(ctx, c.ID, ReasonClientGone)); err != nil {
				g.log.Warn("ending the call of a client that left failed; its deadline ends it", "request_id", rid, "call", c.ID, "error", err.Error())
			}
			return clientAborted(nil)
		}

		h := w.Header()
		h.Set("Content-Type", "application/sdp")
		h.Set("Cache-Control", "no-store")
		h.Set("Location", k.route+"/"+c.ID)
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
}

// hangupUntracked hangs up a call the registry refused to track (its store
// failed, or it filled up meanwhile): nothing else would ever end it. The
// admission counts (the upstream acted); the active slot is freed once the
// call is over.
func (g *Gateway) hangupUntracked(r *http.Request, k callKind, upstreamID string, id Identity, cause error) {
	ctx := r.Context()
	rid := httpx.RequestID(ctx)
	g.log.Error("call not tracked: hanging it up", "request_id", rid, "kind", string(k.kind), "upstream_call_id", upstreamID, "error", cause.Error())
	if err := k.end(ctx, upstreamID); err != nil && !errors.Is(err, calls.ErrGone) {
		g.log.Error("hang-up of an untracked call failed: the upstream ends it within 60 minutes", "request_id", rid, "upstream_call_id", upstreamID, "error", err.Error())
		return
	}
	g.end(ctx, id)
}

func joinHeader(a, b string) string {
	if a == "" {
		return b
	}
	return a + ", " + b
}

// hangupBody is the optional body of a hangup: the token an anonymous call
// was created with.
type hangupBody struct {
	CallToken string `json:"call_token"`
}

// hangupCall is POST {route}/{id}/hangup. Only the call's owner may end
// it (ownedCall). Anything else is a 404, so ids cannot be probed.
//
// No rate limit applies (issue 11): the owner's hang-up ends spending and
// must never be refused for the rate. What a stranger's request costs is
// bounded without one: a body of at most MAX_BODY_BYTES, the
// authentication (whose failures are limited per address), and at most one
// registry lookup (a map read, or one Redis GET) — none for an id that
// cannot be a call, or for an anonymous caller without a token. The
// upstream is called only for the owner.
func (g *Gateway) hangupCall(k callKind) httpx.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		var b hangupBody
		if r.ContentLength != 0 || len(r.TransferEncoding) > 0 {
			if err := g.decodeJSON(r, &b); err != nil {
				return err
			}
		}
		c, err := g.ownedCall(r, k, b.CallToken)
		if err != nil {
			return err
		}
		// The owner asked: the hang-up completes even if they leave now.
		ctx, cancel := g.upstreamContext(r)
		defer cancel()
		if err := endAccepted(g.o.Web.Calls.End(ctx, c.ID, calls.ReasonHangup)); err != nil {
			return callsError(err) // a failed upstream hang-up keeps the call tracked: retry, or the deadline ends it
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
}

// ownedCall returns the call of kind k named in r's path if r's caller
// owns it: the same authenticated user, or, for an anonymous call, whoever
// holds token. Anything else is a 404, so ids cannot be probed; it costs at
// most one registry lookup, none for an id that cannot be a call or an
// anonymous caller without a token. Authentication only: a blocked or
// over-quota user may still end or look at their call.
func (g *Gateway) ownedCall(r *http.Request, k callKind, token string) (calls.Call, error) {
	user, err := g.o.Auth.Authenticate(r)
	if err != nil {
		return calls.Call{}, err
	}
	callID := r.PathValue("id")
	if !calls.ValidID(callID) || (user == "" && token == "") {
		return calls.Call{}, notFound(errors.New("no such call for this caller"))
	}
	c, err := g.o.Web.Calls.Lookup(r.Context(), callID)
	if err != nil {
		return calls.Call{}, callsError(err)
	}
	if c.Kind != k.kind || !c.OwnedBy(user, token) {
		return calls.Call{}, notFound(errors.New("no such call for this caller"))
	}
	return c, nil
}

// CallStatus is what GET {route}/{id} shows the owner of a running call:
// rtgate's id, never OpenAI's, and the usage metered so far on the
// sideband.
type CallStatus struct {
	ID        string      `json:"id"`
	Kind      string      `json:"kind"`
	Model     string      `json:"model"`
	CreatedAt time.Time   `json:"created_at"`
	EndsAt    time.Time   `json:"ends_at"`
	Usage     usage.Usage `json:"usage"`
}

// callStatus is GET {route}/{id}: the owner's view of a running call (the
// demo page polls it for the running usage). Like the hang-up it passes no
// rate limit and costs at most one registry lookup (ownedCall); an
// anonymous caller shows the call's token in the X-Call-Token header. An
// ended call is a 404.
func (g *Gateway) callStatus(k callKind) httpx.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		c, err := g.ownedCall(r, k, r.Header.Get(CallTokenHeader))
		if err != nil {
			return err
		}
		w.Header().Set("Cache-Control", "no-store")
		httpx.WriteJSON(w, http.StatusOK, CallStatus{ID: c.ID, Kind: string(c.Kind), Model: c.Model,
			CreatedAt: c.CreatedAt.UTC(), EndsAt: c.Deadline.UTC(), Usage: c.Usage})
		return nil
	}
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
