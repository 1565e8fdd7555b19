package web

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/bazaarhq/bazaar/internal/market"
)

// Fuzz targets for the request parsers: JSON bodies, form bodies, the {id}
// path segment and the pagination cursors. They need no database (the
// parsers answer before any query), so TestMain starts none for fuzz
// workers. `make fuzz` runs each for a bounded time; `go test` runs their
// corpus (the f.Add seeds and testdata/fuzz/<name>/, where every input
// that once broke the code stays as a regression test).

// fuzzServer is a server with no database: enough for everything that
// happens before the first query.
func fuzzServer(f *testing.F) *Server {
	f.Helper()
	s, err := NewServer(Config{})
	if err != nil {
		f.Fatal(err)
	}
	return s
}

// apiInputFields are apiListingInput's JSON names, exactly as spelled.
var apiInputFields = map[string]bool{"name": true, "description": true, "price_cents": true, "currency": true, "quantity": true}

// topLevelKeys returns the keys of the JSON object in body in order,
// duplicates included, or ok=false if body is not one.
func topLevelKeys(body []byte) (keys []string, ok bool) {
	dec := json.NewDecoder(bytes.NewReader(body))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, false
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, false
		}
		keys = append(keys, tok.(string))
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return nil, false
		}
	}
	return keys, true
}

// FuzzDecodeJSON: decodeJSON accepts a body only if it is exactly one JSON
// object whose keys are the input's field names, each once and spelled
// exactly (encoding/json alone would take "NAME" for "name" and keep the
// last of two "price_cents"); what it accepts survives a round trip; and
// every refusal is EINVALID, which the API answers with 422, never 500.
func FuzzDecodeJSON(f *testing.F) {
	for _, seed := range []struct{ ct, body string }{
		{"application/json", `{"name":"Brass lamp","price_cents":1250,"quantity":2}`},
		{"", `{"name":"x","description":"y","price_cents":1,"currency":"EUR","quantity":0}`},
		{"application/json; charset=utf-8", `{}`},
		{"text/plain", `{"name":"x"}`},
		{"application/json", ``},
		{"application/json", `{"name":"x"} {"name":"y"}`},
		{"application/json", `{"name":"x"}garbage`},
		{"application/json", `[1,2]`},
		{"application/json", `{"name":5}`},
		{"application/json", `{"price_cents":1.5}`},
		{"application/json", `{"price_cents":99999999999999999999}`},
		{"application/json", `{"nmae":"x"}`},
		{"application/json", `{"NAME":"x"}`},
		{"application/json", `{"price_cents":1,"price_cents":100000000000}`},
		{"application/json", `{"name":null}`},
		{"application/json", `{"name":"\ud800"}`},
		{"application/json", `{"name":"x"`},
	} {
		f.Add(seed.ct, []byte(seed.body))
	}
	s := fuzzServer(f)
	decode := func(ct string, body []byte) (apiListingInput, *httptest.ResponseRecorder, error) {
		r := httptest.NewRequest(http.MethodPost, "/api/v1/listings", bytes.NewReader(body))
		if ct != "" {
			r.Header.Set("Content-Type", ct)
		}
		w := httptest.NewRecorder()
		var in apiListingInput
		err := decodeJSON(w, r, &in)
		if err != nil {
			s.error(w, r, err)
		}
		return in, w, err
	}
	f.Fuzz(func(t *testing.T, ct string, body []byte) {
		in, w, err := decode(ct, body)
		if err != nil {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				if w.Code != http.StatusRequestEntityTooLarge {
					t.Fatalf("oversized body answered %d, want 413", w.Code)
				}
				return
			}
			if market.ErrorCode(err) != market.EINVALID || market.ErrorMessage(err) == "" {
				t.Fatalf("decodeJSON(%q, %q) = %v, want EINVALID with a message", ct, body, err)
			}
			if w.Code != http.StatusUnprocessableEntity || w.Header().Get("Content-Type") != "application/problem+json" {
				t.Fatalf("decodeJSON(%q, %q) refused with %v, answered %d %s; want 422 problem+json", ct, body, err, w.Code, w.Header().Get("Content-Type"))
			}
			return
		}
		keys, ok := topLevelKeys(body)
		if !ok || !json.Valid(body) {
			t.Fatalf("decodeJSON accepted %q, which is not one JSON object", body)
		}
		seen := map[string]bool{}
		for _, k := range keys {
			if !apiInputFields[k] || seen[k] {
				t.Fatalf("decodeJSON accepted %q: key %q is unknown or repeated", body, k)
			}
			seen[k] = true
		}
		again, err := json.Marshal(in)
		if err != nil {
			t.Fatal(err)
		}
		back, _, err := decode("application/json", again)
		if err != nil || !reflect.DeepEqual(back, in) {
			t.Fatalf("round trip of %q through %s: %+v, %v; want %+v", body, again, back, err, in)
		}
	})
}

// FuzzListingForm: whatever a browser posts to the sell form, the form
// keeps the user's values, and the answer is the listing (left to the
// store) or the form again with 422 and every message beside a field the
// form has, or a 4xx for a body that cannot be read; never a 500.
func FuzzListingForm(f *testing.F) {
	for _, body := range []string{
		"name=Brass+lamp&description=Works.&price=12.50&quantity=2",
		"name=&price=&quantity=",
		"name=Lamp&price=12%2C50&quantity=1",
		"name=Lamp&price=1e3&quantity=-1",
		"name=%00&price=0.001&quantity=100001",
		"price_cents=1250&currency=EUR&name=Lamp&quantity=1",
		"name=%ZZ",
		"name=a;b&price=1",
		"name=Lamp&price=1&quantity=1&category=&condition=",
		"name=Lamp&price=1&quantity=1&category=kitchen&condition=mint",
		"",
	} {
		f.Add("application/x-www-form-urlencoded", body)
	}
	f.Add("multipart/form-data; boundary=x", "--x\r\nContent-Disposition: form-data; name=\"name\"\r\n\r\nLamp\r\n--x--\r\n")
	f.Add("text/plain", "name=Lamp")
	s := fuzzServer(f)
	formFields := map[string]bool{"name": true, "description": true, "price": true, "quantity": true, "category": true, "condition": true}
	f.Fuzz(func(t *testing.T, ct, body string) {
		r := httptest.NewRequest(http.MethodPost, "/listings", strings.NewReader(body))
		r.Header.Set("Content-Type", ct)
		w := httptest.NewRecorder()
		form := newListingForm(nil)
		in, _, ok := s.readListingForm(w, r, &form)
		if !ok {
			if w.Code < 400 || w.Code >= 500 {
				t.Fatalf("unreadable form %q (%s) answered %d, want a 4xx", body, ct, w.Code)
			}
			return
		}
		if form.Name != r.PostForm.Get("name") || form.Description != r.PostForm.Get("description") {
			t.Fatalf("form lost the user's values: %+v from %q", form, body)
		}
		l, err := in.NewListing()
		if err == nil {
			if verr := l.Validate(); verr != nil {
				t.Fatalf("form %q made a listing the store refuses: %v", body, verr)
			}
			return
		}
		for k := range market.ErrorFields(err) {
			if !formFields[k] {
				t.Fatalf("form %q: a problem under %q, which the form has no field to show beside: %v", body, k, err)
			}
		}
		s.formError(w, r, form, err)
		if w.Code != http.StatusUnprocessableEntity {
			t.Fatalf("invalid form %q answered %d, want 422 (%v)", body, w.Code, err)
		}
		for _, msg := range market.ErrorFields(err) {
			if !strings.Contains(w.Body.String(), htmlEscape(msg)) {
				t.Fatalf("invalid form %q: the page does not show %q", body, msg)
			}
		}
	})
}

// htmlEscape escapes msg as html/template does in element content.
func htmlEscape(msg string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&#34;", "'", "&#39;").Replace(msg)
}

// FuzzListingID: a listing's {id} path segment names a listing only if it
// is a positive decimal number, which then round-trips; anything else is
// a 404 problem from the API, never a 500 or a query for a listing.
func FuzzListingID(f *testing.F) {
	for _, seg := range []string{"1", "42", "9223372036854775807", "9223372036854775808", "0", "-1", "+5", "007", "1e3", "0x10", " 1", "1/edit", "%31", "", "١٢"} {
		f.Add(seg)
	}
	s := fuzzServer(f)
	f.Fuzz(func(t *testing.T, seg string) {
		var (
			matched bool
			id      int64
			ok      bool
		)
		mux := http.NewServeMux()
		mux.HandleFunc("GET /api/v1/listings/{id}", func(w http.ResponseWriter, r *http.Request) {
			matched = true
			id, ok = s.apiListingID(w, r)
		})
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.URL = &url.URL{Path: "/api/v1/listings/" + seg, RawPath: "/api/v1/listings/" + url.PathEscape(seg)}
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, r)
		if !matched {
			return
		}
		if !ok {
			if w.Code != http.StatusNotFound || w.Header().Get("Content-Type") != "application/problem+json" {
				t.Fatalf("id %q refused with %d %s, want a 404 problem", seg, w.Code, w.Header().Get("Content-Type"))
			}
			return
		}
		if id <= 0 || w.Code != http.StatusOK || w.Body.Len() != 0 {
			t.Fatalf("id %q accepted as %d, with an answer %d %q already written", seg, id, w.Code, w.Body)
		}
		if canon := strings.TrimLeft(strings.TrimPrefix(seg, "+"), "0"); canon != strconv.FormatInt(id, 10) {
			t.Fatalf("id %q accepted as %d: not the number it spells", seg, id)
		}
	})
}

// FuzzCursor: the pagination cursors (?before=, ?after=) in any query
// string are either absent (0), a positive listing id that round-trips, or
// refused; a cursor the server printed itself always parses back.
func FuzzCursor(f *testing.F) {
	for _, q := range []string{"before=24", "after=1", "before=", "before=0", "before=-3", "before=abc", "before=1&before=2",
		"after=9223372036854775808", "before=%32%34", "before=24;after=3", "before=%zz", "limit=5&after=+7", ""} {
		f.Add(q)
	}
	f.Fuzz(func(t *testing.T, rawQuery string) {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.URL.RawQuery = rawQuery
		for _, name := range []string{"before", "after"} {
			v := r.URL.Query().Get(name)
			n, ok := cursor(r, name)
			switch {
			case v == "":
				if n != 0 || !ok {
					t.Fatalf("absent %s in %q = %d, %v; want 0, true", name, rawQuery, n, ok)
				}
			case ok:
				if n <= 0 || strings.TrimLeft(strings.TrimPrefix(v, "+"), "0") != strconv.FormatInt(n, 10) {
					t.Fatalf("%s=%q in %q accepted as %d: not the positive number it spells", name, v, rawQuery, n)
				}
				back := httptest.NewRequest(http.MethodGet, "/?"+name+"="+strconv.FormatInt(n, 10), nil)
				if m, ok := cursor(back, name); !ok || m != n {
					t.Fatalf("cursor %d does not parse back: %d, %v", n, m, ok)
				}
			}
		}
	})
}
