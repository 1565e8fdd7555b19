package postgres_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bazaarhq/bazaar/internal/market"
	"github.com/bazaarhq/bazaar/internal/postgres"
	"github.com/bazaarhq/bazaar/internal/postgres/postgrestest"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// shop is a test database with raw access beside the store: listings are
// put in with SQL so that these tests name their seller whatever the
// listing API looks like.
type shop struct {
	db   *postgres.DB
	pool *pgxpool.Pool
}

func newShop(t *testing.T) *shop {
	t.Helper()
	url := postgrestest.NewURL(t)
	return &shop{db: postgrestest.Open(t, url), pool: postgrestest.Pool(t, url)}
}

// users creates n users and returns their ids.
func (s *shop) users(t testing.TB, n int) []int64 {
	t.Helper()
	rows, _ := s.pool.Query(context.Background(), `
		INSERT INTO users (email, display_name, password_hash)
		SELECT 'u' || g || '-' || md5(random()::text) || '@example.com', 'User ' || g, '!'
		FROM generate_series(1, $1) g RETURNING id`, n)
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		t.Fatal(err)
	}
	return ids
}

func (s *shop) listing(t tb, seller int64, stock int, cents int64, currency string) int64 {
	t.Helper()
	var id int64
	err := s.pool.QueryRow(context.Background(), `
		INSERT INTO listings (name, price_cents, currency, quantity, seller_id) VALUES ('Item', $1, $2, $3, $4)
		RETURNING id`, cents, currency, stock, seller).Scan(&id)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func (s *shop) stock(t tb, id int64) int {
	t.Helper()
	var q int
	if err := s.pool.QueryRow(context.Background(), `SELECT quantity FROM listings WHERE id = $1`, id).Scan(&q); err != nil {
		t.Fatal(err)
	}
	return q
}

func (s *shop) count(t tb, sql string, args ...any) int {
	t.Helper()
	var n int
	if err := s.pool.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// unitsOrdered is the number of units of a listing in orders that are not
// cancelled.
func (s *shop) unitsOrdered(t tb, id int64) int {
	return s.count(t, `SELECT coalesce(sum(i.quantity), 0) FROM order_items i JOIN orders o ON o.id = i.order_id
		WHERE i.listing_id = $1 AND o.status <> 'cancelled'`, id)
}

// tb is what the helpers need of a *testing.T or a *rapid.T.
type tb interface {
	Helper()
	Fatal(args ...any)
}

func isOutOfStock(err error) bool {
	var oos *market.OutOfStockError
	return errors.As(err, &oos) && market.ErrorCode(err) == market.ECONFLICT
}

// TestCheckoutNeverOversells: 1,000 buyers at once for a listing with 10
// in stock. Exactly 10 orders, 990 clear refusals, stock 0, no other error
// (a deadlock or serialization failure would be one).
//
// Without the conditional update's `AND quantity >= $2` this test fails:
// the CHECK (quantity BETWEEN 0 AND 100000) then refuses the 11th
// decrement, which reaches the buyer as an EINVALID quantity error instead
// of the out-of-stock conflict (990 unexpected errors; see the commit).
func TestCheckoutNeverOversells(t *testing.T) {
	s := newShop(t)
	ctx := context.Background()
	seller := s.users(t, 1)[0]
	id := s.listing(t, seller, 10, 500, "USD")
	buyers := s.users(t, 1000)

	var mu sync.Mutex
	placed, refused := 0, 0
	var others []error
	var wg sync.WaitGroup
	start := make(chan struct{})
	for _, b := range buyers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			orders, _, err := s.db.Checkout(ctx, market.CheckoutRequest{BuyerID: b, Lines: []market.Line{{ListingID: id, Quantity: 1}}})
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil && len(orders) == 1:
				placed++
			case isOutOfStock(err):
				refused++
			default:
				others = append(others, err)
			}
		}()
	}
	close(start)
	wg.Wait()
	if placed != 10 || refused != 990 || len(others) != 0 {
		t.Fatalf("placed %d, refused %d, other errors %d (first: %v); want 10, 990, 0", placed, refused, len(others), first(others))
	}
	if got := s.stock(t, id); got != 0 {
		t.Errorf("stock = %d, want 0", got)
	}
	if n := s.count(t, `SELECT count(*) FROM orders`); n != 10 {
		t.Errorf("%d orders in the database, want 10", n)
	}
	if n := s.unitsOrdered(t, id); n != 10 {
		t.Errorf("%d units ordered, want 10", n)
	}
	if n := s.count(t, `SELECT count(*) FROM mail_outbox`); n != 10 {
		t.Errorf("%d mails for the seller, want one per order (10)", n)
	}
}

func first(errs []error) error {
	if len(errs) == 0 {
		return nil
	}
	return errs[0]
}

// TestCheckoutManyListingsAnyOrder: carts naming the same listings in
// different orders, at once. Checkout locks in ascending id order, so none
// deadlocks; every unit sold is in exactly one order.
func TestCheckoutManyListingsAnyOrder(t *testing.T) {
	s := newShop(t)
	ctx := context.Background()
	sellers := s.users(t, 2)
	ids := []int64{
		s.listing(t, sellers[0], 30, 100, "USD"),
		s.listing(t, sellers[1], 30, 200, "USD"),
		s.listing(t, sellers[0], 30, 300, "EUR"),
		s.listing(t, sellers[1], 30, 400, "JPY"),
	}
	buyers := s.users(t, 120)
	var mu sync.Mutex
	var others []error
	placed := 0
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i, b := range buyers {
		r := rand.New(rand.NewPCG(uint64(i), 8))
		lines := make([]market.Line, 0, len(ids))
		for _, j := range r.Perm(len(ids)) {
			lines = append(lines, market.Line{ListingID: ids[j], Quantity: 1 + r.IntN(2)})
		}
		lines = lines[:1+r.IntN(len(ids))]
		// Half go through a cart, half name their items.
		fromCart := i%2 == 0
		if fromCart {
			for _, l := range lines {
				if _, err := s.db.AddToCart(ctx, b, l.ListingID, l.Quantity); err != nil {
					t.Fatal(err)
				}
			}
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			req := market.CheckoutRequest{BuyerID: b, Lines: lines}
			if fromCart {
				req = market.CheckoutRequest{BuyerID: b, FromCart: true}
			}
			_, _, err := s.db.Checkout(ctx, req)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				placed++
			case !isOutOfStock(err):
				others = append(others, err)
			}
		}()
	}
	close(start)
	wg.Wait()
	if len(others) > 0 || placed == 0 {
		t.Fatalf("%d checkouts placed; %d unexpected errors (first: %v)", placed, len(others), first(others))
	}
	for _, id := range ids {
		if st, sold := s.stock(t, id), s.unitsOrdered(t, id); st < 0 || st+sold != 30 {
			t.Errorf("listing %d: stock %d + sold %d, want 30", id, st, sold)
		}
	}
	// One order per seller and currency.
	if n := s.count(t, `SELECT count(*) FROM orders o JOIN order_items i ON i.order_id = o.id JOIN listings l ON l.id = i.listing_id
		WHERE l.seller_id <> o.seller_id OR l.currency <> o.currency`); n != 0 {
		t.Errorf("%d items in an order of another seller or currency", n)
	}
	if n := s.count(t, `SELECT count(*) FROM orders o WHERE total_cents <> (SELECT sum(unit_price_cents * quantity) FROM order_items WHERE order_id = o.id)`); n != 0 {
		t.Errorf("%d orders whose total is not the sum of their items", n)
	}
}

// TestCheckoutShortWritesNothing: one short line and nothing is written;
// the error names each short line and what is left; the cart is kept.
func TestCheckoutShortWritesNothing(t *testing.T) {
	s := newShop(t)
	ctx := context.Background()
	u := s.users(t, 2)
	seller, buyer := u[0], u[1]
	a := s.listing(t, seller, 5, 100, "USD")
	b := s.listing(t, seller, 3, 100, "USD")
	c := s.listing(t, seller, 2, 100, "USD")
	gone := s.listing(t, seller, 2, 100, "USD")
	for _, l := range []market.Line{ln(a, 2), ln(b, 3), ln(c, 2), ln(gone, 1)} {
		if _, err := s.db.AddToCart(ctx, buyer, l.ListingID, l.Quantity); err != nil {
			t.Fatal(err)
		}
	}
	// Since the buyer added them: b sells down to 1, c sells out, gone is deleted.
	if _, err := s.pool.Exec(ctx, `UPDATE listings SET quantity = CASE id WHEN $1 THEN 1 ELSE 0 END WHERE id IN ($1, $2)`, b, c); err != nil {
		t.Fatal(err)
	}
	if _, err := s.pool.Exec(ctx, `DELETE FROM listings WHERE id = $1`, gone); err != nil {
		t.Fatal(err)
	}
	_, _, err := s.db.Checkout(ctx, market.CheckoutRequest{BuyerID: buyer, FromCart: true})
	var oos *market.OutOfStockError
	if !errors.As(err, &oos) || market.ErrorCode(err) != market.ECONFLICT {
		t.Fatalf("err = %v, want an out-of-stock conflict", err)
	}
	want := []market.Shortage{
		{ListingID: b, Name: "Item", Requested: 3, Available: 1},
		{ListingID: c, Name: "Item", Requested: 2, Available: 0},
		{ListingID: gone, Requested: 1, Deleted: true},
	}
	if !slices.Equal(oos.Lines, want) {
		t.Errorf("short lines = %+v, want %+v", oos.Lines, want)
	}
	// The same, as fields a page or a problem+json shows beside each line.
	if f := market.ErrorFields(err); len(f) != 3 || f[market.ShortageField(b)] != "Item: you asked for 3, only 1 left." ||
		f[market.ShortageField(c)] != "Item is sold out." || f[market.ShortageField(gone)] != fmt.Sprintf("Listing #%d is no longer for sale.", gone) {
		t.Errorf("fields = %v", f)
	}
	if got := s.stock(t, a); got != 5 {
		t.Errorf("stock of the line that could be filled = %d, want 5 (nothing written)", got)
	}
	if n := s.count(t, `SELECT count(*) FROM orders`) + s.count(t, `SELECT count(*) FROM mail_outbox`); n != 0 {
		t.Errorf("%d orders and mails written, want none", n)
	}
	cart, err := s.db.Cart(ctx, buyer)
	if err != nil || len(cart.Items) != 4 {
		t.Fatalf("cart after a refused checkout: %+v, %v; want the 4 lines kept", cart, err)
	}
	problems := map[int64]string{}
	for _, it := range cart.Items {
		problems[it.ListingID] = it.Problem
	}
	if problems[a] != "" || problems[b] != "Only 1 left." || problems[c] != "Sold out." || problems[gone] != "This listing is no longer for sale." {
		t.Errorf("cart lines' problems = %v", problems)
	}
}

// TestCheckoutOrders: one order per seller and currency, prices captured at
// order time, the cart emptied of what was ordered, a mail per seller.
func TestCheckoutOrders(t *testing.T) {
	s := newShop(t)
	ctx := context.Background()
	u := s.users(t, 3)
	ann, bob, buyer := u[0], u[1], u[2]
	a1 := s.listing(t, ann, 5, 250, "USD")
	a2 := s.listing(t, ann, 5, 100, "USD")
	a3 := s.listing(t, ann, 5, 900, "EUR")
	b1 := s.listing(t, bob, 5, 1000, "JPY")
	for _, l := range []market.Line{ln(a1, 2), ln(a2, 1), ln(a3, 1), ln(b1, 3)} {
		if _, err := s.db.AddToCart(ctx, buyer, l.ListingID, l.Quantity); err != nil {
			t.Fatal(err)
		}
	}
	orders, _, err := s.db.Checkout(ctx, market.CheckoutRequest{BuyerID: buyer, FromCart: true})
	if err != nil {
		t.Fatal(err)
	}
	type summary struct {
		seller int64
		total  market.Money
		items  int
	}
	var got []summary
	for _, o := range orders {
		got = append(got, summary{o.SellerID, o.Total, len(o.Items)})
		if o.Status != market.StatusPlaced || o.BuyerID != buyer || o.ID == 0 {
			t.Errorf("order %+v", o)
		}
	}
	want := []summary{{ann, market.Money{Cents: 900, Currency: "EUR"}, 1}, {ann, market.Money{Cents: 600, Currency: "USD"}, 2}, {bob, market.Money{Cents: 3000, Currency: "JPY"}, 1}}
	if !slices.Equal(got, want) {
		t.Errorf("orders = %+v, want %+v", got, want)
	}
	// A later price change does not touch the order.
	if _, err := s.pool.Exec(ctx, `UPDATE listings SET price_cents = 99999`); err != nil {
		t.Fatal(err)
	}
	o, err := s.db.Order(ctx, buyer, orders[1].ID)
	if err != nil {
		t.Fatal(err)
	}
	if o.Total.Cents != 600 || o.Items[0].UnitPrice.Cents != 250 || o.Items[0].Quantity != 2 || len(o.Events) != 1 || o.Events[0].ActorID != buyer {
		t.Errorf("order as read back: %+v", o)
	}
	if n, _ := s.db.CartCount(ctx, buyer); n != 0 {
		t.Errorf("cart holds %d units after checkout, want 0", n)
	}
	if n := s.count(t, `SELECT count(*) FROM mail_outbox m JOIN users u ON u.email = m.recipient WHERE u.id = $1`, ann); n != 2 {
		t.Errorf("ann got %d new-order mails, want 2 (one per order)", n)
	}
	if _, _, err := s.db.Checkout(ctx, market.CheckoutRequest{BuyerID: buyer, FromCart: true}); market.ErrorCode(err) != market.EINVALID {
		t.Errorf("checkout of an empty cart: %v, want invalid", err)
	}
	// Nobody else sees the order.
	if _, err := s.db.Order(ctx, bob, orders[1].ID); market.ErrorCode(err) != market.ENOTFOUND {
		t.Errorf("another seller reads the order: %v, want not found", err)
	}
}

func TestCannotBuyOwnListing(t *testing.T) {
	s := newShop(t)
	ctx := context.Background()
	seller := s.users(t, 1)[0]
	id := s.listing(t, seller, 5, 100, "USD")
	if _, err := s.db.AddToCart(ctx, seller, id, 1); market.ErrorCode(err) != market.EINVALID || market.ErrorFields(err)["listing_id"] == "" {
		t.Errorf("add own listing to cart: %v", err)
	}
	if _, _, err := s.db.Checkout(ctx, market.CheckoutRequest{BuyerID: seller, Lines: []market.Line{ln(id, 1)}}); market.ErrorCode(err) != market.EINVALID {
		t.Errorf("buy own listing: %v", err)
	}
	if s.stock(t, id) != 5 {
		t.Error("stock changed")
	}
}

func TestCart(t *testing.T) {
	s := newShop(t)
	ctx := context.Background()
	u := s.users(t, 2)
	seller, buyer := u[0], u[1]
	id := s.listing(t, seller, 3, 100, "USD")
	soldOut := s.listing(t, seller, 0, 100, "USD")
	for _, tt := range []struct {
		name  string
		do    func() (int, error)
		field string
		msg   string
		total int
	}{
		{"add", func() (int, error) { return s.db.AddToCart(ctx, buyer, id, 2) }, "", "", 2},
		{"add past the stock", func() (int, error) { return s.db.AddToCart(ctx, buyer, id, 2) }, "quantity", "Only 3 left", 0},
		{"add up to the stock", func() (int, error) { return s.db.AddToCart(ctx, buyer, id, 1) }, "", "", 3},
		{"set past the stock", func() (int, error) { return s.db.SetCartItem(ctx, buyer, id, 4) }, "quantity", "Only 3 left", 0},
		{"set", func() (int, error) { return s.db.SetCartItem(ctx, buyer, id, 1) }, "", "", 1},
		{"set zero", func() (int, error) { return s.db.SetCartItem(ctx, buyer, id, 0) }, "quantity", "Quantity must be between 1 and 100,000", 0},
		{"sold out", func() (int, error) { return s.db.AddToCart(ctx, buyer, soldOut, 1) }, "quantity", "Sold out", 0},
		{"missing listing", func() (int, error) { return s.db.AddToCart(ctx, buyer, soldOut+100, 1) }, "", "", -1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			total, err := tt.do()
			switch {
			case tt.total == -1:
				if market.ErrorCode(err) != market.ENOTFOUND {
					t.Errorf("err = %v, want not found", err)
				}
			case tt.field != "":
				if market.ErrorFields(err)[tt.field] != tt.msg {
					t.Errorf("err = %v, want %q beside %s", err, tt.msg, tt.field)
				}
			case err != nil || total != tt.total:
				t.Errorf("= %d, %v; want %d", total, err, tt.total)
			}
		})
	}
	if n, _ := s.db.CartCount(ctx, buyer); n != 1 {
		t.Errorf("cart count = %d, want 1", n)
	}
	if err := s.db.RemoveCartItem(ctx, buyer, id); err != nil {
		t.Fatal(err)
	}
	if err := s.db.RemoveCartItem(ctx, buyer, id); market.ErrorCode(err) != market.ENOTFOUND {
		t.Errorf("removing again: %v, want not found", err)
	}
	if _, err := s.db.UpdateCartItem(ctx, buyer, id, 1); market.ErrorCode(err) != market.ENOTFOUND {
		t.Errorf("updating a line not in the cart: %v, want not found", err)
	}
}

// TestMergeCart: a visitor's session cart joins the user's cart at login.
func TestMergeCart(t *testing.T) {
	s := newShop(t)
	ctx := context.Background()
	u := s.users(t, 2)
	seller, buyer := u[0], u[1]
	a := s.listing(t, seller, 10, 100, "USD")
	b := s.listing(t, seller, 10, 100, "USD")
	own := s.listing(t, buyer, 10, 100, "USD")
	if _, err := s.db.AddToCart(ctx, buyer, a, 2); err != nil {
		t.Fatal(err)
	}
	session := []market.Line{ln(b, 1), ln(a, 3), ln(own, 1), ln(b+1000, 1), ln(b, 2)}
	visitor, err := s.db.LinesCart(ctx, session, 0)
	if err != nil || len(visitor.Items) != 5 || !visitor.Items[3].Deleted || visitor.Items[2].Problem != "" {
		t.Fatalf("the visitor's cart: %+v, %v", visitor, err)
	}
	if err := s.db.MergeCart(ctx, buyer, session); err != nil {
		t.Fatal(err)
	}
	cart, err := s.db.Cart(ctx, buyer)
	if err != nil {
		t.Fatal(err)
	}
	got := map[int64]int{}
	for _, it := range cart.Items {
		got[it.ListingID] = it.Quantity
	}
	if len(got) != 2 || got[a] != 5 || got[b] != 3 {
		t.Errorf("merged cart = %v, want a:5, b:3 (own and unknown listings left out)", got)
	}
	if cart.Count() != 8 || !cart.Orderable() || len(cart.BySeller()) != 1 || cart.BySeller()[0].Total.Cents != 800 {
		t.Errorf("cart totals: count %d, by seller %+v", cart.Count(), cart.BySeller())
	}
}

// TestOrderLifecycle walks the transitions: each is allowed to one party
// from some statuses only, is recorded with its actor, and a cancel returns
// the stock once.
func TestOrderLifecycle(t *testing.T) {
	s := newShop(t)
	ctx := context.Background()
	u := s.users(t, 3)
	seller, buyer, other := u[0], u[1], u[2]
	id := s.listing(t, seller, 10, 100, "USD")
	place := func(t *testing.T) int64 {
		t.Helper()
		orders, _, err := s.db.Checkout(ctx, market.CheckoutRequest{BuyerID: buyer, Lines: []market.Line{ln(id, 2)}})
		if err != nil {
			t.Fatal(err)
		}
		return orders[0].ID
	}
	ship := func(actor, o int64) error { _, err := s.db.ShipOrder(ctx, actor, o, " box 42 "); return err }
	deliver := func(actor, o int64) error { _, err := s.db.DeliverOrder(ctx, actor, o); return err }
	cancel := func(actor, o int64) error { _, err := s.db.CancelOrder(ctx, actor, o); return err }
	type step struct {
		do    func(actor, o int64) error
		actor int64
		code  string // "" for success
	}
	for _, tt := range []struct {
		name   string
		steps  []step
		status string
		stock  int
	}{
		{"ship then deliver", []step{{deliver, buyer, market.ECONFLICT}, {ship, buyer, market.EFORBIDDEN}, {ship, seller, ""}, {ship, seller, market.ECONFLICT},
			{deliver, seller, market.EFORBIDDEN}, {deliver, buyer, ""}, {cancel, seller, market.ECONFLICT}, {cancel, buyer, market.ECONFLICT}}, market.StatusDelivered, 8},
		{"buyer cancels before shipping", []step{{cancel, buyer, ""}, {cancel, buyer, market.ECONFLICT}, {cancel, seller, market.ECONFLICT}, {ship, seller, market.ECONFLICT}}, market.StatusCancelled, 10},
		{"buyer cannot cancel once shipped", []step{{ship, seller, ""}, {cancel, buyer, market.ECONFLICT}}, market.StatusShipped, 8},
		{"seller cancels a shipped order", []step{{ship, seller, ""}, {cancel, seller, ""}, {deliver, buyer, market.ECONFLICT}}, market.StatusCancelled, 10},
		{"others do not see it", []step{{ship, other, market.ENOTFOUND}, {cancel, other, market.ENOTFOUND}, {deliver, other, market.ENOTFOUND}}, market.StatusPlaced, 8},
	} {
		t.Run(tt.name, func(t *testing.T) {
			before := s.stock(t, id)
			o := place(t)
			for i, st := range tt.steps {
				if err := st.do(st.actor, o); market.ErrorCode(err) != st.code {
					t.Fatalf("step %d: err = %v, want code %q", i, err, st.code)
				}
			}
			got, err := s.db.Order(ctx, buyer, o)
			if err != nil {
				t.Fatal(err)
			}
			if got.Status != tt.status {
				t.Errorf("status = %s, want %s", got.Status, tt.status)
			}
			if d := s.stock(t, id) - before; d != tt.stock-10 {
				t.Errorf("stock moved by %d, want %d", d, tt.stock-10)
			}
			var succeeded int
			for _, st := range tt.steps {
				if st.code == "" {
					succeeded++
				}
			}
			if len(got.Events) != 1+succeeded {
				t.Errorf("events = %+v, want placed plus %d", got.Events, succeeded)
			}
			for _, e := range got.Events[1:] {
				if e.ActorID != seller && e.ActorID != buyer || e.At.IsZero() {
					t.Errorf("event %+v", e)
				}
			}
		})
	}
	// The shipping mail reaches the buyer with the note, through the outbox.
	var body string
	err := s.pool.QueryRow(ctx, `SELECT m.body FROM mail_outbox m JOIN users u ON u.email = m.recipient WHERE u.id = $1 AND m.subject LIKE '%shipped' LIMIT 1`, buyer).Scan(&body)
	if err != nil || !contains(body, "box 42") {
		t.Errorf("shipping mail: %q, %v", body, err)
	}
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }

// TestConcurrentCancelReturnsStockOnce: many cancels of one order at once;
// exactly one succeeds and the stock comes back once.
func TestConcurrentCancelReturnsStockOnce(t *testing.T) {
	s := newShop(t)
	ctx := context.Background()
	u := s.users(t, 2)
	seller, buyer := u[0], u[1]
	id := s.listing(t, seller, 10, 100, "USD")
	orders, _, err := s.db.Checkout(ctx, market.CheckoutRequest{BuyerID: buyer, Lines: []market.Line{ln(id, 4)}})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok := 0
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			actor := buyer
			if i%2 == 0 {
				actor = seller
			}
			_, err := s.db.CancelOrder(ctx, actor, orders[0].ID)
			mu.Lock()
			defer mu.Unlock()
			if err == nil {
				ok++
			} else if market.ErrorCode(err) != market.ECONFLICT {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if ok != 1 || s.stock(t, id) != 10 {
		t.Errorf("%d cancels succeeded, stock %d; want 1 and 10", ok, s.stock(t, id))
	}
}

// TestIdempotencyKeyConcurrent: 50 requests with one key at once make one
// set of orders, and every one of them ends with the same response. A
// request that finds the first still in flight gets the in-flight conflict
// and retries, as Stripe's clients do.
func TestIdempotencyKeyConcurrent(t *testing.T) {
	s := newShop(t)
	ctx := context.Background()
	u := s.users(t, 3)
	buyer := u[2]
	a := s.listing(t, u[0], 100, 100, "USD")
	b := s.listing(t, u[1], 100, 100, "USD")
	req := func() market.CheckoutRequest {
		return market.CheckoutRequest{BuyerID: buyer, Lines: []market.Line{ln(a, 1), ln(b, 2)},
			IdempotencyKey: "k-1", Fingerprint: []byte("body-1"), Respond: respondJSON}
	}
	var wg sync.WaitGroup
	responses := make([]market.Response, 50)
	inFlight := make([]int, 50)
	start := make(chan struct{})
	for i := range responses {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			deadline := time.Now().Add(30 * time.Second)
			for time.Now().Before(deadline) {
				orders, replay, err := s.db.Checkout(ctx, req())
				switch {
				case errors.Is(err, market.ErrIdempotencyInFlight):
					inFlight[i]++
					continue
				case err != nil:
					t.Error(err)
				case replay != nil:
					responses[i] = *replay
				default:
					responses[i], _ = respondJSON(orders)
				}
				return
			}
			t.Error("still in flight after 30 s")
		}()
	}
	close(start)
	wg.Wait()
	for i, r := range responses[1:] {
		if r.Status != responses[0].Status || string(r.Body) != string(responses[0].Body) {
			t.Fatalf("response %d = %d %s, want %d %s", i+1, r.Status, r.Body, responses[0].Status, responses[0].Body)
		}
	}
	if responses[0].Status != 201 {
		t.Errorf("status %d", responses[0].Status)
	}
	if n := s.count(t, `SELECT count(*) FROM orders`); n != 2 {
		t.Errorf("%d orders, want one set (2)", n)
	}
	if s.stock(t, a) != 99 || s.stock(t, b) != 98 {
		t.Errorf("stock %d, %d; want 99, 98", s.stock(t, a), s.stock(t, b))
	}
	t.Logf("in-flight answers seen: %d", sum(inFlight))

	// The same key with another request: 422, nothing written.
	other := req()
	other.Fingerprint = []byte("body-2")
	if _, _, err := s.db.Checkout(ctx, other); !errors.Is(err, market.ErrIdempotencyMismatch) || market.ErrorCode(err) != market.EINVALID {
		t.Errorf("same key, other body: %v, want the mismatch (422)", err)
	}
	// The key is the user's: another user may use the same one.
	mine := req()
	mine.BuyerID = u[0]
	mine.Lines = []market.Line{ln(b, 1)}
	if orders, replay, err := s.db.Checkout(ctx, mine); err != nil || replay != nil || len(orders) != 1 {
		t.Errorf("another user's same key: %v, %v, %v", orders, replay, err)
	}
}

func sum(xs []int) int {
	n := 0
	for _, x := range xs {
		n += x
	}
	return n
}

func respondJSON(orders []*market.Order) (market.Response, error) {
	ids := make([]int64, len(orders))
	for i, o := range orders {
		ids[i] = o.ID
	}
	b, err := json.Marshal(map[string]any{"orders": ids})
	return market.Response{Status: 201, Body: b}, err
}

// TestIdempotencyKeyInFlight: while a transaction holds the key, another
// request with it is refused at once with the in-flight conflict; a failed
// checkout stores no key, so its retry runs again.
func TestIdempotencyKeyInFlight(t *testing.T) {
	s := newShop(t)
	ctx := context.Background()
	u := s.users(t, 2)
	id := s.listing(t, u[0], 1, 100, "USD")
	req := market.CheckoutRequest{BuyerID: u[1], Lines: []market.Line{ln(id, 2)}, IdempotencyKey: "k", Fingerprint: []byte("f"), Respond: respondJSON}

	tx, err := s.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(`+postgres.IdempotencyLockKey+`)`, req.BuyerID, req.IdempotencyKey); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.db.Checkout(ctx, req); !errors.Is(err, market.ErrIdempotencyInFlight) {
		t.Errorf("while in flight: %v, want the in-flight conflict", err)
	}
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.db.Checkout(ctx, req); !isOutOfStock(err) {
		t.Fatalf("short: %v", err)
	}
	if _, err := s.pool.Exec(ctx, `UPDATE listings SET quantity = 5`); err != nil {
		t.Fatal(err)
	}
	if orders, _, err := s.db.Checkout(ctx, req); err != nil || len(orders) != 1 {
		t.Fatalf("retry after restock with the same key: %v, %v; want the order (the refusal stored no key)", orders, err)
	}
	if _, replay, err := s.db.Checkout(ctx, req); err != nil || replay == nil {
		t.Fatalf("replay: %v, %v", replay, err)
	}
	// Keys are kept a day at least, then tidied.
	if _, err := s.pool.Exec(ctx, `INSERT INTO idempotency_keys (user_id, key, fingerprint, status, body, created_at)
		VALUES ($1, 'old', '', 201, '', now() - interval '25 hours'), ($1, 'recent', '', 201, '', now() - interval '23 hours')`, u[1]); err != nil {
		t.Fatal(err)
	}
	if err := s.db.Tidy(ctx); err != nil {
		t.Fatal(err)
	}
	rows, _ := s.pool.Query(ctx, `SELECT key FROM idempotency_keys ORDER BY key`)
	keys, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil || !slices.Equal(keys, []string{"k", "recent"}) {
		t.Errorf("keys after tidy = %v, %v; want k and recent", keys, err)
	}
	if err := market.ValidateIdempotencyKey(fmt.Sprintf("%0300d", 1)); err == nil {
		t.Error("a 300-character key was accepted")
	}
}

func ln(id int64, q int) market.Line { return market.Line{ListingID: id, Quantity: q} }
