// Package openai is rtgate's client for the OpenAI Realtime REST endpoints it
// calls with the real API key: minting ephemeral client secrets.
//
// The call is hand-written rather than made through the official SDK: rtgate
// returns the upstream JSON to the browser byte for byte (the SDK would
// decode and re-encode it, dropping fields it does not know), needs its own
// control of retries, timeouts and key selection, and must map every
// failure to a small set of generic errors. The SDK is used in the
// simulator's tests to prove that both speak the same wire format.
package openai

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"
)

// Sentinel errors the gateway maps to responses.
var (
	// ErrTimeout means the upstream did not answer within the deadline (504).
	ErrTimeout = errors.New("upstream timeout")
	// ErrUnavailable means rtgate chose not to call the upstream now (503).
	ErrUnavailable = errors.New("upstream unavailable")
	// ErrBadResponse means the upstream answered 2xx with a body rtgate cannot use (502).
	ErrBadResponse = errors.New("upstream response malformed")
)

// StatusError is a non-2xx answer from the upstream. Its text is logged, never shown.
type StatusError struct {
	Status     int
	Code       string // OpenAI's error.code, when present
	Type       string // OpenAI's error.type, when present
	RetryAfter time.Duration
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("upstream status %d (type=%q code=%q)", e.Status, e.Type, e.Code)
}

// MintParams is the server-built session configuration for one client secret.
type MintParams struct {
	Model        string
	Voice        string
	Instructions string
	TTL          time.Duration
	// SafetyIdentifier, when set, is sent as OpenAI-Safety-Identifier.
	SafetyIdentifier string
	// User is the authenticated user's id ("" when anonymous). It never
	// leaves rtgate; it keys per-user behaviour such as token reuse.
	User string
}

// Minted is a successful mint: the upstream body, unchanged, and the few
// fields rtgate records.
type Minted struct {
	Body      []byte
	Value     string // the ephemeral secret: never log it
	ExpiresAt time.Time
	SessionID string
	Model     string
}

// Observer receives one call per upstream attempt, for metrics.
type Observer interface {
	ObserveUpstream(outcome string, d time.Duration)
}

// Upstream outcomes, the label values of rtgate_upstream_requests_total.
const (
	OutcomeOK          = "ok"
	OutcomeClientError = "4xx"
	OutcomeServerError = "5xx"
	OutcomeTimeout     = "timeout"
	OutcomeNetwork     = "network"
	OutcomeBadResponse = "bad_response"
	OutcomeCanceled    = "canceled"
)

// Options configures a Client.
type Options struct {
	BaseURL  string // e.g. https://api.openai.com/v1
	APIKey   string
	Timeout  time.Duration // whole deadline per call
	HTTP     *http.Client  // nil: a pooled client made by NewTransport
	Observer Observer
	Now      func() time.Time
}

// Client mints client secrets. It is safe for concurrent use.
type Client struct {
	base    string
	key     string
	timeout time.Duration
	hc      *http.Client
	obs     Observer
	now     func() time.Time
}

// maxResponseBytes bounds what rtgate reads from the upstream.
const maxResponseBytes = 1 << 20

// New returns a Client.
func New(o Options) *Client {
	if o.HTTP == nil {
		o.HTTP = &http.Client{Transport: NewTransport(64)}
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Client{base: strings.TrimRight(o.BaseURL, "/"), key: o.APIKey, timeout: o.Timeout, hc: o.HTTP, obs: o.Observer, now: o.Now}
}

// NewTransport returns a tuned, pooled transport: keep-alive, HTTP/2, an
// idle pool sized for maxConns, and bounded dial, TLS and header waits.
func NewTransport(maxConns int) *http.Transport {
	return &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          maxConns,
		MaxIdleConnsPerHost:   maxConns,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   5 * time.Second,
		ResponseHeaderTimeout: 30 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
}

type expiresAfter struct {
	Anchor  string `json:"anchor"`
	Seconds int    `json:"seconds"`
}

type sessionConfig struct {
	Type         string       `json:"type"`
	Model        string       `json:"model"`
	Instructions string       `json:"instructions,omitempty"`
	Audio        *audioConfig `json:"audio,omitempty"`
}

type audioConfig struct {
	Output struct {
		Voice string `json:"voice"`
	} `json:"output"`
}

type mintRequest struct {
	ExpiresAfter expiresAfter  `json:"expires_after"`
	Session      sessionConfig `json:"session"`
}

// SessionJSON is the GA realtime session object for p, as sent to
// /realtime/client_secrets (inside "session") and /realtime/calls.
func SessionJSON(p MintParams) ([]byte, error) { return json.Marshal(session(p)) }

func session(p MintParams) sessionConfig {
	s := sessionConfig{Type: "realtime", Model: p.Model, Instructions: p.Instructions}
	if p.Voice != "" {
		s.Audio = &audioConfig{}
		s.Audio.Output.Voice = p.Voice
	}
	return s
}

type mintResponse struct {
	Value     string `json:"value"`
	ExpiresAt int64  `json:"expires_at"`
	Session   struct {
		ID    string `json:"id"`
		Model string `json:"model"`
	} `json:"session"`
}

type errorResponse struct {
	Error struct {
		Type string  `json:"type"`
		Code *string `json:"code"`
	} `json:"error"`
}

// MintClientSecret asks the upstream for an ephemeral client secret.
func (c *Client) MintClientSecret(ctx context.Context, p MintParams) (*Minted, error) {
	body, err := json.Marshal(mintRequest{
		ExpiresAfter: expiresAfter{Anchor: "created_at", Seconds: int(p.TTL / time.Second)},
		Session:      session(p),
	})
	if err != nil {
		return nil, err
	}
	if c.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.timeout)
		defer cancel()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+"/realtime/client_secrets", bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.key)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	if p.SafetyIdentifier != "" {
		req.Header.Set("OpenAI-Safety-Identifier", p.SafetyIdentifier)
	}
	start := c.now()
	m, outcome, err := c.do(req)
	if c.obs != nil {
		c.obs.ObserveUpstream(outcome, c.now().Sub(start))
	}
	return m, err
}

func (c *Client) do(req *http.Request) (*Minted, string, error) {
	_, raw, outcome, err := c.roundTrip(req)
	if err != nil {
		return nil, outcome, err
	}
	var mr mintResponse
	if err := json.Unmarshal(raw, &mr); err != nil {
		return nil, OutcomeBadResponse, fmt.Errorf("%w: %v", ErrBadResponse, err)
	}
	if mr.Value == "" || mr.ExpiresAt <= 0 {
		return nil, OutcomeBadResponse, fmt.Errorf("%w: missing value or expires_at", ErrBadResponse)
	}
	return &Minted{Body: raw, Value: mr.Value, ExpiresAt: time.Unix(mr.ExpiresAt, 0), SessionID: mr.Session.ID, Model: mr.Session.Model}, OutcomeOK, nil
}

func statusError(resp *http.Response, raw []byte) *StatusError {
	se := &StatusError{Status: resp.StatusCode, RetryAfter: parseRetryAfter(resp.Header.Get("Retry-After"))}
	var er errorResponse
	if json.Unmarshal(raw, &er) == nil {
		se.Type = er.Error.Type
		if er.Error.Code != nil {
			se.Code = *er.Error.Code
		}
	}
	return se
}

func classify(ctx context.Context, err error) (string, error) {
	switch {
	case errors.Is(ctx.Err(), context.Canceled):
		return OutcomeCanceled, fmt.Errorf("upstream call canceled: %w", ctx.Err())
	case errors.Is(ctx.Err(), context.DeadlineExceeded), isTimeout(err):
		return OutcomeTimeout, fmt.Errorf("%w: %v", ErrTimeout, err)
	}
	return OutcomeNetwork, fmt.Errorf("upstream request: %w", err)
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func parseRetryAfter(s string) time.Duration {
	if s == "" {
		return 0
	}
	var n int
	if _, err := fmt.Sscanf(s, "%d", &n); err == nil && n > 0 && n < 3600 {
		return time.Duration(n) * time.Second
	}
	return 0
}
