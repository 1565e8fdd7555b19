package web

import (
	"context"
	"crypto/rand"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/bazaarhq/bazaar/internal/market"
	"github.com/bazaarhq/bazaar/internal/web/templates"
)

// handleCart shows the cart: the signed-in user's from the database, a
// visitor's from the cart cookie (guestcart.go), each line checked against
// its listing as it is now.
func (s *Server) handleCart(w http.ResponseWriter, r *http.Request) {
	s.renderCart(w, r, http.StatusOK, nil, "")
}

// renderCart renders the cart page with status, a message per line and one
// above the cart.
func (s *Server) renderCart(w http.ResponseWriter, r *http.Request, status int, lineErrors map[int64]string, message string) {
	u := s.currentUser(r)
	var c *market.Cart
	var err error
	if u != nil {
		c, err = s.db.Cart(r.Context(), u.ID)
	} else {
		c, err = s.db.LinesCart(r.Context(), guestCart(r), 0)
	}
	if err != nil {
		s.error(w, r, err)
		return
	}
	p := templates.CartPage{Cart: c, Groups: c.BySeller(), LineErrors: lineErrors, Message: message, SignedIn: u != nil}
	for _, it := range c.Items {
		if it.Deleted {
			p.Gone = append(p.Gone, it)
		}
	}
	if u != nil {
		p.IdempotencyKey = rand.Text()
	}
	p.Layout = s.layout(w, r, "Your cart")
	p.Layout.CartCount = c.Count()
	s.render(w, r, status, templates.Cart(p))
}

// formQuantity reads the quantity field; a missing or malformed one breaks
// the same rule as one out of range.
func formQuantity(r *http.Request) int {
	q, err := strconv.Atoi(strings.TrimSpace(r.PostForm.Get("quantity")))
	if err != nil {
		return 0
	}
	return q
}

// handleCartAdd is the listing page's "Add to cart". A refused add shows
// the listing page again (422) with the message beside the quantity.
func (s *Server) handleCartAdd(w http.ResponseWriter, r *http.Request) {
	if !s.parseForm(w, r) {
		return
	}
	id, ok := canonicalID(strings.TrimSpace(r.PostForm.Get("listing_id")))
	if !ok {
		s.error(w, r, market.Errorf(market.ENOTFOUND, "Listing not found."))
		return
	}
	qty := formQuantity(r)
	var err error
	if u := s.currentUser(r); u != nil {
		_, err = s.db.AddToCart(r.Context(), u.ID, id, qty)
	} else {
		err = s.guestPut(w, r, id, qty, true)
	}
	if err != nil {
		s.addError(w, r, id, err)
		return
	}
	s.setFlash(w, "added")
	http.Redirect(w, r, "/cart", http.StatusSeeOther)
}

// addError shows the listing page again with a refused add's message
// beside the quantity field; errors other than a broken rule get the
// error page.
func (s *Server) addError(w http.ResponseWriter, r *http.Request, id int64, err error) {
	if market.ErrorCode(err) != market.EINVALID {
		s.error(w, r, err)
		return
	}
	l, lerr := s.db.Listing(r.Context(), id)
	if lerr != nil {
		s.error(w, r, lerr)
		return
	}
	f := s.describe(w, r, err)
	msg := f.Fields["quantity"]
	if msg == "" {
		msg = f.Fields["listing_id"]
	}
	if msg == "" {
		msg = f.Message
	}
	page := templates.ListingPage{Layout: s.layout(w, r, l.Name), Listing: l, AddQuantity: r.PostForm.Get("quantity"), AddError: msg}
	page.Owner = page.UserID == l.SellerID
	s.render(w, r, f.Status, templates.Listing(page))
}

// cartLineID parses {listing_id} of the cart line routes.
func (s *Server) cartLineID(w http.ResponseWriter, r *http.Request) (int64, bool) {
	id, ok := canonicalID(r.PathValue("listing_id"))
	if !ok {
		s.error(w, r, market.Errorf(market.ENOTFOUND, "That listing is not in your cart."))
	}
	return id, ok
}

// handleCartUpdate changes a line's quantity; a refused change shows the
// cart again (422) with the message beside the line.
func (s *Server) handleCartUpdate(w http.ResponseWriter, r *http.Request) {
	id, ok := s.cartLineID(w, r)
	if !ok || !s.parseForm(w, r) {
		return
	}
	qty := formQuantity(r)
	var err error
	if u := s.currentUser(r); u != nil {
		_, err = s.db.UpdateCartItem(r.Context(), u.ID, id, qty)
	} else {
		err = s.guestPut(w, r, id, qty, false)
	}
	if err != nil {
		if market.ErrorCode(err) != market.EINVALID {
			s.error(w, r, err)
			return
		}
		f := s.describe(w, r, err)
		msg := f.Fields["quantity"]
		if msg == "" {
			msg = f.Message
		}
		s.renderCart(w, r, f.Status, map[int64]string{id: msg}, "")
		return
	}
	s.setFlash(w, "cart_updated")
	http.Redirect(w, r, "/cart", http.StatusSeeOther)
}

func (s *Server) handleCartRemove(w http.ResponseWriter, r *http.Request) {
	id, ok := s.cartLineID(w, r)
	if !ok {
		return
	}
	var err error
	if u := s.currentUser(r); u != nil {
		err = s.db.RemoveCartItem(r.Context(), u.ID, id)
	} else {
		err = s.guestRemove(w, r, id)
	}
	if err != nil {
		s.error(w, r, err)
		return
	}
	s.setFlash(w, "removed")
	http.Redirect(w, r, "/cart", http.StatusSeeOther)
}

// checkoutFingerprint is what every HTML checkout asks for: the cart. The
// form's key is new for each cart page shown, so one key is one click (or
// a double click) on one page.
var checkoutFingerprint = []byte("html:cart")

// handleCheckout places the orders for the user's cart. The form carries
// an Idempotency-Key: a second click while the first is in flight waits
// for it and then gets its answer (the stored redirect), so a double click
// makes one set of orders. Short lines come back beside their line (409),
// with the cart kept.
func (s *Server) handleCheckout(w http.ResponseWriter, r *http.Request) {
	u := s.currentUser(r)
	if u == nil {
		http.Redirect(w, r, "/login?next="+url.QueryEscape("/cart"), http.StatusSeeOther)
		return
	}
	if !s.parseForm(w, r) {
		return
	}
	req := market.CheckoutRequest{BuyerID: u.ID, FromCart: true, IdempotencyKey: r.PostForm.Get("idempotency_key"),
		Fingerprint: checkoutFingerprint,
		Respond: func([]*market.Order) (market.Response, error) {
			return market.Response{Status: http.StatusSeeOther, Body: []byte("/orders")}, nil
		}}
	if err := market.ValidateIdempotencyKey(req.IdempotencyKey); err != nil {
		s.renderCart(w, r, http.StatusUnprocessableEntity, nil, "Please place your order from the cart page.")
		return
	}
	_, _, err := s.checkoutWaiting(r.Context(), req)
	if err != nil {
		var oos *market.OutOfStockError
		code := market.ErrorCode(err)
		if code != market.EINVALID && code != market.ECONFLICT {
			s.error(w, r, err)
			return
		}
		f := s.describe(w, r, err)
		lines := map[int64]string{}
		if errors.As(err, &oos) {
			for _, l := range oos.Lines {
				lines[l.ListingID] = l.String()
			}
		}
		s.renderCart(w, r, f.Status, lines, f.Message)
		return
	}
	// A fresh checkout and a replay answer alike: to the orders.
	s.setFlash(w, "ordered")
	http.Redirect(w, r, "/orders", http.StatusSeeOther)
}

// checkoutWaiting runs req, and while another request with its key is in
// flight (a double click), waits for that one to finish and takes its
// answer, until ctx's deadline.
func (s *Server) checkoutWaiting(ctx context.Context, req market.CheckoutRequest) ([]*market.Order, *market.Response, error) {
	wait := 20 * time.Millisecond
	for {
		orders, replay, err := s.db.Checkout(ctx, req)
		if !errors.Is(err, market.ErrIdempotencyInFlight) {
			return orders, replay, err
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, nil, err
		case <-t.C:
		}
		wait = min(2*wait, 200*time.Millisecond)
	}
}

func (s *Server) handleOrders(w http.ResponseWriter, r *http.Request) { s.orderList(w, r, false) }
func (s *Server) handleSales(w http.ResponseWriter, r *http.Request)  { s.orderList(w, r, true) }

func (s *Server) orderList(w http.ResponseWriter, r *http.Request, sales bool) {
	u, ok := s.requireUser(w, r)
	if !ok {
		return
	}
	f, err := orderFilter(r, u.ID, sales)
	if err != nil {
		s.handleNotFound(w, r)
		return
	}
	page, err := s.db.Orders(r.Context(), f)
	if err != nil {
		s.error(w, r, err)
		return
	}
	title := "Your orders"
	if sales {
		title = "Your sales"
	}
	p := templates.OrdersPage{Layout: s.layout(w, r, title), Sales: sales, Orders: page.Orders, NextBefore: page.NextBefore, Paged: f.Before > 0}
	s.render(w, r, http.StatusOK, templates.Orders(p))
}

// order loads the order {id} for u in the role the path names: its buyer
// under /orders, its seller under /sales. Anyone else, and the other party
// on the other path, finds nothing (404). On failure it has answered.
func (s *Server) order(w http.ResponseWriter, r *http.Request, u *market.User, sales bool) (*market.Order, bool) {
	id, ok := pathID(r)
	if !ok {
		s.handleNotFound(w, r)
		return nil, false
	}
	o, err := s.db.Order(r.Context(), u.ID, id)
	if err == nil && ((sales && o.SellerID != u.ID) || (!sales && o.BuyerID != u.ID)) {
		err = market.Errorf(market.ENOTFOUND, "Order not found.")
	}
	if err != nil {
		s.error(w, r, err)
		return nil, false
	}
	return o, true
}

func (s *Server) handleOrder(w http.ResponseWriter, r *http.Request) { s.orderShow(w, r, false) }
func (s *Server) handleSale(w http.ResponseWriter, r *http.Request)  { s.orderShow(w, r, true) }

func (s *Server) orderShow(w http.ResponseWriter, r *http.Request, sales bool) {
	u, ok := s.requireUser(w, r)
	if !ok {
		return
	}
	o, ok := s.order(w, r, u, sales)
	if !ok {
		return
	}
	s.render(w, r, http.StatusOK, templates.Order(templates.OrderPage{Layout: s.layout(w, r, "Order #"+strconv.FormatInt(o.ID, 10)), Order: o, Sales: sales}))
}

func (s *Server) handleOrderDeliver(w http.ResponseWriter, r *http.Request) {
	s.orderAction(w, r, false, market.ActionDeliver)
}
func (s *Server) handleOrderCancel(w http.ResponseWriter, r *http.Request) {
	s.orderAction(w, r, false, market.ActionCancel)
}
func (s *Server) handleSaleShip(w http.ResponseWriter, r *http.Request) {
	s.orderAction(w, r, true, market.ActionShip)
}
func (s *Server) handleSaleCancel(w http.ResponseWriter, r *http.Request) {
	s.orderAction(w, r, true, market.ActionCancel)
}

// orderAction applies action to the order as its buyer (/orders/{id}/...)
// or seller (/sales/{id}/...), then goes back to the order's page; a
// refusal (its status does not allow it, a tracking note too long) shows
// the page again with the reason.
func (s *Server) orderAction(w http.ResponseWriter, r *http.Request, sales bool, action string) {
	u, ok := s.requireUser(w, r)
	if !ok {
		return
	}
	o, ok := s.order(w, r, u, sales)
	if !ok || !s.parseForm(w, r) {
		return
	}
	note := r.PostForm.Get("tracking")
	updated, err := s.transition(r, u.ID, o.ID, action, note)
	if err != nil {
		code := market.ErrorCode(err)
		if code != market.ECONFLICT && code != market.EINVALID && code != market.EFORBIDDEN {
			s.error(w, r, err)
			return
		}
		f := s.describe(w, r, err)
		if current, cerr := s.db.Order(r.Context(), u.ID, o.ID); cerr == nil {
			o = current
		}
		p := templates.OrderPage{Layout: s.layout(w, r, "Order #"+strconv.FormatInt(o.ID, 10)), Order: o, Sales: sales,
			Message: f.Message, TrackingError: f.Fields["tracking"], Tracking: note}
		s.render(w, r, f.Status, templates.Order(p))
		return
	}
	s.setFlash(w, map[string]string{market.ActionShip: "shipped", market.ActionDeliver: "delivered", market.ActionCancel: "cancelled"}[action])
	base := "/orders/"
	if sales {
		base = "/sales/"
	}
	http.Redirect(w, r, base+strconv.FormatInt(updated.ID, 10), http.StatusSeeOther)
}
