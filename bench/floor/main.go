// Command floor is the same-template floor that `make bench` compares
// Bazaar against: the same pages (GET /, GET /listings/{id}, GET
// /c/{slug} and POST /listings) written with nothing but net/http, pgxpool
// and the app's compiled templ pages. Covers and photos included: their
// URLs are the app's with its default photo store (a directory served
// under /media). It runs the same
// SQL, renders the same rows through the app's own page components (package
// templates), and applies the same listing rules
// (package market), but has no middleware, sessions, metrics or logging.
// Whatever the app costs beyond this program is the price of its features.
//
// `floor bare` is the bare floor instead (bare.go): the same rows from the
// same query on a minimal page of its own, the least code that serves this
// data at all. The app's distance to it is the price of its features and
// of its page.
//
// It reads the same variables as `bazaar serve` (DATABASE_URL,
// BAZAAR_ADDR, BAZAAR_DB_MAX_CONNS) and, like it, logs the address it
// listens on as JSON ({"msg":"listening","addr":...}), so the bench can
// give it 127.0.0.1:0.
package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/a-h/templ"
	"github.com/bazaarhq/bazaar/internal/market"
	"github.com/bazaarhq/bazaar/internal/postgres"
	"github.com/bazaarhq/bazaar/internal/search"
	"github.com/bazaarhq/bazaar/internal/web/templates"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv); err != nil {
		fmt.Fprintln(os.Stderr, "floor:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, getenv func(string) string) error {
	newH := newHandler
	switch {
	case len(args) == 1 && args[0] == "bare":
		newH = newBareHandler
	case len(args) > 0:
		return fmt.Errorf("usage: floor [bare]")
	}
	pool, err := openPool(ctx, getenv)
	if err != nil {
		return err
	}
	defer pool.Close()
	h, err := newH(pool)
	if err != nil {
		return err
	}
	return serve(ctx, getenv("BAZAAR_ADDR"), h)
}

// openPool opens a pool as `bazaar serve` does: DATABASE_URL, and
// BAZAAR_DB_MAX_CONNS or the app's default (postgres.DefaultMaxConns).
func openPool(ctx context.Context, getenv func(string) string) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(getenv("DATABASE_URL"))
	if err != nil {
		return nil, fmt.Errorf("DATABASE_URL: %w", err)
	}
	cfg.MaxConns = postgres.DefaultMaxConns()
	if v := getenv("BAZAAR_DB_MAX_CONNS"); v != "" {
		n, err := strconv.ParseInt(v, 10, 32)
		if err != nil || n < 1 {
			return nil, fmt.Errorf("BAZAAR_DB_MAX_CONNS: %q", v)
		}
		cfg.MaxConns = int32(n)
	}
	return pgxpool.NewWithConfig(ctx, cfg)
}

// serve listens on addr, reports the address it got, and serves h until ctx ends.
func serve(ctx context.Context, addr string, h http.Handler) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	fmt.Printf("{\"msg\":\"listening\",\"addr\":%q}\n", ln.Addr().String())
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return srv.Shutdown(sctx)
}

// newHandler returns the floor's routes.
func newHandler(pool *pgxpool.Pool) (http.Handler, error) {
	// The header's category menu: read once, as the app reads its tree
	// once (categories change only by migration).
	tree, err := loadTree(context.Background(), pool)
	if err != nil {
		return nil, err
	}
	layout.Categories = tree.Top
	s := &server{pool: pool, tree: tree}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", s.handleHome)
	mux.HandleFunc("GET /listings/{id}", s.handleListing)
	mux.HandleFunc("GET /c/{slug}", s.handleCategory)
	mux.HandleFunc("POST /listings", s.handleCreate)
	return mux, nil
}

type server struct {
	pool *pgxpool.Pool
	tree *market.Tree
}

// layout is the app's page frame. The app puts a content hash of its
// static files in their URLs; a fake of the same length keeps the pages
// the same size.
var layout = templates.Layout{Title: "Bazaar", Static: "/static/000000000000/"}

// loadTree reads the category tree with the app's query
// (postgres.DB.Categories), once: the header's menu, breadcrumbs and
// category pages come from it.
func loadTree(ctx context.Context, pool *pgxpool.Pool) (*market.Tree, error) {
	rows, _ := pool.Query(ctx, `
		SELECT c.id, coalesce(c.parent_id, 0), c.slug, c.name
		FROM categories c LEFT JOIN categories p ON p.id = c.parent_id
		ORDER BY coalesce(p.position, c.position), c.parent_id NULLS FIRST, c.position`)
	cats, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*market.Category, error) {
		c := new(market.Category)
		return c, row.Scan(&c.ID, &c.ParentID, &c.Slug, &c.Name)
	})
	if err != nil {
		return nil, err
	}
	return market.NewTree(cats), nil
}

var bufPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// write renders page into a buffer, then sends it with its length, as the
// app does.
func write(w http.ResponseWriter, r *http.Request, page templ.Component) {
	buf := bufPool.Get().(*bytes.Buffer)
	buf.Reset()
	defer bufPool.Put(buf)
	if err := page.Render(r.Context(), buf); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
	_, _ = buf.WriteTo(w)
}

// The floor serves only the first page, so Paged is always false.
func (s *server) handleHome(w http.ResponseWriter, r *http.Request) {
	page, err := latest(r.Context(), s.pool)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	write(w, r, templates.Home(templates.HomePage{Layout: layout, Page: &page}))
}

func (s *server) handleListing(w http.ResponseWriter, r *http.Request) {
	l, crumbs, photos, err := oneWithCrumbs(r.Context(), s.pool, r.PathValue("id"))
	if err != nil {
		http.Error(w, err.Error(), http.StatusNotFound)
		return
	}
	lay := layout
	lay.Title = l.Name
	write(w, r, templates.Listing(templates.ListingPage{Layout: lay, Listing: l, Crumbs: crumbs, Photos: photos}))
}

// handleCategory is a category's first page without filters, as the app
// renders it (web's searchPage): breadcrumbs, the count per child (per
// sibling in a leaf), the total, 24 cards and the next page's cursor.
func (s *server) handleCategory(w http.ResponseWriter, r *http.Request) {
	c := s.tree.BySlug(r.PathValue("slug"))
	if c == nil || r.URL.RawQuery != "" {
		http.NotFound(w, r)
		return
	}
	res, err := categoryListings(r.Context(), s.pool, c)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	lay := layout
	lay.Title = c.Name
	page := templates.SearchPage{Layout: lay, Category: c, Action: "/c/" + c.Slug, Total: res.Total, Estimated: res.Estimated,
		Form: templates.SearchForm{Category: c.Slug, Sort: search.SortNewest}}
	for p := c; p != nil; p = p.Parent {
		page.Crumbs = append([]*market.Category{p}, page.Crumbs...)
	}
	for _, l := range res.Listings {
		page.Results = append(page.Results, templates.ResultCard{Listing: l, Segments: search.Highlight(l.Name, nil)})
	}
	level := c.Children
	if c.Leaf() {
		level = c.Parent.Children
	}
	for _, k := range level {
		var n int64
		if k.Leaf() {
			n = res.Facets[k.ID]
		} else {
			for _, g := range k.Children {
				n += res.Facets[g.ID]
			}
		}
		if n > 0 {
			page.Facets = append(page.Facets, templates.Facet{Category: k, Count: n, URL: "/c/" + k.Slug, Current: k == c})
		}
	}
	if res.Next != nil {
		page.NextURL = page.Action + "?cursor=" + url.QueryEscape(res.Next.Encode())
	}
	write(w, r, templates.Search(page))
}

func (s *server) handleCreate(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 1<<20)
	if err := r.ParseForm(); err != nil {
		http.Error(w, "The form could not be read.", http.StatusBadRequest)
		return
	}
	// The seller: the least a signed-in request costs, one lookup of the
	// session cookie's user (the app reads the session, then the user).
	var seller int64
	if c, err := r.Cookie("bazaar_session"); err == nil {
		err = s.pool.QueryRow(r.Context(), `
			SELECT us.user_id FROM sessions s JOIN user_sessions us USING (token)
			WHERE s.token = $1 AND s.expiry > now()`, c.Value).Scan(&seller)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
	}
	if seller == 0 {
		http.Redirect(w, r, "/login?next=%2F", http.StatusSeeOther)
		return
	}
	l, err := parseListing(r.PostForm.Get)
	if err != nil {
		http.Error(w, err.Error(), http.StatusUnprocessableEntity)
		return
	}
	err = s.pool.QueryRow(r.Context(), `
		INSERT INTO listings (name, description, price_cents, currency, quantity, seller_id)
		VALUES ($1, $2, $3, $4, $5, $6)
		RETURNING id, created_at, updated_at`,
		l.Name, l.Description, l.Price.Cents, l.Price.Currency, l.Quantity, seller,
	).Scan(&l.ID, &l.CreatedAt, &l.UpdatedAt)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	http.Redirect(w, r, "/listings/"+strconv.FormatInt(l.ID, 10), http.StatusSeeOther)
}

// parseListing reads the sell form's fields into market's input and
// applies its rules, as the app's form does.
func parseListing(get func(string) string) (*market.Listing, error) {
	name, description := get("name"), get("description")
	price, quantity := strings.TrimSpace(get("price")), strings.TrimSpace(get("quantity"))
	return market.ListingInput{Name: &name, Description: &description, Price: &price, Quantity: &quantity}.NewListing()
}
