package postgres

import (
	"context"
	"fmt"
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

// Search returns one page of listings matching f, the total and the
// facet counts. PostgreSQL does all the work:
//
//   - full-text: the stored tsvector (name weighted A, description B)
//     against websearch_to_tsquery (phrases, -exclusion, or), stemmed;
//   - typos and prefixes: pg_trgm's word_similarity of the positive words
//     to the name (the <% operator, GIN-indexed, threshold 0.5: see Open),
//     minus any listing that matches an excluded term;
//   - relevance: ts_rank (a name match outranks a description match, as
//     the weights say) plus the trigram similarity to the name.
//
// Pages are keyset-paginated on (sort key, id), so a deep page costs what
// the first does; the cursor carries the last row's key.
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

	b := &sqlBuilder{}
	var where []string // every filter but the category's
	score := "0::real"
	if !f.Query.Empty() {
		tsq := b.arg(f.Query.Websearch())
		text := b.arg(f.Query.Text())
		match := fmt.Sprintf("(search @@ websearch_to_tsquery('english', %s) OR %s <%% name)", tsq, text)
		if ex := f.Query.Excluded(); ex != "" {
			match = fmt.Sprintf("(%s AND NOT search @@ websearch_to_tsquery('english', %s))", match, b.arg(ex))
		}
		where = append(where, match)
		// similarity (of the whole name) breaks ties between names that
		// hold the words equally well in favour of the closest one.
		score = fmt.Sprintf("(ts_rank(search, websearch_to_tsquery('english', %s)) + word_similarity(%s, name) + similarity(%s, name))", tsq, text, text)
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
	base := "true"
	if len(where) > 0 {
		base = strings.Join(where, " AND ")
	}
	facetArgs := slices.Clone(b.args) // before the category's parameter
	inCategory := "true"
	if catIDs != nil {
		inCategory = "category_id = ANY(" + b.arg(catIDs) + ")"
	}

	// Facets and the total in one pass: counts per leaf for every filter
	// but the category; the total is the sum over the chosen category.
	res := &search.Result{Facets: map[int]int64{}}
	facetSQL := `SELECT category_id, count(*) FROM listings WHERE ` + base + ` GROUP BY category_id`
	rows, _ := db.pool.Query(ctx, facetSQL, facetArgs...)
	var (
		id int32
		n  int64
	)
	_, err = pgx.ForEachRow(rows, []any{&id, &n}, func() error {
		res.Facets[int(id)] = n
		return nil
	})
	if err != nil {
		return nil, translate(err)
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

	// The page.
	var order, after string
	if c := f.Cursor; c != nil {
		id := b.arg(c.ID)
		switch f.Sort {
		case search.SortRelevance:
			after = fmt.Sprintf("(score, id) < (%s::real, %s)", b.arg(c.Score), id)
		case search.SortPriceAsc:
			after = fmt.Sprintf("(price_cents, id) > (%s, %s)", b.arg(c.Price), id)
		case search.SortPriceDesc:
			after = fmt.Sprintf("(price_cents, id) < (%s, %s)", b.arg(c.Price), id)
		default:
			after = "id < " + id
		}
	}
	switch f.Sort {
	case search.SortRelevance:
		order = "score DESC, id DESC"
	case search.SortPriceAsc:
		order = "price_cents ASC, id ASC"
	case search.SortPriceDesc:
		order = "price_cents DESC, id DESC"
	default:
		order = "id DESC"
	}
	pageSQL := `SELECT ` + listColumns + `, score FROM (
		SELECT *, ` + score + ` AS score FROM listings WHERE ` + base + ` AND ` + inCategory + `
	) AS listings`
	if after != "" {
		pageSQL += ` WHERE ` + after
	}
	pageSQL += ` ORDER BY ` + order + ` LIMIT ` + b.arg(f.Limit+1)
	rows, _ = db.pool.Query(ctx, pageSQL, b.args...)
	var scores []float32
	ls, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*market.Listing, error) {
		l := new(market.Listing)
		var s float32
		err := row.Scan(&l.ID, &l.Name, &l.Description, &l.Price.Cents, &l.Price.Currency, &l.Quantity, &l.Category, &l.Condition, &l.CreatedAt, &l.UpdatedAt, &l.Version, &l.SellerID, &l.SellerName, &s)
		scores = append(scores, s)
		return l, err
	})
	if err != nil {
		return nil, translate(err)
	}
	if len(ls) > f.Limit {
		ls = ls[:f.Limit]
		last := ls[len(ls)-1]
		res.Next = &search.Cursor{Sort: f.Sort, Score: scores[f.Limit-1], Price: last.Price.Cents, ID: last.ID}
	}
	if err := db.fillCovers(ctx, ls); err != nil {
		return nil, translate(err)
	}
	res.Listings = ls
	return res, nil
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

// sqlBuilder numbers bind parameters as they are added, so dynamic SQL is
// assembled from fixed fragments and every value travels as a parameter.
type sqlBuilder struct{ args []any }

func (b *sqlBuilder) arg(v any) string {
	b.args = append(b.args, v)
	return fmt.Sprintf("$%d", len(b.args))
}
