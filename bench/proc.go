package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// proc is a supervised child process whose stdout and stderr go to a log
// file, and whose first JSON "listening" line on stdout reports the address
// it bound.
type proc struct {
	name string
	cmd  *exec.Cmd
	done chan error // receives Wait's result, then holds it
	addr chan string
}

func startProc(name, logPath string, env []string, bin string, args ...string) (*proc, error) {
	f, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	p := &proc{name: name, done: make(chan error, 1), addr: make(chan string, 1)}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stdout = &listenWatcher{w: f, found: p.addr}
	p.cmd.Stderr = f
	// The child dies with us, so an interrupted bench leaves nothing running.
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	go func() {
		err := p.cmd.Wait() // after the last of stdout was copied to f
		_ = f.Close()
		p.done <- err
	}()
	return p, nil
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

// exited reports whether the process has exited, and how.
func (p *proc) exited() (bool, error) {
	select {
	case err := <-p.done:
		p.done <- err
		return true, err
	default:
		return false, nil
	}
}

// listening waits for the address the process reports.
func (p *proc) listening(ctx context.Context, timeout time.Duration) (string, error) {
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case a := <-p.addr:
		return a, nil
	case err := <-p.done:
		p.done <- err
		return "", fmt.Errorf("%s exited while starting: %v", p.name, err)
	case <-t.C:
		return "", fmt.Errorf("%s did not report a listening address within %s", p.name, timeout)
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

// stop sends SIGTERM, waits up to 15 seconds, then kills.
func (p *proc) stop() {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-p.done:
		p.done <- err
	case <-time.After(15 * time.Second):
		_ = p.cmd.Process.Kill()
		p.done <- <-p.done
	}
}

// listenWatcher passes everything on to w and looks for the first
// {"msg":"listening","addr":...} line, which the app (slog JSON) and the
// floors print once they hold their socket.
type listenWatcher struct {
	w     io.Writer
	found chan<- string
	line  []byte
	done  bool
}

func (l *listenWatcher) Write(b []byte) (int, error) {
	if !l.done {
		l.line = append(l.line, b...)
		for !l.done {
			i := bytes.IndexByte(l.line, '\n')
			if i < 0 {
				break
			}
			var m struct{ Msg, Addr string }
			if json.Unmarshal(l.line[:i], &m) == nil && m.Msg == "listening" && m.Addr != "" {
				l.found <- m.Addr
				l.done, l.line = true, nil
				break
			}
			l.line = l.line[i+1:]
		}
	}
	return l.w.Write(b)
}

var client = &http.Client{
	Timeout:       10 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

// httpDo sends one request (a form POST when body is set) and returns the
// status, the Location header and the body.
func httpDo(ctx context.Context, method, url, form string) (int, string, []byte, error) {
	status, loc, body, _, err := httpDoCookie(ctx, method, url, form, "")
	return status, loc, body, err
}

// httpDoCookie is httpDo sending cookie (a Cookie header value, "" for
// none) and returning the cookies the answer sets too.
func httpDoCookie(ctx context.Context, method, url, form, cookie string) (int, string, []byte, []*http.Cookie, error) {
	req, err := http.NewRequestWithContext(ctx, method, url, strings.NewReader(form))
	if err != nil {
		return 0, "", nil, nil, err
	}
	if form != "" {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if cookie != "" {
		req.Header.Set("Cookie", cookie)
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, "", nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Location"), b, resp.Cookies(), err
}

// waitOK polls url until it answers 200, p exits, or the time is up.
func waitOK(ctx context.Context, p *proc, url string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		status, _, _, err := httpDo(ctx, "GET", url, "")
		if err == nil && status == http.StatusOK {
			return nil
		}
		if gone, err := p.exited(); gone {
			return fmt.Errorf("%s exited while starting: %v", p.name, err)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready in time: %s answered %d, %v", p.name, url, status, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond): // poll interval
		}
	}
}

// userHZ is the unit of the times in /proc/<pid>/stat: USER_HZ, which
// Linux fixes at 100 for user space whatever the kernel's own tick rate.
const userHZ = 100

// cpuTicks returns, for each root pid, the user+system clock ticks of it
// and all its descendants (nginx's workers; the postmaster's backends),
// from one pass over /proc. A process's own times count, plus those of
// children it has reaped (cutime, cstime): a backend or autovacuum worker
// that exits hands its time to the postmaster.
func cpuTicks(roots ...int) ([]int64, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	parent := map[int]int{}
	ticks := map[int]int64{}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue // gone meanwhile
		}
		ppid, t, err := parseStat(string(b))
		if err != nil {
			return nil, fmt.Errorf("/proc/%d/stat: %w", pid, err)
		}
		parent[pid], ticks[pid] = ppid, t
	}
	sums := make([]int64, len(roots))
	for pid, t := range ticks {
		for q := pid; q > 1; q = parent[q] {
			if i := indexOf(roots, q); i >= 0 {
				sums[i] += t
				break
			}
		}
	}
	return sums, nil
}

// parseStat returns the parent pid and utime+stime+cutime+cstime of one
// /proc/<pid>/stat line. The command name (field 2) may hold spaces and
// parentheses, so fields are counted from the last ')'.
func parseStat(line string) (ppid int, ticks int64, err error) {
	i := strings.LastIndexByte(line, ')')
	if i < 0 {
		return 0, 0, fmt.Errorf("no ')' in %q", line)
	}
	f := strings.Fields(line[i+1:])
	// f[0] is field 3 (state); ppid is field 4, utime..cstime fields 14-17.
	if len(f) < 15 {
		return 0, 0, fmt.Errorf("too few fields in %q", line)
	}
	if ppid, err = strconv.Atoi(f[1]); err != nil {
		return 0, 0, err
	}
	for _, s := range f[11:15] {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, 0, err
		}
		ticks += n
	}
	return ppid, ticks, nil
}

func indexOf(xs []int, x int) int {
	for i, v := range xs {
		if v == x {
			return i
		}
	}
	return -1
}

// tailLines returns the last n lines of the file at path, reading at most
// its last megabyte.
func tailLines(path string, n int) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	off := max(st.Size()-1<<20, 0)
	b := make([]byte, st.Size()-off)
	if _, err := f.ReadAt(b, off); err != nil && err != io.EOF {
		return nil, err
	}
	b = bytes.TrimRight(b, "\n")
	for i, cut := len(b), 0; i > 0; i-- {
		if b[i-1] == '\n' {
			if cut++; cut == n {
				b = b[i:]
				break
			}
		}
	}
	if len(b) > 0 {
		b = append(b, '\n')
	}
	return b, nil
}
