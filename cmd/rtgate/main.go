// Command rtgate is a security gateway that mints OpenAI Realtime ephemeral
// client secrets for browsers without exposing the API key.
//
//	rtgate [serve]        run the gateway (the default)
//	rtgate simulate       run the OpenAI Realtime simulator on SIMULATOR_ADDR
//	rtgate audit URL      check a live deployment against the security checklist
//	rtgate config check   validate the environment and print the effective configuration
//	rtgate version        print the version
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"github.com/redis/go-redis/v9"

	"github.com/rtgate/rtgate/internal/app"
	"github.com/rtgate/rtgate/internal/audit"
)

// version is set at build time with -ldflags "-X main.version=v1.2.3".
var version = ""

type quietRedis struct{}

func (quietRedis) Printf(context.Context, string, ...any) {}

func main() {
	// go-redis logs pool and dial errors through a process-wide logger of
	// its own, as plain text; rtgate logs Redis trouble itself, as JSON,
	// once per transition.
	redis.SetLogger(quietRedis{})
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

const usage = `usage: rtgate [serve | simulate | audit URL | config check | version]

Configuration comes from the environment; see the README for every variable.
`

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	cmd := "serve"
	if len(args) > 0 {
		cmd = args[0]
	}
	switch cmd {
	case "serve":
		return app.Serve(ctx, getenv, stderr)
	case "simulate":
		return app.Simulate(ctx, getenv, stderr)
	case "config":
		if len(args) < 2 || args[1] != "check" {
			fmt.Fprint(stderr, usage)
			return 2
		}
		return app.ConfigCheck(getenv, stdout, stderr)
	case "audit":
		return audit.Main(ctx, args[1:], stdout, stderr)
	case "version", "--version", "-v":
		fmt.Fprintln(stdout, "rtgate", versionString())
		return 0
	case "help", "--help", "-h":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "rtgate: unknown command %q\n%s", cmd, usage)
	return 2
}

func versionString() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "devel"
}
