package web

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/bazaarhq/bazaar/internal/market"
)

// HomePageSize is how many listings the home page shows.
const HomePageSize = 24

// maxFormBytes caps a form body; listings are small.
const maxFormBytes = 1 << 20

type homePage struct {
	layout
	Page *market.ListingPage
	// Paged is set when a cursor chose the page, so an empty one means
	// "no more listings" rather than "nothing for sale".
	Paged bool
}

type listingPage struct {
	layout
	Listing *market.Listing
}

// listingForm is the sell/edit form as the user typed it, with a message per
// field when it is re-shown.
type listingForm struct {
	layout
	Action      string
	Editing     bool
	ID          int64
	Name        string
	Description string
	Price       string
	Quantity    string
	Errors      map[string]string
}

func (s *Server) handleHome(w http.ResponseWriter, r *http.Request) {
	f := market.ListingFilter{Limit: HomePageSize}
	var ok bool
	if f.Before, ok = cursor(r, "before"); !ok {
		s.handleNotFound(w, r)
		return
	}
	if f.After, ok = cursor(r, "after"); !ok {
		s.handleNotFound(w, r)
		return
	}
	page, err := s.db.Listings(r.Context(), f)
	if err != nil {
		s.error(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, "home.html", homePage{layout: s.layout(w, r, "Bazaar"), Page: page, Paged: f.Before > 0 || f.After > 0})
}

func (s *Server) handleListingNew(w http.ResponseWriter, r *http.Request) {
	s.render(w, r, http.StatusOK, "form.html", listingForm{layout: s.layout(w, r, "Sell an item"), Action: "/listings", Quantity: "1"})
}

func (s *Server) handleListingCreate(w http.ResponseWriter, r *http.Request) {
	form, l, ok := s.parseListingForm(w, r)
	if !ok {
		return
	}
	form.Action = "/listings"
	if err := s.db.CreateListing(r.Context(), l); err != nil {
		s.formError(w, r, form, "Sell an item", err)
		return
	}
	s.setFlash(w, "created")
	http.Redirect(w, r, "/listings/"+strconv.FormatInt(l.ID, 10), http.StatusSeeOther)
}

func (s *Server) handleListingShow(w http.ResponseWriter, r *http.Request) {
	l, ok := s.listing(w, r)
	if !ok {
		return
	}
	s.render(w, r, http.StatusOK, "listing.html", listingPage{layout: s.layout(w, r, l.Name), Listing: l})
}

func (s *Server) handleListingEdit(w http.ResponseWriter, r *http.Request) {
	l, ok := s.listing(w, r)
	if !ok {
		return
	}
	s.render(w, r, http.StatusOK, "form.html", listingForm{
		layout: s.layout(w, r, "Edit "+l.Name), Action: "/listings/" + strconv.FormatInt(l.ID, 10), Editing: true, ID: l.ID,
		Name: l.Name, Description: l.Description, Price: market.FormatCents(l.Price.Cents), Quantity: strconv.Itoa(l.Quantity),
	})
}

func (s *Server) handleListingUpdate(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(r)
	if !ok {
		s.handleNotFound(w, r)
		return
	}
	form, l, ok := s.parseListingForm(w, r)
	if !ok {
		return
	}
	form.Action, form.Editing, form.ID = "/listings/"+strconv.FormatInt(id, 10), true, id
	_, err := s.db.UpdateListing(r.Context(), id, market.ListingPatch{
		Name: &l.Name, Description: &l.Description, PriceCents: &l.Price.Cents, Quantity: &l.Quantity,
	})
	if err != nil {
		s.formError(w, r, form, "Edit listing", err)
		return
	}
	s.setFlash(w, "saved")
	http.Redirect(w, r, "/listings/"+strconv.FormatInt(id, 10), http.StatusSeeOther)
}

func (s *Server) handleListingDelete(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(r)
	if !ok {
		s.handleNotFound(w, r)
		return
	}
	if err := s.db.DeleteListing(r.Context(), id); err != nil {
		s.error(w, r, err)
		return
	}
	s.setFlash(w, "deleted")
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// parseListingForm reads the sell/edit form. Text that is not a number is
// reported beside its field together with every other rule the input
// breaks, so the user fixes everything in one go. On a parse failure it has
// already answered and returns ok=false.
func (s *Server) parseListingForm(w http.ResponseWriter, r *http.Request) (listingForm, *market.Listing, bool) {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		s.error(w, r, formParseError(err))
		return listingForm{}, nil, false
	}
	form := listingForm{
		Name:        r.PostForm.Get("name"),
		Description: r.PostForm.Get("description"),
		Price:       strings.TrimSpace(r.PostForm.Get("price")),
		Quantity:    strings.TrimSpace(r.PostForm.Get("quantity")),
	}
	p := market.Problems{}
	l := &market.Listing{Name: form.Name, Description: form.Description, Price: market.Money{Currency: market.DefaultCurrency}}
	if form.Price == "" {
		p.Add("price", "Price is required")
	} else if c, err := market.ParseCents(form.Price); err != nil {
		p.Add("price", err.Error())
	} else {
		l.Price.Cents = c
	}
	if form.Quantity == "" {
		p.Add("quantity", "Quantity is required")
	} else if q, err := strconv.Atoi(form.Quantity); err != nil {
		p.Add("quantity", "Quantity must be a whole number between 0 and 100,000")
	} else {
		l.Quantity = q
	}
	l.ValidateInto(p)
	if err := p.Err(); err != nil {
		form.Errors = market.ErrorFields(err)
		form.layout = s.layout(w, r, "Check your listing")
		form.Action = r.URL.Path
		form.Editing = r.URL.Path != "/listings"
		form.ID, _ = pathID(r)
		s.render(w, r, http.StatusUnprocessableEntity, "form.html", form)
		return form, nil, false
	}
	return form, l, true
}

// formError re-shows the form for a validation error the store found, and
// renders any other error as an error page.
func (s *Server) formError(w http.ResponseWriter, r *http.Request, form listingForm, title string, err error) {
	if fields := market.ErrorFields(err); market.ErrorCode(err) == market.EINVALID && len(fields) > 0 {
		form.Errors = fields
		form.layout = s.layout(w, r, title)
		s.render(w, r, http.StatusUnprocessableEntity, "form.html", form)
		return
	}
	s.error(w, r, err)
}

func formParseError(err error) error {
	if _, ok := err.(*http.MaxBytesError); ok {
		return err
	}
	return market.Errorf(market.EINVALID, "The form could not be read.")
}

// listing loads the listing named by the {id} path segment, answering 404
// itself for a malformed or unknown id.
func (s *Server) listing(w http.ResponseWriter, r *http.Request) (*market.Listing, bool) {
	id, ok := pathID(r)
	if !ok {
		s.handleNotFound(w, r)
		return nil, false
	}
	l, err := s.db.Listing(r.Context(), id)
	if err != nil {
		s.error(w, r, err)
		return nil, false
	}
	return l, true
}

// pathID parses the {id} path segment: a positive integer, nothing else.
func pathID(r *http.Request) (int64, bool) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	return id, err == nil && id > 0
}

// cursor parses an optional positive integer query parameter.
func cursor(r *http.Request, name string) (int64, bool) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return 0, true
	}
	n, err := strconv.ParseInt(v, 10, 64)
	return n, err == nil && n > 0
}

// layout builds the shared page data, taking the flash message once.
func (s *Server) layout(w http.ResponseWriter, r *http.Request, title string) layout {
	return layout{Title: title, Flash: s.popFlash(w, r)}
}
