// Package metrics holds rtgate's Prometheus collectors for HTTP traffic and
// upstream calls. They are registered on a private registry and served on
// the admin listener only. No label carries a client address or a user id.
package metrics

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics records requests and upstream calls.
type Metrics struct {
	requests        *prometheus.CounterVec
	duration        *prometheus.HistogramVec
	upstream        *prometheus.CounterVec
	upstreamLatency prometheus.Histogram
	keyReloads      *prometheus.CounterVec
	reg             prometheus.Registerer
}

// New registers rtgate's HTTP and upstream collectors on reg.
func New(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rtgate_http_requests_total",
			Help: "HTTP requests by route pattern, method and status code.",
		}, []string{"route", "method", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "rtgate_http_request_duration_seconds",
			Help:    "HTTP request latency by route pattern.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"route"}),
		upstream: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rtgate_upstream_requests_total",
			Help: "Calls to the OpenAI API by outcome.",
		}, []string{"outcome"}),
		upstreamLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "rtgate_upstream_request_duration_seconds",
			Help:    "Latency of calls to the OpenAI API.",
			Buckets: []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}),
		keyReloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rtgate_upstream_key_reloads_total",
			Help: "Re-reads of the API key files by result (changed, unchanged, error).",
		}, []string{"result"}),
		reg: reg,
	}
	reg.MustRegister(m.requests, m.duration, m.upstream, m.upstreamLatency, m.keyReloads)
	return m
}

// ObserveRequest records one finished HTTP request.
func (m *Metrics) ObserveRequest(route, method string, status int, d time.Duration) {
	m.requests.WithLabelValues(route, normMethod(method), strconv.Itoa(status)).Inc()
	m.duration.WithLabelValues(route).Observe(d.Seconds())
}

// ObserveUpstream records one upstream call.
func (m *Metrics) ObserveUpstream(outcome string, d time.Duration) {
	m.upstream.WithLabelValues(outcome).Inc()
	if d > 0 {
		m.upstreamLatency.Observe(d.Seconds())
	}
}

// ObserveKeyReload records one re-read of the API key files.
func (m *Metrics) ObserveKeyReload(result string) {
	m.keyReloads.WithLabelValues(result).Inc()
}

// UpstreamState is the upstream client's state, read at scrape time.
type UpstreamState struct {
	QueueDepth int    // calls waiting for a slot
	InFlight   int    // calls holding a slot
	Breaker    string // closed, open or half_open
	// Keys maps a key slot (primary, backup) to whether the upstream
	// has rejected it.
	Keys      map[string]bool
	ActiveKey string // the slot in use
}

// WatchUpstream registers gauges that read state at every scrape:
// rtgate_upstream_queue_depth, rtgate_upstream_in_flight,
// rtgate_upstream_breaker_state{state}, rtgate_upstream_key_active{slot} and
// rtgate_upstream_key_rejected{slot}.
func (m *Metrics) WatchUpstream(state func() UpstreamState) error {
	return m.reg.Register(&upstreamCollector{
		state:      state,
		queueDepth: prometheus.NewDesc("rtgate_upstream_queue_depth", "Upstream calls waiting for a concurrency slot.", nil, nil),
		inFlight:   prometheus.NewDesc("rtgate_upstream_in_flight", "Upstream calls in flight.", nil, nil),
		breaker:    prometheus.NewDesc("rtgate_upstream_breaker_state", "Circuit breaker state: 1 for the current state (closed, open, half_open).", []string{"state"}, nil),
		keyActive:  prometheus.NewDesc("rtgate_upstream_key_active", "1 for the API key slot in use.", []string{"slot"}, nil),
		keyReject:  prometheus.NewDesc("rtgate_upstream_key_rejected", "1 when the upstream has rejected the key in this slot (401/403).", []string{"slot"}, nil),
	})
}

type upstreamCollector struct {
	state                                               func() UpstreamState
	queueDepth, inFlight, breaker, keyActive, keyReject *prometheus.Desc
}

func (c *upstreamCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.queueDepth, c.inFlight, c.breaker, c.keyActive, c.keyReject} {
		ch <- d
	}
}

func (c *upstreamCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.state()
	ch <- prometheus.MustNewConstMetric(c.queueDepth, prometheus.GaugeValue, float64(s.QueueDepth))
	ch <- prometheus.MustNewConstMetric(c.inFlight, prometheus.GaugeValue, float64(s.InFlight))
	for _, st := range [...]string{"closed", "open", "half_open"} {
		ch <- prometheus.MustNewConstMetric(c.breaker, prometheus.GaugeValue, b2f(s.Breaker == st), st)
	}
	for slot, rejected := range s.Keys {
		ch <- prometheus.MustNewConstMetric(c.keyActive, prometheus.GaugeValue, b2f(s.ActiveKey == slot), slot)
		ch <- prometheus.MustNewConstMetric(c.keyReject, prometheus.GaugeValue, b2f(rejected), slot)
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// normMethod keeps the label set bounded: a client chooses the method string.
func normMethod(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return m
	}
	return "OTHER"
}

// Handler serves the registry in the Prometheus text format.
func Handler(g prometheus.Gatherer) http.Handler {
	return promhttp.HandlerFor(g, promhttp.HandlerOpts{})
}
