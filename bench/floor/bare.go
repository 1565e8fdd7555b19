package main

import (
	"context"
	"html/template"
	"net/http"

	"github.com/bazaarhq/bazaar/internal/market"
	"github.com/jackc/pgx/v5/pgxpool"
)

// bareFuncs: a photo's smallest size, the one a list shows.
var bareFuncs = template.FuncMap{"small": func(p *market.Photo) string { return p.Variants[0].URL }}

// bareItems is the bare floor's list of listings: each a link, its price,
// its stock and its cover (the smallest size, no srcset). Price prints
// through market.Money's String method.
const bareItems = `<ul>
{{range .}}<li>{{with .Cover}}<img src="{{small .}}" width="{{.Width}}" height="{{.Height}}" alt="">{{end}}<a href="/listings/{{.ID}}">{{.Name}}</a> {{.Price}} {{if .InStock}}{{.Quantity}} in stock{{else}}Sold out{{end}}</li>
{{end}}</ul>`

// bare is the bare floor's whole home page: the listings the app's home
// page shows, as a list, with nothing around them.
var bare = template.Must(template.New("bare").Funcs(bareFuncs).Parse(`<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Bazaar</title></head>
<body>
<h1>Latest listings</h1>
{{template "items" .Listings}}
</body>
</html>
{{define "items"}}` + bareItems + `{{end}}`))

// bareListing is the bare floor's listing page: the fields the app's
// listing page shows (its category, condition, price, stock, description,
// date and seller), its photos (each its smallest size), and nothing
// around them.
var bareListing = template.Must(template.New("listing").Funcs(bareFuncs).Parse(`<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>{{.L.Name}}</title></head>
<body>
{{with .C}}<p>{{with .Parent}}{{.Name}} › {{end}}{{.Name}}</p>{{end}}
<h1>{{.L.Name}}</h1>
{{range .Photos}}<img src="{{small .}}" width="{{.Width}}" height="{{.Height}}" alt="">
{{end}}<p>{{.L.Condition}} {{.L.Price}} {{if .L.InStock}}{{.L.Quantity}} in stock{{else}}Sold out{{end}}</p>
<p>{{.L.Description}}</p>
<p>Listed {{.L.CreatedAt.UTC.Format "2 Jan 2006"}} by {{.L.SellerName}}</p>
</body>
</html>
`))

// bareCategory is the bare floor's category page: its name, the total,
// the count per child, and the listings with their covers.
var bareCategory = template.Must(template.New("category").Funcs(bareFuncs).Parse(`<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>{{.C.Name}}</title></head>
<body>
<h1>{{.C.Name}}</h1>
<p>{{.R.Total}} listings</p>
<ul>{{range .Counts}}<li><a href="/c/{{.C.Slug}}">{{.C.Name}}</a> ({{.N}})</li>{{end}}</ul>
{{template "items" .R.Listings}}
</body>
</html>
{{define "items"}}` + bareItems + `{{end}}`))

// newBareHandler serves GET /, GET /listings/{id} and GET /c/{slug} as
// the least code can: the floor's queries, the pages above written
// straight to the response.
func newBareHandler(pool *pgxpool.Pool) (http.Handler, error) {
	tree, err := loadTree(context.Background(), pool)
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		page, err := latest(r.Context(), pool)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_ = bare.Execute(w, page)
	})
	mux.HandleFunc("GET /listings/{id}", func(w http.ResponseWriter, r *http.Request) {
		l, cat, photos, err := one(r.Context(), pool, r.PathValue("id"))
		if err != nil {
			http.Error(w, err.Error(), http.StatusNotFound)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_ = bareListing.Execute(w, struct {
			L      *market.Listing
			C      *market.Category
			Photos []market.Photo
		}{l, tree.ByID(cat), photos})
	})
	type count struct {
		C *market.Category
		N int64
	}
	mux.HandleFunc("GET /c/{slug}", func(w http.ResponseWriter, r *http.Request) {
		c := tree.BySlug(r.PathValue("slug"))
		if c == nil {
			http.NotFound(w, r)
			return
		}
		res, err := categoryListings(r.Context(), pool, c)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		var counts []count
		for _, k := range c.Children {
			if n := res.Facets[k.ID]; n > 0 {
				counts = append(counts, count{k, n})
			}
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_ = bareCategory.Execute(w, struct {
			C      *market.Category
			R      *categoryResult
			Counts []count
		}{c, res, counts})
	})
	return mux, nil
}
