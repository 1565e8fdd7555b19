package postgres

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/bazaarhq/bazaar/internal/market"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Checkout turns lines (or the buyer's cart) into orders, one per seller
// and currency, in one transaction:
//
//   - stock is taken by one conditional update per listing,
//     `quantity = quantity - n WHERE quantity >= n`, in ascending listing
//     id order, so concurrent checkouts queue on each row instead of
//     overselling, and never wait on each other in a cycle (no deadlock);
//     listings.quantity's CHECK (>= 0) is the backstop;
//   - if any line cannot be filled, nothing is written and the error is a
//     *market.OutOfStockError naming each short line and what is left;
//   - prices and names are captured into the order items;
//   - each seller's new-order mail goes into the outbox;
//   - from the cart, the ordered lines leave it;
//   - with an Idempotency-Key, the key and req.Respond's response are
//     stored too, so the key commits with the orders or not at all.
//
// With a key already used for the same request it returns (nil, the
// stored response, nil) and writes nothing; see checkIdempotencyKey for the
// other answers. A failed checkout stores no key: it wrote nothing, so a
// retry with the same key runs again.
//
// Payment is out of scope: orders start placed. A payment step goes here,
// after the stock is taken and before the transaction commits (or as a
// "pending payment" status a later step moves on).
func (db *DB) Checkout(ctx context.Context, req market.CheckoutRequest) ([]*market.Order, *market.Response, error) {
	if req.IdempotencyKey != "" {
		if err := market.ValidateIdempotencyKey(req.IdempotencyKey); err != nil {
			return nil, nil, err
		}
	}
	lines := req.Lines
	if !req.FromCart {
		var err error
		if lines, err = market.NormalizeLines(lines); err != nil {
			return nil, nil, err
		}
	}
	var orders []*market.Order
	var replay *market.Response
	// A listing renamed or repriced between checkout's read and its stock
	// update makes the attempt roll back (errListingChanged): the order
	// must say what the buyer pays. Then it runs again on the new values.
	var err error
	for attempt := 0; attempt < 5; attempt++ {
		orders, replay = nil, nil
		err = db.inTx(ctx, func(tx pgx.Tx) error {
			if req.IdempotencyKey != "" {
				var err error
				if replay, err = checkIdempotencyKey(ctx, tx, req); err != nil || replay != nil {
					return err
				}
			}
			lines := lines
			if req.FromCart {
				var err error
				if lines, err = cartLines(ctx, tx, req.BuyerID); err != nil {
					return err
				}
				if lines, err = market.NormalizeLines(lines); err != nil {
					return market.Errorf(market.EINVALID, "Your cart is empty.")
				}
			}
			// What the checkout writes besides the orders goes in the same
			// batch, before the stock updates: the ordered lines leave the
			// cart, and the key is stored with its response.
			finish := func(b *pgx.Batch, placed []*market.Order) error {
				if req.FromCart {
					ids := make([]int64, len(lines))
					for i, l := range lines {
						ids[i] = l.ListingID
					}
					b.Queue(`DELETE FROM cart_items WHERE user_id = $1 AND listing_id = ANY($2)`, req.BuyerID, ids)
				}
				if req.IdempotencyKey != "" && req.Respond != nil {
					resp, err := req.Respond(placed)
					if err != nil {
						return err
					}
					b.Queue(`INSERT INTO idempotency_keys (user_id, key, fingerprint, status, body) VALUES ($1, $2, $3, $4, $5)`,
						req.BuyerID, req.IdempotencyKey, req.Fingerprint, resp.Status, resp.Body)
				}
				return nil
			}
			var err error
			orders, err = placeOrders(ctx, tx, req.BuyerID, lines, finish)
			return err
		})
		if !errors.Is(err, errListingChanged) {
			break
		}
	}
	if errors.Is(err, errListingChanged) {
		err = market.Errorf(market.ECONFLICT, "A listing in your order changed while you checked out, so nothing was ordered. Please check it and try again.")
	}
	if err != nil {
		return nil, nil, err
	}
	return orders, replay, nil
}

// checkIdempotencyKey claims req's key for this transaction, Stripe's way:
//
//   - a transaction-level advisory lock on (user, key) marks the request
//     in flight; if another transaction holds it, the answer is
//     market.ErrIdempotencyInFlight (409) at once, not a wait;
//   - a stored key with the same fingerprint returns its response, to
//     replay; with another fingerprint, market.ErrIdempotencyMismatch (422).
//
// The lock is released when the transaction ends, after its commit is
// visible, so the next request with the key reads the stored row.
func checkIdempotencyKey(ctx context.Context, tx pgx.Tx, req market.CheckoutRequest) (*market.Response, error) {
	var locked bool
	if err := tx.QueryRow(ctx, `SELECT pg_try_advisory_xact_lock(`+idempotencyLockKey+`)`, req.BuyerID, req.IdempotencyKey).Scan(&locked); err != nil {
		return nil, err
	}
	if !locked {
		return nil, market.ErrIdempotencyInFlight
	}
	var fp []byte
	var resp market.Response
	err := tx.QueryRow(ctx, `SELECT fingerprint, status, body FROM idempotency_keys WHERE user_id = $1 AND key = $2`,
		req.BuyerID, req.IdempotencyKey).Scan(&fp, &resp.Status, &resp.Body)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return nil, nil
	case err != nil:
		return nil, err
	case !bytes.Equal(fp, req.Fingerprint):
		return nil, market.ErrIdempotencyMismatch
	}
	return &resp, nil
}

// idempotencyLockKey is the advisory lock's key for ($1 user id, $2 key). A
// hash collision between two keys only makes one wait for the other's 409.
const idempotencyLockKey = `hashtextextended('bazaar.idempotency:' || $1::bigint || ':' || $2::text, 0)`

func cartLines(ctx context.Context, tx pgx.Tx, userID int64) ([]market.Line, error) {
	// FOR UPDATE: two checkouts of one cart at once serialize here, and the
	// second finds the cart already emptied of what the first ordered.
	rows, _ := tx.Query(ctx, `SELECT listing_id, quantity FROM cart_items WHERE user_id = $1 ORDER BY listing_id FOR UPDATE`, userID)
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (market.Line, error) {
		var l market.Line
		err := row.Scan(&l.ListingID, &l.Quantity)
		return l, err
	})
}

// placeOrders writes the orders for lines (normalised: ascending ids) and
// takes their stock, in the shortest time a listing's row lock can be
// held: it reads the listings (no lock), then sends one pipelined batch of
// every order with its items, first event and seller's mail (one statement
// per order), then finish's statements (the cart, the Idempotency-Key),
// and last the conditional stock updates, in ascending id order. A hot
// listing's row is thus locked from its update to the commit: one round
// trip, as in the bare floor's update-then-commit, instead of the inserts'
// round trip too.
//
// Each update also requires the name, price, currency and seller that the
// orders captured, so an order never states another price than the one
// paid: if one changed meanwhile, the attempt fails with errListingChanged
// and Checkout runs it again. A line short of stock fails it with a
// *market.OutOfStockError naming each short line; nothing stays written
// either way (the caller's transaction rolls back).
func placeOrders(ctx context.Context, tx pgx.Tx, buyerID int64, lines []market.Line, finish func(*pgx.Batch, []*market.Order) error) ([]*market.Order, error) {
	type listing struct {
		item   market.OrderItem
		seller int64
		stock  int
	}
	ids := make([]int64, len(lines))
	for i, l := range lines {
		ids[i] = l.ListingID
	}
	now := make(map[int64]*listing, len(lines))
	rows, _ := tx.Query(ctx, `SELECT id, name, price_cents, currency, seller_id, quantity FROM listings WHERE id = ANY($1)`, ids)
	var id int64
	var x listing
	if _, err := pgx.ForEachRow(rows, []any{&id, &x.item.Name, &x.item.UnitPrice.Cents, &x.item.UnitPrice.Currency, &x.seller, &x.stock}, func() error {
		c := x
		now[id] = &c
		return nil
	}); err != nil {
		return nil, err
	}
	// Lines that cannot be filled as things stand are refused before
	// anything is written; the updates below catch what changes after.
	var short []market.Shortage
	for _, l := range lines {
		x := now[l.ListingID]
		switch {
		case x == nil:
			short = append(short, market.Shortage{ListingID: l.ListingID, Requested: l.Quantity, Deleted: true})
		case x.seller == buyerID:
			return nil, market.ErrOwnListing(x.item.Name)
		case x.stock < l.Quantity:
			short = append(short, market.Shortage{ListingID: l.ListingID, Name: x.item.Name, Requested: l.Quantity, Available: x.stock})
		}
	}
	if len(short) > 0 {
		return nil, &market.OutOfStockError{Lines: short}
	}

	// One order per seller and currency, in a stable order.
	var orders []*market.Order
	for _, l := range lines {
		x := now[l.ListingID]
		it := x.item
		it.ListingID, it.Quantity = l.ListingID, l.Quantity
		i := slices.IndexFunc(orders, func(o *market.Order) bool {
			return o.SellerID == x.seller && o.Total.Currency == it.UnitPrice.Currency
		})
		if i < 0 {
			orders = append(orders, &market.Order{BuyerID: buyerID, SellerID: x.seller, Status: market.StatusPlaced,
				Total: market.Money{Currency: it.UnitPrice.Currency}})
			i = len(orders) - 1
		}
		orders[i].Items = append(orders[i].Items, it)
		orders[i].Total.Cents += it.Subtotal().Cents
	}
	slices.SortFunc(orders, func(a, b *market.Order) int {
		return cmp.Or(cmp.Compare(a.SellerID, b.SellerID), cmp.Compare(a.Total.Currency, b.Total.Currency))
	})
	batch := &pgx.Batch{}
	for _, o := range orders {
		ids := make([]int64, len(o.Items))
		names := make([]string, len(o.Items))
		prices := make([]int64, len(o.Items))
		qs := make([]int32, len(o.Items))
		for i, it := range o.Items {
			ids[i], names[i], prices[i], qs[i] = it.ListingID, it.Name, it.UnitPrice.Cents, int32(it.Quantity) // #nosec G115 -- NormalizeLines bounds it by MaxQuantity
		}
		// The mail names the order's id, known only inside the statement:
		// the body is written with orderIDMark where the id goes.
		batch.Queue(`
			WITH o AS (
				INSERT INTO orders (buyer_id, seller_id, status, currency, total_cents) VALUES ($1, $2, 'placed', $3, $4)
				RETURNING id, created_at, updated_at
			), i AS (
				INSERT INTO order_items (order_id, listing_id, name, unit_price_cents, quantity)
				SELECT o.id, x.listing_id, x.name, x.price, x.quantity
				FROM o, unnest($5::bigint[], $6::text[], $7::bigint[], $8::int[]) AS x(listing_id, name, price, quantity)
			), e AS (
				INSERT INTO order_events (order_id, status, actor_id, note) SELECT o.id, 'placed', $1, '' FROM o
			), m AS (
				INSERT INTO mail_outbox (recipient, subject, body)
				SELECT u.email, 'New order #' || o.id, replace($9, $10, o.id::text) FROM o, users u WHERE u.id = $2
			)
			SELECT id, created_at, updated_at FROM o`,
			o.BuyerID, o.SellerID, o.Total.Currency, o.Total.Cents, ids, names, prices, qs, newOrderMail(o), orderIDMark,
		).QueryRow(func(row pgx.Row) error {
			if err := row.Scan(&o.ID, &o.CreatedAt, &o.UpdatedAt); err != nil {
				return err
			}
			o.Events = []market.OrderEvent{{Status: market.StatusPlaced, ActorID: buyerID, At: o.CreatedAt}}
			return nil
		})
	}
	// finish renders the response from the orders, whose ids the batch
	// fills in: it runs when the inserts' results have been read, which
	// pgx does in order, before the statements queued after them are
	// needed. So its statements go in a second batch, sent with the
	// updates.
	if err := tx.SendBatch(ctx, batch).Close(); err != nil {
		return nil, err
	}
	batch = &pgx.Batch{}
	if err := finish(batch, orders); err != nil {
		return nil, err
	}
	taken := make([]bool, len(lines))
	for i, l := range lines {
		// The conditional update is the whole guard against overselling: the
		// row lock it takes makes a concurrent checkout of the same listing
		// wait, then re-evaluate quantity >= n on the row as it is now.
		x := now[l.ListingID]
		batch.Queue(`
			UPDATE listings SET quantity = quantity - $2
			WHERE id = $1 AND quantity >= $2 AND name = $3 AND price_cents = $4 AND currency = $5 AND seller_id = $6`,
			l.ListingID, l.Quantity, x.item.Name, x.item.UnitPrice.Cents, x.item.UnitPrice.Currency, x.seller,
		).Exec(func(tag pgconn.CommandTag) error {
			taken[i] = tag.RowsAffected() == 1
			return nil
		})
	}
	if err := tx.SendBatch(ctx, batch).Close(); err != nil {
		return nil, err
	}
	for i, l := range lines {
		if taken[i] {
			continue
		}
		s := market.Shortage{ListingID: l.ListingID, Requested: l.Quantity}
		var stock int
		var name, currency string
		var cents, seller int64
		err := tx.QueryRow(ctx, `SELECT name, quantity, price_cents, currency, seller_id FROM listings WHERE id = $1`, l.ListingID).
			Scan(&name, &stock, &cents, &currency, &seller)
		x := now[l.ListingID]
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			s.Deleted = true
		case err != nil:
			return nil, err
		case stock < l.Quantity:
			s.Name, s.Available = name, stock
		case name != x.item.Name || cents != x.item.UnitPrice.Cents || currency != x.item.UnitPrice.Currency || seller != x.seller:
			return nil, errListingChanged
		default:
			// Neither short nor changed now: it was short when the update
			// ran and was restocked since. Try again.
			return nil, errListingChanged
		}
		short = append(short, s)
	}
	if len(short) > 0 {
		return nil, &market.OutOfStockError{Lines: short}
	}
	return orders, nil
}

// errListingChanged fails a checkout attempt that found a listing renamed,
// repriced or moved since it read it; Checkout tries again.
var errListingChanged = errors.New("a listing changed during checkout")

// orderIDMark stands for the order's id in a new-order mail's body until
// the statement that inserts the order replaces it. Its control characters
// can be in no listing name (market refuses them), so only the marks are
// replaced.
const orderIDMark = "\x1forder_id\x1f"

func recordEvent(ctx context.Context, tx pgx.Tx, orderID int64, status string, actor int64, note string) error {
	_, err := tx.Exec(ctx, `INSERT INTO order_events (order_id, status, actor_id, note) VALUES ($1, $2, $3, $4)`, orderID, status, actor, note)
	return err
}

// mailUser puts a message to userID's address in the outbox, inside the
// caller's transaction: the mail goes out if and only if the event commits.
func mailUser(ctx context.Context, tx pgx.Tx, userID int64, subject, body string) error {
	_, err := tx.Exec(ctx, `INSERT INTO mail_outbox (recipient, subject, body) SELECT email, $2, $3 FROM users WHERE id = $1`, userID, subject, body)
	return err
}

func newOrderMail(o *market.Order) string {
	var b bytes.Buffer
	fmt.Fprintf(&b, "You have a new order, #%s:\n\n", orderIDMark)
	for _, it := range o.Items {
		fmt.Fprintf(&b, "  %d x %s at %s\n", it.Quantity, it.Name, it.UnitPrice)
	}
	fmt.Fprintf(&b, "\nTotal: %s\n\nShip it from your sales page: /sales/%s\n", o.Total, orderIDMark)
	return b.String()
}

const orderColumns = `o.id, o.buyer_id, o.seller_id, o.status, o.currency, o.total_cents, o.tracking, o.created_at, o.updated_at,
	b.display_name, s.display_name`

const orderFrom = ` FROM orders o JOIN users b ON b.id = o.buyer_id JOIN users s ON s.id = o.seller_id`

func scanOrder(row pgx.CollectableRow) (*market.Order, error) {
	o := new(market.Order)
	err := row.Scan(&o.ID, &o.BuyerID, &o.SellerID, &o.Status, &o.Total.Currency, &o.Total.Cents, &o.Tracking,
		&o.CreatedAt, &o.UpdatedAt, &o.BuyerName, &o.SellerName)
	return o, err
}

// Order returns the order with the given id, its items and events, if
// viewerID is its buyer or its seller; to anyone else it does not exist
// (ENOTFOUND).
func (db *DB) Order(ctx context.Context, viewerID, id int64) (*market.Order, error) {
	o, err := orderByID(ctx, db.pool, viewerID, id)
	if err != nil {
		return nil, translate(err)
	}
	if err := fillItems(ctx, db.pool, []*market.Order{o}); err != nil {
		return nil, translate(err)
	}
	rows, _ := db.pool.Query(ctx, `SELECT status, actor_id, note, at FROM order_events WHERE order_id = $1 ORDER BY id`, id)
	o.Events, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (market.OrderEvent, error) {
		var e market.OrderEvent
		err := row.Scan(&e.Status, &e.ActorID, &e.Note, &e.At)
		return e, err
	})
	return o, translate(err)
}

func orderByID(ctx context.Context, q querier, viewerID, id int64) (*market.Order, error) {
	rows, _ := q.Query(ctx, `SELECT `+orderColumns+orderFrom+` WHERE o.id = $1 AND (o.buyer_id = $2 OR o.seller_id = $2)`, id, viewerID)
	o, err := pgx.CollectExactlyOneRow(rows, scanOrder)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, market.Errorf(market.ENOTFOUND, "Order not found.")
	}
	return o, err
}

// fillItems reads the items of orders in one query.
func fillItems(ctx context.Context, q querier, orders []*market.Order) error {
	if len(orders) == 0 {
		return nil
	}
	ids := make([]int64, len(orders))
	byID := make(map[int64]*market.Order, len(orders))
	for i, o := range orders {
		ids[i] = o.ID
		byID[o.ID] = o
	}
	rows, _ := q.Query(ctx, `
		SELECT i.order_id, i.listing_id, i.name, i.unit_price_cents, o.currency, i.quantity
		FROM order_items i JOIN orders o ON o.id = i.order_id
		WHERE i.order_id = ANY($1) ORDER BY i.order_id, i.listing_id`, ids)
	var orderID int64
	var it market.OrderItem
	_, err := pgx.ForEachRow(rows, []any{&orderID, &it.ListingID, &it.Name, &it.UnitPrice.Cents, &it.UnitPrice.Currency, &it.Quantity}, func() error {
		o := byID[orderID]
		o.Items = append(o.Items, it)
		return nil
	})
	return err
}

// Orders returns one page of a buyer's orders (f.BuyerID) or a seller's
// sales (f.SellerID), newest first, with their items.
func (db *DB) Orders(ctx context.Context, f market.OrderFilter) (*market.OrderPage, error) {
	if f.Limit <= 0 || f.Limit > market.MaxPageSize {
		f.Limit = market.MaxPageSize
	}
	col, who := "o.buyer_id", f.BuyerID
	if f.SellerID != 0 {
		col, who = "o.seller_id", f.SellerID
	}
	before := f.Before
	if before <= 0 {
		before = 1<<63 - 1
	}
	// col is one of two fixed column names; every value is a parameter.
	rows, _ := db.pool.Query(ctx, `SELECT `+orderColumns+orderFrom+` WHERE `+col+` = $1 AND o.id < $2 ORDER BY o.id DESC LIMIT $3`,
		who, before, f.Limit+1)
	orders, err := pgx.CollectRows(rows, scanOrder)
	if err != nil {
		return nil, translate(err)
	}
	page := &market.OrderPage{Orders: orders}
	if len(orders) > f.Limit {
		page.Orders = orders[:f.Limit]
		page.NextBefore = page.Orders[f.Limit-1].ID
	}
	return page, translate(fillItems(ctx, db.pool, page.Orders))
}

// ShipOrder marks a placed order shipped, by its seller, with an optional
// tracking note, and mails the buyer.
func (db *DB) ShipOrder(ctx context.Context, sellerID, id int64, note string) (*market.Order, error) {
	note, err := market.ValidateTrackingNote(note)
	if err != nil {
		return nil, err
	}
	return db.transition(ctx, sellerID, id, market.ActionShip, note, `
		UPDATE orders SET status = 'shipped', tracking = $3, updated_at = now()
		WHERE id = $1 AND seller_id = $2 AND status = 'placed'`, note)
}

// DeliverOrder marks a shipped order delivered, by its buyer.
func (db *DB) DeliverOrder(ctx context.Context, buyerID, id int64) (*market.Order, error) {
	return db.transition(ctx, buyerID, id, market.ActionDeliver, "", `
		UPDATE orders SET status = 'delivered', updated_at = now()
		WHERE id = $1 AND buyer_id = $2 AND status = 'shipped'`)
}

// CancelOrder cancels an order, by its buyer before it ships or by its
// seller before it is delivered, and returns its stock in the same
// transaction. The status test is in the update itself, so a second cancel
// matches no row and cannot return the stock twice.
func (db *DB) CancelOrder(ctx context.Context, actorID, id int64) (*market.Order, error) {
	return db.transition(ctx, actorID, id, market.ActionCancel, "", `
		UPDATE orders SET status = 'cancelled', updated_at = now()
		WHERE id = $1 AND ((buyer_id = $2 AND status = 'placed') OR (seller_id = $2 AND status IN ('placed', 'shipped')))`)
}

// transition runs one conditional update (id $1, actor $2, extra
// arguments from $3), the only check of who may move the order where;
// records the event; and for a cancel returns the stock and for a ship
// mails the buyer, all in one transaction. When the update matches no row
// the order is read to say why: ENOTFOUND to anyone but its buyer and
// seller, else market.TransitionError.
func (db *DB) transition(ctx context.Context, actorID, id int64, action, note, sql string, args ...any) (*market.Order, error) {
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, sql, append([]any{id, actorID}, args...)...)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			o, err := orderByID(ctx, tx, actorID, id)
			if err != nil {
				return err
			}
			return market.TransitionError(o, actorID, action)
		}
		var status string
		switch action {
		case market.ActionShip:
			status = market.StatusShipped
		case market.ActionDeliver:
			status = market.StatusDelivered
		case market.ActionCancel:
			status = market.StatusCancelled
			if err := returnStock(ctx, tx, id); err != nil {
				return err
			}
		}
		if err := recordEvent(ctx, tx, id, status, actorID, note); err != nil {
			return err
		}
		if action == market.ActionShip {
			var buyer int64
			if err := tx.QueryRow(ctx, `SELECT buyer_id FROM orders WHERE id = $1`, id).Scan(&buyer); err != nil {
				return err
			}
			body := fmt.Sprintf("Your order #%d has shipped.\n", id)
			if note != "" {
				body += "\nThe seller's note: " + note + "\n"
			}
			body += fmt.Sprintf("\nWhen it arrives, confirm delivery on /orders/%d\n", id)
			return mailUser(ctx, tx, buyer, fmt.Sprintf("Your order #%d has shipped", id), body)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return db.Order(ctx, actorID, id)
}

// returnStock puts a cancelled order's units back, one listing at a time in
// ascending id order, the order checkout locks them in (no deadlock). A
// listing deleted since has nowhere to take them back.
func returnStock(ctx context.Context, tx pgx.Tx, orderID int64) error {
	rows, _ := tx.Query(ctx, `SELECT listing_id, quantity FROM order_items WHERE order_id = $1 ORDER BY listing_id`, orderID)
	lines, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (market.Line, error) {
		var l market.Line
		err := row.Scan(&l.ListingID, &l.Quantity)
		return l, err
	})
	if err != nil {
		return err
	}
	for _, l := range lines {
		if _, err := tx.Exec(ctx, `UPDATE listings SET quantity = quantity + $2 WHERE id = $1`, l.ListingID, l.Quantity); err != nil {
			return err
		}
	}
	return nil
}
