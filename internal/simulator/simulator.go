package simulator

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Options configures a Simulator.
type Options struct {
	// APIKeys are the standard (non-ephemeral) keys accepted as Bearer tokens (or,
	// in Azure mode, in the api-key header). At least one non-empty key is
	// required; keys must not start with "ek_".
	APIKeys []string
	// Now is the clock for secret expiry, timestamps, session expiry and Live
	// usage seconds; nil means time.Now.
	Now func() time.Time
	// Logger receives one debug line per request (never keys or secrets); nil discards.
	Logger *slog.Logger
	// Answerer turns SDP offers into answers and carries each session's media
	// and data channel; nil means CannedAnswer (no media, no data channel). The
	// real WebRTC peer is webrtcpeer.Answerer.
	Answerer Answerer
	// Organization is the value of the openai-organization response header; empty
	// means "rtgate-simulator".
	Organization string
	// MaxCallDuration ends a Realtime call this long after it was created, per
	// Now (OpenAI's 60-minute session limit); 0 means 60 minutes.
	MaxCallDuration time.Duration
	// LiveMaxDuration ends a Live session with reason "expired" this long after
	// it was created, per Now; 0 means 60 minutes (OpenAI states no WebRTC limit).
	LiveMaxDuration time.Duration
	// LiveUsageInterval is how much Now-time passes between two
	// session.usage.updated events of a Live session; 0 means one second.
	LiveUsageInterval time.Duration
	// TickInterval is how often (real time) the simulator looks at Now for
	// clock-driven behaviour (expiry, Live usage) while sessions exist; 0 means
	// 200ms. Tests with a fake clock can also call Tick.
	TickInterval time.Duration
	// Azure serves Azure OpenAI's v1 shape instead of OpenAI's: every endpoint
	// under /openai/v1, standard keys in the api-key header (see the package doc).
	Azure bool
	// Deployments, in Azure mode, are the deployment names accepted as session
	// models; empty accepts any name.
	Deployments []string
}

// MaxBodyBytes is the largest request body the simulator reads; larger bodies get a
// 413 in OpenAI's error shape.
const MaxBodyBytes = 1 << 20

// Rate-limit figures reported in the x-ratelimit-* headers. They are informational:
// the simulator never enforces them (use FaultRateLimited for 429s).
const (
	rateLimitRequests = 5000
	rateLimitTokens   = 800000
)

// RecordedRequest is a copy of one request as the simulator received it.
type RecordedRequest struct {
	Method string
	Path   string
	// Header is a clone of the request headers (including Authorization).
	Header http.Header
	// Body holds the request body bytes (at most MaxBodyBytes+1).
	Body []byte
	// SafetyIdentifier is the OpenAI-Safety-Identifier request header, if any.
	SafetyIdentifier string
}

// SecretInfo describes one ephemeral client secret the simulator issued.
type SecretInfo struct {
	Value     string
	CreatedAt time.Time
	ExpiresAt time.Time
	// Session is the effective session object returned with the secret (JSON).
	Session []byte
	// SafetyIdentifier is the OpenAI-Safety-Identifier header sent when minting; the
	// real API binds it to the token.
	SafetyIdentifier string
}

// Simulator is a fake OpenAI Realtime and GPT-Live API. Create it with New.
type Simulator struct {
	now         func() time.Time
	log         *slog.Logger
	answerer    Answerer
	org         string
	mux         *http.ServeMux
	prefix      string // "/v1", or "/openai/v1" in Azure mode
	azure       bool
	deployments map[string]struct{}
	maxCall     time.Duration
	maxLive     time.Duration
	liveEvery   time.Duration
	tickEvery   time.Duration

	// afterSlow, if set (tests only), is called when a FaultSlow wait ends, with
	// whether the request context was cancelled first.
	afterSlow func(cancelled bool)

	mu         sync.Mutex
	keys       map[string]struct{}
	fault      Fault
	requests   int
	hits       map[string]int
	last       RecordedRequest
	minted     []string
	secrets    map[string]*SecretInfo
	pruneAt    int
	sessions   map[string]*session
	ended      map[string]string
	endedOrder []string
	ticking    bool
	windowFrom time.Time
	windowUsed int
}

// New returns a Simulator accepting opts.APIKeys. It panics if no usable key is given,
// since a simulator nobody can authenticate against is a programming error.
func New(opts Options) *Simulator {
	s := &Simulator{
		now:       opts.Now,
		log:       opts.Logger,
		answerer:  opts.Answerer,
		org:       opts.Organization,
		hits:      make(map[string]int),
		secrets:   make(map[string]*SecretInfo),
		sessions:  make(map[string]*session),
		ended:     make(map[string]string),
		pruneAt:   1024,
		prefix:    "/v1",
		azure:     opts.Azure,
		maxCall:   orDefault(opts.MaxCallDuration, 60*time.Minute),
		maxLive:   orDefault(opts.LiveMaxDuration, 60*time.Minute),
		liveEvery: orDefault(opts.LiveUsageInterval, time.Second),
		tickEvery: orDefault(opts.TickInterval, 200*time.Millisecond),
	}
	if s.azure {
		s.prefix = azurePrefix
		s.deployments = make(map[string]struct{}, len(opts.Deployments))
		for _, d := range opts.Deployments {
			s.deployments[d] = struct{}{}
		}
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.answerer == nil {
		s.answerer = AnswererFunc(CannedAnswer)
	}
	if s.org == "" {
		s.org = "rtgate-simulator"
	}
	s.keys = keySet(opts.APIKeys)
	if len(s.keys) == 0 {
		panic("simulator: Options.APIKeys must hold at least one non-empty standard key")
	}
	s.mux = s.routes()
	return s
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

func keySet(keys []string) map[string]struct{} {
	m := make(map[string]struct{}, len(keys))
	for _, k := range keys {
		if k == "" {
			continue
		}
		if strings.HasPrefix(k, ephemeralPrefix) {
			panic("simulator: a standard API key must not start with " + ephemeralPrefix)
		}
		m[k] = struct{}{}
	}
	return m
}

// SetKeys replaces the accepted standard keys (for key-rotation tests). With no keys,
// every standard-key request is rejected with 401.
func (s *Simulator) SetKeys(keys ...string) {
	m := keySet(keys)
	s.mu.Lock()
	s.keys = m
	s.mu.Unlock()
}

// Requests returns how many requests the simulator has received, whatever their
// outcome (rejected, faulted and unknown paths included).
func (s *Simulator) Requests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests
}

// Hits returns how many requests were received for the exact URL path p (for example
// "/v1/realtime/sessions"), whatever their outcome.
func (s *Simulator) Hits(p string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hits[p]
}

// Minted returns every ephemeral secret value issued so far, oldest first.
func (s *Simulator) Minted() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.minted)
}

// LastRequest returns a copy of the most recent request (zero value before any).
func (s *Simulator) LastRequest() RecordedRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.last
	r.Header = r.Header.Clone()
	r.Body = slices.Clone(r.Body)
	return r
}

// ValidSecret reports whether value is an ephemeral secret this simulator issued that
// has not expired according to Options.Now.
func (s *Simulator) ValidSecret(value string) bool {
	_, ok := s.Secret(value)
	return ok
}

// Secret returns what the simulator knows about an issued, unexpired ephemeral secret.
func (s *Simulator) Secret(value string) (SecretInfo, bool) {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	info, ok := s.secrets[value]
	if !ok || !now.Before(info.ExpiresAt) {
		return SecretInfo{}, false
	}
	c := *info
	c.Session = slices.Clone(info.Session)
	return c, true
}

// ServeHTTP serves the simulated API under /v1/.
func (s *Simulator) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if handled := cors(w, r); handled {
		return
	}
	start := s.now()
	body, readErr := io.ReadAll(io.LimitReader(r.Body, MaxBodyBytes+1))
	_ = r.Body.Close()
	tooLarge := len(body) > MaxBodyBytes

	s.mu.Lock()
	s.requests++
	s.hits[r.URL.Path]++
	s.last = RecordedRequest{
		Method:           r.Method,
		Path:             r.URL.Path,
		Header:           r.Header.Clone(),
		Body:             slices.Clone(body),
		SafetyIdentifier: r.Header.Get("OpenAI-Safety-Identifier"),
	}
	fault := s.takeFaultLocked()
	remaining, reset := s.rateWindowLocked(start)
	s.mu.Unlock()

	switch fault.Kind {
	case FaultDrop:
		s.log.Debug("simulator dropped connection", "method", r.Method, "path", r.URL.Path)
		dropConnection(w)
		return
	case FaultSlow:
		if !s.wait(r.Context(), fault.Delay) {
			s.log.Debug("simulator slow request cancelled", "method", r.Method, "path", r.URL.Path)
			return
		}
	}

	reqID := "req_" + randomHex(16)
	h := w.Header()
	h.Set("x-request-id", reqID)
	h.Set("openai-organization", s.org)
	h.Set("openai-version", "2020-10-01")
	h.Set("x-ratelimit-limit-requests", strconv.Itoa(rateLimitRequests))
	h.Set("x-ratelimit-limit-tokens", strconv.Itoa(rateLimitTokens))
	h.Set("x-ratelimit-remaining-requests", strconv.Itoa(remaining))
	h.Set("x-ratelimit-remaining-tokens", strconv.Itoa(rateLimitTokens))
	h.Set("x-ratelimit-reset-requests", reset.String())
	h.Set("x-ratelimit-reset-tokens", "0s")
	sw := &statusWriter{ResponseWriter: w, onHeader: func() {
		ms := s.now().Sub(start).Milliseconds()
		w.Header().Set("openai-processing-ms", strconv.FormatInt(max(ms, 0), 10))
	}}

	switch {
	case fault.Kind.isError():
		writeError(sw, fault.apiError(r))
	case readErr != nil:
		writeError(sw, &apiError{Status: http.StatusBadRequest, Type: typeInvalidRequest,
			Message: "We could not read the body of your request."})
	case tooLarge:
		writeError(sw, &apiError{Status: http.StatusRequestEntityTooLarge, Type: typeInvalidRequest,
			Message: fmt.Sprintf("Request body too large. The maximum is %d bytes.", MaxBodyBytes)})
	case s.azure && strings.HasPrefix(r.URL.Path, azurePrefix+"/") && r.URL.Query().Has("api-version"):
		writeError(sw, errAzureAPIVersion())
	default:
		r.Body = io.NopCloser(bytes.NewReader(body))
		s.mux.ServeHTTP(sw, r)
		if sw.status == 0 {
			sw.WriteHeader(http.StatusOK)
		}
	}
	s.log.Debug("simulator request", "method", r.Method, "path", r.URL.Path,
		"status", sw.status, "request_id", reqID, "fault", fault.Kind.String())
}

// wait sleeps for d unless ctx ends first; it reports whether the full delay passed.
func (s *Simulator) wait(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	ok := true
	select {
	case <-t.C:
	case <-ctx.Done():
		ok = false
	}
	if s.afterSlow != nil {
		s.afterSlow(!ok)
	}
	return ok
}

// rateWindowLocked counts the request in a one-minute window and returns the
// informational remaining-requests figure and the time until the window resets.
func (s *Simulator) rateWindowLocked(now time.Time) (int, time.Duration) {
	if now.Sub(s.windowFrom) >= time.Minute || now.Before(s.windowFrom) {
		s.windowFrom = now
		s.windowUsed = 0
	}
	s.windowUsed++
	reset := (time.Minute / rateLimitRequests) * time.Duration(s.windowUsed)
	return max(rateLimitRequests-s.windowUsed, 0), reset
}

func (s *Simulator) routes() *http.ServeMux {
	mux := http.NewServeMux()
	handle := func(method, path string, h http.HandlerFunc) {
		mux.HandleFunc(method+" "+path, h)
		mux.HandleFunc(path, methodNotAllowed(method))
	}
	p := s.prefix
	handle(http.MethodPost, p+"/realtime/client_secrets", s.handleClientSecrets)
	handle(http.MethodPost, p+"/realtime/sessions", s.handleBeta)
	handle(http.MethodPost, p+"/realtime/transcription_sessions", s.handleBeta)
	handle(http.MethodPost, p+"/realtime/calls", s.handleCreateCall)
	handle(http.MethodPost, p+"/realtime/calls/{call_id}/hangup", s.handleHangup)
	handle(http.MethodGet, p+"/realtime", s.handleRealtimeSideband)
	handle(http.MethodPost, p+"/live/sessions", s.handleCreateLive)
	handle(http.MethodPost, p+"/live/sessions/{session_id}/hangup", s.handleLiveHangup)
	handle(http.MethodGet, p+"/live/sessions/{session_id}/attach", s.handleLiveSideband)
	handle(http.MethodPost, controlPrefix+"/calls/{id}/response", s.handleControlResponse)
	handle(http.MethodPost, controlPrefix+"/calls/{id}/turn", s.handleControlTurn)
	handle(http.MethodPost, controlPrefix+"/live/{id}/usage", s.handleControlLiveUsage)
	handle(http.MethodPost, controlPrefix+"/sessions/{id}/client_event", s.handleControlClientEvent)
	handle(http.MethodGet, controlPrefix+"/sessions/{id}", s.handleControlSession)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, &apiError{Status: http.StatusNotFound, Type: typeInvalidRequest,
			Message: fmt.Sprintf("Invalid URL (%s %s)", r.Method, r.URL.Path)})
	})
	return mux
}

func methodNotAllowed(allow string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", allow)
		writeError(w, &apiError{Status: http.StatusMethodNotAllowed, Type: typeInvalidRequest,
			Message: fmt.Sprintf("Invalid method for URL (%s %s)", r.Method, r.URL.Path)})
	}
}

// dropConnection closes the client connection without writing a response.
func dropConnection(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		// HTTP/2 or a wrapped writer: abort the stream instead.
		panic(http.ErrAbortHandler)
	}
	_ = conn.Close()
}

// statusWriter records the status and runs onHeader just before headers are sent.
type statusWriter struct {
	http.ResponseWriter
	onHeader func()
	status   int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
		w.onHeader()
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriter.Write(p)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// randomHex returns 2n lowercase hex characters from crypto/rand.
func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// randomBase62 returns n characters from [0-9A-Za-z], without modulo bias.
func randomBase62(n int) string {
	out := make([]byte, 0, n)
	buf := make([]byte, n*2)
	for len(out) < n {
		_, _ = rand.Read(buf)
		for _, c := range buf {
			if c < 248 && len(out) < n { // 248 = 4*62
				out = append(out, base62[c%62])
			}
		}
	}
	return string(out)
}

// readAll returns the (already buffered) request body.
func readAll(r *http.Request) ([]byte, error) { return io.ReadAll(r.Body) }

// cors adds CORS headers when the request carries an Origin and answers a preflight
// itself, reporting whether it did. OpenAI's browser examples post the SDP offer with
// an ephemeral secret straight to api.openai.com and read the Location header, so the
// real API must allow any origin and expose Location; the exact header values are
// inferred, not documented. A preflight is answered before counting and faults, as
// the real API's edge would: it does not show in Requests() or consume Fault.Count.
func cors(w http.ResponseWriter, r *http.Request) bool {
	if r.Header.Get("Origin") == "" {
		return false
	}
	h := w.Header()
	h.Set("Access-Control-Allow-Origin", "*")
	if r.Method != http.MethodOptions || r.Header.Get("Access-Control-Request-Method") == "" {
		h.Set("Access-Control-Expose-Headers", "Location, x-request-id")
		return false
	}
	h.Set("Access-Control-Allow-Methods", "POST, OPTIONS")
	if req := r.Header.Get("Access-Control-Request-Headers"); req != "" {
		h.Set("Access-Control-Allow-Headers", req)
	}
	h.Set("Access-Control-Max-Age", "600")
	h.Set("Content-Length", "0")
	w.WriteHeader(http.StatusNoContent)
	return true
}
