package web_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bazaarhq/bazaar/internal/postgres"
	"github.com/bazaarhq/bazaar/internal/web"
)

func TestSecurityHeaders(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	l := ts.createAPI(t, lampJSON)
	id := strconv.FormatInt(l.ID, 10)
	css := stylesheet(t, ts)
	for _, tt := range []struct{ method, path string }{
		{"GET", "/"},
		{"GET", "/listings/new"},
		{"GET", "/listings/" + id},
		{"GET", "/listings/" + id + "/edit"},
		{"GET", "/listings/999999"},
		{"GET", "/nope"},
		{"POST", "/listings"},
		{"GET", css},
		{"GET", "/api/v1/listings"},
		{"GET", "/api/v1/listings/" + id},
		{"GET", "/api/v1/nope"},
		{"GET", "/api/v1/openapi.yaml"},
		{"POST", "/api/v1/listings"},
		{"GET", "/healthz"},
		{"GET", "/readyz"},
		{"GET", "/metrics"},
	} {
		r := ts.do(t, tt.method, tt.path, strings.NewReader("{}"), []string{"Content-Type", "application/json"})
		for h, want := range map[string]string{
			"X-Content-Type-Options": "nosniff",
			"Referrer-Policy":        "strict-origin-when-cross-origin",
			"X-Frame-Options":        "DENY",
		} {
			if got := r.Header.Get(h); got != want {
				t.Errorf("%s %s (%d): %s = %q, want %q", tt.method, tt.path, r.StatusCode, h, got, want)
			}
		}
		csp := r.Header.Get("Content-Security-Policy")
		for _, d := range []string{"default-src 'self'", "frame-ancestors 'none'", "form-action 'self'"} {
			if !strings.Contains(csp, d) {
				t.Errorf("%s %s: Content-Security-Policy %q lacks %q", tt.method, tt.path, csp, d)
			}
		}
		if r.Header.Get("X-Request-ID") == "" {
			t.Errorf("%s %s: no X-Request-ID", tt.method, tt.path)
		}
	}
}

// crossSite are the headers a browser sends with a form posted from another site.
var crossSite = []string{"Origin", "https://evil.example", "Sec-Fetch-Site", "cross-site"}

func TestCrossSiteRequestsRejected(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	l := ts.createAPI(t, lampJSON)
	id := strconv.FormatInt(l.ID, 10)
	form := validForm().Encode()
	for _, tt := range []struct {
		method, path, contentType, body string
		api                             bool
	}{
		{"POST", "/listings", "application/x-www-form-urlencoded", form, false},
		{"POST", "/listings/" + id, "application/x-www-form-urlencoded", form, false},
		{"POST", "/listings/" + id + "/delete", "application/x-www-form-urlencoded", "", false},
		{"POST", "/api/v1/listings", "application/json", lampJSON, true},
		{"POST", "/api/v1/listings", "text/plain", lampJSON, true},
		{"PATCH", "/api/v1/listings/" + id, "application/json", `{"quantity":0}`, true},
		{"DELETE", "/api/v1/listings/" + id, "", "", true},
	} {
		for _, hdr := range [][]string{
			crossSite,
			{"Sec-Fetch-Site", "same-site"},
			{"Origin", "https://evil.example"}, // browsers without Fetch metadata
		} {
			t.Run(tt.method+" "+tt.path+" "+strings.Join(hdr, " "), func(t *testing.T) {
				h := append([]string{"Content-Type", tt.contentType}, hdr...)
				r := ts.do(t, tt.method, tt.path, strings.NewReader(tt.body), h)
				if tt.api {
					wantProblem(t, r, http.StatusForbidden)
				} else {
					wantPage(t, r, http.StatusForbidden)
				}
				if r.Header.Get("Set-Cookie") != "" {
					t.Error("a rejected request set a cookie")
				}
			})
		}
	}
	if n := ts.count(t); n != 1 {
		t.Errorf("count = %d, want 1", n)
	}
	if got := decode[apiListing](t, ts.get(t, "/api/v1/listings/"+id)); got != l {
		t.Errorf("cross-site requests changed the listing: %+v, was %+v", got, l)
	}
}

func TestSameOriginRequestsPass(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	id := ts.createForm(t, validForm()) // postForm sends Sec-Fetch-Site: same-origin and our Origin
	path := "/listings/" + strconv.FormatInt(id, 10)
	if r := ts.postForm(t, path, validForm()); r.StatusCode != http.StatusSeeOther {
		t.Errorf("update: status = %d", r.StatusCode)
	}
	// A user typing the URL or following a bookmark sends Sec-Fetch-Site: none.
	r := ts.do(t, "PATCH", "/api/v1/listings/"+strconv.FormatInt(id, 10), strings.NewReader(`{"quantity":7}`),
		[]string{"Content-Type", "application/json", "Sec-Fetch-Site", "same-origin", "Origin", ts.URL})
	if r.StatusCode != http.StatusOK {
		t.Errorf("same-origin PATCH: status = %d, body %s", r.StatusCode, r.body)
	}
	if r := ts.postForm(t, path+"/delete", nil); r.StatusCode != http.StatusSeeOther {
		t.Errorf("delete: status = %d", r.StatusCode)
	}
	if n := ts.count(t); n != 0 {
		t.Errorf("count = %d, want 0", n)
	}
}

func TestSafeMethodsChangeNothing(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	l := ts.createAPI(t, lampJSON)
	id := strconv.FormatInt(l.ID, 10)
	for _, tt := range []struct {
		method, path string
		status       int
	}{
		{"GET", "/listings/" + id + "/delete", http.StatusMethodNotAllowed},
		{"HEAD", "/listings/" + id + "/delete", http.StatusMethodNotAllowed},
		{"GET", "/listings?name=x&price=1&quantity=1", http.StatusMethodNotAllowed},
		{"GET", "/listings/" + id + "?name=x&price=1&quantity=1", http.StatusOK},
		{"GET", "/api/v1/listings/" + id + "?quantity=0", http.StatusOK},
		{"OPTIONS", "/api/v1/listings/" + id, http.StatusMethodNotAllowed},
		{"HEAD", "/api/v1/listings/" + id, http.StatusOK},
	} {
		r := ts.do(t, tt.method, tt.path, nil, nil)
		if r.StatusCode != tt.status {
			t.Errorf("%s %s: status = %d, want %d", tt.method, tt.path, r.StatusCode, tt.status)
		}
	}
	if got := decode[apiListing](t, ts.get(t, "/api/v1/listings/"+id)); got != l {
		t.Errorf("safe requests changed the listing: %+v, was %+v", got, l)
	}
	if n := ts.count(t); n != 1 {
		t.Errorf("count = %d, want 1", n)
	}
}

var generatedID = regexp.MustCompile(`^[0-9a-f]{32}$`)

func TestRequestIDs(t *testing.T) {
	t.Parallel()
	loopback := func(c *web.Config) { c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")} }
	untrusted, trusted := newTestServer(t), newTestServer(t, loopback)
	for _, tt := range []struct {
		name string
		ts   *testServer
		in   string
		echo bool // whether the incoming id comes back
	}{
		{"untrusted peer", untrusted, "abc", false},
		{"untrusted peer, no id", untrusted, "", false},
		{"trusted proxy", trusted, "abc", true},
		{"trusted proxy, nginx id", trusted, "0f1e2d3c4b5a69788796a5b4c3d2e1f0", true},
		{"trusted proxy, dots and dashes", trusted, "req-1.2_3", true},
		{"trusted proxy, no id", trusted, "", false},
		{"trusted proxy, bad characters", trusted, "abc\" injected=1", false},
		{"trusted proxy, newline escape", trusted, "abc%0d%0a", false},
		{"trusted proxy, too long", trusted, strings.Repeat("a", 65), false},
		{"trusted proxy, longest", trusted, strings.Repeat("a", 64), true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var hdr []string
			if tt.in != "" {
				hdr = []string{"X-Request-ID", tt.in}
			}
			for _, path := range []string{"/", "/api/v1/nope"} {
				r := tt.ts.do(t, "GET", path, nil, hdr)
				got := r.Header.Get("X-Request-ID")
				switch {
				case tt.echo && got != tt.in:
					t.Errorf("%s: X-Request-ID = %q, want %q echoed", path, got, tt.in)
				case !tt.echo && !generatedID.MatchString(got):
					t.Errorf("%s: X-Request-ID = %q, want a fresh generated id", path, got)
				}
				if path == "/api/v1/nope" {
					wantProblem(t, r, http.StatusNotFound) // its request_id must match the header
				}
			}
		})
	}
	a, b := untrusted.get(t, "/healthz"), untrusted.get(t, "/healthz")
	if a.Header.Get("X-Request-ID") == b.Header.Get("X-Request-ID") {
		t.Error("two requests got the same id")
	}
}

func TestMetricsUseRoutePatterns(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	l := ts.createAPI(t, lampJSON)
	ts.get(t, "/listings/"+strconv.FormatInt(l.ID, 10))
	ts.get(t, "/listings/999999")
	ts.get(t, "/api/v1/listings/"+strconv.FormatInt(l.ID, 10))
	want := []string{
		`bazaar_http_requests_total{code="200",method="GET",route="GET /listings/{id}"} 1`,
		`bazaar_http_requests_total{code="404",method="GET",route="GET /listings/{id}"} 1`,
		`bazaar_http_requests_total{code="201",method="POST",route="POST /api/v1/listings"} 1`,
		`bazaar_http_requests_total{code="200",method="GET",route="GET /api/v1/listings/{id}"} 1`,
		`bazaar_http_request_duration_seconds_bucket{route="GET /listings/{id}",le="+Inf"} 2`,
	}
	body := waitMetrics(t, ts, want...)
	// (Not a bare "999999": a duration sum such as 0.0009999991 holds it.)
	if strings.Contains(body, `route="/listings/`) || strings.Contains(body, "/listings/999999") {
		t.Error("metrics are labelled with a raw path")
	}
}

func TestHealthAndReadiness(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	for _, tt := range []struct {
		path   string
		status int
		body   string
	}{
		{"/healthz", 200, "ok\n"},
		{"/readyz", 200, "ready\n"},
	} {
		r := ts.get(t, tt.path)
		if r.StatusCode != tt.status || r.body != tt.body || r.Header.Get("Cache-Control") != "no-store" {
			t.Errorf("%s: %d %q (Cache-Control %q)", tt.path, r.StatusCode, r.body, r.Header.Get("Cache-Control"))
		}
	}
	waitMetrics(t, ts, "\nbazaar_ready 1\n")
	ts.Srv.Drain()
	if r := ts.get(t, "/readyz"); r.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("/readyz while draining: %d", r.StatusCode)
	}
	waitMetrics(t, ts, "\nbazaar_ready 0\n")
	if r := ts.get(t, "/healthz"); r.StatusCode != http.StatusOK {
		t.Errorf("/healthz while draining: %d", r.StatusCode)
	}
}

// deadDB returns a store pointed at a socket directory nothing listens in
// (a closed TCP port could be taken by another test package meanwhile).
func deadDB(t *testing.T) *postgres.DB {
	t.Helper()
	db, err := postgres.Open(context.Background(), "postgres://bazaar:x@/bazaar?sslmode=disable&host="+t.TempDir(),
		postgres.Options{ConnectTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	return db
}

func TestDatabaseDown(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, func(c *web.Config) { c.DB = deadDB(t) })
	for _, tt := range []struct {
		method, path, body string
		api                bool
		status             int
	}{
		{"GET", "/", "", false, 503},
		{"GET", "/listings/1", "", false, 503},
		{"GET", "/listings/1/edit", "", false, 503},
		{"POST", "/listings", validForm().Encode(), false, 503},
		{"GET", "/api/v1/listings", "", true, 503},
		{"GET", "/api/v1/listings/1", "", true, 503},
		{"POST", "/api/v1/listings", lampJSON, true, 503},
		{"DELETE", "/api/v1/listings/1", "", true, 503},
		{"GET", "/readyz", "", false, 503},
		{"GET", "/healthz", "", false, 200},
		{"GET", "/listings/new", "", false, 503}, // who asks is in the database too
	} {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			ct := "application/json"
			if !tt.api {
				ct = "application/x-www-form-urlencoded"
			}
			start := time.Now()
			r := ts.do(t, tt.method, tt.path, strings.NewReader(tt.body), []string{"Content-Type", ct})
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("took %v, want a prompt answer", d)
			}
			switch {
			case tt.path == "/readyz" || tt.path == "/healthz":
				if r.StatusCode != tt.status {
					t.Errorf("status = %d, want %d", r.StatusCode, tt.status)
				}
			case tt.api:
				wantProblem(t, r, tt.status)
			default:
				wantPage(t, r, tt.status)
			}
			if tt.status == 503 && tt.path != "/readyz" && r.Header.Get("Retry-After") == "" {
				t.Error("503 without Retry-After")
			}
		})
	}
	// Prometheus sees the same: the NoReadyReplica alert reads this.
	waitMetrics(t, ts, "\nbazaar_ready 0\n")
}

var stylesheetHref = regexp.MustCompile(`<link rel="stylesheet" href="(/static/[0-9a-f]+/app\.css)">`)

func stylesheet(t *testing.T, ts *testServer) string {
	t.Helper()
	m := stylesheetHref.FindStringSubmatch(ts.get(t, "/").body)
	if m == nil {
		t.Fatal("home page links no versioned stylesheet")
	}
	return m[1]
}

func TestStaticFiles(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	css := stylesheet(t, ts)
	for _, tt := range []struct {
		name, path, cache string
		status            int
	}{
		{"current version", css, "public, max-age=31536000, immutable", 200},
		{"old version", "/static/000000000000/app.css", "no-cache", 200},
		{"missing file", strings.TrimSuffix(css, "app.css") + "nope.css", "", 404},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := ts.get(t, tt.path)
			if r.StatusCode != tt.status {
				t.Fatalf("status = %d, want %d", r.StatusCode, tt.status)
			}
			if tt.status != 200 {
				return
			}
			if ct := r.Header.Get("Content-Type"); ct != "text/css; charset=utf-8" {
				t.Errorf("Content-Type = %q", ct)
			}
			if cc := r.Header.Get("Cache-Control"); cc != tt.cache {
				t.Errorf("Cache-Control = %q, want %q", cc, tt.cache)
			}
			if len(r.body) == 0 {
				t.Error("empty stylesheet")
			}
		})
	}
}

// TestStaticDirectory: the {file...} wildcard also matches nothing at all,
// and such a request is a 404. (It used to reach http.ServeFileFS with an
// empty name, which fails with fs.ErrInvalid: a plain-text 500.)
func TestStaticDirectory(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	dir := strings.TrimSuffix(stylesheet(t, ts), "app.css")
	for _, p := range []string{dir, "/static/old/"} {
		if r := ts.get(t, p); r.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s -> %d %q; want 404: handleStatic answers s.handleNotFound for an empty "+
				"or invalid file name rather than passing it to http.ServeFileFS.", p, r.StatusCode, strings.TrimSpace(r.body))
		}
	}
}

// logBuffer collects the server's JSON log lines; handlers log from many goroutines.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// lines returns the log records logged so far, decoded.
func (b *logBuffer) lines(t *testing.T) []map[string]any {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(b.buf.String()), "\n") {
		if l == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("log line is not JSON: %v: %s", err, l)
		}
		out = append(out, m)
	}
	return out
}

// withLogs sends the server's logs, debug and up, to a buffer.
func withLogs(b *logBuffer) func(*web.Config) {
	return func(c *web.Config) {
		c.Logger = slog.New(slog.NewJSONHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
}

// requestLog polls for the "request" log line of the request with id.
func requestLog(t *testing.T, logs *logBuffer, id string) map[string]any {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		for _, l := range logs.lines(t) {
			if l["msg"] == "request" && l["request_id"] == id {
				return l
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no request log line for %s", id)
		}
	}
}

// TestRouteSurvivesReplacedRequest: a middleware inside the others that
// replaces the request (as a session layer's r.WithContext does) must not
// cost logs and metrics their route pattern.
func TestRouteSurvivesReplacedRequest(t *testing.T) {
	t.Parallel()
	type key struct{}
	replace := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), key{}, "session")))
		})
	}
	logs := &logBuffer{}
	ts := newTestServer(t, web.WithInnerMiddleware(replace), withLogs(logs))
	l := ts.createAPI(t, lampJSON)
	r := ts.get(t, "/listings/"+strconv.FormatInt(l.ID, 10))
	if r.StatusCode != http.StatusOK {
		t.Fatalf("status = %d", r.StatusCode)
	}
	if got := requestLog(t, logs, r.Header.Get("X-Request-ID"))["route"]; got != "GET /listings/{id}" {
		t.Errorf("log route = %v, want GET /listings/{id}", got)
	}
	waitMetrics(t, ts, `bazaar_http_requests_total{code="200",method="GET",route="GET /listings/{id}"} 1`)
}

// waitMetrics polls /metrics until it holds every line of want. A request
// is counted after its response is written, so the count can land after
// the client has its answer.
func waitMetrics(t *testing.T, ts *testServer, want ...string) string {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		r := ts.get(t, "/metrics")
		if r.StatusCode != http.StatusOK {
			t.Fatalf("/metrics: status = %d", r.StatusCode)
		}
		missing := slices.DeleteFunc(slices.Clone(want), func(w string) bool { return strings.Contains(r.body, w) })
		if len(missing) == 0 {
			return r.body
		}
		if time.Now().After(deadline) {
			t.Fatalf("metrics lack %q", missing)
		}
	}
}

// TestClientAbortIsNotAServerError: a client that hangs up while its
// request is at the database (its context cancelled) is logged at info as
// an abort and counted as 499, never as a 500/503 or an ERROR line, so
// nobody can inflate the error rate by hanging up.
func TestClientAbortIsNotAServerError(t *testing.T) {
	t.Parallel()
	hangUp := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("X-Test-Hang-Up") == "" {
				next.ServeHTTP(w, r)
				return
			}
			ctx, cancel := context.WithCancel(r.Context())
			cancel() // what net/http does when the client's connection closes
			next.ServeHTTP(w, r.WithContext(ctx))
		})
	}
	logs := &logBuffer{}
	ts := newTestServer(t, web.WithInnerMiddleware(hangUp), withLogs(logs))
	l := ts.createAPI(t, lampJSON)
	id := strconv.FormatInt(l.ID, 10)
	for _, tt := range []struct{ method, path, body, route string }{
		{"GET", "/", "", "GET /{$}"},
		{"GET", "/listings/" + id, "", "GET /listings/{id}"},
		{"POST", "/listings", validForm().Encode(), "POST /listings"},
		{"GET", "/api/v1/listings", "", "GET /api/v1/listings"},
		{"PATCH", "/api/v1/listings/" + id, `{"quantity":5}`, "PATCH /api/v1/listings/{id}"},
	} {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			ct := "application/json"
			if !strings.HasPrefix(tt.path, "/api/") {
				ct = "application/x-www-form-urlencoded"
			}
			r := ts.do(t, tt.method, tt.path, strings.NewReader(tt.body), []string{"Content-Type", ct, "X-Test-Hang-Up", "1"})
			if r.StatusCode != web.StatusClientClosedRequest {
				t.Errorf("status = %d, want 499", r.StatusCode)
			}
			line := requestLog(t, logs, r.Header.Get("X-Request-ID"))
			if line["status"] != float64(499) || line["level"] != "INFO" || line["route"] != tt.route {
				t.Errorf("request log = %v, want status 499 at INFO on route %s", line, tt.route)
			}
			waitMetrics(t, ts, `bazaar_http_requests_total{code="499",method="`+tt.method+`",route="`+tt.route+`"} 1`)
		})
	}
	for _, l := range logs.lines(t) {
		if l["level"] == "ERROR" {
			t.Errorf("a client abort was logged as an error: %v", l)
		}
	}
	if got := decode[apiListing](t, ts.get(t, "/api/v1/listings/"+id)); got != l {
		t.Errorf("an aborted PATCH changed the listing: %+v, was %+v", got, l)
	}
	if n := ts.count(t); n != 1 {
		t.Errorf("count = %d, want 1: an aborted POST stored a listing", n)
	}
}

// TestMetricsLabelsAreAFixedSet: methods a client makes up are counted as
// OTHER and unknown paths as one "unmatched" route, so a flood of random
// methods and paths adds no series to /metrics. (A probe grew /metrics from
// 43 KB to 855 KB with 200 random 4,000-character methods.)
func TestMetricsLabelsAreAFixedSet(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	ts.do(t, "FIRST", "/", nil, nil)
	ts.get(t, "/first/unknown/path")
	waitMetrics(t, ts, `method="OTHER"`, `route="unmatched"`)
	before := waitMetrics(t, ts, `route="GET /metrics"`) // the series of /metrics itself, too
	series := func(body string) int {
		return strings.Count(body, "bazaar_http_requests_total{")
	}
	for i := range 50 {
		method := "X" + strings.Repeat(strconv.Itoa(i), 200)
		if r := ts.do(t, method, "/", nil, nil); r.StatusCode < 400 {
			t.Errorf("made-up method %.10s…: status %d", method, r.StatusCode)
		}
		ts.get(t, "/random/"+strconv.Itoa(i)+strings.Repeat("p", 100))
	}
	after := waitMetrics(t, ts, `method="OTHER"`)
	if series(after) != series(before) {
		t.Errorf("random methods and paths added series: %d before, %d after", series(before), series(after))
	}
	for _, leaked := range []string{"X0000", "FIRST", "/random/", "/first/"} {
		if strings.Contains(after, leaked) {
			t.Errorf("metrics hold a client's text %q", leaked)
		}
	}
}

// TestMethodNotAllowed: a known path with a method it does not have is a
// 405 naming the methods it has, as a page or as problem+json; an unknown
// path stays a 404.
func TestMethodNotAllowed(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	id := strconv.FormatInt(ts.createAPI(t, lampJSON).ID, 10)
	for _, tt := range []struct {
		method, path, allow string
		api                 bool
	}{
		{"PUT", "/api/v1/listings", "GET, HEAD, POST", true},
		{"DELETE", "/api/v1/listings", "GET, HEAD, POST", true},
		{"POST", "/api/v1/listings/" + id, "GET, HEAD, PATCH, DELETE", true},
		{"PUT", "/api/v1/listings/" + id, "GET, HEAD, PATCH, DELETE", true},
		{"POST", "/api/v1/openapi.yaml", "GET, HEAD", true},
		{"DELETE", "/listings/" + id, "GET, HEAD, POST", false},
		{"GET", "/listings/" + id + "/delete", "POST", false},
		{"GET", "/listings", "POST", false},
		{"POST", "/", "GET, HEAD", false},
	} {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			r := ts.do(t, tt.method, tt.path, strings.NewReader("{}"), []string{"Content-Type", "application/json"})
			if tt.api {
				wantProblem(t, r, http.StatusMethodNotAllowed)
			} else {
				wantPage(t, r, http.StatusMethodNotAllowed)
			}
			if got := r.Header.Get("Allow"); got != tt.allow {
				t.Errorf("Allow = %q, want %q", got, tt.allow)
			}
		})
	}
	for _, path := range []string{"/api/v1/nope", "/nope", "/listings/" + id + "/reviews"} {
		if r := ts.do(t, "PUT", path, nil, nil); r.StatusCode != http.StatusNotFound || r.Header.Get("Allow") != "" {
			t.Errorf("PUT %s: %d, Allow %q; want a 404 without Allow", path, r.StatusCode, r.Header.Get("Allow"))
		}
	}
	if n := ts.count(t); n != 1 {
		t.Errorf("count = %d, want 1", n)
	}
}

// TestInstanceHeaderOnlyForTrustedProxies: the instance name (a container
// id under compose) goes to nginx, which hides it from clients, and never
// straight to an untrusted client.
func TestInstanceHeaderOnlyForTrustedProxies(t *testing.T) {
	t.Parallel()
	named := func(c *web.Config) { c.Instance = "replica-7" }
	loopback := func(c *web.Config) { c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")} }
	public, behindNginx := newTestServer(t, named), newTestServer(t, named, loopback)
	for _, path := range []string{"/", "/api/v1/listings", "/nope", "/healthz"} {
		if r := public.get(t, path); r.Header.Get("X-Bazaar-Instance") != "" {
			t.Errorf("GET %s from an untrusted client: X-Bazaar-Instance = %q, want none", path, r.Header.Get("X-Bazaar-Instance"))
		}
		if r := behindNginx.get(t, path); r.Header.Get("X-Bazaar-Instance") != "replica-7" {
			t.Errorf("GET %s from a trusted proxy: X-Bazaar-Instance = %q, want replica-7", path, r.Header.Get("X-Bazaar-Instance"))
		}
	}
}

// rawRequest writes head and the first part of a body on a fresh
// connection, then stops sending (and, with hangUp, closes its sending
// half), and returns the status line of the answer.
func rawRequest(t *testing.T, ts *testServer, head, partial string, hangUp bool) string {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(ts.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte(head + partial)); err != nil {
		t.Fatal(err)
	}
	if hangUp {
		if err := conn.(*net.TCPConn).CloseWrite(); err != nil {
			t.Fatal(err)
		}
	}
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second)) // a hung server fails the test, not the run
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil && !hangUp {
		t.Fatalf("no answer: %v", err)
	}
	return strings.TrimSpace(line)
}

// TestSlowBody: a client too slow to send its body gets a 408 once the
// request timeout passes, not the 503 "briefly unavailable" of a database
// outage, and no ERROR line; one that hangs up halfway is an abort (499 at
// INFO). Neither writes anything.
func TestSlowBody(t *testing.T) {
	t.Parallel()
	logs := &logBuffer{}
	ts := newTestServer(t, withLogs(logs), func(c *web.Config) { c.RequestTimeout = 300 * time.Millisecond })
	form := validForm().Encode()
	json := `{"name":"Slow lamp","price_cents":100,"quantity":1}`
	for _, tt := range []struct {
		name, path, ctype, body string
		hangUp                  bool
		status                  int
	}{
		{"form too slow", "/listings", "application/x-www-form-urlencoded", form, false, 408},
		{"JSON too slow", "/api/v1/listings", "application/json", json, false, 408},
		{"form abandoned", "/listings", "application/x-www-form-urlencoded", form, true, 499},
		{"JSON abandoned", "/api/v1/listings", "application/json", json, true, 499},
	} {
		t.Run(tt.name, func(t *testing.T) {
			head := "POST " + tt.path + " HTTP/1.1\r\nHost: bazaar.test\r\nContent-Type: " + tt.ctype +
				"\r\nContent-Length: " + strconv.Itoa(len(tt.body)) + "\r\n\r\n"
			line := rawRequest(t, ts, head, tt.body[:len(tt.body)/2], tt.hangUp)
			if !tt.hangUp && !strings.HasPrefix(line, "HTTP/1.1 408 ") {
				t.Errorf("status line %q, want 408", line)
			}
			var got map[string]any
			for deadline := time.Now().Add(5 * time.Second); got == nil; time.Sleep(10 * time.Millisecond) {
				for _, l := range logs.lines(t) {
					if l["msg"] == "request" && l["path"] == tt.path && l["status"] == float64(tt.status) {
						got = l
					}
				}
				if got == nil && time.Now().After(deadline) {
					t.Fatalf("no request log line with status %d for %s", tt.status, tt.path)
				}
			}
			if got["level"] != "INFO" || got["route"] != "POST "+tt.path {
				t.Errorf("request log = %v, want INFO on route POST %s", got, tt.path)
			}
		})
	}
	for _, l := range logs.lines(t) {
		if l["level"] == "ERROR" {
			t.Errorf("a slow or abandoned body was logged as an error: %v", l)
		}
	}
	if n := ts.count(t); n != 0 {
		t.Errorf("count = %d, want 0", n)
	}
}

// TestCacheControl: what may be cached, and by whom. Catalogue pages may
// be kept by the browser but revalidated, never by a shared cache (pages
// will name who is signed in); everything else dynamic is no-store.
func TestCacheControl(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	id := strconv.FormatInt(ts.createForm(t, validForm()), 10)
	flash := ts.get(t, "/listings/"+id) // shows the creation flash
	css := stylesheet(t, ts)
	for _, tt := range []struct {
		name, method, path, want string
	}{
		{"home", "GET", "/", "private, no-cache"},
		{"home, page 2", "GET", "/?before=" + id, "private, no-cache"},
		{"listing", "GET", "/listings/" + id, "private, no-cache"},
		{"listing, HEAD", "HEAD", "/listings/" + id, "private, no-cache"},
		{"sell form", "GET", "/listings/new", "no-store"},
		{"edit form", "GET", "/listings/" + id + "/edit", "no-store"},
		{"unknown listing", "GET", "/listings/999999", "no-store"},
		{"unknown page", "GET", "/nope", "no-store"},
		{"wrong method", "DELETE", "/listings/" + id, "no-store"},
		{"form post", "POST", "/listings", "no-store"},
		{"API list", "GET", "/api/v1/listings", "no-store"},
		{"API listing", "GET", "/api/v1/listings/" + id, "no-store"},
		{"API error", "GET", "/api/v1/listings/999999", "no-store"},
		{"OpenAPI document", "GET", "/api/v1/openapi.yaml", "public, max-age=300"},
		{"static file", "GET", css, "public, max-age=31536000, immutable"},
		{"metrics", "GET", "/metrics", "no-store"},
		{"readiness", "GET", "/readyz", "no-store"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var r *response
			if tt.method == "POST" {
				r = ts.postForm(t, tt.path, validForm())
			} else {
				r = ts.do(t, tt.method, tt.path, nil, nil)
			}
			if got := r.Header.Get("Cache-Control"); got != tt.want {
				t.Errorf("%s %s (%d): Cache-Control = %q, want %q", tt.method, tt.path, r.StatusCode, got, tt.want)
			}
		})
	}
	if got := flash.Header.Get("Cache-Control"); got != "no-store" {
		t.Errorf("a listing page showing a flash message: Cache-Control = %q, want no-store", got)
	}
}
