package web

import (
	"net/http"
	"strconv"
	"time"

	"github.com/bazaarhq/bazaar/internal/market"
)

// apiPhoto is a photo as the API shows it: its stored sizes, smallest
// first, each with the URL browsers fetch it from.
type apiPhoto struct {
	ID        int64          `json:"id"`
	Position  int            `json:"position"`
	Cover     bool           `json:"cover"`
	Width     int            `json:"width"`
	Height    int            `json:"height"`
	Sizes     []apiPhotoSize `json:"sizes"`
	CreatedAt time.Time      `json:"created_at"`
}

type apiPhotoSize struct {
	Width       int    `json:"width"`
	Height      int    `json:"height"`
	URL         string `json:"url"`
	ContentType string `json:"content_type"`
}

func toAPIPhoto(p *market.Photo) *apiPhoto {
	if p == nil {
		return nil
	}
	out := &apiPhoto{ID: p.ID, Position: p.Position, Cover: p.Cover(), Width: p.Width, Height: p.Height,
		Sizes: make([]apiPhotoSize, len(p.Variants)), CreatedAt: p.CreatedAt.UTC()}
	for i, v := range p.Variants {
		out.Sizes[i] = apiPhotoSize{Width: v.Width, Height: v.Height, URL: v.URL, ContentType: v.ContentType}
	}
	return out
}

func toAPIPhotos(ps []market.Photo) []apiPhoto {
	out := make([]apiPhoto, len(ps))
	for i := range ps {
		out[i] = *toAPIPhoto(&ps[i])
	}
	return out
}

// apiPhotoList is the answer of GET /api/v1/listings/{id}/photos.
type apiPhotoList struct {
	Photos []apiPhoto `json:"photos"`
}

// apiPhotoInput is the body of PATCH .../photos/{photo_id}: exactly one of
// a new position, or cover: true (the same as position 0).
type apiPhotoInput struct {
	Position *int  `json:"position"`
	Cover    *bool `json:"cover"`
}

// errNoPhotos answers photo routes on a server without a photo store.
var errNoPhotos = market.Errorf(market.EUNAVAILABLE, "Photos are not available on this server.")

// listingPhotos returns a listing's photos with their URLs, and sets
// l.Cover to the first.
func (s *Server) listingPhotos(r *http.Request, l *market.Listing) ([]market.Photo, error) {
	if s.photos == nil {
		return []market.Photo{}, nil
	}
	ps, err := s.db.ListingPhotos(r.Context(), l.ID)
	if err != nil {
		return nil, err
	}
	return s.fillPhotos(l, ps), nil
}

// fillPhotos sets the URLs of l's photos ps and makes the first its
// cover, and returns them (none, not nil, for a listing without photos or
// a server without a photo store).
func (s *Server) fillPhotos(l *market.Listing, ps []market.Photo) []market.Photo {
	if s.photos == nil {
		return []market.Photo{}
	}
	s.photos.FillPhotos(ps)
	l.Cover = nil
	if len(ps) > 0 {
		l.Cover = &ps[0]
	}
	if ps == nil {
		ps = []market.Photo{}
	}
	return ps
}

// photoID parses the {photo_id} path segment; a malformed one is a 404.
func (s *Server) photoID(w http.ResponseWriter, r *http.Request) (int64, bool) {
	id, ok := canonicalID(r.PathValue("photo_id"))
	if !ok {
		s.error(w, r, market.Errorf(market.ENOTFOUND, "Photo not found."))
	}
	return id, ok
}

func (s *Server) apiListPhotos(w http.ResponseWriter, r *http.Request) {
	l, ok := s.listing(w, r)
	if !ok {
		return
	}
	ps, err := s.listingPhotos(r, l)
	if err != nil {
		s.error(w, r, err)
		return
	}
	s.writeJSON(w, http.StatusOK, "application/json", apiPhotoList{Photos: toAPIPhotos(ps)})
}

func (s *Server) apiGetPhoto(w http.ResponseWriter, r *http.Request) {
	l, ok := s.listing(w, r)
	if !ok {
		return
	}
	pid, ok := s.photoID(w, r)
	if !ok {
		return
	}
	p, err := s.db.Photo(r.Context(), l.ID, pid)
	if err != nil {
		s.error(w, r, err)
		return
	}
	if s.photos != nil {
		s.photos.FillURLs(p)
	}
	s.writeJSON(w, http.StatusOK, "application/json", toAPIPhoto(p))
}

// apiAddPhoto takes one photo in the multipart field "photo".
func (s *Server) apiAddPhoto(w http.ResponseWriter, r *http.Request) {
	l, ok := s.ownListing(w, r)
	if !ok {
		return
	}
	if s.photos == nil {
		s.error(w, r, errNoPhotos)
		return
	}
	if !isMultipart(r) {
		s.error(w, r, photoFieldError("Send the photo as multipart/form-data, in the field named \"photo\"."))
		return
	}
	up, err := s.readUpload(w, r, 1)
	if err != nil {
		s.error(w, r, err)
		return
	}
	if len(up.photos) == 0 {
		s.error(w, r, photoFieldError("Please choose a photo to upload."))
		return
	}
	p, err := s.addPhoto(r, l.ID, up.photos[0])
	if err != nil {
		s.error(w, r, err)
		return
	}
	w.Header().Set("Location", "/api/v1/listings/"+strconv.FormatInt(l.ID, 10)+"/photos/"+strconv.FormatInt(p.ID, 10))
	s.writeJSON(w, http.StatusCreated, "application/json", toAPIPhoto(p))
}

// addPhoto adds one upload to a listing, refusing an eleventh photo
// before decoding anything (the store counts again under the listing's
// lock, for uploads racing each other).
func (s *Server) addPhoto(r *http.Request, listingID int64, data []byte) (*market.Photo, error) {
	ps, err := s.db.ListingPhotos(r.Context(), listingID)
	if err != nil {
		return nil, err
	}
	if len(ps) >= market.MaxPhotos {
		return nil, market.ErrTooManyPhotos
	}
	return s.photos.Add(r.Context(), listingID, data)
}

func (s *Server) apiUpdatePhoto(w http.ResponseWriter, r *http.Request) {
	l, ok := s.ownListing(w, r)
	if !ok {
		return
	}
	pid, ok := s.photoID(w, r)
	if !ok {
		return
	}
	var in apiPhotoInput
	if err := decodeJSON(w, r, &in); err != nil {
		s.error(w, r, err)
		return
	}
	var pos int
	switch {
	case in.Position != nil && in.Cover != nil:
		s.error(w, r, market.Problems{"cover": "Send either position or cover, not both."}.Err())
		return
	case in.Position != nil:
		pos = *in.Position
	case in.Cover != nil && *in.Cover:
		pos = 0
	case in.Cover != nil:
		s.error(w, r, market.Problems{"cover": "To change the cover, make another photo the cover (cover: true)."}.Err())
		return
	default:
		s.error(w, r, market.Problems{"position": "Send position (0 is the cover) or cover: true."}.Err())
		return
	}
	if err := s.db.MovePhoto(r.Context(), l.ID, pid, pos); err != nil {
		s.error(w, r, err)
		return
	}
	p, err := s.db.Photo(r.Context(), l.ID, pid)
	if err != nil {
		s.error(w, r, err)
		return
	}
	if s.photos != nil {
		s.photos.FillURLs(p)
	}
	s.writeJSON(w, http.StatusOK, "application/json", toAPIPhoto(p))
}

func (s *Server) apiDeletePhoto(w http.ResponseWriter, r *http.Request) {
	l, ok := s.ownListing(w, r)
	if !ok {
		return
	}
	pid, ok := s.photoID(w, r)
	if !ok {
		return
	}
	if err := s.deletePhoto(r, l.ID, pid); err != nil {
		s.error(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// photoURLs fills in the URLs of the listings' covers and photos.
func (s *Server) photoURLs(ls ...*market.Listing) {
	if s.photos != nil {
		s.photos.FillListings(ls...)
	}
}

// photosDeleted has the collector remove deleted photos' objects now
// rather than at its next round.
func (s *Server) photosDeleted() {
	if s.photos != nil {
		s.photos.Wake()
	}
}

// deletePhoto deletes a photo and has the collector remove its objects now.
func (s *Server) deletePhoto(r *http.Request, listingID, photoID int64) error {
	if err := s.db.DeletePhoto(r.Context(), listingID, photoID); err != nil {
		return err
	}
	s.photosDeleted()
	return nil
}
