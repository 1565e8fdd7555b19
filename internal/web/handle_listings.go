package web

import (
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	"github.com/bazaarhq/bazaar/internal/market"
	"github.com/bazaarhq/bazaar/internal/photo"
	"github.com/bazaarhq/bazaar/internal/web/templates"
)

// HomePageSize is how many listings the home page shows.
const HomePageSize = 24

// maxFormBytes caps a form body; listings are small.
const maxFormBytes = 1 << 20

// newListingForm returns the sell form (l == nil) or the edit form of l,
// holding l's current values.
func newListingForm(l *market.Listing) templates.ListingForm {
	if l == nil {
		return templates.ListingForm{Action: "/listings", Currency: market.DefaultCurrency, Quantity: "1"}
	}
	return templates.ListingForm{
		Action: "/listings/" + strconv.FormatInt(l.ID, 10), Editing: true, ID: l.ID, Currency: l.Price.Currency,
		Name: l.Name, Description: l.Description, Price: market.FormatAmount(l.Price.Cents, l.Price.Currency), Quantity: strconv.Itoa(l.Quantity),
		Version: l.Version, Category: l.Category, Condition: l.Condition,
	}
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
	s.photoURLs(page.Listings...)
	cacheablePage(w)
	s.render(w, r, http.StatusOK, templates.Home(templates.HomePage{Layout: s.layout(w, r, "Bazaar"), Page: page, Paged: f.Before > 0 || f.After > 0}))
}

func (s *Server) handleListingNew(w http.ResponseWriter, r *http.Request) {
	if _, ok := s.requireUser(w, r); !ok {
		return
	}
	form := newListingForm(nil)
	form.Layout = s.layout(w, r, "Sell an item")
	s.render(w, r, http.StatusOK, templates.Form(form))
}

func (s *Server) handleListingCreate(w http.ResponseWriter, r *http.Request) {
	u, ok := s.requireUser(w, r)
	if !ok {
		return
	}
	form := newListingForm(nil)
	in, uploads, ok := s.readListingForm(w, r, &form)
	if !ok {
		return
	}
	l, err := in.NewListing()
	var photos []*photo.Result
	if err == nil {
		// Every photo is checked before the listing is created, so a
		// refused one leaves nothing behind to clean up.
		photos, err = s.processUploads(r, uploads, market.MaxPhotos)
	}
	if err == nil {
		l.SellerID, l.SellerName = u.ID, u.DisplayName
		err = s.db.CreateListing(r.Context(), l)
	}
	if err != nil {
		s.formError(w, r, form, err)
		return
	}
	flash := "created"
	if err := s.storePhotos(r, l.ID, photos); err != nil {
		s.logger.LogAttrs(r.Context(), slog.LevelWarn, "listing created without its photos",
			slog.String("request_id", requestID(r.Context())), slog.Int64("listing", l.ID), slog.String("err", err.Error()))
		flash = "created-no-photos"
	}
	s.setFlash(w, flash)
	http.Redirect(w, r, "/listings/"+strconv.FormatInt(l.ID, 10), http.StatusSeeOther)
}

func (s *Server) handleListingShow(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(r)
	if !ok {
		s.handleNotFound(w, r)
		return
	}
	// The listing and its photos in one round trip.
	l, photos, err := s.db.ListingWithPhotos(r.Context(), id)
	if err != nil {
		s.error(w, r, err)
		return
	}
	photos = s.fillPhotos(l, photos)
	cacheablePage(w)
	page := templates.ListingPage{Layout: s.layout(w, r, l.Name), Listing: l, Photos: photos}
	page.Owner = page.UserID == l.SellerID
	if tree, err := s.db.Categories(r.Context()); err == nil {
		for c := tree.BySlug(l.Category); c != nil; c = c.Parent {
			page.Crumbs = append([]*market.Category{c}, page.Crumbs...)
		}
	}
	s.render(w, r, http.StatusOK, templates.Listing(page))
}

func (s *Server) handleListingEdit(w http.ResponseWriter, r *http.Request) {
	l, ok := s.ownListing(w, r)
	if !ok {
		return
	}
	var err error
	form := newListingForm(l)
	if form.Photos, err = s.listingPhotos(r, l); err != nil {
		s.error(w, r, err)
		return
	}
	form.Layout = s.layout(w, r, "Edit "+l.Name)
	s.render(w, r, http.StatusOK, templates.Form(form))
}

// handleListingUpdate saves the edit form. The listing is loaded first, so
// an unknown id is a 404 whatever the body holds, and the form shown again
// belongs to that listing (its action, its currency). The save is based on
// the version the form carries: if the listing changed since the form was
// opened, nothing is written and the form comes back (409) with the
// listing's current values and version.
func (s *Server) handleListingUpdate(w http.ResponseWriter, r *http.Request) {
	l, ok := s.ownListing(w, r)
	if !ok {
		return
	}
	form := newListingForm(l)
	in, uploads, ok := s.readListingForm(w, r, &form)
	if !ok {
		return
	}
	form.Version = 0 // a form without a version (opened before versions existed) is not checked
	if v := r.PostForm.Get("version"); v != "" {
		if form.Version, ok = canonicalID(v); !ok {
			form.Version = -1 // matches no version: stale
		}
	}
	var photos []*photo.Result
	if len(uploads) > 0 {
		existing, err := s.db.ListingPhotos(r.Context(), l.ID)
		if err == nil {
			photos, err = s.processUploads(r, uploads, market.MaxPhotos-len(existing))
		}
		if err != nil {
			s.formError(w, r, form, err)
			return
		}
	}
	if _, err := s.db.UpdateListing(r.Context(), l.SellerID, l.ID, in, form.Version); err != nil {
		s.formError(w, r, form, err)
		return
	}
	if err := s.storePhotos(r, l.ID, photos); err != nil {
		s.formError(w, r, form, err)
		return
	}
	s.setFlash(w, "saved")
	http.Redirect(w, r, form.Action, http.StatusSeeOther)
}

func (s *Server) handleListingDelete(w http.ResponseWriter, r *http.Request) {
	u, ok := s.requireUser(w, r)
	if !ok {
		return
	}
	id, ok := pathID(r)
	if !ok {
		s.handleNotFound(w, r)
		return
	}
	if err := s.db.DeleteListing(r.Context(), u.ID, id); err != nil {
		s.error(w, r, err)
		return
	}
	s.photosDeleted()
	s.setFlash(w, "deleted")
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// readListingForm reads the sell/edit form's fields into form (to show them
// again as typed) and into a market.ListingInput (to apply the rules). On a
// body that cannot be read it has answered and returns ok=false.
func (s *Server) readListingForm(w http.ResponseWriter, r *http.Request, form *templates.ListingForm) (market.ListingInput, [][]byte, bool) {
	var uploads [][]byte
	if isMultipart(r) {
		up, err := s.readUpload(w, r, market.MaxPhotos)
		if err != nil {
			s.formError(w, r, *form, err)
			return market.ListingInput{}, nil, false
		}
		r.PostForm, uploads = up.values, up.photos
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		s.error(w, r, formParseError(err))
		return market.ListingInput{}, nil, false
	}
	form.Name = r.PostForm.Get("name")
	form.Description = r.PostForm.Get("description")
	form.Price = strings.TrimSpace(r.PostForm.Get("price"))
	form.Quantity = strings.TrimSpace(r.PostForm.Get("quantity"))
	in := market.ListingInput{Name: &form.Name, Description: &form.Description, Price: &form.Price, Quantity: &form.Quantity}
	// The sell form always sends category and condition, so there an empty
	// one is a choice not made, which market refuses. A client that sends
	// neither field (one written before categories) gets market's defaults,
	// as it does in the API.
	if _, ok := r.PostForm["category"]; ok {
		form.Category = strings.TrimSpace(r.PostForm.Get("category"))
		in.Category = &form.Category
	}
	if _, ok := r.PostForm["condition"]; ok {
		form.Condition = strings.TrimSpace(r.PostForm.Get("condition"))
		in.Condition = &form.Condition
	}
	return in, uploads, true
}

// formError shows the form again: with 422 and a message beside each field
// for input that breaks a rule, or with 409 and the listing's current
// values and version for a save based on a version someone else has since
// replaced (nothing was saved). Any other error gets the error page.
func (s *Server) formError(w http.ResponseWriter, r *http.Request, form templates.ListingForm, err error) {
	if errors.Is(err, market.ErrStale) {
		current, cerr := s.db.Listing(r.Context(), form.ID)
		if cerr != nil {
			s.error(w, r, cerr)
			return
		}
		f := s.describe(w, r, err) // logs it, as the 409 it is
		form = newListingForm(current)
		form.Layout = s.layout(w, r, "Edit "+current.Name)
		form.Conflict = f.Message
		s.render(w, r, f.Status, templates.Form(form))
		return
	}
	var re *requestError
	if errors.As(err, &re) && re.status == http.StatusRequestEntityTooLarge {
		// Too large a photo: the form again, the message beside the field.
		f := s.describe(w, r, err)
		form.Errors = map[string]string{"photo": f.Message}
		s.withPhotos(r, &form)
		form.Layout = s.layout(w, r, "Check your listing")
		s.render(w, r, f.Status, templates.Form(form))
		return
	}
	if fields := market.ErrorFields(err); market.ErrorCode(err) == market.EINVALID && len(fields) > 0 {
		form.Errors = fields
		s.withPhotos(r, &form)
		form.Layout = s.layout(w, r, "Check your listing")
		s.render(w, r, http.StatusUnprocessableEntity, templates.Form(form))
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

// ownListing loads the listing named by the {id} path segment for its
// seller to change. A guest is sent to sign in; anyone else but the
// seller gets the 404 of a listing that does not exist, so trying ids
// tells nobody what others have listed beyond what the public pages show.
func (s *Server) ownListing(w http.ResponseWriter, r *http.Request) (*market.Listing, bool) {
	u, ok := s.requireUser(w, r)
	if !ok {
		return nil, false
	}
	l, ok := s.listing(w, r)
	if !ok {
		return nil, false
	}
	if l.SellerID != u.ID {
		s.error(w, r, market.Errorf(market.ENOTFOUND, "Listing not found."))
		return nil, false
	}
	return l, true
}

// pathID parses the {id} path segment: a positive integer in its canonical
// form, so each listing has one URL (/listings/+1 and /listings/001 name
// nothing).
func pathID(r *http.Request) (int64, bool) {
	return canonicalID(r.PathValue("id"))
}

// cursor parses an optional positive integer query parameter, also in
// canonical form only.
func cursor(r *http.Request, name string) (int64, bool) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return 0, true
	}
	return canonicalID(v)
}

// canonicalID accepts the decimal form strconv.FormatInt writes for a
// positive int64 and nothing else: no sign, no leading zeros, no spaces.
func canonicalID(s string) (int64, bool) {
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil && n > 0 && strconv.FormatInt(n, 10) == s
}

// cacheablePage lets a browser keep a catalogue page (home, a listing) for
// its back button, provided it asks again before showing it (no-cache), and
// keeps it out of shared caches (private): once people sign in, every page
// names who is signed in. Call it before layout, whose flash message turns
// the page back to no-store; an error after it resets it too (describe).
func cacheablePage(w http.ResponseWriter) {
	w.Header().Set("Cache-Control", "private, no-cache")
}

// layout builds the shared page data, taking the flash message once.
//
// The header's category menu comes from the store's cached tree; while the
// database is unreachable (and the tree was never read) pages go without it.
func (s *Server) layout(w http.ResponseWriter, r *http.Request, title string) templates.Layout {
	l := templates.Layout{Title: title, Flash: s.popFlash(w, r), Static: s.views.prefix}
	if s.db == nil { // a server without a store: handler tests and fuzzers
		return l
	}
	// The cart count: a visitor's from the cart cookie (a request with a
	// cookie never meets the shared page cache), a user's from the store.
	if u := s.currentUser(r); u != nil {
		l.UserName, l.UserID = u.DisplayName, u.ID
		if n, ok := sessionCartCount(r, u); ok {
			l.CartCount = n
		} else if n, err := s.db.CartCount(r.Context(), u.ID); err == nil {
			l.CartCount = n
		}
	} else {
		l.CartCount = guestCartCount(r)
	}
	if tree, err := s.db.Categories(r.Context()); err == nil {
		l.Categories = tree.Top
	}
	return l
}
