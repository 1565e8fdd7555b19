package market

import (
	"cmp"
	"fmt"
	"slices"
)

// CartItem is a cart line as the buyer sees it: the listing as it is now
// (Deleted when it no longer exists), the quantity wanted, and Problem, the
// message shown beside the line when it cannot be ordered as it stands.
type CartItem struct {
	ListingID  int64
	Quantity   int
	Name       string
	Price      Money
	Stock      int
	SellerID   int64
	SellerName string
	Deleted    bool
	Problem    string
}

// Subtotal is the line's current price times its quantity.
func (it CartItem) Subtotal() Money {
	return Money{Cents: it.Price.Cents * int64(it.Quantity), Currency: it.Price.Currency}
}

// Check sets it.Problem for a line that cannot be ordered by buyer as it
// stands: a deleted or sold-out listing, more than is in stock, or the
// buyer's own listing. Lines are kept and marked, never silently dropped.
func (it *CartItem) Check(buyer int64) {
	switch {
	case it.Deleted:
		it.Problem = "This listing is no longer for sale."
	case buyer != 0 && it.SellerID == buyer:
		it.Problem = "This is your own listing."
	case it.Stock == 0:
		it.Problem = "Sold out."
	case it.Quantity > it.Stock:
		it.Problem = fmt.Sprintf("Only %d left.", it.Stock)
	default:
		it.Problem = ""
	}
}

// Cart is a buyer's cart.
type Cart struct {
	Items []CartItem
}

// Count is the number of units in the cart, the header's item count.
func (c *Cart) Count() int {
	n := 0
	for _, it := range c.Items {
		n += it.Quantity
	}
	return n
}

// Orderable reports whether every line can be ordered as it stands.
func (c *Cart) Orderable() bool {
	if len(c.Items) == 0 {
		return false
	}
	for _, it := range c.Items {
		if it.Problem != "" {
			return false
		}
	}
	return true
}

// Lines returns the cart's lines for a checkout.
func (c *Cart) Lines() []Line {
	ls := make([]Line, len(c.Items))
	for i, it := range c.Items {
		ls[i] = Line{ListingID: it.ListingID, Quantity: it.Quantity}
	}
	return ls
}

// SellerTotal is what the cart's lines from one seller in one currency come
// to: the order a checkout would make for them.
type SellerTotal struct {
	SellerID   int64
	SellerName string
	Total      Money
	Items      []CartItem
}

// BySeller groups the orderable lines as checkout would make orders: one
// per seller and currency, ordered by seller and currency.
func (c *Cart) BySeller() []SellerTotal {
	var out []SellerTotal
	for _, it := range c.Items {
		if it.Deleted {
			continue
		}
		i := slices.IndexFunc(out, func(s SellerTotal) bool {
			return s.SellerID == it.SellerID && s.Total.Currency == it.Price.Currency
		})
		if i < 0 {
			out = append(out, SellerTotal{SellerID: it.SellerID, SellerName: it.SellerName, Total: Money{Currency: it.Price.Currency}})
			i = len(out) - 1
		}
		out[i].Items = append(out[i].Items, it)
		out[i].Total.Cents += it.Subtotal().Cents
	}
	slices.SortFunc(out, func(a, b SellerTotal) int {
		return cmp.Or(cmp.Compare(a.SellerID, b.SellerID), cmp.Compare(a.Total.Currency, b.Total.Currency))
	})
	return out
}

// CheckCartQuantity is the one rule for putting qty units of a listing in
// buyer's cart (buyer 0 for a visitor): the quantity must be in range, the
// listing not the buyer's own, not sold out, and qty at most its stock.
// The HTML form, the API and the session cart all call it.
func CheckCartQuantity(name string, stock int, sellerID, buyer int64, qty int) error {
	if err := ValidateQuantity(qty); err != nil {
		return err
	}
	if buyer != 0 && sellerID == buyer {
		return ErrOwnListing(name)
	}
	p := Problems{}
	switch {
	case stock == 0:
		p.Add("quantity", "Sold out")
	case qty > stock:
		p.Add("quantity", fmt.Sprintf("Only %d left", stock))
	}
	return p.Err()
}
