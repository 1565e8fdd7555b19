// Package nginxtest runs the real nginx with the repository's production
// template (deploy/nginx/templates/default.conf.template) in front of an
// upstream, for the nginx integration tests and the bench. It is the one
// place that knows how to render the template and run nginx outside its
// container image.
//
// Which nginx: by default the one in the e2e suite's nginx image
// (bazaar-test-nginx:1.30, built by deploy/test/build-images.sh from Debian
// sid), run with `docker run --network host`, because the template needs
// nginx 1.27.3 or later (`resolve` in an upstream) and the host's Debian
// bookworm has 1.22, whose binary sid's would not replace (it needs a newer
// libc). BAZAAR_NGINX_IMAGE names another image; BAZAAR_NGINX=host runs the
// host's own nginx instead (for a host whose nginx is new enough).
//
// The port is never free between being chosen and being used:
//
//   - host nginx: this process binds 127.0.0.1:0 and hands the listening
//     socket over as an inherited descriptor, the way nginx's own binary
//     upgrade passes its sockets on (NGINX="3;"); nginx adopts it for the
//     `listen` with the same address instead of binding again.
//   - nginx in a container: a descriptor cannot cross `docker run`, so this
//     process binds 127.0.0.1:0 with SO_REUSEPORT and keeps that socket
//     bound but not listening until nginx has stopped; nginx listens on the
//     same address with `reuseport` (allowed: same user, root, in the same
//     network namespace). A socket that does not listen receives no
//     connections, so every connection reaches nginx, and nobody else can
//     take the port meanwhile.
//
// Either way nginx serves plain TCP on 127.0.0.1 as in production (a Unix
// socket would change the Host, X-Forwarded-For and the tools that can
// reach it, wrk included).
package nginxtest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// soReusePort is SO_REUSEPORT on Linux (the syscall package does not
// name it; golang.org/x/sys/unix would be a dependency for one constant).
const soReusePort = 0xf

// ErrNoNginx is returned by Start when the nginx it is to run is not there:
// no docker or no image (the default), or no nginx binary with
// BAZAAR_NGINX=host.
var ErrNoNginx = errors.New("nginx not available")

// DefaultImage is the image whose nginx the harness runs by default: the
// e2e suite's, the nginx version production pins (docker-compose.yml).
const DefaultImage = "bazaar-test-nginx:1.30"

// TemplatePath is the production template, relative to the module root.
const TemplatePath = "deploy/nginx/templates/default.conf.template"

// Options configure one nginx.
type Options struct {
	// Dir holds the configuration, nginx's state and its logs
	// (access.log: its stdout, where the template's JSON access log goes;
	// error.log: its stderr). Empty means a new temporary directory that
	// Stop removes.
	Dir string
	// Workers is the number of worker processes under the master, as in
	// production; zero means one. (A single process without a master,
	// `master_process off`, crashes nginx 1.22 on an inherited socket.)
	Workers int
	// PhotoDir is the photo directory nginx serves under /media/
	// (${BAZAAR_PHOTO_ROOT}, mounted read-only into the container). Empty
	// means none: every photo is 404.
	PhotoDir string
	// Template is the template file. Empty means the repository's, found by
	// walking up from the working directory to go.mod.
	Template string
	// Timeout bounds start-up; zero means 10 seconds.
	Timeout time.Duration
}

// Nginx is a running nginx.
type Nginx struct {
	URL  string // http://127.0.0.1:port
	Addr string // 127.0.0.1:port
	Dir  string // see Options.Dir

	cmd       *exec.Cmd
	done      chan error
	ownDir    bool
	container string         // the container's name, when nginx runs in one
	pid       int            // the container's first process (host pid), when nginx runs in one
	stdin     io.WriteCloser // closing it stops the container's nginx
	reserved  int            // the socket holding the port (container mode), or -1
}

// mainConf is the smallest main configuration that runs the rendered
// template as the official image's nginx.conf does (inside `http {}`, with
// its mime types and keepalive settings), in the foreground, with every
// path under the directory.
const mainConf = `# written by internal/nginxtest
daemon off;
{{user}}
{{processes}}
pid "{{dir}}/nginx.pid";
error_log stderr notice;
events {
    worker_connections 1024;
}
http {
    {{mime}}
    default_type application/octet-stream;
    sendfile on;
    keepalive_timeout 65;
    client_body_temp_path "{{dir}}/client_body";
    proxy_temp_path "{{dir}}/proxy";
    fastcgi_temp_path "{{dir}}/fastcgi";
    uwsgi_temp_path "{{dir}}/uwsgi";
    scgi_temp_path "{{dir}}/scgi";
    # The template sets its own access log (stdout) in its server block.
    access_log off;
    include "{{dir}}/default.conf";
}
`

// Start renders the template for upstream (host:port, e.g. the app's
// reported address), starts nginx on a loopback port of its own and
// returns once nginx answers HTTP. Stop it with Stop.
func Start(ctx context.Context, upstream string, opts Options) (_ *Nginx, err error) {
	image, bin, err := which()
	if err != nil {
		return nil, err
	}
	if opts.Timeout == 0 {
		opts.Timeout = 10 * time.Second
	}
	tmpl := opts.Template
	if tmpl == "" {
		if tmpl, err = repoFile(TemplatePath); err != nil {
			return nil, err
		}
	}
	b, err := os.ReadFile(tmpl)
	if err != nil {
		return nil, err
	}
	n := &Nginx{Dir: opts.Dir, reserved: -1}
	if n.Dir == "" {
		if n.Dir, err = os.MkdirTemp("", "bazaar-nginx-"); err != nil {
			return nil, err
		}
		n.ownDir = true
	} else if err := os.MkdirAll(n.Dir, 0o755); err != nil {
		return nil, err
	}
	if n.Dir, err = filepath.Abs(n.Dir); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			n.release()
			if n.ownDir {
				_ = os.RemoveAll(n.Dir)
			}
		}
	}()

	var listen string
	var inherited *os.File
	if image == "" {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		defer ln.Close() // nginx has its own copy once started
		if inherited, err = ln.(*net.TCPListener).File(); err != nil {
			return nil, err
		}
		defer inherited.Close()
		n.Addr = ln.Addr().String()
		listen = n.Addr
	} else {
		if n.Addr, err = n.reserve(); err != nil {
			return nil, err
		}
		listen = n.Addr + " reuseport"
	}
	n.URL = "http://" + n.Addr

	photos := opts.PhotoDir
	if photos == "" {
		photos = filepath.Join(n.Dir, "photos") // nothing there: every photo is 404
	} else if photos, err = filepath.Abs(photos); err != nil {
		return nil, err
	}
	conf, err := Render(string(b), listen, upstream, photos)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", tmpl, err)
	}
	if err := os.WriteFile(filepath.Join(n.Dir, "default.conf"), []byte(conf), 0o644); err != nil {
		return nil, err
	}
	processes := "worker_processes " + strconv.Itoa(max(opts.Workers, 1)) + ";"
	mime := "# no /etc/nginx/mime.types on this machine"
	user := "# workers run as nginx's default user"
	if image != "" {
		// The image has its mime types; the workers must reach the
		// directory, which may be a 0700 temporary one of root's.
		mime, user = "include /etc/nginx/mime.types;", "user root root;"
	} else if _, err := os.Stat("/etc/nginx/mime.types"); err == nil {
		mime = "include /etc/nginx/mime.types;"
	}
	main := strings.NewReplacer("{{dir}}", n.Dir, "{{user}}", user, "{{processes}}", processes, "{{mime}}", mime).Replace(mainConf)
	mainPath := filepath.Join(n.Dir, "nginx.conf")
	if err := os.WriteFile(mainPath, []byte(main), 0o644); err != nil {
		return nil, err
	}
	// -e stderr: Debian's nginx otherwise opens /var/log/nginx/error.log
	// before it reads the configuration.
	args := []string{"-e", "stderr", "-p", n.Dir, "-c", mainPath}

	stdout, err := os.Create(filepath.Join(n.Dir, "access.log"))
	if err != nil {
		return nil, err
	}
	defer stdout.Close()
	stderr, err := os.Create(filepath.Join(n.Dir, "error.log"))
	if err != nil {
		return nil, err
	}
	defer stderr.Close()

	if image == "" {
		if out, err := exec.CommandContext(ctx, bin, append(args, "-t")...).CombinedOutput(); err != nil {
			return nil, fmt.Errorf("nginx -t: %w\n%s\nrendered template:\n%s", err, out, conf)
		}
		n.cmd = exec.Command(bin, args...)
		// The listening socket becomes descriptor 3 (the first of
		// ExtraFiles); NGINX="3;" tells nginx to adopt it.
		n.cmd.ExtraFiles = []*os.File{inherited}
		n.cmd.Env = append(os.Environ(), "NGINX=3;")
	} else {
		n.container = fmt.Sprintf("bazaar-nginxtest-%d-%d", os.Getpid(), containerSeq.Add(1))
		docker := []string{"run", "--rm", "-i", "--name", n.container, "--network", "host",
			"--label", "bazaar.nginxtest=1", "-v", n.Dir + ":" + n.Dir}
		if opts.PhotoDir != "" {
			docker = append(docker, "-v", photos+":"+photos+":ro")
		}
		docker = append(docker, "--entrypoint", "bash", image, "-c")
		if out, err := exec.CommandContext(ctx, "docker", append(docker, `exec nginx "$@"`, "nginx", "-t", "-e", "stderr", "-p", n.Dir, "-c", mainPath)...).CombinedOutput(); err != nil {
			return nil, fmt.Errorf("nginx -t (in %s): %w\n%s\nrendered template:\n%s", image, err, out, conf)
		}
		n.container = fmt.Sprintf("bazaar-nginxtest-%d-%d", os.Getpid(), containerSeq.Add(1))
		docker[4] = n.container
		// nginx in the background, and a watch on stdin: when this process
		// goes away, however it dies, docker closes the container's stdin,
		// cat returns and nginx is told to stop, so no container is left
		// behind. Stop closes stdin on purpose.
		// (A background job's stdin would be /dev/null: hence fd 3.)
		script := `exec 3<&0
nginx "$@" & pid=$!
trap 'kill -TERM $pid' TERM INT
{ cat <&3 >/dev/null; kill -TERM $pid 2>/dev/null; } &
wait $pid; wait $pid`
		n.cmd = exec.Command("docker", append(docker, script, "nginx")...)
		n.cmd.Args = append(n.cmd.Args, args...)
		if n.stdin, err = n.cmd.StdinPipe(); err != nil {
			return nil, err
		}
	}
	n.cmd.Stdout, n.cmd.Stderr = stdout, stderr
	// Pdeathsig: nginx (or the docker client, whose going away stops the
	// container as above) dies with us. Setpgid: Stop can reach the
	// workers too if the master does not stop them.
	n.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	if err := n.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start nginx: %w", err)
	}
	n.done = make(chan error, 1)
	go func() { n.done <- n.cmd.Wait() }()
	if err := n.waitReady(ctx, opts.Timeout); err != nil {
		_ = n.Stop()
		return nil, fmt.Errorf("%w\n--- nginx error log ---\n%s", err, n.ErrorLog())
	}
	if n.container != "" {
		// The docker client is not nginx's parent: the container's first
		// process (the script above) is, in the host's pid namespace.
		out, err := exec.CommandContext(ctx, "docker", "inspect", "--format", "{{.State.Pid}}", n.container).Output()
		if err == nil {
			n.pid, err = strconv.Atoi(strings.TrimSpace(string(out)))
		}
		if err != nil || n.pid <= 0 {
			_ = n.Stop()
			return nil, fmt.Errorf("the pid of container %s: %q %v", n.container, out, err)
		}
	}
	return n, nil
}

// containerSeq numbers this process's nginx containers.
var containerSeq atomic.Int64

// reserve binds 127.0.0.1:0 with SO_REUSEPORT, without listening, and
// keeps the socket until Stop (see the package comment).
func (n *Nginx) reserve() (string, error) {
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return "", err
	}
	n.reserved = fd
	if err := syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, soReusePort, 1); err != nil {
		return "", fmt.Errorf("SO_REUSEPORT: %w", err)
	}
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		return "", err
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		return "", err
	}
	in4, ok := sa.(*syscall.SockaddrInet4)
	if !ok {
		return "", fmt.Errorf("unexpected socket address %T", sa)
	}
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(in4.Port)), nil
}

// release gives the reserved port back.
func (n *Nginx) release() {
	if n.reserved >= 0 {
		_ = syscall.Close(n.reserved)
		n.reserved = -1
	}
}

// waitReady polls until nginx answers any HTTP response (the upstream's
// health is not its business), exits, or the deadline passes. The socket
// is bound already, so a request made before nginx accepts simply waits.
func (n *Nginx) waitReady(ctx context.Context, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	client := &http.Client{Timeout: time.Second}
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, n.URL+"/healthz", nil)
		if err != nil {
			return err
		}
		resp, err := client.Do(req)
		if err == nil {
			_ = resp.Body.Close()
			if resp.Header.Get("X-Request-ID") != "" { // the template's, so ours
				return nil
			}
			err = fmt.Errorf("%s answered without the template's X-Request-ID", n.Addr)
		}
		select {
		case werr := <-n.done:
			n.done <- werr
			return fmt.Errorf("nginx exited during start-up: %v", werr)
		case <-ctx.Done():
			return fmt.Errorf("nginx not answering on %s within %s: %v", n.Addr, timeout, err)
		case <-tick.C:
		}
	}
}

// Pid is the process id of nginx (its master, when it has workers), or in
// a container of the process nginx runs under: either way the root of the
// tree of processes that are nginx, whose CPU time the bench counts.
func (n *Nginx) Pid() int {
	if n.pid > 0 {
		return n.pid
	}
	return n.cmd.Process.Pid
}

// Exited reports whether nginx has exited, and how.
func (n *Nginx) Exited() (bool, error) {
	select {
	case err := <-n.done:
		n.done <- err
		return true, err
	default:
		return false, nil
	}
}

// AccessLog returns what nginx has written to its access log (stdout) so far.
func (n *Nginx) AccessLog() string { return n.read("access.log") }

// ErrorLog returns what nginx has written to its error log (stderr) so far.
func (n *Nginx) ErrorLog() string { return n.read("error.log") }

func (n *Nginx) read(name string) string {
	b, err := os.ReadFile(filepath.Join(n.Dir, name))
	if err != nil {
		return fmt.Sprintf("(%v)", err)
	}
	return string(b)
}

// Stop shuts nginx down (fast shutdown, then SIGKILL after 10 seconds) and
// removes its directory if Start made it.
func (n *Nginx) Stop() error {
	if n.cmd == nil || n.cmd.Process == nil {
		n.release()
		return nil
	}
	if n.stdin != nil {
		_ = n.stdin.Close() // the container's nginx stops (see Start)
	} else {
		_ = n.cmd.Process.Signal(syscall.SIGTERM)
	}
	var err error
	select {
	case err = <-n.done:
		n.done <- err
	case <-time.After(10 * time.Second):
		if n.container != "" {
			_ = exec.Command("docker", "kill", n.container).Run()
		}
		_ = syscall.Kill(-n.cmd.Process.Pid, syscall.SIGKILL)
		err = <-n.done
		n.done <- err
	}
	n.release()
	if n.ownDir {
		_ = os.RemoveAll(n.Dir)
	}
	var exit *exec.ExitError
	if errors.As(err, &exit) && exit.Sys().(syscall.WaitStatus).Signaled() {
		return nil // our own SIGKILL
	}
	if n.container != "" && errors.As(err, &exit) && exit.ExitCode() == 128+int(syscall.SIGTERM) {
		return nil // bash reports the nginx it stopped
	}
	return err
}

// New is Start for a test: nginx stops when the test ends, its logs are
// shown if the test failed, and the test is skipped when nginx is not
// installed, or fails when BAZAAR_REQUIRE_ALL=1 says every test must run.
func New(t testing.TB, upstream string, opts Options) *Nginx {
	t.Helper()
	if _, _, err := which(); err != nil {
		msg := "!!! " + err.Error() + ": the nginx integration tests did NOT run. " +
			"Set BAZAAR_REQUIRE_ALL=1 to make this a failure. !!!"
		if os.Getenv("BAZAAR_REQUIRE_ALL") == "1" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	if opts.Dir == "" {
		opts.Dir = t.TempDir()
	}
	n, err := Start(context.Background(), upstream, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := n.Stop(); err != nil {
			t.Errorf("nginx: %v", err)
		}
		if t.Failed() {
			t.Logf("nginx error log:\n%s\nnginx access log:\n%s", n.ErrorLog(), n.AccessLog())
		}
	})
	return n
}

// Render does what the official image's envsubst step does with NGINX_PORT
// and BAZAAR_UPSTREAM defined: it replaces exactly those two variables and
// leaves nginx's own ($host, $request_id, ...) alone. A variable the
// deployment does not define is an error: the image would leave it in, and
// nginx would choke on it.
func Render(template, listen, upstream, photoRoot string) (string, error) {
	conf := strings.NewReplacer("${NGINX_PORT}", listen, "${BAZAAR_UPSTREAM}", upstream, "${BAZAAR_PHOTO_ROOT}", photoRoot).Replace(template)
	if i := strings.Index(conf, "${"); i >= 0 {
		return "", fmt.Errorf("template uses a variable the deployment does not define: %q", conf[i:min(i+40, len(conf))])
	}
	return conf, nil
}

// which says what Start runs: an image (the default, see the package
// comment) or, with BAZAAR_NGINX=host, the host's nginx binary. The error
// wraps ErrNoNginx and says how to get what is missing.
func which() (image, bin string, err error) {
	if os.Getenv("BAZAAR_NGINX") == "host" {
		if p, err := exec.LookPath("nginx"); err == nil {
			return "", p, nil
		}
		if _, err := os.Stat("/usr/sbin/nginx"); err == nil {
			return "", "/usr/sbin/nginx", nil
		}
		return "", "", fmt.Errorf("%w: BAZAAR_NGINX=host but no nginx in PATH nor /usr/sbin/nginx", ErrNoNginx)
	}
	image = os.Getenv("BAZAAR_NGINX_IMAGE")
	if image == "" {
		image = DefaultImage
	}
	// #nosec G702 -- the image name comes from the developer's environment (a test harness), and exec passes it as one argument, not through a shell
	if out, err := exec.Command("docker", "image", "inspect", "--format", "{{.Id}}", image).CombinedOutput(); err != nil {
		if _, derr := exec.LookPath("docker"); derr != nil {
			return "", "", fmt.Errorf("%w: docker is not installed, and the tests run nginx from the image %s (or set BAZAAR_NGINX=host for a host nginx 1.27.3 or later)", ErrNoNginx, image)
		}
		return "", "", fmt.Errorf("%w: docker cannot give the image %s (%s); build it with `bash deploy/test/build-images.sh` (make test does), or set BAZAAR_NGINX=host for a host nginx 1.27.3 or later", ErrNoNginx, image, strings.TrimSpace(string(out)))
	}
	return image, "", nil
}

// repoFile finds path relative to the module root: the nearest directory
// at or above the working directory that holds go.mod.
func repoFile(path string) (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return filepath.Join(dir, path), nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod at or above the working directory, so no %s", path)
		}
		dir = parent
	}
}
