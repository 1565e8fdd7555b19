package postgres

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"

	"github.com/bazaarhq/bazaar/internal/market"
	"github.com/bazaarhq/bazaar/internal/search"
	"github.com/jackc/pgx/v5"
)

// categoryCache holds the category tree once read: it changes only through
// migrations, which come with a new release (and only add categories, by
// the expand rule), so a process never needs to read it twice.
type categoryCache struct {
	mu   sync.Mutex
	tree *market.Tree
}

// Categories returns the category tree.
func (db *DB) Categories(ctx context.Context) (*market.Tree, error) {
	db.categories.mu.Lock()
	defer db.categories.mu.Unlock()
	if db.categories.tree != nil {
		return db.categories.tree, nil
	}
	rows, _ := db.pool.Query(ctx, `
		SELECT c.id, coalesce(c.parent_id, 0), c.slug, c.name
		FROM categories c LEFT JOIN categories p ON p.id = c.parent_id
		ORDER BY coalesce(p.position, c.position), c.parent_id NULLS FIRST, c.position`)
	cats, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*market.Category, error) {
		c := new(market.Category)
		return c, row.Scan(&c.ID, &c.ParentID, &c.Slug, &c.Name)
	})
	if err != nil {
		return nil, translate(err)
	}
	db.categories.tree = market.NewTree(cats)
	return db.categories.tree, nil
}

// SearchWindow is how many matches Search ranks and counts one by one
// (about 20 pages); past it, relevance continues newest first and counts
// are estimates. Its cost is the rows read to find that many matches: at a
// million listings, 500 matches of two words that meet in 1% of listings
// are 50,000 rows from the primary key, about 10 ms.
const SearchWindow = 500

// window is the DB's SearchWindow (tests make it small).
func (db *DB) window() int {
	if db.searchWindow > 0 {
		return db.searchWindow
	}
	return SearchWindow
}

// Search returns one page of listings matching f, the total and the
// facet counts. PostgreSQL does all the work, and no statement reads
// every match of a common word:
//
//   - Matching is full-text: the stored tsvector (name weighted A,
//     description B) against websearch_to_tsquery (phrases, -exclusion,
//     or), stemmed, through its GIN index.
//   - Relevance is ts_rank (a name match outranks a description match, as
//     the weights say) plus the trigram similarity of the whole name to the
//     query, which prefers the closest name among equal matches. It ranks
//     the newest SearchWindow matches (all of them when there are fewer),
//     and any older matches follow, newest first: ranking every one of
//     200,000 matches of a common word took two seconds at a million
//     listings; reading its newest 500 from the primary key takes about
//     one millisecond. The first page fixes the window (its oldest id
//     travels in the cursor), so later pages rank the same listings.
//   - Totals and facets are exact up to SearchWindow matches; past it they
//     are estimates (Result.Estimated): the planner's row estimate for the
//     filters, shared among categories as in a sample of SearchWindow
//     matches, rounded to two significant digits; a category's total is
//     the sum of its leaves' shares.
//   - Typos and prefixes: a query that matches nothing is searched again
//     with each unknown word replaced by the known words (search_words,
//     every word of every name) it begins or resembles by trigrams
//     ("stonewear" and "stonew" both find "stoneware"); Result.Corrected
//     says so.
//
// Pages are keyset-paginated on (sort key, id); the cursor carries the
// last row's key.
func (db *DB) Search(ctx context.Context, f search.Filter) (*search.Result, error) {
	tree, err := db.Categories(ctx)
	if err != nil {
		return nil, err
	}
	if f.Limit <= 0 || f.Limit > market.MaxPageSize {
		f.Limit = search.DefaultLimit
	}
	var catIDs []int64
	if f.Category != "" {
		c := tree.BySlug(f.Category)
		if c == nil {
			return nil, &market.Error{Code: market.EINVALID, Message: "Unknown category.",
				Fields: map[string]string{"category": "Unknown category"}}
		}
		if c.Leaf() {
			catIDs = []int64{int64(c.ID)}
		}
		for _, k := range c.Children {
			catIDs = append(catIDs, int64(k.ID))
		}
	}
	res, err := db.search(ctx, newSearchSQL(f, nil), catIDs)
	if err != nil {
		return nil, err
	}
	if words := f.Query.Words(); len(res.Facets) == 0 && len(words) > 0 {
		alts, corrected, err := db.corrections(ctx, words)
		if err != nil {
			return nil, err
		}
		if corrected != "" {
			res, err = db.search(ctx, newSearchSQL(f, alts), catIDs)
			if err != nil {
				return nil, err
			}
			res.Corrected = corrected
		}
	}
	if err := db.fillCovers(ctx, res.Listings); err != nil {
		return nil, translate(err)
	}
	return res, nil
}

// searchSQL is a search's filters as SQL: base holds every filter but the
// category, with its arguments.
type searchSQL struct {
	f    search.Filter
	base string
	args []any
	tsq  string // the tsquery expression; "" without search words
	text string // the positive words, for similarity
	// byID orders the ranking window by the primary key, which is right
	// unless the planner misjudges how many rows match; phrases are the
	// case it does (it counts "a b" as often as a & b, so it walks the
	// whole key for a rare phrase): they order by id + 0, which makes it
	// read the index's matches and sort them instead.
	byID string
}

func (s *searchSQL) builder() *sqlBuilder { return &sqlBuilder{args: slices.Clone(s.args)} }

// newSearchSQL renders f; alts, when not nil, replaces the query's
// positive words by alternatives (one list per word, any of which may
// match) and keeps its exclusions.
func newSearchSQL(f search.Filter, alts [][]string) *searchSQL {
	s := &searchSQL{f: f, byID: "id", text: f.Query.Text()}
	b := &sqlBuilder{}
	var where []string
	switch {
	case f.Query.Empty():
	case alts == nil:
		s.tsq = fmt.Sprintf("websearch_to_tsquery('english', %s)", b.arg(f.Query.Websearch()))
		where = append(where, "search @@ "+s.tsq)
		for _, t := range f.Query.Terms {
			if t.Phrase && !t.Negated {
				s.byID = "id + 0"
			}
		}
	default:
		ands := make([]string, len(alts))
		for i, words := range alts {
			ors := make([]string, len(words))
			for j, w := range words {
				ors[j] = fmt.Sprintf("plainto_tsquery('english', %s)", b.arg(w))
			}
			ands[i] = "(" + strings.Join(ors, " || ") + ")"
		}
		s.tsq = "(" + strings.Join(ands, " && ") + ")"
		where = append(where, "search @@ "+s.tsq)
		if ex := f.Query.Excluded(); ex != "" {
			where = append(where, fmt.Sprintf("NOT search @@ websearch_to_tsquery('english', %s)", b.arg(ex)))
		}
	}
	if f.Condition != "" {
		where = append(where, "condition = "+b.arg(f.Condition))
	}
	if f.InStock {
		where = append(where, "quantity > 0")
	}
	if f.MinCents > 0 {
		where = append(where, "price_cents >= "+b.arg(f.MinCents))
	}
	if f.MaxCents > 0 {
		where = append(where, "price_cents <= "+b.arg(f.MaxCents))
	}
	s.base = "true"
	if len(where) > 0 {
		s.base = strings.Join(where, " AND ")
	}
	s.args = b.args
	return s
}

// ranked is one match in the ranking window.
type ranked struct {
	id    int64
	cat   int32
	score float32
}

// search runs s: the facets and total, then the page.
func (db *DB) search(ctx context.Context, s *searchSQL, catIDs []int64) (*search.Result, error) {
	f := s.f
	res := &search.Result{Facets: map[int]int64{}}
	b := s.builder()
	inCategory := "true"
	if catIDs != nil {
		inCategory = "category_id = ANY(" + b.arg(catIDs) + ")"
	}
	where := s.base + " AND " + inCategory
	whereArgs := slices.Clone(b.args)

	var window []ranked
	windowFull := false
	ranking := f.Sort == search.SortRelevance && s.tsq != ""
	if ranking {
		b := &sqlBuilder{args: slices.Clone(whereArgs)}
		// The window: the newest the window's matches, or, after the first
		// page, every match from the first page's oldest on.
		limit := ""
		w := where
		if c := f.Cursor; c != nil && c.Floor > 0 {
			w += " AND id >= " + b.arg(f.Cursor.Floor)
			windowFull = true
		} else {
			limit = " LIMIT " + b.arg(db.window())
		}
		rows, _ := db.pool.Query(ctx, `
			SELECT id, category_id, ts_rank(search, `+s.tsq+`) + similarity(`+b.arg(s.text)+`, name) AS score
			FROM (SELECT id, category_id, name, search FROM listings WHERE `+w+` ORDER BY `+s.byID+` DESC`+limit+`) w
			ORDER BY score DESC, id DESC`, planned(b.args)...)
		var r ranked
		_, err := pgx.ForEachRow(rows, []any{&r.id, &r.cat, &r.score}, func() error {
			window = append(window, r)
			return nil
		})
		if err != nil {
			return nil, translate(err)
		}
		if limit != "" && len(window) >= db.window() {
			windowFull = true
		}
	}

	// Facets and the total.
	if ranking && catIDs == nil {
		// The window holds the newest matches of every category.
		for _, r := range window {
			res.Facets[int(r.cat)]++
		}
		if windowFull {
			if err := db.estimateFacets(ctx, s, res); err != nil {
				return nil, err
			}
		}
		for _, n := range res.Facets {
			res.Total += n
		}
		if res.Estimated {
			res.Total = roughly(res.Total)
		}
	} else {
		n, err := db.sampleFacets(ctx, s, res)
		if err != nil {
			return nil, err
		}
		chosen := map[int64]bool{}
		for _, c := range catIDs {
			chosen[c] = true
		}
		for c, n := range res.Facets {
			if catIDs == nil || chosen[int64(c)] {
				res.Total += n
			}
		}
		switch {
		case n <= int64(db.window()): // exact
		case ranking && !windowFull:
			res.Total = int64(len(window)) // every match in the category was ranked
		default:
			// The chosen categories' share of the estimate, so that the
			// total agrees with the counts beside it. (The planner's own
			// estimate for the category is only as good as the column's
			// statistics, which a table loaded since the last ANALYZE
			// lacks: it said 750 for 2,500.)
			res.Total = roughly(res.Total)
		}
	}

	if ranking {
		return res, db.rankedPage(ctx, s, res, window, windowFull, where, whereArgs)
	}

	// The page, in a sort order an index serves.
	var order, after string
	if c := f.Cursor; c != nil {
		id := b.arg(c.ID)
		switch f.Sort {
		case search.SortPriceAsc:
			after = fmt.Sprintf("(price_cents, id) > (%s, %s)", b.arg(c.Price), id)
		case search.SortPriceDesc:
			after = fmt.Sprintf("(price_cents, id) < (%s, %s)", b.arg(c.Price), id)
		default:
			after = "id < " + id
		}
	}
	switch f.Sort {
	case search.SortPriceAsc:
		order = "price_cents ASC, id ASC"
	case search.SortPriceDesc:
		order = "price_cents DESC, id DESC"
	default:
		order = s.byID + " DESC"
	}
	pageSQL := `SELECT ` + listColumns + ` FROM listings WHERE ` + where
	if after != "" {
		pageSQL += ` AND ` + after
	}
	pageSQL += ` ORDER BY ` + order + ` LIMIT ` + b.arg(f.Limit+1)
	rows, _ := db.pool.Query(ctx, pageSQL, planned(b.args)...)
	ls, err := pgx.CollectRows(rows, scanListing)
	if err != nil {
		return nil, translate(err)
	}
	if len(ls) > f.Limit {
		ls = ls[:f.Limit]
		last := ls[len(ls)-1]
		sort := f.Sort
		if sort == search.SortRelevance { // without words: newest first
			sort = search.SortNewest
		}
		res.Next = &search.Cursor{Sort: sort, Price: last.Price.Cents, ID: last.ID}
	}
	res.Listings = ls
	return res, nil
}

// rankedPage fills in the page of a relevance search from its window,
// then, past the window, from the older matches, newest first.
func (db *DB) rankedPage(ctx context.Context, s *searchSQL, res *search.Result, window []ranked, full bool, where string, args []any) error {
	f, c := s.f, s.f.Cursor
	floor := int64(0)
	if full {
		if c != nil && c.Floor > 0 {
			floor = c.Floor
		} else {
			floor = window[0].id
			for _, r := range window {
				floor = min(floor, r.id)
			}
		}
	}
	var page []ranked
	if c == nil || !c.Rest {
		for _, r := range window {
			if c != nil && (r.score > c.Score || r.score == c.Score && r.id >= c.ID) {
				continue
			}
			if page = append(page, r); len(page) > f.Limit {
				break
			}
		}
	}
	ids := make([]int64, len(page))
	for i, r := range page {
		ids[i] = r.id
	}
	var ls []*market.Listing
	if len(ids) > 0 {
		rows, _ := db.pool.Query(ctx, `SELECT `+listColumns+` FROM listings WHERE id = ANY($1)`, ids)
		got, err := pgx.CollectRows(rows, scanListing)
		if err != nil {
			return translate(err)
		}
		byID := make(map[int64]*market.Listing, len(got))
		for _, l := range got {
			byID[l.ID] = l
		}
		for _, id := range ids {
			if l := byID[id]; l != nil { // deleted since the window was read
				ls = append(ls, l)
			}
		}
	}
	fromWindow := len(ls)
	if len(ls) <= f.Limit && floor > 0 {
		b := &sqlBuilder{args: slices.Clone(args)}
		older := " AND id < " + b.arg(floor)
		if c != nil && c.Rest {
			older += " AND id < " + b.arg(c.ID)
		}
		rows, _ := db.pool.Query(ctx, `SELECT `+listColumns+` FROM listings WHERE `+where+older+
			` ORDER BY `+s.byID+` DESC LIMIT `+b.arg(f.Limit+1-len(ls)), planned(b.args)...)
		rest, err := pgx.CollectRows(rows, scanListing)
		if err != nil {
			return translate(err)
		}
		ls = append(ls, rest...)
	}
	if len(ls) > f.Limit {
		ls = ls[:f.Limit]
		last := ls[len(ls)-1]
		next := &search.Cursor{Sort: search.SortRelevance, Floor: floor, ID: last.ID}
		if f.Limit <= fromWindow {
			next.Score = page[f.Limit-1].score
		} else {
			next.Rest = true
		}
		res.Next = next
	}
	res.Listings = ls
	return nil
}

// sampleFacets counts the matches of s (every filter but the category)
// per category, up to the window + 1 of them, and returns how many it
// counted; past the window, the counts become estimates.
func (db *DB) sampleFacets(ctx context.Context, s *searchSQL, res *search.Result) (int64, error) {
	b := s.builder()
	rows, _ := db.pool.Query(ctx, `SELECT category_id, count(*) FROM (
		SELECT category_id FROM listings WHERE `+s.base+` LIMIT `+b.arg(db.window()+1)+`) s GROUP BY category_id`, planned(b.args)...)
	var (
		id    int32
		n, in int64
	)
	_, err := pgx.ForEachRow(rows, []any{&id, &n}, func() error {
		res.Facets[int(id)] = n
		in += n
		return nil
	})
	if err != nil {
		return 0, translate(err)
	}
	if in > int64(db.window()) {
		return in, db.estimateFacets(ctx, s, res)
	}
	return in, nil
}

// estimateFacets turns res.Facets, counted in a sample of the matches,
// into estimates for all of them: the planner's estimate of the rows s
// matches, shared out in the sample's proportions.
func (db *DB) estimateFacets(ctx context.Context, s *searchSQL, res *search.Result) error {
	est, err := db.estimate(ctx, s.base, s.args)
	if err != nil {
		return err
	}
	var sampled int64
	for _, n := range res.Facets {
		sampled += n
	}
	est = max(est, sampled)
	for c, n := range res.Facets {
		res.Facets[c] = roughly(max(1, int64(math.Round(float64(n)*float64(est)/float64(sampled)))))
	}
	res.Estimated = true
	return nil
}

// estimate is the planner's estimate of how many listings match where:
// planning reads the statistics (for a word, how often it occurs) and no
// row, so its cost does not grow with the answer.
func (db *DB) estimate(ctx context.Context, where string, args []any) (int64, error) {
	var plan []struct {
		Plan struct {
			Rows float64 `json:"Plan Rows"`
		} `json:"Plan"`
	}
	if err := db.pool.QueryRow(ctx, `EXPLAIN (FORMAT JSON) SELECT 1 FROM listings WHERE `+where, planned(args)...).Scan(&plan); err != nil {
		return 0, translate(err)
	}
	if len(plan) == 0 {
		return 0, nil
	}
	return int64(plan[0].Plan.Rows), nil
}

// roughly rounds an estimate to two significant digits (196,906 is about
// 200,000), so that nobody reads it as a count.
func roughly(n int64) int64 {
	if n < 100 {
		return n
	}
	p := int64(1)
	for n/p >= 100 {
		p *= 10
	}
	return (n + p/2) / p * p
}

// corrections finds, for each word that no name holds, the known words
// that begin with it or resemble it (pg_trgm's similarity, through the
// GiST index on search_words): alts has one list per word (the word itself
// when known), and corrected is the query with each word's closest
// alternative, "" when no word could be corrected.
func (db *DB) corrections(ctx context.Context, words []string) (alts [][]string, corrected string, err error) {
	if len(words) > 8 { // a pasted paragraph is not a typo
		return nil, "", nil
	}
	rows, _ := db.pool.Query(ctx, `
		SELECT q.i, c.word, c.kind FROM unnest($1::text[]) WITH ORDINALITY AS q(w, i)
		CROSS JOIN LATERAL (
			(SELECT word, 0 AS kind, 0::real AS distance FROM search_words WHERE word = q.w COLLATE "C" AND count > 0)
			UNION ALL
			(SELECT word, 1, 0 FROM search_words
			 WHERE word > q.w COLLATE "C" AND word < (q.w || chr(1114111)) COLLATE "C" AND count > 0
			 ORDER BY count DESC, word LIMIT 3)
			UNION ALL
			(SELECT word, 2, word <-> q.w FROM search_words WHERE word % q.w AND count > 0
			 ORDER BY word <-> q.w, word LIMIT 3)
		) c
		ORDER BY q.i, c.kind, c.distance, c.word`, words)
	alts = make([][]string, len(words))
	known := make([]bool, len(words))
	var (
		i    int64
		word string
		kind int32
	)
	_, err = pgx.ForEachRow(rows, []any{&i, &word, &kind}, func() error {
		k := int(i - 1)
		switch {
		case kind == 0:
			known[k] = true
			alts[k] = []string{word}
		case !known[k] && !slices.Contains(alts[k], word):
			alts[k] = append(alts[k], word)
		}
		return nil
	})
	if err != nil {
		return nil, "", translate(err)
	}
	changed := false
	best := make([]string, len(words))
	for k, w := range words {
		switch {
		case len(alts[k]) == 0:
			alts[k] = []string{w} // nothing like it: still required
			best[k] = w
		case !known[k]:
			changed = true
			best[k] = alts[k][0]
		default:
			best[k] = w
		}
	}
	if !changed {
		return nil, "", nil
	}
	return alts, strings.Join(best, " "), nil
}

// Suggest returns up to 10 completions of the last word of q, most common
// first, each prefixed by the words before it ("blue sto" suggests "blue
// stoneware"). A prefix range scan of search_words, which the listings
// triggers keep current.
func (db *DB) Suggest(ctx context.Context, q search.Query, raw string) ([]string, error) {
	words := q.Words()
	if len(words) == 0 || strings.HasSuffix(raw, " ") {
		return []string{}, nil
	}
	prefix := words[len(words)-1]
	lead := strings.Join(words[:len(words)-1], " ")
	if lead != "" {
		lead += " "
	}
	// Every word starting with prefix sorts (in the C collation) at or
	// after prefix and before prefix followed by the highest code point.
	rows, _ := db.pool.Query(ctx, `
		SELECT word FROM search_words
		WHERE word >= $1 AND word < $2 AND count > 0
		ORDER BY count DESC, word LIMIT 10`, prefix, prefix+"\U0010FFFF")
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (string, error) {
		var w string
		err := row.Scan(&w)
		return lead + w, err
	})
	if err != nil {
		return nil, translate(err)
	}
	if out == nil {
		out = []string{}
	}
	return out, nil
}

// planned prefixes a search statement's arguments with the mode that
// plans it for these values every time. Cached prepared statements switch
// to a generic plan after five runs, and a generic plan can neither
// estimate a tsquery's selectivity nor fold websearch_to_tsquery($1) into
// a constant: it parsed the query again for every row it rechecked (a
// rare phrase's 9,000 candidates took 40 ms instead of 10). Planning
// costs a fraction of a millisecond.
func planned(args []any) []any {
	return append([]any{pgx.QueryExecModeExec}, args...)
}

// sqlBuilder numbers bind parameters as they are added, so dynamic SQL is
// assembled from fixed fragments and every value travels as a parameter.
type sqlBuilder struct{ args []any }

func (b *sqlBuilder) arg(v any) string {
	b.args = append(b.args, v)
	return fmt.Sprintf("$%d", len(b.args))
}
