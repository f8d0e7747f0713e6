package ratelimit

import "github.com/prometheus/client_golang/prometheus"

// DecisionsCounter exposes one decisions counter to tests.
func (m *Metrics) DecisionsCounter(scope, outcome string) prometheus.Counter {
	return m.decisions.WithLabelValues(scope, outcome)
}
