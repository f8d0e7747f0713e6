// Package gateway puts the request pipeline together: the HTTP handlers for
// minting ephemeral client secrets, health and readiness, wrapped in the
// middlewares from httpx in the order the architecture prescribes.
package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
	"sync/atomic"
	"time"

	"github.com/rtgate/rtgate/internal/httpx"
	"github.com/rtgate/rtgate/internal/openai"
	"github.com/rtgate/rtgate/internal/ratelimit"
)

// Upstream mints ephemeral client secrets with the real key.
type Upstream interface {
	MintClientSecret(ctx context.Context, p openai.MintParams) (*openai.Minted, error)
}

// IPLimiter decides per-client-IP rate limits and writes their headers.
type IPLimiter interface {
	AllowIP(ctx context.Context, ip netip.Addr) (ratelimit.Decision, error)
	SetHeaders(h http.Header, d ratelimit.Decision)
}

// Check is one readiness probe: nil means ready; an error made by Degraded
// is shown in the detail but keeps the instance ready; any other error
// makes it unready.
type Check struct {
	Name  string
	Check func(ctx context.Context) error
}

// ErrDegraded marks a readiness error that does not make the instance unready.
var ErrDegraded = errors.New("degraded")

// Degraded returns a readiness error that reports detail but stays ready.
func Degraded(detail string) error { return fmt.Errorf("%w: %s", ErrDegraded, detail) }

// HealthCheck is the Check named name over a probe with a grey zone:
// health returns an error (unready), a non-empty degraded detail (ready,
// shown), or neither (ready).
func HealthCheck(name string, health func(ctx context.Context) (degraded string, err error)) Check {
	return Check{Name: name, Check: func(ctx context.Context) error {
		d, err := health(ctx)
		switch {
		case err != nil:
			return err
		case d != "":
			return Degraded(d)
		}
		return nil
	}}
}

// SessionPolicy is what a client may ask for and what the server fills in.
type SessionPolicy struct {
	Model         string
	Voice         string
	Instructions  string
	TTL           time.Duration
	AllowedModels []string
	AllowedVoices []string
	// Sessions renders the whole session of either kind
	// (SESSION_CONFIG_FILE); nil sends only model, voice and instructions
	// (Live: LiveSession's).
	Sessions SessionRenderer
	// Live is the server's GPT-Live session when Sessions is nil
	// (session.go).
	Live LiveSession
}

// SessionRenderer renders the session objects sent upstream: Realtime for
// a model and voice already checked against the allowlists, and the
// GPT-Live MediaSessionConfig. *sessioncfg.Sessions implements it.
type SessionRenderer interface {
	Realtime(model, voice string) (json.RawMessage, error)
	Live() json.RawMessage
}

// mintParams is the upstream session for model and voice.
func (s SessionPolicy) mintParams(model, voice string) (openai.MintParams, error) {
	p := openai.MintParams{Model: model, Voice: voice, Instructions: s.Instructions, TTL: s.TTL}
	if s.Sessions != nil {
		var err error
		if p.Session, err = s.Sessions.Realtime(model, voice); err != nil {
			return p, fmt.Errorf("render the session: %w", err)
		}
	}
	return p, nil
}

// Options wires a Gateway.
type Options struct {
	Logger       *slog.Logger
	Upstream     Upstream
	Limiter      IPLimiter
	Resolver     httpx.IPResolver
	Observer     httpx.Observer
	Origins      []string
	MaxBodyBytes int64
	Session      SessionPolicy
	Ready        []Check
	Now          func() time.Time
	// UpstreamDeadline bounds the upstream work of one request once it no
	// longer follows the client's cancellation (upstreamctx.go): the queue
	// wait plus UPSTREAM_TIMEOUT_MS; 0 means DefaultUpstreamDeadline.
	UpstreamDeadline time.Duration
	// Auth authenticates callers; nil means AUTH_MODE=none (anonymous).
	Auth Authenticator
	// Users applies per-user controls, keeps records and serves the data
	// rights; nil means none (AUTH_MODE=none: /api/me/data answers 404).
	Users UserControls
	// Transport, when set, runs right after client IP resolution, before
	// the origin gate: the production HTTPS guard lives here.
	Transport func(http.Handler) http.Handler
	// Web configures the demo page and the SDP proxy (web.go, call.go).
	Web WebOptions
	// NoGetMint serves the mint endpoint to POST only (ALLOW_GET_MINT=false).
	NoGetMint bool
	// Budgets applies the spend budgets (budget.go); nil means none.
	Budgets Budgets
}

// Gateway is the public HTTP surface of rtgate.
type Gateway struct {
	o        Options
	log      *slog.Logger
	draining atomic.Bool
	handler  http.Handler
}

// New builds a Gateway. Its Handler is ready to serve.
func New(o Options) *Gateway {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Auth == nil {
		o.Auth = anonymous{}
	}
	g := &Gateway{o: o, log: o.Logger}

	mux := http.NewServeMux()
	if o.NoGetMint {
		mux.Handle("POST /api/realtime-session", g.handle(g.mint))
		mux.Handle("/api/realtime-session", g.methodNotAllowed("POST"))
	} else {
		mux.Handle("GET /api/realtime-session", g.handle(g.mint))
		mux.Handle("POST /api/realtime-session", g.handle(g.mint))
		mux.Handle("/api/realtime-session", g.methodNotAllowed("GET, POST"))
	}
	mux.HandleFunc("GET /healthz", g.healthz)
	mux.Handle("/healthz", g.methodNotAllowed("GET"))
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) { g.readyz(w, r, false) })
	mux.Handle("/readyz", g.methodNotAllowed("GET"))
	g.callRoutes(mux)
	g.userRoutes(mux)
	g.webRoutes(mux)
	mux.Handle("/", g.handle(func(http.ResponseWriter, *http.Request) error { return notFound(nil) }))

	transport := o.Transport
	if transport == nil {
		transport = func(h http.Handler) http.Handler { return h }
	}
	g.handler = httpx.Chain(httpx.WithRoute(mux),
		httpx.RequestIDs,
		httpx.Secure,
		httpx.AccessLog(g.log, o.Observer, o.Now),
		httpx.Recover(g.log),
		httpx.WithClientIP(o.Resolver, g.log),
		transport,
		httpx.NewCORS(o.Origins, g.log).Middleware,
		g.sameSiteAPI,
	)
	return g
}

// sameSiteAPI refuses (403) a browser request another site made without
// CORS (httpx.CrossSiteFetch) to any /api/ route: they mint, call, erase or
// export. It runs before routing and the rate limit, so such a request
// neither reaches the upstream nor burns the user's budget. The demo page
// and the health endpoints stay reachable from anywhere.
func (g *Gateway) sameSiteAPI(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/api/") {
			if err := httpx.CrossSiteFetch(r); err != nil {
				httpx.WriteError(w, r, g.log, httpx.Errorf(http.StatusForbidden, httpx.CodeForbidden, err))
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// Handler is the public listener's handler.
func (g *Gateway) Handler() http.Handler { return g.handler }

// SetDraining marks the gateway as shutting down: /readyz turns unready so
// load balancers stop sending traffic while in-flight requests finish.
func (g *Gateway) SetDraining() { g.draining.Store(true) }

// methodNotAllowed refuses every request with 405 and allow; the refusal
// is made once (WriteError never changes it).
func (g *Gateway) methodNotAllowed(allow string) http.Handler {
	refusal := methodNotAllowedError(allow)
	return g.handle(func(http.ResponseWriter, *http.Request) error { return refusal })
}

func (g *Gateway) healthz(w http.ResponseWriter, r *http.Request) {
	httpx.WriteJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// ReadyHandler serves readiness with per-check detail; it belongs on the
// admin listener, since the detail is for operators.
func (g *Gateway) ReadyHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { g.readyz(w, r, true) })
}

type readiness struct {
	Status string            `json:"status"`
	Checks map[string]string `json:"checks,omitempty"`
}

func (g *Gateway) readyz(w http.ResponseWriter, r *http.Request, detail bool) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	res := readiness{Status: "ready", Checks: map[string]string{}}
	if g.draining.Load() {
		res.Status = "draining"
	}
	for _, c := range g.o.Ready {
		if err := c.Check(ctx); err != nil {
			if !errors.Is(err, ErrDegraded) {
				res.Status = "unready"
			}
			res.Checks[c.Name] = err.Error()
		} else {
			res.Checks[c.Name] = "ok"
		}
	}
	status := http.StatusOK
	if res.Status != "ready" {
		status = http.StatusServiceUnavailable
	}
	if !detail {
		res.Checks = nil
	}
	httpx.WriteJSON(w, status, res)
}
