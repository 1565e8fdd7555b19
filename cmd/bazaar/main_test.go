package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bazaarhq/bazaar/internal/postgres/postgrestest"
	"github.com/jackc/pgx/v5"
)

func TestMain(m *testing.M) { postgrestest.Main(m) }

// app is a Bazaar server started by run, as main starts it.
type app struct {
	URL  string // http://127.0.0.1:port
	Addr string // 127.0.0.1:port
	DB   string // its database URL
	logs *syncBuffer
	stop context.CancelFunc
	done chan error

	credsOnce sync.Once
	creds     *creds
}

// creds are a user's credentials for a server: an API token and a
// session cookie.
type creds struct {
	Email, Password string
	Token           string
	Cookie          *http.Cookie
}

// testPassword is the password of the users tests sign up.
const testPassword = "plum-tangerine-kettle-42"

// signUp opens an account on the server at base (through the API, as a
// client would), makes an API token and signs in through the login form.
func signUp(t testing.TB, base, email string) *creds {
	t.Helper()
	c := &creds{Email: email, Password: testPassword}
	post := func(path, body string) *http.Response {
		resp, err := http.Post(base+path, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("POST %s: %s\n%s", path, resp.Status, b)
		}
		var tok struct{ Token string }
		_ = json.Unmarshal(b, &tok)
		c.Token = cmpOr(tok.Token, c.Token)
		return resp
	}
	post("/api/v1/users", fmt.Sprintf(`{"email":%q,"display_name":"Tess Tester","password":%q}`, email, testPassword))
	post("/api/v1/tokens", fmt.Sprintf(`{"email":%q,"password":%q,"name":"tests"}`, email, testPassword))
	form := "email=" + url.QueryEscape(email) + "&password=" + url.QueryEscape(testPassword)
	req, _ := http.NewRequest(http.MethodPost, base+"/login", strings.NewReader(form))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	for _, ck := range resp.Cookies() {
		if strings.HasSuffix(ck.Name, "bazaar_session") {
			c.Cookie = &http.Cookie{Name: ck.Name, Value: ck.Value}
		}
	}
	if resp.StatusCode != http.StatusSeeOther || c.Cookie == nil {
		t.Fatalf("login: %s, cookies %v", resp.Status, resp.Cookies())
	}
	return c
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// Creds returns the credentials of a user of a, made on first use.
func (a *app) Creds(t testing.TB) *creds {
	t.Helper()
	a.credsOnce.Do(func() { a.creds = signUp(t, a.URL, "tess@example.com") })
	if a.creds == nil {
		t.Fatal("signing up failed earlier")
	}
	return a.creds
}

// Logs returns what the server has logged so far.
func (a *app) Logs() string { return a.logs.String() }

// Stop cancels the server's context (as SIGTERM does) and waits for run to return.
func (a *app) Stop(t testing.TB) error {
	t.Helper()
	a.stop()
	select {
	case err := <-a.done:
		a.done <- err
		return err
	case <-time.After(30 * time.Second):
		t.Fatal("server did not stop within 30s")
		return nil
	}
}

// startApp runs `bazaar serve` on 127.0.0.1:0 against a fresh migrated
// database, learns the port it got from its "listening" log line, waits
// for /readyz with a deadline, and stops it when the test ends. env
// overrides the environment.
func startApp(t testing.TB, env map[string]string) *app {
	t.Helper()
	dbURL := postgrestest.NewURL(t)
	// The data directory (mail written to files, without an SMTP server)
	// is the test's, never the package directory.
	vars := map[string]string{"DATABASE_URL": dbURL, "BAZAAR_ADDR": "127.0.0.1:0", "BAZAAR_INSTANCE": "test", "BAZAAR_DATA_DIR": t.TempDir()}
	for k, v := range env {
		vars[k] = v
	}
	ctx, cancel := context.WithCancel(context.Background())
	a := &app{DB: dbURL, logs: &syncBuffer{}, stop: cancel, done: make(chan error, 1)}
	go func() {
		a.done <- run(ctx, []string{"bazaar", "serve"}, func(k string) string { return vars[k] }, a.logs, a.logs)
	}()
	t.Cleanup(func() {
		if err := a.Stop(t); err != nil {
			t.Errorf("run returned %v\nlogs:\n%s", err, a.Logs())
		}
	})
	a.Addr = listeningAddr(t, a.logs, 20*time.Second, a.done)
	a.URL = "http://" + a.Addr
	waitReady(t, a.URL+"/readyz", 20*time.Second, a.done)
	return a
}

// listeningAddr waits for the server's "listening" log line and returns the
// address it reports: the port the kernel gave it for :0.
func listeningAddr(t testing.TB, logs *syncBuffer, timeout time.Duration, done chan error) string {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		for _, line := range strings.Split(logs.String(), "\n") {
			var m struct{ Msg, Addr string }
			if json.Unmarshal([]byte(line), &m) == nil && m.Msg == "listening" && m.Addr != "" {
				return m.Addr
			}
		}
		select {
		case err := <-done:
			done <- err
			t.Fatalf("server exited before listening: %v\nlogs:\n%s", err, logs)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("no \"listening\" log line within %s\nlogs:\n%s", timeout, logs)
		}
		time.Sleep(10 * time.Millisecond) // poll interval
	}
}

// waitReady polls url until it answers 200, the server exits, or the deadline passes.
func waitReady(t testing.TB, url string, timeout time.Duration, done chan error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	client := &http.Client{Timeout: time.Second}
	for {
		resp, err := client.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case err := <-done:
			done <- err
			t.Fatalf("server exited before ready: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not ready within %s (last error %v)", url, timeout, err)
		}
		time.Sleep(20 * time.Millisecond) // poll interval, not a readiness guess
	}
}

// noRedirect is a client that shows redirects instead of following them.
var noRedirect = &http.Client{
	Timeout:       10 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

func readBody(t testing.TB, resp *http.Response) string {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func TestServeRefusesOldSchema(t *testing.T) {
	ctx := context.Background()
	url := postgrestest.NewURL(t)
	// Simulate a database that missed the newest migration.
	if err := execSQL(ctx, url, `DELETE FROM goose_db_version WHERE version_id = (SELECT max(version_id) FROM goose_db_version)`); err != nil {
		t.Fatal(err)
	}
	var out syncBuffer
	env := map[string]string{"DATABASE_URL": url, "BAZAAR_ADDR": "127.0.0.1:0"}
	err := run(ctx, []string{"bazaar", "serve"}, func(k string) string { return env[k] }, &out, &out)
	if err == nil || !strings.Contains(err.Error(), "bazaar migrate") {
		t.Fatalf("serve on old schema: err = %v, want a message naming `bazaar migrate`", err)
	}
}

// TestServeRunsOnNewerSchema: a replica of the previous release must keep
// starting and answering ready after the next release migrated the
// database, or a rolling update with a migration is an outage.
func TestServeRunsOnNewerSchema(t *testing.T) {
	url := postgrestest.NewURL(t)
	postgrestest.ApplyNewerMigration(t, url, `ALTER TABLE listings ADD COLUMN colour text;`)
	a := startApp(t, map[string]string{"DATABASE_URL": url}) // waits for /readyz 200
	resp, err := noRedirect.Get(a.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	if body := readBody(t, resp); resp.StatusCode != http.StatusOK {
		t.Errorf("GET / on a newer schema: %d %s", resp.StatusCode, body)
	}
}

func TestConfigErrorsNameEachVariable(t *testing.T) {
	env := map[string]string{"BAZAAR_ADDR": "nope", "BAZAAR_SHUTDOWN_TIMEOUT": "-1s", "BAZAAR_TRUSTED_PROXIES": "10.0.0.0/8,bogus", "BAZAAR_SMTP_URL": "http://mail.example"}
	err := run(context.Background(), []string{"bazaar", "serve"}, func(k string) string { return env[k] }, io.Discard, io.Discard)
	if err == nil {
		t.Fatal("no error for bad configuration")
	}
	for _, name := range []string{"DATABASE_URL", "BAZAAR_ADDR", "BAZAAR_SHUTDOWN_TIMEOUT", "BAZAAR_TRUSTED_PROXIES", "BAZAAR_SMTP_URL"} {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("error does not name %s:\n%v", name, err)
		}
	}
}

func TestMigrateCommandIsIdempotent(t *testing.T) {
	url := postgrestest.NewURL(t) // already migrated from the template
	var out bytes.Buffer
	env := map[string]string{"DATABASE_URL": url}
	if err := run(context.Background(), []string{"bazaar", "migrate"}, func(k string) string { return env[k] }, &out, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "nothing to do") {
		t.Errorf("second migrate said %q", out.String())
	}
}

func TestSeedOnlyIntoEmptyTable(t *testing.T) {
	url := postgrestest.NewURL(t)
	env := map[string]string{"DATABASE_URL": url}
	getenv := func(k string) string { return env[k] }
	for i, want := range []string{fmt.Sprintf("added %d", demoListingCount), "leaving them alone"} {
		var out bytes.Buffer
		if err := run(context.Background(), []string{"bazaar", "seed"}, getenv, &out, &out); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(out.String(), want) {
			t.Errorf("seed run %d said %q, want %q", i+1, out.String(), want)
		}
	}
}

func TestHealthcheckCommand(t *testing.T) {
	a := startApp(t, nil)
	env := map[string]string{"BAZAAR_ADDR": a.Addr}
	if err := run(context.Background(), []string{"bazaar", "healthcheck"}, func(k string) string { return env[k] }, io.Discard, io.Discard); err != nil {
		t.Errorf("healthcheck against a ready server: %v", err)
	}
	// A server that is up but not ready (a draining replica, a database
	// outage) must fail the check too.
	unready := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "draining", http.StatusServiceUnavailable)
	}))
	defer unready.Close()
	env["BAZAAR_ADDR"] = strings.TrimPrefix(unready.URL, "http://")
	if err := run(context.Background(), []string{"bazaar", "healthcheck"}, func(k string) string { return env[k] }, io.Discard, io.Discard); err == nil {
		t.Error("healthcheck against a server answering 503 succeeded")
	}

}

func TestGracefulShutdownFinishesInFlightRequests(t *testing.T) {
	a := startApp(t, map[string]string{"BAZAAR_DRAIN_DELAY": "1s"})
	// A keep-alive connection, as nginx holds to each replica.
	kept := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
	if resp, err := kept.Get(a.URL + "/healthz"); err != nil || resp.Close {
		t.Fatalf("GET /healthz before shutdown: %v (close %v)", err, resp != nil && resp.Close)
	} else {
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	// A slow upload keeps a request in flight while shutdown begins.
	pr, pw := io.Pipe()
	req, _ := http.NewRequest(http.MethodPost, a.URL+"/api/v1/listings", pr)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+a.Creds(t).Token)
	type result struct {
		status int
		err    error
	}
	res := make(chan result, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			res <- result{err: err}
			return
		}
		resp.Body.Close()
		res <- result{status: resp.StatusCode}
	}()
	if _, err := pw.Write([]byte(`{"name": "In flight", `)); err != nil {
		t.Fatal(err)
	}
	a.stop() // as SIGTERM does
	fresh := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	// First /readyz turns 503 (during BAZAAR_DRAIN_DELAY)...
	waitFor(t, 10*time.Second, func() bool {
		resp, err := fresh.Get(a.URL + "/readyz")
		if err != nil {
			t.Fatalf("listener closed before /readyz reported 503: %v", err)
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusServiceUnavailable
	})
	// ...and a request on a kept-alive connection is served, but ends the
	// connection (Connection: close), so a proxy stops reusing it before
	// the app closes it: see web.Server.Drain.
	reused := false
	trace := &httptrace.ClientTrace{GotConn: func(i httptrace.GotConnInfo) { reused = i.Reused }}
	req2, _ := http.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), trace), http.MethodGet, a.URL+"/healthz", nil)
	resp, err := kept.Do(req2)
	if err != nil {
		t.Fatalf("GET /healthz on a kept-alive connection while draining: %v", err)
	}
	resp.Body.Close()
	if !reused || resp.StatusCode != http.StatusOK || !resp.Close {
		t.Errorf("GET /healthz on a kept-alive connection while draining: reused %v, %s, Connection: close %v; want a reused connection, 200 and close", reused, resp.Status, resp.Close)
	}
	// ...then the listener closes, while our request is still in flight.
	waitFor(t, 10*time.Second, func() bool {
		resp, err := fresh.Get(a.URL + "/readyz")
		if err == nil {
			resp.Body.Close()
		}
		return err != nil
	})
	if _, err := pw.Write([]byte(`"price_cents": 100, "quantity": 1}`)); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	r := <-res
	if r.err != nil || r.status != http.StatusCreated {
		t.Fatalf("in-flight request: status %d err %v", r.status, r.err)
	}
	if err := a.Stop(t); err != nil {
		t.Fatalf("run: %v", err)
	}
}

func waitFor(t testing.TB, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %s", timeout)
		}
		time.Sleep(10 * time.Millisecond) // poll interval
	}
}

func execSQL(ctx context.Context, url, sql string) error {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, sql)
	return err
}
