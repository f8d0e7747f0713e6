package ratelimit

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
)

// DecisionsCounter exposes one decisions counter to tests.
func (m *Metrics) DecisionsCounter(scope, outcome string) prometheus.Counter {
	return m.decisions.WithLabelValues(scope, outcome)
}

// NewRedisWithClock returns a Redis store whose script takes the time from
// now instead of Redis TIME, so the shared contract suite can drive it with
// the same manual clock as the memory store. Only tests can reach it.
func NewRedisWithClock(c redis.UniversalClient, prefix string, now func() time.Time) *Redis {
	r := NewRedis(c, prefix)
	r.now = now
	return r
}

// Counters exposes the fallback counters to tests.
func (m *Metrics) Counters() (redisErrors, fallbacks, recoveries prometheus.Counter) {
	return m.redisErrors, m.fallbacks, m.recoveries
}
