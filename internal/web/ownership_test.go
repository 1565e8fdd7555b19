package web_test

import (
	"context"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/bazaarhq/bazaar/internal/photo/phototest"
)

// routesInSource returns every route pattern registered in routes.go, as
// written there ("POST /listings/{id}").
func routesInSource(t *testing.T) []string {
	t.Helper()
	src, err := os.ReadFile("routes.go")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, m := range regexp.MustCompile(`mux\.Handle(?:Func|Upload)?\("([A-Z]+ [^"]+)"`).FindAllStringSubmatch(string(src), -1) {
		out = append(out, m[1])
	}
	if len(out) < 20 {
		t.Fatalf("found only %d routes in routes.go; has its form changed?", len(out))
	}
	return out
}

// publicRoutes take no object id and act on no user's data: anyone may
// use them, and what they answer does not depend on who asks (beyond the
// page header naming the signed-in user). Every other route is in
// ownershipCases.
var publicRoutes = []string{
	"GET /{$}",
	"GET /search",
	"GET /c/{slug}",
	"GET /static/{version}/{file...}",
	"GET /signup",
	"POST /signup",
	"GET /login",
	"POST /login",
	"GET /api/v1/listings",
	"GET /api/v1/categories",
	"GET /api/v1/suggest",
	"GET /api/v1/openapi.yaml",
	"POST /api/v1/users",
	// A reset acts on the account its link names, whoever follows it: the
	// link is the credential (TestPasswordResetThroughTheOutbox).
	"GET /password/forgot",
	"POST /password/forgot",
	"GET /password/reset",
	"POST /password/reset",
	"GET /healthz",
	"GET /readyz",
	"GET /metrics",
}

// fixture is what one ownership case runs against: a listing and an API
// token of the owner, made fresh for each case, and the three people.
type fixture struct {
	owner, other, guest *testServer
	listing, token      int64
	// Buying (ownership_buying_test.go): a third person, their listing,
	// an order the owner bought from them and one they bought from the
	// owner, made by a case's setup.
	third          *testServer
	thirdListing   int64
	purchase, sale int64
	photo          int64 // made by fixturePhoto when a case needs one
}

// fixturePhoto is a photo of the fixture's listing, uploaded by its owner
// the first time a case asks for it.
func fixturePhoto(t *testing.T, f *fixture) int64 {
	t.Helper()
	if f.photo == 0 {
		r := f.owner.uploadAPI(t, f.listing, "p.jpg", phototest.JPEG(phototest.Quadrants(64, 48)))
		if r.StatusCode != http.StatusCreated {
			t.Fatalf("fixture photo: %d %s", r.StatusCode, r.body)
		}
		f.photo = decode[apiPhotoJSON](t, r).ID
	}
	return f.photo
}

// photoIntact checks that the fixture's photo is still there, the cover.
func photoIntact(t *testing.T, f *fixture) {
	t.Helper()
	ps := decode[struct{ Photos []apiPhotoJSON }](t, f.guest.get(t, "/api/v1/listings/"+id(f.listing)+"/photos")).Photos
	if len(ps) != 1 || ps[0].ID != f.photo || ps[0].Position != 0 {
		t.Errorf("the owner's photos changed: %+v", ps)
	}
}

// photoPath is the path of a change to the fixture's photo.
func photoPath(t *testing.T, f *fixture, prefix, suffix string) string {
	return prefix + "/listings/" + id(f.listing) + "/photos/" + id(fixturePhoto(t, f)) + suffix
}

// ownershipCase is one route tried as its owner, another user and a guest:
// the status each gets, and a check (run after the other user and the
// guest had their go, before the owner) that they changed nothing.
type ownershipCase struct {
	route string
	// do sends the request as who.
	do                  func(t *testing.T, f *fixture, who *testServer) *response
	owner, other, guest int
	// body, when set, checks an answer's body for who.
	body func(t *testing.T, f *fixture, who string, r *response)
	// intact checks that the owner's object survived the others' tries.
	intact func(t *testing.T, f *fixture)
	// setup, when set, prepares the fixture further before anyone tries.
	setup func(t *testing.T, f *fixture)
	// guestServed: a guest's 303 is the route's answer to a visitor (the
	// visitor's cart), not a request to sign in.
	guestServed bool
}

func id(n int64) string { return strconv.FormatInt(n, 10) }

// listingIntact checks that the fixture's listing is still as it was made.
func listingIntact(t *testing.T, f *fixture) {
	t.Helper()
	r := f.guest.get(t, "/api/v1/listings/"+id(f.listing))
	if r.StatusCode != http.StatusOK {
		t.Fatalf("the owner's listing is gone: %d", r.StatusCode)
	}
	if l := decode[apiListing](t, r); l.Name != "Brass lamp" || l.Quantity != 2 || l.SellerID != f.owner.User.ID {
		t.Errorf("the owner's listing changed: %+v", l)
	}
}

// tokenIntact checks that the owner's token still works.
func tokenIntact(t *testing.T, f *fixture) {
	t.Helper()
	if r := f.owner.api(t, "GET", "/api/v1/me", ""); r.StatusCode != http.StatusOK {
		t.Errorf("the owner's token stopped working: %d", r.StatusCode)
	}
}

var ownershipCases = []ownershipCase{
	// Listings: anyone reads them; only the seller changes them, anyone
	// else finds nothing there; a guest is asked to sign in.
	{route: "GET /listings/{id}", owner: 200, other: 200, guest: 200,
		do: func(t *testing.T, f *fixture, w *testServer) *response { return w.get(t, "/listings/"+id(f.listing)) },
		body: func(t *testing.T, f *fixture, who string, r *response) {
			edit := strings.Contains(r.body, "/listings/"+id(f.listing)+"/edit")
			del := strings.Contains(r.body, "/listings/"+id(f.listing)+"/delete")
			if (who == "owner") != edit || (who == "owner") != del {
				t.Errorf("%s sees edit control %v, delete control %v; only the owner should", who, edit, del)
			}
			if !strings.Contains(r.body, `href="/sellers/`+id(f.owner.User.ID)+`"`) || !strings.Contains(r.body, "Sam Seller") {
				t.Errorf("%s: the page does not name and link its seller", who)
			}
		}},
	{route: "GET /listings/{id}/edit", owner: 200, other: 404, guest: 303,
		do: func(t *testing.T, f *fixture, w *testServer) *response {
			return w.get(t, "/listings/"+id(f.listing)+"/edit")
		}},
	{route: "POST /listings/{id}", owner: 303, other: 404, guest: 303, intact: listingIntact,
		do: func(t *testing.T, f *fixture, w *testServer) *response {
			form := validForm()
			form.Set("name", "Taken over")
			return w.postForm(t, "/listings/"+id(f.listing), form)
		}},
	{route: "POST /listings/{id}/delete", owner: 303, other: 404, guest: 303, intact: listingIntact,
		do: func(t *testing.T, f *fixture, w *testServer) *response {
			return w.postForm(t, "/listings/"+id(f.listing)+"/delete", nil)
		}},
	{route: "GET /api/v1/listings/{id}", owner: 200, other: 200, guest: 200,
		do: func(t *testing.T, f *fixture, w *testServer) *response {
			return w.api(t, "GET", "/api/v1/listings/"+id(f.listing), "")
		}},
	{route: "PATCH /api/v1/listings/{id}", owner: 200, other: 404, guest: 401, intact: listingIntact,
		do: func(t *testing.T, f *fixture, w *testServer) *response {
			return w.api(t, "PATCH", "/api/v1/listings/"+id(f.listing), `{"name":"Taken over","quantity":0}`)
		}},
	{route: "DELETE /api/v1/listings/{id}", owner: 204, other: 404, guest: 401, intact: listingIntact,
		do: func(t *testing.T, f *fixture, w *testServer) *response {
			return w.api(t, "DELETE", "/api/v1/listings/"+id(f.listing), "")
		}},
	// Creating a listing needs a user, who becomes its seller.
	{route: "GET /listings/new", owner: 200, other: 200, guest: 303,
		do: func(t *testing.T, f *fixture, w *testServer) *response { return w.get(t, "/listings/new") }},
	{route: "POST /listings", owner: 303, other: 303, guest: 303,
		do: func(t *testing.T, f *fixture, w *testServer) *response {
			return w.postForm(t, "/listings", validForm())
		},
		body: func(t *testing.T, f *fixture, who string, r *response) {
			if loc := r.Header.Get("Location"); (who == "guest") != strings.HasPrefix(loc, "/login?next=") {
				t.Errorf("%s: Location = %q", who, loc)
			}
		}},
	{route: "POST /api/v1/listings", owner: 201, other: 201, guest: 401,
		do: func(t *testing.T, f *fixture, w *testServer) *response {
			return w.api(t, "POST", "/api/v1/listings", lampJSON)
		},
		body: func(t *testing.T, f *fixture, who string, r *response) {
			want := map[string]int64{"owner": f.owner.User.ID, "other": f.other.User.ID}[who]
			if who != "guest" && decode[apiListing](t, r).SellerID != want {
				t.Errorf("%s: the new listing's seller is not its creator: %s", who, r.body)
			}
		}},
	// Sellers: public pages of public data.
	{route: "GET /sellers/{id}", owner: 200, other: 200, guest: 200,
		do: func(t *testing.T, f *fixture, w *testServer) *response {
			return w.get(t, "/sellers/"+id(f.owner.User.ID))
		},
		body: func(t *testing.T, f *fixture, who string, r *response) {
			if !strings.Contains(r.body, "/listings/"+id(f.listing)) {
				t.Errorf("%s: the seller's page lacks their listing", who)
			}
			if strings.Contains(r.body, f.owner.User.Email) {
				t.Errorf("%s: the seller's page shows their email", who)
			}
		}},
	{route: "GET /api/v1/sellers/{id}", owner: 200, other: 200, guest: 200,
		do: func(t *testing.T, f *fixture, w *testServer) *response {
			return w.api(t, "GET", "/api/v1/sellers/"+id(f.owner.User.ID), "")
		},
		body: func(t *testing.T, f *fixture, who string, r *response) {
			if strings.Contains(r.body, f.owner.User.Email) || !strings.Contains(r.body, `"id":`+id(f.listing)) {
				t.Errorf("%s: %s", who, r.body)
			}
		}},
	// The caller's own account data.
	{route: "GET /api/v1/me", owner: 200, other: 200, guest: 401,
		do: func(t *testing.T, f *fixture, w *testServer) *response { return w.api(t, "GET", "/api/v1/me", "") },
		body: func(t *testing.T, f *fixture, who string, r *response) {
			if who != "guest" && !strings.Contains(r.body, `"id":`+id(map[string]int64{"owner": f.owner.User.ID, "other": f.other.User.ID}[who])) {
				t.Errorf("%s: /api/v1/me = %s", who, r.body)
			}
		}},
	{route: "GET /api/v1/tokens", owner: 200, other: 200, guest: 401,
		do: func(t *testing.T, f *fixture, w *testServer) *response { return w.api(t, "GET", "/api/v1/tokens", "") },
		body: func(t *testing.T, f *fixture, who string, r *response) {
			if who != "guest" && (who == "owner") != strings.Contains(r.body, `"id":`+id(f.token)+`,`) {
				t.Errorf("%s: token list %s; the owner's token %d must be in the owner's list only", who, r.body, f.token)
			}
		}},
	{route: "POST /api/v1/tokens", owner: 201, other: 201, guest: 401,
		do: func(t *testing.T, f *fixture, w *testServer) *response {
			return w.api(t, "POST", "/api/v1/tokens", `{"name":"another"}`)
		}},
	{route: "DELETE /api/v1/tokens/{id}", owner: 204, other: 404, guest: 401, intact: tokenIntact,
		do: func(t *testing.T, f *fixture, w *testServer) *response {
			// The owner revokes another of their tokens, so that the
			// request is not authenticated by the token it revokes.
			return w.api(t, "DELETE", "/api/v1/tokens/"+id(f.token), "")
		}},
	// The account page and its forms act on the signed-in user's own
	// account; another user's token id is a 404.
	{route: "GET /account", owner: 200, other: 200, guest: 303,
		do: func(t *testing.T, f *fixture, w *testServer) *response { return w.get(t, "/account") },
		body: func(t *testing.T, f *fixture, who string, r *response) {
			if (who == "owner") != strings.Contains(r.body, f.owner.User.Email) {
				t.Errorf("%s: the account page shows the wrong account", who)
			}
		}},
	{route: "POST /account/name", owner: 303, other: 303, guest: 303,
		do: func(t *testing.T, f *fixture, w *testServer) *response {
			name := "Sam Seller"
			if w.User != nil {
				name = w.User.Name
			}
			return w.postForm(t, "/account/name", url.Values{"display_name": {name}})
		}},
	{route: "POST /account/password", owner: 422, other: 422, guest: 303,
		do: func(t *testing.T, f *fixture, w *testServer) *response {
			return w.postForm(t, "/account/password", url.Values{"current_password": {testPassword}, "new_password": {"x"}})
		}},
	{route: "POST /account/tokens", owner: 303, other: 303, guest: 303,
		do: func(t *testing.T, f *fixture, w *testServer) *response {
			return w.postForm(t, "/account/tokens", url.Values{"name": {"page token"}})
		}},
	{route: "POST /account/tokens/{id}/delete", owner: 303, other: 404, guest: 303, intact: tokenIntact,
		do: func(t *testing.T, f *fixture, w *testServer) *response {
			return w.postForm(t, "/account/tokens/"+id(f.token)+"/delete", nil)
		}},
	// Photos: anyone sees them; only the seller adds, moves or deletes.
	{route: "GET /api/v1/listings/{id}/photos", owner: 200, other: 200, guest: 200,
		do: func(t *testing.T, f *fixture, w *testServer) *response {
			fixturePhoto(t, f)
			return w.get(t, "/api/v1/listings/"+id(f.listing)+"/photos")
		}},
	{route: "GET /api/v1/listings/{id}/photos/{photo_id}", owner: 200, other: 200, guest: 200,
		do: func(t *testing.T, f *fixture, w *testServer) *response {
			return w.get(t, photoPath(t, f, "/api/v1", ""))
		}},
	{route: "POST /api/v1/listings/{id}/photos", owner: 201, other: 404, guest: 401,
		intact: func(t *testing.T, f *fixture) {
			if r := f.guest.get(t, "/api/v1/listings/"+id(f.listing)+"/photos"); !strings.Contains(r.body, `"photos":[]`) {
				t.Errorf("others added photos: %s", r.body)
			}
		},
		do: func(t *testing.T, f *fixture, w *testServer) *response {
			return w.uploadAPI(t, f.listing, "p.jpg", phototest.JPEG(phototest.Quadrants(64, 48)))
		}},
	{route: "PATCH /api/v1/listings/{id}/photos/{photo_id}", owner: 200, other: 404, guest: 401, intact: photoIntact,
		do: func(t *testing.T, f *fixture, w *testServer) *response {
			return w.api(t, "PATCH", photoPath(t, f, "/api/v1", ""), `{"cover":true}`)
		}},
	{route: "DELETE /api/v1/listings/{id}/photos/{photo_id}", owner: 204, other: 404, guest: 401, intact: photoIntact,
		do: func(t *testing.T, f *fixture, w *testServer) *response {
			return w.api(t, "DELETE", photoPath(t, f, "/api/v1", ""), "")
		}},
	{route: "POST /listings/{id}/photos", owner: 303, other: 404, guest: 303,
		intact: func(t *testing.T, f *fixture) {
			if r := f.guest.get(t, "/api/v1/listings/"+id(f.listing)+"/photos"); !strings.Contains(r.body, `"photos":[]`) {
				t.Errorf("others added photos: %s", r.body)
			}
		},
		do: func(t *testing.T, f *fixture, w *testServer) *response {
			return w.postMultipart(t, "/listings/"+id(f.listing)+"/photos", nil,
				multipartFile{"photo", "p.jpg", phototest.JPEG(phototest.Quadrants(64, 48))})
		}},
	{route: "POST /listings/{id}/photos/{photo_id}/cover", owner: 303, other: 404, guest: 303, intact: photoIntact,
		do: func(t *testing.T, f *fixture, w *testServer) *response {
			return w.postForm(t, photoPath(t, f, "", "/cover"), nil)
		}},
	{route: "POST /listings/{id}/photos/{photo_id}/move", owner: 303, other: 404, guest: 303, intact: photoIntact,
		do: func(t *testing.T, f *fixture, w *testServer) *response {
			return w.postForm(t, photoPath(t, f, "", "/move"), url.Values{"position": {"0"}})
		}},
	{route: "POST /listings/{id}/photos/{photo_id}/delete", owner: 303, other: 404, guest: 303, intact: photoIntact,
		do: func(t *testing.T, f *fixture, w *testServer) *response {
			return w.postForm(t, photoPath(t, f, "", "/delete"), nil)
		}},
	{route: "POST /logout", owner: 303, other: 303, guest: 303,
		do: func(t *testing.T, f *fixture, w *testServer) *response { return w.postForm(t, "/logout", nil) }},
}

// TestOwnership walks every route that takes an object id or acts on a
// user's data as the owner, another user and a guest. A route in routes.go
// that is neither in this table nor in publicRoutes fails the test.
func TestOwnership(t *testing.T) {
	t.Parallel()
	routes := routesInSource(t)
	cases := slices.Concat(buyingCases, ownershipCases) // POST /logout last: it ends the other user's session
	for _, r := range routes {
		in := slices.Contains(publicRoutes, r) || slices.ContainsFunc(cases, func(c ownershipCase) bool { return c.route == r })
		if !in {
			t.Errorf("route %q is in routes.go but neither in ownershipCases nor in publicRoutes: say who may use it", r)
		}
	}
	for _, c := range cases {
		if !slices.Contains(routes, c.route) {
			t.Errorf("ownershipCases has %q, which routes.go does not", c.route)
		}
	}
	ts := newTestServer(t)
	other := ts.as(ts.newUser(t, "Olive Other"))
	for _, c := range cases {
		t.Run(c.route, func(t *testing.T) {
			// A fresh listing and token of the owner for each case, so
			// that one case's delete leaves the next its objects.
			f := &fixture{owner: ts, other: other, guest: ts.guest(t)}
			f.listing = ts.createAPI(t, lampJSON).ID
			tok, _, err := ts.DB.CreateAPIToken(context.Background(), ts.User.ID, "fixture")
			if err != nil {
				t.Fatal(err)
			}
			f.token = tok.ID
			if c.route == "POST /logout" {
				f.owner = ts.as(ts.newUser(t, "Sam Seller")) // a session of its own, not the shared one
			}
			if c.setup != nil {
				c.setup(t, f)
			}
			for _, who := range []struct {
				name string
				ts   *testServer
				want int
			}{{"other", f.other, c.other}, {"guest", f.guest, c.guest}, {"owner", f.owner, c.owner}} {
				if who.name == "owner" && c.intact != nil {
					c.intact(t, f)
				}
				r := c.do(t, f, who.ts)
				if r.StatusCode != who.want {
					t.Errorf("as %s: status = %d, want %d; body:\n%.400s", who.name, r.StatusCode, who.want, r.body)
					continue
				}
				switch {
				case who.want == http.StatusSeeOther && who.name == "guest" && c.route != "POST /logout" && !c.guestServed:
					loc := r.Header.Get("Location")
					u, err := url.Parse(loc)
					if err != nil || u.Path != "/login" || u.Host != "" || !strings.HasPrefix(u.Query().Get("next"), "/") {
						t.Errorf("as guest: Location = %q, want a relative /login?next=<local path>", loc)
					}
				case who.want == http.StatusUnauthorized:
					wantProblem(t, r, http.StatusUnauthorized)
					if !strings.HasPrefix(r.Header.Get("WWW-Authenticate"), "Bearer") {
						t.Errorf("as guest: 401 without WWW-Authenticate: Bearer")
					}
				case who.want == http.StatusNotFound && strings.Contains(c.route, "/api/"):
					wantProblem(t, r, http.StatusNotFound)
				case who.want == http.StatusNotFound:
					wantPage(t, r, http.StatusNotFound)
				}
				if c.body != nil {
					c.body(t, f, who.name, r)
				}
			}
		})
	}
}

// TestCrossSiteRefusedOnEveryUnsafeRoute: every state-changing route in
// routes.go answers 403 to a browser's cross-site request, told by
// Sec-Fetch-Site or, from browsers without it, by a foreign Origin, even
// with a signed-in user's cookie; and nothing changes.
func TestCrossSiteRefusedOnEveryUnsafeRoute(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	l := ts.createAPI(t, lampJSON)
	param := regexp.MustCompile(`\{[a-z_]+(\.\.\.)?\}`)
	n := 0
	for _, route := range routesInSource(t) {
		method, pattern, _ := strings.Cut(route, " ")
		if method == http.MethodGet || method == http.MethodHead {
			continue
		}
		n++
		path := param.ReplaceAllString(pattern, id(l.ID))
		for _, hdr := range [][]string{
			{"Sec-Fetch-Site", "cross-site"},
			{"Origin", "https://evil.example"},
		} {
			t.Run(route+" "+hdr[0], func(t *testing.T) {
				h := append([]string{"Content-Type", "application/x-www-form-urlencoded", "Authorization", "Bearer " + ts.Token}, hdr...)
				if strings.HasPrefix(path, "/api/") {
					h[1] = "application/json"
				}
				r := ts.do(t, method, path, strings.NewReader(""), h)
				if r.StatusCode != http.StatusForbidden {
					t.Errorf("status = %d, want 403; body:\n%.300s", r.StatusCode, r.body)
				}
				if r.Header.Get("Set-Cookie") != "" {
					t.Error("a refused request set a cookie")
				}
			})
		}
	}
	if n < 8 {
		t.Errorf("only %d unsafe routes found", n)
	}
	if got := decode[apiListing](t, ts.get(t, "/api/v1/listings/"+id(l.ID))); got != l {
		t.Errorf("cross-site requests changed the listing: %+v, was %+v", got, l)
	}
	if r := ts.api(t, "GET", "/api/v1/me", ""); r.StatusCode != http.StatusOK {
		t.Errorf("cross-site requests ended the session or token: /api/v1/me = %d", r.StatusCode)
	}
}
