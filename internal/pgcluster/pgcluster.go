// Package pgcluster starts a private PostgreSQL cluster from the machine's
// server binaries: a throwaway one for tests and the bench, and a persistent
// one under .data/ for `make run`. It is the single implementation of "start
// a PostgreSQL for me" that all of them use.
//
// A cluster listens on a Unix socket in its own directory and on no TCP
// port. Choosing a free TCP port means closing it before the server binds
// it, and test packages running in parallel then race for the same port;
// a socket in a private directory cannot collide with anything.
package pgcluster

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// ErrNoPostgres is returned when no PostgreSQL server binaries can be found.
var ErrNoPostgres = errors.New("no PostgreSQL server binaries found (looked for initdb and postgres on PATH and in /usr/lib/postgresql/*/bin); " +
	"either install PostgreSQL (Debian: apt-get install postgresql) or run the whole stack with `docker compose up`")

// Options configure a cluster.
type Options struct {
	// Dir holds the cluster (Dir/pgdata), its log (Dir/postgres.log) and
	// its socket (Dir/.s.PGSQL.5432). It is created when missing and reused
	// when it already holds a cluster. A socket path is limited to 107
	// bytes, so Dir must be at most 93 bytes long once made absolute.
	Dir string
	// Durable keeps fsync on. Tests turn it off for speed.
	Durable bool
	// Timeout bounds start-up; zero means 30 seconds.
	Timeout time.Duration
}

// Cluster is a running PostgreSQL server listening on a Unix socket in Dir.
type Cluster struct {
	Dir  string
	cmd  *exec.Cmd // nil when we reused a server started by another process
	done chan error
}

// port names the socket file (.s.PGSQL.5432); no TCP port is opened. It is
// the default, so URLs need not mention it.
const port = 5432

// maxSocketPath is the room in sockaddr_un.sun_path, less its NUL.
const maxSocketPath = 107

// URL returns a connection string for database db as the superuser postgres,
// through the socket: postgres://postgres@/db?host=/dir&sslmode=disable.
func (c *Cluster) URL(db string) string {
	return socketURL(c.Dir, db)
}

func socketURL(dir, db string) string {
	u := url.URL{
		Scheme:   "postgres",
		User:     url.User("postgres"),
		Path:     "/" + db,
		RawQuery: "host=" + strings.ReplaceAll(url.QueryEscape(dir), "%2F", "/") + "&sslmode=disable", // slashes stay readable: psql takes the URL as printed
	}
	return u.String()
}

// Start initialises the cluster in opts.Dir if needed and starts it, or
// reuses the server already running there. It returns once the server
// accepts connections.
func Start(ctx context.Context, opts Options) (*Cluster, error) {
	if opts.Timeout == 0 {
		opts.Timeout = 30 * time.Second
	}
	bin, err := findBin("/usr/lib/postgresql/*/bin/initdb")
	if err != nil {
		return nil, err
	}
	cred, err := credential()
	if err != nil {
		return nil, err
	}
	dir, err := filepath.Abs(opts.Dir)
	if err != nil {
		return nil, err
	}
	data := filepath.Join(dir, "pgdata")
	if sock := filepath.Join(dir, ".s.PGSQL."+strconv.Itoa(port)); len(sock) > maxSocketPath {
		return nil, fmt.Errorf("cluster directory %s is too long for a Unix socket path (%s is %d bytes, at most %d fit): choose a shorter directory", dir, sock, len(sock), maxSocketPath)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	if cred != nil {
		// The server runs as postgres, which must own its directory and be
		// able to reach it.
		if err := os.Chmod(dir, 0o755); err != nil {
			return nil, err
		}
		if err := os.Chown(dir, int(cred.Uid), int(cred.Gid)); err != nil {
			return nil, err
		}
	}

	if running(ctx, dir) {
		return &Cluster{Dir: dir}, nil
	}

	if _, err := os.Stat(filepath.Join(data, "PG_VERSION")); errors.Is(err, os.ErrNotExist) {
		initdb := exec.CommandContext(ctx, filepath.Join(bin, "initdb"),
			"-D", data, "-U", "postgres", "--auth=trust", "--encoding=UTF8", "--locale=C.UTF-8", "--no-instructions")
		initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
		if out, err := initdb.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("initdb: %w\n%s", err, out)
		}
	}

	logPath := filepath.Join(dir, "postgres.log")
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	args := []string{"-D", data, "-p", strconv.Itoa(port),
		"-c", "listen_addresses=",
		"-c", "unix_socket_directories=" + dir,
		"-c", "max_connections=200",
	}
	if !opts.Durable {
		args = append(args, "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off")
	}
	cmd := exec.Command(filepath.Join(bin, "postgres"), args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	// Pdeathsig: the server dies with us, so a crashed test leaves nothing
	// running. Setpgid: a terminal's Ctrl-C reaches us, and we stop the
	// server in order, instead of both racing for it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Pdeathsig: syscall.SIGKILL, Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start postgres: %w", err)
	}
	c := &Cluster{Dir: dir, cmd: cmd, done: make(chan error, 1)}
	go func() { c.done <- cmd.Wait() }()

	if err := c.waitReady(ctx, opts.Timeout); err != nil {
		_ = c.Stop()
		tail, _ := os.ReadFile(logPath)
		return nil, fmt.Errorf("%w\n--- %s ---\n%s", err, logPath, lastLines(string(tail), 20))
	}
	return c, nil
}

// waitReady polls until the server accepts a connection, the process exits,
// or the deadline passes.
func (c *Cluster) waitReady(ctx context.Context, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		conn, err := pgx.Connect(ctx, c.URL("postgres"))
		if err == nil {
			_ = conn.Close(ctx)
			return nil
		}
		select {
		case werr := <-c.done:
			c.done <- werr
			return fmt.Errorf("postgres exited during start-up: %v", werr)
		case <-ctx.Done():
			return fmt.Errorf("postgres not ready within %s: %v", timeout, err)
		case <-tick.C:
		}
	}
}

// Pid is the postmaster's process id (its backends are its children), or
// 0 for a server this process reused rather than started.
func (c *Cluster) Pid() int {
	if c.cmd == nil {
		return 0
	}
	return c.cmd.Process.Pid
}

// Stop shuts the server down (fast mode) if this process started it.
func (c *Cluster) Stop() error {
	if c.cmd == nil {
		return nil
	}
	_ = c.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-c.done:
	case <-time.After(10 * time.Second):
		_ = c.cmd.Process.Kill()
		<-c.done
	}
	return nil
}

// running reports whether a live server already answers on dir's socket
// (one started by an earlier `make run`, or by a test in this process).
func running(ctx context.Context, dir string) bool {
	if _, err := os.Stat(filepath.Join(dir, "pgdata", "postmaster.pid")); err != nil {
		return false
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, socketURL(dir, "postgres"))
	if err != nil {
		return false
	}
	_ = conn.Close(ctx)
	return true
}

// findBin locates the directory holding initdb and postgres: on PATH, else
// the newest version matching glob.
func findBin(glob string) (string, error) {
	if p, err := exec.LookPath("initdb"); err == nil {
		dir := filepath.Dir(p)
		if _, err := os.Stat(filepath.Join(dir, "postgres")); err == nil {
			return dir, nil
		}
	}
	matches, _ := filepath.Glob(glob)
	sort.Slice(matches, func(i, j int) bool { return version(matches[i]) > version(matches[j]) })
	if len(matches) > 0 {
		return filepath.Dir(matches[0]), nil
	}
	return "", ErrNoPostgres
}

func version(initdb string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(initdb))))
	return v
}

// credential returns the postgres user's credential when running as root
// (initdb and postgres refuse to run as root), else nil.
func credential() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("running as root, PostgreSQL must run as the postgres user, which does not exist: %w", err)
	}
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("postgres user: uid %q: %w", u.Uid, err)
	}
	gid, err := strconv.ParseUint(u.Gid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("postgres user: gid %q: %w", u.Gid, err)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
