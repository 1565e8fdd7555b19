package web

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/bazaarhq/bazaar/internal/market"
)

// apiCart is the caller's cart as the API shows it.
type apiCart struct {
	Items []apiCartItem `json:"items"`
	// Count is the number of units, the header's figure on the pages.
	Count int `json:"count"`
	// Totals are what checkout would make: one per seller and currency.
	Totals []apiSellerTotal `json:"totals"`
	// Orderable is false when a line has a problem or the cart is empty.
	Orderable bool `json:"orderable"`
}

// apiCartItem is a cart line with its listing as it is now.
type apiCartItem struct {
	ListingID     int64  `json:"listing_id"`
	Name          string `json:"name"`
	PriceCents    int64  `json:"price_cents"`
	Currency      string `json:"currency"`
	Quantity      int    `json:"quantity"`
	Available     int    `json:"available"`
	SellerID      int64  `json:"seller_id"`
	SubtotalCents int64  `json:"subtotal_cents"`
	Deleted       bool   `json:"deleted"`
	// Problem says why the line cannot be ordered as it stands.
	Problem string `json:"problem,omitempty"`
}

type apiSellerTotal struct {
	SellerID   int64  `json:"seller_id"`
	SellerName string `json:"seller_name"`
	TotalCents int64  `json:"total_cents"`
	Currency   string `json:"currency"`
}

func toAPICart(c *market.Cart) apiCart {
	out := apiCart{Items: make([]apiCartItem, len(c.Items)), Count: c.Count(), Totals: []apiSellerTotal{}, Orderable: c.Orderable()}
	for i, it := range c.Items {
		out.Items[i] = apiCartItem{
			ListingID: it.ListingID, Name: it.Name, PriceCents: it.Price.Cents, Currency: it.Price.Currency,
			Quantity: it.Quantity, Available: it.Stock, SellerID: it.SellerID, SubtotalCents: it.Subtotal().Cents,
			Deleted: it.Deleted, Problem: it.Problem,
		}
	}
	for _, t := range c.BySeller() {
		out.Totals = append(out.Totals, apiSellerTotal{SellerID: t.SellerID, SellerName: t.SellerName, TotalCents: t.Total.Cents, Currency: t.Total.Currency})
	}
	return out
}

// apiOrder is an order as the API shows it.
type apiOrder struct {
	ID         int64          `json:"id"`
	BuyerID    int64          `json:"buyer_id"`
	SellerID   int64          `json:"seller_id"`
	Status     string         `json:"status"`
	Items      []apiOrderItem `json:"items"`
	TotalCents int64          `json:"total_cents"`
	Currency   string         `json:"currency"`
	Tracking   string         `json:"tracking"`
	CreatedAt  time.Time      `json:"created_at"`
	UpdatedAt  time.Time      `json:"updated_at"`
	// Events is the order's history, in the answers about one order.
	Events []apiOrderEvent `json:"events,omitempty"`
}

type apiOrderItem struct {
	ListingID      int64  `json:"listing_id"`
	Name           string `json:"name"`
	UnitPriceCents int64  `json:"unit_price_cents"`
	Quantity       int    `json:"quantity"`
}

type apiOrderEvent struct {
	Status  string    `json:"status"`
	ActorID int64     `json:"actor_id"`
	Note    string    `json:"note,omitempty"`
	At      time.Time `json:"at"`
}

func toAPIOrder(o *market.Order, events bool) apiOrder {
	out := apiOrder{
		ID: o.ID, BuyerID: o.BuyerID, SellerID: o.SellerID, Status: o.Status, Items: make([]apiOrderItem, len(o.Items)),
		TotalCents: o.Total.Cents, Currency: o.Total.Currency, Tracking: o.Tracking,
		CreatedAt: o.CreatedAt.UTC(), UpdatedAt: o.UpdatedAt.UTC(),
	}
	for i, it := range o.Items {
		out.Items[i] = apiOrderItem{ListingID: it.ListingID, Name: it.Name, UnitPriceCents: it.UnitPrice.Cents, Quantity: it.Quantity}
	}
	if events {
		for _, e := range o.Events {
			out.Events = append(out.Events, apiOrderEvent{Status: e.Status, ActorID: e.ActorID, Note: e.Note, At: e.At.UTC()})
		}
	}
	return out
}

// apiOrders is the body of a checkout's 201 and of a page of orders.
type apiOrders struct {
	Orders     []apiOrder `json:"orders"`
	NextBefore *int64     `json:"next_before,omitempty"`
}

func (s *Server) apiGetCart(w http.ResponseWriter, r *http.Request) {
	u, ok := s.requireUser(w, r)
	if !ok {
		return
	}
	s.writeCart(w, r, u.ID)
}

func (s *Server) writeCart(w http.ResponseWriter, r *http.Request, userID int64) {
	c, err := s.db.Cart(r.Context(), userID)
	if err != nil {
		s.error(w, r, err)
		return
	}
	s.writeJSON(w, http.StatusOK, "application/json", toAPICart(c))
}

func (s *Server) apiPutCartItem(w http.ResponseWriter, r *http.Request) {
	u, ok := s.requireUser(w, r)
	if !ok {
		return
	}
	id, ok := s.apiPathListingID(w, r)
	if !ok {
		return
	}
	var in struct {
		Quantity *int `json:"quantity"`
	}
	if err := decodeJSON(w, r, &in); err != nil {
		s.error(w, r, err)
		return
	}
	if in.Quantity == nil {
		s.error(w, r, &market.Error{Code: market.EINVALID, Message: "quantity is required.", Fields: map[string]string{"quantity": "required"}})
		return
	}
	if _, err := s.db.SetCartItem(r.Context(), u.ID, id, *in.Quantity); err != nil {
		s.error(w, r, err)
		return
	}
	s.writeCart(w, r, u.ID)
}

func (s *Server) apiDeleteCartItem(w http.ResponseWriter, r *http.Request) {
	u, ok := s.requireUser(w, r)
	if !ok {
		return
	}
	id, ok := s.apiPathListingID(w, r)
	if !ok {
		return
	}
	if err := s.db.RemoveCartItem(r.Context(), u.ID, id); err != nil {
		s.error(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// apiPathListingID parses {listing_id}; a malformed one names no listing.
func (s *Server) apiPathListingID(w http.ResponseWriter, r *http.Request) (int64, bool) {
	id, ok := canonicalID(r.PathValue("listing_id"))
	if !ok {
		s.error(w, r, market.Errorf(market.ENOTFOUND, "Listing not found."))
	}
	return id, ok
}

// apiCreateOrders is checkout: the body's items, or the caller's cart when
// the body is empty or has no items. With an Idempotency-Key the 201 is
// kept with the key in the orders' transaction and replayed to a retry.
func (s *Server) apiCreateOrders(w http.ResponseWriter, r *http.Request) {
	u, ok := s.requireUser(w, r)
	if !ok {
		return
	}
	var in struct {
		Items *[]market.Line `json:"items"`
	}
	if hasBody(r) {
		if err := decodeJSON(w, r, &in); err != nil {
			s.error(w, r, err)
			return
		}
	}
	req := market.CheckoutRequest{BuyerID: u.ID, FromCart: in.Items == nil}
	// The fingerprint is of the request as checkout reads it (the merged,
	// sorted lines, or "the cart"), so a retry that spells the same
	// request differently (spaces, member order) is still the same one.
	fp := sha256.New()
	if req.FromCart {
		fp.Write([]byte("cart"))
	} else {
		lines, err := market.NormalizeLines(*in.Items)
		if err != nil {
			s.error(w, r, err)
			return
		}
		req.Lines = lines
		for _, l := range lines {
			fp.Write([]byte(strconv.FormatInt(l.ListingID, 10) + "x" + strconv.Itoa(l.Quantity) + ";"))
		}
	}
	req.Fingerprint = fp.Sum(nil)
	if keys := r.Header.Values("Idempotency-Key"); len(keys) > 0 {
		if len(keys) > 1 {
			s.error(w, r, market.Errorf(market.EINVALID, "Send one Idempotency-Key header."))
			return
		}
		req.IdempotencyKey = keys[0]
		if err := market.ValidateIdempotencyKey(req.IdempotencyKey); err != nil {
			s.error(w, r, err)
			return
		}
	}
	req.Respond = func(orders []*market.Order) (market.Response, error) {
		body, err := ordersBody(orders)
		return market.Response{Status: http.StatusCreated, Body: body}, err
	}
	orders, replay, err := s.db.Checkout(r.Context(), req)
	if err != nil {
		s.error(w, r, err)
		return
	}
	resp := replay
	if replay != nil {
		w.Header().Set("Idempotent-Replayed", "true")
	} else {
		fresh, err := req.Respond(orders)
		if err != nil {
			s.error(w, r, err)
			return
		}
		resp = &fresh
	}
	writeRawJSON(w, resp.Status, resp.Body)
}

// ordersBody is the 201 of a checkout, encoded once: the same bytes are
// sent and, with an Idempotency-Key, kept for replay.
func ordersBody(orders []*market.Order) ([]byte, error) {
	out := apiOrders{Orders: make([]apiOrder, len(orders))}
	for i, o := range orders {
		out.Orders[i] = toAPIOrder(o, false)
	}
	var b bytes.Buffer
	err := json.NewEncoder(&b).Encode(out)
	return b.Bytes(), err
}

// hasBody reports whether the request has a non-empty body (readBody has
// buffered it, so reading it here and putting it back costs a copy of a
// small slice), for the routes whose body is optional.
func hasBody(r *http.Request) bool {
	if r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0 {
		return false
	}
	b, err := io.ReadAll(r.Body)
	r.Body = io.NopCloser(bytes.NewReader(b))
	return err != nil || len(b) > 0
}

func writeRawJSON(w http.ResponseWriter, status int, body []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

func (s *Server) apiListOrders(w http.ResponseWriter, r *http.Request) { s.apiOrderPage(w, r, false) }
func (s *Server) apiListSales(w http.ResponseWriter, r *http.Request)  { s.apiOrderPage(w, r, true) }

func (s *Server) apiOrderPage(w http.ResponseWriter, r *http.Request, sales bool) {
	u, ok := s.requireUser(w, r)
	if !ok {
		return
	}
	f, err := orderFilter(r, u.ID, sales)
	if err != nil {
		s.error(w, r, err)
		return
	}
	page, err := s.db.Orders(r.Context(), f)
	if err != nil {
		s.error(w, r, err)
		return
	}
	out := apiOrders{Orders: make([]apiOrder, len(page.Orders))}
	for i, o := range page.Orders {
		out.Orders[i] = toAPIOrder(o, false)
	}
	if page.NextBefore > 0 {
		out.NextBefore = &page.NextBefore
	}
	s.writeJSON(w, http.StatusOK, "application/json", out)
}

// orderFilter reads ?before= and ?limit= for userID's orders (or sales).
func orderFilter(r *http.Request, userID int64, sales bool) (market.OrderFilter, error) {
	f := market.OrderFilter{BuyerID: userID, Limit: 20}
	if sales {
		f = market.OrderFilter{SellerID: userID, Limit: 20}
	}
	p := market.Problems{}
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > market.MaxPageSize {
			p.Add("limit", "limit must be a whole number from 1 to 100")
		}
		f.Limit = n
	}
	var ok bool
	if f.Before, ok = cursor(r, "before"); !ok {
		p.Add("before", "before must be an order id")
	}
	return f, p.Err()
}

func (s *Server) apiGetOrder(w http.ResponseWriter, r *http.Request) {
	u, ok := s.requireUser(w, r)
	if !ok {
		return
	}
	id, ok := s.apiOrderID(w, r)
	if !ok {
		return
	}
	o, err := s.db.Order(r.Context(), u.ID, id)
	if err != nil {
		s.error(w, r, err)
		return
	}
	s.writeJSON(w, http.StatusOK, "application/json", toAPIOrder(o, true))
}

func (s *Server) apiShipOrder(w http.ResponseWriter, r *http.Request) {
	s.apiTransition(w, r, market.ActionShip)
}
func (s *Server) apiDeliverOrder(w http.ResponseWriter, r *http.Request) {
	s.apiTransition(w, r, market.ActionDeliver)
}
func (s *Server) apiCancelOrder(w http.ResponseWriter, r *http.Request) {
	s.apiTransition(w, r, market.ActionCancel)
}

// apiTransition moves an order on; ship takes an optional body
// {"tracking": "..."}. 200 with the order, 409 when its status does not
// allow the action, 404 for anyone but its buyer and seller.
func (s *Server) apiTransition(w http.ResponseWriter, r *http.Request, action string) {
	u, ok := s.requireUser(w, r)
	if !ok {
		return
	}
	id, ok := s.apiOrderID(w, r)
	if !ok {
		return
	}
	var in struct {
		Tracking string `json:"tracking"`
	}
	if action == market.ActionShip && hasBody(r) {
		if err := decodeJSON(w, r, &in); err != nil {
			s.error(w, r, err)
			return
		}
	}
	o, err := s.transition(r, u.ID, id, action, in.Tracking)
	if err != nil {
		s.error(w, r, err)
		return
	}
	s.writeJSON(w, http.StatusOK, "application/json", toAPIOrder(o, true))
}

// transition applies action to order id as actor; pages and API share it.
func (s *Server) transition(r *http.Request, actor, id int64, action, note string) (*market.Order, error) {
	switch action {
	case market.ActionShip:
		return s.db.ShipOrder(r.Context(), actor, id, note)
	case market.ActionDeliver:
		return s.db.DeliverOrder(r.Context(), actor, id)
	default:
		return s.db.CancelOrder(r.Context(), actor, id)
	}
}

func (s *Server) apiOrderID(w http.ResponseWriter, r *http.Request) (int64, bool) {
	id, ok := pathID(r)
	if !ok {
		s.error(w, r, market.Errorf(market.ENOTFOUND, "Order not found."))
	}
	return id, ok
}
