package web

import (
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/bazaarhq/bazaar/internal/market"
)

// apiListing is a listing as the API shows it.
type apiListing struct {
	ID          int64     `json:"id"`
	Name        string    `json:"name"`
	Description string    `json:"description"`
	PriceCents  int64     `json:"price_cents"`
	Currency    string    `json:"currency"`
	Quantity    int       `json:"quantity"`
	Category    string    `json:"category"`
	Condition   string    `json:"condition"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
	SellerID    int64     `json:"seller_id"`
	// Cover is the first photo, or null; Photos are all of them, only
	// where one listing is answered (not in lists).
	Cover  *apiPhoto   `json:"cover"`
	Photos *[]apiPhoto `json:"photos,omitempty"`
}

// toAPIListingWith is one listing as GET answers it: with all its photos.
func toAPIListingWith(l *market.Listing, ps []market.Photo) apiListing {
	out := toAPIListing(l)
	all := toAPIPhotos(ps)
	out.Photos = &all
	return out
}

func toAPIListing(l *market.Listing) apiListing {
	return apiListing{
		ID: l.ID, Name: l.Name, Description: l.Description, PriceCents: l.Price.Cents,
		Currency: l.Price.Currency, Quantity: l.Quantity, Category: l.Category, Condition: l.Condition,
		CreatedAt: l.CreatedAt.UTC(), UpdatedAt: l.UpdatedAt.UTC(), SellerID: l.SellerID,
		Cover: toAPIPhoto(l.Cover),
	}
}

// apiListingPage is one page of listings with cursors to its neighbours.
type apiListingPage struct {
	Listings   []apiListing `json:"listings"`
	NextBefore *int64       `json:"next_before,omitempty"`
	PrevAfter  *int64       `json:"prev_after,omitempty"`
}

// apiListingInput is the body of POST and PATCH. Pointers tell "absent"
// from "zero" for PATCH; POST requires name, price_cents and quantity.
type apiListingInput struct {
	Name        *string `json:"name"`
	Description *string `json:"description"`
	PriceCents  *int64  `json:"price_cents"`
	Currency    *string `json:"currency"`
	Quantity    *int    `json:"quantity"`
	Category    *string `json:"category"`
	Condition   *string `json:"condition"`
}

// input converts the JSON types into the domain's input; the rules are
// market's.
func (in apiListingInput) input() market.ListingInput {
	out := market.ListingInput{Name: in.Name, Description: in.Description, Currency: in.Currency,
		Category: in.Category, Condition: in.Condition}
	if in.PriceCents != nil {
		v := strconv.FormatInt(*in.PriceCents, 10)
		out.PriceCents = &v
	}
	if in.Quantity != nil {
		v := strconv.Itoa(*in.Quantity)
		out.Quantity = &v
	}
	return out
}

func (s *Server) apiListListings(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if isSearch(q) {
		s.apiSearchListings(w, r)
		return
	}
	f, err := listingFilter(r)
	if err != nil {
		s.error(w, r, err)
		return
	}
	page, err := s.db.Listings(r.Context(), f)
	if err != nil {
		s.error(w, r, err)
		return
	}
	s.photoURLs(page.Listings...)
	out := toAPIListingPage(page)
	s.writeJSON(w, http.StatusOK, "application/json", out)
}

// listingFilter reads the paging parameters of a list of listings:
// limit (1-100, default 24), before and after.
func listingFilter(r *http.Request) (market.ListingFilter, error) {
	q := r.URL.Query()
	p := market.Problems{}
	f := market.ListingFilter{Limit: 24}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > market.MaxPageSize {
			p.Add("limit", "limit must be a whole number from 1 to 100")
		}
		f.Limit = n
	}
	var ok bool
	if f.Before, ok = cursor(r, "before"); !ok {
		p.Add("before", "before must be a listing id")
	}
	if f.After, ok = cursor(r, "after"); !ok {
		p.Add("after", "after must be a listing id")
	}
	if f.Before > 0 && f.After > 0 {
		p.Add("after", "use either before or after, not both")
	}
	return f, p.Err()
}

func toAPIListingPage(page *market.ListingPage) apiListingPage {
	out := apiListingPage{Listings: make([]apiListing, len(page.Listings))}
	for i, l := range page.Listings {
		out.Listings[i] = toAPIListing(l)
	}
	if page.NextBefore > 0 {
		out.NextBefore = &page.NextBefore
	}
	if page.PrevAfter > 0 {
		out.PrevAfter = &page.PrevAfter
	}
	return out
}

func (s *Server) apiCreateListing(w http.ResponseWriter, r *http.Request) {
	u, ok := s.requireUser(w, r)
	if !ok {
		return
	}
	var in apiListingInput
	if err := decodeJSON(w, r, &in); err != nil {
		s.error(w, r, err)
		return
	}
	l, err := in.input().NewListing()
	if err == nil {
		l.SellerID, l.SellerName = u.ID, u.DisplayName
		err = s.db.CreateListing(r.Context(), l)
	}
	if err != nil {
		s.error(w, r, err)
		return
	}
	w.Header().Set("Location", "/api/v1/listings/"+strconv.FormatInt(l.ID, 10))
	setETag(w, l)
	s.writeJSON(w, http.StatusCreated, "application/json", toAPIListing(l))
}

func (s *Server) apiGetListing(w http.ResponseWriter, r *http.Request) {
	id, ok := s.apiListingID(w, r)
	if !ok {
		return
	}
	l, err := s.db.Listing(r.Context(), id)
	var ps []market.Photo
	if err == nil {
		ps, err = s.listingPhotos(r, l)
	}
	if err != nil {
		s.error(w, r, err)
		return
	}
	setETag(w, l)
	s.writeJSON(w, http.StatusOK, "application/json", toAPIListingWith(l, ps))
}

func (s *Server) apiUpdateListing(w http.ResponseWriter, r *http.Request) {
	u, ok := s.requireUser(w, r)
	if !ok {
		return
	}
	id, ok := s.apiListingID(w, r)
	if !ok {
		return
	}
	var in apiListingInput
	if err := decodeJSON(w, r, &in); err != nil {
		s.error(w, r, err)
		return
	}
	ifVersion, err := s.ifMatch(r, id)
	if err != nil {
		s.error(w, r, err)
		return
	}
	l, err := s.db.UpdateListing(r.Context(), u.ID, id, in.input(), ifVersion)
	var ps []market.Photo
	if err == nil {
		ps, err = s.listingPhotos(r, l)
	}
	if err != nil {
		s.error(w, r, err)
		return
	}
	setETag(w, l)
	s.writeJSON(w, http.StatusOK, "application/json", toAPIListingWith(l, ps))
}

func (s *Server) apiDeleteListing(w http.ResponseWriter, r *http.Request) {
	u, ok := s.requireUser(w, r)
	if !ok {
		return
	}
	id, ok := s.apiListingID(w, r)
	if !ok {
		return
	}
	if err := s.db.DeleteListing(r.Context(), u.ID, id); err != nil {
		s.error(w, r, err)
		return
	}
	s.photosDeleted()
	w.WriteHeader(http.StatusNoContent)
}

// apiListingID parses the {id} path segment; a malformed id names no
// listing, so it is a 404 like an unknown one. On failure it has answered.
func (s *Server) apiListingID(w http.ResponseWriter, r *http.Request) (int64, bool) {
	id, ok := pathID(r)
	if !ok {
		s.error(w, r, market.Errorf(market.ENOTFOUND, "Listing not found."))
	}
	return id, ok
}

// setETag names the listing's version as its entity tag, for If-Match.
func setETag(w http.ResponseWriter, l *market.Listing) {
	w.Header().Set("ETag", `"`+strconv.FormatInt(l.Version, 10)+`"`)
}

// ifMatch reads the If-Match header of a change to listing id as the
// version the change is based on: 0 when there is no header or it is "*"
// (no condition beyond the listing existing), -1 when it names none of our
// versions (a weak or malformed tag cannot match: 412). With several tags,
// the one that is the listing's current version, if any.
func (s *Server) ifMatch(r *http.Request, id int64) (int64, error) {
	h := strings.TrimSpace(strings.Join(r.Header.Values("If-Match"), ","))
	if h == "" || h == "*" {
		return 0, nil
	}
	var versions []int64
	for _, tag := range strings.Split(h, ",") {
		tag = strings.TrimSpace(tag)
		if len(tag) < 2 || tag[0] != '"' || tag[len(tag)-1] != '"' {
			continue // weak (W/"1") or malformed: never a strong match
		}
		if v, ok := canonicalID(tag[1 : len(tag)-1]); ok {
			versions = append(versions, v)
		}
	}
	switch len(versions) {
	case 0:
		return -1, nil
	case 1:
		return versions[0], nil
	}
	l, err := s.db.Listing(r.Context(), id)
	if err != nil {
		return 0, err
	}
	if slices.Contains(versions, l.Version) {
		return l.Version, nil
	}
	return -1, nil
}
