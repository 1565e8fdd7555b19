package search

import (
	"encoding/base64"
	"math"
	"strconv"
	"strings"

	"github.com/bazaarhq/bazaar/internal/market"
)

// Sort orders.
const (
	SortRelevance = "relevance" // the default when there is a query
	SortNewest    = "newest"    // the default without one
	SortPriceAsc  = "price_asc"
	SortPriceDesc = "price_desc"
)

// DefaultLimit is a page of results.
const DefaultLimit = 24

// Filter is one search or browse request, checked: what the page and the
// API both hand to the store.
type Filter struct {
	Query     Query
	Category  string // slug of a top-level or leaf category; "" for all
	Condition string // one of market.Conditions, or ""
	InStock   bool
	MinCents  int64 // 0: no lower bound
	MaxCents  int64 // 0: no upper bound
	Sort      string
	Cursor    *Cursor // nil: the first page
	Limit     int
}

// Params are the raw request parameters, as strings, by their names in the
// page's query string or the API's. Get returns "" for an absent one.
type Params interface{ Get(key string) string }

// ParseFilter checks p. Prices come as min_price/max_price in currency
// units on pages (units is true) and as min_price_cents/max_price_cents in
// the API. Problems are EINVALID with a message per parameter.
func ParseFilter(p Params, units bool) (Filter, error) {
	probs := market.Problems{}
	f := Filter{Limit: DefaultLimit}
	q, err := Parse(p.Get("q"))
	if err != nil {
		for k, v := range market.ErrorFields(err) {
			probs.Add(k, v)
		}
	}
	f.Query = q
	f.Category = strings.TrimSpace(p.Get("category"))
	if len(f.Category) > 60 {
		probs.Add("category", "Unknown category")
	}
	if c := strings.TrimSpace(p.Get("condition")); c != "" {
		if !market.ValidCondition(c) {
			probs.Add("condition", "Condition must be new, used or handmade")
		}
		f.Condition = c
	}
	switch v := strings.TrimSpace(p.Get("in_stock")); v {
	case "", "0", "false":
	case "1", "true", "on":
		f.InStock = true
	default:
		probs.Add("in_stock", "in_stock must be true or false")
	}
	minKey, maxKey := "min_price_cents", "max_price_cents"
	if units {
		minKey, maxKey = "min_price", "max_price"
	}
	f.MinCents = parsePrice(probs, minKey, p.Get(minKey), units)
	f.MaxCents = parsePrice(probs, maxKey, p.Get(maxKey), units)
	if f.MinCents > 0 && f.MaxCents > 0 && f.MinCents > f.MaxCents {
		probs.Add(maxKey, "The highest price must not be below the lowest")
	}
	f.Sort = strings.TrimSpace(p.Get("sort"))
	switch f.Sort {
	case "":
		f.Sort = SortNewest
		if !f.Query.Empty() {
			f.Sort = SortRelevance
		}
	case SortRelevance:
		if f.Query.Empty() {
			f.Sort = SortNewest // nothing to be relevant to
		}
	case SortNewest, SortPriceAsc, SortPriceDesc:
	default:
		probs.Add("sort", "Sort must be relevance, newest, price_asc or price_desc")
	}
	if c := p.Get("cursor"); c != "" {
		cur, err := decodeCursor(c)
		if err != nil || cur.Sort != f.Sort {
			probs.Add("cursor", "This page link is not valid (any more); start from the first page")
		}
		f.Cursor = cur
	}
	if l := p.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > market.MaxPageSize {
			probs.Add("limit", "limit must be a whole number from 1 to 100")
		}
		f.Limit = n
	}
	if err := probs.Err(); err != nil {
		return Filter{}, err
	}
	return f, nil
}

// parsePrice reads a bound: units ("12.50", as people type a price) on
// pages, minor units ("1250") in the API; "" means no bound. The amount is
// compared with listings' prices in their own minor units, whatever their
// currency (the demo shop sells in USD; a multi-currency filter would need
// exchange rates).
func parsePrice(p market.Problems, key, s string, units bool) int64 {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0
	}
	var c int64
	var err error
	if units {
		c, err = market.ParseAmount(s, market.DefaultCurrency)
	} else {
		c, err = strconv.ParseInt(s, 10, 64)
	}
	if err != nil || c < 0 || c > market.MaxPriceCents {
		if units {
			p.Add(key, "Enter a price such as 12.50")
		} else {
			p.Add(key, "Enter a whole number of cents from 0 to 100000000")
		}
		return 0
	}
	return c
}

// Cursor is the position after the last result of a page in one sort
// order: the sort key of that result and its id, which breaks ties.
//
// Relevance ranks a window of the newest matches (all of them when there
// are few; see the store's Search), and any older matches follow it newest
// first: Floor is the oldest id of that window (0 when it held every
// match), fixed by the first page so that later pages rank the same
// window, and Rest says the position is past the window.
type Cursor struct {
	Sort  string
	Score float32 // relevance
	Floor int64   // relevance
	Rest  bool    // relevance
	Price int64   // price orders
	ID    int64
}

// Encode makes the cursor opaque: clients pass it back, never build it.
func (c *Cursor) Encode() string {
	var key string
	switch c.Sort {
	case SortRelevance:
		score := strconv.FormatUint(uint64(math.Float32bits(c.Score)), 36)
		if c.Rest {
			score = "rest"
		}
		key = score + "_" + strconv.FormatInt(c.Floor, 36)
	case SortPriceAsc, SortPriceDesc:
		key = strconv.FormatInt(c.Price, 36)
	}
	return base64.RawURLEncoding.EncodeToString([]byte(c.Sort + "." + key + "." + strconv.FormatInt(c.ID, 36)))
}

func decodeCursor(s string) (*Cursor, error) {
	if len(s) > 200 {
		return nil, strconv.ErrRange
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return nil, err
	}
	parts := strings.Split(string(b), ".")
	if len(parts) != 3 {
		return nil, strconv.ErrSyntax
	}
	c := &Cursor{Sort: parts[0]}
	if c.ID, err = strconv.ParseInt(parts[2], 36, 64); err != nil || c.ID < 0 {
		return nil, strconv.ErrSyntax
	}
	switch c.Sort {
	case SortRelevance:
		score, floor, ok := strings.Cut(parts[1], "_")
		if !ok {
			return nil, strconv.ErrSyntax
		}
		if c.Floor, err = strconv.ParseInt(floor, 36, 64); err != nil || c.Floor < 0 {
			return nil, strconv.ErrSyntax
		}
		if score == "rest" {
			if c.Floor == 0 { // nothing is past a window that held every match
				return nil, strconv.ErrSyntax
			}
			c.Rest = true
			break
		}
		bits, err := strconv.ParseUint(score, 36, 32)
		if err != nil {
			return nil, err
		}
		c.Score = math.Float32frombits(uint32(bits))
		if math.IsNaN(float64(c.Score)) || math.IsInf(float64(c.Score), 0) {
			return nil, strconv.ErrRange
		}
	case SortPriceAsc, SortPriceDesc:
		if c.Price, err = strconv.ParseInt(parts[1], 36, 64); err != nil {
			return nil, err
		}
	case SortNewest:
		if parts[1] != "" {
			return nil, strconv.ErrSyntax
		}
	default:
		return nil, strconv.ErrSyntax
	}
	return c, nil
}

// Excluded renders the negated terms as one websearch query that matches
// a listing holding any of them ("" when there are none): the store
// removes its matches from trigram (typo) hits, which know no exclusion.
func (q Query) Excluded() string {
	var parts []string
	for _, t := range q.Terms {
		if !t.Negated {
			continue
		}
		s := strings.Join(t.Words, " ")
		if t.Phrase {
			s = `"` + s + `"`
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, " or ")
}

// Result is one page of a search.
type Result struct {
	Listings []*market.Listing
	// Total is the number of matches over all pages, or an estimate of it
	// when Estimated.
	Total int64
	// Facets counts the matches per leaf category id for the query and
	// every filter but the category (estimates when Estimated).
	Facets map[int]int64
	// Estimated says Total and Facets are estimates: the query matched
	// more listings than the store counts one by one.
	Estimated bool
	// Corrected is the query as searched when the one typed matched
	// nothing and a spelling or a completion of its words did ("stonewear"
	// searched as "stoneware"); "" when it was searched as typed.
	Corrected string
	// Next is the cursor of the following page, nil on the last.
	Next *Cursor
}
