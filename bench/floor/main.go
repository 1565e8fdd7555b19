// Command floor is the performance floor that `make bench` compares Bazaar
// against: the same two pages (GET / and POST /listings) written with
// nothing but net/http, pgxpool and html/template. It runs the same SQL,
// renders the same rows through the app's own template files, and parses
// and checks the same form fields, but has no middleware, sessions,
// metrics or logging. Whatever the app costs beyond this program is the
// price of its features.
package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/bazaarhq/bazaar/internal/web/templates"
	"github.com/jackc/pgx/v5/pgxpool"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Getenv); err != nil {
		fmt.Fprintln(os.Stderr, "floor:", err)
		os.Exit(1)
	}
}

// run reads the same variables as `bazaar serve` (DATABASE_URL, BAZAAR_ADDR,
// BAZAAR_DB_MAX_CONNS) and serves until ctx ends.
func run(ctx context.Context, getenv func(string) string) error {
	cfg, err := pgxpool.ParseConfig(getenv("DATABASE_URL"))
	if err != nil {
		return fmt.Errorf("DATABASE_URL: %w", err)
	}
	cfg.MaxConns = 20 // the app's default (cmd/bazaar/config.go)
	if v := getenv("BAZAAR_DB_MAX_CONNS"); v != "" {
		n, err := strconv.ParseInt(v, 10, 32)
		if err != nil || n < 1 {
			return fmt.Errorf("BAZAAR_DB_MAX_CONNS: %q", v)
		}
		cfg.MaxConns = int32(n)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return err
	}
	defer pool.Close()
	h, err := newHandler(pool)
	if err != nil {
		return err
	}
	srv := &http.Server{Addr: getenv("BAZAAR_ADDR"), Handler: h, ReadHeaderTimeout: 5 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return srv.Shutdown(sctx)
}

// newHandler returns the floor's two routes.
func newHandler(pool *pgxpool.Pool) (http.Handler, error) {
	home, err := template.New("layout.html").Funcs(template.FuncMap{
		"money":  func(m money) string { return formatCents(m.Cents) + " " + m.Currency },
		"static": func(name string) string { return "/static/000000000000/" + name }, // same length as the app's content hash
		"id":     func(id int64) string { return strconv.FormatInt(id, 10) },
	}).ParseFS(templates.FS, "layout.html", "home.html")
	if err != nil {
		return nil, err
	}
	s := &server{pool: pool, home: home}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", s.handleHome)
	mux.HandleFunc("POST /listings", s.handleCreate)
	return mux, nil
}

type server struct {
	pool *pgxpool.Pool
	home *template.Template
}

type money struct {
	Cents    int64
	Currency string
}

type listing struct {
	ID                   int64
	Name, Description    string
	Price                money
	Quantity             int
	CreatedAt, UpdatedAt time.Time
}

func (l *listing) InStock() bool { return l.Quantity > 0 }

// homeData has the fields home.html and layout.html use. The floor serves
// only the first page, so Paged is always false.
type homeData struct {
	Title, Flash string
	Paged        bool
	Page         struct {
		Listings              []*listing
		NextBefore, PrevAfter int64
	}
}

const pageSize = 24

var bufPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

func (s *server) handleHome(w http.ResponseWriter, r *http.Request) {
	rows, err := s.pool.Query(r.Context(), `SELECT id, name, description, price_cents, currency, quantity, created_at, updated_at FROM listings ORDER BY id DESC LIMIT $1`, pageSize+1)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	data := homeData{Title: "Bazaar"}
	for rows.Next() {
		l := &listing{}
		if err := rows.Scan(&l.ID, &l.Name, &l.Description, &l.Price.Cents, &l.Price.Currency, &l.Quantity, &l.CreatedAt, &l.UpdatedAt); err != nil {
			rows.Close()
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		data.Page.Listings = append(data.Page.Listings, l)
	}
	if err := rows.Err(); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	if len(data.Page.Listings) > pageSize {
		data.Page.Listings = data.Page.Listings[:pageSize]
		data.Page.NextBefore = data.Page.Listings[pageSize-1].ID
	}
	buf := bufPool.Get().(*bytes.Buffer)
	buf.Reset()
	defer bufPool.Put(buf)
	if err := s.home.Execute(buf, data); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
	_, _ = buf.WriteTo(w)
}

func (s *server) handleCreate(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 1<<20)
	if err := r.ParseForm(); err != nil {
		http.Error(w, "The form could not be read.", http.StatusBadRequest)
		return
	}
	l := listing{
		Name:        strings.TrimSpace(r.PostForm.Get("name")),
		Description: strings.TrimSpace(r.PostForm.Get("description")),
		Price:       money{Currency: "USD"},
	}
	var problems []string
	cents, err := parseCents(strings.TrimSpace(r.PostForm.Get("price")))
	if err != nil || cents < 1 || cents > 100_000_000 {
		problems = append(problems, "price")
	}
	l.Price.Cents = cents
	if l.Quantity, err = strconv.Atoi(strings.TrimSpace(r.PostForm.Get("quantity"))); err != nil || l.Quantity < 0 || l.Quantity > 100_000 {
		problems = append(problems, "quantity")
	}
	if n := utf8.RuneCountInString(l.Name); n == 0 || n > 200 || !utf8.ValidString(l.Name) {
		problems = append(problems, "name")
	}
	if utf8.RuneCountInString(l.Description) > 5000 || !utf8.ValidString(l.Description) {
		problems = append(problems, "description")
	}
	if len(problems) > 0 {
		http.Error(w, "invalid: "+strings.Join(problems, ", "), http.StatusUnprocessableEntity)
		return
	}
	err = s.pool.QueryRow(r.Context(), `
		INSERT INTO listings (name, description, price_cents, currency, quantity)
		VALUES ($1, $2, $3, $4, $5)
		RETURNING id, created_at, updated_at`,
		l.Name, l.Description, l.Price.Cents, l.Price.Currency, l.Quantity,
	).Scan(&l.ID, &l.CreatedAt, &l.UpdatedAt)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	http.Redirect(w, r, "/listings/"+strconv.FormatInt(l.ID, 10), http.StatusSeeOther)
}

var errPrice = errors.New("price must be an amount such as 12.50")

// parseCents turns "12.50" into 1250: digits, an optional dot and at most
// two decimal places.
func parseCents(s string) (int64, error) {
	whole, frac, _ := strings.Cut(s, ".")
	if whole == "" && frac == "" || len(frac) > 2 || len(whole) > 12 {
		return 0, errPrice
	}
	for len(frac) < 2 {
		frac += "0"
	}
	w, err := strconv.ParseInt("0"+whole, 10, 64)
	if err != nil || strings.ContainsAny(whole, "+-") {
		return 0, errPrice
	}
	f, err := strconv.ParseInt(frac, 10, 64)
	if err != nil || strings.ContainsAny(frac, "+-") {
		return 0, errPrice
	}
	return w*100 + f, nil
}

func formatCents(c int64) string {
	sign := ""
	if c < 0 {
		sign, c = "-", -c
	}
	return fmt.Sprintf("%s%d.%02d", sign, c/100, c%100)
}
