package market

import (
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
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// InStock reports whether at least one unit is available.
func (l *Listing) InStock() bool { return l.Quantity > 0 }

// Validate checks every rule of a listing and returns an EINVALID *Error with
// a message per field, or nil. Name and description are trimmed first.
func (l *Listing) Validate() error {
	p := Problems{}
	l.ValidateInto(p)
	return p.Err()
}

// ValidateInto adds l's problems to p, so callers that found parse errors first
// (a price that is not a number) can report everything in one response.
func (l *Listing) ValidateInto(p Problems) {
	l.Name = strings.TrimSpace(l.Name)
	l.Description = strings.TrimSpace(l.Description)
	switch n := utf8.RuneCountInString(l.Name); {
	case n == 0:
		p.Add("name", "Name is required")
	case n > MaxNameLen:
		p.Add("name", "Name must be at most 200 characters")
	}
	if !utf8.ValidString(l.Name) {
		p.Add("name", "Name must be valid UTF-8 text")
	} else if hasControl(l.Name, false) {
		p.Add("name", "Name must not contain control characters")
	}
	if utf8.RuneCountInString(l.Description) > MaxDescriptionLen {
		p.Add("description", "Description must be at most 5,000 characters")
	}
	if !utf8.ValidString(l.Description) {
		p.Add("description", "Description must be valid UTF-8 text")
	} else if hasControl(l.Description, true) {
		p.Add("description", "Description must not contain control characters")
	}
	if l.Price.Currency == "" {
		l.Price.Currency = DefaultCurrency
	}
	if !ValidCurrency(l.Price.Currency) {
		p.Add("currency", "Currency must be a three-letter code such as USD")
	}
	if l.Price.Cents < MinPriceCents || l.Price.Cents > MaxPriceCents {
		p.Add("price", "Price must be between 0.01 and 1,000,000.00")
	}
	if l.Quantity < 0 || l.Quantity > MaxQuantity {
		p.Add("quantity", "Quantity must be between 0 and 100,000")
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

// ListingPatch is a partial update; nil fields are left alone.
type ListingPatch struct {
	Name        *string
	Description *string
	PriceCents  *int64
	Currency    *string
	Quantity    *int
}

// Apply copies the set fields of p onto l.
func (p ListingPatch) Apply(l *Listing) {
	if p.Name != nil {
		l.Name = *p.Name
	}
	if p.Description != nil {
		l.Description = *p.Description
	}
	if p.PriceCents != nil {
		l.Price.Cents = *p.PriceCents
	}
	if p.Currency != nil {
		l.Price.Currency = *p.Currency
	}
	if p.Quantity != nil {
		l.Quantity = *p.Quantity
	}
}

// ListingFilter selects a page of listings, newest first. Before and After are
// keyset cursors (listing ids): Before returns listings older than that id,
// After returns listings newer than it (the page before, for "Previous").
type ListingFilter struct {
	Before int64
	After  int64
	Limit  int
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
