package sessioncfg

import "github.com/prometheus/client_golang/prometheus"

// ReloadsForTest is the reload counter of result.
func (s *Sessions) ReloadsForTest(result string) prometheus.Counter {
	return s.reloads.WithLabelValues(result)
}

// LoadedForTest is the loaded-timestamp gauge.
func (s *Sessions) LoadedForTest() prometheus.Gauge { return s.loaded }
