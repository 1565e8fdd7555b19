// Package postgres is Bazaar's store: every SQL statement lives here, next to
// the Go that runs it, and every error leaves translated into market's
// vocabulary.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"time"

	"github.com/bazaarhq/bazaar/internal/market"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// DB is the store: a connection pool and the methods that use it. The pool
// stays inside, so every statement goes through a method that translates its
// errors; tests that need raw SQL use postgrestest.Pool.
type DB struct {
	pool       *pgxpool.Pool
	categories categoryCache
	sessions   *sessionCache
	// searchWindow overrides SearchWindow when positive (tests).
	searchWindow int
}

// DefaultMaxConns is the pool size `bazaar serve` uses unless told
// otherwise: twice the cores this process may use, and at least 4.
// PostgreSQL does useful work on as many statements at once as it has
// cores; more connections than that queue inside the database, where
// concurrent writers contend for the same index pages and locks, instead
// of queueing in the pool, which costs nothing. With 20 connections on
// 2 cores every POST /listings cost PostgreSQL 900 us of CPU; with 4,
// 500 (issue 13). Replicas on the database's own host (compose) see its
// cores; elsewhere set BAZAAR_DB_MAX_CONNS from the database's.
func DefaultMaxConns() int32 {
	return int32(min(max(4, 2*runtime.GOMAXPROCS(0)), 1000)) // #nosec G115 -- bounded to 4..1000, BAZAAR_DB_MAX_CONNS' range
}

// Options tune the pool.
type Options struct {
	MaxConns int32
	// ConnectTimeout bounds each new connection, so requests fail fast (503)
	// while the database is down instead of hanging.
	ConnectTimeout time.Duration
}

// Open connects to the database at url. It does not wait for the database to
// be reachable: the pool connects lazily, and /readyz reports reachability.
func Open(ctx context.Context, url string, opts Options) (*DB, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("parse database url: %w", err)
	}
	if opts.MaxConns > 0 {
		cfg.MaxConns = opts.MaxConns
	}
	if opts.ConnectTimeout == 0 {
		opts.ConnectTimeout = 3 * time.Second
	}
	cfg.ConnConfig.ConnectTimeout = opts.ConnectTimeout
	// pg_trgm's default word-similarity threshold (0.6) misses one swapped
	// pair in a two-word query ("stonewear bowl" is 0.58 from "Stoneware
	// bowl"); 0.5 finds such typos and still not unrelated names. Set per
	// connection, so no database-level setting must survive a restore.
	cfg.ConnConfig.RuntimeParams["pg_trgm.word_similarity_threshold"] = "0.5"
	cfg.HealthCheckPeriod = 5 * time.Second
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open pool: %w", err)
	}
	return &DB{pool: pool, sessions: newSessionCache(sessionCacheEntries)}, nil
}

// Close closes the pool.
func (db *DB) Close() { db.pool.Close() }

// Ready reports whether the database is reachable and its schema is at
// least the one this binary needs. A newer schema is fine: migrations are
// expand/contract (see migrations/README.md), so during a rolling update the
// old replicas keep serving on the schema the new release migrated to, and a
// rollback to them is possible.
func (db *DB) Ready(ctx context.Context) error {
	return CheckSchema(db.SchemaVersion(ctx))
}

// CheckSchema judges a schema version read from the database (with the error
// of reading it): nil when it is LatestVersion or newer, EUNAVAILABLE naming
// `bazaar migrate` when it is older.
func CheckSchema(have int64, err error) error {
	if err != nil {
		return err
	}
	if want := LatestVersion(); have < want {
		return market.Errorf(market.EUNAVAILABLE, "database schema is at version %d but this binary needs at least %d: run `bazaar migrate` first", have, want)
	}
	return nil
}

// SchemaVersion returns the newest applied migration, 0 for an empty database.
func (db *DB) SchemaVersion(ctx context.Context) (int64, error) {
	var v int64
	err := db.pool.QueryRow(ctx, `SELECT coalesce(max(version_id), 0) FROM goose_db_version WHERE is_applied`).Scan(&v)
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "42P01" { // undefined_table: never migrated
		return 0, nil
	}
	if err != nil {
		return 0, translate(err)
	}
	return v, nil
}

// inTx runs fn in one transaction, wtf's shape: the exported method that
// calls inTx owns the transaction, and fn and the unexported helpers it
// calls take the pgx.Tx and return driver errors as they are. The
// transaction commits when fn returns nil and rolls back otherwise (a
// market error from a check inside fn included), and the outcome is
// translated once, here. Every business operation that writes more than
// one statement goes through inTx.
func (db *DB) inTx(ctx context.Context, fn func(tx pgx.Tx) error) error {
	return translate(pgx.BeginFunc(ctx, db.pool, fn))
}
