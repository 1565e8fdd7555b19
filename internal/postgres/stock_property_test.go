package postgres_test

import (
	"context"
	"errors"
	"testing"

	"github.com/bazaarhq/bazaar/internal/market"
	"pgregory.net/rapid"
)

// TestStockIsConserved runs random sequences of list, add to cart,
// checkout, cancel, ship, deliver and restock by a few users who both sell
// and buy, and checks after every step, for every listing: stock is never
// negative, and initial stock + restocks = stock + units in orders that are
// not cancelled. Every refusal must be one of the domain's expected ones.
func TestStockIsConserved(t *testing.T) {
	s := newShop(t)
	ctx := context.Background()
	users := s.users(t, 4)
	rapid.Check(t, func(rt *rapid.T) {
		// Each run starts with empty carts and its own listings and orders.
		if _, err := s.pool.Exec(ctx, `DELETE FROM cart_items`); err != nil {
			rt.Fatal(err)
		}
		var listings, orders []int64
		added := map[int64]int{} // initial stock + restocks
		user := func(rt *rapid.T, label string) int64 { return rapid.SampledFrom(users).Draw(rt, label) }
		expected := func(rt *rapid.T, what string, err error, codes ...string) {
			if err == nil {
				return
			}
			for _, c := range codes {
				if market.ErrorCode(err) == c {
					return
				}
			}
			rt.Fatalf("%s: unexpected error %v", what, err)
		}
		rt.Repeat(map[string]func(*rapid.T){
			"list": func(rt *rapid.T) {
				stock := rapid.IntRange(0, 5).Draw(rt, "stock")
				cur := rapid.SampledFrom([]string{"USD", "EUR"}).Draw(rt, "currency")
				id := s.listing(rt, user(rt, "seller"), stock, 100, cur)
				listings = append(listings, id)
				added[id] = stock
			},
			"add to cart": func(rt *rapid.T) {
				if len(listings) == 0 {
					rt.Skip("no listings")
				}
				_, err := s.db.AddToCart(ctx, user(rt, "buyer"), rapid.SampledFrom(listings).Draw(rt, "listing"), rapid.IntRange(1, 3).Draw(rt, "qty"))
				expected(rt, "add to cart", err, market.EINVALID)
			},
			"checkout": func(rt *rapid.T) {
				req := market.CheckoutRequest{BuyerID: user(rt, "buyer"), FromCart: true}
				if len(listings) > 0 && rapid.Bool().Draw(rt, "items") {
					req.FromCart = false
					for range rapid.IntRange(1, 3).Draw(rt, "lines") {
						req.Lines = append(req.Lines, market.Line{ListingID: rapid.SampledFrom(listings).Draw(rt, "listing"), Quantity: rapid.IntRange(1, 3).Draw(rt, "qty")})
					}
				}
				placed, _, err := s.db.Checkout(ctx, req)
				var oos *market.OutOfStockError
				if !errors.As(err, &oos) {
					expected(rt, "checkout", err, market.EINVALID) // an empty cart, one's own listing
				}
				for _, o := range placed {
					orders = append(orders, o.ID)
				}
			},
			"cancel": func(rt *rapid.T) {
				if len(orders) == 0 {
					rt.Skip("no orders")
				}
				_, err := s.db.CancelOrder(ctx, user(rt, "actor"), rapid.SampledFrom(orders).Draw(rt, "order"))
				expected(rt, "cancel", err, market.ECONFLICT, market.ENOTFOUND)
			},
			"ship": func(rt *rapid.T) {
				if len(orders) == 0 {
					rt.Skip("no orders")
				}
				_, err := s.db.ShipOrder(ctx, user(rt, "actor"), rapid.SampledFrom(orders).Draw(rt, "order"), "")
				expected(rt, "ship", err, market.ECONFLICT, market.ENOTFOUND, market.EFORBIDDEN)
			},
			"deliver": func(rt *rapid.T) {
				if len(orders) == 0 {
					rt.Skip("no orders")
				}
				_, err := s.db.DeliverOrder(ctx, user(rt, "actor"), rapid.SampledFrom(orders).Draw(rt, "order"))
				expected(rt, "deliver", err, market.ECONFLICT, market.ENOTFOUND, market.EFORBIDDEN)
			},
			"restock": func(rt *rapid.T) {
				if len(listings) == 0 {
					rt.Skip("no listings")
				}
				id := rapid.SampledFrom(listings).Draw(rt, "listing")
				n := rapid.IntRange(1, 4).Draw(rt, "units")
				if _, err := s.pool.Exec(ctx, `UPDATE listings SET quantity = quantity + $2 WHERE id = $1`, id, n); err != nil {
					rt.Fatal(err)
				}
				added[id] += n
			},
			"": func(rt *rapid.T) {
				for _, id := range listings {
					stock, sold := s.stock(rt, id), s.unitsOrdered(rt, id)
					if stock < 0 || added[id] != stock+sold {
						rt.Fatalf("listing %d: stock %d, in live orders %d, initial + restocks %d", id, stock, sold, added[id])
					}
				}
			},
		})
	})
}
