package postgres

import (
	"context"
	"errors"
	"slices"
	"strconv"

	"github.com/bazaarhq/bazaar/internal/market"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
)

// scanListing scans a row of listingColumns straight into the domain type.
// It is hand-written rather than pgx.RowToStructByName because it is the
// home page's hot path: matching columns to fields by name cost about 2 µs
// and 700 bytes per row (measured with bench/floor's BenchmarkHome).
func scanListing(row pgx.CollectableRow) (*market.Listing, error) {
	l := new(market.Listing)
	err := row.Scan(&l.ID, &l.Name, &l.Description, &l.Price.Cents, &l.Price.Currency, &l.Quantity, &l.Category, &l.Condition, &l.CreatedAt, &l.UpdatedAt, &l.Version,
		&l.SellerID, &l.SellerName)
	return l, err
}

// listingColumns reads a listing from "listings"; the category's slug is a
// primary-key lookup in a 50-row table, and the seller's name one in users.
const listingColumns = listColumnsBase + `(SELECT display_name FROM users WHERE users.id = listings.seller_id)`

// listColumns reads listings for a list (home, seller and category pages,
// search, the API's lists): the same, but SellerName stays empty, since no
// list shows it, and 24 lookups in users would cost the home page time
// for nothing.
const listColumns = listColumnsBase + `''`

const listColumnsBase = `id, name, description, price_cents, currency, quantity,
	(SELECT slug FROM categories WHERE categories.id = listings.category_id), condition, created_at, updated_at, version,
	seller_id, `

// pageColumns reads listings for Listings (the home and seller pages, the
// API's list): listColumns with the category's id where those have its
// slug, which the cached tree gives (pageScanner), and no seller name. The per-row lookup in
// categories was a third of the home page's time in PostgreSQL (an
// index scan for each of 25 rows: 275 against 184 us of PostgreSQL CPU
// per page, measured by make bench).
const pageColumns = `id, name, description, price_cents, currency, quantity, category_id, condition, created_at, updated_at, version, seller_id`

// pageScanner scans rows of pageColumns, the category's slug from the
// tree; a category the tree does not know (added by a migration after
// this process read it) is resolved afterwards by fill.
type pageScanner struct {
	tree    *market.Tree
	seller  bool // the rows end with the seller's name
	unknown map[*market.Listing]int
}

func (s *pageScanner) scan(row pgx.CollectableRow) (*market.Listing, error) {
	l := new(market.Listing)
	var cat int
	dst := []any{&l.ID, &l.Name, &l.Description, &l.Price.Cents, &l.Price.Currency, &l.Quantity, &cat, &l.Condition, &l.CreatedAt, &l.UpdatedAt, &l.Version,
		&l.SellerID, &l.SellerName}
	if !s.seller {
		dst = dst[:len(dst)-1]
	}
	err := row.Scan(dst...)
	if c := s.tree.ByID(cat); c != nil {
		l.Category = c.Slug
	} else if err == nil {
		if s.unknown == nil {
			s.unknown = map[*market.Listing]int{}
		}
		s.unknown[l] = cat
	}
	return l, err
}

// fill reads the slugs of the categories the tree did not know: a rare
// query, right after a migration.
func (s *pageScanner) fill(ctx context.Context, db *DB) error {
	for l, id := range s.unknown {
		if err := db.pool.QueryRow(ctx, `SELECT slug FROM categories WHERE id = $1`, id).Scan(&l.Category); err != nil {
			return err
		}
	}
	return nil
}

// CreateListing validates l, stores it as l.SellerID's, and fills in its
// ID, times and version. A SellerID of 0 gives it to the archive account
// (seeding and store tests) and fills SellerID in; the web layer always
// names the signed-in user. SellerName is left as the caller set it: the
// caller knows who sells, and reading the name back cost every new
// listing a join (issue 13).
func (db *DB) CreateListing(ctx context.Context, l *market.Listing) error {
	if err := l.Validate(); err != nil {
		return err
	}
	category, err := db.leafID(ctx, l.Category)
	if err != nil {
		return err
	}
	if l.SellerID == 0 {
		// Not in the statement: PostgreSQL would initialise the lookup
		// on every execution, run or not.
		id, err := db.archiveID(ctx)
		if err != nil {
			return err
		}
		l.SellerID = id
	}
	// The times are scanned into pgtype values: pgx wraps a *time.Time in
	// a scanner of its own, planned afresh on every insert.
	var created, updated pgtype.Timestamptz
	err = db.pool.QueryRow(ctx, `
		INSERT INTO listings (name, description, price_cents, currency, quantity, category_id, condition, seller_id)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
		RETURNING id, created_at, updated_at, version`,
		l.Name, l.Description, l.Price.Cents, l.Price.Currency, l.Quantity, category, l.Condition, l.SellerID,
	).Scan(&l.ID, &created, &updated, &l.Version)
	l.CreatedAt, l.UpdatedAt = created.Time, updated.Time
	return translate(err)
}

// leafID returns the id of the leaf category named slug, from the cached
// tree as pages resolve it, so that an insert needs no lookup of its own;
// a slug the tree does not know is looked up (a category added by a
// migration after this process read the tree). A slug that names no leaf
// is a message beside the field, and so is a category removed since the
// tree was read (the insert's foreign key, listings_category_id_fkey).
func (db *DB) leafID(ctx context.Context, slug string) (int64, error) {
	tree, err := db.Categories(ctx)
	if err != nil {
		return 0, err
	}
	if c := tree.BySlug(slug); c != nil {
		if !c.Leaf() {
			return 0, market.UnknownCategory("category")
		}
		return int64(c.ID), nil
	}
	var id int64
	err = db.pool.QueryRow(ctx, `SELECT id FROM categories WHERE slug = $1 AND parent_id IS NOT NULL`, slug).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, market.UnknownCategory("category")
	}
	return id, translate(err)
}

// archiveID returns the id of the archive account (migration 00002),
// the seller of listings created without one: seeding and store tests.
func (db *DB) archiveID(ctx context.Context) (int64, error) {
	var id int64
	err := db.pool.QueryRow(ctx, `SELECT id FROM users WHERE email = 'archive@bazaar.invalid'`).Scan(&id)
	return id, translate(err)
}

// Listing returns the listing with the given id, or ENOTFOUND.
func (db *DB) Listing(ctx context.Context, id int64) (*market.Listing, error) {
	l, err := listingByID(ctx, db.pool, id, false)
	return l, translate(err)
}

// listingByID reads one listing, with its row locked until the end of the
// transaction when forUpdate is set. An unknown id is ENOTFOUND; other
// errors are returned untranslated for the caller to translate once.
func listingByID(ctx context.Context, q querier, id int64, forUpdate bool) (*market.Listing, error) {
	sql := `SELECT ` + listingColumns + ` FROM listings WHERE id = $1`
	if forUpdate {
		sql += ` FOR UPDATE`
	}
	rows, _ := q.Query(ctx, sql, id)
	l, err := pgx.CollectExactlyOneRow(rows, scanListing)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, errListingNotFound()
	}
	return l, err
}

// ListingWithPhotos returns the listing with the given id (or ENOTFOUND)
// and its photos in order, the cover first: a listing's page, in one
// round trip (two statements in one batch) rather than two, and the
// category's slug from the cached tree rather than a subquery.
func (db *DB) ListingWithPhotos(ctx context.Context, id int64) (*market.Listing, []market.Photo, error) {
	var (
		l  *market.Listing
		ps []market.Photo
	)
	tree, err := db.Categories(ctx)
	if err != nil {
		return nil, nil, err
	}
	sc := &pageScanner{tree: tree, seller: true}
	b := &pgx.Batch{}
	b.Queue(`SELECT `+pageColumns+`, (SELECT display_name FROM users WHERE users.id = listings.seller_id) FROM listings WHERE id = $1`, id).Query(func(rows pgx.Rows) (err error) {
		l, err = pgx.CollectExactlyOneRow(rows, sc.scan)
		if errors.Is(err, pgx.ErrNoRows) {
			return errListingNotFound()
		}
		return err
	})
	b.Queue(photosSQL+`p.listing_id = $1`+photosOrder, id).Query(func(rows pgx.Rows) (err error) {
		ps, err = scanPhotos(rows)
		return err
	})
	err = db.pool.SendBatch(ctx, b).Close()
	if err == nil {
		err = sc.fill(ctx, db)
	}
	if err != nil {
		return nil, nil, translate(err)
	}
	return l, ps, nil
}

// errListingNotFound is the answer for a listing that does not exist, and
// for one that is not the caller's to change: to anyone but its seller, a
// write finds nothing, so nobody learns more by trying.
func errListingNotFound() error { return market.Errorf(market.ENOTFOUND, "Listing not found.") }

// Listings returns one page of listings, newest first, with cursors to the
// pages on either side. Ids grow with creation, so id order is newest-first
// order and the keyset is the primary key.
func (db *DB) Listings(ctx context.Context, f market.ListingFilter) (*market.ListingPage, error) {
	if f.Limit <= 0 || f.Limit > market.MaxPageSize {
		f.Limit = market.MaxPageSize
	}
	// A seller's page is the same keyset walk over (seller_id, id), which
	// listings_seller_id_id_idx serves. The condition is added only when
	// there is a seller, rather than as "$n = 0 OR seller_id = $n", which
	// would cost the home page its plan.
	where, order, args := "true", "DESC", []any{f.Limit + 1}
	switch {
	case f.After > 0:
		where, order, args = "id > $2", "ASC", append(args, f.After)
	case f.Before > 0:
		where, args = "id < $2", append(args, f.Before)
	}
	if f.SellerID != 0 {
		args = append(args, f.SellerID)
		where += " AND seller_id = $" + strconv.Itoa(len(args))
	}
	tree, err := db.Categories(ctx)
	if err != nil {
		return nil, err
	}
	sc := &pageScanner{tree: tree}
	rows, _ := db.pool.Query(ctx, `SELECT `+pageColumns+` FROM listings WHERE `+where+` ORDER BY id `+order+` LIMIT $1`, args...)
	rs, err := pgx.AppendRows(make([]*market.Listing, 0, f.Limit+1), rows, sc.scan)
	if err == nil {
		err = sc.fill(ctx, db)
	}
	if err != nil {
		return nil, translate(err)
	}
	more := len(rs) > f.Limit
	if more {
		rs = rs[:f.Limit]
	}
	page := &market.ListingPage{Listings: rs}
	if f.After > 0 {
		if !more {
			// Walking back reached the newest listings: show the first page
			// as it is, rather than a short page with a "Previous" link.
			return db.Listings(ctx, market.ListingFilter{Limit: f.Limit, SellerID: f.SellerID})
		}
		slices.Reverse(rs)
	}
	if len(rs) == 0 {
		return page, nil
	}
	first, last := rs[0].ID, rs[len(rs)-1].ID
	switch {
	case f.After > 0:
		page.PrevAfter, page.NextBefore = first, last
	case f.Before > 0:
		// A cursor beyond the newest listing (?before=<huge>) gives the
		// first page: no "Previous" when nothing is newer than it.
		var newer bool
		var err error
		if f.SellerID != 0 {
			err = db.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM listings WHERE id > $1 AND seller_id = $2)`, first, f.SellerID).Scan(&newer)
		} else {
			err = db.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM listings WHERE id > $1)`, first).Scan(&newer)
		}
		if err != nil {
			return nil, translate(err)
		}
		if newer {
			page.PrevAfter = first
		}
		if more {
			page.NextBefore = last
		}
	default:
		if more {
			page.NextBefore = last
		}
	}
	if err := db.fillCovers(ctx, rs); err != nil {
		return nil, translate(err)
	}
	return page, nil
}

// UpdateListing applies the input to the listing with the given id and
// returns the result. Lock, read, check and write are one transaction, so
// concurrent edits cannot interleave and a price is read in the currency the
// listing has at that moment. With ifVersion != 0 the change is based on
// that version of the listing: if the listing has moved on since, nothing
// is written and the error is market.ErrStale (a negative ifVersion
// matches none) (optimistic concurrency for
// people, who take minutes between reading and writing, where the row lock
// covers only the transaction). With sellerID != 0, a listing of another
// seller is ENOTFOUND, as if it did not exist (0: no owner check, for
// store tests).
func (db *DB) UpdateListing(ctx context.Context, sellerID, id int64, in market.ListingInput, ifVersion int64) (*market.Listing, error) {
	if in.Empty() {
		// Nothing to change: not a write, and updated_at stays true.
		l, err := db.Listing(ctx, id)
		if err == nil && sellerID != 0 && l.SellerID != sellerID {
			return nil, errListingNotFound()
		}
		if err == nil && ifVersion != 0 && l.Version != ifVersion {
			return nil, market.ErrStale
		}
		return l, err
	}
	var l *market.Listing
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		if l, err = listingByID(ctx, tx, id, true); err != nil {
			return err
		}
		if sellerID != 0 && l.SellerID != sellerID {
			return errListingNotFound()
		}
		if ifVersion != 0 && l.Version != ifVersion {
			return market.ErrStale
		}
		if err := in.Apply(l); err != nil {
			return err
		}
		if err := l.Validate(); err != nil {
			return err
		}
		return updateListing(ctx, tx, l)
	})
	if err != nil {
		return nil, err
	}
	return l, nil
}

// updateListing writes every field of l to its row and refreshes
// l.UpdatedAt and l.Version (which the trigger bumps).
func updateListing(ctx context.Context, tx pgx.Tx, l *market.Listing) error {
	err := tx.QueryRow(ctx, `
		UPDATE listings
		SET name = $2, description = $3, price_cents = $4, currency = $5, quantity = $6,
		    category_id = c.id, condition = $8, updated_at = now()
		FROM categories c
		WHERE listings.id = $1 AND c.slug = $7 AND c.parent_id IS NOT NULL
		RETURNING listings.updated_at, listings.version`,
		l.ID, l.Name, l.Description, l.Price.Cents, l.Price.Currency, l.Quantity, l.Category, l.Condition,
	).Scan(&l.UpdatedAt, &l.Version)
	if errors.Is(err, pgx.ErrNoRows) {
		// The row is locked and exists, so the category is what is wrong.
		return market.UnknownCategory("category")
	}
	return err
}

// DeleteListing removes the listing with the given id, or returns
// ENOTFOUND; with sellerID != 0 also when it is another seller's (0: no
// owner check, for store tests).
func (db *DB) DeleteListing(ctx context.Context, sellerID, id int64) error {
	tag, err := db.pool.Exec(ctx, `DELETE FROM listings WHERE id = $1 AND ($2 = 0 OR seller_id = $2)`, id, sellerID)
	if err != nil {
		return translate(err)
	}
	if tag.RowsAffected() == 0 {
		return errListingNotFound()
	}
	return nil
}

// querier is what both the pool and a transaction offer.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// InsertListings stores many valid listings in one COPY, for seeding. It
// returns how many rows it wrote. A listing without a SellerID goes to the
// archive account.
func (db *DB) InsertListings(ctx context.Context, ls []*market.Listing) (int64, error) {
	tree, err := db.Categories(ctx)
	if err != nil {
		return 0, err
	}
	var archive int64
	rows := make([][]any, 0, len(ls))
	for _, l := range ls {
		if err := l.Validate(); err != nil {
			return 0, err
		}
		c := tree.BySlug(l.Category)
		if c == nil || !c.Leaf() {
			return 0, market.UnknownCategory("category")
		}
		seller := l.SellerID
		if seller == 0 {
			if archive == 0 {
				var err error
				if archive, err = db.archiveID(ctx); err != nil {
					return 0, err
				}
			}
			seller = archive
		}
		rows = append(rows, []any{l.Name, l.Description, l.Price.Cents, l.Price.Currency, l.Quantity, int64(c.ID), l.Condition, seller})
	}
	n, err := db.pool.CopyFrom(ctx, pgx.Identifier{"listings"},
		[]string{"name", "description", "price_cents", "currency", "quantity", "category_id", "condition", "seller_id"}, pgx.CopyFromRows(rows))
	return n, translate(err)
}

// CountListings returns how many listings exist.
func (db *DB) CountListings(ctx context.Context) (int64, error) {
	var n int64
	err := db.pool.QueryRow(ctx, `SELECT count(*) FROM listings`).Scan(&n)
	return n, translate(err)
}
