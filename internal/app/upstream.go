package app

import (
	"context"
	"crypto/tls"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/rtgate/rtgate/internal/config"
	"github.com/rtgate/rtgate/internal/gateway"
	"github.com/rtgate/rtgate/internal/metrics"
	"github.com/rtgate/rtgate/internal/openai"
)

// newUpstream builds the upstream client (key ring, queue, breaker,
// retries, token reuse) and its readiness checks, and starts the key
// watcher: key files are re-read on SIGHUP and every
// OPENAI_API_KEY_FILE_POLL_MS.
func (a *App) newUpstream(m *metrics.Metrics) (*openai.Client, []gateway.Check, error) {
	c := a.cfg
	u := c.Upstream
	log := a.log.With("component", "upstream")
	keys, err := openai.NewKeyRing(openai.KeyRingOptions{
		Primary:  openai.KeySource{Value: c.OpenAIAPIKey, File: u.KeyFile},
		Backup:   openai.KeySource{Value: u.BackupKey, File: u.BackupKeyFile},
		Logger:   log,
		Observer: m,
	})
	if err != nil {
		return nil, nil, fmt.Errorf("upstream keys: %w", err)
	}
	up := openai.New(openai.Options{
		HTTP:           upstreamHTTP(c),
		Azure:          c.Provider.Azure(),
		BaseURL:        c.OpenAIBaseURL,
		Keys:           keys,
		Timeout:        c.UpstreamTimeout,
		MaxConcurrency: u.MaxConcurrency,
		QueueSize:      u.QueueSize,
		QueueTimeout:   u.QueueTimeout,
		Retries:        u.Retries,
		Breaker:        openai.BreakerOptions{Failures: u.BreakerFailures, Cooldown: u.BreakerCooldown},
		TokenReuse:     u.TokenReuse,
		Observer:       m,
		Logger:         log,
	})
	a.closers = append(a.closers, up.CloseIdleConnections)
	if err := m.WatchUpstream(func() metrics.UpstreamState { return upstreamState(up) }); err != nil {
		return nil, nil, err
	}

	// SIGHUP means "reload the keys", never "exit" (Go's default): the
	// handler is installed now, so a signal sent once New has returned is
	// never fatal, and removed when the App closes.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	a.closers = append(a.closers, func() { signal.Stop(hup) })
	a.background = append(a.background, func(ctx context.Context) { keys.Watch(ctx, u.KeyFilePoll, hup) })

	checks := []gateway.Check{
		gateway.HealthCheck("upstream_keys", keys.Health),
		gateway.HealthCheck("upstream_breaker", up.Breaker().Health),
	}
	if probe := openai.NewTLSProbe(c.OpenAIBaseURL, c.Provider.RootCAs, nil); probe != nil {
		// Said at start-up too: a certificate rtgate does not trust fails
		// every mint with 502, and /readyz stays unready until it is.
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		if _, err := probe.Health(ctx); err != nil {
			log.Error("the upstream's TLS certificate is not trusted: every upstream call will fail until it is; /readyz is unready meanwhile", "error", err.Error())
		}
		cancel()
		checks = append(checks, gateway.HealthCheck("upstream_tls", probe.Health))
	}
	return up, checks, nil
}

// upstreamHTTP is the upstream client's pooled transport, trusting
// OPENAI_CA_FILE's certificates besides the system roots when it is set.
func upstreamHTTP(c *config.Config) *http.Client {
	tr := openai.NewTransport(c.Upstream.MaxConcurrency)
	if c.Provider.RootCAs != nil {
		tr.TLSClientConfig = &tls.Config{RootCAs: c.Provider.RootCAs, MinVersion: tls.VersionTLS12}
	}
	return &http.Client{Transport: tr}
}

func upstreamState(up *openai.Client) metrics.UpstreamState {
	q := up.Queue()
	ks := up.Keys().Status()
	st := metrics.UpstreamState{QueueDepth: q.Waiting, InFlight: q.InFlight, Breaker: up.Breaker().State().State, ActiveKey: ks.Active, Keys: map[string]bool{}}
	for _, s := range ks.Slots {
		st.Keys[s.Name] = s.Rejected
	}
	return st
}
