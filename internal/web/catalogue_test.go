package web_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/bazaarhq/bazaar/internal/market"
	"github.com/bazaarhq/bazaar/internal/postgres"
)

// searchPage mirrors GET /api/v1/listings with search parameters.
type searchPage struct {
	Listings []struct {
		ID        int64  `json:"id"`
		Name      string `json:"name"`
		Category  string `json:"category"`
		Condition string `json:"condition"`
		Quantity  int    `json:"quantity"`
	} `json:"listings"`
	Total  int64 `json:"total"`
	Facets []struct {
		Category string `json:"category"`
		Count    int64  `json:"count"`
	} `json:"facets"`
	NextCursor *string `json:"next_cursor"`
}

// seedCatalogue creates a few listings through the API, with categories and
// conditions, and returns their ids by name.
func (ts *testServer) seedCatalogue(t *testing.T) map[string]int64 {
	t.Helper()
	ids := map[string]int64{}
	for _, body := range []string{
		`{"name":"Stoneware bowl","description":"Hand thrown.","price_cents":3200,"quantity":4,"category":"tableware","condition":"handmade"}`,
		`{"name":"Blue stoneware mug","description":"Holds 300 ml.","price_cents":1800,"quantity":0,"category":"tableware","condition":"handmade"}`,
		`{"name":"Chipped stoneware bowl","description":"Small chip.","price_cents":900,"quantity":2,"category":"tableware","condition":"used"}`,
		`{"name":"Cast iron skillet","description":"Seasoned.","price_cents":2500,"quantity":1,"category":"kitchen","condition":"used"}`,
		`{"name":"Silver ring","description":"Sterling silver band.","price_cents":6000,"quantity":3,"category":"rings","condition":"new"}`,
	} {
		l := ts.createAPI(t, body)
		ids[l.Name] = l.ID
	}
	return ids
}

func searchNames(p searchPage) []string {
	var out []string
	for _, l := range p.Listings {
		out = append(out, l.Name)
	}
	return out
}

func TestAPICategories(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	r := ts.get(t, "/api/v1/categories")
	if r.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", r.StatusCode, r.body)
	}
	var out struct {
		Categories []struct {
			Slug, Name string
			Children   []struct{ Slug, Name string }
		}
	}
	if err := json.Unmarshal([]byte(r.body), &out); err != nil {
		t.Fatal(err)
	}
	leaves := 0
	var slugs []string
	for _, c := range out.Categories {
		leaves += len(c.Children)
		for _, k := range c.Children {
			slugs = append(slugs, k.Slug)
		}
	}
	if len(out.Categories) < 8 || leaves < 40 || !slices.Contains(slugs, "other") || !slices.Contains(slugs, "kitchen") {
		t.Fatalf("%d top-level, %d leaves: %s", len(out.Categories), leaves, r.body)
	}
}

func TestAPIListingCategoryAndCondition(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	// An API client from before categories: Other, used.
	old := ts.createAPI(t, `{"name":"Lamp","price_cents":100,"quantity":1}`)
	r := ts.get(t, "/api/v1/listings/"+itoa(old.ID))
	var got struct{ Category, Condition string }
	json.Unmarshal([]byte(r.body), &got)
	if got.Category != "other" || got.Condition != "used" {
		t.Errorf("defaults: %s", r.body)
	}
	for _, tc := range []struct{ body, field string }{
		{`{"name":"Lamp","price_cents":100,"quantity":1,"category":"home-living"}`, "category"},
		{`{"name":"Lamp","price_cents":100,"quantity":1,"category":"nope"}`, "category"},
		{`{"name":"Lamp","price_cents":100,"quantity":1,"category":""}`, "category"},
		{`{"name":"Lamp","price_cents":100,"quantity":1,"condition":"mint"}`, "condition"},
	} {
		p := wantProblem(t, ts.api(t, http.MethodPost, "/api/v1/listings", tc.body), http.StatusUnprocessableEntity)
		if p.Errors[tc.field] == "" {
			t.Errorf("%s: no message for %s: %+v", tc.body, tc.field, p)
		}
	}
	r = ts.api(t, http.MethodPatch, "/api/v1/listings/"+itoa(old.ID), `{"category":"kitchen","condition":"new"}`)
	if r.StatusCode != http.StatusOK || !strings.Contains(r.body, `"category":"kitchen"`) || !strings.Contains(r.body, `"condition":"new"`) {
		t.Fatalf("patch: %d %s", r.StatusCode, r.body)
	}
}

func TestAPISearch(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	ts.seedCatalogue(t)
	search := func(t *testing.T, query string) searchPage {
		t.Helper()
		r := ts.get(t, "/api/v1/listings?"+query)
		if r.StatusCode != http.StatusOK {
			t.Fatalf("%s: %d %s", query, r.StatusCode, r.body)
		}
		return decode[searchPage](t, r)
	}
	p := search(t, "q=stonewear+bowl")
	if n := searchNames(p); len(n) < 2 || n[0] != "Stoneware bowl" {
		t.Errorf("typo: %v", n)
	}
	p = search(t, "q=stoneware+-chipped")
	if n := searchNames(p); slices.Contains(n, "Chipped stoneware bowl") || len(n) != 2 {
		t.Errorf("exclusion: %v", n)
	}
	p = search(t, "q=stoneware&in_stock=true")
	if n := searchNames(p); slices.Contains(n, "Blue stoneware mug") || p.Total != 2 {
		t.Errorf("in stock: %v total %d", n, p.Total)
	}
	p = search(t, "category=home-living&sort=price_asc")
	if n := searchNames(p); !slices.Equal(n, []string{"Chipped stoneware bowl", "Blue stoneware mug", "Cast iron skillet", "Stoneware bowl"}) {
		t.Errorf("category by price: %v", n)
	}
	facets := map[string]int64{}
	for _, f := range p.Facets {
		facets[f.Category] = f.Count
	}
	if facets["tableware"] != 3 || facets["kitchen"] != 1 || facets["rings"] != 1 {
		t.Errorf("facets ignore the category filter and count the rest: %+v", p.Facets)
	}
	p = search(t, "condition=handmade&min_price_cents=2000&max_price_cents=5000")
	if n := searchNames(p); !slices.Equal(n, []string{"Stoneware bowl"}) {
		t.Errorf("condition and price: %v", n)
	}
	// Pages by cursor: every listing once, in order.
	var all []string
	q := "sort=newest&limit=2"
	for i := 0; ; i++ {
		p := search(t, q)
		all = append(all, searchNames(p)...)
		if p.NextCursor == nil {
			break
		}
		q = "sort=newest&limit=2&cursor=" + url.QueryEscape(*p.NextCursor)
		if i > 5 {
			t.Fatal("pages do not end")
		}
	}
	if len(all) != 5 || all[0] != "Silver ring" {
		t.Errorf("pages: %v", all)
	}
}

// TestAPISearchAnyInput: hostile or odd input is a 422 with a message on
// the parameter, or a normal answer; never a 500.
func TestAPISearchAnyInput(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	ts.seedCatalogue(t)
	for _, tc := range []struct {
		query string
		code  int
		field string
	}{
		{"q=", 200, ""},
		{"q=" + strings.Repeat("a", 10000), 422, "q"},
		{"q=%26%7C%21%3A%2A%28%29%27", 200, ""},
		{"q=%00%00", 200, ""},
		{"q=%FF%FE", 422, "q"},
		{"q=bowl%00bowl", 200, ""},
		{"q=" + url.QueryEscape(`'; DROP TABLE listings; --`), 200, ""},
		{"sort=cheapest", 422, "sort"},
		{"sort=relevance", 200, ""},
		{"condition=mint", 422, "condition"},
		{"category=nope", 422, "category"},
		{"min_price_cents=-1", 422, "min_price_cents"},
		{"min_price_cents=1e3", 422, "min_price_cents"},
		{"min_price_cents=500&max_price_cents=100", 422, "max_price_cents"},
		{"in_stock=maybe", 422, "in_stock"},
		{"cursor=garbage", 422, "cursor"},
		{"cursor=" + strings.Repeat("A", 5000), 422, "cursor"},
		{"q=bowl&before=3", 422, "cursor"},
		{"limit=0&q=x", 422, "limit"},
	} {
		r := ts.get(t, "/api/v1/listings?"+tc.query)
		if tc.code == 200 {
			if r.StatusCode != 200 {
				t.Errorf("%.60s: %d %s", tc.query, r.StatusCode, r.body)
			}
			continue
		}
		if p := wantProblem(t, r, tc.code); p.Errors[tc.field] == "" {
			t.Errorf("%.60s: no message for %s: %+v", tc.query, tc.field, p)
		}
	}
	// A cursor from one sort order is refused in another.
	p := decode[searchPage](t, ts.get(t, "/api/v1/listings?sort=newest&limit=1"))
	r := ts.get(t, "/api/v1/listings?sort=price_asc&cursor="+url.QueryEscape(*p.NextCursor))
	wantProblem(t, r, 422)
}

func TestAPISuggest(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	ts.seedCatalogue(t)
	var out struct {
		Suggestions []string `json:"suggestions"`
	}
	for q, want := range map[string][]string{
		"sto":      {"stoneware"},
		"blue sto": {"blue stoneware"},
		"s":        {"stoneware", "silver", "skillet"},
		"":         {},
		"zzz":      {},
		"%21%21":   {},
	} {
		r := ts.get(t, "/api/v1/suggest?q="+url.QueryEscape(q))
		if r.StatusCode != 200 {
			t.Fatalf("%q: %d %s", q, r.StatusCode, r.body)
		}
		json.Unmarshal([]byte(r.body), &out)
		if !slices.Equal(out.Suggestions, want) {
			t.Errorf("suggest %q = %v, want %v", q, out.Suggestions, want)
		}
	}
	wantProblem(t, ts.get(t, "/api/v1/suggest?q=%FF"), 422)
}

func TestSearchPage(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	ts.seedCatalogue(t)
	r := ts.get(t, "/search?q=stonewear+bowl")
	if r.StatusCode != 200 {
		t.Fatalf("%d %s", r.StatusCode, r.body)
	}
	for _, want := range []string{
		`<mark>Stoneware</mark> <mark>bowl</mark>`, // typo still highlighted
		`value="stonewear bowl"`,                   // the header's box keeps the query
		`2 listings`,
		`/search?category=home-living&amp;q=stonewear`, // facet keeps q
	} {
		if !strings.Contains(r.body, want) {
			t.Errorf("search page lacks %s\n%s", want, regexpFind(`(?s)(<aside.*)`, r.body))
		}
	}
	// Markup in a query or a name is text.
	ts.createAPI(t, `{"name":"<script>alert(1)</script> bowl","price_cents":100,"quantity":1}`)
	r = ts.get(t, "/search?q="+url.QueryEscape(`<script>bowl`))
	if strings.Contains(r.body, "<script>alert") || r.StatusCode != 200 {
		t.Errorf("markup not escaped: %d", r.StatusCode)
	}
	// Bad input: the page again, 422, the message beside the field.
	r = ts.get(t, "/search?q="+strings.Repeat("x", 10000))
	if r.StatusCode != 422 || !strings.Contains(r.body, "Search text must be at most 200 characters.") {
		t.Errorf("long query: %d", r.StatusCode)
	}
	r = ts.get(t, "/search?min_price=abc")
	if r.StatusCode != 422 || !strings.Contains(r.body, "Enter a price such as 12.50") {
		t.Errorf("bad price: %d", r.StatusCode)
	}
	r = ts.get(t, "/search?q=%26%7C%21")
	if r.StatusCode != 200 {
		t.Errorf("punctuation only: %d", r.StatusCode)
	}
	// Prices on the page are in units.
	r = ts.get(t, "/search?min_price=20&max_price=40")
	if !strings.Contains(r.body, "Stoneware bowl") || strings.Contains(r.body, "Chipped stoneware bowl") || !strings.Contains(r.body, "2 listings") {
		t.Errorf("price range in units: %s", r.body)
	}
	// The header's search box and category menu are on every page.
	for _, path := range []string{"/", "/listings/new", "/search", "/c/kitchen"} {
		r := ts.get(t, path)
		if !strings.Contains(r.body, `action="/search"`) || !strings.Contains(r.body, `href="/c/home-living"`) {
			t.Errorf("%s: no search box or category menu", path)
		}
	}
}

func TestCategoryPage(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	ts.seedCatalogue(t)
	r := ts.get(t, "/c/home-living")
	if r.StatusCode != 200 {
		t.Fatalf("%d %s", r.StatusCode, r.body)
	}
	for _, want := range []string{
		`<a href="/c/home-living">Home &amp; Living</a>`, // breadcrumb
		`href="/c/tableware">Tableware</a> <span class="count">(3)</span>`,
		`href="/c/kitchen">Kitchen</a> <span class="count">(1)</span>`,
		"4 listings",
	} {
		if !strings.Contains(r.body, want) {
			t.Errorf("category page lacks %s", want)
		}
	}
	if strings.Contains(r.body, "Silver ring") {
		t.Error("a ring on the Home & Living page")
	}
	r = ts.get(t, "/c/tableware?condition=used")
	if !strings.Contains(r.body, "Chipped stoneware bowl") || strings.Contains(r.body, ">Stoneware bowl<") || !strings.Contains(r.body, "1 listing<") {
		t.Errorf("leaf with condition: %s", r.body)
	}
	if r := ts.get(t, "/c/nope"); r.StatusCode != 404 {
		t.Errorf("unknown category: %d", r.StatusCode)
	}
	// Paginated: 24 a page, a Next link that keeps the filters.
	for i := 0; i < 25; i++ {
		ts.createAPI(t, `{"name":"Print `+itoa(int64(i))+`","price_cents":100,"quantity":1,"category":"prints"}`)
	}
	r = ts.get(t, "/c/prints?in_stock=1")
	next := regexpFind(`href="(/c/prints\?[^"]*cursor=[^"]*)"`, r.body)
	if strings.Count(r.body, `class="card"`) != 24 || next == "" || !strings.Contains(next, "in_stock=1") {
		t.Fatalf("first page: %d cards, next %q", strings.Count(r.body, `class="card"`), next)
	}
	r = ts.get(t, strings.ReplaceAll(next, "&amp;", "&"))
	if strings.Count(r.body, `class="card"`) != 1 || strings.Contains(r.body, `rel="next"`) {
		t.Errorf("second page: %d cards", strings.Count(r.body, `class="card"`))
	}
}

func TestSellFormCategory(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	r := ts.get(t, "/listings/new")
	if !strings.Contains(r.body, `<option value="kitchen">Kitchen</option>`) || !strings.Contains(r.body, `<option value="handmade">Handmade</option>`) {
		t.Fatal("sell form has no category or condition choice")
	}
	// The form sends both; empty means not chosen.
	f := validForm()
	f.Set("category", "")
	f.Set("condition", "")
	r = ts.postForm(t, "/listings", f)
	if r.StatusCode != 422 || !strings.Contains(r.body, "Choose a category") || !strings.Contains(r.body, "Choose a condition") {
		t.Fatalf("unchosen: %d", r.StatusCode)
	}
	f.Set("category", "home-living") // not a leaf
	f.Set("condition", "new")
	r = ts.postForm(t, "/listings", f)
	if r.StatusCode != 422 || !strings.Contains(r.body, "Choose one of the listed categories") || !strings.Contains(r.body, `<option value="new" selected>`) {
		t.Fatalf("top-level category: %d", r.StatusCode)
	}
	f.Set("category", "lighting")
	id := ts.createForm(t, f)
	r = ts.get(t, "/listings/"+itoa(id))
	if !strings.Contains(r.body, `<a href="/c/lighting">Lighting</a>`) || !strings.Contains(r.body, "New") {
		t.Errorf("listing page lacks breadcrumb or condition")
	}
	r = ts.get(t, "/listings/"+itoa(id)+"/edit")
	if !strings.Contains(r.body, `<option value="lighting" selected>`) {
		t.Error("edit form does not preselect the category")
	}
	// Findable the moment it exists.
	r = ts.get(t, "/search?q=brass")
	if !strings.Contains(r.body, "<mark>Brass</mark> lamp") {
		t.Error("new listing not found by search")
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// regexpFind returns the first submatch of pattern in s, or "".
func regexpFind(pattern, s string) string {
	m := regexp.MustCompile(pattern).FindStringSubmatch(s)
	if m == nil {
		return ""
	}
	return m[1]
}

// TestSearchPastTheWindow: with more matches than the store counts one by
// one, the API and the page say the total is an estimate, and the pages
// still hold every match exactly once.
func TestSearchPastTheWindow(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	n := postgres.SearchWindow + 30
	for i := range n {
		l := &market.Listing{Name: "Oak table " + strconv.Itoa(i), Price: market.Money{Cents: 5000}, Quantity: 1, Category: "furniture", Condition: "used"}
		if err := ts.DB.CreateListing(context.Background(), l); err != nil {
			t.Fatal(err)
		}
	}
	type estimatedPage struct {
		searchPage
		TotalEstimated bool `json:"total_estimated"`
	}
	seen := map[int64]bool{}
	next := "/api/v1/listings?q=oak&limit=100"
	for range 20 {
		r := ts.get(t, next)
		if r.StatusCode != http.StatusOK {
			t.Fatalf("%s: %d %s", next, r.StatusCode, r.body)
		}
		page := decode[estimatedPage](t, r)
		if !page.TotalEstimated || page.Total < int64(postgres.SearchWindow) {
			t.Errorf("total %d, estimated %v: want an estimate past %d", page.Total, page.TotalEstimated, postgres.SearchWindow)
		}
		for _, l := range page.Listings {
			if seen[l.ID] {
				t.Fatalf("listing %d on two pages", l.ID)
			}
			seen[l.ID] = true
		}
		if page.NextCursor == nil {
			break
		}
		next = "/api/v1/listings?q=oak&limit=100&cursor=" + url.QueryEscape(*page.NextCursor)
	}
	if len(seen) != n {
		t.Errorf("%d listings over the pages, want %d", len(seen), n)
	}
	if body := ts.get(t, "/search?q=oak").body; !strings.Contains(body, "About ") {
		t.Errorf("the page does not say the total is an estimate")
	}
	// A typo is corrected, and says so.
	r := ts.get(t, "/api/v1/listings?q=tabel")
	if !strings.Contains(r.body, `"corrected_query":"table"`) || !strings.Contains(r.body, "Oak table") {
		t.Errorf("typo: %d %.300s", r.StatusCode, r.body)
	}
	if body := ts.get(t, "/search?q=tabel").body; !strings.Contains(body, "showing results for “<strong>table</strong>”") {
		t.Errorf("the page does not say what it searched instead")
	}
}
