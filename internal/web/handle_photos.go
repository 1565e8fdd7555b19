package web

import (
	"net/http"
	"strconv"

	"github.com/bazaarhq/bazaar/internal/market"
	"github.com/bazaarhq/bazaar/internal/photo"
	"github.com/bazaarhq/bazaar/internal/web/templates"
)

// processUploads checks and converts the photos of a form, at most room
// of them, all before anything is stored: one refused photo refuses the
// form, with its message beside the photo field.
func (s *Server) processUploads(r *http.Request, uploads [][]byte, room int) ([]*photo.Result, error) {
	if len(uploads) == 0 {
		return nil, nil
	}
	if s.photos == nil {
		return nil, errNoPhotos
	}
	if len(uploads) > room {
		return nil, tooManyPhotos(room)
	}
	out := make([]*photo.Result, 0, len(uploads))
	for i, data := range uploads {
		res, err := s.photos.Process(r.Context(), data)
		if err != nil {
			if len(uploads) > 1 && market.ErrorCode(err) == market.EINVALID {
				msg := "Photo " + strconv.Itoa(i+1) + " of " + strconv.Itoa(len(uploads)) + ": " + market.ErrorMessage(err) +
					" Please choose your photos again."
				return nil, photoFieldError(msg)
			}
			return nil, err
		}
		out = append(out, res)
	}
	return out, nil
}

// storePhotos adds processed photos to a listing, in order.
func (s *Server) storePhotos(r *http.Request, listingID int64, photos []*photo.Result) error {
	for _, res := range photos {
		if _, err := s.photos.Store(r.Context(), listingID, res); err != nil {
			return err
		}
	}
	return nil
}

// editURL is a listing's edit page, where its photos are managed.
func editURL(id int64) string { return "/listings/" + strconv.FormatInt(id, 10) + "/edit" }

// handlePhotoAdd takes the edit page's photos (one or several, in the
// field "photo"): 303 back to the edit page, or the edit form again with a
// message beside the field. The JavaScript enhancement posts one file at a
// time here to show progress.
func (s *Server) handlePhotoAdd(w http.ResponseWriter, r *http.Request) {
	l, ok := s.ownListing(w, r)
	if !ok {
		return
	}
	form := newListingForm(l)
	if !isMultipart(r) {
		s.formError(w, r, form, photoFieldError("Please choose a photo to upload."))
		return
	}
	up, err := s.readUpload(w, r, market.MaxPhotos)
	var photos []*photo.Result
	if err == nil && len(up.photos) == 0 {
		err = photoFieldError("Please choose a photo to upload.")
	}
	if err == nil {
		var existing []market.Photo
		if existing, err = s.db.ListingPhotos(r.Context(), l.ID); err == nil {
			photos, err = s.processUploads(r, up.photos, market.MaxPhotos-len(existing))
		}
	}
	if err == nil {
		err = s.storePhotos(r, l.ID, photos)
	}
	if err != nil {
		s.formError(w, r, form, err)
		return
	}
	s.setFlash(w, "photos-added")
	http.Redirect(w, r, editURL(l.ID), http.StatusSeeOther)
}

// handlePhotoDelete, handlePhotoCover and handlePhotoMove are the edit
// page's buttons: each a form posting to its own URL, then 303 back.
func (s *Server) handlePhotoDelete(w http.ResponseWriter, r *http.Request) {
	s.photoButton(w, r, "photo-deleted", func(listingID, photoID int64) error {
		return s.deletePhoto(r, listingID, photoID)
	})
}

func (s *Server) handlePhotoCover(w http.ResponseWriter, r *http.Request) {
	s.photoButton(w, r, "photos-saved", func(listingID, photoID int64) error {
		return s.db.MovePhoto(r.Context(), listingID, photoID, 0)
	})
}

func (s *Server) handlePhotoMove(w http.ResponseWriter, r *http.Request) {
	s.photoButton(w, r, "photos-saved", func(listingID, photoID int64) error {
		r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
		if err := r.ParseForm(); err != nil {
			return formParseError(err)
		}
		pos, err := strconv.Atoi(r.PostForm.Get("position"))
		if err != nil {
			return market.Problems{"position": "Position must be a whole number."}.Err()
		}
		return s.db.MovePhoto(r.Context(), listingID, photoID, pos)
	})
}

// photoButton runs one change to one photo of the listing, then sends the
// browser back to the edit page; a refused change shows the edit page
// with its message.
func (s *Server) photoButton(w http.ResponseWriter, r *http.Request, flash string, change func(listingID, photoID int64) error) {
	l, ok := s.ownListing(w, r)
	if !ok {
		return
	}
	pid, ok := canonicalID(r.PathValue("photo_id"))
	if !ok {
		s.handleNotFound(w, r)
		return
	}
	if err := change(l.ID, pid); err != nil {
		if market.ErrorCode(err) == market.EINVALID {
			form := newListingForm(l)
			form.Errors = map[string]string{"photo": market.ErrorMessage(err)}
			if fields := market.ErrorFields(err); len(fields) > 0 {
				for _, m := range fields {
					form.Errors["photo"] = m
				}
			}
			s.withPhotos(r, &form)
			form.Layout = s.layout(w, r, "Edit "+l.Name)
			s.render(w, r, http.StatusUnprocessableEntity, templates.Form(form))
			return
		}
		s.error(w, r, err)
		return
	}
	s.setFlash(w, flash)
	http.Redirect(w, r, editURL(l.ID), http.StatusSeeOther)
}

// withPhotos loads the photos an edit form shows, if it has none yet; a
// failure leaves them out (the form is being shown for another reason).
func (s *Server) withPhotos(r *http.Request, form *templates.ListingForm) {
	if !form.Editing || form.Photos != nil || s.photos == nil {
		return
	}
	l := &market.Listing{ID: form.ID}
	if ps, err := s.listingPhotos(r, l); err == nil {
		form.Photos = ps
	}
}
