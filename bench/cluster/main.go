// Command cluster starts a throwaway PostgreSQL for bench/run.sh with
// pgcluster (the one implementation of "start a PostgreSQL for me"), creates
// the databases named on the command line, prints one "url NAME URL" line per
// database and then "ready", and keeps the server running until it is
// signalled. The server dies with this process.
//
// `cluster count URL TABLE` prints the number of rows in TABLE, so the bench
// can check that its POSTs really wrote rows without needing psql.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/bazaarhq/bazaar/internal/pgcluster"
	"github.com/jackc/pgx/v5"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "cluster:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	if len(args) > 0 && args[0] == "count" {
		return count(ctx, args[1:])
	}
	fs := flag.NewFlagSet("cluster", flag.ContinueOnError)
	dir := fs.String("dir", "", "`directory` for the cluster (required)")
	durable := fs.Bool("durable", false, "keep fsync and synchronous_commit on")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *dir == "" || fs.NArg() == 0 {
		return errors.New("usage: cluster -dir DIR [-durable] DBNAME [DBNAME ...]")
	}
	c, err := pgcluster.Start(ctx, pgcluster.Options{Dir: *dir, Durable: *durable, Timeout: 60 * time.Second})
	if err != nil {
		return err
	}
	defer c.Stop()
	conn, err := pgx.Connect(ctx, c.URL("postgres"))
	if err != nil {
		return err
	}
	for _, name := range fs.Args() {
		if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
			_ = conn.Close(ctx)
			return fmt.Errorf("create database %s: %w", name, err)
		}
		fmt.Printf("url %s %s\n", name, c.URL(name))
	}
	_ = conn.Close(ctx)
	fmt.Println("ready")
	<-ctx.Done()
	return nil
}

func count(ctx context.Context, args []string) error {
	if len(args) != 2 {
		return fmt.Errorf("usage: cluster count URL TABLE")
	}
	conn, err := pgx.Connect(ctx, args[0])
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	var n int64
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM "+pgx.Identifier{args[1]}.Sanitize()).Scan(&n); err != nil {
		return err
	}
	fmt.Println(n)
	return nil
}
