package config

// UpstreamConfig holds the resilience settings of the upstream client (key ring, queue,
// breaker, retries, token reuse).
type UpstreamConfig struct{}

func (p *parser) loadUpstream(c *Config) {}

func (c *Config) maskedUpstream() [][2]string { return nil }
