package main

// Integration tests of deploy/nginx/templates/default.conf.template: the
// real template, rendered as the official nginx image renders it, run by a
// real nginx in front of the real app (or, where we must see exactly what
// nginx sends upstream, in front of a capturing server). Each test pins a
// failure of the old prototype's proxy.

import (
	"bufio"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/bazaarhq/bazaar/internal/nginxtest"
)

// startNginx runs nginx with the production template in front of upstream
// (host:port, e.g. app.Addr) and returns its base URL (see nginxtest.New).
func startNginx(t testing.TB, upstream string) (baseURL string) {
	t.Helper()
	return nginxtest.New(t, upstream, nginxtest.Options{}).URL
}

// createListingAPI creates a listing straight on the app (not through
// nginx) and fails the test unless it worked.
func createListingAPI(t testing.TB, a *app, name string) {
	t.Helper()
	body := fmt.Sprintf(`{"name": %q, "description": "A listing created by the nginx tests to have something to show.", "price_cents": 1250, "quantity": 3}`, name)
	req, _ := http.NewRequest(http.MethodPost, a.URL+"/api/v1/listings", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+a.Creds(t).Token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if b := readBody(t, resp); resp.StatusCode != http.StatusCreated {
		t.Fatalf("create listing: %s\n%s", resp.Status, b)
	}
}

// countListings asks the app's API how many listings exist (up to 100).
func countListings(t testing.TB, appURL string) int {
	t.Helper()
	resp, err := http.Get(appURL + "/api/v1/listings?limit=100")
	if err != nil {
		t.Fatal(err)
	}
	b := readBody(t, resp)
	var page struct {
		Listings []json.RawMessage `json:"listings"`
	}
	if err := json.Unmarshal([]byte(b), &page); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("list listings: %s %v\n%s", resp.Status, err, b)
	}
	return len(page.Listings)
}

var listingLocation = regexp.MustCompile(`^/listings/[0-9]+$`)

// The sell form posted through nginx must redirect to a relative
// /listings/{id} (the prototype produced "localhost,localhost:8080"), and
// the app's cross-origin check, which compares Origin with the Host nginx
// forwards, must let same-origin browsers through and stop cross-site ones.
func TestNginxSellForm(t *testing.T) {
	a := startApp(t, nil)
	base := startNginx(t, a.Addr)

	tests := []struct {
		name    string
		headers map[string]string
		want    int
	}{
		{"no Origin (curl, API clients)", nil, http.StatusSeeOther},
		{"same-origin browser", map[string]string{"Origin": base, "Sec-Fetch-Site": "same-origin"}, http.StatusSeeOther},
		// Without Sec-Fetch-Site the check compares Origin with Host: this is
		// the case a doubled or port-less Host breaks.
		{"older browser with Origin only", map[string]string{"Origin": base}, http.StatusSeeOther},
		{"cross-site form", map[string]string{"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"}, http.StatusForbidden},
		{"cross-site, older browser", map[string]string{"Origin": "https://evil.example"}, http.StatusForbidden},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			name := fmt.Sprintf("Nginx lamp %d", i)
			form := url.Values{"name": {name}, "description": {"Brass, works."}, "price": {"12.50"}, "quantity": {"1"}}
			req, err := http.NewRequest(http.MethodPost, base+"/listings", strings.NewReader(form.Encode()))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.AddCookie(a.Creds(t).Cookie) // a signed-in seller
			for k, v := range tt.headers {
				req.Header.Set(k, v)
			}
			before := countListings(t, a.URL)
			resp, err := noRedirect.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body := readBody(t, resp)
			if resp.StatusCode != tt.want {
				t.Fatalf("POST /listings: %s, want %d\n%s", resp.Status, tt.want, body)
			}
			if tt.want != http.StatusSeeOther {
				if n := countListings(t, a.URL); n != before {
					t.Errorf("rejected POST created a listing: %d listings, had %d", n, before)
				}
				return
			}

			locs := resp.Header.Values("Location")
			if len(locs) != 1 || !listingLocation.MatchString(locs[0]) {
				t.Fatalf("Location = %q, want exactly one relative /listings/{id}", locs)
			}
			// The home page may come from the page cache until the new
			// listing's notice reaches it (asynchronously, just after the
			// commit): give it a second.
			for _, path := range []string{locs[0], "/"} {
				// The home page of an earlier subtest may be in the page
				// cache until the database's notice of the insert arrives,
				// milliseconds after the commit (README "Page cache": within
				// a second); a loaded machine stretches that.
				var status string
				var found bool
				for deadline := time.Now().Add(2 * time.Second); !found && time.Now().Before(deadline); {
					resp, err := noRedirect.Get(base + path)
					if err != nil {
						t.Fatal(err)
					}
					b := readBody(t, resp)
					status, found = resp.Status, resp.StatusCode == http.StatusOK && strings.Contains(b, name)
					if !found {
						time.Sleep(20 * time.Millisecond)
					}
				}
				if !found {
					t.Errorf("GET %s through nginx: %s, contains %q: false (after 2s)", path, status, name)
				}
			}
		})
	}
}

// upstreamRequest is what the capturing upstream saw of one request.
type upstreamRequest struct {
	Host       string
	Header     http.Header
	RemoteAddr string
}

// captureUpstream is a stand-in for the app that records what nginx sends.
// It echoes X-Request-ID as the app does, so the test can see nginx does
// not pass on a second one.
type captureUpstream struct {
	*httptest.Server
	mu   sync.Mutex
	reqs map[string][]upstreamRequest // by path
}

func newCaptureUpstream(t testing.TB) *captureUpstream {
	t.Helper()
	c := &captureUpstream{reqs: map[string][]upstreamRequest{}}
	c.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.mu.Lock()
		c.reqs[r.URL.Path] = append(c.reqs[r.URL.Path], upstreamRequest{Host: r.Host, Header: r.Header.Clone(), RemoteAddr: r.RemoteAddr})
		c.mu.Unlock()
		w.Header().Set("X-Request-ID", r.Header.Get("X-Request-ID"))
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = io.WriteString(w, "captured\n")
	}))
	t.Cleanup(c.Close)
	return c
}

func (c *captureUpstream) requests(path string) []upstreamRequest {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]upstreamRequest(nil), c.reqs[path]...)
}

var hex32 = regexp.MustCompile(`^[0-9a-f]{32}$`)

// The app must see one Host with the port, one X-Forwarded-For ending in
// nginx's peer address, the scheme, and nginx's request id (which the
// client gets back once), whatever forwarding headers a client makes up.
//
// net/http answers 400 to a request with more than one Host header, so a
// request reaching the capturing handler had exactly one.
func TestNginxForwardsHeadersOnce(t *testing.T) {
	up := newCaptureUpstream(t)
	n := nginxtest.New(t, strings.TrimPrefix(up.URL, "http://"), nginxtest.Options{})

	tests := []struct {
		name     string
		host     string // Host sent by the client; "" means nginx's address
		headers  map[string]string
		wantHost string // "" means nginx's address
		wantXFF  string // "" means exactly "127.0.0.1"
	}{
		{name: "plain"},
		{name: "client X-Forwarded-Host is dropped", headers: map[string]string{"X-Forwarded-Host": "evil.example"}},
		{name: "client X-Forwarded-For is appended to", headers: map[string]string{"X-Forwarded-For": "203.0.113.9"}, wantXFF: "203.0.113.9, 127.0.0.1"},
		{name: "client X-Request-ID is replaced", headers: map[string]string{"X-Request-ID": "spoofed-id"}},
		{name: "client X-Forwarded-Proto is replaced", headers: map[string]string{"X-Forwarded-Proto": "https"}},
		{name: "other Host keeps its port", host: "shop.example:8080", wantHost: "shop.example:8080"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := fmt.Sprintf("/probe/%d", i)
			req, err := http.NewRequest(http.MethodGet, n.URL+path, nil)
			if err != nil {
				t.Fatal(err)
			}
			if tt.host != "" {
				req.Host = tt.host
			}
			for k, v := range tt.headers {
				req.Header.Set(k, v)
			}
			resp, err := noRedirect.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			if b := readBody(t, resp); resp.StatusCode != http.StatusOK {
				t.Fatalf("GET %s: %s\n%s", path, resp.Status, b)
			}
			got := up.requests(path)
			if len(got) != 1 {
				t.Fatalf("upstream saw %d requests for %s, want 1", len(got), path)
			}
			r := got[0]

			wantHost := or(tt.wantHost, n.Addr)
			if r.Host != wantHost {
				t.Errorf("upstream Host = %q, want %q", r.Host, wantHost)
			}
			if v := r.Header.Values("X-Forwarded-Host"); len(v) != 0 {
				t.Errorf("upstream X-Forwarded-Host = %q, want none", v)
			}
			xff := r.Header.Values("X-Forwarded-For")
			if wantXFF := or(tt.wantXFF, "127.0.0.1"); len(xff) != 1 || xff[0] != wantXFF {
				t.Errorf("upstream X-Forwarded-For = %q, want exactly %q", xff, wantXFF)
			}
			if v := r.Header.Values("X-Forwarded-Proto"); len(v) != 1 || v[0] != "http" {
				t.Errorf("upstream X-Forwarded-Proto = %q, want exactly \"http\"", v)
			}
			ids := r.Header.Values("X-Request-ID")
			if len(ids) != 1 || !hex32.MatchString(ids[0]) {
				t.Fatalf("upstream X-Request-ID = %q, want one id of 32 hex digits", ids)
			}
			if back := resp.Header.Values("X-Request-ID"); len(back) != 1 || back[0] != ids[0] {
				t.Errorf("client got X-Request-ID %q, want exactly the upstream's %q", back, ids[0])
			}
		})
	}
}

// nginx must keep connections to the app open (HTTP/1.1, no
// "Connection: close"), not open one per request.
func TestNginxReusesUpstreamConnections(t *testing.T) {
	up := newCaptureUpstream(t)
	base := startNginx(t, strings.TrimPrefix(up.URL, "http://"))
	const requests = 10
	for range requests {
		resp, err := noRedirect.Get(base + "/keepalive")
		if err != nil {
			t.Fatal(err)
		}
		if b := readBody(t, resp); resp.StatusCode != http.StatusOK {
			t.Fatalf("GET /keepalive: %s\n%s", resp.Status, b)
		}
	}
	conns := map[string]bool{}
	for _, r := range up.requests("/keepalive") {
		conns[r.RemoteAddr] = true
	}
	if len(up.requests("/keepalive")) != requests || len(conns) > 2 {
		t.Errorf("%d requests reached the upstream over %d connections, want %d over at most 2", len(up.requests("/keepalive")), len(conns), requests)
	}
}

// A request id must follow a request from the client through nginx's log
// to the app's log, so one id finds every line about it.
func TestNginxRequestIDReachesLogs(t *testing.T) {
	a := startApp(t, nil)
	n := nginxtest.New(t, a.Addr, nginxtest.Options{})

	resp, err := noRedirect.Get(n.URL + "/login")
	if err != nil {
		t.Fatal(err)
	}
	readBody(t, resp)
	ids := resp.Header.Values("X-Request-ID")
	if resp.StatusCode != http.StatusOK || len(ids) != 1 || !hex32.MatchString(ids[0]) {
		t.Fatalf("GET /login: %s, X-Request-ID %q, want 200 and one 32-hex id", resp.Status, ids)
	}
	id := ids[0]

	// Each log is written when its side finishes the request, which may be
	// a moment after the client has the response.
	var appLine, nginxLine map[string]any
	waitFor(t, 5*time.Second, func() bool {
		appLine = findLogLine(a.Logs(), id)
		nginxLine = findLogLine(n.AccessLog(), id)
		return appLine != nil && nginxLine != nil
	})
	if appLine["path"] != "/login" || appLine["status"] != float64(200) {
		t.Errorf("app log line for %s: %v", id, appLine)
	}
	if appLine["client"] != "127.0.0.1" {
		t.Errorf("app logged client %v, want 127.0.0.1 from nginx's X-Forwarded-For", appLine["client"])
	}
	if nginxLine["status"] != float64(200) || nginxLine["upstream_addr"] != a.Addr || nginxLine["uri"] != "/login" {
		t.Errorf("nginx log line for %s: %v", id, nginxLine)
	}
	if _, ok := nginxLine["request_time"].(float64); !ok {
		t.Errorf("nginx log line has no numeric request_time: %v", nginxLine)
	}
}

// findLogLine returns the first JSON log line whose request_id is id.
func findLogLine(logs, id string) map[string]any {
	for _, line := range strings.Split(logs, "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil && m["request_id"] == id {
			return m
		}
	}
	return nil
}

// gzipClient shows Content-Encoding instead of decoding it transparently.
var gzipClient = &http.Client{
	Timeout:   10 * time.Second,
	Transport: &http.Transport{DisableCompression: true},
}

func TestNginxCompressesText(t *testing.T) {
	a := startApp(t, nil)
	base := startNginx(t, a.Addr)
	for i := range 5 { // a JSON page well over gzip_min_length
		createListingAPI(t, a, fmt.Sprintf("Gzip kettle %d", i))
	}
	home := get(t, base+"/")
	css := staticURL(t, home)

	tests := []struct {
		path, contentType, contains string
	}{
		{"/", "text/html", "Bazaar"},
		{"/api/v1/listings", "application/json", "Gzip kettle 4"},
		{css, "text/css", "{"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			req, err := http.NewRequest(http.MethodGet, base+tt.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Accept-Encoding", "gzip")
			resp, err := gzipClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), tt.contentType) {
				t.Fatalf("GET %s: %s, Content-Type %q, want 200 %s", tt.path, resp.Status, resp.Header.Get("Content-Type"), tt.contentType)
			}
			if ce := resp.Header.Values("Content-Encoding"); len(ce) != 1 || ce[0] != "gzip" {
				t.Fatalf("Content-Encoding = %q, want gzip", ce)
			}
			if !strings.Contains(strings.Join(resp.Header.Values("Vary"), ","), "Accept-Encoding") {
				t.Errorf("Vary = %q, want Accept-Encoding (shared caches)", resp.Header.Values("Vary"))
			}
			zr, err := gzip.NewReader(resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			b, err := io.ReadAll(zr)
			if err != nil {
				t.Fatalf("gunzip: %v", err)
			}
			if !strings.Contains(string(b), tt.contains) {
				t.Errorf("gunzipped body does not contain %q:\n%.300s", tt.contains, b)
			}
		})
	}
}

var stylesheet = regexp.MustCompile(`href="(/static/[0-9a-f]{12}/app\.css)"`)

// staticURL returns the versioned stylesheet path a page links to.
func staticURL(t testing.TB, page string) string {
	t.Helper()
	m := stylesheet.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no versioned stylesheet link in page:\n%.500s", page)
	}
	return m[1]
}

// get fetches url and fails the test unless it answers 200.
func get(t testing.TB, url string) string {
	t.Helper()
	resp, err := noRedirect.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	b := readBody(t, resp)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s\n%s", url, resp.Status, b)
	}
	return b
}

// The current version's static files are cacheable for a year, with one
// Cache-Control header; another version's (a page from another replica in
// a rollout) must not be pinned by nginx.
func TestNginxStaticCaching(t *testing.T) {
	a := startApp(t, nil)
	base := startNginx(t, a.Addr)
	css := staticURL(t, get(t, base+"/"))

	tests := []struct {
		name, path string
		want       []string // every one must be in the single Cache-Control
		wantNot    string
	}{
		{"current version", css, []string{"public", "max-age=31536000", "immutable"}, "no-cache"},
		{"other version", "/static/000000000000/app.css", []string{"no-cache"}, "immutable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := noRedirect.Get(base + tt.path)
			if err != nil {
				t.Fatal(err)
			}
			readBody(t, resp)
			if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/css") {
				t.Fatalf("GET %s: %s, Content-Type %q, want 200 text/css", tt.path, resp.Status, resp.Header.Get("Content-Type"))
			}
			cc := resp.Header.Values("Cache-Control")
			if len(cc) != 1 {
				t.Fatalf("Cache-Control = %q, want exactly one", cc)
			}
			for _, w := range tt.want {
				if !strings.Contains(cc[0], w) {
					t.Errorf("Cache-Control = %q, want %s", cc[0], w)
				}
			}
			if strings.Contains(cc[0], tt.wantNot) {
				t.Errorf("Cache-Control = %q, must not say %s", cc[0], tt.wantNot)
			}
			if e := resp.Header.Values("Expires"); len(e) != 0 {
				t.Errorf("Expires = %q alongside Cache-Control", e)
			}
		})
	}
}

// Bodies over the app's 1 MiB limit are refused by nginx before they reach
// (or half-create anything in) the app.
func TestNginxRejectsOversizedBodies(t *testing.T) {
	a := startApp(t, nil)
	base := startNginx(t, a.Addr)
	big := strings.Repeat("a", 2<<20)

	// The forms take photos (16 MB for their routes, see
	// TestNginxPhotoUploads); 17 MiB is past that.
	tests := []struct {
		name, path, contentType, body string
	}{
		{"sell form", "/listings", "application/x-www-form-urlencoded",
			url.Values{"name": {"Huge"}, "description": {strings.Repeat("a", 17<<20)}, "price": {"1.00"}, "quantity": {"1"}}.Encode()},
		{"JSON API", "/api/v1/listings", "application/json",
			`{"name": "Huge", "price_cents": 100, "quantity": 1, "description": "` + big + `"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := noRedirect.Post(base+tt.path, tt.contentType, strings.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			readBody(t, resp)
			if resp.StatusCode != http.StatusRequestEntityTooLarge {
				t.Errorf("POST %s with 2 MiB: %s, want 413", tt.path, resp.Status)
			}
			ids := resp.Header.Values("X-Request-ID")
			if len(ids) != 1 {
				t.Fatalf("nginx's own 413 has X-Request-ID %q, want one", ids)
			}
			// The app logs every request it sees, so no line means it never
			// got this one. (The app would say 413 itself; that is not enough.)
			if line := findLogLine(a.Logs(), ids[0]); line != nil {
				t.Errorf("the app saw the oversized request: %v", line)
			}
			if n := countListings(t, a.URL); n != 0 {
				t.Errorf("%d listings exist after an oversized POST, want 0", n)
			}
		})
	}
}

// The app's security headers survive the proxy, and nginx does not
// advertise its version.
func TestNginxPassesSecurityHeaders(t *testing.T) {
	a := startApp(t, nil)
	base := startNginx(t, a.Addr)
	resp, err := noRedirect.Get(base + "/")
	if err != nil {
		t.Fatal(err)
	}
	readBody(t, resp)
	tests := []struct {
		header, want string
	}{
		{"Content-Security-Policy", "default-src 'self'"},
		{"X-Content-Type-Options", "nosniff"},
		{"Referrer-Policy", "strict-origin-when-cross-origin"},
		{"X-Frame-Options", "DENY"},
		{"Server", "nginx"},
	}
	for _, tt := range tests {
		t.Run(tt.header, func(t *testing.T) {
			v := resp.Header.Values(tt.header)
			if len(v) != 1 || !strings.Contains(v[0], tt.want) {
				t.Errorf("%s = %q, want one containing %q", tt.header, v, tt.want)
			}
		})
	}
	if s := resp.Header.Get("Server"); s != "nginx" {
		t.Errorf("Server = %q, want \"nginx\" without a version", s)
	}
}

// rawHTTP sends request byte for byte to addr (so a test can send what
// net/http would refuse or fix: no Host, raw non-UTF-8 bytes) and reads
// one response.
func rawHTTP(t testing.TB, addr, request string) (*http.Response, string) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(15 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(conn, request); err != nil {
		t.Fatal(err)
	}
	method, _, _ := strings.Cut(request, " ")
	resp, err := http.ReadResponse(bufio.NewReader(conn), &http.Request{Method: method})
	if err != nil {
		t.Fatalf("reading the response to %.60q: %v", request, err)
	}
	return resp, readBody(t, resp)
}

// Internal endpoints are refused on the public port, however the path is
// spelled, while the app itself still serves them (Prometheus scrapes it
// on the internal network). /healthz and /readyz stay public on purpose
// (see the template).
func TestNginxRefusesInternalEndpoints(t *testing.T) {
	a := startApp(t, nil)
	n := nginxtest.New(t, a.Addr, nginxtest.Options{})

	if b := get(t, a.URL+"/metrics"); !strings.Contains(b, "# HELP") {
		t.Fatalf("the app's own /metrics has no metrics:\n%.300s", b)
	}
	for _, path := range []string{"/metrics", "/metrics?format=text", "//metrics", "/%6detrics", "/./metrics", "/static/../metrics", "/metrics/."} {
		t.Run(path, func(t *testing.T) {
			resp, body := rawHTTP(t, n.Addr, "GET "+path+" HTTP/1.1\r\nHost: shop.example\r\nConnection: close\r\n\r\n")
			if strings.Contains(body, "# HELP") || strings.Contains(body, "# TYPE") {
				t.Fatalf("GET %s through nginx: %s, and the body has metrics:\n%.300s", path, resp.Status, body)
			}
			if resp.StatusCode == http.StatusOK {
				t.Errorf("GET %s through nginx: %s, want a refusal", path, resp.Status)
			}
		})
	}
	for _, path := range []string{"/healthz", "/readyz"} {
		if resp, body := rawHTTP(t, n.Addr, "GET "+path+" HTTP/1.1\r\nHost: shop.example\r\nConnection: close\r\n\r\n"); resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s through nginx: %s %q, want 200 (public on purpose)", path, resp.Status, body)
		}
	}
}

// faultUpstream stands in for the app where nginx must make its own error:
// /healthz answers (so nginx comes up), /broken* hangs up without a
// response (nginx says 502), and after freeze nothing at its address
// completes a connect any more (nginx's connect times out: 504).
type faultUpstream struct {
	Addr string
	srv  *httptest.Server

	mu    sync.Mutex
	flaky map[string]int // /flaky requests seen, by nginx's request id
}

func newFaultUpstream(t testing.TB) *faultUpstream {
	t.Helper()
	u := &faultUpstream{flaky: map[string]int{}}
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		// No keep-alive: nginx must not hold a cached connection, whose
		// failure it would retry once more on its own.
		w.Header().Set("Connection", "close")
		_, _ = io.WriteString(w, "ok\n")
	})
	hangUp := func(w http.ResponseWriter, r *http.Request) {
		if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
			conn.Close()
		}
	}
	mux.HandleFunc("/broken", hangUp)
	mux.HandleFunc("/api/v1/broken", hangUp)
	// /flaky hangs up on the first attempt of each request and answers
	// the next one.
	mux.HandleFunc("/flaky", func(w http.ResponseWriter, r *http.Request) {
		u.mu.Lock()
		u.flaky[r.Header.Get("X-Request-ID")]++
		n := u.flaky[r.Header.Get("X-Request-ID")]
		u.mu.Unlock()
		if n == 1 {
			hangUp(w, r)
			return
		}
		w.Header().Set("Connection", "close")
		_, _ = io.WriteString(w, "second attempt\n")
	})
	u.srv = httptest.NewServer(mux)
	t.Cleanup(u.srv.Close)
	u.Addr = u.srv.Listener.Addr().String()
	return u
}

// attempts says how often /flaky saw the request with nginx's id.
func (u *faultUpstream) attempts(id string) int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.flaky[id]
}

// freeze replaces the server by a socket on the same address that listens
// with a backlog of 0 and never accepts: once one connection waits in its
// queue the kernel drops every further SYN, which is what an overloaded or
// vanished replica looks like to nginx. It returns when a connect times out.
func (u *faultUpstream) freeze(t testing.TB) {
	t.Helper()
	u.srv.Close() // also every connection nginx keeps alive to it
	ap, err := netip.ParseAddrPort(u.Addr)
	if err != nil {
		t.Fatal(err)
	}
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Close(fd) })
	if err := syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 1); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: ap.Addr().As4(), Port: int(ap.Port())}); err != nil {
		t.Fatalf("rebinding %s: %v", u.Addr, err)
	}
	if err := syscall.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	for range 10 {
		c, err := net.DialTimeout("tcp", u.Addr, 300*time.Millisecond)
		if err != nil {
			return // the queue is full: connects now hang
		}
		t.Cleanup(func() { c.Close() })
	}
	t.Fatal("the accept queue never filled")
}

// nginx's own error responses follow the app's rules: the same security
// headers, one X-Request-ID, problem+json under /api/ and HTML elsewhere.
func TestNginxErrorPages(t *testing.T) {
	a := startApp(t, nil)
	n := nginxtest.New(t, a.Addr, nginxtest.Options{})
	fault := newFaultUpstream(t)
	nf := nginxtest.New(t, fault.Addr, nginxtest.Options{})

	// The app's own headers are the reference: one source for their values.
	ref, _ := rawHTTP(t, a.Addr, "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
	securityHeaders := []string{"Content-Security-Policy", "X-Content-Type-Options", "Referrer-Policy", "X-Frame-Options", "Cross-Origin-Opener-Policy"}
	for _, h := range securityHeaders {
		if ref.Header.Get(h) == "" {
			t.Fatalf("the app sends no %s; the reference is broken", h)
		}
	}

	big := strings.Repeat("a", 2<<20)
	long := strings.Repeat("a", 10000)
	huge := strings.Repeat("b", 10000)
	type check struct {
		name    string
		do      func(t *testing.T) (*http.Response, string)
		status  int
		problem bool // problem+json rather than HTML
	}
	post := func(base, path, ct, body string) func(t *testing.T) (*http.Response, string) {
		return func(t *testing.T) (*http.Response, string) {
			resp, err := noRedirect.Post(base+path, ct, strings.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			return resp, readBody(t, resp)
		}
	}
	raw := func(addr, req string) func(t *testing.T) (*http.Response, string) {
		return func(t *testing.T) (*http.Response, string) { return rawHTTP(t, addr, req) }
	}
	checks := []check{
		{"400 no Host, API", raw(n.Addr, "GET /api/v1/listings HTTP/1.1\r\n\r\n"), 400, true},
		{"400 no Host, page", raw(n.Addr, "GET /listings/new HTTP/1.1\r\n\r\n"), 400, false},
		{"400 header too large, API", raw(n.Addr, "GET /api/v1/listings HTTP/1.1\r\nHost: x\r\nX-Big: "+huge+"\r\n\r\n"), 400, true},
		{"404 internal endpoint", raw(n.Addr, "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"), 404, false},
		{"413 API", post(n.URL, "/api/v1/listings", "application/json", `{"name":"`+big+`"}`), 413, true},
		{"413 form", post(n.URL, "/listings", "application/x-www-form-urlencoded", "name="+big), 413, false},
		{"414 API", raw(n.Addr, "GET /api/v1/listings?q="+long+" HTTP/1.1\r\nHost: x\r\n\r\n"), 414, true},
		{"414 page", raw(n.Addr, "GET /?q="+long+" HTTP/1.1\r\nHost: x\r\n\r\n"), 414, false},
		{"502 API", raw(nf.Addr, "GET /api/v1/broken HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"), 502, true},
		{"502 page", raw(nf.Addr, "GET /broken HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"), 502, false},
	}
	run := func(c check) {
		t.Run(c.name, func(t *testing.T) {
			resp, body := c.do(t)
			if resp.StatusCode != c.status {
				t.Fatalf("%s, want %d\n%.300s", resp.Status, c.status, body)
			}
			for _, h := range securityHeaders {
				if got := resp.Header.Values(h); len(got) != 1 || got[0] != ref.Header.Get(h) {
					t.Errorf("%s = %q, want exactly the app's %q", h, got, ref.Header.Get(h))
				}
			}
			ids := resp.Header.Values("X-Request-ID")
			if len(ids) != 1 || !hex32.MatchString(ids[0]) {
				t.Errorf("X-Request-ID = %q, want one nginx id", ids)
			}
			ct := resp.Header.Get("Content-Type")
			if !c.problem {
				if !strings.HasPrefix(ct, "text/html") || !strings.Contains(body, "<title>") {
					t.Errorf("Content-Type %q, want an HTML page:\n%.300s", ct, body)
				}
				return
			}
			var p struct {
				Type, Title, Detail string
				RequestID           string `json:"request_id"`
				Status              int
			}
			if ct != "application/problem+json" {
				t.Errorf("Content-Type %q, want application/problem+json", ct)
			}
			if err := json.Unmarshal([]byte(body), &p); err != nil {
				t.Fatalf("body is not JSON: %v\n%.300s", err, body)
			}
			if p.Status != c.status || p.Title == "" || p.Type != "about:blank" || (len(ids) == 1 && p.RequestID != ids[0]) {
				t.Errorf("problem = %+v, want status %d, a title and request_id %q", p, c.status, ids)
			}
		})
	}
	for _, c := range checks {
		run(c)
	}
	fault.freeze(t)
	run(check{"504 API", raw(nf.Addr, "GET /api/v1/listings HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"), 504, true})
	run(check{"504 page", raw(nf.Addr, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"), 504, false})
}

// A GET that ends in nginx's own 502 gets one fresh attempt (nginx drops a
// request's remaining retries when a `resolve` update changes the
// replicas under it, just when a vanished replica made them necessary); a
// POST never does, since it may have reached the app.
func TestNginxRetriesIdempotentRequestsOnce(t *testing.T) {
	fault := newFaultUpstream(t)
	n := nginxtest.New(t, fault.Addr, nginxtest.Options{})
	tests := []struct {
		method       string
		wantStatus   int
		wantAttempts int
	}{
		{http.MethodGet, http.StatusOK, 2},
		{http.MethodHead, http.StatusOK, 2},
		{http.MethodPost, http.StatusBadGateway, 1},
		{http.MethodDelete, http.StatusBadGateway, 1},
	}
	for _, tt := range tests {
		t.Run(tt.method, func(t *testing.T) {
			resp, _ := rawHTTP(t, n.Addr, tt.method+" /flaky HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 0\r\n\r\n")
			id := resp.Header.Get("X-Request-ID")
			if resp.StatusCode != tt.wantStatus || fault.attempts(id) != tt.wantAttempts {
				t.Errorf("%s /flaky: %s after %d attempts upstream, want %d after %d", tt.method, resp.Status, fault.attempts(id), tt.wantStatus, tt.wantAttempts)
			}
		})
	}
}

// An HTTP/1.0 client may omit Host. nginx must not forward an empty Host
// (the app would answer 400) but its own server name.
func TestNginxHTTP10WithoutHost(t *testing.T) {
	a := startApp(t, nil)
	n := nginxtest.New(t, a.Addr, nginxtest.Options{})
	if resp, body := rawHTTP(t, n.Addr, "GET /healthz HTTP/1.0\r\n\r\n"); resp.StatusCode != http.StatusOK {
		t.Errorf("HTTP/1.0 GET /healthz without Host through nginx: %s %q, want 200", resp.Status, body)
	}
	if resp, body := rawHTTP(t, n.Addr, "GET / HTTP/1.0\r\n\r\n"); resp.StatusCode != http.StatusOK || !strings.Contains(body, "Bazaar") {
		t.Errorf("HTTP/1.0 GET / without Host through nginx: %s, want the home page", resp.Status)
	}

	up := newCaptureUpstream(t)
	nc := nginxtest.New(t, strings.TrimPrefix(up.URL, "http://"), nginxtest.Options{})
	rawHTTP(t, nc.Addr, "GET /nohost HTTP/1.0\r\n\r\n")
	rawHTTP(t, nc.Addr, "GET http://shop.example/absolute HTTP/1.0\r\n\r\n")
	for path, want := range map[string]string{"/nohost": "localhost", "/absolute": "shop.example"} {
		got := up.requests(path)
		if len(got) != 1 || got[0].Host != want {
			t.Errorf("upstream saw %d requests for %s, Host %v, want one with Host %q", len(got), path, got, want)
		}
	}
}

// The app names its replica in X-Bazaar-Instance; nginx keeps that from
// the public whatever the app does.
func TestNginxHidesInstance(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Bazaar-Instance", "3f2c9a1b7e44")
		_, _ = io.WriteString(w, "ok\n")
	}))
	t.Cleanup(up.Close)
	n := nginxtest.New(t, strings.TrimPrefix(up.URL, "http://"), nginxtest.Options{})
	for _, path := range []string{"/", "/api/v1/listings", "/healthz"} {
		resp, err := noRedirect.Get(n.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		readBody(t, resp)
		if v := resp.Header.Values("X-Bazaar-Instance"); resp.StatusCode != http.StatusOK || len(v) != 0 {
			t.Errorf("GET %s through nginx: %s, X-Bazaar-Instance %q, want 200 and none", path, resp.Status, v)
		}
	}
}

// Every access log line parses as JSON (strict: valid UTF-8 too, which
// Go's decoder alone does not check), whatever bytes a client puts in the
// URI, Referer or User-Agent; valid UTF-8 is logged as sent.
func TestNginxAccessLogIsJSON(t *testing.T) {
	up := newCaptureUpstream(t)
	n := nginxtest.New(t, strings.TrimPrefix(up.URL, "http://"), nginxtest.Options{})

	tests := []struct {
		name, uri, referer, agent string
		wantURI, wantAgent        string
	}{
		{"valid UTF-8 kept", "/caf\xc3\xa9?q=\xe2\x82\xac", "http://x/\xc3\xa9", "Mozilla \xf0\x9f\x98\x80",
			"/café?q=€", "Mozilla 😀"},
		{"Latin-1 URI", "/caf\xe9", "", "curl", "/caf\ufffd", "curl"},
		{"invalid bytes everywhere", "/a\xff\xfeb?x=\xc3", "http://x/\x80", "Bot \xe9\xff \"quoted\" \\ end",
			"/a\ufffd", "Bot \ufffd"},
		{"overlong and surrogate encodings", "/\xc0\xaf/\xed\xa0\x80", "", "\xed\xa0\x80agent", "/\ufffd", "\ufffd"},
		{"quotes and controls", "/q?a=%22b%22", "", "tab\there \"q\"", "/q?a=%22b%22", "tab\there \"q\""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := "GET " + tt.uri + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\nUser-Agent: " + tt.agent + "\r\n"
			if tt.referer != "" {
				req += "Referer: " + tt.referer + "\r\n"
			}
			resp, body := rawHTTP(t, n.Addr, req+"\r\n")
			id := resp.Header.Get("X-Request-ID")
			if !hex32.MatchString(id) {
				t.Fatalf("%s %q: no request id", resp.Status, body)
			}
			var line map[string]any
			waitFor(t, 5*time.Second, func() bool { line = findLogLine(n.AccessLog(), id); return line != nil })
			if line["uri"] != tt.wantURI || line["http_user_agent"] != tt.wantAgent {
				t.Errorf("logged uri %q, user agent %q; want %q, %q", line["uri"], line["http_user_agent"], tt.wantURI, tt.wantAgent)
			}
		})
	}
	lines := strings.Split(strings.TrimSpace(n.AccessLog()), "\n")
	for i, line := range lines {
		if !utf8.ValidString(line) || !json.Valid([]byte(line)) {
			t.Errorf("access log line %d is not valid JSON in UTF-8: %q", i+1, line)
		}
	}
	if len(lines) < len(tests) {
		t.Errorf("%d access log lines, want at least %d", len(lines), len(tests))
	}
}
