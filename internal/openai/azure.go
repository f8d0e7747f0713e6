package openai

import (
	"context"
	"net/http"
	"time"
)

// authorize sets the request's credentials: an ephemeral secret the
// request carries, else the key ring's key k, as Azure OpenAI wants it
// (api-key) or as OpenAI does (Bearer). The key's values are the ring's
// shared slices (keyHeader), set under their canonical names.
func (c *Client) authorize(req *http.Request, r request, k keyRef) {
	switch {
	case r.bearer != "":
		req.Header.Set("Authorization", "Bearer "+r.bearer)
	case c.azure:
		req.Header[headerAPIKey] = k.header.plain
	default:
		req.Header[headerAuthorization] = k.header.bearer
	}
}

// Canonical forms of the credential header names (http.CanonicalHeaderKey).
const (
	headerAuthorization = "Authorization"
	headerAPIKey        = "Api-Key"
)

// createCallAzure sets up a call on Azure OpenAI, whose /realtime/calls
// takes only an ephemeral secret (a standard key in api-key is refused
// with 401): mint a secret with the session configuration, then post the
// SDP offer with it. The secret never leaves rtgate; the session comes
// from it, so the offer is sent as application/sdp.
func (c *Client) createCallAzure(ctx context.Context, offer string, p MintParams) (*Call, error) {
	p.TTL = max(p.TTL, MinSecretTTL)
	m, err := c.mint(ctx, p)
	if err != nil {
		return nil, err
	}
	return c.postCall(ctx, request{
		method: http.MethodPost, path: "/realtime/calls", body: []byte(offer),
		header: http.Header{"Content-Type": {"application/sdp"}},
		safety: p.SafetyIdentifier, bearer: m.Value,
	})
}

// MinSecretTTL is the shortest lifetime OpenAI (and Azure) accept for an
// ephemeral secret (expires_after.seconds ≥ 10).
const MinSecretTTL = 10 * time.Second
