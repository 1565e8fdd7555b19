package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/bazaarhq/bazaar/internal/pgcluster"
	"github.com/bazaarhq/bazaar/internal/postgres"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// dev is `make run`: with DATABASE_URL unset it starts (or reuses) a private
// PostgreSQL cluster under BAZAAR_DATA_DIR (default .data), then migrates,
// seeds an empty database once, and serves.
func dev(ctx context.Context, getenv func(string) string, stdout io.Writer) error {
	url := getenv("DATABASE_URL")
	if url == "" {
		dir := or(getenv("BAZAAR_DATA_DIR"), ".data") + "/postgres"
		cluster, err := pgcluster.Start(ctx, pgcluster.Options{Dir: dir, Durable: true})
		if err != nil {
			return err
		}
		defer cluster.Stop()
		if err := createDatabase(ctx, cluster.URL("postgres"), "bazaar"); err != nil {
			return err
		}
		url = cluster.URL("bazaar")
		fmt.Fprintf(stdout, "dev: PostgreSQL in %s at %s\n", cluster.Dir, url)
	}
	env := func(k string) string {
		if k == "DATABASE_URL" {
			return url
		}
		return getenv(k)
	}
	cfg, err := loadConfig(env)
	if err != nil {
		return err
	}
	cfg.ServeMedia = true // no nginx in front: the app serves the photo directory itself
	if err := migrate(ctx, cfg, stdout); err != nil {
		return err
	}
	db, err := postgres.Open(ctx, url, postgres.Options{MaxConns: 2})
	if err != nil {
		return err
	}
	err = seedListings(ctx, db, 0, stdout)
	db.Close()
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "dev: sign in at http://localhost%s/login as %s (or %s, %s) with the password %s\n",
		devPort(cfg.Addr), demoSellers[0].email, demoSellers[1].email, demoSellers[2].email, DemoPassword)
	fmt.Fprintf(stdout, "dev: serving on %s\n", cfg.Addr)
	return serve(ctx, cfg, stdout)
}

func createDatabase(ctx context.Context, adminURL, name string) error {
	conn, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize())
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "42P04" { // duplicate_database
		return nil
	}
	return err
}

// devPort is the ":port" of addr, for the URL printed to the developer.
func devPort(addr string) string {
	if i := strings.LastIndexByte(addr, ':'); i >= 0 {
		return addr[i:]
	}
	return ""
}
