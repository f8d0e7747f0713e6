// Package app wires rtgate's parts together from a Config: listeners,
// upstream client, rate limiter, gateway, metrics and, in development
// without a key, the built-in simulator. cmd/rtgate only parses arguments and
// calls it; end-to-end tests build an App in-process on port 0.
package app

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/rtgate/rtgate/internal/admin"
	"github.com/rtgate/rtgate/internal/clientip"
	"github.com/rtgate/rtgate/internal/config"
	"github.com/rtgate/rtgate/internal/connlimit"
	"github.com/rtgate/rtgate/internal/gateway"
	"github.com/rtgate/rtgate/internal/metrics"
	"github.com/rtgate/rtgate/internal/ratelimit"
	"github.com/rtgate/rtgate/internal/server"
	"github.com/rtgate/rtgate/internal/simulator"
)

// NewLogger returns the JSON logger rtgate writes to w (stderr in production).
func NewLogger(w io.Writer, level slog.Level) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level}))
}

// App is a wired rtgate instance with its listeners bound.
type App struct {
	cfg      *config.Config
	log      *slog.Logger
	gw       *gateway.Gateway
	registry *metrics.Registry
	public   net.Listener
	admin    net.Listener
	limits   server.Limits
	// background holds goroutines to run for the App's lifetime.
	background []func(ctx context.Context)
	// onStop runs, in order, once the listeners have drained and the
	// background context is cancelled.
	onStop   []func()
	closers  []func()
	simURL   string
	redis    redis.UniversalClient
	tls      *tlsState
	operator *admin.API // nil without ADMIN_TOKEN or without users
	// conns caps the public and redirect listeners, adminConns the admin one.
	conns, adminConns *connlimit.Limiter
}

// New builds an App from cfg and binds its listeners. cfg is not modified.
// Close releases everything New acquired if Run is never called.
func New(cfg *config.Config, log *slog.Logger) (*App, error) { return build(cfg, log, false) }

// build is New; embedded (NewEmbedded) leaves the listeners, and so TLS,
// to the program that mounts the gateway.
func build(cfg *config.Config, log *slog.Logger, embedded bool) (_ *App, err error) {
	c := *cfg
	a := &App{cfg: &c, log: log}
	defer func() {
		if err != nil {
			a.Close()
		}
	}()
	if c.Simulated {
		if c.Mode == config.Production {
			return nil, errors.New("the built-in simulator is never used in production")
		}
		if err := a.startSimulator(); err != nil {
			return nil, err
		}
	}

	a.registry = metrics.NewRegistry()
	m := metrics.New(a.registry)
	if err := a.newConnLimits(); err != nil {
		return nil, err
	}

	resolver := clientip.NewResolver(c.TrustedProxies, c.ClientIPHeader)
	limiter, rlChecks, err := a.newLimiter()
	if err != nil {
		return nil, err
	}

	up, upChecks, err := a.newUpstream(m)
	if err != nil {
		return nil, err
	}
	guard, authChecks, err := a.newAuth()
	if err != nil {
		return nil, err
	}
	um, userChecks, err := a.newUsers(limiter)
	if err != nil {
		return nil, err
	}
	var uc gateway.UserControls // AUTH_MODE=none leaves it nil: anonymous callers, nothing kept
	if um != nil {
		uc = um
	}
	sessions, err := a.newSessions()
	if err != nil {
		return nil, err
	}
	session := gateway.SessionPolicy{
		Model:         c.RealtimeModel,
		Voice:         c.RealtimeVoice,
		Instructions:  c.RealtimeInstructions,
		TTL:           c.TokenTTL,
		AllowedModels: c.AllowedModels,
		AllowedVoices: c.AllowedVoices,
		Sessions:      sessions,
	}
	bud, budgetChecks, err := a.newBudget()
	if err != nil {
		return nil, err
	}
	callUpstreams := gateway.CallUpstreams{Realtime: up, Live: up, Sidebands: up}
	reg, ctl, callChecks, err := a.newCalls(callUpstreams, uc, session, bud)
	if err != nil {
		return nil, err
	}

	// The public listener is bound before the gateway is built, so that
	// development's default origins (config.DevOrigins) name the port
	// PORT=0 picked.
	if embedded {
		// The host's server owns the connections.
	} else if a.public, err = net.Listen("tcp", c.Addr()); err != nil {
		return nil, fmt.Errorf("listen on %s (HOST/PORT): %w", c.Addr(), err)
	}
	if c.DevOrigins && c.Port == 0 && !embedded {
		c.AllowedOrigins = config.DevOrigins(c.Host, a.publicPort(), c.TLS.Native())
	}

	o := gateway.Options{
		Logger:           log,
		Upstream:         up,
		Limiter:          limiter,
		Resolver:         resolver,
		Observer:         m,
		Origins:          c.AllowedOrigins,
		MaxBodyBytes:     c.MaxBodyBytes,
		Session:          session,
		Ready:            slices.Concat(rlChecks, upChecks, authChecks, userChecks, callChecks, budgetChecks, unsafeChecks(c.Abuse.Unsafe)),
		Transport:        a.transportGuard(),
		UpstreamDeadline: c.Upstream.QueueTimeout + c.UpstreamTimeout,
		NoGetMint:        !c.Abuse.AllowGetMint,
		Users:            uc,
		Budgets:          bud,
		Web: gateway.WebOptions{DemoPage: c.Web.DemoPage, RealtimeURL: c.OpenAIBaseURL, RealtimeOrigin: c.RealtimeOrigin(), MaxSDPBytes: c.Web.MaxSDPBytes, SessionMax: c.Auth.SessionMax,
			Upstreams: callUpstreams, Calls: reg, Control: ctl},
	}
	if guard != nil { // AUTH_MODE=none leaves it nil: anonymous callers
		o.Auth = guard
	}
	a.gw = gateway.New(o)
	a.operator = a.newAdmin(um, reg, bud)
	a.limits = server.DefaultLimits(c.UpstreamTimeout, c.MaxHeaderBytes)

	if embedded {
		return a, nil
	}
	if err := a.setupTLS(); err != nil {
		return nil, err
	}
	if c.AdminAddr != "" {
		if a.admin, err = net.Listen("tcp", c.AdminAddr); err != nil {
			return nil, fmt.Errorf("listen on %s (ADMIN_ADDR): %w", c.AdminAddr, err)
		}
	}
	return a, nil
}

func (a *App) newLimiter() (*ratelimit.Limiter, []gateway.Check, error) {
	c := a.cfg
	rlm, err := ratelimit.NewMetrics(a.registry)
	if err != nil {
		return nil, nil, err
	}
	mem := ratelimit.NewMemory(ratelimit.MemoryOptions{MaxKeys: c.RateLimitMaxKeys})
	rlm.ObserveMemory(mem)
	a.background = append(a.background, mem.Run)
	mode, err := ratelimit.ParseHeaderMode(c.RateLimitHeaders)
	if err != nil {
		return nil, nil, err
	}
	store, checks, err := a.limiterStore(mem, rlm)
	if err != nil {
		return nil, nil, err
	}
	lim, err := ratelimit.New(ratelimit.Options{
		IP:         ratelimit.Policy{Limit: c.RateLimitMax, Window: c.RateLimitWindow, Burst: c.Abuse.RateLimitBurst},
		User:       ratelimit.Policy{Limit: c.UserRateLimitMax, Window: c.UserRateLimitWindow},
		IPv6Prefix: c.RateLimitIPv6Prefix,
		Whitelist:  c.RateLimitWhitelist,
		Shadow:     c.RateLimitShadow,
		Headers:    mode,
		Store:      store,
		Logger:     a.log,
		Metrics:    rlm,
	})
	return lim, checks, err
}

// unsafeChecks shows the production settings accepted although they weaken
// the limits (config's Abuse.Unsafe) in the admin /readyz detail, every
// time someone looks, without making the instance unready.
func unsafeChecks(unsafe []string) []gateway.Check {
	if len(unsafe) == 0 {
		return nil
	}
	detail := strings.Join(unsafe, "; ")
	return []gateway.Check{{Name: "unsafe_settings", Check: func(context.Context) error { return gateway.Degraded(detail) }}}
}

// startSimulator runs the OpenAI simulator on a loopback port with a fresh
// random key, and points the upstream at it. This is development only.
func (a *App) startSimulator() error {
	var b [16]byte
	_, _ = rand.Read(b[:])
	key := "sk-sim-" + hex.EncodeToString(b[:])
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("start built-in simulator: %w", err)
	}
	azure := a.cfg.Provider.Azure() // OPENAI_API_FLAVOR=azure without a key: Azure's shape, locally
	sim := simulator.New(simulator.Options{APIKeys: []string{key}, Logger: a.log.With("component", "simulator"), Answerer: simulatorAnswerer(a.log.With("component", "simulator")), Azure: azure})
	srv := &http.Server{Handler: sim, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	a.closers = append(a.closers, func() { _ = srv.Close(); sim.Close() })
	a.simURL = "http://" + ln.Addr().String() + "/v1"
	if azure {
		a.simURL = "http://" + ln.Addr().String() + "/openai/v1"
	}
	a.cfg.OpenAIBaseURL = a.simURL
	a.cfg.OpenAIAPIKey = key
	a.log.Warn("development mode without OPENAI_API_KEY: using the built-in OpenAI simulator; no real tokens are minted",
		"simulator_url", a.simURL)
	return nil
}

// PublicAddr is the public listener's address (host:port).
func (a *App) PublicAddr() string { return a.public.Addr().String() }

// AdminAddr is the admin listener's address, or "" when disabled.
func (a *App) AdminAddr() string {
	if a.admin == nil {
		return ""
	}
	return a.admin.Addr().String()
}

// SimulatorURL is the built-in simulator's base URL, or "" when not in use.
func (a *App) SimulatorURL() string { return a.simURL }

// Close releases resources acquired by New. Run calls it on return.
func (a *App) Close() {
	for _, ln := range []net.Listener{a.public, a.admin} {
		if ln != nil {
			_ = ln.Close()
		}
	}
	for i := len(a.closers) - 1; i >= 0; i-- {
		a.closers[i]()
	}
	a.closers = nil
}

// Run serves until ctx is cancelled, then drains: /readyz turns unready,
// in-flight requests get up to SHUTDOWN_TIMEOUT_MS to finish.
func (a *App) Run(ctx context.Context) error {
	defer a.Close()
	stop := a.startBackground()
	lns := []server.Listener{{Name: "public", Net: a.public, Handler: a.gw.Handler(), Limits: a.limits, ServeFunc: a.publicServe, Conns: a.conns}}
	lns = append(lns, a.extraListeners()...)
	if a.admin != nil {
		lns = append(lns, server.Listener{Name: "admin", Net: a.admin, Handler: a.AdminHandler(), Limits: server.DefaultLimits(5*time.Second, 16384), Conns: a.adminConns})
	}
	a.log.Info("rtgate listening", "mode", string(a.cfg.Mode), "addr", a.PublicAddr(), "admin_addr", a.AdminAddr(), "auth_mode", a.cfg.AuthMode)
	if a.cfg.Web.DemoPage {
		a.log.Info("demo page: open "+a.demoURL()+" in a browser", "url", a.demoURL(), "allowed_origins", strings.Join(a.cfg.AllowedOrigins, ","))
	}
	err := server.Run(ctx, a.log, a.cfg.ShutdownTimeout, a.gw.SetDraining, lns...)
	stop()
	return err
}

// startBackground starts the App's background work; the function it
// returns cancels that work and runs the onStop hooks.
func (a *App) startBackground() (stop func()) {
	bg, cancel := context.WithCancel(context.Background())
	for _, f := range a.background {
		go f(bg)
	}
	return func() {
		cancel()
		for _, f := range a.onStop {
			f()
		}
	}
}
