package web

import (
	"net/http"
	"os"

	"github.com/bazaarhq/bazaar/internal/blob"
	"github.com/bazaarhq/bazaar/internal/market"
)

// handleMedia serves the photo directory under Config.MediaURL, for `make
// run` only: in production nginx serves the directory (or the bucket
// serves itself), so image bytes never pass through Go. Only valid keys
// are served (no directory listings, no hidden temporary files), as
// immutable: a key is its content's hash.
func (s *Server) handleMedia(w http.ResponseWriter, r *http.Request) {
	key := r.PathValue("key")
	if !blob.ValidKey(key) || s.media == nil {
		s.error(w, r, market.Errorf(market.ENOTFOUND, "No such photo."))
		return
	}
	f, err := s.media.Open(key)
	if err != nil {
		s.error(w, r, market.Errorf(market.ENOTFOUND, "No such photo."))
		return
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil || !st.Mode().IsRegular() {
		s.error(w, r, market.Errorf(market.ENOTFOUND, "No such photo."))
		return
	}
	w.Header().Set("Cache-Control", blob.CacheControl)
	http.ServeContent(w, r, key, st.ModTime(), f)
}

// openMedia opens the directory handleMedia serves.
func openMedia(dir string) (*os.Root, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, err
	}
	return os.OpenRoot(dir)
}
