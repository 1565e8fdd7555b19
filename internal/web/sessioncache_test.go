package web_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/bazaarhq/bazaar/internal/postgres/postgrestest"
)

// TestSignOutAcrossReplicas: two instances on one database, each with its
// own session cache. A session that instance b remembers is refused by b
// within a second of its user signing out through a, and a session b
// never read is refused at once.
func TestSignOutAcrossReplicas(t *testing.T) {
	t.Parallel()
	dbURL := postgrestest.NewURL(t)
	a := newCachedReplica(t, postgrestest.Open(t, dbURL))
	b := newCachedReplica(t, postgrestest.Open(t, dbURL))
	u := a.newUser(t, "Ann")
	token := a.sessionToken(t, u.Client)

	// A form that fails its checks: a signed-in seller is shown it again
	// (422), anyone else is sent to sign in (303); nothing is written.
	bad := url.Values{"name": {""}, "price": {"1.00"}, "quantity": {"1"}}
	withOldCookie := func(r *cachedReplica) int {
		c := newClient(t)
		base, _ := url.Parse(r.URL)
		c.Jar.SetCookies(base, []*http.Cookie{{Name: r.Srv.SessionCookieName(), Value: token}})
		s := *r.testServer
		s.Client = c
		resp := s.postForm(t, "/listings", bad)
		if resp.StatusCode == http.StatusSeeOther && !strings.HasPrefix(resp.Header.Get("Location"), "/login") {
			t.Fatalf("POST /listings: redirected to %s", resp.Header.Get("Location"))
		}
		return resp.StatusCode
	}
	for range 3 { // b reads the session, then answers from memory
		if got := withOldCookie(b); got != http.StatusUnprocessableEntity {
			t.Fatalf("signed in, through b: %d, want 422", got)
		}
	}

	if r := a.as(u).postForm(t, "/logout", url.Values{}); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("POST /logout through a: %d", r.StatusCode)
	}
	if got := withOldCookie(a); got != http.StatusSeeOther {
		t.Fatalf("the ended session through a: %d, want 303 to sign in", got)
	}
	start := time.Now()
	for withOldCookie(b) != http.StatusSeeOther {
		if time.Since(start) > time.Second {
			t.Fatal("b still accepts the ended session after 1s")
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Logf("b refused the ended session after %v", time.Since(start).Round(time.Millisecond))
}
