package web

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/bazaarhq/bazaar/internal/market"
	"github.com/bazaarhq/bazaar/internal/web/templates"
)

//go:embed static
var staticFS embed.FS

// views holds the parsed templates (once, at start) and the static files'
// version, a hash of their content that makes static URLs cacheable forever.
type views struct {
	pages   map[string]*template.Template
	static  fs.FS
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
	v := &views{pages: map[string]*template.Template{}, static: static, version: version}
	funcs := FuncMap(version)
	names, err := fs.Glob(templates.FS, "*.html")
	if err != nil {
		return nil, err
	}
	for _, n := range names {
		if n == "layout.html" {
			continue
		}
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(templates.FS, "layout.html", n)
		if err != nil {
			return nil, fmt.Errorf("parse %s: %w", n, err)
		}
		v.pages[n] = t
	}
	return v, nil
}

// FuncMap is the functions the page templates call. static names files
// under /static/<version>/. It is exported for bench/floor, which renders
// the same template files and must format them the same way.
func FuncMap(version string) template.FuncMap {
	return template.FuncMap{
		"money":  market.Money.String,
		"date":   func(t time.Time) string { return t.UTC().Format("2 Jan 2006") },
		"iso":    func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
		"static": func(name string) string { return "/static/" + version + "/" + name },
		"id":     func(id int64) string { return strconv.FormatInt(id, 10) },
	}
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

// layout is the data every page shares. Each page's struct embeds it.
type layout struct {
	Title string
	Flash string
}

var bufPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// render executes page into a buffer first, so a template error becomes a
// clean 500 rather than half a page, then writes status and body.
func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, page string, data any) {
	t, ok := s.views.pages[page]
	if !ok {
		s.error(w, r, fmt.Errorf("no template %q", page))
		return
	}
	buf := bufPool.Get().(*bytes.Buffer)
	buf.Reset()
	defer bufPool.Put(buf)
	if err := t.Execute(buf, data); err != nil {
		s.error(w, r, fmt.Errorf("render %s: %w", page, err))
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(status)
	_, _ = buf.WriteTo(w)
}

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
