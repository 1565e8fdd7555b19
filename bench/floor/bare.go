package main

import (
	"html/template"
	"net/http"

	"github.com/jackc/pgx/v5/pgxpool"
)

// bare is the bare floor's whole page: the listings the app's home page
// shows, as a list, with nothing around them. Price prints through
// market.Money's String method.
var bare = template.Must(template.New("bare").Parse(`<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Bazaar</title></head>
<body>
<h1>Latest listings</h1>
<ul>
{{range .Listings}}<li><a href="/listings/{{.ID}}">{{.Name}}</a> {{.Price}} {{if .InStock}}{{.Quantity}} in stock{{else}}Sold out{{end}}</li>
{{end}}</ul>
</body>
</html>
`))

// bareListing is the bare floor's listing page: the fields the app's
// listing page shows, and nothing around them.
var bareListing = template.Must(template.New("listing").Parse(`<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>{{.Name}}</title></head>
<body>
<h1>{{.Name}}</h1>
<p>{{.Price}} {{if .InStock}}{{.Quantity}} in stock{{else}}Sold out{{end}}</p>
<p>{{.Description}}</p>
<p>Listed {{.CreatedAt.UTC.Format "2 Jan 2006"}}</p>
</body>
</html>
`))

// newBareHandler serves GET / and GET /listings/{id} as the least code can: the floor's query,
// the page above written straight to the response.
func newBareHandler(pool *pgxpool.Pool) (http.Handler, error) {
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
		l, err := one(r.Context(), pool, r.PathValue("id"))
		if err != nil {
			http.Error(w, err.Error(), http.StatusNotFound)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_ = bareListing.Execute(w, l)
	})
	return mux, nil
}
