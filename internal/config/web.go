package config

// WebConfig holds the demo page and SDP proxy settings.
type WebConfig struct{}

func (p *parser) loadWeb(c *Config) {}

func (c *Config) maskedWeb() [][2]string { return nil }
