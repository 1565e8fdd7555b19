package web_test

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/bazaarhq/bazaar/internal/photo/phototest"
	"github.com/bazaarhq/bazaar/internal/web"
)

// postMultipart submits a multipart form as a same-origin browser would.
func (ts *testServer) postMultipart(t *testing.T, path string, fields map[string]string, files ...multipartFile) *response {
	t.Helper()
	body, ct := multipartBody(t, fields, files...)
	return ts.do(t, http.MethodPost, path, body, []string{"Content-Type", ct, "Sec-Fetch-Site", "same-origin", "Origin", ts.URL})
}

var sellFields = map[string]string{"name": "Stoneware bowl", "description": "Glazed.", "price": "18.00",
	"quantity": "2", "category": "tableware", "condition": "handmade"}

var imgTag = regexp.MustCompile(`<img [^>]*>`)

func TestSellFormWithPhotos(t *testing.T) {
	ts := newTestServer(t)
	jpg := phototest.JPEG(phototest.Quadrants(1200, 900))
	png := phototest.PNG(phototest.Quadrants(900, 1200))
	r := ts.postMultipart(t, "/listings", sellFields, multipartFile{"photo", "a.jpg", jpg}, multipartFile{"photo", "b.png", png})
	if r.StatusCode != http.StatusSeeOther {
		t.Fatalf("sell with photos: %d\n%s", r.StatusCode, r.body)
	}
	loc := r.Header.Get("Location")
	page := ts.get(t, loc)
	imgs := imgTag.FindAllString(page.body, -1)
	if len(imgs) != 2 {
		t.Fatalf("listing page has %d images, want 2:\n%s", len(imgs), page.body)
	}
	for i, img := range imgs {
		for _, attr := range []string{`srcset="/media/`, ` 320w`, `sizes="`, `width="`, `height="`, `alt="Stoneware bowl, photo`} {
			if !strings.Contains(img, attr) {
				t.Errorf("image %d lacks %s: %s", i+1, attr, img)
			}
		}
		if lazy := strings.Contains(img, `loading="lazy"`); lazy != (i > 0) {
			t.Errorf("image %d lazy=%v: %s", i+1, lazy, img)
		}
	}
	if !strings.Contains(imgs[0], `width="1200" height="900"`) || !strings.Contains(imgs[1], `width="900" height="1200"`) {
		t.Errorf("sizes or order wrong: %v", imgs)
	}
	home := ts.get(t, "/")
	if c := imgTag.FindAllString(home.body, -1); len(c) != 1 || !strings.Contains(c[0], `sizes="(min-width: 40rem) 16rem, 100vw"`) {
		t.Errorf("home page cards: %v, want the cover", c)
	}
	for _, path := range []string{"/c/tableware", "/search?q=stonewear+bowl"} {
		if c := imgTag.FindAllString(ts.get(t, path).body, -1); len(c) != 1 {
			t.Errorf("%s shows %d covers, want 1", path, len(c))
		}
	}

	t.Run("refusals leave nothing behind", func(t *testing.T) {
		before := ts.count(t)
		for name, tt := range map[string]struct {
			data   []byte
			status int
			says   string
		}{
			"svg":     {phototest.SVGScript, 422, "markup"},
			"php":     {phototest.PHPPolyglot(), 422, "extra data"},
			"bomb":    {phototest.PNGBomb(20_000, 20_000), 422, "megapixels"},
			"16 MB":   {append(phototest.JPEG(phototest.Quadrants(64, 64)), make([]byte, 16_000_000)...), 413, "15 MB"},
			"no data": {[]byte("not an image"), 422, "not a JPEG"},
		} {
			r := ts.postMultipart(t, "/listings", sellFields, multipartFile{"photo", "x.jpg", jpg}, multipartFile{"photo", "y.jpg", tt.data})
			if r.StatusCode != tt.status {
				t.Errorf("%s: %d, want %d", name, r.StatusCode, tt.status)
				continue
			}
			if !strings.Contains(r.body, `id="photo-error"`) || !strings.Contains(r.body, tt.says) {
				t.Errorf("%s: no message beside the photo field saying %q:\n%s", name, tt.says, r.body)
			}
			if tt.status == 422 && !strings.Contains(r.body, `value="Stoneware bowl"`) {
				t.Errorf("%s: the form lost the seller's values", name)
			}
		}
		if n := ts.count(t); n != before {
			t.Errorf("%d listings after refused photos, want %d", n, before)
		}
	})
}

func TestEditPagePhotos(t *testing.T) {
	ts := newTestServer(t)
	r := ts.postMultipart(t, "/listings", sellFields)
	if r.StatusCode != http.StatusSeeOther {
		t.Fatalf("sell: %d", r.StatusCode)
	}
	base := r.Header.Get("Location")
	id, _ := strconv.ParseInt(strings.TrimPrefix(base, "/listings/"), 10, 64)
	for i := range 3 {
		r := ts.postMultipart(t, base+"/photos", nil, multipartFile{"photo", "p.jpg", phototest.JPEG(phototest.Quadrants(400+i*100, 300))})
		if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != base+"/edit" {
			t.Fatalf("add photo %d: %d %s", i+1, r.StatusCode, r.Header.Get("Location"))
		}
	}
	ids := func() []int64 {
		ps, err := ts.DB.ListingPhotos(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		var out []int64
		for _, p := range ps {
			out = append(out, p.ID)
		}
		return out
	}
	got := ids()
	edit := ts.get(t, base+"/edit")
	for _, want := range []string{`enctype="multipart/form-data"`, `name="photo" type="file"`, "multiple",
		`action="` + base + `/photos/` + strconv.FormatInt(got[1], 10) + `/cover"`, ">Make cover<", ">Delete<", `name="position"`} {
		if !strings.Contains(edit.body, want) {
			t.Errorf("edit page lacks %s", want)
		}
	}
	post := func(path string, form url.Values) {
		t.Helper()
		if r := ts.postForm(t, path, form); r.StatusCode != http.StatusSeeOther {
			t.Fatalf("POST %s: %d\n%s", path, r.StatusCode, r.body)
		}
	}
	post(base+"/photos/"+strconv.FormatInt(got[2], 10)+"/cover", nil)
	if now := ids(); now[0] != got[2] || now[1] != got[0] || now[2] != got[1] {
		t.Fatalf("after make cover: %v (was %v)", now, got)
	}
	post(base+"/photos/"+strconv.FormatInt(got[2], 10)+"/move", url.Values{"position": {"1"}})
	if now := ids(); now[0] != got[0] || now[1] != got[2] {
		t.Fatalf("after move: %v", now)
	}
	post(base+"/photos/"+strconv.FormatInt(got[0], 10)+"/delete", nil)
	if now := ids(); len(now) != 2 || now[0] != got[2] {
		t.Fatalf("after delete: %v", now)
	}
	if r := ts.postForm(t, base+"/photos/"+strconv.FormatInt(got[2], 10)+"/move", url.Values{"position": {"7"}}); r.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(r.body, `id="photo-error"`) {
		t.Errorf("move out of range: %d", r.StatusCode)
	}
	if r := ts.postForm(t, "/listings/999999/photos/"+strconv.FormatInt(got[2], 10)+"/delete", nil); r.StatusCode != http.StatusNotFound {
		t.Errorf("another listing's photo: %d", r.StatusCode)
	}

	// The edit form's own multipart save adds photos, up to 10.
	fields := map[string]string{"name": "Stoneware bowl", "price": "18.00", "quantity": "2", "category": "tableware", "condition": "handmade"}
	var files []multipartFile
	for range 9 {
		files = append(files, multipartFile{"photo", "s.jpg", phototest.JPEG(phototest.Quadrants(40, 30))})
	}
	r = ts.postMultipart(t, base, fields, files...)
	if r.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(r.body, "room for 8 more photos") {
		t.Fatalf("edit with 9 more photos (2 + 9 > 10): %d\n%s", r.StatusCode, r.body)
	}
	r = ts.postMultipart(t, base, fields, files[:8]...)
	if r.StatusCode != http.StatusSeeOther || len(ids()) != 10 {
		t.Fatalf("edit with 8 more photos: %d, %d photos", r.StatusCode, len(ids()))
	}
	r = ts.postMultipart(t, base+"/photos", nil, files[0])
	if r.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(r.body, "at most 10 photos") {
		t.Fatalf("11th photo: %d", r.StatusCode)
	}
}

// TestPhotoChangesReachPageCache: an anonymous visitor's cached listing
// page and home page show a photo change at once.
func TestPhotoChangesReachPageCache(t *testing.T) {
	rep := newCachedReplica(t, nil)
	id := rep.newListing(t)
	path := "/listings/" + strconv.FormatInt(id, 10)
	for range 2 { // fill the cache
		if code, body := rep.visit(t, path); code != 200 || strings.Contains(body, "<img") {
			t.Fatalf("before: %d", code)
		}
		rep.visit(t, "/")
	}
	if r := rep.uploadAPI(t, id, "p.jpg", phototest.JPEG(phototest.Quadrants(300, 200))); r.StatusCode != http.StatusCreated {
		t.Fatalf("upload: %d", r.StatusCode)
	}
	rep.waitMetric(t, "bazaar_page_cache_pages", 0)
	for _, p := range []string{path, "/"} {
		if _, body := rep.visit(t, p); !strings.Contains(body, "<img") {
			t.Errorf("%s still shows no photo after the upload", p)
		}
	}
}

// TestPhotoOriginInCSP: photos on another origin (a bucket, a CDN) are
// allowed as images, and nothing else is loosened.
func TestPhotoOriginInCSP(t *testing.T) {
	ts := newTestServer(t, func(c *web.Config) { c.PhotoOrigin = "https://cdn.example.com" })
	csp := ts.get(t, "/").Header.Get("Content-Security-Policy")
	if !strings.Contains(csp, "img-src 'self' data: https://cdn.example.com;") || !strings.Contains(csp, "script-src 'self';") {
		t.Fatalf("CSP %q", csp)
	}
	if csp := newTestServer(t).get(t, "/").Header.Get("Content-Security-Policy"); strings.Contains(csp, "cdn") {
		t.Fatalf("CSP without a photo origin: %q", csp)
	}
}
