package config

import (
	"crypto/x509"
	"net/url"
	"os"
	"strings"
)

// API flavors (OPENAI_API_FLAVOR).
const (
	FlavorOpenAI = "openai"
	// FlavorAzure is Azure OpenAI's v1 API
	// (https://{resource}.openai.azure.com/openai/v1): the key travels in
	// an api-key header, models are deployment names, and a call is set up
	// with an ephemeral secret minted first.
	FlavorAzure = "azure"
)

// azureHosts are the host suffixes of Azure OpenAI resources: with
// OPENAI_API_FLAVOR unset, a base URL on one of them is Azure.
var azureHosts = []string{".openai.azure.com", ".cognitiveservices.azure.com", ".services.ai.azure.com"}

// ProviderConfig says which API the upstream speaks and whom to trust for
// its certificate (OPENAI_API_FLAVOR, OPENAI_CA_FILE).
type ProviderConfig struct {
	// Flavor is FlavorOpenAI or FlavorAzure.
	Flavor string
	// CAFile is an extra PEM bundle trusted for the upstream's TLS
	// certificate, besides the system roots: a local simulator's CA, or a
	// corporate proxy's.
	CAFile string
	// RootCAs is the system pool plus CAFile's certificates; nil when
	// CAFile is unset (the system roots, which SSL_CERT_FILE can replace).
	RootCAs *x509.CertPool
}

// Azure reports whether the upstream is Azure OpenAI.
func (p ProviderConfig) Azure() bool { return p.Flavor == FlavorAzure }

func (p *parser) loadProvider(c *Config) {
	pc := &c.Provider
	raw := strings.ToLower(strings.TrimSpace(p.getenv("OPENAI_API_FLAVOR")))
	switch raw {
	case "", "auto":
		pc.Flavor = FlavorOpenAI
		if isAzureURL(c.OpenAIBaseURL) {
			pc.Flavor = FlavorAzure
		}
	case FlavorOpenAI, FlavorAzure:
		pc.Flavor = raw
	default:
		p.fail("OPENAI_API_FLAVOR", "must be openai, azure or auto, got %q", raw)
	}
	if pc.Azure() && !c.Simulated && strings.TrimSpace(p.getenv("OPENAI_BASE_URL")) == "" {
		p.fail("OPENAI_BASE_URL", "is required with OPENAI_API_FLAVOR=azure: https://{resource}.openai.azure.com/openai/v1")
	}

	pc.CAFile = p.str("OPENAI_CA_FILE", "")
	if pc.CAFile == "" {
		return
	}
	pem, err := os.ReadFile(pc.CAFile)
	if err != nil {
		p.fail("OPENAI_CA_FILE", "cannot be read: %v", err)
		return
	}
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pem) {
		p.fail("OPENAI_CA_FILE", "holds no PEM certificate (%q)", pc.CAFile)
		return
	}
	pc.RootCAs = pool
}

// isAzureURL reports whether raw is on an Azure OpenAI host.
func isAzureURL(raw string) bool {
	u, err := url.Parse(raw)
	if err != nil {
		return false
	}
	host := strings.ToLower(u.Hostname())
	for _, s := range azureHosts {
		if strings.HasSuffix(host, s) {
			return true
		}
	}
	return false
}

func (c *Config) maskedProvider() [][2]string {
	return [][2]string{
		{"OPENAI_API_FLAVOR", c.Provider.Flavor},
		{"OPENAI_CA_FILE", c.Provider.CAFile},
	}
}
