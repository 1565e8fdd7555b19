package web_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bazaarhq/bazaar/internal/postgres"
	"github.com/bazaarhq/bazaar/internal/postgres/postgrestest"
	"github.com/bazaarhq/bazaar/internal/web"
	"github.com/prometheus/client_golang/prometheus"
)

// cachedReplica is one app instance with its page cache on, listening for
// changes, and its metrics.
type cachedReplica struct {
	*testServer
	reg *prometheus.Registry
}

// newCachedReplica starts an instance on db (nil: a fresh database) with a
// page cache and waits until the cache is in use.
func newCachedReplica(t *testing.T, db *postgres.DB) *cachedReplica {
	t.Helper()
	reg := prometheus.NewRegistry()
	ts := newTestServer(t, func(c *web.Config) {
		if db != nil {
			c.DB = db
		}
		c.PageCacheBytes = 1 << 20
		c.Registry = reg
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); ts.Srv.WatchChanges(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	r := &cachedReplica{testServer: ts, reg: reg}
	r.waitMetric(t, "bazaar_page_cache_live", 1)
	return r
}

// metric returns the value of the unlabelled metric name.
func (r *cachedReplica) metric(t *testing.T, name string) float64 {
	t.Helper()
	mfs, err := r.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			m := mf.GetMetric()[0]
			if c := m.GetCounter(); c != nil {
				return c.GetValue()
			}
			return m.GetGauge().GetValue()
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}

func (r *cachedReplica) waitMetric(t *testing.T, name string, want float64) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); r.metric(t, name) != want; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s = %v after 10s, want %v", name, r.metric(t, name), want)
		}
	}
}

// visit fetches path as an anonymous visitor would: no cookies.
func (r *cachedReplica) visit(t *testing.T, path string) (int, string) {
	t.Helper()
	resp, err := http.Get(r.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// cached fetches path until an answer comes from the cache: the page is
// in it now. (A notice of an earlier write may still arrive and drop the
// first copy, so it tries a few times.)
func (r *cachedReplica) cached(t *testing.T, path string) string {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); ; {
		hits := r.metric(t, "bazaar_page_cache_hits_total")
		_, body := r.visit(t, path)
		if r.metric(t, "bazaar_page_cache_hits_total") == hits+1 {
			return body
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET %s: no answer from the cache after 5s", path)
		}
	}
}

// within polls path on r until ok accepts the answer, failing after a
// second: the time a change may take to reach every replica.
func (r *cachedReplica) within(t *testing.T, what, path string, ok func(status int, body string) bool) {
	t.Helper()
	start := time.Now()
	for {
		status, body := r.visit(t, path)
		if ok(status, body) {
			t.Logf("%s: visible after %v", what, time.Since(start).Round(time.Millisecond))
			return
		}
		if time.Since(start) > time.Second {
			t.Fatalf("%s: GET %s still answers %d, the old page, after 1s:\n%.600s", what, path, status, body)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestPageCacheAcrossReplicas: two instances on one database, each with
// its page cache. Every kind of change made through one (create, edit,
// stock change, sale of the last unit, delete) shows on the other within a
// second, although the other had the old pages in its cache.
func TestPageCacheAcrossReplicas(t *testing.T) {
	t.Parallel()
	a := newCachedReplica(t, nil)
	b := newCachedReplica(t, a.DB)
	l := a.createAPI(t, `{"name":"Brass lamp","price_cents":1250,"quantity":2}`)
	path := "/listings/" + strconv.FormatInt(l.ID, 10)

	b.cached(t, "/")
	b.cached(t, path)
	form := url.Values{"name": {"Copper lamp"}, "description": {""}, "price": {"14.00"}, "quantity": {"2"}}
	if r := a.postForm(t, path, form); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("edit through a: %d %s", r.StatusCode, r.body)
	}
	for _, p := range []string{"/", path} {
		b.within(t, "edit on "+p, p, func(_ int, body string) bool { return strings.Contains(body, "Copper lamp") })
	}

	b.cached(t, path)
	if r := a.api(t, http.MethodPatch, "/api/v1"+path, `{"quantity":1}`); r.StatusCode != http.StatusOK {
		t.Fatalf("stock change through a: %d %s", r.StatusCode, r.body)
	}
	b.within(t, "stock change", path, func(_ int, body string) bool { return strings.Contains(body, "1 in stock") })

	b.cached(t, "/")
	if r := a.api(t, http.MethodPatch, "/api/v1"+path, `{"quantity":0}`); r.StatusCode != http.StatusOK {
		t.Fatalf("last unit through a: %d %s", r.StatusCode, r.body)
	}
	b.within(t, "sold out", "/", func(_ int, body string) bool { return strings.Contains(body, "Sold out") })

	b.cached(t, "/")
	other := a.createAPI(t, `{"name":"Tin whistle","price_cents":300,"quantity":5}`)
	b.within(t, "create", "/", func(_ int, body string) bool { return strings.Contains(body, "Tin whistle") })

	b.cached(t, path)
	b.cached(t, "/")
	if r := a.postForm(t, path+"/delete", url.Values{}); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("delete through a: %d %s", r.StatusCode, r.body)
	}
	b.within(t, "delete", path, func(status int, _ string) bool { return status == http.StatusNotFound })
	b.within(t, "delete on /", "/", func(_ int, body string) bool { return !strings.Contains(body, "Copper lamp") })

	// The other listing's page was not dropped by changes to this one.
	b.cached(t, "/listings/"+strconv.FormatInt(other.ID, 10))
}

// TestPageCacheListenerFailover: when the connection listening for changes
// dies (here: its backend is terminated, as in a database failover), the
// cache is emptied and serves nothing until a new connection listens; a
// change made meanwhile is never hidden behind an old page, and
// invalidation works again afterwards.
func TestPageCacheListenerFailover(t *testing.T) {
	t.Parallel()
	url := postgrestest.NewURL(t)
	db := postgrestest.Open(t, url)
	pool := postgrestest.Pool(t, url)
	r := newCachedReplica(t, db)
	l := r.createAPI(t, `{"name":"Brass lamp","price_cents":1250,"quantity":2}`)
	path := "/listings/" + strconv.FormatInt(l.ID, 10)
	r.cached(t, path)
	r.cached(t, "/")

	ctx := context.Background()
	listener := func() int {
		var pid int
		err := pool.QueryRow(ctx, `SELECT coalesce(max(pid), 0) FROM pg_stat_activity WHERE datname = current_database() AND application_name = $1`, postgres.ListenerName).Scan(&pid)
		if err != nil {
			t.Fatal(err)
		}
		return pid
	}
	old := listener()
	if old == 0 {
		t.Fatal("no listening connection in pg_stat_activity")
	}
	var killed bool
	if err := pool.QueryRow(ctx, `SELECT pg_terminate_backend($1)`, old).Scan(&killed); err != nil || !killed {
		t.Fatalf("pg_terminate_backend(%d) = %v, %v", old, killed, err)
	}
	// A change while the listener may be down: whether it is heard or not,
	// no replica may go on showing the old page.
	if _, err := pool.Exec(ctx, `UPDATE listings SET quantity = 7 WHERE id = $1`, l.ID); err != nil {
		t.Fatal(err)
	}
	r.within(t, "change during failover", path, func(_ int, body string) bool { return strings.Contains(body, "7 in stock") })

	// A new connection listens, and the cache started again from empty.
	for deadline := time.Now().Add(10 * time.Second); listener() == old || listener() == 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no new listening connection after 10s")
		}
	}
	r.waitMetric(t, "bazaar_page_cache_live", 1)
	if pages := r.metric(t, "bazaar_page_cache_pages"); pages > 1 {
		t.Errorf("%v pages in the cache after the new connection listened, want it flushed (at most the page fetched since)", pages)
	}
	misses := r.metric(t, "bazaar_page_cache_misses_total")
	if _, body := r.visit(t, "/"); !strings.Contains(body, "Brass lamp") || r.metric(t, "bazaar_page_cache_misses_total") != misses+1 {
		t.Errorf("GET / after the failover was not a miss: the cache kept a page from before")
	}

	// Invalidation resumed.
	r.cached(t, path)
	if _, err := pool.Exec(ctx, `UPDATE listings SET quantity = 3 WHERE id = $1`, l.ID); err != nil {
		t.Fatal(err)
	}
	r.within(t, "change after failover", path, func(_ int, body string) bool { return strings.Contains(body, "3 in stock") })
}

// TestPageCacheSharesNothingPersonal: a visitor with a cookie or an
// Authorization header is neither served from the shared cache nor put
// into it, and a response that sets a cookie (a flash message) is not
// stored.
func TestPageCacheSharesNothingPersonal(t *testing.T) {
	t.Parallel()
	r := newCachedReplica(t, nil)
	id := r.createForm(t, validForm()) // the client now holds the "created" flash cookie
	path := "/listings/" + strconv.FormatInt(id, 10)
	for _, hdr := range [][]string{{"Cookie", "bazaar_session=abc"}, {"Authorization", "Bearer abc"}} {
		before := r.metric(t, "bazaar_page_cache_pages")
		for range 2 {
			req, err := http.NewRequest(http.MethodGet, r.URL+path, nil)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set(hdr[0], hdr[1])
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
		}
		if got := r.metric(t, "bazaar_page_cache_pages"); got != before {
			t.Errorf("with %s: the cache went from %v to %v pages", hdr[0], before, got)
		}
	}
	if r.metric(t, "bazaar_page_cache_hits_total") != 0 || r.metric(t, "bazaar_page_cache_misses_total") != 0 {
		t.Errorf("requests with credentials looked in the cache")
	}
	if resp := r.get(t, path); !strings.Contains(resp.body, "Your listing is live.") {
		t.Fatalf("no flash message on the first visit:\n%s", resp.body)
	}
	if _, body := r.visit(t, path); strings.Contains(body, "Your listing is live.") {
		t.Error("an anonymous visitor sees someone's flash message")
	}
}

// TestPageCacheStoresNoCookie: a response that sets a cookie, even to a
// visitor who sent none, is not stored (a session starting, say).
func TestPageCacheStoresNoCookie(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	setsCookie := web.WithInnerMiddleware(func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.SetCookie(w, &http.Cookie{Name: "bazaar_session", Value: "new", Path: "/"})
			next.ServeHTTP(w, r)
		})
	})
	ts := newTestServer(t, setsCookie, func(c *web.Config) { c.PageCacheBytes = 1 << 20; c.Registry = reg })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); ts.Srv.WatchChanges(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	r := &cachedReplica{testServer: ts, reg: reg}
	r.waitMetric(t, "bazaar_page_cache_live", 1)
	for range 2 {
		if status, _ := r.visit(t, "/"); status != http.StatusOK {
			t.Fatalf("GET / = %d", status)
		}
	}
	if pages, hits := r.metric(t, "bazaar_page_cache_pages"), r.metric(t, "bazaar_page_cache_hits_total"); pages != 0 || hits != 0 {
		t.Errorf("a page that sets a cookie: %v pages cached, %v hits; want none", pages, hits)
	}
}

// TestPageCacheBounded: the cache holds at most its size in bytes,
// dropping the least recently used pages first.
func TestPageCacheBounded(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	ts := newTestServer(t, func(c *web.Config) { c.PageCacheBytes = 32 << 10; c.Registry = reg })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); ts.Srv.WatchChanges(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	r := &cachedReplica{testServer: ts, reg: reg}
	r.waitMetric(t, "bazaar_page_cache_live", 1)
	ids := ts.createListings(t, 40)
	for _, id := range ids {
		r.visit(t, "/listings/"+strconv.FormatInt(id, 10))
	}
	size, max := r.metric(t, "bazaar_page_cache_bytes"), r.metric(t, "bazaar_page_cache_max_bytes")
	if size > max || size == 0 {
		t.Errorf("cache holds %v bytes, want some and at most %v", size, max)
	}
	if r.metric(t, "bazaar_page_cache_evictions_total") == 0 {
		t.Errorf("40 listing pages fit in %v bytes: make them bigger or the cache smaller", max)
	}
	// The newest page is still there; the first has gone.
	r.cached(t, "/listings/"+strconv.FormatInt(ids[len(ids)-1], 10))
	misses := r.metric(t, "bazaar_page_cache_misses_total")
	r.visit(t, "/listings/"+strconv.FormatInt(ids[0], 10))
	if r.metric(t, "bazaar_page_cache_misses_total") != misses+1 {
		t.Error("the least recently used page was not the one dropped")
	}
}

// TestPageCacheHitLooksLikeAMiss: a page from the cache has the same
// body and headers (security headers, Cache-Control, type and length) as
// the page rendered afresh, a request id of its own, and is counted under
// its route.
func TestPageCacheHitLooksLikeAMiss(t *testing.T) {
	t.Parallel()
	r := newCachedReplica(t, nil)
	l := r.createAPI(t, `{"name":"Brass lamp","price_cents":1250,"quantity":2}`)
	path := "/listings/" + strconv.FormatInt(l.ID, 10)
	r.cached(t, path)
	// The page rendered afresh (a cookie keeps the cache out of it), then
	// from the cache.
	var resps [2]*http.Response
	var bodies [2]string
	hits := r.metric(t, "bazaar_page_cache_hits_total")
	for i := range resps {
		req, err := http.NewRequest(http.MethodGet, r.URL+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			req.Header.Set("Cookie", "theme=dark")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		resps[i], bodies[i] = resp, string(b)
	}
	if r.metric(t, "bazaar_page_cache_hits_total") != hits+1 {
		t.Fatal("the anonymous GET was not a cache hit")
	}
	if bodies[0] != bodies[1] {
		t.Errorf("bodies differ:\n%s\n%s", bodies[0], bodies[1])
	}
	miss, hit := resps[0].Header, resps[1].Header
	if miss.Get("X-Request-Id") == hit.Get("X-Request-Id") || hit.Get("X-Request-Id") == "" {
		t.Errorf("request ids %q and %q, want two", miss.Get("X-Request-Id"), hit.Get("X-Request-Id"))
	}
	for _, h := range []http.Header{miss, hit} {
		h.Del("X-Request-Id")
		h.Del("Date")
	}
	if fmt.Sprint(miss) != fmt.Sprint(hit) {
		t.Errorf("headers differ:\nmiss %v\nhit  %v", miss, hit)
	}
	if miss.Get("Content-Security-Policy") == "" || miss.Get("Cache-Control") != "private, no-cache" {
		t.Errorf("headers %v lack the security policy or the page's Cache-Control", miss)
	}
	resp, err := http.Get(r.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if want := `bazaar_http_requests_total{code="200",method="GET",route="GET /listings/{id}"} `; !strings.Contains(string(b), want) {
		t.Errorf("metrics lack %s", want)
	}
	if strings.Contains(string(b), `route="unmatched"`) {
		t.Errorf("a cache hit was counted as unmatched:\n%s", b)
	}
}

// TestPageCacheCategoryPages: a category page is cached for anonymous
// visitors and dropped when a listing changes.
func TestPageCacheCategoryPages(t *testing.T) {
	t.Parallel()
	r := newCachedReplica(t, nil)
	l := r.createAPI(t, `{"name":"Brass lamp","price_cents":1250,"quantity":2}`)
	const path = "/c/other"
	if status, body := r.visit(t, path); status != http.StatusOK || !strings.Contains(body, "Brass lamp") {
		t.Fatalf("GET %s = %d without the listing:\n%.800s", path, status, body)
	}
	r.cached(t, path)
	if resp := r.api(t, http.MethodPatch, "/api/v1/listings/"+strconv.FormatInt(l.ID, 10), `{"name":"Copper lamp"}`); resp.StatusCode != http.StatusOK {
		t.Fatalf("rename: %d %s", resp.StatusCode, resp.body)
	}
	r.within(t, "rename on a category page", path, func(_ int, body string) bool { return strings.Contains(body, "Copper lamp") })
}
