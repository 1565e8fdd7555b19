package web_test

// Proofs of issue 7 that account_test.go leaves out: the API sign-up's
// stored hash and refusals, and how long a lock-out can last.

import (
	"context"
	"net/http"
	"net/netip"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bazaarhq/bazaar/internal/market"
	"github.com/bazaarhq/bazaar/internal/password"
	"github.com/bazaarhq/bazaar/internal/postgres/postgrestest"
	"github.com/bazaarhq/bazaar/internal/web"
)

// TestAPISignupPasswords: POST /api/v1/users with the hasher production
// builds (Config.Hasher nil) stores, in the users table, argon2id v19 at
// exactly OWASP's lane count and salt (m >= 19456 KiB, t >= 2, p = 1, a
// 16-byte salt); a 1,024-byte password signs up and gets a token, and its
// first 1,023 bytes do not; 1,025 bytes and a common password (in any
// case) are refused with problem+json naming the password, and no user.
func TestAPISignupPasswords(t *testing.T) {
	t.Parallel()
	dbURL := postgrestest.NewURL(t)
	ts := newTestServer(t, func(c *web.Config) { c.DB, c.Hasher = postgrestest.Open(t, dbURL), nil })
	pool := postgrestest.Pool(t, dbURL)
	pw := strings.Repeat("kettle-plum-", 86)[:market.MaxPasswordBytes]
	g := ts.guest(t)
	if r := g.api(t, "POST", "/api/v1/users", `{"email":"long@example.com","display_name":"Long","password":"`+pw+`"}`); r.StatusCode != http.StatusCreated {
		t.Fatalf("1,024-byte password: %d %s", r.StatusCode, r.body)
	}
	var stored string
	if err := pool.QueryRow(context.Background(), `SELECT password_hash FROM users WHERE email = 'long@example.com'`).Scan(&stored); err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`^\$argon2id\$v=19\$m=(\d+),t=(\d+),p=(\d+)\$[A-Za-z0-9+/]+\$[A-Za-z0-9+/]+$`).FindStringSubmatch(stored)
	if m == nil {
		t.Fatalf("stored hash %q is not an argon2id v19 PHC string", stored)
	}
	if mem, _ := strconv.Atoi(m[1]); mem < 19456 {
		t.Errorf("m=%s KiB, want >= 19456", m[1])
	}
	if iter, _ := strconv.Atoi(m[2]); iter < 2 || m[3] != "1" {
		t.Errorf("t=%s, p=%s; want t >= 2, p = 1", m[2], m[3])
	}
	if p, err := password.ParseParams(stored); err != nil || p.SaltLen != 16 || p.KeyLen < 32 {
		t.Errorf("salt %d bytes, key %d bytes (%v); want 16 and >= 32", p.SaltLen, p.KeyLen, err)
	}
	token := func(pw string) int {
		return g.api(t, "POST", "/api/v1/tokens", `{"email":"long@example.com","password":"`+pw+`","name":"t"}`).StatusCode
	}
	if c := token(pw); c != http.StatusCreated {
		t.Errorf("token with the 1,024-byte password: %d, want 201", c)
	}
	if c := token(pw[:1023]); c != http.StatusUnauthorized {
		t.Errorf("token with its first 1,023 bytes: %d, want 401", c)
	}
	for _, tt := range []struct{ name, pw, msg string }{
		{"1,025 bytes", pw + "x", "Password must be at most 1,024 bytes"},
		{"common", "password123", "That password is one of the most common ones; please choose another"},
		{"common, other case", "PassWord123", "That password is one of the most common ones; please choose another"},
	} {
		email := "refused-" + strconv.FormatInt(userSeq.Add(1), 10) + "@example.com"
		p := wantProblem(t, g.api(t, "POST", "/api/v1/users", `{"email":"`+email+`","display_name":"R","password":"`+tt.pw+`"}`), http.StatusUnprocessableEntity)
		if p.Errors["password"] != tt.msg {
			t.Errorf("%s: errors = %v, want password: %q", tt.name, p.Errors, tt.msg)
		}
		var n int
		if err := pool.QueryRow(context.Background(), `SELECT count(*) FROM users WHERE email = $1`, email).Scan(&n); err != nil || n != 0 {
			t.Errorf("%s: the refused sign-up made %d users (%v)", tt.name, n, err)
		}
	}
}

// TestLockoutIsBounded: what bounds how long an attacker can lock a real
// user out. The limit is per account and client address, so the owner at
// any other address is never locked out; at the attacker's address the
// block lasts until the tenth failure leaves the 15-minute window
// (Retry-After says so), and attempts refused during the block are not
// counted, so hammering does not extend it. Time passing is simulated by
// ageing the failures in login_failures.
func TestLockoutIsBounded(t *testing.T) {
	t.Parallel()
	dbURL := postgrestest.NewURL(t)
	ts := newTestServer(t, func(c *web.Config) {
		c.DB = postgrestest.Open(t, dbURL)
		c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32"), netip.MustParsePrefix("::1/128")}
	})
	pool := postgrestest.Pool(t, dbURL)
	age := func(d time.Duration) {
		t.Helper()
		if _, err := pool.Exec(context.Background(), `UPDATE login_failures SET at = at - make_interval(secs => $1)`, d.Seconds()); err != nil {
			t.Fatal(err)
		}
	}
	const attacker, owner = "203.0.113.9", "198.51.100.20"
	signIn := func(client, pw string) *response {
		t.Helper()
		return ts.guest(t).do(t, http.MethodPost, "/login", strings.NewReader(url.Values{"email": {ts.User.Email}, "password": {pw}}.Encode()), []string{
			"Content-Type", "application/x-www-form-urlencoded", "Sec-Fetch-Site", "same-origin", "Origin", ts.URL, "X-Forwarded-For", client,
		})
	}
	retryAfter := func(r *response) time.Duration {
		t.Helper()
		if r.StatusCode != http.StatusTooManyRequests {
			t.Fatalf("status %d, want 429", r.StatusCode)
		}
		secs, err := strconv.Atoi(r.Header.Get("Retry-After"))
		if err != nil {
			t.Fatalf("Retry-After %q", r.Header.Get("Retry-After"))
		}
		return time.Duration(secs) * time.Second
	}
	for i := range market.MaxFailuresPerAccount {
		if r := signIn(attacker, "wrong password"); r.StatusCode != http.StatusUnprocessableEntity {
			t.Fatalf("failure %d: %d, want 422", i+1, r.StatusCode)
		}
	}
	if d := retryAfter(signIn(attacker, testPassword)); d > market.LoginWindow || d < market.LoginWindow-time.Minute {
		t.Errorf("Retry-After after %d failures: %v, want about the window (%v) and never more", market.MaxFailuresPerAccount, d, market.LoginWindow)
	}
	if r := signIn(owner, testPassword); r.StatusCode != http.StatusSeeOther {
		t.Errorf("the owner at another address during the block: %d, want 303", r.StatusCode)
	}
	// Ten seconds before the block ends, the attacker keeps trying: each
	// attempt is refused and none is counted...
	age(market.LoginWindow - 10*time.Second)
	for range 20 {
		if d := retryAfter(signIn(attacker, "wrong password")); d > 11*time.Second {
			t.Fatalf("near the end of the window: Retry-After %v, want at most 11s", d)
		}
	}
	// ...so when those ten seconds have passed, the owner signs in there.
	age(11 * time.Second)
	if r := signIn(attacker, testPassword); r.StatusCode != http.StatusSeeOther {
		t.Errorf("at the attacker's address after the window: %d, want 303 (refused attempts extended the block)", r.StatusCode)
	}
}

// TestSignedInCartCountFromTheSession: a signed-in page's header counts
// the user's cart from the session query (postgres.SessionUser) or, for a
// page answering a POST, from a query of its own, and the
// count is the cart's as it is now, on any replica: changed through the
// API (another request), it shows on the next page view.
func TestSignedInCartCountFromTheSession(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	buyer := ts.as(ts.newUser(t, "Bea Buyer"))
	l := ts.createAPI(t, lampJSON)
	cartCount := func(page string) string {
		m := regexp.MustCompile(`<span class="cart-count"[^>]*>\((\d+)\)</span>`).FindStringSubmatch(page)
		if m == nil {
			return "0" // an empty cart shows no count
		}
		return m[1]
	}
	count := func() string {
		t.Helper()
		return cartCount(buyer.get(t, "/").body)
	}
	if c := count(); c != "0" {
		t.Errorf("empty cart: count %s", c)
	}
	for _, q := range []string{"2", "1"} {
		if r := buyer.api(t, "PUT", "/api/v1/cart/items/"+id(l.ID), `{"quantity":`+q+`}`); r.StatusCode != http.StatusOK {
			t.Fatalf("PUT cart item: %d %s", r.StatusCode, r.body)
		}
		if c := count(); c != q {
			t.Errorf("after setting quantity %s: count %s", q, c)
		}
	}
	// A page answering a POST (the sell form, shown again with its
	// mistake) counts the cart too, though the session query of an unsafe
	// request does not read it (SessionUser.WantCart).
	form := validForm()
	form.Set("price", "abc")
	r := buyer.postForm(t, "/listings", form)
	wantPage(t, r, http.StatusUnprocessableEntity)
	if c := cartCount(r.body); c != "1" {
		t.Errorf("the sell form shown again after a POST: count %s, want 1", c)
	}
}
