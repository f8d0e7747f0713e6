package budget

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the budgets' Prometheus collectors. No label carries a user:
// model and kind come from the price table and the call kinds, limit from
// the fixed Limit set.
type Metrics struct {
	cost         *prometheus.CounterVec
	refusals     *prometheus.CounterVec
	hangups      *prometheus.CounterVec
	chargeErrors *prometheus.CounterVec
	globalSpent  prometheus.Gauge
	globalLimit  prometheus.Gauge
}

// NewMetrics returns unregistered collectors (Register adds them to a
// registry).
func NewMetrics() *Metrics {
	m := &Metrics{
		cost: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "rtgate_budget_cost_dollars_total",
			Help: "Money charged to budgets, in US dollars, by model and kind (realtime, live, token)."}, []string{"model", "kind"}),
		refusals: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "rtgate_budget_refusals_total",
			Help: "Calls and tokens refused because a budget cannot cover a minimum call, by limit (user_daily, user_monthly, user_minutes, global_daily, token_mode)."}, []string{"limit"}),
		hangups: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "rtgate_budget_hangups_total",
			Help: "Calls ended because a budget ran out during the call, by limit."}, []string{"limit"}),
		chargeErrors: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "rtgate_budget_charge_errors_total",
			Help: "Usage that could not be charged, by reason (store, no_price, bad_usage)."}, []string{"reason"}),
		globalSpent: prometheus.NewGauge(prometheus.GaugeOpts{Name: "rtgate_budget_global_spent_dollars",
			Help: "Spend of the current UTC day across all instances, in US dollars, as last read by this instance."}),
		globalLimit: prometheus.NewGauge(prometheus.GaugeOpts{Name: "rtgate_budget_global_limit_dollars",
			Help: "DAILY_BUDGET_USD; absent when no global budget is set."}),
	}
	for _, l := range append(allLimits, LimitTokenMode) {
		m.refusals.WithLabelValues(string(l))
	}
	for _, l := range allLimits {
		m.hangups.WithLabelValues(string(l))
	}
	for _, r := range []string{"store", "no_price", "bad_usage"} {
		m.chargeErrors.WithLabelValues(r)
	}
	return m
}

// Register adds the collectors to reg; the global limit gauge only when
// withGlobalLimit (so an alert on spend/limit has no series without a
// limit).
func (m *Metrics) Register(reg prometheus.Registerer, withGlobalLimit bool) error {
	cs := []prometheus.Collector{m.cost, m.refusals, m.hangups, m.chargeErrors, m.globalSpent}
	if withGlobalLimit {
		cs = append(cs, m.globalLimit)
	}
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			return err
		}
	}
	return nil
}
