package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bazaarhq/bazaar/bench/corpus"
	"github.com/bazaarhq/bazaar/internal/blob"
	"github.com/bazaarhq/bazaar/internal/gallery"
	"github.com/bazaarhq/bazaar/internal/market"
	"github.com/bazaarhq/bazaar/internal/password"
	"github.com/bazaarhq/bazaar/internal/photo"
	"github.com/bazaarhq/bazaar/internal/postgres/postgrestest"
	"github.com/bazaarhq/bazaar/internal/web"
	"github.com/prometheus/client_golang/prometheus"
)

func TestMain(m *testing.M) { postgrestest.Main(m) }

// handlers returns the app's handler and the two floors' on one fresh
// database holding 100 listings, alternately in two leaves of Home &
// Living, most with photos. The app logs JSON as in production, but to
// io.Discard: formatting is counted, the write to stdout is not. Its
// photos are in a directory served under /media, as `bazaar serve`'s
// are by default, and it listens for changes as `bazaar serve` does, so
// its session cache is in use.
func handlers(tb testing.TB) (app, floor, bare http.Handler) {
	tb.Helper()
	return handlersCache(tb, 0)
}

// cachingApp is handlers' app with a page cache in use.
func cachingApp(tb testing.TB) http.Handler {
	tb.Helper()
	app, _, _ := handlersCache(tb, 16<<20)
	waitLive(tb, "bazaar_page_cache_live")
	return app
}

// waitLive waits until the gauge name of the app handlersCache made last
// is 1: its cache hears of changes and is in use.
func waitLive(tb testing.TB, name string) {
	tb.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		mfs, err := cacheRegistry.Gather()
		if err != nil {
			tb.Fatal(err)
		}
		for _, mf := range mfs {
			if mf.GetName() == name && mf.GetMetric()[0].GetGauge().GetValue() == 1 {
				return
			}
		}
		if time.Now().After(deadline) {
			tb.Fatalf("%s was not 1 after 10s", name)
		}
	}
}

// cacheRegistry holds the metrics of the app cachingApp made last.
var cacheRegistry *prometheus.Registry

// handlersCache is handlers with a page cache of cacheBytes (0: none).
func handlersCache(tb testing.TB, cacheBytes int) (app, floor, bare http.Handler) {
	tb.Helper()
	url := postgrestest.NewURL(tb)
	db := postgrestest.Open(tb, url)
	ls := make([]*market.Listing, 100)
	for i := range ls {
		ls[i] = &market.Listing{Name: fmt.Sprintf("Brass lamp #%d", i+1), Description: "A brass lamp.", Price: market.Money{Cents: int64(500 + i)}, Quantity: i % 5,
			Category: []string{"kitchen", "lighting"}[i%2], Condition: market.Conditions[i%len(market.Conditions)]}
	}
	if _, err := db.InsertListings(context.Background(), ls); err != nil {
		tb.Fatal(err)
	}
	pool := postgrestest.Pool(tb, url)
	for _, q := range corpus.PhotosSQL {
		if _, err := pool.Exec(context.Background(), q); err != nil {
			tb.Fatal(err)
		}
	}
	store, err := blob.NewDir(tb.TempDir(), mediaURL)
	if err != nil {
		tb.Fatal(err)
	}
	cacheRegistry = prometheus.NewRegistry()
	srv, err := web.NewServer(web.Config{
		PageCacheBytes: cacheBytes, Registry: cacheRegistry,
		DB: db, Logger: slog.New(slog.NewJSONHandler(io.Discard, nil)), Instance: "bench",
		TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")},
		Photos:         gallery.New(gallery.Config{DB: db, Store: store, Processor: photo.NewProcessor(photo.Config{MaxDecodes: 1})}),
	})
	if err != nil {
		tb.Fatal(err)
	}
	// Listening for changes, as `bazaar serve` does: the session cache,
	// and the page cache if there is one, are in use.
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); srv.WatchChanges(ctx) }()
	tb.Cleanup(func() { cancel(); <-done })
	waitLive(tb, "bazaar_session_cache_live")
	// A seller, signed in through the app: POST /listings needs one, in
	// the app and (by looking the session up) in the floor.
	h, err := password.New(password.OWASP, 1, nil)
	if err != nil {
		tb.Fatal(err)
	}
	u := &market.User{Email: "bench@example.com", DisplayName: "Bench"}
	if u.PasswordHash, err = h.Hash(context.Background(), "plum-tangerine-kettle-42"); err != nil {
		tb.Fatal(err)
	}
	if err := db.CreateUser(context.Background(), u); err != nil {
		tb.Fatal(err)
	}
	w := httptest.NewRecorder()
	srv.ServeHTTP(w, request("POST", "/login", "email=bench%40example.com&password=plum-tangerine-kettle-42"))
	for _, c := range w.Result().Cookies() {
		if c.Name == "bazaar_session" {
			session = c
		}
	}
	if session == nil {
		tb.Fatalf("sign-in: %d, no session cookie", w.Code)
	}
	if floor, err = newHandler(pool); err != nil {
		tb.Fatal(err)
	}
	if bare, err = newBareHandler(pool); err != nil {
		tb.Fatal(err)
	}
	return srv, floor, bare
}

// session is the signed-in seller's cookie that request sends with every
// POST but the sign-in (set by handlers).
var session *http.Cookie

// request is what nginx sends upstream: from loopback, with its request id.
func request(method, target, form string) *http.Request {
	var body io.Reader
	if form != "" {
		body = strings.NewReader(form)
	}
	r := httptest.NewRequest(method, target, body)
	r.RemoteAddr = "127.0.0.1:40000"
	r.Header.Set("X-Request-ID", "0123456789abcdef0123456789abcdef")
	r.Header.Set("X-Forwarded-For", "192.0.2.1")
	if form != "" {
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if method == "POST" && target != "/login" && session != nil {
		r.AddCookie(session)
	}
	return r
}

const form = "name=Bench+lamp&description=A+brass+lamp+in+good+condition.&price=12.50&quantity=3"

// pages are the pages both floors serve, with what each must show.
var pages = []struct {
	path   string
	covers int // <img> elements: covers on a list, photos on a listing page
	text   []string
}{
	// Listings 100 down to 77: all but #97, #87 and #77 have photos.
	{"/", 21, []string{"Brass lamp #100", "5.99 USD", "Sold out", "4 in stock"}},
	// Listing 48: four photos.
	{"/listings/48", 4, []string{"<h1>Brass lamp #48</h1>", "5.47 USD", "2 in stock", "A brass lamp."}},
	// Home & Living: the 100 listings, 50 in each of its two leaves.
	{"/c/home-living", 21, []string{"Home &amp; Living", "100 listings", ">Kitchen</a> (50)", ">Lighting</a> (50)", "Brass lamp #77"}},
}

// TestFloorRendersTheAppsPage guards the comparison: both programs must
// send the same pages (up to the static files' content hash), covers and
// photos included, and answer a valid form the same way.
func TestFloorRendersTheAppsPage(t *testing.T) {
	app, floor, _ := handlers(t)
	hash := regexp.MustCompile(`/static/[0-9a-f]{12}/`)
	for _, p := range pages {
		t.Run(p.path, func(t *testing.T) {
			var bodies [2]string
			for i, h := range []http.Handler{app, floor} {
				w := httptest.NewRecorder()
				h.ServeHTTP(w, request("GET", p.path, ""))
				if w.Code != http.StatusOK {
					t.Fatalf("handler %d: GET %s = %d", i, p.path, w.Code)
				}
				bodies[i] = hash.ReplaceAllString(w.Body.String(), "/static/HASH/")
			}
			if bodies[0] != bodies[1] {
				t.Errorf("pages differ:\napp:\n%s\nfloor:\n%s", bodies[0], bodies[1])
			}
			if n := strings.Count(bodies[1], "<img "); n != p.covers {
				t.Errorf("floor shows %d images, want %d", n, p.covers)
			}
			if n := strings.Count(bodies[1], `src="/media/`); n != p.covers {
				t.Errorf("floor shows %d images from /media, want %d", n, p.covers)
			}
			if p.path != "/listings/48" {
				if n := strings.Count(bodies[1], `class="card"`); n != 24 {
					t.Errorf("floor shows %d listings, want 24", n)
				}
			}
		})
	}
	for i, h := range []http.Handler{app, floor} {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, request("POST", "/listings", form))
		if w.Code != http.StatusSeeOther || !strings.HasPrefix(w.Header().Get("Location"), "/listings/") {
			t.Errorf("handler %d: POST /listings = %d to %q, want 303 to /listings/{id}", i, w.Code, w.Header().Get("Location"))
		}
	}
}

var (
	listingLink = regexp.MustCompile(`href="/listings/[0-9]+"`)
	sellerName  = regexp.MustCompile(`class="seller"[^>]*>([^<]*)<`)
)

// TestBareFloorShowsTheSameListings: the bare floor's pages are its own,
// but they must show the same listings in the same order as the app's,
// with the same covers and photos, or the bench compares different work.
func TestBareFloorShowsTheSameListings(t *testing.T) {
	app, _, bare := handlers(t)
	for _, p := range pages {
		t.Run(p.path, func(t *testing.T) {
			var links [2][]string
			var bodies [2]string
			for i, h := range []http.Handler{app, bare} {
				w := httptest.NewRecorder()
				h.ServeHTTP(w, request("GET", p.path, ""))
				if w.Code != http.StatusOK {
					t.Fatalf("handler %d: GET %s = %d", i, p.path, w.Code)
				}
				bodies[i] = w.Body.String()
				// The app's cards link their listing twice, from the cover too.
				links[i] = slices.Compact(listingLink.FindAllString(bodies[i], -1))
			}
			if strings.Join(links[0], " ") != strings.Join(links[1], " ") {
				t.Errorf("bare floor links %v,\napp links %v", links[1], links[0])
			}
			if n := strings.Count(bodies[1], `<img src="/media/`); n != p.covers {
				t.Errorf("bare floor shows %d images, want %d:\n%s", n, p.covers, bodies[1])
			}
			want := p.text
			if m := sellerName.FindStringSubmatch(bodies[0]); m != nil {
				want = append(slices.Clone(want), "by "+m[1], "Home &amp; Living › ") // as the app's page shows them
			} else if p.path == "/listings/48" {
				t.Fatalf("the app's listing page names no seller:\n%s", bodies[0])
			}
			for _, want := range want {
				if !strings.Contains(bodies[1], want) {
					t.Errorf("bare page lacks %q:\n%s", want, bodies[1])
				}
			}
		})
	}
}

// TestFloorAppliesTheAppsRules: the floor checks a form with market's
// rules, so input the app refuses is refused by the floor too (and the
// floor cannot get cheaper by checking less).
func TestFloorAppliesTheAppsRules(t *testing.T) {
	app, floor, _ := handlers(t)
	for _, form := range []string{
		"name=&description=&price=12.50&quantity=3",
		"name=" + strings.Repeat("x", market.MaxNameLen+1) + "&price=12.50&quantity=3",
		"name=Lamp&price=12%2C50&quantity=3",
		"name=Lamp&price=0&quantity=3",
		"name=Lamp&price=12.50&quantity=100001",
		"name=Lamp%00&price=12.50&quantity=3",
	} {
		for i, h := range []http.Handler{app, floor} {
			w := httptest.NewRecorder()
			h.ServeHTTP(w, request("POST", "/listings", form))
			if w.Code != http.StatusUnprocessableEntity {
				t.Errorf("handler %d: POST %.60s = %d, want 422", i, form, w.Code)
			}
		}
	}
}

// BenchmarkHome, BenchmarkListing, BenchmarkCategory and BenchmarkCreate
// run one request at a time through each handler, without a network. ns/op
// includes the database round trip and moves with the machine's load;
// allocs/op and B/op do not.
func BenchmarkHome(b *testing.B)    { benchRequest(b, "GET", "/", "", http.StatusOK, true) }
func BenchmarkListing(b *testing.B) { benchRequest(b, "GET", "/listings/48", "", http.StatusOK, true) }
func BenchmarkCategory(b *testing.B) {
	benchRequest(b, "GET", "/c/home-living", "", http.StatusOK, true)
}

// BenchmarkCreate has no bare case: the bare floor creates nothing.
func BenchmarkCreate(b *testing.B) {
	benchRequest(b, "POST", "/listings", form, http.StatusSeeOther, false)
}

// benchRequest measures one request against the app and the floor, and
// the bare floor too when withBare, failing on any other status than want.
func benchRequest(b *testing.B, method, path, body string, want int, withBare bool) {
	app, floor, bare := handlers(b)
	type target struct {
		name string
		h    http.Handler
	}
	targets := []target{{"app", app}, {"floor", floor}}
	if withBare {
		targets = append(targets, target{"bare", bare})
	}
	for _, c := range targets {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				w := httptest.NewRecorder()
				c.h.ServeHTTP(w, request(method, path, body))
				if w.Code != want {
					b.Fatalf("%s %s = %d, want %d", method, path, w.Code, want)
				}
			}
		})
	}
}

// BenchmarkCachedListing is an anonymous visitor's listing page from the
// app's page cache: what a hit costs the app itself.
func BenchmarkCachedListing(b *testing.B) {
	app := cachingApp(b)
	b.ReportAllocs()
	for b.Loop() {
		w := httptest.NewRecorder()
		r := request("GET", "/listings/48", "")
		app.ServeHTTP(w, r)
		if w.Code != http.StatusOK {
			b.Fatalf("GET /listings/48 = %d", w.Code)
		}
	}
}
