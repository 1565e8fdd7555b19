package web

import (
	"container/list"
	"context"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/bazaarhq/bazaar/internal/postgres"
	"github.com/prometheus/client_golang/prometheus"
)

// pageCache keeps whole pages for anonymous visitors, the same bytes for
// everyone: the home page (every cursor), category pages and listing
// pages, the routes marked with cachedPages in routes.go. It is bounded in bytes (least recently used pages go
// first) and correct across replicas:
//
//   - Every change to a listing (edit, sale, stock change, delete) is
//     announced by the database itself (postgres.ListingsChannel); each
//     replica listens on a connection of its own (WatchChanges) and drops
//     what changed: the listing's page and every list. A change made
//     through any replica thus leaves every replica's cache as soon as the
//     notice arrives, milliseconds after the commit.
//   - A new listing is not announced (a notice per insert cost PostgreSQL
//     more than the insert: it wakes every listening backend; migration
//     00009). It can only appear on lists, never on a cached listing's
//     page, so lists are kept for at most listMaxAge from the moment their
//     request began reading the database: a listing added through any
//     replica is on every replica's lists within that time.
//   - Notices sent while a replica's listening connection is down are lost,
//     so the cache is off from the moment that connection fails until a new
//     one listens, and is emptied when it does.
//   - A page rendered from data read before a notice is not stored after
//     it: every drop bumps a generation, and a page is stored only if the
//     generation is the one its request started under.
//   - Nothing personal is shared: a request with a Cookie or Authorization
//     header (a session, a flash message) neither reads nor fills the
//     cache, and a response is stored only if it is a 200 that sets no
//     cookie and is not no-store.
type pageCache struct {
	max int // bytes of page bodies and keys

	mu    sync.Mutex
	live  bool   // a connection is listening for changes
	gen   uint64 // bumped by every drop
	size  int
	lru   list.List // of *cachedPage, most recently used first
	pages map[string]*list.Element
	// byListing indexes pages by the listing they show; 0 holds the lists.
	byListing map[int64][]*list.Element

	hits, misses, evictions, invalidations prometheus.Counter
}

// cachedPage is one stored response.
type cachedPage struct {
	key     string
	listing int64
	expires time.Time   // lists only (listing 0): see listMaxAge
	route   string      // for the log line and metrics of a hit
	header  http.Header // all but observe's per-request headers
	body    []byte
}

// listMaxAge is how long a list of listings (the home page, a category's
// or a seller's page) is served from the cache: the longest a new listing
// takes to appear on every replica's lists, since inserts are not
// announced. A hot list is rendered again at most twice a second per
// replica.
const listMaxAge = 500 * time.Millisecond

// cost is the memory a page is charged: its body and key, and 256 bytes
// for its headers and bookkeeping, so the bound holds for small pages too.
func (p *cachedPage) cost() int { return len(p.key) + len(p.body) + 256 }

// newPageCache returns an empty cache of at most max bytes, off until
// Listening, its metrics registered with reg.
func newPageCache(max int, reg prometheus.Registerer) *pageCache {
	c := &pageCache{max: max, pages: map[string]*list.Element{}, byListing: map[int64][]*list.Element{}}
	counter := func(name, help string) prometheus.Counter {
		m := prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: help})
		reg.MustRegister(m)
		return m
	}
	c.hits = counter("bazaar_page_cache_hits_total", "Pages served from the page cache.")
	c.misses = counter("bazaar_page_cache_misses_total", "Cacheable requests the page cache could not answer.")
	c.evictions = counter("bazaar_page_cache_evictions_total", "Pages dropped from the page cache to stay within its size.")
	c.invalidations = counter("bazaar_page_cache_invalidations_total", "Pages dropped from the page cache because what they show changed.")
	reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "bazaar_page_cache_bytes", Help: "Bytes held by the page cache (bodies, keys, overhead)."},
			func() float64 { c.mu.Lock(); defer c.mu.Unlock(); return float64(c.size) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "bazaar_page_cache_max_bytes", Help: "The page cache's size limit."},
			func() float64 { return float64(c.max) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "bazaar_page_cache_pages", Help: "Pages held by the page cache."},
			func() float64 { c.mu.Lock(); defer c.mu.Unlock(); return float64(c.lru.Len()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "bazaar_page_cache_live", Help: "1 while the page cache hears of changes and is in use, 0 while it is off."},
			func() float64 {
				c.mu.Lock()
				defer c.mu.Unlock()
				if c.live {
					return 1
				}
				return 0
			}),
	)
	return c
}

// get returns the page stored under key and moves it to the front, or
// nil; and the generation to store a fresh page under (ok is false while
// the cache is off).
func (c *pageCache) get(key string) (p *cachedPage, gen uint64, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.live {
		return nil, 0, false
	}
	if e := c.pages[key]; e != nil {
		p := e.Value.(*cachedPage)
		if !p.expires.IsZero() && !time.Now().Before(p.expires) {
			c.remove(e)
			return nil, c.gen, true
		}
		c.lru.MoveToFront(e)
		return p, c.gen, true
	}
	return nil, c.gen, true
}

// put stores p unless anything was dropped since generation gen began (p
// may show what was dropped) or p is too big to be worth a slot.
func (c *pageCache) put(p *cachedPage, gen uint64) {
	if p.cost() > c.max/8 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.live || gen != c.gen {
		return
	}
	if e := c.pages[p.key]; e != nil {
		c.remove(e)
	}
	e := c.lru.PushFront(p)
	c.pages[p.key] = e
	c.byListing[p.listing] = append(c.byListing[p.listing], e)
	c.size += p.cost()
	for c.size > c.max {
		c.remove(c.lru.Back())
		c.evictions.Inc()
	}
}

// remove drops one page; the caller holds mu.
func (c *pageCache) remove(e *list.Element) {
	p := e.Value.(*cachedPage)
	c.lru.Remove(e)
	delete(c.pages, p.key)
	c.size -= p.cost()
	idx := slices.Index(c.byListing[p.listing], e)
	if rest := slices.Delete(c.byListing[p.listing], idx, idx+1); len(rest) > 0 {
		c.byListing[p.listing] = rest
	} else {
		delete(c.byListing, p.listing)
	}
}

// drop removes the pages showing listing id (0: none) and every list of
// listings; the caller holds mu.
func (c *pageCache) drop(id int64) {
	c.gen++
	for _, l := range []int64{0, id} {
		for _, e := range slices.Clone(c.byListing[l]) {
			c.remove(e)
			c.invalidations.Inc()
		}
		if id == 0 {
			break
		}
	}
}

// flush empties the cache; the caller holds mu.
func (c *pageCache) flush() {
	c.gen++
	c.invalidations.Add(float64(c.lru.Len()))
	c.lru.Init()
	c.pages = map[string]*list.Element{}
	c.byListing = map[int64][]*list.Element{}
	c.size = 0
}

// Listening implements postgres.Listener: changes are heard again, but
// those made while nobody listened were not, so start empty.
func (c *pageCache) Listening() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.flush()
	c.live = true
}

// Lost implements postgres.Listener: until a connection listens again no
// change is heard, so serve nothing from the cache and store nothing.
func (c *pageCache) Lost(error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.live = false
	c.flush()
}

// Notify implements postgres.Listener: drop what the notice says changed
// (see postgres.ListingsChannel), everything if it is not understood.
func (c *pageCache) Notify(payload string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	op, arg, _ := strings.Cut(payload, " ")
	id, err := strconv.ParseInt(arg, 10, 64)
	switch {
	case op == "insert" && arg == "": // not sent since migration 00009
		c.drop(0)
	case (op == "update" || op == "delete") && err == nil && id > 0:
		c.drop(id)
	default:
		c.flush()
	}
}

// WatchChanges keeps the page cache and the database's session cache
// (postgres.SessionListener) in step with the database until ctx ends: it
// listens for changes to listings and to sessions on a connection of its
// own, reconnecting when that fails. Each cache is off until it first
// listens. Without a page cache (Config.PageCacheBytes 0) only sessions
// are listened for.
func (s *Server) WatchChanges(ctx context.Context) {
	ls := map[string]postgres.Listener{postgres.SessionsChannel: watchLog{s.db.SessionListener(), s}}
	if s.cache != nil {
		ls[postgres.ListingsChannel] = s.cache
	}
	s.db.Listen(ctx, ls)
}

// watchLog tells the log when the caches go off: Listen reports a lost
// connection to every channel's Listener, and this one is always there.
type watchLog struct {
	postgres.Listener
	s *Server
}

func (w watchLog) Lost(err error) {
	w.Listener.Lost(err)
	w.s.logger.Warn("page and session caches off: the connection listening for changes failed", "err", err)
}

// cacheLayer answers anonymous visitors' GET requests from the page cache
// and fills it with what the routes marked by cachedPages answer them. It
// sits just inside observe, so a hit is logged and counted under its route
// like any answer but skips the rest of the stack (the security headers
// and the rest were stored with the page). Nothing else is ever stored.
func (s *Server) cacheLayer(next http.Handler) http.Handler {
	if s.cache == nil {
		return next
	}
	c := s.cache
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		info, _ := r.Context().Value(infoKey).(*requestInfo)
		if info == nil || r.Method != http.MethodGet || r.Header["Cookie"] != nil || r.Header["Authorization"] != nil {
			next.ServeHTTP(w, r)
			return
		}
		key := r.URL.Path
		if r.URL.RawQuery != "" {
			key += "?" + r.URL.RawQuery
		}
		p, gen, live := c.get(key)
		if !live {
			next.ServeHTTP(w, r)
			return
		}
		if p != nil {
			c.hits.Inc()
			info.route = p.route
			hdr := w.Header()
			for k, v := range p.header {
				hdr[k] = v // shared, never modified
			}
			w.WriteHeader(http.StatusOK)
			_, _ = w.Write(p.body)
			return
		}
		born := time.Now() // before the handler reads what the page shows
		rec := &pageRecorder{ResponseWriter: w, info: info, before: snapshot(w.Header())}
		next.ServeHTTP(rec, r)
		if !info.cacheable {
			return
		}
		c.misses.Inc()
		if rec.status == http.StatusOK && rec.header != nil {
			p := &cachedPage{key: key, listing: info.listing, route: info.route, header: rec.header, body: rec.body}
			if p.listing == 0 {
				p.expires = born.Add(listMaxAge)
			}
			c.put(p, gen)
		}
	})
}

// cachedPages marks h's answers to anonymous visitors as fit for the page
// cache (cacheLayer). listing names the listing the page shows (0 for a
// list of listings); a page whose listing it cannot tell is not stored.
func cachedPages(listing func(*http.Request) (int64, bool), h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if info, ok := r.Context().Value(infoKey).(*requestInfo); ok {
			info.listing, info.cacheable = listing(r)
		}
		h(w, r)
	}
}

// snapshot is the header values set before the page cache's layer (by
// observe, per request).
func snapshot(h http.Header) map[string][]string {
	m := make(map[string][]string, len(h))
	for k, v := range h {
		m[k] = v
	}
	return m
}

// pageRecorder passes a response through and keeps a copy of it if it may
// be shared: header is nil for a response of a route not marked by
// cachedPages, or that sets a cookie or says no-store.
type pageRecorder struct {
	http.ResponseWriter
	info   *requestInfo
	before map[string][]string
	status int
	header http.Header
	body   []byte
}

func (w *pageRecorder) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
		w.header = w.keep()
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *pageRecorder) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	if w.header != nil {
		w.body = append(w.body, b...)
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *pageRecorder) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// keep returns the headers the handler set, or nil if the response must
// not be shared.
func (w *pageRecorder) keep() http.Header {
	h := w.ResponseWriter.Header()
	if !w.info.cacheable || h["Set-Cookie"] != nil {
		return nil
	}
	for _, v := range h["Cache-Control"] {
		if strings.Contains(v, "no-store") {
			return nil
		}
	}
	kept := http.Header{}
	for k, v := range h {
		if old, ok := w.before[k]; !ok || !slices.Equal(old, v) {
			kept[k] = v
		}
	}
	return kept
}

// listPage is the listing argument of cachedPages for a list of listings.
func listPage(*http.Request) (int64, bool) { return 0, true }

// listingPage is the listing argument of cachedPages for a listing's page.
func listingPage(r *http.Request) (int64, bool) { return pathID(r) }
