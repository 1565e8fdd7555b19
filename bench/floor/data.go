package main

import (
	"context"
	"math"
	"strconv"

	"github.com/bazaarhq/bazaar/internal/market"
	"github.com/bazaarhq/bazaar/internal/postgres"
	"github.com/bazaarhq/bazaar/internal/search"
	"github.com/bazaarhq/bazaar/internal/web"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// The floors' data: the rows the app's pages show, read with the app's
// queries (internal/postgres), so the floors pay what the app pays in
// PostgreSQL and differ only in the Go around it. Both floors use these.

// mediaURL is where the app's default photo store (a directory) serves
// its objects: a variant's URL is mediaURL/key (blob.Dir.URL).
const mediaURL = "/media"

// photosSQL is the app's photo query (postgres.photosWhere) before its
// condition.
const photosSQL = `
	SELECT p.id, p.listing_id, p.position, p.width, p.height, p.created_at, v.width, v.height, v.key, v.content_type
	FROM listing_photos p JOIN photo_variants v ON v.photo_id = p.id
	WHERE `

// photosOrder is photosSQL's order: by listing, position, then size.
const photosOrder = ` ORDER BY p.listing_id, p.position, v.width`

// scanPhotos reads photosSQL's rows into photos with their variants'
// URLs, as the app's store and gallery do.
func scanPhotos(rows pgx.Rows) ([]market.Photo, error) {
	var (
		ps []market.Photo
		p  market.Photo
		v  market.PhotoVariant
	)
	_, err := pgx.ForEachRow(rows, []any{&p.ID, &p.ListingID, &p.Position, &p.Width, &p.Height, &p.CreatedAt,
		&v.Width, &v.Height, &v.Key, &v.ContentType}, func() error {
		if n := len(ps); n == 0 || ps[n-1].ID != p.ID {
			ps = append(ps, p)
		}
		v.URL = mediaURL + "/" + v.Key
		last := &ps[len(ps)-1]
		last.Variants = append(last.Variants, v)
		return nil
	})
	return ps, err
}

// fillCovers sets each listing's cover (its photo at position 0), in one
// query, as the app's store does for every list.
func fillCovers(ctx context.Context, pool *pgxpool.Pool, ls []*market.Listing) error {
	if len(ls) == 0 {
		return nil
	}
	ids := make([]int64, len(ls))
	byID := make(map[int64]*market.Listing, len(ls))
	for i, l := range ls {
		ids[i] = l.ID
		byID[l.ID] = l
	}
	rows, _ := pool.Query(ctx, photosSQL+`p.listing_id = ANY($1) AND p.position = 0`+photosOrder, ids)
	ps, err := scanPhotos(rows)
	if err != nil {
		return err
	}
	for i := range ps {
		if l := byID[ps[i].ListingID]; l != nil {
			l.Cover = &ps[i]
		}
	}
	return nil
}

// latest is the home page's data: the newest listings, one more than a
// page to know whether there is a next one, and their covers.
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
	return page, fillCovers(ctx, pool, page.Listings)
}

// one is the bare floor's listing data: the listing with its condition,
// category id (the bare floor names it from its tree) and seller's name,
// and its photos, in one round trip.
func one(ctx context.Context, pool *pgxpool.Pool, id string) (l *market.Listing, category int, photos []market.Photo, err error) {
	n, err := strconv.ParseInt(id, 10, 64)
	if err != nil {
		return nil, 0, nil, err
	}
	l = &market.Listing{}
	b := &pgx.Batch{}
	b.Queue(`
		SELECT l.id, l.name, l.description, l.price_cents, l.currency, l.quantity, l.condition, l.category_id, l.created_at, l.updated_at, u.display_name
		FROM listings l JOIN users u ON u.id = l.seller_id WHERE l.id = $1`, n).
		QueryRow(func(row pgx.Row) error {
			return row.Scan(&l.ID, &l.Name, &l.Description, &l.Price.Cents, &l.Price.Currency, &l.Quantity, &l.Condition, &category, &l.CreatedAt, &l.UpdatedAt, &l.SellerName)
		})
	b.Queue(photosSQL+`p.listing_id = $1`+photosOrder, n).Query(func(rows pgx.Rows) (err error) {
		photos, err = scanPhotos(rows)
		return err
	})
	err = pool.SendBatch(ctx, b).Close()
	return l, category, photos, err
}

// oneWithCrumbs is the app's listing page data: the listing with its
// condition, its category path (leaf and top-level) for the breadcrumb
// and its seller's name, and its photos, in one round trip.
func oneWithCrumbs(ctx context.Context, pool *pgxpool.Pool, id string) (*market.Listing, []*market.Category, []market.Photo, error) {
	n, err := strconv.ParseInt(id, 10, 64)
	if err != nil {
		return nil, nil, nil, err
	}
	l := &market.Listing{}
	top, leaf := &market.Category{}, &market.Category{}
	var photos []market.Photo
	b := &pgx.Batch{}
	b.Queue(`
		SELECT l.id, l.name, l.description, l.price_cents, l.currency, l.quantity, l.condition, l.created_at, l.updated_at,
		       p.slug, p.name, c.slug, c.name, u.id, u.display_name
		FROM listings l JOIN categories c ON c.id = l.category_id JOIN categories p ON p.id = c.parent_id
		JOIN users u ON u.id = l.seller_id
		WHERE l.id = $1`, n).
		QueryRow(func(row pgx.Row) error {
			return row.Scan(&l.ID, &l.Name, &l.Description, &l.Price.Cents, &l.Price.Currency, &l.Quantity, &l.Condition, &l.CreatedAt, &l.UpdatedAt,
				&top.Slug, &top.Name, &leaf.Slug, &leaf.Name, &l.SellerID, &l.SellerName)
		})
	b.Queue(photosSQL+`p.listing_id = $1`+photosOrder, n).Query(func(rows pgx.Rows) (err error) {
		photos, err = scanPhotos(rows)
		return err
	})
	if err := pool.SendBatch(ctx, b).Close(); err != nil {
		return nil, nil, nil, err
	}
	if len(photos) > 0 {
		l.Cover = &photos[0]
	}
	return l, []*market.Category{top, leaf}, photos, nil
}

// categoryResult is a category page's data.
type categoryResult struct {
	Listings  []*market.Listing
	Total     int64
	Facets    map[int]int64 // listings per leaf category
	Estimated bool          // Total and Facets are estimates
	Next      *search.Cursor
}

// exec has a statement planned for its values, as the app's search does
// (postgres.planned).
var exec = []any{pgx.QueryExecModeExec}

// categoryListings is a category page's data, with the app's statements
// (postgres.DB.Search without words or filters): the count per leaf in a
// sample of postgres.SearchWindow+1 listings, scaled by the planner's
// estimate of all listings when the sample is full; the category's total,
// the sum of its leaves' counts; the newest listings of the category's
// leaves; and their covers.
func categoryListings(ctx context.Context, pool *pgxpool.Pool, c *market.Category) (*categoryResult, error) {
	const window = postgres.SearchWindow
	res := &categoryResult{Facets: map[int]int64{}}
	var ids []int64
	if c.Leaf() {
		ids = []int64{int64(c.ID)}
	}
	for _, k := range c.Children {
		ids = append(ids, int64(k.ID))
	}
	rows, _ := pool.Query(ctx, `SELECT category_id, count(*) FROM (
		SELECT category_id FROM listings WHERE true LIMIT $1) s GROUP BY category_id`, append(exec, window+1)...)
	var (
		cat     int32
		n, seen int64
	)
	if _, err := pgx.ForEachRow(rows, []any{&cat, &n}, func() error {
		res.Facets[int(cat)] = n
		seen += n
		return nil
	}); err != nil {
		return nil, err
	}
	for _, id := range ids {
		res.Total += res.Facets[int(id)]
	}
	if seen > window {
		res.Estimated = true
		all, err := estimate(ctx, pool, `true`)
		if err != nil {
			return nil, err
		}
		all = max(all, seen)
		for k, n := range res.Facets {
			res.Facets[k] = roughly(max(1, int64(math.Round(float64(n)*float64(all)/float64(seen)))))
		}
		res.Total = 0
		for _, id := range ids {
			res.Total += res.Facets[int(id)]
		}
		res.Total = roughly(res.Total)
	}
	const size = web.HomePageSize
	rows, _ = pool.Query(ctx, `
		SELECT id, name, description, price_cents, currency, quantity, condition, created_at, updated_at
		FROM listings WHERE true AND category_id = ANY($1) ORDER BY id DESC LIMIT $2`, append(exec, ids, size+1)...)
	ls, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*market.Listing, error) {
		l := &market.Listing{}
		return l, row.Scan(&l.ID, &l.Name, &l.Description, &l.Price.Cents, &l.Price.Currency, &l.Quantity, &l.Condition, &l.CreatedAt, &l.UpdatedAt)
	})
	if err != nil {
		return nil, err
	}
	if len(ls) > size {
		ls = ls[:size]
		res.Next = &search.Cursor{Sort: search.SortNewest, ID: ls[size-1].ID}
	}
	res.Listings = ls
	return res, fillCovers(ctx, pool, ls)
}

// estimate is the planner's estimate of the listings matching where, as
// the app's search reads it.
func estimate(ctx context.Context, pool *pgxpool.Pool, where string, args ...any) (int64, error) {
	var plan []struct {
		Plan struct {
			Rows float64 `json:"Plan Rows"`
		} `json:"Plan"`
	}
	if err := pool.QueryRow(ctx, `EXPLAIN (FORMAT JSON) SELECT 1 FROM listings WHERE `+where, append(exec, args...)...).Scan(&plan); err != nil || len(plan) == 0 {
		return 0, err
	}
	return int64(plan[0].Plan.Rows), nil
}

// roughly rounds an estimate to two significant digits, as the app does.
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
