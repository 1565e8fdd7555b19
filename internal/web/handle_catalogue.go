package web

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/bazaarhq/bazaar/internal/market"
	"github.com/bazaarhq/bazaar/internal/search"
	"github.com/bazaarhq/bazaar/internal/web/templates"
)

// handleSearch is GET /search?q=...: the same page as a category, across
// all categories (or the one named by ?category=).
func (s *Server) handleSearch(w http.ResponseWriter, r *http.Request) {
	s.searchPage(w, r, nil)
}

// handleCategory is GET /c/{slug}: a category's listings, with the same
// filters as search, breadcrumbs and counts per child category.
func (s *Server) handleCategory(w http.ResponseWriter, r *http.Request) {
	tree, err := s.db.Categories(r.Context())
	if err != nil {
		s.error(w, r, err)
		return
	}
	c := tree.BySlug(r.PathValue("slug"))
	if c == nil {
		s.handleNotFound(w, r)
		return
	}
	// A list of listings like the home page: the same for every anonymous
	// visitor, so the page cache may keep it (only a 200 is stored).
	cacheablePage(w)
	s.searchPage(w, r, c)
}

func (s *Server) searchPage(w http.ResponseWriter, r *http.Request, cat *market.Category) {
	tree, err := s.db.Categories(r.Context())
	if err != nil {
		s.error(w, r, err)
		return
	}
	q := r.URL.Query()
	page := templates.SearchPage{Category: cat, Action: "/search"}
	if cat != nil {
		page.Action = "/c/" + cat.Slug
		q.Set("category", cat.Slug)
		for c := cat; c != nil; c = c.Parent {
			page.Crumbs = append([]*market.Category{c}, page.Crumbs...)
		}
	}
	page.Form = templates.SearchForm{Q: q.Get("q"), Category: q.Get("category"), Condition: q.Get("condition"),
		MinPrice: q.Get("min_price"), MaxPrice: q.Get("max_price"), Sort: q.Get("sort"), InStock: q.Get("in_stock") != ""}
	title := "Search"
	if cat != nil {
		title = cat.Name
	}
	f, err := search.ParseFilter(q, true)
	if err != nil {
		if market.ErrorCode(err) != market.EINVALID {
			s.error(w, r, err)
			return
		}
		page.Errors = market.ErrorFields(err)
		page.Layout = s.layoutQuery(w, r, title, "")
		s.render(w, r, http.StatusUnprocessableEntity, templates.Search(page))
		return
	}
	if f.Category != "" && cat == nil && tree.BySlug(f.Category) == nil {
		page.Errors = map[string]string{"category": "Unknown category"}
		page.Layout = s.layoutQuery(w, r, title, f.Query.String())
		s.render(w, r, http.StatusUnprocessableEntity, templates.Search(page))
		return
	}
	f.Limit = HomePageSize
	if page.Form.Sort == "" {
		page.Form.Sort = f.Sort
	}
	res, err := s.db.Search(r.Context(), f)
	if err != nil {
		s.error(w, r, err)
		return
	}
	s.photoURLs(res.Listings...)
	words := f.Query.Words()
	if res.Corrected != "" {
		words = strings.Fields(res.Corrected)
	}
	for _, l := range res.Listings {
		page.Results = append(page.Results, templates.ResultCard{Listing: l, Segments: search.Highlight(l.Name, words)})
	}
	page.Total, page.Estimated, page.Corrected = res.Total, res.Estimated, res.Corrected
	page.Searched = !f.Query.Empty() || f.Condition != "" || f.InStock || f.MinCents > 0 || f.MaxCents > 0 || f.Cursor != nil
	page.Facets = facets(tree, cat, res.Facets, q, page.Action)
	if res.Next != nil {
		next := cloneValues(q)
		next.Set("cursor", res.Next.Encode())
		if cat != nil {
			next.Del("category") // the path names it
		}
		page.NextURL = page.Action + "?" + next.Encode()
	}
	if !f.Query.Empty() {
		title = "“" + f.Query.String() + "”"
		if cat != nil {
			title += " in " + cat.Name
		}
	}
	cacheablePage(w)
	page.Layout = s.layoutQuery(w, r, title, f.Query.String())
	s.render(w, r, http.StatusOK, templates.Search(page))
}

// facets are the counts to show beside the results: per top-level
// category when browsing everything, per child inside a top-level
// category, and per sibling inside a leaf. Links keep the other filters.
func facets(tree *market.Tree, cat *market.Category, counts map[int]int64, q url.Values, action string) []templates.Facet {
	var level []*market.Category
	switch {
	case cat == nil:
		level = tree.Top
	case !cat.Leaf():
		level = cat.Children
	default:
		level = cat.Parent.Children
	}
	var out []templates.Facet
	for _, c := range level {
		var n int64
		if c.Leaf() {
			n = counts[c.ID]
		} else {
			for _, k := range c.Children {
				n += counts[k.ID]
			}
		}
		if n == 0 {
			continue
		}
		v := cloneValues(q)
		v.Del("cursor")
		v.Del("category")
		u := "/c/" + c.Slug
		if cat == nil && action == "/search" && v.Get("q") != "" {
			v.Set("category", c.Slug)
			u = "/search"
		}
		if e := v.Encode(); e != "" {
			u += "?" + e
		}
		out = append(out, templates.Facet{Category: c, Count: n, URL: u, Current: cat == c})
	}
	return out
}

func cloneValues(v url.Values) url.Values {
	out := make(url.Values, len(v))
	for k, vs := range v {
		if len(vs) > 0 && vs[0] != "" {
			out[k] = []string{vs[0]}
		}
	}
	return out
}

// layoutQuery is layout with the header's search box holding query.
func (s *Server) layoutQuery(w http.ResponseWriter, r *http.Request, title, query string) templates.Layout {
	l := s.layout(w, r, title)
	l.Query = query
	return l
}

// apiCategory is a category as the API shows it.
type apiCategory struct {
	Slug     string        `json:"slug"`
	Name     string        `json:"name"`
	Children []apiCategory `json:"children,omitempty"`
}

// apiCategories is GET /api/v1/categories: the whole tree.
func (s *Server) apiCategories(w http.ResponseWriter, r *http.Request) {
	tree, err := s.db.Categories(r.Context())
	if err != nil {
		s.error(w, r, err)
		return
	}
	out := struct {
		Categories []apiCategory `json:"categories"`
	}{Categories: []apiCategory{}}
	for _, top := range tree.Top {
		c := apiCategory{Slug: top.Slug, Name: top.Name}
		for _, k := range top.Children {
			c.Children = append(c.Children, apiCategory{Slug: k.Slug, Name: k.Name})
		}
		out.Categories = append(out.Categories, c)
	}
	s.writeJSON(w, http.StatusOK, "application/json", out)
}

// apiSuggest is GET /api/v1/suggest?q=sto: completions of the last word.
func (s *Server) apiSuggest(w http.ResponseWriter, r *http.Request) {
	raw := r.URL.Query().Get("q")
	q, err := search.Parse(raw)
	if err != nil {
		s.error(w, r, err)
		return
	}
	out, err := s.db.Suggest(r.Context(), q, raw)
	if err != nil {
		s.error(w, r, err)
		return
	}
	s.writeJSON(w, http.StatusOK, "application/json", struct {
		Suggestions []string `json:"suggestions"`
	}{out})
}

// searchParams are the query parameters that make GET /api/v1/listings a
// search (with total, facets and an opaque cursor) rather than the plain
// newest-first list with before/after ids it was before search existed.
var searchParams = []string{"q", "category", "condition", "in_stock", "min_price_cents", "max_price_cents", "sort", "cursor"}

func isSearch(q url.Values) bool {
	for _, k := range searchParams {
		if q.Has(k) {
			return true
		}
	}
	return false
}

// apiSearchPage is one page of search results: the total over all pages,
// the count per leaf category (for every filter but the category), and
// the opaque cursor of the next page (absent on the last). Past the
// store's window (search.Result) the total and counts are estimates,
// rounded to two significant digits, and total_estimated says so;
// corrected_query is what was searched when the words typed matched
// nothing.
type apiSearchPage struct {
	Listings       []apiListing `json:"listings"`
	Total          int64        `json:"total"`
	TotalEstimated bool         `json:"total_estimated"`
	CorrectedQuery string       `json:"corrected_query,omitempty"`
	Facets         []apiFacet   `json:"facets"`
	NextCursor     *string      `json:"next_cursor,omitempty"`
}

// apiFacet is one category's count in a search.
type apiFacet struct {
	Category string `json:"category"`
	Count    int64  `json:"count"`
}

// apiSearchListings answers GET /api/v1/listings with search parameters.
func (s *Server) apiSearchListings(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if q.Has("before") || q.Has("after") {
		s.error(w, r, &market.Error{Code: market.EINVALID, Message: "Search results page with cursor, not before/after.",
			Fields: map[string]string{"cursor": "use cursor (from next_cursor) to page search results, not before or after"}})
		return
	}
	f, err := search.ParseFilter(q, false)
	if err != nil {
		s.error(w, r, err)
		return
	}
	res, err := s.db.Search(r.Context(), f)
	if err != nil {
		s.error(w, r, err)
		return
	}
	s.photoURLs(res.Listings...)
	tree, err := s.db.Categories(r.Context())
	if err != nil {
		s.error(w, r, err)
		return
	}
	out := apiSearchPage{Listings: make([]apiListing, len(res.Listings)), Total: res.Total, TotalEstimated: res.Estimated,
		CorrectedQuery: res.Corrected, Facets: []apiFacet{}}
	for i, l := range res.Listings {
		out.Listings[i] = toAPIListing(l)
	}
	for _, c := range tree.Leaves() {
		if n := res.Facets[c.ID]; n > 0 {
			out.Facets = append(out.Facets, apiFacet{Category: c.Slug, Count: n})
		}
	}
	if res.Next != nil {
		c := res.Next.Encode()
		out.NextCursor = &c
	}
	s.writeJSON(w, http.StatusOK, "application/json", out)
}
