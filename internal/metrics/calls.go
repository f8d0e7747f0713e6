package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rtgate/rtgate/internal/calls"
	"github.com/rtgate/rtgate/internal/usage"
)

// Calls counts what the sideband controller sees of the proxied calls:
// attaches, open sidebands, policy events, usage by kind and model, and
// ended calls by reason with their durations. No label is a user or a call:
// kinds, models (from the configuration) and reasons are fixed sets. It
// implements calls.ControlMetrics.
type Calls struct {
	attaches  *prometheus.CounterVec
	open      *prometheus.GaugeVec
	policy    *prometheus.CounterVec
	tokens    *prometheus.CounterVec
	responses *prometheus.CounterVec
	live      *prometheus.CounterVec
	ended     *prometheus.CounterVec
	duration  *prometheus.HistogramVec
}

var _ calls.ControlMetrics = (*Calls)(nil)

// NewCalls registers the call collectors on reg.
func NewCalls(reg prometheus.Registerer) (*Calls, error) {
	m := &Calls{
		attaches: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "rtgate_sideband_attaches_total",
			Help: "Sideband attaches by call kind and result (ok; gone: the upstream no longer knows the call; failed)."}, []string{"kind", "result"}),
		open: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "rtgate_sidebands_open",
			Help: "Sidebands open on this instance, by call kind."}, []string{"kind"}),
		policy: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "rtgate_session_policy_events_total",
			Help: "Security events of the session policy by call kind, event (session_changed, client_event_blocked) and action (reverted, hung_up, none)."}, []string{"kind", "event", "action"}),
		tokens: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "rtgate_call_usage_tokens_total",
			Help: "Tokens used by proxied calls, by kind, model and type (input_text, input_audio, input_image, cached_text, cached_audio, cached_image, output_text, output_audio); input counts include their cached part."}, []string{"kind", "model", "type"}),
		responses: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "rtgate_call_responses_total",
			Help: "Responses of proxied calls, by kind and model."}, []string{"kind", "model"}),
		live: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "rtgate_call_live_seconds_total",
			Help: "GPT-Live voice time of proxied sessions, by kind and model."}, []string{"kind", "model"}),
		ended: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "rtgate_calls_ended_total",
			Help: "Proxied calls ended, by kind and reason."}, []string{"kind", "reason"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "rtgate_call_duration_seconds",
			Help:    "Duration of proxied calls, by kind.",
			Buckets: []float64{5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600}}, []string{"kind"}),
	}
	for _, c := range []prometheus.Collector{m.attaches, m.open, m.policy, m.tokens, m.responses, m.live, m.ended, m.duration} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	for _, k := range []calls.Kind{calls.KindRealtime, calls.KindLive} {
		m.open.WithLabelValues(string(k))
		m.ended.WithLabelValues(string(k), calls.ReasonSidebandLost)
		m.policy.WithLabelValues(string(k), "session_changed", "hung_up")
		for _, r := range []string{"ok", "gone", "failed"} {
			m.attaches.WithLabelValues(string(k), r)
		}
	}
	return m, nil
}

// SidebandAttach implements calls.ControlMetrics.
func (m *Calls) SidebandAttach(kind calls.Kind, result string) {
	m.attaches.WithLabelValues(string(kind), result).Inc()
}

// SidebandOpen implements calls.ControlMetrics.
func (m *Calls) SidebandOpen(kind calls.Kind, delta int) {
	m.open.WithLabelValues(string(kind)).Add(float64(delta))
}

// PolicyEvent implements calls.ControlMetrics.
func (m *Calls) PolicyEvent(kind calls.Kind, event, action string) {
	m.policy.WithLabelValues(string(kind), event, action).Inc()
}

// Usage implements calls.ControlMetrics.
func (m *Calls) Usage(kind calls.Kind, model string, d usage.Usage) {
	k := string(kind)
	for _, f := range d.Fields() {
		switch {
		case f.Value == 0:
		case f.Name == "responses":
			m.responses.WithLabelValues(k, model).Add(float64(f.Value))
		case f.Name == "live_ms":
			m.live.WithLabelValues(k, model).Add(float64(f.Value) / 1000)
		case f.Name == "call_ms":
			// A Realtime call's running time: rtgate_call_duration_seconds
			// has it at the end.
		default:
			m.tokens.WithLabelValues(k, model, tokenType(f.Name)).Add(float64(f.Value))
		}
	}
}

// tokenType is a usage counter's name without "_tokens".
func tokenType(name string) string {
	const suffix = "_tokens"
	if len(name) > len(suffix) && name[len(name)-len(suffix):] == suffix {
		return name[:len(name)-len(suffix)]
	}
	return name
}

// CallEnded counts one ended call of kind, with its reason and duration
// (the registry's OnEnded).
func (m *Calls) CallEnded(kind calls.Kind, reason string, d time.Duration) {
	m.ended.WithLabelValues(string(kind), reason).Inc()
	m.duration.WithLabelValues(string(kind)).Observe(max(d, 0).Seconds())
}
