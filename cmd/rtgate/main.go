// Command rtgate is a security gateway that mints OpenAI Realtime ephemeral
// client secrets for browsers without exposing the API key.
//
//	rtgate [serve]        run the gateway (the default)
//	rtgate simulate       run the OpenAI Realtime simulator on SIMULATOR_ADDR
//	rtgate audit URL      check a live deployment against the security checklist
//	rtgate config check   validate the environment and print the effective configuration
//	rtgate version        print the version
//
// Every command takes -h/--help; the command line is internal/cli's.
package main

import (
	"context"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/redis/go-redis/v9"

	"github.com/rtgate/rtgate/internal/cli"
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

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	return cli.Main(ctx, args, cli.IO{Getenv: getenv, Stdout: stdout, Stderr: stderr, Version: version})
}
