package web

import (
	"bytes"
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net/http"
	"sort"
	"strconv"
	"sync"

	"github.com/a-h/templ"
)

//go:embed static
var staticFS embed.FS

// views holds the static files and their version, a hash of their content
// that makes static URLs cacheable forever. The pages themselves are
// compiled Go (package templates).
type views struct {
	static fs.FS
	// prefix is "/static/<version>/", the start of every static URL.
	prefix  string
	version string
}

func newViews() (*views, error) {
	static, err := fs.Sub(staticFS, "static")
	if err != nil {
		return nil, err
	}
	version, err := hashFS(static)
	if err != nil {
		return nil, err
	}
	return &views{static: static, version: version, prefix: "/static/" + version + "/"}, nil
}

func hashFS(fsys fs.FS) (string, error) {
	var names []string
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			names = append(names, p)
		}
		return err
	})
	if err != nil {
		return "", err
	}
	sort.Strings(names)
	h := sha256.New()
	for _, n := range names {
		b, err := fs.ReadFile(fsys, n)
		if err != nil {
			return "", err
		}
		fmt.Fprintf(h, "%s\x00%d\x00", n, len(b))
		h.Write(b)
	}
	return hex.EncodeToString(h.Sum(nil))[:12], nil
}

var bufPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// render writes page into a pooled buffer first, so a failure becomes a
// clean 500 rather than half a page, then writes status and body in one go
// with its length.
func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, page templ.Component) {
	buf := bufPool.Get().(*bytes.Buffer)
	buf.Reset()
	defer func() {
		// A rare huge page would otherwise stay pinned in the pool.
		if buf.Cap() <= maxPooledBuffer {
			bufPool.Put(buf)
		}
	}()
	// Not the request's context: a page's data is all in its struct, and
	// templ stops at a cancelled context, which would turn the answer to a
	// request whose deadline passed (a 408, a 503) into a render error.
	if err := page.Render(context.Background(), buf); err != nil {
		s.error(w, r, fmt.Errorf("render: %w", err))
		return
	}
	h := w.Header()
	h["Content-Type"] = htmlContentType
	h["Content-Length"] = []string{strconv.Itoa(buf.Len())}
	w.WriteHeader(status)
	_, _ = buf.WriteTo(w)
}

// maxPooledBuffer is the largest render buffer kept for reuse.
const maxPooledBuffer = 256 << 10

// htmlContentType is shared by every page's headers and never modified.
var htmlContentType = []string{"text/html; charset=utf-8"}

// handleStatic serves embedded static files. The current version's URLs are
// immutable and cached for a year; any other version gets the current file
// but must be revalidated, so an old page still renders after a deploy.
func (s *Server) handleStatic(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("file")
	if st, err := fs.Stat(s.views.static, name); name == "" || !fs.ValidPath(name) || err != nil || st.IsDir() {
		s.handleNotFound(w, r)
		return
	}
	if r.PathValue("version") == s.views.version {
		w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		w.Header().Set("Cache-Control", "no-cache")
	}
	// #nosec G703 -- name passed fs.ValidPath above and the FS is the embedded static files.
	http.ServeFileFS(w, r, s.views.static, name)
}
