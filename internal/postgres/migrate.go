package postgres

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Migrations returns the embedded migration files (NNNNN_name.sql), for
// tools and tests that build on this binary's schema.
func Migrations() fs.FS {
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		panic(err) // the embed pattern above guarantees the directory
	}
	return sub
}

// LatestVersion is the schema version this binary expects: the number of its
// newest embedded migration.
func LatestVersion() int64 {
	entries, _ := fs.ReadDir(migrations, "migrations")
	var v int64
	for _, e := range entries {
		n, _ := strconv.ParseInt(strings.SplitN(path.Base(e.Name()), "_", 2)[0], 10, 64)
		v = max(v, n)
	}
	return v
}

// MigrateResult says what Migrate did.
type MigrateResult struct {
	From, To int64
	Applied  []string
}

// Migrate applies pending migrations to the database at url under a
// PostgreSQL advisory lock, so concurrent migrators (two replicas, a retried
// job) take turns and the second finds nothing to do.
func Migrate(ctx context.Context, url string) (*MigrateResult, error) {
	return MigrateFS(ctx, url, Migrations())
}

// MigrateFS is Migrate with the migrations read from fsys instead of the
// embedded ones. Tests use it to play a newer release's migration.
func MigrateFS(ctx context.Context, url string, fsys fs.FS) (*MigrateResult, error) {
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("parse database url: %w", err)
	}
	sqlDB := stdlib.OpenDB(*cfg)
	defer sqlDB.Close()
	locker, err := lock.NewPostgresSessionLocker()
	if err != nil {
		return nil, err
	}
	p, err := goose.NewProvider(goose.DialectPostgres, sqlDB, fsys, goose.WithSessionLocker(locker))
	if err != nil {
		return nil, fmt.Errorf("migrations: %w", err)
	}
	from, err := p.GetDBVersion(ctx)
	if err != nil {
		return nil, fmt.Errorf("read schema version: %w", translate(err))
	}
	results, err := p.Up(ctx)
	if err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	res := &MigrateResult{From: from, To: from}
	for _, r := range results {
		res.Applied = append(res.Applied, r.Source.Path)
		res.To = max(res.To, r.Source.Version)
	}
	return res, nil
}
