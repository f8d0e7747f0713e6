package gateway

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/rtgate/rtgate/internal/budget"
	"github.com/rtgate/rtgate/internal/httpx"
	"github.com/rtgate/rtgate/internal/openai"
	"github.com/rtgate/rtgate/internal/users"
)

// mintBody is the optional POST body: the only options a client may choose,
// each checked against the server's allowlist.
type mintBody struct {
	Model *string `json:"model"`
	Voice *string `json:"voice"`
}

// pragmaNoCache is the mint's Pragma value, shared by every response
// (canonical key, len == cap: see httpx/header.go).
var pragmaNoCache = []string{"no-cache"}

// headRefused is the refusal of a HEAD to the mint endpoint, made once.
var headRefused = methodNotAllowedError("GET, POST")

// info writes an info line from typed attributes, handed to the handler
// directly as httpx does: nothing is boxed or formatted, and no call stack
// is captured, unless the line is written.
func (g *Gateway) info(ctx context.Context, msg string, attrs ...slog.Attr) {
	if !g.log.Enabled(ctx, slog.LevelInfo) {
		return
	}
	rec := slog.NewRecord(time.Now(), slog.LevelInfo, msg, 0)
	rec.AddAttrs(attrs...)
	_ = g.log.Handler().Handle(ctx, rec)
}

// mint is GET|POST /api/realtime-session: stages 7 to 12 of the pipeline.
// The upstream call runs on upstreamContext: a client hanging up does not
// cancel it, and its admission is settled by what the upstream may have
// done, not by the client's patience.
func (g *Gateway) mint(w http.ResponseWriter, r *http.Request) error {
	if r.Method == http.MethodHead {
		// net/http routes HEAD to GET patterns; a HEAD must never mint.
		return headRefused // routed only when GET is
	}
	if err := g.limitIP(w, r); err != nil {
		return err
	}
	params, err := g.params(r)
	if err != nil {
		return err
	}
	id, err := g.admitUser(w, r)
	if err != nil {
		return err
	}
	if err := g.admitBudget(r, id, budget.KindToken, params.Model); err != nil {
		return err
	}
	params.User, params.SafetyIdentifier = id.UserID, id.SafetyID
	ctx, cancel := g.upstreamContext(r)
	defer cancel()
	m, err := g.o.Upstream.MintClientSecret(ctx, params)
	if err != nil {
		g.settle(r, id, err)
		return upstream(err)
	}
	rid := httpx.RequestID(r.Context())
	if m.Reused {
		// A still-valid secret handed back to the same user: no new upstream
		// session, so nothing is recorded and the admission is given back.
		g.release(r, id)
		g.info(r.Context(), "token reused", slog.String("request_id", rid), slog.String("user", id.UserID),
			slog.String("session_id", m.SessionID), slog.Time("expires_at", m.ExpiresAt.UTC()))
	} else {
		g.record(r, id, users.Session{SessionID: m.SessionID, Kind: users.KindToken, Model: params.Model, CreatedAt: g.o.Now(), ExpiresAt: m.ExpiresAt})
		g.chargeBudget(r.Context(), budget.Call{User: id.UserID, Kind: budget.KindToken, Model: params.Model})
		g.info(r.Context(), "token minted", slog.String("request_id", rid), slog.String("user", id.UserID),
			slog.String("session_id", m.SessionID), slog.String("model", params.Model), slog.Time("expires_at", m.ExpiresAt.UTC()))
	}
	if clientGone(r) {
		// Minted and counted, but nobody is there to take the secret.
		return clientAborted(fmt.Errorf("minted session %s, response undeliverable: %w", m.SessionID, r.Context().Err()))
	}
	w.Header()["Pragma"] = pragmaNoCache
	httpx.WriteRawJSON(w, http.StatusOK, bytes.TrimSpace(m.Body))
	return nil
}

func (g *Gateway) limitIP(w http.ResponseWriter, r *http.Request) error {
	if g.o.Limiter == nil {
		return nil
	}
	d, err := g.o.Limiter.AllowIP(r.Context(), httpx.ClientIP(r.Context()))
	if err != nil {
		return fmt.Errorf("%w: %w", errLimiter, err)
	}
	g.o.Limiter.SetHeaders(w.Header(), d)
	if !d.Allowed {
		// Logged once, on the access line: code rate_limited, scope ip.
		return errIPLimited
	}
	return nil
}

// params reads the optional body and builds the server-side session config.
func (g *Gateway) params(r *http.Request) (openai.MintParams, error) {
	s := g.o.Session
	model, voice := s.Model, s.Voice
	if r.Method != http.MethodPost || (r.ContentLength == 0 && len(r.TransferEncoding) == 0) {
		return s.mintParams(model, voice)
	}
	bp := bodyBufs.Get().(*[]byte)
	defer putBodyBuf(bp)
	body, err := readBodyTo((*bp)[:0], r, mediaJSON, g.o.MaxBodyBytes)
	*bp = body
	if err != nil {
		return openai.MintParams{}, err
	}
	// The plain body clients send is read without encoding/json and
	// without allocating (flatJSON); any other is decoded strictly.
	var vals [2][]byte
	var set [2]bool
	if flatJSON(body, mintFields[:], vals[:], set[:]) {
		var ok bool
		if set[0] {
			if model, ok = allowed(s.AllowedModels, vals[0]); !ok {
				return openai.MintParams{}, errModelNotAllowed
			}
		}
		if set[1] {
			if voice, ok = allowed(s.AllowedVoices, vals[1]); !ok {
				return openai.MintParams{}, errVoiceNotAllowed
			}
		}
		return s.mintParams(model, voice)
	}
	var b mintBody
	if err := strictJSON(body, &b); err != nil {
		return openai.MintParams{}, err
	}
	if b.Model != nil {
		if !slices.Contains(s.AllowedModels, *b.Model) {
			return openai.MintParams{}, errModelNotAllowed
		}
		model = *b.Model
	}
	if b.Voice != nil {
		if !slices.Contains(s.AllowedVoices, *b.Voice) {
			return openai.MintParams{}, errVoiceNotAllowed
		}
		voice = *b.Voice
	}
	return s.mintParams(model, voice)
}

// mintFields are mintBody's JSON names, in flatJSON's order.
var mintFields = [2]string{"model", "voice"}

// The refusals of a mint body naming an option off the allowlist.
var (
	errModelNotAllowed = badRequest("The requested model is not allowed.", nil)
	errVoiceNotAllowed = badRequest("The requested voice is not allowed.", nil)
)

// allowed returns the entry of list equal to v (list's own string, so
// nothing of v is kept).
func allowed(list []string, v []byte) (string, bool) {
	for _, a := range list {
		if a == string(v) {
			return a, true
		}
	}
	return "", false
}

// bodyBufs recycles the buffers small JSON bodies are read into; a buffer
// grown past maxPooledBody is dropped rather than kept.
var bodyBufs = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

const maxPooledBody = 64 << 10

func putBodyBuf(bp *[]byte) {
	if cap(*bp) <= maxPooledBody {
		*bp = (*bp)[:0]
		bodyBufs.Put(bp)
	}
}
