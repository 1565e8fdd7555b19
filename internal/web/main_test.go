package web_test

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/bazaarhq/bazaar/internal/blob"
	"github.com/bazaarhq/bazaar/internal/gallery"
	"github.com/bazaarhq/bazaar/internal/market"
	"github.com/bazaarhq/bazaar/internal/password"
	"github.com/bazaarhq/bazaar/internal/photo"
	"github.com/bazaarhq/bazaar/internal/postgres"
	"github.com/bazaarhq/bazaar/internal/postgres/postgrestest"
	"github.com/bazaarhq/bazaar/internal/web"
)

// TestMain starts PostgreSQL for the tests, but not to only fuzz (as `make
// fuzz` does: -run='^$' -fuzz=X, and the worker processes that copy runs):
// the fuzz targets need no database, and each worker would start a cluster.
func TestMain(m *testing.M) {
	flag.Parse()
	if testFlag("test.fuzzworker") == "true" || (testFlag("test.fuzz") != "" && testFlag("test.run") == "^$") {
		os.Exit(m.Run())
	}
	postgrestest.Main(m)
}

func testFlag(name string) string {
	if f := flag.Lookup(name); f != nil {
		return f.Value.String()
	}
	return ""
}

// testServer is the whole application behind a real HTTP listener, on its
// own fresh database, with a browser-like client that keeps cookies and
// does not follow redirects (so tests see the 303s).
//
// A testServer acts as one person: newTestServer's is signed in as a
// seller of its own (User), its Client holding the session cookie and api
// sending the user's Bearer token. ts.as(u) is the same server acting as
// another user (ts.newUser), ts.guest() as a visitor who never signed in.
type testServer struct {
	URL    string
	Srv    *web.Server
	DB     *postgres.DB
	Client *http.Client
	// User is who the client is signed in as (nil: a guest); Token is the
	// Bearer token api sends ("" for none).
	User  *testUser
	Token string
	// PhotoDir is where the server's photos are stored (and served from
	// under /media), unless an option chose another store.
	PhotoDir string
}

// newTestServer starts a server on a fresh database. opts adjust the
// config before the server is built (DB can be replaced).
func newTestServer(t *testing.T, opts ...func(*web.Config)) *testServer {
	t.Helper()
	cfg := web.Config{DB: postgrestest.NewDB(t), Hasher: testHasher()}
	for _, o := range opts {
		o(&cfg)
	}
	var photoDir string
	if cfg.Photos == nil && cfg.DB != nil {
		photoDir = t.TempDir()
		store, err := blob.NewDir(photoDir, "/media")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = store.Close() })
		cfg.Photos = gallery.New(gallery.Config{DB: cfg.DB, Store: store, Processor: photo.NewProcessor(photo.Config{MaxDecodes: 2})})
		cfg.MediaDir, cfg.MediaURL = photoDir, "/media"
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); cfg.Photos.Collect(ctx) }()
		t.Cleanup(func() { cancel(); <-done })
	}
	srv, err := web.NewServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close)
	ts := &testServer{URL: hs.URL, Srv: srv, DB: cfg.DB, Client: newClient(t), PhotoDir: photoDir}
	if err := cfg.DB.Ready(context.Background()); market.ErrorCode(err) == market.EUNAVAILABLE {
		// The database is down (deadDB): the client carries credentials the
		// server cannot check, a session cookie and a token, as a
		// signed-in user's would.
		base, _ := url.Parse(ts.URL)
		ts.Client.Jar.SetCookies(base, []*http.Cookie{{Name: srv.SessionCookieName(), Value: "unchecked", Path: "/"}})
		ts.Token = "bzr_unchecked"
		return ts
	}
	return ts.as(ts.newUser(t, "Sam Seller"))
}

// newClient is a browser-like client with an empty cookie jar that does
// not follow redirects.
func newClient(t *testing.T) *http.Client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{
		Jar:           jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// testPassword is every test user's password (not a common one).
const testPassword = "plum-tangerine-kettle-42"

// testHasher is one password hasher for every test server of the package
// (its gauge unregistered): argon2id at OWASP's minimum, as in production.
var testHasher = sync.OnceValue(func() *password.Hasher {
	h, err := password.New(password.OWASP, 0, nil)
	if err != nil {
		panic(err)
	}
	return h
})

// testPasswordHash is testPassword hashed once, so that making a test user
// costs an insert, not an argon2id hash (slow under the race detector).
var testPasswordHash = sync.OnceValue(func() string {
	h, err := testHasher().Hash(context.Background(), testPassword)
	if err != nil {
		panic(err)
	}
	return h
})

// testUser is a user of a test server with a signed-in client and an API
// token.
type testUser struct {
	ID       int64
	Email    string
	Name     string
	Password string
	Token    string
	Client   *http.Client
}

var userSeq atomic.Int64

// newUser makes a user named name (password testPassword) with an API
// token and a client holding a session cookie, as if they had signed in.
func (ts *testServer) newUser(t *testing.T, name string) *testUser {
	t.Helper()
	ctx := context.Background()
	u := &market.User{
		Email:        fmt.Sprintf("user%d@example.com", userSeq.Add(1)),
		DisplayName:  name,
		PasswordHash: testPasswordHash(),
	}
	if err := ts.DB.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	_, token, err := ts.DB.CreateAPIToken(ctx, u.ID, "test")
	if err != nil {
		t.Fatal(err)
	}
	cookie, err := ts.Srv.SessionCookie(ctx, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	client := newClient(t)
	base, _ := url.Parse(ts.URL)
	client.Jar.SetCookies(base, []*http.Cookie{cookie})
	return &testUser{ID: u.ID, Email: u.Email, Name: name, Password: testPassword, Token: token, Client: client}
}

// as returns ts acting as u: u's session cookie and u's Bearer token.
func (ts *testServer) as(u *testUser) *testServer {
	c := *ts
	c.User, c.Client, c.Token = u, u.Client, u.Token
	return &c
}

// guest returns ts acting as a visitor who never signed in: no cookie, no
// token.
func (ts *testServer) guest(t *testing.T) *testServer {
	t.Helper()
	c := *ts
	c.User, c.Client, c.Token = nil, newClient(t), ""
	return &c
}

// login signs in through the login form with a fresh client and returns
// that client (holding the new session cookie).
func (ts *testServer) login(t *testing.T, email, pw string) *http.Client {
	t.Helper()
	g := ts.guest(t)
	r := g.postForm(t, "/login", url.Values{"email": {email}, "password": {pw}})
	if r.StatusCode != http.StatusSeeOther {
		t.Fatalf("POST /login as %s: status = %d, want 303; body:\n%.800s", email, r.StatusCode, r.body)
	}
	return g.Client
}

// sessionToken returns the session cookie's value in client's jar, "" if
// none.
func (ts *testServer) sessionToken(t *testing.T, client *http.Client) string {
	t.Helper()
	base, _ := url.Parse(ts.URL)
	for _, c := range client.Jar.Cookies(base) {
		if c.Name == ts.Srv.SessionCookieName() {
			return c.Value
		}
	}
	return ""
}

// response is an answered request with its body already read.
type response struct {
	*http.Response
	body string
}

// do sends a request and reads the whole answer. hdr is pairs of header
// name and value.
func (ts *testServer) do(t *testing.T, method, path string, body io.Reader, hdr []string) *response {
	t.Helper()
	req, err := http.NewRequest(method, ts.URL+path, body)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := ts.Client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, path, err)
	}
	return &response{Response: resp, body: string(b)}
}

func (ts *testServer) get(t *testing.T, path string) *response {
	t.Helper()
	return ts.do(t, http.MethodGet, path, nil, nil)
}

// postForm submits a form as a same-origin browser would.
func (ts *testServer) postForm(t *testing.T, path string, form url.Values) *response {
	t.Helper()
	return ts.do(t, http.MethodPost, path, strings.NewReader(form.Encode()), []string{
		"Content-Type", "application/x-www-form-urlencoded",
		"Sec-Fetch-Site", "same-origin",
		"Origin", ts.URL,
	})
}

// api sends a JSON body (a string, sent as it is) to the API, with ts's
// Bearer token if it has one.
func (ts *testServer) api(t *testing.T, method, path, body string) *response {
	t.Helper()
	var r io.Reader
	var hdr []string
	if body != "" {
		r = strings.NewReader(body)
		hdr = []string{"Content-Type", "application/json"}
	}
	if ts.Token != "" {
		hdr = append(hdr, "Authorization", "Bearer "+ts.Token)
	}
	return ts.do(t, method, path, r, hdr)
}

// count returns how many listings the database holds.
func (ts *testServer) count(t *testing.T) int64 {
	t.Helper()
	n, err := ts.DB.CountListings(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// apiListing mirrors the API's listing JSON.
type apiListing struct {
	ID          int64  `json:"id"`
	Name        string `json:"name"`
	Description string `json:"description"`
	PriceCents  int64  `json:"price_cents"`
	Currency    string `json:"currency"`
	Quantity    int    `json:"quantity"`
	CreatedAt   string `json:"created_at"`
	UpdatedAt   string `json:"updated_at"`
	SellerID    int64  `json:"seller_id"`
}

type apiPage struct {
	Listings   []apiListing `json:"listings"`
	NextBefore *int64       `json:"next_before"`
	PrevAfter  *int64       `json:"prev_after"`
}

type problem struct {
	Type      string            `json:"type"`
	Title     string            `json:"title"`
	Status    int               `json:"status"`
	Detail    string            `json:"detail"`
	Instance  string            `json:"instance"`
	Errors    map[string]string `json:"errors"`
	RequestID string            `json:"request_id"`
}

// decode parses r's body as JSON into v.
func decode[T any](t *testing.T, r *response) T {
	t.Helper()
	var v T
	if err := json.Unmarshal([]byte(r.body), &v); err != nil {
		t.Fatalf("body is not JSON: %v\n%s", err, r.body)
	}
	return v
}

// wantProblem checks that r is a problem+json answer with status code and
// a request id matching the X-Request-ID header, and returns it.
func wantProblem(t *testing.T, r *response, code int) problem {
	t.Helper()
	if r.StatusCode != code {
		t.Errorf("%s %s: status = %d, want %d; body: %s", r.Request.Method, r.Request.URL.Path, r.StatusCode, code, r.body)
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/problem+json" {
		t.Errorf("%s %s: Content-Type = %q, want application/problem+json", r.Request.Method, r.Request.URL.Path, ct)
		return problem{}
	}
	p := decode[problem](t, r)
	if p.Status != r.StatusCode || p.Title == "" || p.Type == "" {
		t.Errorf("problem = %+v, want status %d with a type and title", p, r.StatusCode)
	}
	if p.RequestID == "" || p.RequestID != r.Header.Get("X-Request-ID") {
		t.Errorf("problem request_id = %q, X-Request-ID = %q; want equal and non-empty", p.RequestID, r.Header.Get("X-Request-ID"))
	}
	return p
}

// createAPI makes a listing through the API and returns it.
func (ts *testServer) createAPI(t *testing.T, body string) apiListing {
	t.Helper()
	r := ts.api(t, http.MethodPost, "/api/v1/listings", body)
	if r.StatusCode != http.StatusCreated {
		t.Fatalf("create: status = %d, body: %s", r.StatusCode, r.body)
	}
	return decode[apiListing](t, r)
}

// createListings makes n listings named "Item 1".."Item n" and returns
// their ids in creation order.
func (ts *testServer) createListings(t *testing.T, n int) []int64 {
	t.Helper()
	ids := make([]int64, n)
	for i := range n {
		l := ts.createAPI(t, `{"name":"Item `+strconv.Itoa(i+1)+`","price_cents":100,"quantity":1}`)
		ids[i] = l.ID
	}
	return ids
}

var listingPath = regexp.MustCompile(`^/listings/([1-9][0-9]*)$`)

// createForm submits the sell form and returns the new listing's id.
func (ts *testServer) createForm(t *testing.T, form url.Values) int64 {
	t.Helper()
	r := ts.postForm(t, "/listings", form)
	if r.StatusCode != http.StatusSeeOther {
		t.Fatalf("POST /listings: status = %d, want 303; body: %s", r.StatusCode, r.body)
	}
	m := listingPath.FindStringSubmatch(r.Header.Get("Location"))
	if m == nil {
		t.Fatalf("Location = %q, want a relative /listings/{id}", r.Header.Get("Location"))
	}
	id, _ := strconv.ParseInt(m[1], 10, 64)
	return id
}

func validForm() url.Values {
	return url.Values{"name": {"Brass lamp"}, "description": {"Works."}, "price": {"12.50"}, "quantity": {"2"}}
}
