package web_test

import (
	"context"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// wantPage checks status and that r is an HTML page.
func wantPage(t *testing.T, r *response, code int) {
	t.Helper()
	if r.StatusCode != code {
		t.Errorf("%s %s: status = %d, want %d", r.Request.Method, r.Request.URL, r.StatusCode, code)
	}
	if ct := r.Header.Get("Content-Type"); ct != "text/html; charset=utf-8" {
		t.Errorf("%s %s: Content-Type = %q, want HTML", r.Request.Method, r.Request.URL, ct)
	}
}

const flashLive = "Your listing is live."

func TestHomeEmpty(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	r := ts.get(t, "/")
	wantPage(t, r, http.StatusOK)
	for _, s := range []string{"Nothing is for sale yet.", `href="/listings/new"`} {
		if !strings.Contains(r.body, s) {
			t.Errorf("home page lacks %q", s)
		}
	}
	if strings.Contains(r.body, `rel="next"`) || strings.Contains(r.body, `rel="prev"`) {
		t.Error("empty home page has a pager link")
	}
}

func TestNewListingForm(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	r := ts.get(t, "/listings/new")
	wantPage(t, r, http.StatusOK)
	if !strings.Contains(r.body, `action="/listings"`) || !strings.Contains(r.body, `name="quantity" value="1"`) {
		t.Errorf("new form lacks its action or default quantity:\n%s", r.body)
	}
}

func TestCreateListingShowsFlashOnce(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	id := ts.createForm(t, validForm())
	path := "/listings/" + strconv.FormatInt(id, 10)

	r := ts.get(t, path)
	wantPage(t, r, http.StatusOK)
	if n := strings.Count(r.body, flashLive); n != 1 {
		t.Errorf("first view shows the flash %d times, want once", n)
	}
	for _, s := range []string{"Brass lamp", "12.50 USD", "2 in stock", "Works."} {
		if !strings.Contains(r.body, s) {
			t.Errorf("listing page lacks %q", s)
		}
	}
	r = ts.get(t, path)
	wantPage(t, r, http.StatusOK)
	if strings.Contains(r.body, flashLive) {
		t.Error("the flash is shown again on the second view")
	}
	if n := ts.count(t); n != 1 {
		t.Errorf("count = %d, want 1", n)
	}
}

func TestCreateListingInvalid(t *testing.T) {
	t.Parallel()
	long := func(s string, n int) string { return strings.Repeat(s, n) }
	tests := []struct {
		name  string
		field string // the form field to change
		value string
		msg   string // the message shown beside the field
	}{
		{"name empty", "name", "", "Name is required"},
		{"name blank", "name", "   ", "Name is required"},
		{"name too long", "name", long("n", 201), "Name must be at most 200 characters"},
		{"description too long", "description", long("d", 5001), "Description must be at most 5,000 characters"},
		{"price empty", "price", "", "Price is required"},
		{"price not a number", "price", "abc", "Price must be an amount such as 12.50"},
		{"price zero", "price", "0", "Price must be between 0.01 and 1,000,000.00"},
		{"price too high", "price", "1000000.01", "Price must be between 0.01 and 1,000,000.00"},
		{"price three decimals", "price", "1.234", "Price can have at most two decimal places"},
		{"price negative", "price", "-5", "Price must be between 0.01 and 1,000,000.00"},
		{"quantity negative", "quantity", "-1", "Quantity must be between 0 and 100,000"},
		{"quantity too high", "quantity", "100001", "Quantity must be between 0 and 100,000"},
		{"quantity not a number", "quantity", "x", "Quantity must be a whole number between 0 and 100,000"},
		{"quantity decimal", "quantity", "1.5", "Quantity must be a whole number between 0 and 100,000"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ts := newTestServer(t)
			form := validForm()
			form.Set(tt.field, tt.value)
			r := ts.postForm(t, "/listings", form)
			wantPage(t, r, http.StatusUnprocessableEntity)
			wantFieldError(t, r.body, tt.field, tt.msg)
			for _, f := range []string{"name", "description", "price", "quantity"} {
				if f != tt.field && strings.Contains(r.body, `id="`+f+`-error"`) {
					t.Errorf("unexpected message beside %s", f)
				}
			}
			wantKept(t, r.body, form)
			if !strings.Contains(r.body, `action="/listings"`) {
				t.Error("re-shown form does not post to /listings")
			}
			if n := ts.count(t); n != 0 {
				t.Errorf("count = %d after an invalid form, want 0", n)
			}
		})
	}
}

func TestCreateListingInvalidEverywhere(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	form := url.Values{"name": {""}, "description": {strings.Repeat("é", 5001)}, "price": {"abc"}, "quantity": {"x"}}
	r := ts.postForm(t, "/listings", form)
	wantPage(t, r, http.StatusUnprocessableEntity)
	wantFieldError(t, r.body, "name", "Name is required")
	wantFieldError(t, r.body, "description", "Description must be at most 5,000 characters")
	wantFieldError(t, r.body, "price", "Price must be an amount such as 12.50")
	wantFieldError(t, r.body, "quantity", "Quantity must be a whole number between 0 and 100,000")
	if !strings.Contains(r.body, "Please correct the highlighted fields.") {
		t.Error("no error summary")
	}
	wantKept(t, r.body, form)
	if n := ts.count(t); n != 0 {
		t.Errorf("count = %d, want 0", n)
	}
}

// wantFieldError checks the message beside field and that the input points to it.
func wantFieldError(t *testing.T, body, field, msg string) {
	t.Helper()
	m := regexp.MustCompile(`<p class="error" id="` + field + `-error">([^<]*)</p>`).FindStringSubmatch(body)
	if m == nil || html.UnescapeString(m[1]) != msg { // the page escapes &, <, >, quotes
		t.Errorf("no message %q beside %s (found %v)", msg, field, m)
	}
	if !strings.Contains(body, `aria-describedby="`+field+`-error"`) {
		t.Errorf("%s is not described by its message", field)
	}
}

// wantKept checks that the re-shown form holds what the user typed.
// Prices and quantities are shown trimmed.
func wantKept(t *testing.T, body string, form url.Values) {
	t.Helper()
	for _, f := range []string{"name", "price", "quantity"} {
		v := form.Get(f)
		if f != "name" {
			v = strings.TrimSpace(v)
		}
		if !strings.Contains(body, `name="`+f+`" value="`+html.EscapeString(v)+`"`) {
			t.Errorf("%s %q was not kept", f, abbrev(v))
		}
	}
	if d := form.Get("description"); !strings.Contains(body, ">"+html.EscapeString(d)+"</textarea>") {
		t.Errorf("description %q was not kept", abbrev(d))
	}
}

func abbrev(s string) string {
	if r := []rune(s); len(r) > 20 {
		return string(r[:20]) + "…"
	}
	return s
}

func TestEditListing(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	id := ts.createForm(t, validForm())
	path := "/listings/" + strconv.FormatInt(id, 10)
	ts.get(t, path) // take the creation flash

	r := ts.get(t, path+"/edit")
	wantPage(t, r, http.StatusOK)
	wantKept(t, r.body, validForm())
	if !strings.Contains(r.body, `action="`+path+`"`) {
		t.Errorf("edit form does not post to %s", path)
	}

	t.Run("invalid", func(t *testing.T) {
		form := validForm()
		form.Set("price", "0")
		form.Set("name", "Changed")
		r := ts.postForm(t, path, form)
		wantPage(t, r, http.StatusUnprocessableEntity)
		wantFieldError(t, r.body, "price", "Price must be between 0.01 and 1,000,000.00")
		wantKept(t, r.body, form)
		if !strings.Contains(r.body, `action="`+path+`"`) {
			t.Errorf("re-shown edit form does not post to %s", path)
		}
		l, err := ts.DB.Listing(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if l.Name != "Brass lamp" || l.Price.Cents != 1250 {
			t.Errorf("invalid edit changed the listing: %+v", l)
		}
	})

	t.Run("valid", func(t *testing.T) {
		form := url.Values{"name": {"Copper lamp"}, "description": {""}, "price": {"1,000.5"}, "quantity": {"0"}}
		r := ts.postForm(t, path, form)
		if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != path {
			t.Fatalf("status = %d, Location = %q; want 303 to %s", r.StatusCode, r.Header.Get("Location"), path)
		}
		r = ts.get(t, path)
		for _, s := range []string{"Your changes are saved.", "Copper lamp", "1000.50 USD", "Sold out"} {
			if !strings.Contains(r.body, s) {
				t.Errorf("updated page lacks %q", s)
			}
		}
		l, err := ts.DB.Listing(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if l.Name != "Copper lamp" || l.Description != "" || l.Price.Cents != 100050 || l.Quantity != 0 {
			t.Errorf("stored %+v", l)
		}
	})
}

func TestDeleteListing(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	id := ts.createForm(t, validForm())
	path := "/listings/" + strconv.FormatInt(id, 10)

	r := ts.postForm(t, path+"/delete", nil)
	if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/" {
		t.Fatalf("status = %d, Location = %q; want 303 to /", r.StatusCode, r.Header.Get("Location"))
	}
	if r := ts.get(t, "/"); !strings.Contains(r.body, "The listing was deleted.") {
		t.Error("no flash after delete")
	}
	wantPage(t, ts.get(t, path), http.StatusNotFound)
	wantPage(t, ts.postForm(t, path+"/delete", nil), http.StatusNotFound)
	if n := ts.count(t); n != 0 {
		t.Errorf("count = %d, want 0", n)
	}
}

func TestListingNotFound(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	// Listing 1 exists, so its non-canonical URLs are 404 for their form alone.
	if id := ts.createForm(t, validForm()); id != 1 {
		t.Fatalf("first listing has id %d, want 1", id)
	}
	for _, tt := range []struct{ method, path string }{
		{"GET", "/listings/abc"},
		{"GET", "/listings/0"},
		{"GET", "/listings/-1"},
		{"GET", "/listings/999999"},
		{"GET", "/listings/99999999999999999999"},
		{"GET", "/listings/+1"},
		{"GET", "/listings/001"},
		{"GET", "/listings/1%20"},
		{"GET", "/listings/+1/edit"},
		{"POST", "/listings/01"},
		{"POST", "/listings/+1/delete"},
		{"GET", "/?before=+1"},
		{"GET", "/?after=01"},
		{"GET", "/listings/999999/edit"},
		{"GET", "/listings/abc/edit"},
		{"POST", "/listings/999999"},
		{"POST", "/listings/999999?invalid"},
		{"POST", "/listings/abc"},
		{"POST", "/listings/999999/delete"},
		{"POST", "/listings/abc/delete"},
		{"GET", "/no/such/page"},
		{"GET", "/?before=abc"},
		{"GET", "/?before=0"},
		{"GET", "/?after=-3"},
		{"GET", "/?after=x"},
	} {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			var r *response
			if path, invalid := strings.CutSuffix(tt.path, "?invalid"); invalid {
				// An unknown listing is a 404 before its form is judged.
				r = ts.postForm(t, path, url.Values{"name": {""}, "price": {"x"}})
			} else if tt.method == "POST" {
				r = ts.postForm(t, tt.path, validForm())
			} else {
				r = ts.get(t, tt.path)
			}
			wantPage(t, r, http.StatusNotFound)
			if !strings.Contains(r.body, "Back to the home page") {
				t.Error("not the error page")
			}
		})
	}
	if n := ts.count(t); n != 1 {
		t.Errorf("count = %d, want 1", n)
	}
}

var cardName = regexp.MustCompile(`<h2><a href="/listings/(\d+)">([^<]*)</a></h2>`)

// cards returns the listing names on a page, in order.
func cards(body string) []string {
	var names []string
	for _, m := range cardName.FindAllStringSubmatch(body, -1) {
		names = append(names, m[2])
	}
	return names
}

var pagerLink = regexp.MustCompile(`<a rel="(next|prev)" href="([^"]+)"`)

// pager returns the page's pager links by rel.
func pager(body string) map[string]string {
	links := map[string]string{}
	for _, m := range pagerLink.FindAllStringSubmatch(body, -1) {
		links[m[1]] = html.UnescapeString(m[2])
	}
	return links
}

func TestHomePagination(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	ts.createListings(t, 30)

	r := ts.get(t, "/")
	wantPage(t, r, http.StatusOK)
	names := cards(r.body)
	if len(names) != 24 || names[0] != "Item 30" || names[23] != "Item 7" {
		t.Fatalf("first page = %d listings %v, want Item 30..Item 7", len(names), names)
	}
	links := pager(r.body)
	if _, ok := links["prev"]; ok {
		t.Error("first page has a Previous link")
	}
	next := links["next"]
	if !strings.HasPrefix(next, "/?before=") {
		t.Fatalf("Next link = %q, want /?before=…", next)
	}

	r = ts.get(t, next)
	wantPage(t, r, http.StatusOK)
	names = cards(r.body)
	if len(names) != 6 || names[0] != "Item 6" || names[5] != "Item 1" {
		t.Fatalf("second page = %v, want Item 6..Item 1", names)
	}
	links = pager(r.body)
	if _, ok := links["next"]; ok {
		t.Error("last page has a Next link")
	}
	prev := links["prev"]
	if !strings.HasPrefix(prev, "/?after=") {
		t.Fatalf("Previous link = %q, want /?after=…", prev)
	}

	r = ts.get(t, prev)
	names = cards(r.body)
	if len(names) != 24 || names[0] != "Item 30" {
		t.Errorf("back to the first page = %d listings starting %v", len(names), names)
	}
	if links := pager(r.body); links["next"] != next || links["prev"] != "" {
		t.Errorf("back on the first page, links = %v", links)
	}

	// A cursor past the newest listing shows the first page, which has no
	// "Previous" (it used to link to itself).
	for _, q := range []string{"/?before=999999999", "/?before=9223372036854775807"} {
		r = ts.get(t, q)
		wantPage(t, r, http.StatusOK)
		if names := cards(r.body); len(names) != 24 || names[0] != "Item 30" {
			t.Errorf("%s = %v, want the first page", q, names)
		}
		if links := pager(r.body); links["prev"] != "" || links["next"] != next {
			t.Errorf("%s: links = %v, want only Next %s", q, links, next)
		}
	}
}

var (
	controlTag = regexp.MustCompile(`<(input|textarea|select)\b[^>]*>`)
	idAttr     = regexp.MustCompile(`\bid="([^"]+)"`)
	typeAttr   = regexp.MustCompile(`\btype="([^"]+)"`)
)

// TestFormsHaveLabels checks that every form control has a label pointing
// to it. golang.org/x/net/html is not in go.sum, so this reads the markup
// with patterns; the templates are ours and regular enough for that.
func TestFormsHaveLabels(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	id := ts.createForm(t, validForm())
	path := "/listings/" + strconv.FormatInt(id, 10)
	bad := validForm()
	bad.Set("name", "")
	pages := map[string]*response{
		"new":     ts.get(t, "/listings/new"),
		"edit":    ts.get(t, path+"/edit"),
		"invalid": ts.postForm(t, "/listings", bad),
		"show":    ts.get(t, path),
	}
	for name, r := range pages {
		t.Run(name, func(t *testing.T) {
			if !strings.HasPrefix(r.body, "<!doctype html>") || !strings.Contains(r.body, `<html lang="en">`) ||
				!strings.HasSuffix(strings.TrimSpace(r.body), "</html>") {
				t.Error("page is not a complete HTML document")
			}
			for _, tag := range []string{"form", "main", "p", "div", "label"} {
				if o, c := len(regexp.MustCompile(`<`+tag+`\b`).FindAllString(r.body, -1)), strings.Count(r.body, "</"+tag+">"); o != c {
					t.Errorf("%d <%s> but %d </%s>", o, tag, c, tag)
				}
			}
			for _, ctl := range controlTag.FindAllString(r.body, -1) {
				if m := typeAttr.FindStringSubmatch(ctl); m != nil && (m[1] == "hidden" || m[1] == "submit") {
					continue
				}
				m := idAttr.FindStringSubmatch(ctl)
				if m == nil {
					t.Errorf("control without an id, so without a label: %s", ctl)
					continue
				}
				if !strings.Contains(r.body, `<label for="`+m[1]+`">`) {
					t.Errorf("no label for %q", m[1])
				}
			}
		})
	}
}

func TestFlashCookie(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	id := ts.createForm(t, validForm())
	path := "/listings/" + strconv.FormatInt(id, 10)

	r := ts.get(t, path)
	if !strings.Contains(r.body, flashLive) {
		t.Fatal("no flash after create")
	}
	if cc := r.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("a page with a flash has Cache-Control %q, want no-store so it is not cached with it", cc)
	}
	cleared := false
	for _, c := range r.Cookies() {
		if c.Name == "bazaar_flash" && c.MaxAge < 0 {
			cleared = true
		}
	}
	if !cleared {
		t.Errorf("showing the flash did not clear its cookie: %v", r.Header.Values("Set-Cookie"))
	}

	// A forged cookie can only pick one of the known messages.
	u, _ := url.Parse(ts.URL)
	ts.Client.Jar.SetCookies(u, []*http.Cookie{{Name: "bazaar_flash", Value: "<script>alert(1)</script>", Path: "/"}})
	r = ts.get(t, path)
	if strings.Contains(r.body, "alert(1)") || strings.Contains(r.body, `class="flash"`) {
		t.Error("a forged flash cookie's text was shown")
	}
}

// TestFormRejectsControlCharacters guards a fixed defect: a NUL in the
// name reached PostgreSQL, which refuses it (SQLSTATE 22021), and the user
// got a 500 instead of a message beside the field.
func TestFormRejectsControlCharacters(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	form := validForm()
	form.Set("name", "a\x00b")
	r := ts.postForm(t, "/listings", form)
	if r.StatusCode != http.StatusUnprocessableEntity {
		t.Errorf("a name holding U+0000 -> %d; want 422 with a message beside the name, "+
			"from the domain's check for control characters", r.StatusCode)
	}
	if n := ts.count(t); n != 0 {
		t.Errorf("count = %d, want 0", n)
	}
}

// TestTooLargeForm: the page says what the API says about a body over the
// limit (both come from one function), and stores nothing.
func TestTooLargeForm(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	form := validForm()
	form.Set("description", strings.Repeat("d", 1<<20))
	r := ts.postForm(t, "/listings", form)
	wantPage(t, r, http.StatusRequestEntityTooLarge)
	if !strings.Contains(r.body, "The request body is larger than 1 MiB.") {
		t.Errorf("413 page does not say why:\n%s", r.body)
	}
	if n := ts.count(t); n != 0 {
		t.Errorf("count = %d, want 0", n)
	}
}

// TestFormAndAPIShareRules: one input breaks the same rule through the form
// and through the API, and both say the same words beside the field.
func TestFormAndAPIShareRules(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	for _, tt := range []struct {
		name             string
		formField, value string
		apiField, json   string
	}{
		{"name empty", "name", " ", "name", `{"name":" ","price_cents":100,"quantity":1}`},
		{"name long", "name", strings.Repeat("n", 201), "name", `{"name":"` + strings.Repeat("n", 201) + `","price_cents":100,"quantity":1}`},
		{"name control", "name", "a\x1bb", "name", `{"name":"a\u001bb","price_cents":100,"quantity":1}`},
		{"name invisible", "name", "\u200b\u3164", "name", `{"name":"\u200b\u3164","price_cents":100,"quantity":1}`},
		{"name reversing", "name", "Lamp \u202eevil", "name", `{"name":"Lamp \u202eevil","price_cents":100,"quantity":1}`},
		{"description override", "description", "\u202dx", "description", `{"name":"x","description":"\u202dx","price_cents":100,"quantity":1}`},
		{"description long", "description", strings.Repeat("d", 5001), "description", `{"name":"x","description":"` + strings.Repeat("d", 5001) + `","price_cents":100,"quantity":1}`},
		{"price zero", "price", "0", "price_cents", `{"name":"x","price_cents":0,"quantity":1}`},
		{"price too high", "price", "1000000.01", "price_cents", `{"name":"x","price_cents":100000001,"quantity":1}`},
		{"quantity negative", "quantity", "-1", "quantity", `{"name":"x","price_cents":100,"quantity":-1}`},
		{"quantity too high", "quantity", "100001", "quantity", `{"name":"x","price_cents":100,"quantity":100001}`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			form := validForm()
			form.Set(tt.formField, tt.value)
			page := ts.postForm(t, "/listings", form)
			wantPage(t, page, http.StatusUnprocessableEntity)
			p := wantProblem(t, ts.api(t, "POST", "/api/v1/listings", tt.json), http.StatusUnprocessableEntity)
			msg := p.Errors[tt.apiField]
			if msg == "" || len(p.Errors) != 1 {
				t.Fatalf("API errors = %v, want one message for %s", p.Errors, tt.apiField)
			}
			wantFieldError(t, page.body, tt.formField, msg)
		})
	}
	if n := ts.count(t); n != 0 {
		t.Errorf("count = %d, want 0", n)
	}
}

// TestEditFormBelongsToItsListing: the edit form names the listing's own
// currency and posts to the listing, also when shown again with errors.
func TestEditFormBelongsToItsListing(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	l := ts.createAPI(t, `{"name":"Teapot","price_cents":1250,"quantity":1,"currency":"EUR"}`)
	path := "/listings/" + strconv.FormatInt(l.ID, 10)
	r := ts.get(t, path+"/edit")
	wantPage(t, r, http.StatusOK)
	bad := validForm()
	bad.Set("quantity", "-1")
	again := ts.postForm(t, path, bad)
	wantPage(t, again, http.StatusUnprocessableEntity)
	for name, body := range map[string]string{"edit form": r.body, "edit form with errors": again.body} {
		if !strings.Contains(body, `<label for="price">Price (EUR)</label>`) || strings.Contains(body, "USD") {
			t.Errorf("%s does not name the listing's currency EUR (or names USD)", name)
		}
		if !strings.Contains(body, `action="`+path+`"`) {
			t.Errorf("%s does not post to %s", name, path)
		}
	}
	if r := ts.get(t, "/listings/new"); !strings.Contains(r.body, `<label for="price">Price (USD)</label>`) {
		t.Error("the sell form does not name the default currency")
	}
}

// TestCurrencyMinorUnits: amounts are shown, typed and sent in their own
// currency's units: the yen has no minor unit, the Bahraini dinar three.
func TestCurrencyMinorUnits(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	yen := ts.createAPI(t, `{"name":"Teapot","price_cents":1250,"quantity":1,"currency":"JPY"}`)
	dinar := ts.createAPI(t, `{"name":"Lamp","price_cents":12500,"quantity":1,"currency":"BHD"}`)
	yenPath, dinarPath := "/listings/"+strconv.FormatInt(yen.ID, 10), "/listings/"+strconv.FormatInt(dinar.ID, 10)
	for path, want := range map[string]string{yenPath: "1250 JPY", dinarPath: "12.500 BHD", "/": "1250 JPY"} {
		if r := ts.get(t, path); !strings.Contains(r.body, want) {
			t.Errorf("%s does not show %q", path, want)
		}
	}
	if r := ts.get(t, yenPath); strings.Contains(r.body, "12.50") {
		t.Error("the yen price is shown with decimals")
	}
	r := ts.get(t, yenPath+"/edit")
	if !strings.Contains(r.body, `name="price" value="1250"`) || !strings.Contains(r.body, "Price (JPY)") {
		t.Errorf("yen edit form does not hold 1250 in JPY")
	}

	form := validForm()
	form.Set("price", "12.50")
	r = ts.postForm(t, yenPath, form)
	wantPage(t, r, http.StatusUnprocessableEntity)
	wantFieldError(t, r.body, "price", "Prices in JPY are whole numbers, without decimals")
	form.Set("price", "1,980")
	if r := ts.postForm(t, yenPath, form); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("yen price 1,980: status %d", r.StatusCode)
	}
	if got := decode[apiListing](t, ts.get(t, "/api/v1/listings/"+strconv.FormatInt(yen.ID, 10))); got.PriceCents != 1980 || got.Currency != "JPY" {
		t.Errorf("after the form: %d %s, want 1980 JPY (price_cents is in the currency's minor unit)", got.PriceCents, got.Currency)
	}
	form.Set("price", "1.2345")
	r = ts.postForm(t, dinarPath, form)
	wantFieldError(t, r.body, "price", "Price can have at most three decimal places")

	for _, body := range []string{
		`{"name":"x","price_cents":1,"quantity":1,"currency":"ZZZ"}`,
		`{"name":"x","price_cents":1,"quantity":1,"currency":"XTS"}`,
		`{"name":"x","price_cents":1,"quantity":1,"currency":"DEM"}`,
	} {
		p := wantProblem(t, ts.api(t, "POST", "/api/v1/listings", body), http.StatusUnprocessableEntity)
		if p.Errors["currency"] == "" {
			t.Errorf("%s: errors %v, want one for currency", body, p.Errors)
		}
	}
	p := wantProblem(t, ts.api(t, "PATCH", "/api/v1/listings/"+strconv.FormatInt(yen.ID, 10), `{"price_cents":0}`), http.StatusUnprocessableEntity)
	if p.Errors["price_cents"] != "Price must be between 1 and 100,000,000" {
		t.Errorf("yen range message = %q", p.Errors["price_cents"])
	}
}

var versionField = regexp.MustCompile(`<input type="hidden" name="version" value="(\d+)">`)

// TestStaleEditFormOverwritesNothing: open the edit form, change the
// quantity through the API, then submit the form: the form's save is
// refused with 409, the page shows the listing as it is now (with its new
// version), and the API's change stands. Submitting again from that page
// works.
func TestStaleEditFormOverwritesNothing(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	id := ts.createForm(t, validForm())
	path := "/listings/" + strconv.FormatInt(id, 10)
	ts.get(t, path) // take the creation flash

	r := ts.get(t, path+"/edit")
	m := versionField.FindStringSubmatch(r.body)
	if m == nil {
		t.Fatalf("edit form carries no version:\n%s", r.body)
	}
	form := validForm()
	form.Set("version", m[1])
	form.Set("name", "Renamed in the form")

	if r := ts.api(t, "PATCH", "/api/v1"+path, `{"quantity":9}`); r.StatusCode != http.StatusOK {
		t.Fatalf("API change: %d %s", r.StatusCode, r.body)
	}

	r = ts.postForm(t, path, form)
	wantPage(t, r, http.StatusConflict)
	if !strings.Contains(r.body, "Someone changed this after you opened it") {
		t.Error("the 409 page does not say what happened")
	}
	if !strings.Contains(r.body, `name="quantity" value="9"`) || !strings.Contains(r.body, `name="name" value="Brass lamp"`) {
		t.Error("the 409 page does not show the listing's current values")
	}
	again := versionField.FindStringSubmatch(r.body)
	if again == nil || again[1] == m[1] {
		t.Fatalf("the 409 page's version = %v, want the current one (not %s)", again, m[1])
	}
	l, err := ts.DB.Listing(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if l.Quantity != 9 || l.Name != "Brass lamp" {
		t.Errorf("the stale form overwrote the listing: %+v", l)
	}

	form.Set("version", again[1])
	if r := ts.postForm(t, path, form); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("saving from the current version: %d", r.StatusCode)
	}
	if l, _ := ts.DB.Listing(context.Background(), id); l.Name != "Renamed in the form" {
		t.Errorf("after saving from the current version: %+v", l)
	}

	// A version that names nothing is stale too; a form from before versions
	// existed (no field) is saved as before.
	form.Set("version", "abc")
	wantPage(t, ts.postForm(t, path, form), http.StatusConflict)
	form.Del("version")
	if r := ts.postForm(t, path, form); r.StatusCode != http.StatusSeeOther {
		t.Errorf("a form without a version: %d, want 303", r.StatusCode)
	}
}

// TestPagesEscapeUserText: a listing's name and description are shown as
// text on every page that shows them, never as markup, in element text
// and in attribute values alike.
func TestPagesEscapeUserText(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	const name = `<script>alert("x")</script> & 'q'`
	form := url.Values{"name": {name}, "description": {`<img src=x onerror="alert(1)">`}, "price": {"12.50"}, "quantity": {"2"}}
	path := "/listings/" + strconv.FormatInt(ts.createForm(t, form), 10)
	for _, p := range []string{"/", path, path + "/edit"} {
		r := ts.get(t, p)
		wantPage(t, r, http.StatusOK)
		if strings.Contains(r.body, "<script>") || strings.Contains(r.body, "<img") || strings.Contains(r.body, `"x")`) {
			t.Errorf("GET %s shows user text as markup:\n%s", p, r.body)
		}
		if !strings.Contains(r.body, "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; &#39;q&#39;") {
			t.Errorf("GET %s lacks the escaped name:\n%s", p, r.body)
		}
	}
	if r := ts.get(t, path+"/edit"); !strings.Contains(r.body, `value="&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; &#39;q&#39;"`) {
		t.Errorf("the edit form's name field does not hold the escaped name:\n%s", r.body)
	}
}
