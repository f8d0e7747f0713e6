// Package cli is rtgate's command line: it parses the subcommand, its
// flags and arguments, and calls internal/app (serve, simulate, config
// check) or internal/audit. Every subcommand answers -h/--help with its
// usage on stdout (exit 0) and refuses unknown flags and stray arguments
// (exit 2, naming what it refused); nothing is started before the command
// line is known to be right. cmd/rtgate only calls Main.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"sort"
	"strings"

	"github.com/rtgate/rtgate/internal/app"
	"github.com/rtgate/rtgate/internal/audit"
	"github.com/rtgate/rtgate/internal/envfile"
)

// Exit codes.
const (
	ExitOK    = 0
	ExitUsage = 2
)

// IO is what a command may touch of its process: the environment (read
// through Getenv only) and the two output streams.
type IO struct {
	Getenv func(string) string
	Stdout io.Writer
	Stderr io.Writer
	// Version is the build's version (main.version, set with -ldflags);
	// empty means the module version from the build info, or "devel".
	Version string
}

const mainUsage = `usage: rtgate [command] [flags]

commands:
  serve                     run the gateway (the default)
  simulate                  run the OpenAI simulator on SIMULATOR_ADDR
  audit URL [flags]         check a live deployment against the security checklist
  config check [--env-file F]
                            validate a configuration exactly as serve would and
                            print it with secrets masked
  version                   print the version
  help [command]            print this, or a command's usage

Every command takes -h or --help. Configuration comes from the environment
(every variable is in the README); secrets may come from files (NAME_FILE).
`

// usages are the commands' own usage texts.
var usages = map[string]string{
	"serve": `usage: rtgate serve

Run the gateway until SIGTERM or SIGINT, then drain in-flight requests for
SHUTDOWN_TIMEOUT_MS. The configuration comes from the environment; an invalid
one exits 2 naming every offending variable. In development without
OPENAI_API_KEY a built-in OpenAI simulator is used (and said so).
`,
	"simulate": `usage: rtgate simulate

Run the OpenAI simulator (Realtime, GPT-Live, sidebands) on SIMULATOR_ADDR
(default 127.0.0.1:8089), accepting the keys in SIMULATOR_API_KEYS.
SIMULATOR_TLS=1 serves https/wss with a fresh CA and prints the CA file to
trust (OPENAI_CA_FILE); SIMULATOR_AZURE=1 serves Azure OpenAI's /openai/v1 shape.
`,
	"config": `usage: rtgate config check [--env-file FILE]...

Validate the configuration exactly as serve would, and print the effective
values with secrets masked. Exit 0 when valid, 2 otherwise.

  --env-file FILE   read the configuration from FILE instead of the process
                    environment (repeatable: later files win). Dotenv syntax:
                    NAME=value, # comments, export, 'single' and "double"
                    quotes (\" \\ \$ \n \t escapes), values with spaces; $ is
                    never expanded. This is how a systemd EnvironmentFile or a
                    container's --env-file is checked before a restart.
`,
	"version": `usage: rtgate version

Print rtgate's version.
`,
	"help": `usage: rtgate help [command]

Print rtgate's usage, or a command's.
`,
}

// Main runs rtgate's command line args (without the program name) and
// returns the process exit code.
func Main(ctx context.Context, args []string, o IO) int {
	cmd, rest := "serve", args
	if len(args) > 0 {
		cmd, rest = args[0], args[1:]
	}
	switch cmd {
	case "-h", "-help", "--help":
		fmt.Fprint(o.Stdout, mainUsage)
		return ExitOK
	case "--version", "-version":
		cmd = "version"
	}
	switch cmd {
	case "serve":
		if _, code, done := parse(o, cmd, flagSet(cmd), rest, 0); done {
			return code
		}
		return app.Serve(ctx, o.Getenv, o.Stderr)
	case "simulate":
		if _, code, done := parse(o, cmd, flagSet(cmd), rest, 0); done {
			return code
		}
		return app.Simulate(ctx, o.Getenv, o.Stderr)
	case "config":
		return configCmd(o, rest)
	case "audit":
		return audit.Main(ctx, rest, o.Stdout, o.Stderr)
	case "version":
		if _, code, done := parse(o, cmd, flagSet(cmd), rest, 0); done {
			return code
		}
		fmt.Fprintln(o.Stdout, "rtgate", Version(o.Version))
		return ExitOK
	case "help":
		pos, code, done := parse(o, cmd, flagSet(cmd), rest, 1)
		if done {
			return code
		}
		if len(pos) == 0 {
			fmt.Fprint(o.Stdout, mainUsage)
			return ExitOK
		}
		if pos[0] == "audit" {
			return audit.Main(ctx, []string{"-h"}, o.Stdout, o.Stderr)
		}
		u, ok := usages[pos[0]]
		if !ok {
			fmt.Fprintf(o.Stderr, "rtgate help: unknown command %q (commands: %s)\n", pos[0], commandList())
			return ExitUsage
		}
		fmt.Fprint(o.Stdout, u)
		return ExitOK
	}
	fmt.Fprintf(o.Stderr, "rtgate: unknown command %q\n\n%s", cmd, mainUsage)
	return ExitUsage
}

func commandList() string {
	names := []string{"audit"}
	for n := range usages {
		names = append(names, n)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

// flagSet is a command's flag set; flag's own output is silenced, since
// parse writes help and errors itself.
func flagSet(cmd string) *flag.FlagSet {
	fs := flag.NewFlagSet("rtgate "+cmd, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	return fs
}

// parse parses args into fs and allows at most maxArgs positional
// arguments. done is true when the command must end now with code: help
// was asked for (usage on stdout, 0), or the command line is wrong (the
// problem and the usage on stderr, 2).
func parse(o IO, cmd string, fs *flag.FlagSet, args []string, maxArgs int) (pos []string, code int, done bool) {
	err := fs.Parse(args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		fmt.Fprint(o.Stdout, usages[cmd])
		return nil, ExitOK, true
	case err != nil:
		fmt.Fprintf(o.Stderr, "rtgate %s: %v\n\n%s", cmd, err, usages[cmd])
		return nil, ExitUsage, true
	}
	pos = fs.Args()
	if len(pos) > maxArgs {
		fmt.Fprintf(o.Stderr, "rtgate %s: unexpected argument %q\n\n%s", cmd, pos[maxArgs], usages[cmd])
		return nil, ExitUsage, true
	}
	return pos, ExitOK, false
}

// files collects repeated --env-file values.
type files []string

func (f *files) String() string     { return strings.Join(*f, ",") }
func (f *files) Set(v string) error { *f = append(*f, v); return nil }

// configCmd is `rtgate config check [--env-file F]...`.
func configCmd(o IO, args []string) int {
	if len(args) == 0 {
		fmt.Fprintf(o.Stderr, "rtgate config: missing subcommand (check)\n\n%s", usages["config"])
		return ExitUsage
	}
	switch args[0] {
	case "-h", "-help", "--help":
		fmt.Fprint(o.Stdout, usages["config"])
		return ExitOK
	case "check":
	default:
		fmt.Fprintf(o.Stderr, "rtgate config: unknown subcommand %q (want check)\n\n%s", args[0], usages["config"])
		return ExitUsage
	}
	fs := flagSet("config")
	var envFiles files
	fs.Var(&envFiles, "env-file", "")
	if _, code, done := parse(o, "config", fs, args[1:], 0); done {
		return code
	}
	getenv := o.Getenv
	if len(envFiles) > 0 {
		env := map[string]string{}
		for _, path := range envFiles {
			vars, err := readEnvFile(path)
			if err != nil {
				fmt.Fprintf(o.Stderr, "rtgate config check: --env-file %s: %v\n", path, err)
				return ExitUsage
			}
			for k, v := range vars {
				env[k] = v
			}
		}
		getenv = func(k string) string { return env[k] }
		fmt.Fprintf(o.Stdout, "# configuration from %s only (the process environment is not read)\n", strings.Join(envFiles, ", "))
	}
	return app.ConfigCheck(getenv, o.Stdout, o.Stderr)
}

func readEnvFile(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return envfile.Parse(f)
}

// Version is v when set (main.version through -ldflags), else the main
// module's version from the build info (`go install …@v1.2.3`), else
// "devel".
func Version(v string) string {
	if v != "" {
		return v
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "devel"
}
