// Command floor is the same-template floor that `make bench` compares
// Bazaar against: the same pages (GET /, GET /listings/{id} and POST
// /listings) written with nothing but net/http, pgxpool and the app's
// compiled templ pages. It runs the same
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
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/a-h/templ"
	"github.com/bazaarhq/bazaar/internal/market"
	"github.com/bazaarhq/bazaar/internal/web"
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
// BAZAAR_DB_MAX_CONNS or the app's default of 20 connections.
func openPool(ctx context.Context, getenv func(string) string) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(getenv("DATABASE_URL"))
	if err != nil {
		return nil, fmt.Errorf("DATABASE_URL: %w", err)
	}
	cfg.MaxConns = 20 // the app's default (cmd/bazaar/config.go)
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
	var err error
	if layout.Categories, err = loadCategories(context.Background(), pool); err != nil {
		return nil, err
	}
	s := &server{pool: pool}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", s.handleHome)
	mux.HandleFunc("GET /listings/{id}", s.handleListing)
	mux.HandleFunc("POST /listings", s.handleCreate)
	return mux, nil
}

type server struct {
	pool *pgxpool.Pool
}

// layout is the app's page frame. The app puts a content hash of its
// static files in their URLs; a fake of the same length keeps the pages
// the same size.
var layout = templates.Layout{Title: "Bazaar", Static: "/static/000000000000/"}

// loadCategories reads the top-level categories for the header's menu.
func loadCategories(ctx context.Context, pool *pgxpool.Pool) ([]*market.Category, error) {
	rows, err := pool.Query(ctx, `SELECT slug, name FROM categories WHERE parent_id IS NULL ORDER BY position`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*market.Category
	for rows.Next() {
		c := &market.Category{}
		if err := rows.Scan(&c.Slug, &c.Name); err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
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
	l, crumbs, err := oneWithCrumbs(r.Context(), s.pool, r.PathValue("id"))
	if err != nil {
		http.Error(w, err.Error(), http.StatusNotFound)
		return
	}
	lay := layout
	lay.Title = l.Name
	write(w, r, templates.Listing(templates.ListingPage{Layout: lay, Listing: l, Crumbs: crumbs}))
}

// one is the bare floor's listing query: the listing alone, no breadcrumb.
func one(ctx context.Context, pool *pgxpool.Pool, id string) (*market.Listing, error) {
	n, err := strconv.ParseInt(id, 10, 64)
	if err != nil {
		return nil, err
	}
	l := &market.Listing{}
	err = pool.QueryRow(ctx, `SELECT id, name, description, price_cents, currency, quantity, created_at, updated_at FROM listings WHERE id = $1`, n).
		Scan(&l.ID, &l.Name, &l.Description, &l.Price.Cents, &l.Price.Currency, &l.Quantity, &l.CreatedAt, &l.UpdatedAt)
	return l, err
}

// oneWithCrumbs is the app's listing page query: the listing with its
// condition and its category path (leaf and top-level), for the breadcrumb.
func oneWithCrumbs(ctx context.Context, pool *pgxpool.Pool, id string) (*market.Listing, []*market.Category, error) {
	n, err := strconv.ParseInt(id, 10, 64)
	if err != nil {
		return nil, nil, err
	}
	l := &market.Listing{}
	top, leaf := &market.Category{}, &market.Category{}
	err = pool.QueryRow(ctx, `
		SELECT l.id, l.name, l.description, l.price_cents, l.currency, l.quantity, l.condition, l.created_at, l.updated_at,
		       p.slug, p.name, c.slug, c.name, u.id, u.display_name
		FROM listings l JOIN categories c ON c.id = l.category_id JOIN categories p ON p.id = c.parent_id
		JOIN users u ON u.id = l.seller_id
		WHERE l.id = $1`, n).
		Scan(&l.ID, &l.Name, &l.Description, &l.Price.Cents, &l.Price.Currency, &l.Quantity, &l.Condition, &l.CreatedAt, &l.UpdatedAt,
			&top.Slug, &top.Name, &leaf.Slug, &leaf.Name, &l.SellerID, &l.SellerName)
	return l, []*market.Category{top, leaf}, err
}

// latest is the home page's query: the newest listings, one more than a
// page to know whether there is a next one. Both floors run it.
func latest(ctx context.Context, pool *pgxpool.Pool) (market.ListingPage, error) {
	const size = web.HomePageSize
	var page market.ListingPage
	rows, err := pool.Query(ctx, `SELECT id, name, description, price_cents, currency, quantity, created_at, updated_at FROM listings ORDER BY id DESC LIMIT $1`, size+1)
	if err != nil {
		return page, err
	}
	defer rows.Close()
	for rows.Next() {
		l := &market.Listing{}
		if err := rows.Scan(&l.ID, &l.Name, &l.Description, &l.Price.Cents, &l.Price.Currency, &l.Quantity, &l.CreatedAt, &l.UpdatedAt); err != nil {
			return page, err
		}
		page.Listings = append(page.Listings, l)
	}
	if err := rows.Err(); err != nil {
		return page, err
	}
	if len(page.Listings) > size {
		page.Listings = page.Listings[:size]
		page.NextBefore = page.Listings[size-1].ID
	}
	return page, nil
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
