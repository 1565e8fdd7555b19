package market

import (
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Listing rules.
const (
	MaxNameLen        = 200
	MaxDescriptionLen = 5000
	MaxQuantity       = 100_000
	// MaxPageSize bounds how many listings one page may hold.
	MaxPageSize = 100
)

// Listing is an item for sale.
type Listing struct {
	ID          int64
	Name        string
	Description string
	Price       Money
	Quantity    int
	// Category is the slug of the leaf category the listing is filed
	// under; Condition is one of Conditions.
	Category  string
	Condition string
	CreatedAt time.Time
	UpdatedAt time.Time
	// Version counts the listing's changes, from 1. A change based on an
	// older version is refused (ErrStale) rather than undoing a later one.
	Version int64
	// SellerID is the user who listed it, the only one who may change or
	// delete it; SellerName is that user's display name, for the page.
	SellerID   int64
	SellerName string
	// Cover is the listing's first photo, or nil: lists of listings fill
	// it in for their cards. All of a listing's photos are read on their
	// own (postgres.DB.ListingPhotos), which keeps Listing comparable.
	Cover *Photo
}

// InStock reports whether at least one unit is available.
func (l *Listing) InStock() bool { return l.Quantity > 0 }

// Validate checks every rule of a listing and returns an EINVALID *Error with
// a message per field, or nil. Name and description are trimmed first. It
// is the store's last check before a write; input from people and clients
// goes through ListingInput first, which applies the same rules.
func (l *Listing) Validate() error {
	p := Problems{}
	l.ValidateInto(p)
	return p.Err()
}

// ValidateInto adds l's problems to p, keyed by the domain's field names
// (name, description, price, currency, quantity).
func (l *Listing) ValidateInto(p Problems) {
	l.Name = checkName(p, "name", l.Name)
	l.Description = checkDescription(p, "description", l.Description)
	if l.Price.Currency == "" {
		l.Price.Currency = DefaultCurrency
	}
	checkCurrency(p, "currency", l.Price.Currency)
	checkPrice(p, "price", l.Price)
	checkQuantity(p, "quantity", l.Quantity)
	if l.Category == "" {
		l.Category = DefaultCategory
	}
	l.Category = checkCategory(p, "category", l.Category)
	if l.Condition == "" {
		l.Condition = DefaultCondition
	}
	l.Condition = checkCondition(p, "condition", l.Condition)
}

// The rules, one function per field. Each trims or normalises what it
// checks, returns the value to store, and reports under key, so that a
// form's "price" and the API's "price_cents" get the same rule and the
// same words.

func checkName(p Problems, key, s string) string {
	s = strings.TrimSpace(s)
	switch n := utf8.RuneCountInString(s); {
	case n == 0:
		p.Add(key, "Name is required")
	case n > MaxNameLen:
		p.Add(key, "Name must be at most 200 characters")
	}
	switch {
	case !utf8.ValidString(s):
		p.Add(key, "Name must be valid UTF-8 text")
	case hasControl(s, false):
		p.Add(key, "Name must not contain control characters")
	case strings.ContainsAny(s, "\u2028\u2029"):
		p.Add(key, "Name must be on one line")
	case strings.ContainsFunc(s, isBidiControl):
		p.Add(key, "Name must not contain characters that change the text direction (such as U+202E)")
	case !strings.ContainsFunc(s, isVisible):
		p.Add(key, "Name is required") // only invisible characters: U+200B and the like
	}
	return s
}

func checkDescription(p Problems, key, s string) string {
	s = strings.TrimSpace(s)
	if utf8.RuneCountInString(s) > MaxDescriptionLen {
		p.Add(key, "Description must be at most 5,000 characters")
	}
	switch {
	case !utf8.ValidString(s):
		p.Add(key, "Description must be valid UTF-8 text")
	case hasControl(s, true):
		p.Add(key, "Description must not contain control characters")
	case strings.ContainsAny(s, "\u202d\u202e"):
		p.Add(key, "Description must not contain direction overrides (U+202D, U+202E)")
	}
	return s
}

// Invisible and direction-changing characters.
//
// A name is a heading, a link text and part of the page title, so it must
// show something (a name of U+200B alone is an invisible link) and must not
// change the direction of the text around it (U+202E reverses the rest of
// the title). Names may still hold the joiners ZWJ and ZWNJ that emoji
// sequences, Persian and Indic scripts need, as long as something visible
// remains.
//
// A description is its own block of text, where the Unicode bidirectional
// algorithm ends every embedding at the end of the paragraph, so it keeps
// what real mixed-direction text uses: the marks LRM, RLM and ALM, the
// embeddings and isolates (U+202A-U+202C, U+2066-U+2069) and the joiners.
// It may not hold the overrides LRO and RLO (U+202D, U+202E), whose only
// effect is to show characters in an order other than the one they are
// stored in: the tool of spoofed text, not of any language.

// isBidiControl reports whether r is one of Unicode's explicit
// directional formatting characters (Bidi_Control).
func isBidiControl(r rune) bool { return unicode.Is(unicode.Bidi_Control, r) }

// isVisible reports whether r shows anything: not white space, not a
// format character (U+200B, U+FEFF, soft hyphen, ...), not default
// ignorable (Hangul fillers, variation selectors, ...), not the blank
// Braille pattern.
func isVisible(r rune) bool {
	return !unicode.IsSpace(r) && !unicode.In(r, unicode.Cf, unicode.Other_Default_Ignorable_Code_Point, unicode.Variation_Selector) &&
		r != '\u2800'
}

func checkCurrency(p Problems, key, code string) {
	if !ValidCurrency(code) {
		p.Add(key, "Currency must be an ISO 4217 code in use, such as USD, EUR or JPY")
	}
}

// checkPrice bounds a price in minor units; the message speaks in its
// currency's units ("between 1 and 100,000,000" for JPY).
func checkPrice(p Problems, key string, m Money) {
	if m.Cents < MinPriceCents || m.Cents > MaxPriceCents {
		p.Add(key, priceRange(m.Currency))
	}
}

func checkQuantity(p Problems, key string, q int) {
	if q < 0 || q > MaxQuantity {
		p.Add(key, "Quantity must be between 0 and 100,000")
	}
}

// hasControl reports whether s holds a control character (NUL, escape,
// ...). Line breaks and tabs are allowed where multi-line text is.
func hasControl(s string, multiline bool) bool {
	for _, r := range s {
		if multiline && (r == '\n' || r == '\r' || r == '\t') {
			continue
		}
		if unicode.IsControl(r) {
			return true
		}
	}
	return false
}

// ListingInput is a listing as it was submitted, before any rule: each
// field as text, nil when it was not sent. The HTML form and the JSON API
// only convert their types into it and render what comes back; the rules
// and their messages live here, once. Problems are keyed by the input's
// own field names, so each surface can show them beside its fields.
type ListingInput struct {
	Name        *string
	Description *string
	// Price is an amount as a person types it, in the currency's main unit
	// ("12.50", "1,000", "1250" for JPY): the form's "price" field.
	Price *string
	// PriceCents is the amount in minor units ("1250"), as the API's
	// "price_cents" carries it. Set Price or PriceCents, not both.
	PriceCents *string
	// Currency is an ISO 4217 code; "" means DefaultCurrency.
	Currency *string
	Quantity *string
	// Category is a leaf category's slug; Condition one of Conditions.
	// Absent means DefaultCategory and DefaultCondition for a new listing
	// and no change for an edit; present but empty is refused, which is
	// how the sell form, which always sends both, makes them a choice.
	Category  *string
	Condition *string
}

// Empty reports whether no field was sent: a change that changes nothing.
func (in ListingInput) Empty() bool { return in == ListingInput{} }

// NewListing applies the rules for a new listing, in which name, price and
// quantity are required, and returns it ready to store.
func (in ListingInput) NewListing() (*Listing, error) {
	p := Problems{}
	if in.Name == nil {
		p.Add("name", "Name is required")
	}
	if in.Price == nil && in.PriceCents == nil {
		p.Add("price_cents", "Price is required")
	}
	if in.Quantity == nil {
		p.Add("quantity", "Quantity is required")
	}
	l := &Listing{Price: Money{Currency: DefaultCurrency}, Category: DefaultCategory, Condition: DefaultCondition}
	in.apply(p, l)
	if err := p.Err(); err != nil {
		return nil, err
	}
	return l, nil
}

// Apply checks the fields that were sent and, when every one is valid,
// copies them onto l; otherwise l is unchanged and the error says what is
// wrong with each field. A price is read in the currency l will have after
// the change, which is why the store applies input to the listing it has
// locked rather than to a copy read earlier.
func (in ListingInput) Apply(l *Listing) error {
	p := Problems{}
	next := *l
	in.apply(p, &next)
	if err := p.Err(); err != nil {
		return err
	}
	*l = next
	return nil
}

func (in ListingInput) apply(p Problems, l *Listing) {
	if in.Name != nil {
		l.Name = checkName(p, "name", *in.Name)
	}
	if in.Description != nil {
		l.Description = checkDescription(p, "description", *in.Description)
	}
	if in.Currency != nil {
		cur := strings.TrimSpace(*in.Currency)
		if cur == "" {
			cur = DefaultCurrency
		}
		checkCurrency(p, "currency", cur)
		l.Price.Currency = cur
	}
	if in.Price != nil {
		if s := strings.TrimSpace(*in.Price); s == "" {
			p.Add("price", "Price is required")
		} else if c, err := ParseAmount(s, l.Price.Currency); err != nil {
			p.Add("price", ErrorMessage(err))
		} else {
			l.Price.Cents = c
			checkPrice(p, "price", l.Price)
		}
	}
	if in.PriceCents != nil {
		if c, err := strconv.ParseInt(strings.TrimSpace(*in.PriceCents), 10, 64); err != nil {
			p.Add("price_cents", "Price must be a whole number of the currency's minor unit")
		} else {
			l.Price.Cents = c
			checkPrice(p, "price_cents", l.Price)
		}
	}
	if in.Category != nil {
		l.Category = checkCategory(p, "category", *in.Category)
	}
	if in.Condition != nil {
		l.Condition = checkCondition(p, "condition", *in.Condition)
	}
	if in.Quantity != nil {
		if s := strings.TrimSpace(*in.Quantity); s == "" {
			p.Add("quantity", "Quantity is required")
		} else if q, err := strconv.Atoi(s); err != nil {
			p.Add("quantity", "Quantity must be a whole number between 0 and 100,000")
		} else {
			l.Quantity = q
			checkQuantity(p, "quantity", q)
		}
	}
}

// ListingFilter selects a page of listings, newest first. Before and After are
// keyset cursors (listing ids): Before returns listings older than that id,
// After returns listings newer than it (the page before, for "Previous").
type ListingFilter struct {
	Before int64
	After  int64
	Limit  int
	// SellerID, when not 0, keeps only that seller's listings.
	SellerID int64
}

// ListingPage is one page of listings with the cursors around it. A zero
// cursor means there is no page in that direction.
type ListingPage struct {
	Listings []*Listing
	// NextBefore is the cursor for the next (older) page.
	NextBefore int64
	// PrevAfter is the cursor for the previous (newer) page.
	PrevAfter int64
}
