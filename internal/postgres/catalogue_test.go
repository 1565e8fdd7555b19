package postgres_test

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/bazaarhq/bazaar/internal/market"
	"github.com/bazaarhq/bazaar/internal/postgres"
	"github.com/bazaarhq/bazaar/internal/postgres/postgrestest"
	"github.com/bazaarhq/bazaar/internal/search"
)

// corpus is a small fixed catalogue for relevance tests.
var corpus = []struct {
	name, desc, category, condition string
	cents                           int64
	qty                             int
}{
	{"Stoneware bowl", "Hand thrown, speckled glaze.", "tableware", "handmade", 3200, 4},
	{"Blue stoneware mug", "Holds 300 ml.", "tableware", "handmade", 1800, 0},
	{"Serving platter", "A large stoneware dish for a bowl of fruit.", "tableware", "used", 4500, 1},
	{"Chipped stoneware bowl", "Small chip on the rim.", "tableware", "used", 900, 2},
	{"Cast iron skillet", "Seasoned, 26 cm.", "kitchen", "used", 2500, 1},
	{"Chef's knife", "Carbon steel, very sharp.", "kitchen", "new", 8900, 5},
	{"Silver ring", "Sterling silver band, size N.", "rings", "handmade", 6000, 3},
	{"Gold ring", "Nine carat, plain band.", "rings", "used", 24000, 1},
	{"Road bike", "Steel frame, 56 cm.", "cycling", "used", 35000, 1},
	{"Stool", "Three legs, oak.", "furniture", "handmade", 7000, 2},
}

func seedCorpus(t *testing.T, db *postgres.DB) map[string]*market.Listing {
	t.Helper()
	byName := map[string]*market.Listing{}
	for _, c := range corpus {
		l := &market.Listing{Name: c.name, Description: c.desc, Price: market.Money{Cents: c.cents}, Quantity: c.qty,
			Category: c.category, Condition: c.condition}
		if err := db.CreateListing(context.Background(), l); err != nil {
			t.Fatal(err)
		}
		byName[c.name] = l
	}
	return byName
}

func names(ls []*market.Listing) []string {
	var out []string
	for _, l := range ls {
		out = append(out, l.Name)
	}
	return out
}

func mustQuery(t *testing.T, raw string) search.Query {
	t.Helper()
	q, err := search.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return q
}

func TestCategoriesTree(t *testing.T) {
	db := postgrestest.NewDB(t)
	tree, err := db.Categories(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if n := len(tree.Top); n < 8 {
		t.Errorf("%d top-level categories", n)
	}
	if n := len(tree.Leaves()); n < 40 {
		t.Errorf("%d leaves", n)
	}
	other := tree.BySlug("other")
	if other == nil || !other.Leaf() {
		t.Fatal(`no "other" leaf`)
	}
	for _, top := range tree.Top {
		if top.Leaf() || len(top.Children) == 0 {
			t.Errorf("%s: top-level with %d children", top.Slug, len(top.Children))
		}
		for _, c := range top.Children {
			if c.Parent != top || len(c.Children) != 0 {
				t.Errorf("%s: not a leaf of %s", c.Slug, top.Slug)
			}
		}
	}
	if kitchen := tree.BySlug("kitchen"); kitchen == nil || kitchen.Parent.Slug != "home-living" {
		t.Errorf("kitchen is not under Home & Living: %+v", kitchen)
	}
}

func TestListingCategoryAndCondition(t *testing.T) {
	url := postgrestest.NewURL(t)
	db := postgrestest.Open(t, url)
	ctx := context.Background()
	l := &market.Listing{Name: "Teapot", Price: market.Money{Cents: 100}, Quantity: 1, Category: "kitchen", Condition: "new"}
	if err := db.CreateListing(ctx, l); err != nil {
		t.Fatal(err)
	}
	got, err := db.Listing(ctx, l.ID)
	if err != nil || got.Category != "kitchen" || got.Condition != "new" {
		t.Fatalf("got %+v, %v", got, err)
	}
	for _, slug := range []string{"home-living", "no-such", "Kitchen"} {
		bad := &market.Listing{Name: "X", Price: market.Money{Cents: 100}, Quantity: 1, Category: slug}
		err := db.CreateListing(ctx, bad)
		if market.ErrorFields(err)["category"] == "" {
			t.Errorf("category %q: %v, want a message beside category", slug, err)
		}
		cat, cond := slug, "used"
		_, err = db.UpdateListing(ctx, 0, l.ID, market.ListingInput{Category: &cat, Condition: &cond}, 0)
		if market.ErrorFields(err)["category"] == "" {
			t.Errorf("update to %q: %v", slug, err)
		}
	}
	if got, _ := db.Listing(ctx, l.ID); got.Category != "kitchen" || got.Condition != "new" {
		t.Fatalf("a refused update changed the listing: %+v", got)
	}
	cat := "tableware"
	if got, err := db.UpdateListing(ctx, 0, l.ID, market.ListingInput{Category: &cat}, 0); err != nil || got.Category != "tableware" {
		t.Fatalf("update category: %+v, %v", got, err)
	}
	// Listings written by the release before catalogue (no category or
	// condition named) land in Other, used.
	var id int64
	if err := postgrestest.Pool(t, url).QueryRow(ctx,
		`INSERT INTO listings (name, price_cents, quantity) VALUES ('Old lamp', 100, 1) RETURNING id`).Scan(&id); err != nil {
		t.Fatal(err)
	}
	if got, err := db.Listing(ctx, id); err != nil || got.Category != "other" || got.Condition != "used" {
		t.Fatalf("an old release's listing: %+v, %v", got, err)
	}
}

func TestSearchRelevance(t *testing.T) {
	db := postgrestest.NewDB(t)
	seedCorpus(t, db)
	ctx := context.Background()
	cases := []struct {
		name, q   string
		wantFirst string   // "" when only the set matters
		want      []string // the whole result set, in any order
		never     []string
	}{
		{"name beats description", "bowl", "Stoneware bowl",
			[]string{"Stoneware bowl", "Chipped stoneware bowl", "Serving platter"}, nil},
		{"stemming", "bowls", "Stoneware bowl", []string{"Stoneware bowl", "Chipped stoneware bowl", "Serving platter"}, nil},
		{"typo", "stonewear bowl", "Stoneware bowl", nil, []string{"Road bike"}},
		{"prefix", "sto", "", nil, []string{"Road bike", "Gold ring"}},
		{"exclusion", "stoneware -chipped", "", []string{"Stoneware bowl", "Blue stoneware mug", "Serving platter"}, []string{"Chipped stoneware bowl"}},
		{"exclusion beats typo matching", "stonewear -chipped", "", nil, []string{"Chipped stoneware bowl"}},
		{"phrase", `"silver band"`, "Silver ring", []string{"Silver ring"}, nil},
		{"or", "skillet or knife", "", []string{"Cast iron skillet", "Chef's knife"}, nil},
		{"nothing", "zeppelin", "", []string{}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res, err := db.Search(ctx, search.Filter{Query: mustQuery(t, tc.q), Sort: search.SortRelevance, Limit: 50})
			if err != nil {
				t.Fatal(err)
			}
			got := names(res.Listings)
			if tc.wantFirst != "" && (len(got) == 0 || got[0] != tc.wantFirst) {
				t.Errorf("%q: first %v, want %q", tc.q, got, tc.wantFirst)
			}
			if tc.want != nil {
				g, w := slices.Clone(got), slices.Clone(tc.want)
				slices.Sort(g)
				slices.Sort(w)
				if !slices.Equal(g, w) {
					t.Errorf("%q: got %v, want %v", tc.q, got, tc.want)
				}
			}
			for _, n := range tc.never {
				if slices.Contains(got, n) {
					t.Errorf("%q: %q should not match (got %v)", tc.q, n, got)
				}
			}
			if res.Total != int64(len(got)) {
				t.Errorf("%q: total %d for %d results", tc.q, res.Total, len(got))
			}
		})
	}
	// A prefix finds stoneware as the user types it.
	res, _ := db.Search(ctx, search.Filter{Query: mustQuery(t, "stonew"), Sort: search.SortRelevance, Limit: 50})
	if !slices.Contains(names(res.Listings), "Stoneware bowl") {
		t.Errorf("prefix stonew: %v", names(res.Listings))
	}
}

// TestSearchFiltersAgreeWithGo: every combination of filters gives the
// listings, total and facets that filtering the corpus in Go gives.
func TestSearchFiltersAgreeWithGo(t *testing.T) {
	db := postgrestest.NewDB(t)
	seedCorpus(t, db)
	ctx := context.Background()
	tree, err := db.Categories(ctx)
	if err != nil {
		t.Fatal(err)
	}
	type f = search.Filter
	filters := []f{
		{},
		{Category: "tableware"},
		{Category: "home-living"},
		{Category: "jewellery", InStock: true},
		{Condition: "handmade"},
		{InStock: true},
		{MinCents: 2000, MaxCents: 8000},
		{Category: "home-living", MinCents: 1000, Condition: "used"},
		{Query: mustQuery(t, "stoneware"), InStock: true},
		{Query: mustQuery(t, "stoneware"), Category: "tableware", Condition: "used"},
	}
	for _, sort := range []string{search.SortNewest, search.SortPriceAsc, search.SortPriceDesc} {
		for i, fl := range filters {
			fl.Sort, fl.Limit = sort, 3 // several pages
			var want []string
			wantFacets := map[int]int64{}
			for _, c := range corpus {
				if fl.Condition != "" && c.condition != fl.Condition || fl.InStock && c.qty == 0 ||
					fl.MinCents > 0 && c.cents < fl.MinCents || fl.MaxCents > 0 && c.cents > fl.MaxCents ||
					!fl.Query.Empty() && !strings.Contains(strings.ToLower(c.name+" "+c.desc), "stoneware") {
					continue
				}
				wantFacets[tree.BySlug(c.category).ID]++
				cat := tree.BySlug(c.category)
				if fl.Category != "" && cat.Slug != fl.Category && cat.Parent.Slug != fl.Category {
					continue
				}
				want = append(want, c.name)
			}
			var got []string
			var total int64
			cursor := (*search.Cursor)(nil)
			for page := 0; ; page++ {
				fl.Cursor = cursor
				res, err := db.Search(ctx, fl)
				if err != nil {
					t.Fatal(err)
				}
				if page == 0 {
					total = res.Total
					for id, n := range wantFacets {
						if res.Facets[id] != n {
							t.Errorf("filter %d: facet %d = %d, want %d", i, id, res.Facets[id], n)
						}
					}
					if len(res.Facets) != len(wantFacets) {
						t.Errorf("filter %d: facets %v, want %v", i, res.Facets, wantFacets)
					}
				}
				if len(res.Listings) > 3 {
					t.Fatalf("page of %d", len(res.Listings))
				}
				got = append(got, names(res.Listings)...)
				if res.Next == nil {
					break
				}
				cursor = res.Next
				if page > 10 {
					t.Fatal("pagination does not end")
				}
			}
			if total != int64(len(want)) {
				t.Errorf("%s filter %d: total %d, want %d", sort, i, total, len(want))
			}
			g, w := slices.Clone(got), slices.Clone(want)
			slices.Sort(g)
			slices.Sort(w)
			if !slices.Equal(g, w) {
				t.Errorf("%s filter %d: got %v, want %v", sort, i, got, want)
			}
			// Order: check the sort key is monotonic across pages.
			prices := map[string]int64{}
			for _, c := range corpus {
				prices[c.name] = c.cents
			}
			for k := 1; k < len(got); k++ {
				a, b := prices[got[k-1]], prices[got[k]]
				if sort == search.SortPriceAsc && a > b || sort == search.SortPriceDesc && a < b {
					t.Errorf("%s filter %d: %v out of order", sort, i, got)
				}
			}
		}
	}
}

func TestSearchRelevancePages(t *testing.T) {
	db := postgrestest.NewDB(t)
	seedCorpus(t, db)
	ctx := context.Background()
	full, err := db.Search(ctx, search.Filter{Query: mustQuery(t, "stoneware"), Sort: search.SortRelevance, Limit: 50})
	if err != nil {
		t.Fatal(err)
	}
	var paged []string
	var cur *search.Cursor
	for {
		res, err := db.Search(ctx, search.Filter{Query: mustQuery(t, "stoneware"), Sort: search.SortRelevance, Limit: 1, Cursor: cur})
		if err != nil {
			t.Fatal(err)
		}
		paged = append(paged, names(res.Listings)...)
		if cur = res.Next; cur == nil {
			break
		}
	}
	if !slices.Equal(paged, names(full.Listings)) {
		t.Fatalf("paged %v, one page %v", paged, names(full.Listings))
	}
}

func TestSearchFindableAtOnceAndSuggest(t *testing.T) {
	db := postgrestest.NewDB(t)
	seedCorpus(t, db)
	ctx := context.Background()
	suggest := func(raw string) []string {
		t.Helper()
		got, err := db.Suggest(ctx, mustQuery(t, raw), raw)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	if got := suggest("sto"); !slices.Equal(got, []string{"stoneware", "stool"}) {
		t.Errorf("suggest sto = %v", got)
	}
	if got := suggest("blue sto"); !slices.Equal(got, []string{"blue stoneware", "blue stool"}) {
		t.Errorf("suggest blue sto = %v", got)
	}
	if got := suggest("sto "); len(got) != 0 {
		t.Errorf("after a space: %v", got)
	}
	// Created, renamed, deleted: search and suggestions follow at once.
	l := &market.Listing{Name: "Zanzibar teapot", Price: market.Money{Cents: 100}, Quantity: 1, Category: "kitchen", Condition: "new"}
	if err := db.CreateListing(ctx, l); err != nil {
		t.Fatal(err)
	}
	res, err := db.Search(ctx, search.Filter{Query: mustQuery(t, "zanzibar"), Sort: search.SortRelevance, Limit: 5})
	if err != nil || len(res.Listings) != 1 {
		t.Fatalf("new listing not found: %v, %v", res, err)
	}
	if got := suggest("zan"); !slices.Equal(got, []string{"zanzibar"}) {
		t.Errorf("suggest zan = %v", got)
	}
	name := "Yodel teapot"
	if _, err := db.UpdateListing(ctx, 0, l.ID, market.ListingInput{Name: &name}, 0); err != nil {
		t.Fatal(err)
	}
	if got := suggest("zan"); len(got) != 0 {
		t.Errorf("after rename, suggest zan = %v", got)
	}
	if got := suggest("yod"); !slices.Equal(got, []string{"yodel"}) {
		t.Errorf("after rename, suggest yod = %v", got)
	}
	if err := db.DeleteListing(ctx, 0, l.ID); err != nil {
		t.Fatal(err)
	}
	if got := suggest("yod"); len(got) != 0 {
		t.Errorf("after delete, suggest yod = %v", got)
	}
	if got := suggest("tea"); len(got) != 0 {
		t.Errorf("after delete, suggest tea = %v", got)
	}
}

// TestSearchAnyInput: whatever Parse accepts, PostgreSQL accepts too.
func TestSearchAnyInput(t *testing.T) {
	db := postgrestest.NewDB(t)
	seedCorpus(t, db)
	ctx := context.Background()
	for _, raw := range []string{"&|!:*()'", "a & b | !c", "cat:* & (dog | !fish)", "'''", `"`, `""`, `-"`, "or", "-x or -y",
		"nul\x00byte", "陶器", strings.Repeat("ab ", 66), "\\", "%_", "stone%", "x:*", "<->", "!!!!"} {
		q, err := search.Parse(raw)
		if err != nil {
			continue
		}
		for _, sort := range []string{search.SortRelevance, search.SortNewest} {
			if q.Empty() && sort == search.SortRelevance {
				continue
			}
			if _, err := db.Search(ctx, search.Filter{Query: q, Sort: sort, Limit: 5}); err != nil {
				t.Errorf("Search(%q): %v", raw, err)
			}
		}
		if _, err := db.Suggest(ctx, q, raw); err != nil {
			t.Errorf("Suggest(%q): %v", raw, err)
		}
	}
}

// TestSearchPastTheWindow: with more matches than the store ranks, the
// newest are ranked, the older follow newest first, every match appears
// exactly once across the pages, and the counts say they are estimates.
func TestSearchPastTheWindow(t *testing.T) {
	db := postgrestest.NewDB(t)
	db.SetSearchWindow(4)
	ctx := context.Background()
	var ids []int64 // oldest first
	for i := range 11 {
		// Names alike but for one letter, so that only the window's
		// order, not the names' similarity to the query, tells them apart.
		name, desc := fmt.Sprintf("Brass lamp %c", 'a'+i), "A lamp for the desk."
		if i == 9 { // among the newest four, but lamp only in its description
			name, desc = "Desk light", "Works as a lamp."
		}
		l := &market.Listing{Name: name, Description: desc, Price: market.Money{Cents: 1000}, Quantity: 1, Category: "lighting", Condition: "used"}
		if err := db.CreateListing(ctx, l); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, l.ID)
	}
	other := &market.Listing{Name: "Oak chair", Price: market.Money{Cents: 1000}, Quantity: 1, Category: "furniture", Condition: "used"}
	if err := db.CreateListing(ctx, other); err != nil {
		t.Fatal(err)
	}
	var got []int64
	var cursor *search.Cursor
	for page := 0; ; page++ {
		res, err := db.Search(ctx, search.Filter{Query: mustQuery(t, "lamp"), Sort: search.SortRelevance, Limit: 3, Cursor: cursor})
		if err != nil {
			t.Fatal(err)
		}
		if !res.Estimated || res.Total < 4 {
			t.Errorf("page %d: total %d, estimated %v: want an estimate of at least the window", page, res.Total, res.Estimated)
		}
		if res.Facets[104] < 4 || len(res.Facets) != 1 {
			t.Errorf("page %d: facets %v, want lighting only", page, res.Facets)
		}
		for _, l := range res.Listings {
			got = append(got, l.ID)
		}
		if res.Next == nil {
			break
		}
		if page > 10 {
			t.Fatal("no last page")
		}
		// A cursor survives its encoding.
		f, err := search.ParseFilter(url.Values{"q": {"lamp"}, "cursor": {res.Next.Encode()}}, false)
		if err != nil {
			t.Fatalf("cursor %q: %v", res.Next.Encode(), err)
		}
		cursor = f.Cursor
	}
	// Browsing a category past the window: its total is the sum of its
	// leaves' estimated counts (the sample holds lighting only).
	res, err := db.Search(ctx, search.Filter{Category: "home-living", Sort: search.SortNewest, Limit: 3})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Estimated || res.Total != res.Facets[104] || res.Total < 4 {
		t.Errorf("home-living: total %d, facets %v, estimated %v: want lighting's estimate as the total", res.Total, res.Facets, res.Estimated)
	}
	// The window: the newest four, the description-only match last; then
	// the other seven, newest first.
	want := []int64{ids[10], ids[8], ids[7], ids[9], ids[6], ids[5], ids[4], ids[3], ids[2], ids[1], ids[0]}
	if !slices.Equal(got, want) {
		t.Errorf("order %v, want %v", got, want)
	}
}

func TestSearchCorrectsWordsThatMatchNothing(t *testing.T) {
	db := postgrestest.NewDB(t)
	seedCorpus(t, db)
	ctx := context.Background()
	for q, want := range map[string]string{
		"stonewear bowl": "stoneware bowl", // a typo
		"stonew":         "stoneware",      // a prefix
		"bowl":           "",               // found as typed
		"zeppelin":       "",               // nothing like it
	} {
		res, err := db.Search(ctx, search.Filter{Query: mustQuery(t, q), Sort: search.SortRelevance, Limit: 10})
		if err != nil {
			t.Fatal(err)
		}
		if res.Corrected != want {
			t.Errorf("%q: corrected to %q, want %q", q, res.Corrected, want)
		}
		if want != "" && len(res.Listings) == 0 {
			t.Errorf("%q: corrected to %q but found nothing", q, res.Corrected)
		}
	}
}

func TestRoughly(t *testing.T) {
	for n, want := range map[int64]int64{0: 0, 7: 7, 99: 99, 100: 100, 149: 150, 196906: 200000, 1234: 1200, 1250: 1300} {
		if got := postgres.Roughly(n); got != want {
			t.Errorf("roughly(%d) = %d, want %d", n, got, want)
		}
	}
}

// TestCreateListingCategoriesChanged: CreateListing resolves categories
// from the tree the process read once, and still files a listing under a
// leaf added since, and refuses one removed since beside the field.
func TestCreateListingCategoriesChanged(t *testing.T) {
	url := postgrestest.NewURL(t)
	db := postgrestest.Open(t, url)
	pool := postgrestest.Pool(t, url)
	ctx := context.Background()
	if _, err := pool.Exec(ctx, `INSERT INTO categories (id, parent_id, slug, name, position) VALUES (9901, 101, 'old-leaf', 'Old leaf', 99)`); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Categories(ctx); err != nil { // the tree is read now
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `
		INSERT INTO categories (id, parent_id, slug, name, position) VALUES (9902, 101, 'new-leaf', 'New leaf', 98);
		DELETE FROM categories WHERE slug = 'old-leaf'`); err != nil {
		t.Fatal(err)
	}
	l := &market.Listing{Name: "Teapot", Price: market.Money{Cents: 100}, Quantity: 1, Category: "new-leaf", Condition: "new"}
	if err := db.CreateListing(ctx, l); err != nil {
		t.Fatalf("a leaf added after the tree was read: %v", err)
	}
	var cat int
	if err := pool.QueryRow(ctx, `SELECT category_id FROM listings WHERE id = $1`, l.ID).Scan(&cat); err != nil || cat != 9902 {
		t.Errorf("filed under %d (%v), want 9902", cat, err)
	}
	gone := &market.Listing{Name: "Kettle", Price: market.Money{Cents: 100}, Quantity: 1, Category: "old-leaf", Condition: "new"}
	err := db.CreateListing(ctx, gone)
	if market.ErrorCode(err) != market.EINVALID || market.ErrorFields(err)["category"] == "" {
		t.Errorf("a leaf removed after the tree was read: %v, want a message beside category", err)
	}
	if n, _ := db.CountListings(ctx); n != 1 {
		t.Errorf("%d listings, want 1", n)
	}
}
