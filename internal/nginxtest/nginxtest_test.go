package nginxtest

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestNginxProxiesOnItsOwnPort: nginx runs the production template in
// front of the upstream, on the port this process bound for it: a host
// nginx says so in its error log (it adopted the inherited socket rather
// than binding a port someone else might have taken meanwhile); for nginx
// in a container, the port stays held by our reserving socket, so nobody
// else can bind it.
func TestNginxProxiesOnItsOwnPort(t *testing.T) {
	for _, workers := range []int{0, 2} {
		up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, "upstream saw "+r.URL.Path)
		}))
		t.Cleanup(up.Close)
		n := New(t, strings.TrimPrefix(up.URL, "http://"), Options{Workers: workers})
		resp, err := http.Get(n.URL + "/probe")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || string(b) != "upstream saw /probe" || resp.Header.Get("X-Request-ID") == "" {
			t.Errorf("workers=%d: GET /probe through nginx: %s %q, X-Request-ID %q", workers, resp.Status, b, resp.Header.Get("X-Request-ID"))
		}
		if n.container == "" && !strings.Contains(n.ErrorLog(), "using inherited sockets") {
			t.Errorf("workers=%d: nginx did not adopt the socket we bound:\n%s", workers, n.ErrorLog())
		}
		if n.container != "" {
			// The port is ours and nginx's: nobody else can bind it.
			if l, err := net.Listen("tcp", n.Addr); err == nil {
				l.Close()
				t.Errorf("workers=%d: %s could be bound by someone else while nginx runs", workers, n.Addr)
			}
		}
		// Pid is where nginx's CPU time is counted (the bench): nginx is
		// that process or under it, in a container too.
		if !nginxUnder(t, n.Pid()) {
			t.Errorf("workers=%d: no nginx process at or under pid %d", workers, n.Pid())
		}
		// nginx writes the line after the response, so wait for it.
		deadline := time.Now().Add(5 * time.Second)
		for !strings.Contains(n.AccessLog(), `"uri":"/probe"`) {
			if time.Now().After(deadline) {
				t.Fatalf("workers=%d: access log has no line for /probe:\n%s", workers, n.AccessLog())
			}
			time.Sleep(10 * time.Millisecond) // poll interval
		}
	}
}

func TestRenderRefusesUnknownVariables(t *testing.T) {
	got, err := Render("listen ${NGINX_PORT}; server ${BAZAAR_UPSTREAM}; set $x $host;", "127.0.0.1:1", "app:8080", "/photos")
	if err != nil || got != "listen 127.0.0.1:1; server app:8080; set $x $host;" {
		t.Errorf("Render = %q, %v", got, err)
	}
	if _, err := Render("listen ${NGINX_PORT}; root ${NGINX_ROOT};", "1", "2", "3"); err == nil || !strings.Contains(err.Error(), "NGINX_ROOT") {
		t.Errorf("Render with an undefined variable: err = %v", err)
	}
}

// nginxUnder reports whether a process named nginx is root or one of its
// descendants, from /proc.
func nginxUnder(t *testing.T, root int) bool {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	parent, name := map[int]int{}, map[int]string{}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue // gone meanwhile
		}
		// pid (comm) state ppid ...
		line := string(b)
		open, end := strings.IndexByte(line, '('), strings.LastIndexByte(line, ')')
		if open < 0 || end < open {
			continue
		}
		fields := strings.Fields(line[end+1:])
		if len(fields) < 2 {
			continue
		}
		ppid, _ := strconv.Atoi(fields[1])
		parent[pid], name[pid] = ppid, line[open+1:end]
	}
	for pid, comm := range name {
		if comm != "nginx" {
			continue
		}
		for q := pid; q > 1; q = parent[q] {
			if q == root {
				return true
			}
		}
	}
	return false
}
