package postgres

import (
	"context"
	"errors"

	"github.com/bazaarhq/bazaar/internal/market"
	"github.com/jackc/pgx/v5"
)

// cartItemColumns reads a cart line joined to its listing and seller; the
// listing columns are NULL for a listing deleted since it was added.
const cartItemColumns = `l.id IS NULL, coalesce(l.name, ''), coalesce(l.price_cents, 0), coalesce(l.currency, ''),
	coalesce(l.quantity, 0), coalesce(l.seller_id, 0), coalesce(u.display_name, '')`

func scanCartItem(row pgx.CollectableRow) (market.CartItem, error) {
	var it market.CartItem
	err := row.Scan(&it.ListingID, &it.Quantity, &it.Deleted, &it.Name, &it.Price.Cents, &it.Price.Currency,
		&it.Stock, &it.SellerID, &it.SellerName)
	return it, err
}

// Cart returns userID's cart, each line checked against its listing as it
// is now (sold out, deleted, more than in stock: marked, not dropped).
func (db *DB) Cart(ctx context.Context, userID int64) (*market.Cart, error) {
	rows, _ := db.pool.Query(ctx, `
		SELECT c.listing_id, c.quantity, `+cartItemColumns+`
		FROM cart_items c
		LEFT JOIN listings l ON l.id = c.listing_id
		LEFT JOIN users u ON u.id = l.seller_id
		WHERE c.user_id = $1
		ORDER BY c.added_at, c.listing_id`, userID)
	items, err := pgx.CollectRows(rows, scanCartItem)
	if err != nil {
		return nil, translate(err)
	}
	return checkedCart(items, userID), nil
}

// LinesCart returns the cart made of lines, for a visitor whose cart lives
// in the session (buyer 0) or for showing lines before they are stored.
func (db *DB) LinesCart(ctx context.Context, lines []market.Line, buyer int64) (*market.Cart, error) {
	ids := make([]int64, len(lines))
	qs := make([]int32, len(lines))
	for i, l := range lines {
		ids[i], qs[i] = l.ListingID, int32(min(max(l.Quantity, 0), market.MaxQuantity)) // #nosec G115 -- clamped to 0..MaxQuantity
	}
	rows, _ := db.pool.Query(ctx, `
		SELECT x.listing_id, x.quantity, `+cartItemColumns+`
		FROM unnest($1::bigint[], $2::int[]) WITH ORDINALITY AS x(listing_id, quantity, n)
		LEFT JOIN listings l ON l.id = x.listing_id
		LEFT JOIN users u ON u.id = l.seller_id
		ORDER BY x.n`, ids, qs)
	items, err := pgx.CollectRows(rows, scanCartItem)
	if err != nil {
		return nil, translate(err)
	}
	return checkedCart(items, buyer), nil
}

func checkedCart(items []market.CartItem, buyer int64) *market.Cart {
	for i := range items {
		items[i].Check(buyer)
	}
	return &market.Cart{Items: items}
}

// CartCount returns how many units are in userID's cart, for the header.
func (db *DB) CartCount(ctx context.Context, userID int64) (int, error) {
	var n int
	err := db.pool.QueryRow(ctx, `SELECT coalesce(sum(quantity), 0) FROM cart_items WHERE user_id = $1`, userID).Scan(&n)
	return n, translate(err)
}

// AddToCart adds qty units of a listing to userID's cart and returns the
// line's new quantity. The sum must pass market.CheckCartQuantity against
// the listing as it is now; otherwise nothing changes.
func (db *DB) AddToCart(ctx context.Context, userID, listingID int64, qty int) (int, error) {
	return db.putCartItem(ctx, userID, listingID, qty, true)
}

// SetCartItem sets the quantity of a listing in userID's cart, adding the
// line if it is not there (the API's PUT), with the checks of AddToCart.
func (db *DB) SetCartItem(ctx context.Context, userID, listingID int64, qty int) (int, error) {
	return db.putCartItem(ctx, userID, listingID, qty, false)
}

// UpdateCartItem changes the quantity of a line already in userID's cart
// (the cart page's form), with the checks of AddToCart; ENOTFOUND when the
// listing is not in the cart.
func (db *DB) UpdateCartItem(ctx context.Context, userID, listingID int64, qty int) (int, error) {
	var n int
	if err := db.pool.QueryRow(ctx, `SELECT count(*) FROM cart_items WHERE user_id = $1 AND listing_id = $2`, userID, listingID).Scan(&n); err != nil {
		return 0, translate(err)
	}
	if n == 0 {
		return 0, errNotInCart()
	}
	return db.putCartItem(ctx, userID, listingID, qty, false)
}

func (db *DB) putCartItem(ctx context.Context, userID, listingID int64, qty int, add bool) (int, error) {
	if err := market.ValidateQuantity(qty); err != nil {
		return 0, err
	}
	var total int
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		var name string
		var stock int
		var seller int64
		err := tx.QueryRow(ctx, `SELECT name, quantity, seller_id FROM listings WHERE id = $1`, listingID).Scan(&name, &stock, &seller)
		if errors.Is(err, pgx.ErrNoRows) {
			return market.Errorf(market.ENOTFOUND, "Listing not found.")
		} else if err != nil {
			return err
		}
		sql := `INSERT INTO cart_items (user_id, listing_id, quantity) VALUES ($1, $2, $3)
			ON CONFLICT (user_id, listing_id) DO UPDATE SET quantity = EXCLUDED.quantity RETURNING quantity`
		if add {
			// Added to the line atomically, so two quick adds cannot together
			// go past the stock unchecked: the check below sees the sum.
			sql = `INSERT INTO cart_items (user_id, listing_id, quantity) VALUES ($1, $2, $3)
				ON CONFLICT (user_id, listing_id) DO UPDATE SET quantity = least(cart_items.quantity + EXCLUDED.quantity, 100000)
				RETURNING quantity`
		}
		if err := tx.QueryRow(ctx, sql, userID, listingID, qty).Scan(&total); err != nil {
			return err
		}
		return market.CheckCartQuantity(name, stock, seller, userID, total)
	})
	if err != nil {
		return 0, err
	}
	return total, nil
}

// RemoveCartItem takes a listing out of userID's cart, or returns
// ENOTFOUND when it is not there.
func (db *DB) RemoveCartItem(ctx context.Context, userID, listingID int64) error {
	tag, err := db.pool.Exec(ctx, `DELETE FROM cart_items WHERE user_id = $1 AND listing_id = $2`, userID, listingID)
	if err != nil {
		return translate(err)
	}
	if tag.RowsAffected() == 0 {
		return errNotInCart()
	}
	return nil
}

func errNotInCart() error {
	return market.Errorf(market.ENOTFOUND, "That listing is not in your cart.")
}

// MergeCart moves a visitor's session cart into userID's cart at login:
// quantities of a listing in both are added (up to market.MaxQuantity), and
// lines for the user's own listings or for listings that no longer exist
// are left out. Lines asking for more than is in stock are kept: the cart
// page marks them, as it does for stock that ran out after adding.
func (db *DB) MergeCart(ctx context.Context, userID int64, lines []market.Line) error {
	if len(lines) == 0 {
		return nil
	}
	lines, err := market.NormalizeLines(lines)
	if err != nil {
		return err
	}
	ids := make([]int64, len(lines))
	qs := make([]int32, len(lines))
	for i, l := range lines {
		ids[i], qs[i] = l.ListingID, int32(l.Quantity) // #nosec G115 -- NormalizeLines bounds it by MaxQuantity
	}
	_, err = db.pool.Exec(ctx, `
		INSERT INTO cart_items (user_id, listing_id, quantity)
		SELECT $1, x.listing_id, x.quantity
		FROM unnest($2::bigint[], $3::int[]) AS x(listing_id, quantity)
		JOIN listings l ON l.id = x.listing_id AND l.seller_id <> $1
		ORDER BY x.listing_id
		ON CONFLICT (user_id, listing_id) DO UPDATE SET quantity = least(cart_items.quantity + EXCLUDED.quantity, 100000)`,
		userID, ids, qs)
	return translate(err)
}
