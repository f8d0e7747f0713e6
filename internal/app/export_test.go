package app

import "github.com/rtgate/rtgate/internal/metrics"

// DescribedMetrics lists every metric registered on the App's registry.
func (a *App) DescribedMetrics() []metrics.Description { return a.registry.Described() }
