package app

import (
	"crypto/tls"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/rtgate/rtgate/internal/simulator"
)

// simulateEnv is what SIMULATOR_TLS and SIMULATOR_AZURE ask of
// `rtgate simulate`.
type simulateEnv struct {
	azure   bool
	tls     *tls.Config // nil: plain http
	caFile  string      // the CA to trust when tls is set
	cleanup func()
}

// loadSimulateEnv reads SIMULATOR_TLS (serve https/wss with a fresh
// self-signed CA written to a temporary directory) and SIMULATOR_AZURE (serve
// Azure OpenAI's /openai/v1 shape with api-key authentication).
func loadSimulateEnv(getenv func(string) string) (simulateEnv, error) {
	env := simulateEnv{cleanup: func() {}}
	flag := func(name string) (bool, error) {
		v := strings.TrimSpace(getenv(name))
		if v == "" {
			return false, nil
		}
		b, err := strconv.ParseBool(v)
		if err != nil {
			return false, fmt.Errorf("%s must be a boolean (1, 0, true, false), got %q", name, v)
		}
		return b, nil
	}
	var err error
	if env.azure, err = flag("SIMULATOR_AZURE"); err != nil {
		return env, err
	}
	useTLS, err := flag("SIMULATOR_TLS")
	if err != nil || !useTLS {
		return env, err
	}
	dir, err := os.MkdirTemp("", "rtgate-simulator-")
	if err != nil {
		return env, fmt.Errorf("SIMULATOR_TLS: %w", err)
	}
	env.cleanup = func() { _ = os.RemoveAll(dir) }
	if env.tls, env.caFile, err = simulator.NewTLSCert(dir); err != nil {
		env.cleanup()
		return env, fmt.Errorf("SIMULATOR_TLS: %w", err)
	}
	return env, nil
}

// baseURL is the simulator's API base URL on addr.
func (e simulateEnv) baseURL(addr string) string {
	scheme, prefix := "http", "/v1"
	if e.tls != nil {
		scheme = "https"
	}
	if e.azure {
		prefix = "/openai/v1"
	}
	return scheme + "://" + addr + prefix
}
