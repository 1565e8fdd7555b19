package web_test

import (
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

const lampJSON = `{"name":"  Brass lamp ","description":"Works.","price_cents":1250,"quantity":2}`

func TestAPICreateAndGet(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	before := time.Now().Add(-time.Minute)
	r := ts.api(t, "POST", "/api/v1/listings", lampJSON)
	if r.StatusCode != http.StatusCreated {
		t.Fatalf("status = %d, body: %s", r.StatusCode, r.body)
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q", ct)
	}
	l := decode[apiListing](t, r)
	if loc := r.Header.Get("Location"); loc != "/api/v1/listings/"+strconv.FormatInt(l.ID, 10) {
		t.Errorf("Location = %q for id %d", loc, l.ID)
	}
	want := apiListing{ID: l.ID, Name: "Brass lamp", Description: "Works.", PriceCents: 1250, Currency: "USD", Quantity: 2,
		CreatedAt: l.CreatedAt, UpdatedAt: l.UpdatedAt, SellerID: ts.User.ID}
	if l.ID < 1 || l != want {
		t.Errorf("created %+v, want %+v", l, want)
	}
	for _, ts := range []string{l.CreatedAt, l.UpdatedAt} {
		tm, err := time.Parse(time.RFC3339Nano, ts)
		if err != nil || tm.Before(before) || !strings.HasSuffix(ts, "Z") {
			t.Errorf("timestamp %q: want a recent RFC 3339 UTC time (err %v)", ts, err)
		}
	}

	r = ts.get(t, r.Header.Get("Location"))
	if r.StatusCode != http.StatusOK {
		t.Fatalf("GET: status = %d", r.StatusCode)
	}
	if got := decode[apiListing](t, r); got != l {
		t.Errorf("GET = %+v, want %+v", got, l)
	}

	r = ts.api(t, "POST", "/api/v1/listings", `{"name":"Mug","price_cents":100,"quantity":0,"currency":"EUR"}`)
	if got := decode[apiListing](t, r); r.StatusCode != http.StatusCreated || got.Currency != "EUR" || got.Description != "" {
		t.Errorf("with currency: status %d, %+v", r.StatusCode, got)
	}
}

func TestAPIList(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)

	r := ts.get(t, "/api/v1/listings")
	if r.StatusCode != http.StatusOK || strings.TrimSpace(r.body) != `{"listings":[]}` {
		t.Errorf("empty list: status %d, body %s; want an empty array and no cursors", r.StatusCode, r.body)
	}

	ids := ts.createListings(t, 5) // ids[4] is the newest
	page := func(query string) apiPage {
		t.Helper()
		r := ts.get(t, "/api/v1/listings"+query)
		if r.StatusCode != http.StatusOK {
			t.Fatalf("%s: status = %d, body %s", query, r.StatusCode, r.body)
		}
		return decode[apiPage](t, r)
	}
	gotIDs := func(p apiPage) []int64 {
		var out []int64
		for _, l := range p.Listings {
			out = append(out, l.ID)
		}
		return out
	}
	eq := slices.Equal[[]int64]

	all := page("")
	if !eq(gotIDs(all), []int64{ids[4], ids[3], ids[2], ids[1], ids[0]}) || all.NextBefore != nil || all.PrevAfter != nil {
		t.Errorf("default page: ids %v next %v prev %v", gotIDs(all), all.NextBefore, all.PrevAfter)
	}

	p1 := page("?limit=2")
	if !eq(gotIDs(p1), []int64{ids[4], ids[3]}) || p1.NextBefore == nil || *p1.NextBefore != ids[3] || p1.PrevAfter != nil {
		t.Fatalf("page 1: ids %v next %v prev %v", gotIDs(p1), p1.NextBefore, p1.PrevAfter)
	}
	p2 := page("?limit=2&before=" + strconv.FormatInt(*p1.NextBefore, 10))
	if !eq(gotIDs(p2), []int64{ids[2], ids[1]}) || p2.NextBefore == nil || p2.PrevAfter == nil || *p2.PrevAfter != ids[2] {
		t.Fatalf("page 2: ids %v next %v prev %v", gotIDs(p2), p2.NextBefore, p2.PrevAfter)
	}
	p3 := page("?limit=2&before=" + strconv.FormatInt(*p2.NextBefore, 10))
	if !eq(gotIDs(p3), []int64{ids[0]}) || p3.NextBefore != nil || p3.PrevAfter == nil {
		t.Errorf("page 3: ids %v next %v prev %v", gotIDs(p3), p3.NextBefore, p3.PrevAfter)
	}
	back := page("?limit=2&after=" + strconv.FormatInt(*p3.PrevAfter, 10))
	if !eq(gotIDs(back), gotIDs(p2)) {
		t.Errorf("back from page 3 = %v, want page 2 %v", gotIDs(back), gotIDs(p2))
	}
	first := page("?limit=2&after=" + strconv.FormatInt(*p2.PrevAfter, 10))
	if !eq(gotIDs(first), gotIDs(p1)) || first.PrevAfter != nil {
		t.Errorf("back from page 2 = %v prev %v, want page 1 %v without prev", gotIDs(first), first.PrevAfter, gotIDs(p1))
	}
	if p := page("?limit=100"); len(p.Listings) != 5 {
		t.Errorf("limit=100: %d listings", len(p.Listings))
	}
	if p := page("?limit=2&before=999999999"); !eq(gotIDs(p), gotIDs(p1)) || p.PrevAfter != nil {
		t.Errorf("before beyond the newest = %v prev %v, want page 1 without prev_after", gotIDs(p), p.PrevAfter)
	}
}

func TestAPIPatch(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	orig := ts.createAPI(t, lampJSON)
	path := "/api/v1/listings/" + strconv.FormatInt(orig.ID, 10)

	t.Run("only quantity", func(t *testing.T) {
		r := ts.api(t, "PATCH", path, `{"quantity":0}`)
		if r.StatusCode != http.StatusOK {
			t.Fatalf("status = %d, body %s", r.StatusCode, r.body)
		}
		got := decode[apiListing](t, r)
		want := orig
		want.Quantity, want.UpdatedAt = 0, got.UpdatedAt
		if got != want {
			t.Errorf("after PATCH = %+v, want %+v", got, want)
		}
		if again := decode[apiListing](t, ts.get(t, path)); again != got {
			t.Errorf("GET after PATCH = %+v, want %+v", again, got)
		}
	})

	t.Run("null leaves a field alone", func(t *testing.T) {
		r := ts.api(t, "PATCH", path, `{"name":null,"price_cents":999}`)
		got := decode[apiListing](t, r)
		if r.StatusCode != http.StatusOK || got.Name != "Brass lamp" || got.PriceCents != 999 {
			t.Errorf("status %d, %+v", r.StatusCode, got)
		}
	})

	t.Run("invalid", func(t *testing.T) {
		before := decode[apiListing](t, ts.get(t, path))
		r := ts.api(t, "PATCH", path, `{"name":" ","price_cents":0,"quantity":-1,"currency":"usd","description":"`+strings.Repeat("x", 5001)+`"}`)
		p := wantProblem(t, r, http.StatusUnprocessableEntity)
		for _, f := range []string{"name", "price_cents", "quantity", "currency", "description"} {
			if p.Errors[f] == "" {
				t.Errorf("no message for %s in %v", f, p.Errors)
			}
		}
		if _, ok := p.Errors["price"]; ok {
			t.Errorf("errors use the domain name price: %v", p.Errors)
		}
		if after := decode[apiListing](t, ts.get(t, path)); after != before {
			t.Errorf("invalid PATCH changed the listing: %+v, was %+v", after, before)
		}
	})

	t.Run("unknown id", func(t *testing.T) {
		wantProblem(t, ts.api(t, "PATCH", "/api/v1/listings/999999", `{"quantity":1}`), http.StatusNotFound)
	})
}

func TestAPIDelete(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	l := ts.createAPI(t, lampJSON)
	path := "/api/v1/listings/" + strconv.FormatInt(l.ID, 10)
	r := ts.api(t, "DELETE", path, "")
	if r.StatusCode != http.StatusNoContent || r.body != "" {
		t.Fatalf("DELETE: status = %d, body %q; want 204 and no body", r.StatusCode, r.body)
	}
	wantProblem(t, ts.get(t, path), http.StatusNotFound)
	wantProblem(t, ts.api(t, "DELETE", path, ""), http.StatusNotFound)
	if n := ts.count(t); n != 0 {
		t.Errorf("count = %d, want 0", n)
	}
}

func TestAPIErrors(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	l := ts.createAPI(t, lampJSON)
	path := "/api/v1/listings/" + strconv.FormatInt(l.ID, 10)
	const valid = `{"name":"x","price_cents":100,"quantity":1}`
	big := `{"name":"` + strings.Repeat("a", 1<<20) + `","price_cents":100,"quantity":1}`
	tests := []struct {
		name        string
		method      string
		path        string
		contentType string // "-" sends none
		body        string
		status      int
		fields      []string // keys that must be in errors
		detail      string   // substring of detail
	}{
		{"unknown field", "POST", "/api/v1/listings", "", `{"name":"x","price_cents":100,"quantity":1,"colour":"red"}`, 422, []string{"colour"}, `"colour"`},
		{"unknown field in patch", "PATCH", path, "", `{"colour":"red"}`, 422, []string{"colour"}, `"colour"`},
		{"second object", "POST", "/api/v1/listings", "", valid + ` {"name":"y"}`, 422, nil, "nothing after it"},
		{"trailing garbage", "POST", "/api/v1/listings", "", valid + `x`, 422, nil, ""},
		{"trailing garbage in patch", "PATCH", path, "", `{"quantity":5}x`, 422, nil, ""},
		{"empty body", "POST", "/api/v1/listings", "", "", 422, nil, "must not be empty"},
		{"empty patch body", "PATCH", path, "", "", 422, nil, "must not be empty"},
		{"not JSON", "POST", "/api/v1/listings", "", `name=x`, 422, nil, "not valid JSON"},
		{"truncated JSON", "POST", "/api/v1/listings", "", `{"name":"x",`, 422, nil, ""},
		{"name a number", "POST", "/api/v1/listings", "", `{"name":5,"price_cents":100,"quantity":1}`, 422, []string{"name"}, ""},
		{"price a string", "POST", "/api/v1/listings", "", `{"name":"x","price_cents":"100","quantity":1}`, 422, []string{"price_cents"}, ""},
		{"price a float", "POST", "/api/v1/listings", "", `{"name":"x","price_cents":12.5,"quantity":1}`, 422, []string{"price_cents"}, ""},
		{"quantity a bool", "PATCH", path, "", `{"quantity":true}`, 422, []string{"quantity"}, ""},
		{"quantity overflows", "POST", "/api/v1/listings", "", `{"name":"x","price_cents":100,"quantity":1e30}`, 422, []string{"quantity"}, ""},
		{"missing required", "POST", "/api/v1/listings", "", `{"description":"only"}`, 422, []string{"name", "price_cents", "quantity"}, ""},
		{"null body", "POST", "/api/v1/listings", "", `null`, 422, nil, "JSON object"},
		{"null patch body", "PATCH", path, "", `null`, 422, nil, "JSON object"},
		{"array patch body", "PATCH", path, "", `[{"quantity":1}]`, 422, nil, "JSON object"},
		{"string body", "POST", "/api/v1/listings", "", `"name"`, 422, nil, "JSON object"},
		{"duplicate key", "POST", "/api/v1/listings", "", `{"name":"A","name":"B","price_cents":100,"quantity":1}`, 422, []string{"name"}, "more than once"},
		{"duplicate key in patch", "PATCH", path, "", `{"quantity":1,"quantity":2}`, 422, []string{"quantity"}, "more than once"},
		{"key in other case", "POST", "/api/v1/listings", "", `{"name":"A","NAME":"B","price_cents":100,"quantity":1}`, 422, []string{"NAME"}, `"NAME"`},
		{"key in other case alone", "PATCH", path, "", `{"Quantity":0}`, 422, []string{"Quantity"}, `"Quantity"`},
		{"long s for s", "PATCH", path, "", `{"deſcription":"x"}`, 422, []string{"deſcription"}, "Unknown field"},
		{"Kelvin sign for k", "PATCH", path, "", `{"quantity":1,"K":1}`, 422, []string{"K"}, "Unknown field"},
		{"invalid UTF-8", "POST", "/api/v1/listings", "", "{\"name\":\"lamp\xff\",\"price_cents\":100,\"quantity\":1}", 422, []string{"name"}, "UTF-8"},
		{"invalid UTF-8 in patch", "PATCH", path, "", "{\"description\":\"\xc3\"}", 422, []string{"description"}, "UTF-8"},
		{"invisible name", "POST", "/api/v1/listings", "", `{"name":"\u200b\u200b","price_cents":100,"quantity":1}`, 422, []string{"name"}, ""},
		{"name reversing the page", "PATCH", path, "", `{"name":"Lamp \u202eevil"}`, 422, []string{"name"}, ""},
		{"description override", "PATCH", path, "", `{"description":"\u202dx"}`, 422, []string{"description"}, ""},
		{"lone surrogate", "POST", "/api/v1/listings", "", `{"name":"\ud800","price_cents":100,"quantity":1}`, 422, []string{"name"}, "surrogate"},
		{"lone low surrogate", "PATCH", path, "", `{"name":"a\udc00b"}`, 422, []string{"name"}, "surrogate"},
		{"out of range", "POST", "/api/v1/listings", "", `{"name":"x","price_cents":100000001,"quantity":100001}`, 422, []string{"price_cents", "quantity"}, ""},
		{"lower-case currency", "POST", "/api/v1/listings", "", `{"name":"x","price_cents":1,"quantity":0,"currency":"usd"}`, 422, []string{"currency"}, ""},
		{"wrong content type", "POST", "/api/v1/listings", "text/plain", valid, 422, nil, "Content-Type"},
		{"form content type", "PATCH", path, "application/x-www-form-urlencoded", `quantity=1`, 422, nil, "Content-Type"},
		{"too large", "POST", "/api/v1/listings", "", big, 413, nil, "1 MiB"},
		{"too large patch", "PATCH", path, "", big, 413, nil, "1 MiB"},
		{"too large after the object", "POST", "/api/v1/listings", "", valid + strings.Repeat(" ", 1<<20), 413, nil, "1 MiB"},
		{"limit zero", "GET", "/api/v1/listings?limit=0", "-", "", 422, []string{"limit"}, ""},
		{"limit 101", "GET", "/api/v1/listings?limit=101", "-", "", 422, []string{"limit"}, ""},
		{"limit abc", "GET", "/api/v1/listings?limit=abc", "-", "", 422, []string{"limit"}, ""},
		{"before abc", "GET", "/api/v1/listings?before=abc", "-", "", 422, []string{"before"}, ""},
		{"after zero", "GET", "/api/v1/listings?after=0", "-", "", 422, []string{"after"}, ""},
		{"before and after", "GET", "/api/v1/listings?before=5&after=2", "-", "", 422, []string{"after"}, ""},
		{"get malformed id", "GET", "/api/v1/listings/abc", "-", "", 404, nil, ""},
		{"get zero id", "GET", "/api/v1/listings/0", "-", "", 404, nil, ""},
		{"get id with a plus", "GET", "/api/v1/listings/+1", "-", "", 404, nil, ""},
		{"get id with a leading zero", "GET", "/api/v1/listings/01", "-", "", 404, nil, ""},
		{"patch id with a leading zero", "PATCH", "/api/v1/listings/01", "", `{"quantity":1}`, 404, nil, ""},
		{"before with a leading zero", "GET", "/api/v1/listings?before=01", "-", "", 422, []string{"before"}, ""},
		{"get unknown id", "GET", "/api/v1/listings/999999", "-", "", 404, nil, ""},
		{"patch malformed id", "PATCH", "/api/v1/listings/-1", "", `{"quantity":1}`, 404, nil, ""},
		{"delete malformed id", "DELETE", "/api/v1/listings/1.0", "-", "", 404, nil, ""},
		{"unknown route", "GET", "/api/v1/whatever", "-", "", 404, nil, "No such API route"},
		{"unknown version", "GET", "/api/v2/listings", "-", "", 404, nil, ""},
		{"unsupported method", "PUT", "/api/v1/listings", "", valid, 405, nil, "GET, HEAD, POST"},
		{"nested unknown", "GET", "/api/v1/listings/1/reviews", "-", "", 404, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var hdr []string
			switch tt.contentType {
			case "":
				hdr = []string{"Content-Type", "application/json"}
			case "-":
			default:
				hdr = []string{"Content-Type", tt.contentType}
			}
			r := ts.do(t, tt.method, tt.path, strings.NewReader(tt.body), hdr)
			p := wantProblem(t, r, tt.status)
			for _, f := range tt.fields {
				if p.Errors[f] == "" {
					t.Errorf("errors lack %q: %v", f, p.Errors)
				}
			}
			if !strings.Contains(p.Detail, tt.detail) {
				t.Errorf("detail = %q, want it to mention %q", p.Detail, tt.detail)
			}
			if want, _, _ := strings.Cut(tt.path, "?"); p.Instance != want {
				t.Errorf("instance = %q, want %q", p.Instance, want)
			}
		})
	}
	if n := ts.count(t); n != 1 {
		t.Errorf("count = %d after rejected requests, want 1", n)
	}
	if got := decode[apiListing](t, ts.get(t, path)); got != l {
		t.Errorf("rejected requests changed the listing: %+v, was %+v", got, l)
	}
}

// TestAPIRejectsControlCharactersAndNonObjects guards two fixed defects:
// a NUL in text reached PostgreSQL, which refuses it (SQLSTATE 22021), and
// came back as a 500; and a body that is not an object answered with an
// empty field name and the Go type's name.
func TestAPIRejectsControlCharactersAndNonObjects(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)

	t.Run("NUL in text is a 422, not a 500", func(t *testing.T) {
		for _, body := range []string{
			`{"name":"a\u0000b","price_cents":100,"quantity":1}`,
			`{"name":"ok","description":"x\u0000","price_cents":100,"quantity":1}`,
		} {
			r := ts.api(t, "POST", "/api/v1/listings", body)
			if r.StatusCode != http.StatusUnprocessableEntity {
				t.Errorf("%s -> %d %s; want 422 with errors naming the field: the domain refuses control "+
					"characters before PostgreSQL does (SQLSTATE 22021).",
					body, r.StatusCode, strings.TrimSpace(r.body))
			}
		}
	})

	t.Run("a non-object body does not leak Go type names", func(t *testing.T) {
		r := ts.api(t, "POST", "/api/v1/listings", `[]`)
		p := wantProblem(t, r, http.StatusUnprocessableEntity)
		if _, ok := p.Errors[""]; ok || strings.Contains(r.body, "apiListingInput") {
			t.Errorf("body [] -> errors %v; want a detail such as \"The body must be a JSON object.\" "+
				"without an empty field name or the Go type's name", p.Errors)
		}
	})
	if n := ts.count(t); n != 0 {
		t.Errorf("count = %d, want 0", n)
	}
}

// TestAPIIfMatch: GET returns the listing's version as its ETag; a PATCH
// with If-Match naming an older version is refused with 412 and changes
// nothing; the current version, "*" or no If-Match go through.
func TestAPIIfMatch(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	created := ts.api(t, "POST", "/api/v1/listings", lampJSON)
	if created.Header.Get("ETag") != `"1"` {
		t.Errorf("POST: ETag = %q, want \"1\"", created.Header.Get("ETag"))
	}
	l := decode[apiListing](t, created)
	path := "/api/v1/listings/" + strconv.FormatInt(l.ID, 10)
	get := ts.get(t, path)
	etag := get.Header.Get("ETag")
	if etag != `"1"` {
		t.Fatalf("GET: ETag = %q, want \"1\"", etag)
	}
	patch := func(ifMatch, body string) *response {
		t.Helper()
		hdr := []string{"Content-Type", "application/json"}
		if ifMatch != "" {
			hdr = append(hdr, "If-Match", ifMatch)
		}
		return ts.do(t, "PATCH", path, strings.NewReader(body), hdr)
	}
	r := patch(etag, `{"quantity":5}`)
	if r.StatusCode != http.StatusOK || r.Header.Get("ETag") != `"2"` {
		t.Fatalf("PATCH with the current ETag: %d, ETag %q; want 200 and \"2\"", r.StatusCode, r.Header.Get("ETag"))
	}
	current := decode[apiListing](t, r)
	for _, ifMatch := range []string{etag, `W/"2"`, `"02"`, `nonsense`, `"1", "3"`} {
		p := wantProblem(t, patch(ifMatch, `{"quantity":1,"name":"Stale"}`), http.StatusPreconditionFailed)
		if !strings.Contains(p.Detail, "Someone changed this") {
			t.Errorf("If-Match %s: detail %q", ifMatch, p.Detail)
		}
		if got := decode[apiListing](t, ts.get(t, path)); got != current {
			t.Errorf("If-Match %s: a refused PATCH changed the listing: %+v", ifMatch, got)
		}
	}
	for i, ifMatch := range []string{`"2"`, `"1", "3"`, `*`, ``} {
		r := patch(ifMatch, `{"quantity":`+strconv.Itoa(10+i)+`}`)
		if r.StatusCode != http.StatusOK {
			t.Errorf("If-Match %q: %d %s, want 200", ifMatch, r.StatusCode, r.body)
		}
	}
	wantProblem(t, ts.do(t, "PATCH", "/api/v1/listings/999999", strings.NewReader(`{"quantity":1}`),
		[]string{"Content-Type", "application/json", "If-Match", `"1"`}), http.StatusNotFound)
}
