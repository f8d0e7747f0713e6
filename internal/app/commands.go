package app

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/rtgate/rtgate/internal/config"
	"github.com/rtgate/rtgate/internal/simulator"
)

// Exit codes of the commands.
const (
	ExitOK     = 0
	ExitFail   = 1
	ExitConfig = 2
)

// Serve is `rtgate serve`: load and validate the configuration, then run
// until ctx is cancelled. A configuration problem exits at once with
// ExitConfig and a message naming each offending variable.
func Serve(ctx context.Context, getenv func(string) string, stderr io.Writer) int {
	cfg, warnings, err := config.Load(getenv)
	if err != nil {
		fmt.Fprintf(stderr, "rtgate: invalid configuration:\n  %s\n", strings.ReplaceAll(err.Error(), "\n", "\n  "))
		return ExitConfig
	}
	log := NewLoggerFormat(stderr, cfg.LogLevel, cfg.LogFormat)
	a, err := New(cfg, log)
	if err != nil {
		log.Error("start-up failed", "error", err.Error())
		return ExitFail
	}
	for _, w := range warnings {
		log.Warn("WARNING: " + w)
	}
	if err := a.Run(ctx); err != nil {
		log.Error("server failed", "error", err.Error())
		return ExitFail
	}
	log.Info("stopped")
	return ExitOK
}

// Simulate is `rtgate simulate`: the OpenAI Realtime simulator on
// SIMULATOR_ADDR, accepting the keys in SIMULATOR_API_KEYS (default: the
// value of OPENAI_API_KEY, else "sk-simulator-local-only"); SIMULATOR_TLS
// and SIMULATOR_AZURE as in loadSimulateEnv.
func Simulate(ctx context.Context, getenv func(string) string, stderr io.Writer) int {
	addr := getenv("SIMULATOR_ADDR")
	if addr == "" {
		addr = "127.0.0.1:8089"
	}
	keys := strings.FieldsFunc(getenv("SIMULATOR_API_KEYS"), func(r rune) bool { return r == ',' || r == ' ' })
	if len(keys) == 0 {
		if k := strings.TrimSpace(getenv("OPENAI_API_KEY")); k != "" {
			keys = []string{k}
		} else {
			keys = []string{"sk-simulator-local-only"}
		}
	}
	log := NewLogger(stderr, slog.LevelInfo)
	env, err := loadSimulateEnv(getenv)
	if err != nil {
		fmt.Fprintf(stderr, "rtgate simulate: %v\n", err)
		return ExitConfig
	}
	defer env.cleanup()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Fprintf(stderr, "rtgate simulate: SIMULATOR_ADDR %q: %v\n", addr, err)
		return ExitConfig
	}
	sim := simulator.New(simulator.Options{APIKeys: keys, Logger: log, Answerer: simulatorAnswerer(log), Azure: env.azure})
	defer sim.Close()
	srv := &http.Server{Handler: sim, ReadHeaderTimeout: 5 * time.Second, TLSConfig: env.tls}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	log.Info("OpenAI Realtime simulator listening", "base_url", env.baseURL(ln.Addr().String()), "keys", len(keys), "ca_file", env.caFile, "azure", env.azure)
	if env.tls != nil {
		fmt.Fprintf(stderr, "rtgate simulate: serving TLS; trust the CA in %s (OPENAI_CA_FILE or SSL_CERT_FILE)\n", env.caFile)
		err = srv.ServeTLS(ln, "", "")
	} else {
		err = srv.Serve(ln)
	}
	if err != nil && err != http.ErrServerClosed {
		log.Error("simulator failed", "error", err.Error())
		return ExitFail
	}
	return ExitOK
}

// ConfigCheck is `rtgate config check`: validate exactly as serve does and
// print the effective configuration with secrets masked.
func ConfigCheck(getenv func(string) string, stdout, stderr io.Writer) int {
	cfg, warnings, err := config.Load(getenv)
	if err != nil {
		fmt.Fprintf(stderr, "rtgate: invalid configuration:\n  %s\n", strings.ReplaceAll(err.Error(), "\n", "\n  "))
		return ExitConfig
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	for _, kv := range cfg.Masked() {
		fmt.Fprintf(tw, "%s\t%s\n", kv[0], kv[1])
	}
	_ = tw.Flush()
	for _, w := range warnings {
		fmt.Fprintf(stdout, "WARNING: %s\n", w)
	}
	fmt.Fprintln(stdout, "configuration OK")
	return ExitOK
}
