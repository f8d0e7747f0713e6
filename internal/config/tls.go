package config

// TLSConfig holds native TLS, ACME and the HTTPS guard settings.
type TLSConfig struct{}

func (p *parser) loadTLS(c *Config) {}

func (c *Config) maskedTLS() [][2]string { return nil }
