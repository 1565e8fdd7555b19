// Command bazaar is the Bazaar marketplace: one binary that serves the site,
// migrates its database, seeds demo data and checks its own health.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args, os.Getenv, os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, errUsage) {
			fmt.Fprintln(os.Stderr, "bazaar:", err)
		}
		os.Exit(1)
	}
}

var errUsage = errors.New("usage")

const usage = `Usage: bazaar <command> [flags]

Commands:
  serve        run the web server (needs DATABASE_URL and a migrated schema)
  migrate      apply pending database migrations (safe to run concurrently)
  seed [-n N]  add demo listings (only into an empty table unless -n is given)
  dev          for development: start a private PostgreSQL under .data/ when
               DATABASE_URL is unset, migrate, seed once, then serve
  healthcheck  exit 0 when the local server's /readyz answers 200 (for containers)

Configuration comes from the environment; see README.md.
`

// run is the whole program, with its dependencies passed in so tests can
// call it like main does.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cmd := "serve"
	if len(args) > 1 {
		cmd, args = args[1], args[2:]
	} else {
		args = nil
	}
	switch cmd {
	case "serve":
		cfg, err := loadConfig(getenv)
		if err != nil {
			return err
		}
		return serve(ctx, cfg, stdout)
	case "migrate":
		cfg, err := loadConfig(getenv)
		if err != nil {
			return err
		}
		return migrate(ctx, cfg, stdout)
	case "seed":
		cfg, err := loadConfig(getenv)
		if err != nil {
			return err
		}
		return seed(ctx, cfg, args, stdout)
	case "dev":
		return dev(ctx, getenv, stdout)
	case "healthcheck":
		return healthcheck(ctx, getenv)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	default:
		fmt.Fprintf(stderr, "bazaar: unknown command %q\n\n%s", cmd, usage)
		return errUsage
	}
}
