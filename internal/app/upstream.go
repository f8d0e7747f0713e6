package app

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

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
	return up, checks, nil
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
