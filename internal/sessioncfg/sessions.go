package sessioncfg

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Reload results, the label values of rtgate_session_config_reloads_total.
const (
	ReloadChanged   = "changed"
	ReloadUnchanged = "unchanged"
	ReloadError     = "error"
)

// Options configures Sessions.
type Options struct {
	// Logger receives the reload log lines (never the file's contents).
	Logger *slog.Logger
	// Registerer, when set, gets rtgate_session_config_reloads_total{result}
	// and rtgate_session_config_loaded_timestamp_seconds.
	Registerer prometheus.Registerer
	// Now stamps successful loads; nil means time.Now.
	Now func() time.Time
}

// Sessions is the session configuration in force: a Config swapped
// atomically by Reload. Readers never block and never see a half-loaded
// file. It is safe for concurrent use.
type Sessions struct {
	cur atomic.Pointer[Config]
	mu  sync.Mutex // serialises reloads
	log *slog.Logger
	now func() time.Time

	reloads *prometheus.CounterVec
	loaded  prometheus.Gauge
}

// New returns Sessions holding initial, a Config that Load returned. It
// registers its metrics with o.Registerer, if any.
func New(initial *Config, o Options) (*Sessions, error) {
	if initial == nil {
		return nil, errors.New("sessioncfg: New needs a loaded Config")
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	s := &Sessions{log: o.Logger, now: o.Now,
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rtgate_session_config_reloads_total",
			Help: "Reloads of SESSION_CONFIG_FILE by result: changed, unchanged, or error (the previous configuration stays in force).",
		}, []string{"result"}),
		loaded: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "rtgate_session_config_loaded_timestamp_seconds",
			Help: "When the session configuration in force was loaded (Unix seconds).",
		}),
	}
	for _, r := range []string{ReloadChanged, ReloadUnchanged, ReloadError} {
		s.reloads.WithLabelValues(r)
	}
	if o.Registerer != nil {
		for _, c := range []prometheus.Collector{s.reloads, s.loaded} {
			if err := o.Registerer.Register(c); err != nil {
				return nil, err
			}
		}
	}
	s.cur.Store(initial)
	s.loaded.Set(float64(o.Now().Unix()))
	return s, nil
}

// Current is the Config in force.
func (s *Sessions) Current() *Config { return s.cur.Load() }

// Realtime renders the Realtime session with the Config in force; see
// Config.Realtime.
func (s *Sessions) Realtime(model, voice string) (json.RawMessage, error) {
	return s.Current().Realtime(model, voice)
}

// Live renders the GPT-Live MediaSessionConfig with the Config in force; see
// Config.Live.
func (s *Sessions) Live() json.RawMessage { return s.Current().Live() }

// Locks is the locked fields of a Realtime session made with model and voice
// under the Config in force; see Config.Locks.
func (s *Sessions) Locks(model, voice string) *Locks { return s.Current().Locks(model, voice) }

// Reload reads the file again with the same environment and, if it is
// valid, puts it in force for every session created from now on. On error
// the previous Config stays in force, the error is logged and counted, and
// returned. A Config without a file has nothing to reload.
func (s *Sessions) Reload() (changed bool, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.Current()
	next, err := Load(old.file, old.env)
	if err != nil {
		s.reloads.WithLabelValues(ReloadError).Inc()
		s.log.Error("session configuration reload failed; the previous configuration stays in force",
			"variable", Var, "file", old.file, "error", err.Error())
		return false, err
	}
	for _, w := range next.Warnings() {
		s.log.Warn("session configuration: "+w, "variable", Var, "file", next.file)
	}
	if next.Same(old) {
		s.reloads.WithLabelValues(ReloadUnchanged).Inc()
		s.log.Info("session configuration reloaded: unchanged", "variable", Var, "file", next.file)
		return false, nil
	}
	s.cur.Store(next)
	s.loaded.Set(float64(s.now().Unix()))
	s.reloads.WithLabelValues(ReloadChanged).Inc()
	s.log.Info("session configuration reloaded: new sessions use it", "variable", Var, "file", next.file)
	return true, nil
}

// Watch reloads on every signal received (SIGHUP) until ctx ends. Without a
// file it only drains the signals.
func (s *Sessions) Watch(ctx context.Context, signals <-chan os.Signal) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-signals:
			if s.Current().file != "" {
				s.log.Info("reloading the session configuration on signal", "variable", Var, "file", s.Current().file)
				_, _ = s.Reload()
			}
		}
	}
}
