// Package openai is rtgate's client for the OpenAI endpoints it calls with
// the real API key: minting ephemeral client secrets, creating and hanging
// up Realtime WebRTC calls and GPT-Live sessions, and the sideband
// WebSockets that control them (sideband.go).
//
// The call is hand-written rather than made through the official SDK: rtgate
// returns the upstream JSON to the browser byte for byte (the SDK would
// decode and re-encode it, dropping fields it does not know), needs its own
// control of retries, timeouts and key selection, and must map every
// failure to a small set of generic errors. The SDK is used in the
// simulator's tests to prove that both speak the same wire format.
//
// Every call passes the same stages: token reuse (mint only), the circuit
// breaker's fast check, the bounded queue, the breaker's admission, then
// attempts with the key ring's active key and bounded, jittered retries,
// all within one deadline.
package openai

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
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
	Status int
	Code   string // OpenAI's error.code, when present
	Type   string // OpenAI's error.type, when present
	// RetryAfter is how long OpenAI asked to wait (retryAfterHint), 0 when
	// it did not say.
	RetryAfter time.Duration
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("upstream status %d (type=%q code=%q)", e.Status, e.Type, e.Code)
}

// UnavailableError is rtgate refusing to call the upstream now: the queue is
// full, the wait in it ran out, or the circuit breaker is open. It wraps
// ErrUnavailable and tells the gateway how long the client should wait.
type UnavailableError struct {
	Reason     string // one of the Outcome* values: queue_full, queue_timeout, breaker_open
	RetryAfter time.Duration
}

func (e *UnavailableError) Error() string {
	return fmt.Sprintf("upstream unavailable: %s (retry after %s)", e.Reason, e.RetryAfter)
}

// Unwrap makes errors.Is(err, ErrUnavailable) true.
func (e *UnavailableError) Unwrap() error { return ErrUnavailable }

// RetryAfterHint is the wait the gateway puts in Retry-After.
func (e *UnavailableError) RetryAfterHint() time.Duration { return e.RetryAfter }

// MintParams is the server-built session configuration for one client
// secret or call.
type MintParams struct {
	Model        string
	Voice        string
	Instructions string
	// Session, when set, is the whole GA session object to send (rendered by
	// sessioncfg from the environment and SESSION_CONFIG_FILE, with Model and
	// Voice already in it); Model, Voice and Instructions then only describe
	// it. When nil, the session is built from Model, Voice and Instructions.
	Session json.RawMessage
	TTL     time.Duration
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
	// Reused is true when the secret came from the token-reuse cache
	// rather than a fresh upstream call.
	Reused bool
}

// Observer receives one call per upstream attempt (and per refusal to make
// one), for metrics.
type Observer interface {
	ObserveUpstream(outcome string, d time.Duration)
}

// KeyReloadObserver, when the Observer also implements it, is told the
// result of every key-file reload: "changed", "unchanged" or "error".
type KeyReloadObserver interface {
	ObserveKeyReload(result string)
}

// Upstream outcomes, the label values of rtgate_upstream_requests_total.
const (
	OutcomeOK          = "ok"
	OutcomeClientError = "4xx"
	// OutcomeRateLimited is an attempt OpenAI refused with 429: its rate
	// limit (the deployment's), counted apart from the upstream's errors.
	OutcomeRateLimited = "rate_limited"
	OutcomeServerError = "5xx"
	OutcomeTimeout     = "timeout"
	OutcomeNetwork     = "network"
	OutcomeBadResponse = "bad_response"
	OutcomeCanceled    = "canceled"
	// OutcomeKeyFailover is an attempt the upstream refused with 401/403
	// that made rtgate switch to the other key.
	OutcomeKeyFailover = "key_failover"
	// OutcomeBreakerOpen is a call refused because the circuit breaker is open.
	OutcomeBreakerOpen = "breaker_open"
	// OutcomeQueueFull is a call refused because the queue was full.
	OutcomeQueueFull = "queue_full"
	// OutcomeQueueTimeout is a call that waited UPSTREAM_QUEUE_TIMEOUT_MS in the queue.
	OutcomeQueueTimeout = "queue_timeout"
	// OutcomeReused is a mint answered from the token-reuse cache.
	OutcomeReused = "reused"
)

// Options configures a Client. Zero values pick the documented defaults.
type Options struct {
	BaseURL string // e.g. https://api.openai.com/v1
	// APIKey is used when Keys is nil: a ring of this one key.
	APIKey string
	// Keys is the key ring (primary and backup, literal or from files).
	Keys *KeyRing
	// Timeout is the whole deadline of one call, retries included.
	Timeout time.Duration
	// HTTP is the client for upstream calls; nil means a pooled client
	// from NewTransport sized to MaxConcurrency.
	HTTP *http.Client
	// MaxConcurrency bounds calls in flight (default 64).
	MaxConcurrency int
	// QueueSize bounds calls waiting for a slot (0: none wait).
	QueueSize int
	// QueueTimeout bounds the wait for a slot (default 2s).
	QueueTimeout time.Duration
	// Retries is the most extra attempts per call (0: none).
	Retries int
	// Breaker configures the circuit breaker.
	Breaker BreakerOptions
	// TokenReuse, when positive, lets an authenticated user get their
	// still-valid secret back if it has more than this left.
	TokenReuse time.Duration
	// TokenReuseMaxEntries bounds the reuse cache (default 10000).
	TokenReuseMaxEntries int
	Observer             Observer
	Logger               *slog.Logger
	Now                  func() time.Time
	// Sleep waits d or until ctx ends (tests inject it); nil means a timer.
	Sleep func(ctx context.Context, d time.Duration) error
	// Jitter returns a value in [0, n); nil means math/rand/v2.
	Jitter func(n int64) int64
	// Azure speaks Azure OpenAI's v1 API (azure.go): the key goes in an
	// api-key header, and CreateCall mints an ephemeral secret first.
	Azure bool
}

// Client calls the upstream. It is safe for concurrent use.
type Client struct {
	base    string
	mintURL string        // base + mintPath, made once
	mintReq *http.Request // a POST to mintURL, made once: newRequest copies it
	bodies  mintBodies    // the mint's request bodies (mintbody.go)
	keys    *KeyRing
	timeout time.Duration
	hc      *http.Client
	ws      *http.Client // sideband handshakes (sideband.go)
	obs     Observer
	log     *slog.Logger
	now     func() time.Time
	sleep   func(ctx context.Context, d time.Duration) error
	jitter  func(n int64) int64
	retries int
	queue   *queue
	breaker *Breaker
	reuse   *reuseCache
	azure   bool
}

// maxResponseBytes bounds what rtgate reads from the upstream.
const maxResponseBytes = 1 << 20

// DefaultMaxConcurrency is the in-flight bound when Options.MaxConcurrency is zero.
const DefaultMaxConcurrency = 64

// New returns a Client.
func New(o Options) *Client {
	if o.MaxConcurrency <= 0 {
		o.MaxConcurrency = DefaultMaxConcurrency
	}
	if o.QueueTimeout <= 0 {
		o.QueueTimeout = 2 * time.Second
	}
	if o.HTTP == nil {
		o.HTTP = &http.Client{Transport: NewTransport(o.MaxConcurrency)}
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Sleep == nil {
		o.Sleep = sleepCtx
	}
	if o.Jitter == nil {
		o.Jitter = randInt64N
	}
	if o.Keys == nil {
		o.Keys = StaticKeyRing(o.APIKey)
	}
	c := &Client{
		base: strings.TrimRight(o.BaseURL, "/"), keys: o.Keys, timeout: o.Timeout, hc: o.HTTP, ws: sidebandClient(o.HTTP),
		obs: o.Observer, log: o.Logger, now: o.Now, sleep: o.Sleep, jitter: o.Jitter,
		retries: max(o.Retries, 0),
		queue:   newQueue(o.MaxConcurrency, o.QueueSize, o.QueueTimeout),
		breaker: NewBreaker(o.Breaker, o.Now),
		azure:   o.Azure,
	}
	if o.TokenReuse > 0 {
		c.reuse = newReuseCache(o.TokenReuse, o.TokenReuseMaxEntries, o.Now)
	}
	c.mintURL = c.base + mintPath
	if req, err := http.NewRequest(http.MethodPost, c.mintURL, nil); err == nil {
		c.mintReq = req // else every mint fails in newRequest, as before
	}
	return c
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
		MaxConnsPerHost:       maxConns,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   5 * time.Second,
		ResponseHeaderTimeout: 30 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
}

// Keys is the client's key ring.
func (c *Client) Keys() *KeyRing { return c.keys }

// Breaker is the client's circuit breaker.
func (c *Client) Breaker() *Breaker { return c.breaker }

// QueueState is the queue's instantaneous load.
type QueueState struct {
	Waiting  int // calls waiting for a slot
	InFlight int // calls holding a slot
}

// Queue reports the queue's load, for gauges.
func (c *Client) Queue() QueueState {
	return QueueState{Waiting: c.queue.waitingNow(), InFlight: c.queue.inFlight()}
}

// CloseIdleConnections closes the pooled connections not in use.
func (c *Client) CloseIdleConnections() {
	c.hc.CloseIdleConnections()
	c.ws.CloseIdleConnections()
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
	ExpiresAfter expiresAfter    `json:"expires_after"`
	Session      json.RawMessage `json:"session"`
}

// SessionJSON is the GA realtime session object for p, as sent to
// /realtime/client_secrets (inside "session") and /realtime/calls: p.Session
// when set, else the session built from p's model, voice and instructions.
func SessionJSON(p MintParams) ([]byte, error) {
	if p.Session != nil {
		return p.Session, nil
	}
	return json.Marshal(session(p))
}

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

// MintClientSecret asks the upstream for an ephemeral client secret. With
// token reuse on, an authenticated user's still-valid secret for the same
// session configuration is returned instead (Minted.Reused).
func (c *Client) MintClientSecret(ctx context.Context, p MintParams) (*Minted, error) {
	if c.reuse != nil {
		if m, ok := c.reuse.get(p); ok {
			c.observe(OutcomeReused, 0)
			return m, nil
		}
	}
	m, err := c.mint(ctx, p)
	if err != nil {
		return nil, err
	}
	if c.reuse != nil {
		c.reuse.put(p, m)
	}
	return m, nil
}

// mint asks the upstream for a new ephemeral client secret.
func (c *Client) mint(ctx context.Context, p MintParams) (*Minted, error) {
	body, err := c.bodies.body(p)
	if err != nil {
		return nil, err
	}
	var m *Minted
	err = c.call(ctx, request{
		method: http.MethodPost, path: mintPath, body: body,
		header: jsonHeader,
		safety: p.SafetyIdentifier,
	}, func(_ *http.Response, raw []byte) (string, error) {
		mr, err := decodeMintResponse(raw)
		if err != nil {
			return OutcomeBadResponse, fmt.Errorf("%w: %v", ErrBadResponse, err)
		}
		if mr.Value == "" || mr.ExpiresAt <= 0 {
			return OutcomeBadResponse, fmt.Errorf("%w: missing value or expires_at", ErrBadResponse)
		}
		m = &Minted{Body: raw, Value: mr.Value, ExpiresAt: time.Unix(mr.ExpiresAt, 0), SessionID: mr.Session.ID, Model: mr.Session.Model}
		return OutcomeOK, nil
	})
	if err != nil {
		return nil, err
	}
	return m, nil
}

// jsonHeader is the mint's request header; attempt copies its value slices
// into each request, which only reads them.
var jsonHeader = http.Header{"Content-Type": {"application/json"}, "Accept": {"application/json"}}

// request is one upstream call before the key and the deadline are set.
type request struct {
	method, path string
	body         []byte
	header       http.Header
	safety       string
	// idempotent allows re-sending after a 5xx answer: only a request
	// that acts at most once whatever the number of copies (a hang-up).
	idempotent bool
	// bearer, when set, authenticates the request instead of the key
	// ring's key: an ephemeral secret (azure.go). A 401 or 403 then says
	// nothing about the keys.
	bearer string
}

// call runs r through the breaker, the queue, the key ring and the retry
// loop; handle turns a 2xx answer into the result or an error.
func (c *Client) call(ctx context.Context, r request, handle func(*http.Response, []byte) (string, error)) error {
	return c.gate(ctx, func(ctx context.Context) error { return c.attempts(ctx, r, handle) })
}

// gate runs fn through the breaker's fast check, the bounded queue and the
// breaker's admission, within the call deadline, and tells the breaker how
// it went.
func (c *Client) gate(ctx context.Context, fn func(ctx context.Context) error) error {
	if wait, open := c.breaker.openFor(); open {
		c.observe(OutcomeBreakerOpen, 0)
		return &UnavailableError{Reason: OutcomeBreakerOpen, RetryAfter: retryAfterSeconds(wait)}
	}
	release, err := c.queue.acquire(ctx)
	if err != nil {
		var ue *UnavailableError
		if errors.As(err, &ue) {
			c.observe(ue.Reason, 0)
		} else {
			outcome, cerr := classify(ctx, err)
			c.observe(outcome, 0)
			return cerr
		}
		return err
	}
	defer release()
	done, wait, ok := c.breaker.admit()
	if !ok {
		c.observe(OutcomeBreakerOpen, 0)
		return &UnavailableError{Reason: OutcomeBreakerOpen, RetryAfter: retryAfterSeconds(wait)}
	}
	if c.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.timeout)
		defer cancel()
	}
	err = fn(ctx)
	done(breakerVerdict(ctx, err))
	return err
}

// attempts sends r with the active key until it succeeds, a key failover
// or a safe retry is no longer possible, or the deadline passes.
func (c *Client) attempts(ctx context.Context, r request, handle func(*http.Response, []byte) (string, error)) error {
	tried := map[string]bool{}
	k := c.keys.pick()
	for retry := 0; ; {
		tried[k.value] = true
		start := c.now()
		resp, raw, outcome, err := c.attempt(ctx, r, k)
		if err == nil {
			outcome, err = handle(resp, raw)
		}
		if next, refused := c.observeAttempt(k, tried, r.bearer == "", outcome, err, c.now().Sub(start)); refused {
			if next.value == "" {
				return err
			}
			k = next
			continue
		}
		if err == nil {
			return nil
		}
		if retry >= c.retries {
			return err
		}
		wait, ok := c.retryable(ctx, r, err, retry)
		if !ok {
			return err
		}
		retry++
		c.log.Debug("retrying upstream call", "path", r.path, "attempt", retry+1, "wait_ms", wait.Milliseconds(), "error", err.Error())
		if c.sleep(ctx, wait) != nil {
			return err
		}
	}
}

// observeAttempt records one attempt with k that ended with outcome and
// err. When the upstream refused the key (401/403; keyed: the attempt was
// authenticated with k, not an ephemeral secret), it reports refused and
// the key to try next (none when every key not yet tried is rejected); a
// key that worked is accepted again.
func (c *Client) observeAttempt(k keyRef, tried map[string]bool, keyed bool, outcome string, err error, elapsed time.Duration) (next keyRef, refused bool) {
	if se, ok := errors.AsType[*StatusError](err); ok && (se.Status == http.StatusUnauthorized || se.Status == http.StatusForbidden) && keyed {
		next, switched := c.keys.reject(k, func(key string) bool { return tried[key] })
		if switched {
			outcome = OutcomeKeyFailover
		}
		c.observe(outcome, elapsed)
		return next, true
	}
	c.observe(outcome, elapsed)
	if err == nil {
		c.keys.accept(k)
	}
	return keyRef{}, false
}

// attempt is one round trip with key k.
func (c *Client) attempt(ctx context.Context, r request, k keyRef) (*http.Response, []byte, string, error) {
	req, err := c.newRequest(ctx, r)
	if err != nil {
		return nil, nil, OutcomeNetwork, err
	}
	for k, v := range r.header {
		req.Header[k] = v
	}
	c.authorize(req, r, k)
	if r.safety != "" {
		req.Header.Set("OpenAI-Safety-Identifier", r.safety)
	}
	return c.roundTrip(req)
}

// newRequest is http.NewRequestWithContext(ctx, r.method, c.url(r.path),
// bytes.NewReader(r.body)) (no body when r.body is nil). A mint's request
// is instead a shallow copy of mintReq (Request.WithContext), so the URL is
// parsed once and shared, as WithContext's copies share it (net/http only
// reads it), with a header map and body of its own: the same request
// without url.Parse (about 2 % of a mint's CPU) and its URL allocation.
func (c *Client) newRequest(ctx context.Context, r request) (*http.Request, error) {
	if c.mintReq == nil || ctx == nil || r.path != mintPath || r.method != http.MethodPost || len(r.body) == 0 {
		var body io.Reader
		if r.body != nil {
			body = bytes.NewReader(r.body)
		}
		return http.NewRequestWithContext(ctx, r.method, c.url(r.path), body)
	}
	req := c.mintReq.WithContext(ctx)
	req.Header = make(http.Header, len(r.header)+2)
	b := r.body // never written: the body cache's, shared by every mint
	req.ContentLength = int64(len(b))
	req.Body = io.NopCloser(bytes.NewReader(b))
	req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
	return req, nil
}

// mintPath is the path of the mint's endpoint under the base URL.
const mintPath = "/realtime/client_secrets"

// url is the upstream URL of path.
func (c *Client) url(path string) string {
	if path == mintPath {
		return c.mintURL
	}
	return c.base + path
}

func (c *Client) observe(outcome string, d time.Duration) {
	if c.obs != nil {
		c.obs.ObserveUpstream(outcome, d)
	}
}

// roundTrip sends req and reads a bounded body. A non-2xx answer becomes a
// *StatusError.
func (c *Client) roundTrip(req *http.Request) (*http.Response, []byte, string, error) {
	resp, err := c.hc.Do(req)
	if err != nil {
		outcome, err := classify(req.Context(), err)
		return nil, nil, outcome, err
	}
	defer resp.Body.Close()
	raw, err := readBounded(resp.Body, resp.ContentLength, maxResponseBytes)
	if err != nil {
		outcome, err := classify(req.Context(), err)
		return nil, nil, outcome, err
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return resp, raw, statusOutcome(resp.StatusCode), statusError(resp, raw, c.now())
	}
	if len(raw) > maxResponseBytes {
		return resp, nil, OutcomeBadResponse, fmt.Errorf("%w: body over %d bytes", ErrBadResponse, maxResponseBytes)
	}
	return resp, raw, OutcomeOK, nil
}

func statusOutcome(status int) string {
	switch {
	case status == http.StatusTooManyRequests:
		return OutcomeRateLimited
	case status >= 500:
		return OutcomeServerError
	}
	return OutcomeClientError
}

func statusError(resp *http.Response, raw []byte, now time.Time) *StatusError {
	se := &StatusError{Status: resp.StatusCode, RetryAfter: retryAfterHint(resp.Header, now)}
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

// retryAfterSeconds rounds d up to whole seconds, at least one, as
// Retry-After carries.
func retryAfterSeconds(d time.Duration) time.Duration {
	if d <= time.Second {
		return time.Second
	}
	return ((d + time.Second - 1) / time.Second) * time.Second
}
