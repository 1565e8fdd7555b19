package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// stack drives one compose project: the repository's docker-compose.yml plus
// the test override, under a dedicated project name.
type stack struct {
	t       *testing.T
	compose []string // "docker compose" or "docker-compose"
	files   []string
	project string
	client  *http.Client
	// postClient opens a connection per request. When nginx reloads, its
	// old workers close idle keep-alive connections; a POST written onto
	// one just then gets EOF and, not being idempotent, may not be retried
	// by Go's client. Browsers do resend on a reused connection that closed
	// without a response byte, so this race is not a failure users see,
	// and the suite measures what they see.
	postClient *http.Client

	mu   sync.Mutex
	base string // the site as nginx publishes it; "" until asked of compose

	// A user's API token and session cookie for the writes the suite
	// makes (listings belong to their seller), made on first use by
	// signIn and forgotten by up, whose stack may have a fresh database.
	authMu sync.Mutex
	token  string
	cookie *http.Cookie

	// sql, when set, runs psql queries instead of `compose exec db` (the
	// swarm suite reaches its database another way).
	sql func(query string) (string, error)
}

// newStack returns the stack, or skips (fails under BAZAAR_REQUIRE_ALL=1)
// when this machine cannot run it.
func newStack(t *testing.T) *stack {
	t.Helper()
	files := os.Getenv("BAZAAR_E2E_COMPOSE_FILES")
	if files == "" {
		// Not a missing capability but a different target: `go test ./...`
		// must stay fast, so the suite only runs when asked for.
		t.Skip("e2e: BAZAAR_E2E_COMPOSE_FILES is not set; run the suite with `make e2e` (bash deploy/test/e2e.sh)")
	}
	unavailable := func(format string, args ...any) {
		msg := fmt.Sprintf(format, args...)
		banner := strings.Repeat("!", 72)
		if os.Getenv("BAZAAR_REQUIRE_ALL") == "1" {
			t.Fatalf("\n%s\nE2E CANNOT RUN and BAZAAR_REQUIRE_ALL=1: %s\n%s", banner, msg, banner)
		}
		t.Skipf("\n%s\nE2E SKIPPED: %s\n(set BAZAAR_REQUIRE_ALL=1 to make this a failure)\n%s", banner, msg, banner)
	}
	if out, err := exec.Command("docker", "info", "--format", "{{.ServerVersion}}").CombinedOutput(); err != nil {
		unavailable("docker is not available: %v: %s", err, bytes.TrimSpace(out))
	}
	compose := composeCommand()
	if compose == nil {
		unavailable("neither `docker compose` nor `docker-compose` works")
	}
	appImage := os.Getenv("BAZAAR_TEST_APP_IMAGE")
	if appImage == "" {
		appImage = "bazaar:test"
	}
	pgImage, nginxImage := os.Getenv("BAZAAR_TEST_POSTGRES_IMAGE"), os.Getenv("BAZAAR_TEST_NGINX_IMAGE")
	if pgImage == "" {
		pgImage = "bazaar-test-postgres:17"
	}
	if nginxImage == "" {
		nginxImage = "bazaar-test-nginx:1.30"
	}
	for _, img := range []string{appImage, pgImage, nginxImage} {
		if err := exec.Command("docker", "image", "inspect", img).Run(); err != nil {
			t.Fatalf("image %s is missing; build it with deploy/test/build-images.sh (deploy/test/e2e.sh does)", img)
		}
	}
	project := os.Getenv("BAZAAR_E2E_PROJECT")
	if project == "" {
		project = "bazaar-e2e"
	}
	var abs []string
	for _, f := range filepath.SplitList(files) {
		a, err := filepath.Abs(f)
		if err != nil {
			t.Fatal(err)
		}
		abs = append(abs, a)
	}
	noRedirects := func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &stack{
		t:       t,
		compose: compose,
		files:   abs,
		project: project,
		client: &http.Client{
			Timeout:       10 * time.Second,
			CheckRedirect: noRedirects,
			Transport:     &http.Transport{MaxIdleConnsPerHost: 64},
		},
		postClient: &http.Client{
			Timeout:       10 * time.Second,
			CheckRedirect: noRedirects,
			Transport:     &http.Transport{DisableKeepAlives: true},
		},
	}
}

// composeCommand prefers COMPOSE from the environment (set by e2e.sh), then
// the v2 plugin, then the v1 standalone tool.
func composeCommand() []string {
	if c := strings.Fields(os.Getenv("COMPOSE")); len(c) > 0 {
		return c
	}
	if exec.Command("docker", "compose", "version").Run() == nil {
		return []string{"docker", "compose"}
	}
	if exec.Command("docker-compose", "version").Run() == nil {
		return []string{"docker-compose"}
	}
	return nil
}

// env is the environment for compose and deploy/rollout.sh alike.
//
// BAZAAR_HTTP_PORT="127.0.0.1:" makes docker-compose.yml's
// "${BAZAAR_HTTP_PORT:-8080}:80" read "127.0.0.1::80": nginx is published
// on a port Docker picks, on loopback only, so the suite never collides
// with `make run` (8080), another project or a developer's stack; the suite
// asks compose which port it got (hostPort).
func (s *stack) env() []string {
	return append(os.Environ(),
		"COMPOSE_FILE="+strings.Join(s.files, string(filepath.ListSeparator)),
		"COMPOSE_PROJECT_NAME="+s.project,
		"COMPOSE="+strings.Join(s.compose, " "),
		"BAZAAR_HTTP_PORT=127.0.0.1:",
		// The monitoring profile's UIs, likewise on loopback ports Docker picks.
		"BAZAAR_PROMETHEUS_PORT=127.0.0.1:",
		"BAZAAR_ALERTMANAGER_PORT=127.0.0.1:",
	)
}

// hostPort asks compose where nginx's port 80 is published (host:port).
// The port changes whenever nginx's container is created anew (up after
// down), so up forgets the old one.
func (s *stack) hostPort(t *testing.T) string {
	t.Helper()
	u, err := s.url("")
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimPrefix(u, "http://")
}

// url returns the site's URL for path, asking compose for the port the
// first time after each up.
func (s *stack) url(path string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.base == "" {
		out, err := s.run("port", "nginx", "80")
		addr := strings.TrimSpace(out)
		if err != nil || !strings.Contains(addr, ":") || strings.HasSuffix(addr, ":") || strings.HasSuffix(addr, ":0") {
			return "", fmt.Errorf("compose port nginx 80: %v %q (is the stack up?)", err, out)
		}
		s.base = "http://" + addr
	}
	return s.base + path, nil
}

// run runs a compose subcommand and returns its combined output.
func (s *stack) run(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, s.compose[0], append(s.compose[1:], args...)...)
	cmd.Env = s.env()
	cmd.Dir = filepath.Dir(s.files[0])
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// must runs a compose subcommand and fails the test if it fails.
func (s *stack) must(t *testing.T, args ...string) string {
	t.Helper()
	start := time.Now()
	out, err := s.run(args...)
	if err != nil {
		t.Fatalf("compose %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	t.Logf("compose %s (%s)", strings.Join(args, " "), time.Since(start).Round(time.Millisecond))
	return out
}

// up starts the stack; compose waits for the depends_on conditions itself.
func (s *stack) up(t *testing.T, extra ...string) {
	t.Helper()
	s.must(t, append([]string{"up", "-d", "--no-build"}, extra...)...)
	s.mu.Lock()
	s.base = "" // nginx may be a new container on a new port
	s.authMu.Lock()
	s.token, s.cookie = "", nil // the database may be new
	s.authMu.Unlock()
	s.mu.Unlock()
}

// container is the part of `docker inspect` the suite reads.
type container struct {
	ID     string
	Name   string
	Config struct {
		Hostname string
		Image    string
		Labels   map[string]string
	}
	State struct {
		Status    string
		Pid       int
		Running   bool
		ExitCode  int
		StartedAt string
		Health    *struct{ Status string }
	}
	RestartCount int
	HostConfig   struct {
		PortBindings   map[string][]struct{ HostIP, HostPort string }
		ReadonlyRootfs bool
		CapDrop        []string
		CapAdd         []string
		SecurityOpt    []string
		Memory         int64
		Tmpfs          map[string]string
		RestartPolicy  struct{ Name string }
		LogConfig      struct {
			Type   string
			Config map[string]string
		}
	}
	NetworkSettings struct {
		Ports    map[string][]struct{ HostIP, HostPort string }
		Networks map[string]struct{ IPAddress string }
	}
}

func (c container) service() string { return c.Config.Labels["com.docker.compose.service"] }

func (c container) health() string {
	if c.State.Health == nil {
		return "none"
	}
	return c.State.Health.Status
}

// containers inspects the project's containers, of the given services or all.
func (s *stack) containers(t *testing.T, services ...string) []container {
	t.Helper()
	args := []string{"ps", "-a", "-q",
		"--filter", "label=com.docker.compose.project=" + s.project}
	out, err := exec.Command("docker", args...).Output()
	if err != nil {
		t.Fatalf("docker ps: %v", err)
	}
	ids := strings.Fields(string(out))
	if len(ids) == 0 {
		return nil
	}
	out, err = exec.Command("docker", append([]string{"inspect"}, ids...)...).Output()
	if err != nil {
		// A container may vanish between ps and inspect; try once more.
		return s.containers(t, services...)
	}
	var all []container
	if err := json.Unmarshal(out, &all); err != nil {
		t.Fatalf("decoding docker inspect: %v", err)
	}
	var cs []container
	for _, c := range all {
		if len(services) == 0 || slices.Contains(services, c.service()) {
			cs = append(cs, c)
		}
	}
	return cs
}

// running returns the running containers of a service.
func (s *stack) running(t *testing.T, service string) []container {
	t.Helper()
	var cs []container
	for _, c := range s.containers(t, service) {
		if c.State.Running {
			cs = append(cs, c)
		}
	}
	return cs
}

// waitHealthy polls until the service has exactly n running containers,
// all healthy.
func (s *stack) waitHealthy(t *testing.T, service string, n int, timeout time.Duration) []container {
	t.Helper()
	var cs []container
	var last string
	ok := poll(timeout, 250*time.Millisecond, func() bool {
		cs = s.running(t, service)
		var states []string
		healthy := 0
		for _, c := range cs {
			states = append(states, c.Name+"="+c.health())
			if c.health() == "healthy" {
				healthy++
			}
		}
		last = strings.Join(states, " ")
		return len(cs) == n && healthy == n
	})
	if !ok {
		t.Fatalf("%s: want %d healthy containers within %s, have: %s", service, n, timeout, last)
	}
	return cs
}

// ensureReplicas scales the app to n healthy replicas and waits until nginx
// sends traffic to every one of them, which it does by itself: it follows
// the service's name in Docker's DNS (no reload, no nginx command). It
// returns the replicas.
func (s *stack) ensureReplicas(t *testing.T, n int) []container {
	t.Helper()
	s.up(t, "--scale", fmt.Sprintf("app=%d", n))
	apps := s.waitHealthy(t, "app", n, 60*time.Second)
	s.waitServing(t, apps, 15*time.Second)
	return apps
}

// waitServing sends GETs through nginx until each of apps has logged one
// of them, and returns how long that took.
func (s *stack) waitServing(t *testing.T, apps []container, timeout time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	var ids []string
	var seen map[string]int
	ok := poll(timeout, 0, func() bool {
		for range 10 {
			if resp, err := s.get("/healthz"); err == nil {
				ids = append(ids, resp.Header.Get("X-Request-ID"))
			}
		}
		by := servedBy(t, apps)
		seen = map[string]int{}
		for _, id := range ids {
			if name, ok := by[id]; ok {
				seen[name]++
			}
		}
		return len(seen) == len(apps)
	})
	if !ok {
		t.Fatalf("nginx did not reach all %d replicas within %s: %d GETs served by %v", len(apps), timeout, len(ids), seen)
	}
	return time.Since(start)
}

// frontIP is the container's address on the network nginx reaches it by.
func (s *stack) frontIP(t *testing.T, c container) string {
	t.Helper()
	n, ok := c.NetworkSettings.Networks[s.project+"_front"]
	if !ok || n.IPAddress == "" {
		t.Fatalf("%s has no address on %s_front: %v", c.Name, s.project, c.NetworkSettings.Networks)
	}
	return n.IPAddress
}

// servedBy reads the logs of the given containers and returns, for every
// request id a log line names, the name of the container that logged it.
func servedBy(t *testing.T, cs []container) map[string]string {
	t.Helper()
	by := map[string]string{}
	for _, c := range cs {
		out, err := exec.Command("docker", "logs", c.ID).CombinedOutput()
		if err != nil {
			t.Fatalf("docker logs %s: %v\n%s", c.Name, err, out)
		}
		for _, line := range strings.Split(string(out), "\n") {
			var rec struct {
				RequestID string `json:"request_id"`
			}
			if json.Unmarshal([]byte(line), &rec) == nil && rec.RequestID != "" {
				by[rec.RequestID] = strings.TrimPrefix(c.Name, "/")
			}
		}
	}
	return by
}

// psql runs a query in the db container and returns its unaligned output.
func (s *stack) psql(t *testing.T, query string) string {
	t.Helper()
	if s.sql != nil {
		out, err := s.sql(query)
		if err != nil {
			t.Fatalf("psql %q: %v\n%s", query, err, out)
		}
		return strings.TrimSpace(out)
	}
	out, err := s.run("exec", "-T", "db", "sh", "-c",
		`psql -v ON_ERROR_STOP=1 -X -A -t -U "$POSTGRES_USER" -d "$POSTGRES_DB" -c "$0"`, query)
	if err != nil {
		t.Fatalf("psql %q: %v\n%s", query, err, out)
	}
	return strings.TrimSpace(out)
}

// poll calls cond every interval until it returns true or timeout passes.
func poll(timeout, interval time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(interval)
	}
}

// waitReady polls /readyz through nginx until it answers 200.
func (s *stack) waitReady(t *testing.T, timeout time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	var last string
	ok := poll(timeout, 200*time.Millisecond, func() bool {
		resp, err := s.get("/readyz")
		if err != nil {
			last = err.Error()
			return false
		}
		last = resp.Status
		return resp.StatusCode == http.StatusOK
	})
	if !ok {
		t.Fatalf("GET /readyz through nginx: not 200 within %s (last: %s)", timeout, last)
	}
	return time.Since(start)
}

// response is a fully read HTTP response.
type response struct {
	*http.Response
	body string
}

func (s *stack) do(req *http.Request) (*response, error) {
	c := s.client
	if req.Method == http.MethodPost {
		c = s.postClient
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	return &response{resp, string(b)}, nil
}

func (s *stack) get(path string) (*response, error) {
	u, err := s.url(path)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	return s.do(req)
}

func (s *stack) postForm(path string, form url.Values) (*response, error) {
	u, err := s.url(path)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if path != "/login" {
		_, cookie, err := s.signIn()
		if err != nil {
			return nil, err
		}
		req.AddCookie(cookie)
	}
	return s.do(req)
}

var signups atomic.Int64

// signIn returns the suite's user's API token and session cookie, signing
// up a new user (through nginx, as any client) the first time.
func (s *stack) signIn() (string, *http.Cookie, error) {
	s.authMu.Lock()
	defer s.authMu.Unlock()
	if s.token != "" {
		return s.token, s.cookie, nil
	}
	email := fmt.Sprintf("e2e-%d-%d@example.com", time.Now().UnixNano(), signups.Add(1))
	const pw = "plum-tangerine-kettle-42"
	for _, call := range []struct{ path, body string }{
		{"/api/v1/users", fmt.Sprintf(`{"email":%q,"display_name":"E2E Seller","password":%q}`, email, pw)},
		{"/api/v1/tokens", fmt.Sprintf(`{"email":%q,"password":%q,"name":"e2e"}`, email, pw)},
	} {
		u, err := s.url(call.path)
		if err != nil {
			return "", nil, err
		}
		req, _ := http.NewRequest(http.MethodPost, u, strings.NewReader(call.body))
		req.Header.Set("Content-Type", "application/json")
		resp, err := s.do(req)
		if err != nil {
			return "", nil, err
		}
		if resp.StatusCode != http.StatusCreated {
			return "", nil, fmt.Errorf("POST %s: %s %s", call.path, resp.Status, resp.body)
		}
		var tok struct{ Token string }
		_ = json.Unmarshal([]byte(resp.body), &tok)
		if tok.Token != "" {
			s.token = tok.Token
		}
	}
	resp, err := s.postForm("/login", url.Values{"email": {email}, "password": {pw}})
	if err != nil {
		return "", nil, err
	}
	for _, c := range resp.Cookies() {
		if strings.HasSuffix(c.Name, "bazaar_session") {
			s.cookie = &http.Cookie{Name: c.Name, Value: c.Value}
		}
	}
	if resp.StatusCode != http.StatusSeeOther || s.cookie == nil || s.token == "" {
		s.token = ""
		return "", nil, fmt.Errorf("POST /login: %s, cookies %v", resp.Status, resp.Cookies())
	}
	return s.token, s.cookie, nil
}

// listing is the API's listing representation, as far as the suite reads it.
type listing struct {
	ID   int64  `json:"id"`
	Name string `json:"name"`
}

// createListing posts to the JSON API. It returns the response even when
// the status is not 201, so load tests can count failures.
func (s *stack) createListing(name string) (*response, listing, error) {
	body, _ := json.Marshal(map[string]any{
		"name":        name,
		"description": "made by the e2e suite",
		"price_cents": 1250,
		"currency":    "USD",
		"quantity":    1,
	})
	u, err := s.url("/api/v1/listings")
	if err != nil {
		return nil, listing{}, err
	}
	req, err := http.NewRequest(http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return nil, listing{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	token, _, err := s.signIn()
	if err != nil {
		return nil, listing{}, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := s.do(req)
	if err != nil {
		return nil, listing{}, err
	}
	var l listing
	if resp.StatusCode == http.StatusCreated {
		if err := json.Unmarshal([]byte(resp.body), &l); err != nil {
			return resp, l, fmt.Errorf("decoding 201 body %q: %w", resp.body, err)
		}
	}
	return resp, l, nil
}

// load is a bounded load generator: GET / at a steady rate plus a POST of a
// uniquely named listing at a slower one, until stopped.
type load struct {
	s      *stack
	prefix string

	mu      sync.Mutex
	results []result
	seq     atomic.Int64
	stop    chan struct{}
	done    sync.WaitGroup
}

// result is one request of a load run.
type result struct {
	method  string
	status  int // 0 when the request failed without a response
	err     string
	took    time.Duration
	at      time.Time
	name    string // POSTs: the listing's name
	id      int64  // POSTs answered 201
	reqID   string
	backend string
	tries   int // checkouts: attempts with the same Idempotency-Key
}

func (r result) String() string {
	s := fmt.Sprintf("%s %s status=%d took=%s", r.at.Format("15:04:05.000"), r.method, r.status, r.took.Round(time.Millisecond))
	if r.err != "" {
		s += " err=" + r.err
	}
	if r.backend != "" {
		s += " instance=" + r.backend
	}
	return s
}

// startLoad starts ~getsPerSec GETs of / and one POST every postEvery.
func (s *stack) startLoad(prefix string, getsPerSec int, postEvery time.Duration) *load {
	l := &load{s: s, prefix: prefix, stop: make(chan struct{})}
	sem := make(chan struct{}, 64) // bounds in-flight requests
	fire := func(f func() result) {
		select {
		case sem <- struct{}{}:
		case <-l.stop:
			return
		}
		l.done.Add(1)
		go func() {
			defer l.done.Done()
			defer func() { <-sem }()
			r := f()
			l.mu.Lock()
			l.results = append(l.results, r)
			l.mu.Unlock()
		}()
	}
	ticker := func(every time.Duration, f func() result) {
		l.done.Add(1)
		go func() {
			defer l.done.Done()
			tk := time.NewTicker(every)
			defer tk.Stop()
			for {
				select {
				case <-l.stop:
					return
				case <-tk.C:
					fire(f)
				}
			}
		}()
	}
	ticker(time.Second/time.Duration(getsPerSec), l.get)
	if postEvery > 0 {
		ticker(postEvery, l.post)
	}
	return l
}

func (l *load) get() result {
	start := time.Now()
	r := result{method: "GET", at: start}
	resp, err := l.s.get("/")
	r.took = time.Since(start)
	if err != nil {
		r.err = err.Error()
		return r
	}
	r.status = resp.StatusCode
	r.reqID = resp.Header.Get("X-Request-ID")
	r.backend = resp.Header.Get("X-Bazaar-Instance")
	return r
}

func (l *load) post() result {
	start := time.Now()
	r := result{method: "POST", at: start, name: fmt.Sprintf("%s-%04d", l.prefix, l.seq.Add(1))}
	resp, lst, err := l.s.createListing(r.name)
	r.took = time.Since(start)
	if resp != nil {
		r.status = resp.StatusCode
		r.reqID = resp.Header.Get("X-Request-ID")
		r.backend = resp.Header.Get("X-Bazaar-Instance")
		r.id = lst.ID
	}
	if err != nil {
		r.err = err.Error()
	}
	return r
}

// snapshot returns the results of the requests finished so far.
func (l *load) snapshot() []result {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.results)
}

// failures returns the requests that did not succeed (GET 200, POST 201),
// and those that showed the public an X-Bazaar-Instance.
func failures(rs []result) []result {
	var bad []result
	for _, r := range rs {
		if (r.method == "GET" && r.status != http.StatusOK) || (r.method == "POST" && r.status != http.StatusCreated) || r.backend != "" {
			bad = append(bad, r)
		}
	}
	return bad
}

// finish stops the load, waits for in-flight requests and returns all results.
func (l *load) finish() []result {
	close(l.stop)
	l.done.Wait()
	l.mu.Lock()
	defer l.mu.Unlock()
	slices.SortFunc(l.results, func(a, b result) int { return a.at.Compare(b.at) })
	return l.results
}

// summary counts results by method and status, for the log.
func summary(rs []result) string {
	counts := map[string]int{}
	var max time.Duration
	for _, r := range rs {
		k := fmt.Sprintf("%s %d", r.method, r.status)
		if r.status == 0 {
			k = r.method + " error"
		}
		counts[k]++
		max = maxDur(max, r.took)
	}
	var parts []string
	for k, n := range counts {
		parts = append(parts, fmt.Sprintf("%s: %d", k, n))
	}
	slices.Sort(parts)
	return fmt.Sprintf("%d requests (%s), slowest %s", len(rs), strings.Join(parts, ", "), max.Round(time.Millisecond))
}

func maxDur(a, b time.Duration) time.Duration {
	if a > b {
		return a
	}
	return b
}

// checkWrites asserts that every POST answered 201 is in the database exactly
// once, and that no name of this load run appears twice.
func (s *stack) checkWrites(t *testing.T, prefix string, rs []result) {
	t.Helper()
	rows := s.psql(t, fmt.Sprintf("SELECT name || '|' || count(*) FROM listings WHERE name LIKE '%s-%%' GROUP BY name", prefix))
	inDB := map[string]int{}
	for _, line := range strings.Split(rows, "\n") {
		if line == "" {
			continue
		}
		name, n, _ := strings.Cut(line, "|")
		var c int
		fmt.Sscan(n, &c)
		inDB[name] = c
		if c != 1 {
			t.Errorf("listing %q is stored %d times", name, c)
		}
	}
	acked := 0
	for _, r := range rs {
		if r.method != "POST" || r.status != http.StatusCreated {
			continue
		}
		acked++
		if inDB[r.name] != 1 {
			t.Errorf("acknowledged write %q (id %d) is stored %d times", r.name, r.id, inDB[r.name])
		}
	}
	t.Logf("%d acknowledged writes, %d rows with prefix %s", acked, len(inDB), prefix)
	if acked == 0 {
		t.Errorf("no write was acknowledged; the check proves nothing")
	}
}

// nginxTrouble returns nginx's error log lines and the access log lines of
// requests that did not end in 2xx or 3xx, for diagnosing a failed step.
func (s *stack) nginxTrouble() string {
	out, err := s.run("logs", "--no-color", "nginx")
	if err != nil {
		return err.Error()
	}
	var keep []string
	for _, line := range strings.Split(out, "\n") {
		i := strings.Index(line, `"status":`)
		if i >= 0 && len(line) > i+9 && (line[i+9] == '2' || line[i+9] == '3') {
			continue
		}
		if strings.TrimSpace(line) != "" {
			keep = append(keep, line)
		}
	}
	return strings.Join(keep, "\n")
}
