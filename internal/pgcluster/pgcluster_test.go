package pgcluster

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
)

func TestFindBinExplainsBothWaysForward(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	_, err := findBin(filepath.Join(t.TempDir(), "*", "bin", "initdb"))
	if !errors.Is(err, ErrNoPostgres) {
		t.Fatalf("err = %v, want ErrNoPostgres", err)
	}
	for _, want := range []string{"install PostgreSQL", "docker compose up"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("message %q does not mention %q", err, want)
		}
	}
}

func TestFindBinPrefersNewestVersion(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	root := t.TempDir()
	for _, v := range []string{"9", "15", "13"} {
		dir := filepath.Join(root, v, "bin")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "initdb"), nil, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	got, err := findBin(filepath.Join(root, "*", "bin", "initdb"))
	if err != nil || got != filepath.Join(root, "15", "bin") {
		t.Fatalf("findBin = %q, %v; want version 15", got, err)
	}
}

// TestStartReusesRunningCluster: a second Start on the same directory
// finds the server the first one started instead of starting another, and
// that server listens on its socket only, on no TCP port another test
// package could race for.
func TestStartReusesRunningCluster(t *testing.T) {
	dir, err := os.MkdirTemp("", "pgcluster-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	ctx := context.Background()
	first, err := Start(ctx, Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { first.Stop() })
	second, err := Start(ctx, Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if second.cmd != nil {
		t.Errorf("second Start started a server of its own: want reuse")
	}
	conn, err := pgx.Connect(ctx, second.URL("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var listen, sockets string
	if err := conn.QueryRow(ctx, "SELECT current_setting('listen_addresses'), current_setting('unix_socket_directories')").Scan(&listen, &sockets); err != nil {
		t.Fatal(err)
	}
	if listen != "" || sockets != first.Dir {
		t.Errorf("listen_addresses = %q, unix_socket_directories = %q; want no TCP and the socket in %s", listen, sockets, first.Dir)
	}
	if host := conn.Config().Host; host != first.Dir {
		t.Errorf("URL %s connects to %q, want the socket directory %s", second.URL("postgres"), host, first.Dir)
	}
}

func TestStartRefusesDirTooLongForSocket(t *testing.T) {
	if _, err := findBin("/usr/lib/postgresql/*/bin/initdb"); err != nil {
		t.Skip(err)
	}
	dir := filepath.Join(t.TempDir(), strings.Repeat("d", 100))
	_, err := Start(context.Background(), Options{Dir: dir})
	if err == nil || !strings.Contains(err.Error(), "too long for a Unix socket") {
		t.Fatalf("Start in a %d-byte directory: err = %v, want a message about the socket path", len(dir), err)
	}
}
