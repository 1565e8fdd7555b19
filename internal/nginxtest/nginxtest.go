// Package nginxtest runs the real nginx with the repository's production
// template (deploy/nginx/templates/default.conf.template) in front of an
// upstream, for the nginx integration tests and the bench. It is the one
// place that knows how to render the template and run nginx outside its
// container image.
//
// nginx listens on a loopback port that this process binds first (port 0,
// so the kernel picks a free one) and hands over as an inherited socket,
// the way nginx's own binary upgrade passes its sockets on: the NGINX
// environment variable names the descriptor, and nginx adopts it for the
// `listen` directive with the same address instead of binding again. The
// port is therefore never free between being chosen and being used, and
// nginx still serves plain TCP on 127.0.0.1 as in production (a Unix
// socket would change the Host, X-Forwarded-For and the tools that can
// reach it, wrk included).
package nginxtest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// ErrNoNginx is returned by Start when no nginx binary can be found.
var ErrNoNginx = errors.New("nginx not found (not in PATH nor /usr/sbin/nginx); install it (Debian: apt-get install nginx-light)")

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

	cmd    *exec.Cmd
	done   chan error
	ownDir bool
}

// mainConf is the smallest main configuration that runs the rendered
// template as the official image's nginx.conf does (inside `http {}`, with
// its mime types and keepalive settings), in the foreground, with every
// path under the directory.
const mainConf = `# written by internal/nginxtest
daemon off;
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
	bin, err := binary()
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
	n := &Nginx{Dir: opts.Dir}
	if n.Dir == "" {
		if n.Dir, err = os.MkdirTemp("", "bazaar-nginx-"); err != nil {
			return nil, err
		}
		n.ownDir = true
	} else if err := os.MkdirAll(n.Dir, 0o755); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil && n.ownDir {
			_ = os.RemoveAll(n.Dir)
		}
	}()

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	defer ln.Close() // nginx has its own copy once started
	f, err := ln.(*net.TCPListener).File()
	if err != nil {
		return nil, err
	}
	defer f.Close()
	n.Addr = ln.Addr().String()
	n.URL = "http://" + n.Addr

	conf, err := Render(string(b), n.Addr, upstream)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", tmpl, err)
	}
	if err := os.WriteFile(filepath.Join(n.Dir, "default.conf"), []byte(conf), 0o644); err != nil {
		return nil, err
	}
	processes := "worker_processes " + strconv.Itoa(max(opts.Workers, 1)) + ";"
	mime := "# no /etc/nginx/mime.types on this machine"
	if _, err := os.Stat("/etc/nginx/mime.types"); err == nil {
		mime = "include /etc/nginx/mime.types;"
	}
	main := strings.NewReplacer("{{dir}}", n.Dir, "{{processes}}", processes, "{{mime}}", mime).Replace(mainConf)
	mainPath := filepath.Join(n.Dir, "nginx.conf")
	if err := os.WriteFile(mainPath, []byte(main), 0o644); err != nil {
		return nil, err
	}
	// -e stderr: Debian's nginx otherwise opens /var/log/nginx/error.log
	// before it reads the configuration.
	args := []string{"-e", "stderr", "-p", n.Dir, "-c", mainPath}
	if out, err := exec.CommandContext(ctx, bin, append(args, "-t")...).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("nginx -t: %w\n%s\nrendered template:\n%s", err, out, conf)
	}

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
	n.cmd = exec.Command(bin, args...)
	n.cmd.Stdout, n.cmd.Stderr = stdout, stderr
	// The listening socket becomes descriptor 3 (the first of ExtraFiles);
	// NGINX="3;" tells nginx to adopt it.
	n.cmd.ExtraFiles = []*os.File{f}
	n.cmd.Env = append(os.Environ(), "NGINX=3;")
	// Pdeathsig: the master dies with us. Setpgid: Stop can reach the
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
	return n, nil
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

// Pid is the process id of nginx (its master, when it has workers).
func (n *Nginx) Pid() int { return n.cmd.Process.Pid }

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
		return nil
	}
	_ = n.cmd.Process.Signal(syscall.SIGTERM)
	var err error
	select {
	case err = <-n.done:
		n.done <- err
	case <-time.After(10 * time.Second):
		_ = syscall.Kill(-n.cmd.Process.Pid, syscall.SIGKILL)
		err = <-n.done
		n.done <- err
	}
	if n.ownDir {
		_ = os.RemoveAll(n.Dir)
	}
	var exit *exec.ExitError
	if errors.As(err, &exit) && exit.Sys().(syscall.WaitStatus).Signaled() {
		return nil // our own SIGKILL
	}
	return err
}

// New is Start for a test: nginx stops when the test ends, its logs are
// shown if the test failed, and the test is skipped when nginx is not
// installed, or fails when BAZAAR_REQUIRE_ALL=1 says every test must run.
func New(t testing.TB, upstream string, opts Options) *Nginx {
	t.Helper()
	if _, err := binary(); err != nil {
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
func Render(template, listen, upstream string) (string, error) {
	conf := strings.NewReplacer("${NGINX_PORT}", listen, "${BAZAAR_UPSTREAM}", upstream).Replace(template)
	if i := strings.Index(conf, "${"); i >= 0 {
		return "", fmt.Errorf("template uses a variable the deployment does not define: %q", conf[i:min(i+40, len(conf))])
	}
	return conf, nil
}

func binary() (string, error) {
	if p, err := exec.LookPath("nginx"); err == nil {
		return p, nil
	}
	if _, err := os.Stat("/usr/sbin/nginx"); err == nil {
		return "/usr/sbin/nginx", nil
	}
	return "", ErrNoNginx
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
