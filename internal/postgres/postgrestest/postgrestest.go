// Package postgrestest gives tests a fresh, migrated database each: one
// throwaway cluster per test binary (or TEST_DATABASE_URL's server), one
// migrated template database, and a cheap CREATE DATABASE ... TEMPLATE per test.
package postgrestest

import (
	"context"
	"fmt"
	"io/fs"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"testing/fstest"
	"time"

	"github.com/bazaarhq/bazaar/internal/pgcluster"
	"github.com/bazaarhq/bazaar/internal/postgres"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

var (
	server   *pgx.ConnConfig // the admin connection
	template string
	counter  atomic.Int64
)

// Main runs the tests of a package that uses NewDB. Call it from TestMain:
//
//	func TestMain(m *testing.M) { postgrestest.Main(m) }
func Main(m *testing.M) {
	code, err := run(m)
	if err != nil {
		fmt.Fprintln(os.Stderr, "postgrestest:", err)
		if code == 0 {
			code = 1
		}
	}
	os.Exit(code)
}

func run(m *testing.M) (int, error) {
	ctx := context.Background()
	adminURL := os.Getenv("TEST_DATABASE_URL")
	if adminURL == "" {
		dir, err := os.MkdirTemp("", "bazaar-pg-")
		if err != nil {
			return 1, err
		}
		defer os.RemoveAll(dir)
		c, err := pgcluster.Start(ctx, pgcluster.Options{Dir: dir})
		if err != nil {
			return 1, err
		}
		defer c.Stop()
		adminURL = c.URL("postgres")
	}
	cfg, err := pgx.ParseConfig(adminURL)
	if err != nil {
		return 1, fmt.Errorf("TEST_DATABASE_URL: %w", err)
	}
	server = cfg
	// Unique per process: packages run in parallel against one server.
	template = fmt.Sprintf("bazaar_tmpl_%d_%d", os.Getpid(), time.Now().UnixNano()%1e6)
	if err := exec(ctx, "CREATE DATABASE "+template); err != nil {
		return 1, err
	}
	defer exec(ctx, "DROP DATABASE IF EXISTS "+template+" WITH (FORCE)")
	if _, err := postgres.Migrate(ctx, URL(template)); err != nil {
		return 1, fmt.Errorf("migrate template: %w", err)
	}
	return m.Run(), nil
}

// URL returns a connection string for database db on the test server: over
// its Unix socket (host=/dir) for the throwaway cluster, over TCP for a
// TEST_DATABASE_URL that names a host.
func URL(db string) string {
	c := server
	u := url.URL{Scheme: "postgres", User: url.UserPassword(c.User, c.Password), Path: "/" + db}
	q := url.Values{"sslmode": {"disable"}}
	if strings.HasPrefix(c.Host, "/") {
		q.Set("host", c.Host)
		q.Set("port", strconv.Itoa(int(c.Port)))
	} else {
		u.Host = net.JoinHostPort(c.Host, strconv.Itoa(int(c.Port)))
	}
	u.RawQuery = q.Encode()
	return u.String()
}

// NewURL creates a fresh migrated database for t, dropped when t ends, and
// returns its connection string.
func NewURL(t testing.TB) string {
	t.Helper()
	if server == nil {
		t.Fatal("postgrestest: call postgrestest.Main from TestMain")
	}
	ctx := context.Background()
	name := fmt.Sprintf("%s_t%d", template, counter.Add(1))
	if err := exec(ctx, fmt.Sprintf("CREATE DATABASE %s TEMPLATE %s", name, template)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := exec(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("drop test database: %v", err)
		}
	})
	return URL(name)
}

// NewEmptyURL creates a fresh database without any migration, dropped when
// t ends, and returns its connection string: for tests of a migration
// applied to the data an older schema holds.
func NewEmptyURL(t testing.TB) string {
	t.Helper()
	if server == nil {
		t.Fatal("postgrestest: call postgrestest.Main from TestMain")
	}
	name := fmt.Sprintf("%s_e%d", template, counter.Add(1))
	if err := exec(context.Background(), "CREATE DATABASE "+name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := exec(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("drop test database: %v", err)
		}
	})
	return URL(name)
}

// NewDB returns a store on a fresh migrated database, closed when t ends.
func NewDB(t testing.TB) *postgres.DB {
	t.Helper()
	return Open(t, NewURL(t))
}

// Open returns a store on the database at url, closed when t ends.
func Open(t testing.TB, url string) *postgres.DB {
	t.Helper()
	db, err := postgres.Open(context.Background(), url, postgres.Options{MaxConns: 8})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	return db
}

// Pool returns a raw connection pool on the database at url, closed when t
// ends, for tests that must go around the store: to break a rule the store
// would refuse, to simulate an older schema, or to compare with plain pgx.
func Pool(t testing.TB, url string) *pgxpool.Pool {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

func exec(ctx context.Context, sql string) error {
	conn, err := pgx.ConnectConfig(ctx, server)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, sql)
	return err
}

// ApplyNewerMigration migrates the database at url one version beyond this
// binary's schema with sql (goose Up statements), as a later release would,
// and returns the new version. Tests use it to show that this binary runs on
// a newer schema.
func ApplyNewerMigration(t testing.TB, url, sql string) int64 {
	t.Helper()
	next := postgres.LatestVersion() + 1
	fsys := fstest.MapFS{}
	err := fs.WalkDir(postgres.Migrations(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(postgres.Migrations(), p)
		fsys[p] = &fstest.MapFile{Data: b}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	fsys[fmt.Sprintf("%05d_newer_release.sql", next)] = &fstest.MapFile{Data: []byte("-- +goose Up\n" + sql + "\n")}
	res, err := postgres.MigrateFS(context.Background(), url, fsys)
	if err != nil {
		t.Fatalf("apply a newer release's migration: %v", err)
	}
	if res.To != next {
		t.Fatalf("newer migration: schema at %d, want %d", res.To, next)
	}
	return next
}
