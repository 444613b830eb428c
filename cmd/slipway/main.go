// Command slipway is the continuous-delivery portal: web UI, JSON API,
// job workers and edge proxies in one binary, plus operator subcommands.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "slipway:", err)
		}
		os.Exit(exitCode(err))
	}
}

// usageError marks a mistake on the command line (exit 2).
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func exitCode(err error) int {
	var ue usageError
	if errors.As(err, &ue) || errors.Is(err, flag.ErrHelp) {
		return 2
	}
	return 1
}

const usage = `Slipway — from git push to production.

Usage:
  slipway [serve]        run the portal: web UI, API, workers (default)
  slipway worker         run job workers only (needs PostgreSQL)
  slipway edge [stop]    run (or stop) the environments' edges and apps on their own;
                         serve starts one when none runs
  slipway migrate        apply database migrations and exit
  slipway user add NAME --role ROLE [--password-stdin]
  slipway token create --user NAME [--name LABEL]
  slipway audit verify   check the audit trail's hash chain (exit 1 if broken)
  slipway audit export [--format csv] [--action A] [--actor NAME] > audit.csv
  slipway version

Run "slipway COMMAND -h" for a command's flags. Every flag has an
environment variable (SLIPWAY_ADDR, SLIPWAY_DATA, SLIPWAY_DATABASE_URL, …).
`

// run is the whole program, testable without os.Exit.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	cmd := "serve"
	if len(args) > 0 && len(args[0]) > 0 && args[0][0] != '-' {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "serve":
		return serve(ctx, args, stdout, stderr)
	case "worker":
		return worker(ctx, args, stdout, stderr)
	case "edge":
		return edgeCmd(ctx, args, stdout, stderr)
	case "migrate":
		return migrate(ctx, args, stdout, stderr)
	case "user":
		return userCmd(ctx, args, stdin, stdout, stderr)
	case "token":
		return tokenCmd(ctx, args, stdout, stderr)
	case "audit":
		return auditCmd(ctx, args, stdout, stderr)
	case "version":
		fmt.Fprintln(stdout, "slipway", versionString())
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return usageError{fmt.Sprintf("unknown command %q", cmd)}
}
