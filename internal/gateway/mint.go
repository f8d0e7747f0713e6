package gateway

import (
	"bytes"
	"fmt"
	"net/http"
	"slices"
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

// mint is GET|POST /api/realtime-session: stages 7 to 12 of the pipeline.
// The upstream call runs on upstreamContext: a client hanging up does not
// cancel it, and its admission is settled by what the upstream may have
// done, not by the client's patience.
func (g *Gateway) mint(w http.ResponseWriter, r *http.Request) error {
	if r.Method == http.MethodHead {
		// net/http routes HEAD to GET patterns; a HEAD must never mint.
		return methodNotAllowedError("GET, POST") // routed only when GET is
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
		g.log.Info("token reused", "request_id", rid, "user", id.UserID, "session_id", m.SessionID, "expires_at", m.ExpiresAt.UTC().Format(time.RFC3339))
	} else {
		g.record(r, id, users.Session{SessionID: m.SessionID, Kind: users.KindToken, Model: params.Model, CreatedAt: g.o.Now(), ExpiresAt: m.ExpiresAt})
		g.chargeBudget(r.Context(), budget.Call{User: id.UserID, Kind: budget.KindToken, Model: params.Model})
		g.log.Info("token minted", "request_id", rid, "user", id.UserID, "session_id", m.SessionID, "model", params.Model, "expires_at", m.ExpiresAt.UTC().Format(time.RFC3339))
	}
	if clientGone(r) {
		// Minted and counted, but nobody is there to take the secret.
		return clientAborted(fmt.Errorf("minted session %s, response undeliverable: %w", m.SessionID, r.Context().Err()))
	}
	w.Header().Set("Pragma", "no-cache")
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
		g.log.Info("rate limited", "request_id", httpx.RequestID(r.Context()), "scope", "ip")
		return errIPLimited
	}
	return nil
}

// params reads the optional body and builds the server-side session config.
func (g *Gateway) params(r *http.Request) (openai.MintParams, error) {
	s := g.o.Session
	model, voice := s.Model, s.Voice
	if r.Method == http.MethodPost && (r.ContentLength != 0 || len(r.TransferEncoding) != 0) {
		var b mintBody
		if err := g.decodeJSON(r, &b); err != nil {
			return openai.MintParams{}, err
		}
		if b.Model != nil {
			if !slices.Contains(s.AllowedModels, *b.Model) {
				return openai.MintParams{}, badRequest("The requested model is not allowed.", nil)
			}
			model = *b.Model
		}
		if b.Voice != nil {
			if !slices.Contains(s.AllowedVoices, *b.Voice) {
				return openai.MintParams{}, badRequest("The requested voice is not allowed.", nil)
			}
			voice = *b.Voice
		}
	}
	return s.mintParams(model, voice)
}
