package ratelimit

import (
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// Outcome values of the decisions counter.
const (
	OutcomeAllowed      = "allowed"       // admitted under the limit
	OutcomeDenied       = "denied"        // refused (429)
	OutcomeShadowDenied = "shadow_denied" // over the limit, admitted by shadow mode
	OutcomeSkipped      = "skipped"       // whitelisted, policy off, or store failed open
	OutcomeError        = "error"         // the store returned an error
)

// outcome indexes the decisions counter's outcome label values.
type outcome uint8

const (
	outcomeAllowed outcome = iota
	outcomeDenied
	outcomeShadowDenied
	outcomeSkipped
	outcomeError
	numOutcomes
)

var outcomeNames = [numOutcomes]string{OutcomeAllowed, OutcomeDenied, OutcomeShadowDenied, OutcomeSkipped, OutcomeError}

// scope indexes the decisions counter's scope label values.
type scope uint8

const (
	scopeIP scope = iota
	scopeUser
	numScopes
)

var scopeNames = [numScopes]string{ScopeIP, ScopeUser}

// Metrics holds the rate limiter's Prometheus collectors. No metric carries
// an IP or user label; label values are the fixed scopes and outcomes. A nil
// *Metrics is valid and records nothing.
type Metrics struct {
	decisions *prometheus.CounterVec
	// counters holds every child of decisions, resolved once in
	// NewMetrics: a decision increments one counter without hashing
	// label values.
	counters    [numScopes][numOutcomes]prometheus.Counter
	redisErrors prometheus.Counter
	fallbacks   prometheus.Counter
	recoveries  prometheus.Counter
	degraded    prometheus.Gauge
	memory      atomic.Pointer[Memory]
}

// NewMetrics creates the collectors and registers them with reg:
//
//	rtgate_ratelimit_decisions_total{scope,outcome}
//	rtgate_ratelimit_memory_keys
//	rtgate_ratelimit_memory_saturated_total
//	rtgate_ratelimit_redis_errors_total
//	rtgate_ratelimit_fallback_activations_total
//	rtgate_ratelimit_fallback_recoveries_total
//	rtgate_ratelimit_store_degraded
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rtgate_ratelimit_decisions_total",
			Help: "Rate-limit decisions by scope (ip, user) and outcome (allowed, denied, shadow_denied, skipped, error).",
		}, []string{"scope", "outcome"}),
		redisErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "rtgate_ratelimit_redis_errors_total",
			Help: "Errors returned by the shared (Redis) rate-limit store.",
		}),
		fallbacks: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "rtgate_ratelimit_fallback_activations_total",
			Help: "Transitions from the shared rate-limit store to the failure policy (local, open or closed).",
		}),
		recoveries: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "rtgate_ratelimit_fallback_recoveries_total",
			Help: "Transitions back to the shared rate-limit store after it recovered.",
		}),
		degraded: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "rtgate_ratelimit_store_degraded",
			Help: "1 while the shared rate-limit store is unreachable and the failure policy applies.",
		}),
	}
	memKeys := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "rtgate_ratelimit_memory_keys",
		Help: "Keys currently tracked by the in-memory rate-limit store.",
	}, func() float64 {
		if mem := m.memory.Load(); mem != nil {
			return float64(mem.Len())
		}
		return 0
	})
	memSat := prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "rtgate_ratelimit_memory_saturated_total",
		Help: "New keys denied because the in-memory rate-limit store was at RATE_LIMIT_MAX_KEYS.",
	}, func() float64 {
		if mem := m.memory.Load(); mem != nil {
			return float64(mem.Saturated())
		}
		return 0
	})
	for _, c := range []prometheus.Collector{m.decisions, m.redisErrors, m.fallbacks, m.recoveries, m.degraded, memKeys, memSat} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	for s, scope := range scopeNames {
		for o, name := range outcomeNames {
			m.counters[s][o] = m.decisions.WithLabelValues(scope, name)
		}
	}
	return m, nil
}

// ObserveMemory makes the memory-store gauges report mem.
func (m *Metrics) ObserveMemory(mem *Memory) {
	if m != nil {
		m.memory.Store(mem)
	}
}

func (m *Metrics) decision(s scope, o outcome) {
	if m != nil {
		m.counters[s][o].Inc()
	}
}

func (m *Metrics) redisError() {
	if m != nil {
		m.redisErrors.Inc()
	}
}

func (m *Metrics) setDegraded(degraded bool) {
	if m == nil {
		return
	}
	if degraded {
		m.fallbacks.Inc()
		m.degraded.Set(1)
	} else {
		m.recoveries.Inc()
		m.degraded.Set(0)
	}
}
