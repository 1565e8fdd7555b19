package market

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Buying rules.
const (
	// MaxCartLines bounds the lines of one cart or one checkout, so a single
	// request cannot hold locks on an unbounded number of listings.
	MaxCartLines = 100
	// MaxTrackingNote bounds the seller's note when shipping.
	MaxTrackingNote = 500
	// MaxIdempotencyKey bounds an Idempotency-Key, as Stripe does.
	MaxIdempotencyKey = 255
	// IdempotencyKeyTTL is how long a key and its response are kept at
	// least: a client may retry with the same key within it.
	IdempotencyKeyTTL = 24 * time.Hour
)

// Order statuses. An order starts placed (the seam for a payment step, which
// would put a "pending payment" status before it), goes to shipped by the
// seller and to delivered by the buyer; it is cancelled by the buyer before
// shipping or by the seller before delivery.
const (
	StatusPlaced    = "placed"
	StatusShipped   = "shipped"
	StatusDelivered = "delivered"
	StatusCancelled = "cancelled"
)

// Line is one listing and how many of it: a cart line, or a line of a
// checkout request.
type Line struct {
	ListingID int64 `json:"listing_id"`
	Quantity  int   `json:"quantity"`
}

// NormalizeLines checks lines and returns them merged (one line per
// listing, quantities added) and in ascending listing id order, the order
// in which checkout locks the listings so that two checkouts never wait on
// each other in a cycle. It returns EINVALID for no lines, too many, an id
// that is not positive, or a quantity outside 1..MaxQuantity.
func NormalizeLines(lines []Line) ([]Line, error) {
	if len(lines) == 0 {
		return nil, &Error{Code: EINVALID, Message: "There is nothing to order.", Fields: map[string]string{"items": "Add at least one item"}}
	}
	merged := make(map[int64]int, len(lines))
	p := Problems{}
	for _, l := range lines {
		if l.ListingID <= 0 {
			p.Add("listing_id", "Listing id must be a positive number")
			continue
		}
		if l.Quantity < 1 || l.Quantity > MaxQuantity {
			p.Add("quantity", "Quantity must be between 1 and 100,000")
			continue
		}
		merged[l.ListingID] += l.Quantity
	}
	if len(merged) > MaxCartLines {
		p.Add("items", fmt.Sprintf("An order may have at most %d different listings", MaxCartLines))
	}
	for _, q := range merged {
		if q > MaxQuantity {
			p.Add("quantity", "Quantity must be between 1 and 100,000")
		}
	}
	if err := p.Err(); err != nil {
		return nil, err
	}
	out := make([]Line, 0, len(merged))
	for id, q := range merged {
		out = append(out, Line{ListingID: id, Quantity: q})
	}
	slices.SortFunc(out, func(a, b Line) int { return cmp.Compare(a.ListingID, b.ListingID) })
	return out, nil
}

// ValidateQuantity reports a cart quantity outside 1..MaxQuantity under the
// "quantity" field.
func ValidateQuantity(q int) error {
	if q < 1 || q > MaxQuantity {
		p := Problems{}
		p.Add("quantity", "Quantity must be between 1 and 100,000")
		return p.Err()
	}
	return nil
}

// Order is what one buyer bought from one seller in one currency at one
// checkout. Items carry the names and prices captured at that moment.
type Order struct {
	ID        int64
	BuyerID   int64
	SellerID  int64
	Status    string
	Items     []OrderItem
	Total     Money
	Tracking  string
	CreatedAt time.Time
	UpdatedAt time.Time
	// Events is the order's history, oldest first; filled where a page
	// shows it (one order), empty in lists.
	Events []OrderEvent
	// BuyerName and SellerName are display names, filled where shown.
	BuyerName, SellerName string
}

// OrderItem is one line of an order.
type OrderItem struct {
	ListingID int64
	Name      string
	UnitPrice Money
	Quantity  int
}

// Subtotal is the line's price times its quantity.
func (it OrderItem) Subtotal() Money {
	return Money{Cents: it.UnitPrice.Cents * int64(it.Quantity), Currency: it.UnitPrice.Currency}
}

// Units is how many units the order holds over all its items.
func (o *Order) Units() int {
	n := 0
	for _, it := range o.Items {
		n += it.Quantity
	}
	return n
}

// OrderEvent records one transition: the status reached, who made it and
// when, with the seller's tracking note when shipping.
type OrderEvent struct {
	Status  string
	ActorID int64
	Note    string
	At      time.Time
}

// Actions on an order, named as the routes name them.
const (
	ActionShip    = "ship"
	ActionDeliver = "deliver"
	ActionCancel  = "cancel"
)

// TransitionError explains why actor may not apply action to o, which the
// conditional update refused: EFORBIDDEN when actor is the wrong party (a
// buyer shipping), ECONFLICT when o's status does not allow it. It is only
// called after the update matched no row, for an order actor may see.
func TransitionError(o *Order, actor int64, action string) error {
	buyer, seller := o.BuyerID == actor, o.SellerID == actor
	switch action {
	case ActionShip:
		if !seller {
			return Errorf(EFORBIDDEN, "Only the seller ships an order.")
		}
		return Errorf(ECONFLICT, "This order is %s, so it cannot be shipped.", o.Status)
	case ActionDeliver:
		if !buyer {
			return Errorf(EFORBIDDEN, "Only the buyer confirms delivery.")
		}
		return Errorf(ECONFLICT, "This order is %s, so its delivery cannot be confirmed.", o.Status)
	case ActionCancel:
		if seller {
			return Errorf(ECONFLICT, "This order is %s; a seller can cancel only before delivery.", o.Status)
		}
		return Errorf(ECONFLICT, "This order is %s; a buyer can cancel only before it ships.", o.Status)
	}
	return Errorf(EINVALID, "Unknown action %q.", action)
}

// ValidateTrackingNote trims note and checks its length and text.
func ValidateTrackingNote(note string) (string, error) {
	note = strings.TrimSpace(note)
	p := Problems{}
	switch {
	case len([]rune(note)) > MaxTrackingNote:
		p.Add("tracking", "Tracking note must be at most 500 characters")
	case hasControl(note, false):
		p.Add("tracking", "Tracking note must not contain control characters")
	}
	return note, p.Err()
}

// ValidateIdempotencyKey checks a client's Idempotency-Key.
func ValidateIdempotencyKey(key string) error {
	if key == "" || len(key) > MaxIdempotencyKey || hasControl(key, false) {
		return &Error{Code: EINVALID, Message: "Idempotency-Key must be 1 to 255 characters without control characters.",
			Fields: map[string]string{"idempotency_key": "Must be 1 to 255 characters"}}
	}
	return nil
}

// Shortage is a checkout line that cannot be filled.
type Shortage struct {
	ListingID int64  `json:"listing_id"`
	Name      string `json:"name"`
	Requested int    `json:"requested"`
	// Available is how many are left: 0 for sold out or deleted.
	Available int `json:"available"`
	// Deleted reports a listing that no longer exists.
	Deleted bool `json:"deleted"`
}

// String says what is short, for a page or a problem's detail.
func (s Shortage) String() string {
	switch {
	case s.Deleted:
		return fmt.Sprintf("Listing #%d is no longer for sale.", s.ListingID)
	case s.Available == 0:
		return fmt.Sprintf("%s is sold out.", s.Name)
	default:
		return fmt.Sprintf("%s: you asked for %d, only %d left.", s.Name, s.Requested, s.Available)
	}
}

// OutOfStockError is the refusal of a checkout some of whose lines cannot be
// filled: nothing was written, and Lines names each short line. Its code is
// ECONFLICT (errors.As to *Error finds it through Unwrap).
type OutOfStockError struct {
	Lines []Shortage
}

func (e *OutOfStockError) Error() string {
	parts := make([]string, len(e.Lines))
	for i, s := range e.Lines {
		parts[i] = s.String()
	}
	return "out of stock: " + strings.Join(parts, " ")
}

// Unwrap gives the error's place in the market vocabulary: a conflict with
// a message per short line, keyed by ShortageField, which the cart page
// shows beside the line and the API returns in its problem's errors.
func (e *OutOfStockError) Unwrap() error {
	fields := make(map[string]string, len(e.Lines))
	for _, s := range e.Lines {
		fields[ShortageField(s.ListingID)] = s.String()
	}
	return &Error{Code: ECONFLICT, Message: "Some items are not available in the quantity you asked for, so nothing was ordered.", Fields: fields}
}

// ShortageField is the field name under which a short line's message is
// reported: "listing_<id>".
func ShortageField(listingID int64) string { return "listing_" + strconv.FormatInt(listingID, 10) }

// ErrOwnListing refuses a seller buying their own listing.
func ErrOwnListing(name string) error {
	return &Error{Code: EINVALID, Message: "You cannot buy your own listing.",
		Fields: map[string]string{"listing_id": fmt.Sprintf("%s is your own listing", name)}}
}

// Response is an HTTP answer kept with an Idempotency-Key, to be replayed
// for a retry of the same request. The store keeps it without reading it.
type Response struct {
	Status int
	Body   []byte
}

// CheckoutRequest is one checkout: the buyer, the lines (nil for the
// buyer's cart, which checkout then empties of what it ordered), and
// optionally an Idempotency-Key with the fingerprint of the request and the
// function that renders the response to keep with it.
type CheckoutRequest struct {
	BuyerID        int64
	Lines          []Line
	FromCart       bool
	IdempotencyKey string
	Fingerprint    []byte
	// Respond renders the response for orders; it runs inside the checkout's
	// transaction so the key, the response and the orders commit together.
	Respond func(orders []*Order) (Response, error)
}

// ErrIdempotencyInFlight is the answer to a request whose key is in use by
// a request still being processed: try again shortly.
var ErrIdempotencyInFlight = &Error{Code: ECONFLICT, Message: "A request with this Idempotency-Key is still being processed. Try again in a moment."}

// ErrIdempotencyMismatch is the answer to a key reused with a different
// request.
var ErrIdempotencyMismatch = &Error{Code: EINVALID, Message: "This Idempotency-Key was already used with a different request."}

// OrderFilter selects one page of a buyer's orders or a seller's sales,
// newest first: Before is the keyset cursor (the last id of the previous
// page), 0 for the first page.
type OrderFilter struct {
	BuyerID  int64
	SellerID int64
	Before   int64
	Limit    int
}

// OrderPage is one page of orders; NextBefore is 0 on the last page.
type OrderPage struct {
	Orders     []*Order
	NextBefore int64
}
