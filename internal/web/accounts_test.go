package web_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/bazaarhq/bazaar/internal/web"
)

// sessionCookieOf returns the session cookie r sets, or nil.
func sessionCookieOf(ts *testServer, r *response) *http.Cookie {
	for _, c := range r.Cookies() {
		if c.Name == ts.Srv.SessionCookieName() {
			return c
		}
	}
	return nil
}

func TestSignupSignsIn(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	g := ts.guest(t)
	if r := g.get(t, "/signup"); r.StatusCode != http.StatusOK || !strings.Contains(r.body, `action="/signup"`) {
		t.Fatalf("GET /signup: %d", r.StatusCode)
	}
	r := g.postForm(t, "/signup", url.Values{"email": {"Ada@Example.com"}, "display_name": {"Ada"}, "password": {testPassword},
		"next": {"/listings/new"}})
	if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/listings/new" {
		t.Fatalf("POST /signup: %d, Location %q; body:\n%.600s", r.StatusCode, r.Header.Get("Location"), r.body)
	}
	c := sessionCookieOf(ts, r)
	if c == nil || !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Path != "/" || c.Secure || c.Domain != "" {
		t.Fatalf("session cookie = %+v, want HttpOnly, SameSite=Lax, Path=/, no Domain", c)
	}
	if c.Name != "bazaar_session" {
		t.Errorf("cookie name %q without secure cookies, want bazaar_session", c.Name)
	}
	home := g.get(t, "/")
	if !strings.Contains(home.body, ">Ada</a>") || strings.Contains(home.body, `href="/login"`) {
		t.Errorf("the header does not name the signed-in user:\n%.1500s", home.body)
	}
	// Emails are unique without regard to case.
	r = ts.guest(t).postForm(t, "/signup", url.Values{"email": {"ada@EXAMPLE.com"}, "display_name": {"Ada 2"}, "password": {testPassword}})
	wantPage(t, r, http.StatusConflict)
	if !strings.Contains(r.body, `id="email-error"`) {
		t.Errorf("no message beside the email:\n%.800s", r.body)
	}
}

func TestSecureCookies(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, func(c *web.Config) { c.SecureCookies = true })
	r := ts.guest(t).postForm(t, "/login", url.Values{"email": {ts.User.Email}, "password": {testPassword}})
	c := sessionCookieOf(ts, r)
	if r.StatusCode != http.StatusSeeOther || c == nil {
		t.Fatalf("login: %d, cookies %v", r.StatusCode, r.Cookies())
	}
	if c.Name != "__Host-bazaar_session" || !c.Secure || !c.HttpOnly || c.Path != "/" || c.Domain != "" || c.SameSite != http.SameSiteLaxMode {
		t.Errorf("cookie = %+v, want __Host-bazaar_session, Secure, HttpOnly, Path=/, no Domain, SameSite=Lax", c)
	}
}

// TestAnonymousVisitorsHaveNoSession: browsing, even posting a form,
// without signing in writes no session row and sets no session cookie.
func TestAnonymousVisitorsHaveNoSession(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	lid := ts.createAPI(t, lampJSON).ID
	before, err := ts.DB.CountSessions(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	g := ts.guest(t)
	for _, p := range []string{"/", "/listings/" + id(lid), "/sellers/" + id(ts.User.ID), "/login", "/signup", "/search?q=lamp", "/api/v1/listings"} {
		r := g.get(t, p)
		if r.StatusCode != http.StatusOK {
			t.Errorf("GET %s: %d", p, r.StatusCode)
		}
		if sessionCookieOf(ts, r) != nil || strings.Contains(r.Header.Get("Vary"), "Cookie") {
			t.Errorf("GET %s as a guest: session cookie or Vary: Cookie", p)
		}
	}
	g.postForm(t, "/login", url.Values{"email": {"nobody@example.com"}, "password": {"wrong password"}})
	g.get(t, "/listings/new") // redirected to sign in
	if after, err := ts.DB.CountSessions(context.Background()); err != nil || after != before {
		t.Errorf("guests made %d session rows (%v)", after-before, err)
	}
}

func TestLoginAndLogout(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	g := ts.guest(t)
	// Signed in once...
	r := g.postForm(t, "/login", url.Values{"email": {strings.ToUpper(ts.User.Email)}, "password": {testPassword}, "next": {"/sellers/1?x=1"}})
	if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/sellers/1?x=1" {
		t.Fatalf("login: %d, Location %q; body:\n%.500s", r.StatusCode, r.Header.Get("Location"), r.body)
	}
	first := ts.sessionToken(t, g.Client)
	// ...and again on the same client: a new token, the old one dead.
	r = g.postForm(t, "/login", url.Values{"email": {ts.User.Email}, "password": {testPassword}})
	second := ts.sessionToken(t, g.Client)
	if r.StatusCode != http.StatusSeeOther || second == "" || second == first {
		t.Fatalf("second login: %d, token %q then %q; want a new token", r.StatusCode, first, second)
	}
	if ok, _ := ts.DB.SessionExists(context.Background(), first); ok {
		t.Error("the token from before the login still exists")
	}
	if r := g.get(t, "/listings/new"); r.StatusCode != http.StatusOK {
		t.Fatalf("signed in, GET /listings/new: %d", r.StatusCode)
	}
	// Logout ends the session on the server: replaying the old cookie is
	// a guest's request.
	r = g.postForm(t, "/logout", nil)
	if r.StatusCode != http.StatusSeeOther {
		t.Fatalf("logout: %d", r.StatusCode)
	}
	if c := sessionCookieOf(ts, r); c == nil || c.MaxAge >= 0 {
		t.Errorf("logout did not expire the cookie: %+v", c)
	}
	if ok, _ := ts.DB.SessionExists(context.Background(), second); ok {
		t.Error("the session still exists after logout")
	}
	replay := ts.guest(t)
	base, _ := url.Parse(ts.URL)
	replay.Client.Jar.SetCookies(base, []*http.Cookie{{Name: ts.Srv.SessionCookieName(), Value: second, Path: "/"}})
	if r := replay.get(t, "/listings/new"); r.StatusCode != http.StatusSeeOther {
		t.Errorf("the old cookie after logout: GET /listings/new = %d, want 303 to sign in", r.StatusCode)
	}
}

func TestLoginNextIsLocal(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	for _, tt := range []struct{ next, want string }{
		{"/listings/new", "/listings/new"},
		{"/search?q=a&b=c", "/search?q=a&b=c"},
		{"", "/"},
		{"https://evil.example/", "/"},
		{"//evil.example/", "/"},
		{"/\\evil.example", "/"},
		{"\\\\evil.example", "/"},
		{"javascript:alert(1)", "/"},
		{"/\t/evil.example", "/"},
		{"evil", "/"},
		{"http:/evil.example", "/"},
	} {
		r := ts.guest(t).postForm(t, "/login", url.Values{"email": {ts.User.Email}, "password": {testPassword}, "next": {tt.next}})
		if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != tt.want {
			t.Errorf("next=%q: %d, Location %q, want %q", tt.next, r.StatusCode, r.Header.Get("Location"), tt.want)
		}
	}
	// The redirect to the login page carries the page asked for.
	r := ts.guest(t).get(t, "/listings/new?x=1")
	if loc := r.Header.Get("Location"); r.StatusCode != http.StatusSeeOther || loc != "/login?next=%2Flistings%2Fnew%3Fx%3D1" {
		t.Errorf("guest GET /listings/new: %d, Location %q", r.StatusCode, loc)
	}
	if r := ts.guest(t).get(t, "/login?next=%2F%2Fevil.example"); strings.Contains(r.body, "evil.example") {
		t.Error("the login form carries a foreign next")
	}
}

func TestLoginWrongPassword(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	r := ts.guest(t).postForm(t, "/login", url.Values{"email": {ts.User.Email}, "password": {"not the password"}})
	wantPage(t, r, http.StatusUnprocessableEntity)
	if !strings.Contains(r.body, "The email or password is not right.") || sessionCookieOf(ts, r) != nil {
		t.Errorf("wrong password: no message, or a session:\n%.800s", r.body)
	}
	// The right one still works after a failure.
	if c := ts.login(t, ts.User.Email, testPassword); ts.sessionToken(t, c) == "" {
		t.Error("no session after signing in")
	}
}

func TestAPISignupAndTokens(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	g := ts.guest(t)
	r := g.api(t, "POST", "/api/v1/users", `{"email":"api@example.com","display_name":"Api","password":"`+testPassword+`"}`)
	if r.StatusCode != http.StatusCreated || strings.Contains(r.body, "password") {
		t.Fatalf("POST /api/v1/users: %d %s", r.StatusCode, r.body)
	}
	p := wantProblem(t, g.api(t, "POST", "/api/v1/users", `{"email":"API@example.com","display_name":"Api","password":"`+testPassword+`"}`), http.StatusConflict)
	if p.Errors["email"] == "" {
		t.Errorf("taken email: %+v", p)
	}
	wantProblem(t, g.api(t, "POST", "/api/v1/users", `{"email":"b@example.com","display_name":"B","password":"password1"}`), http.StatusUnprocessableEntity)

	r = g.api(t, "POST", "/api/v1/tokens", `{"email":"api@example.com","password":"wrong password","name":"x"}`)
	wantProblem(t, r, http.StatusUnauthorized)
	if !strings.HasPrefix(r.Header.Get("WWW-Authenticate"), "Bearer") {
		t.Error("401 without WWW-Authenticate")
	}
	r = g.api(t, "POST", "/api/v1/tokens", `{"email":"api@example.com","password":"`+testPassword+`","name":"my script"}`)
	if r.StatusCode != http.StatusCreated {
		t.Fatalf("POST /api/v1/tokens: %d %s", r.StatusCode, r.body)
	}
	tok := decode[struct {
		ID    int64  `json:"id"`
		Token string `json:"token"`
	}](t, r)
	if !strings.HasPrefix(tok.Token, "bzr_") {
		t.Fatalf("token %q", tok.Token)
	}
	api := g
	api.Token = tok.Token
	if r := api.api(t, "GET", "/api/v1/me", ""); r.StatusCode != http.StatusOK || !strings.Contains(r.body, `"email":"api@example.com"`) {
		t.Errorf("GET /api/v1/me: %d %s", r.StatusCode, r.body)
	}
	l := api.createAPI(t, lampJSON)
	if r := api.api(t, "GET", "/api/v1/tokens", ""); !strings.Contains(r.body, `"name":"my script"`) || strings.Contains(r.body, tok.Token) {
		t.Errorf("GET /api/v1/tokens shows no token, or a secret: %s", r.body)
	}
	if r := api.api(t, "DELETE", "/api/v1/tokens/"+id(tok.ID), ""); r.StatusCode != http.StatusNoContent {
		t.Fatalf("revoke: %d %s", r.StatusCode, r.body)
	}
	wantProblem(t, api.api(t, "PATCH", "/api/v1/listings/"+id(l.ID), `{"quantity":0}`), http.StatusUnauthorized)
	bad := g
	bad.Token = "nonsense"
	wantProblem(t, bad.api(t, "GET", "/api/v1/me", ""), http.StatusUnauthorized)
}

func TestSellerPages(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	other := ts.as(ts.newUser(t, "Olive Other"))
	mine := ts.createListings(t, 30)
	theirs := other.createAPI(t, `{"name":"Olive's vase","price_cents":900,"quantity":1}`)
	g := ts.guest(t)
	r := g.get(t, "/sellers/"+id(ts.User.ID))
	wantPage(t, r, http.StatusOK)
	if !strings.Contains(r.body, "Listings by Sam Seller") || strings.Contains(r.body, "Olive&#39;s vase") || !strings.Contains(r.body, `rel="next"`) {
		t.Errorf("seller page:\n%.2000s", r.body)
	}
	if !strings.Contains(r.body, "/listings/"+id(mine[29])) || strings.Contains(r.body, `"/listings/`+id(mine[0])+`"`) {
		t.Error("the first page is not the newest 24")
	}
	page := decode[struct {
		Seller struct {
			ID          int64  `json:"id"`
			DisplayName string `json:"display_name"`
		} `json:"seller"`
		Listings   []apiListing `json:"listings"`
		NextBefore *int64       `json:"next_before"`
	}](t, g.api(t, "GET", "/api/v1/sellers/"+id(other.User.ID), ""))
	if page.Seller.DisplayName != "Olive Other" || len(page.Listings) != 1 || page.Listings[0].ID != theirs.ID || page.NextBefore != nil {
		t.Errorf("GET /api/v1/sellers/{id} = %+v", page)
	}
	wantPage(t, g.get(t, "/sellers/999999"), http.StatusNotFound)
	wantProblem(t, g.api(t, "GET", "/api/v1/sellers/999999", ""), http.StatusNotFound)
}

// TestSessionLifetimes: a session unused for the idle timeout ends (its
// row is deleted), and so does any session at its absolute lifetime.
func TestSessionLifetimes(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name           string
		idle, lifetime time.Duration
		touch          bool // use the session halfway
	}{
		{"idle", time.Second, time.Hour, false},
		{"absolute", 3 * time.Second, 1500 * time.Millisecond, true}, // used at 0.8s: not idle at 2s
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ts := newTestServer(t, func(c *web.Config) { c.SessionIdle, c.SessionLifetime = tt.idle, tt.lifetime })
			c := ts.login(t, ts.User.Email, testPassword)
			token := ts.sessionToken(t, c)
			if tt.touch {
				time.Sleep(800 * time.Millisecond) // waiting for time to pass, not for readiness
				if !ts.signedIn(t, c) {
					t.Fatal("signed out before any limit")
				}
			}
			time.Sleep(1200 * time.Millisecond)
			if ts.signedIn(t, c) {
				t.Errorf("still signed in after the %s limit", tt.name)
			}
			if ok, _ := ts.DB.SessionExists(context.Background(), token); ok {
				t.Errorf("the session row outlived the %s limit", tt.name)
			}
		})
	}
}
