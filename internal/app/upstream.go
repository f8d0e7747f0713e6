package app

import (
	"github.com/rtgate/rtgate/internal/gateway"
	"github.com/rtgate/rtgate/internal/metrics"
	"github.com/rtgate/rtgate/internal/openai"
)

// newUpstream builds the upstream client and its readiness checks.
func (a *App) newUpstream(m *metrics.Metrics) (gateway.Upstream, []gateway.Check, error) {
	c := a.cfg
	up := openai.New(openai.Options{
		BaseURL:  c.OpenAIBaseURL,
		APIKey:   c.OpenAIAPIKey,
		Timeout:  c.UpstreamTimeout,
		Observer: m,
	})
	return up, nil, nil
}
