package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"image"
	_ "image/jpeg"
	_ "image/png"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bazaarhq/bazaar/internal/market"
	"github.com/bazaarhq/bazaar/internal/photo/phototest"
)

// multipartBody encodes files (field name, file name, bytes) and fields
// as multipart/form-data.
func multipartBody(t *testing.T, fields map[string]string, files ...multipartFile) (*bytes.Buffer, string) {
	t.Helper()
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	for k, v := range fields {
		if err := mw.WriteField(k, v); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range files {
		w, err := mw.CreateFormFile(f.field, f.name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(f.data); err != nil {
			t.Fatal(err)
		}
	}
	if err := mw.Close(); err != nil {
		t.Fatal(err)
	}
	return &b, mw.FormDataContentType()
}

type multipartFile struct {
	field, name string
	data        []byte
}

// uploadAPI posts data as the API's "photo" field.
func (ts *testServer) uploadAPI(t *testing.T, listingID int64, name string, data []byte) *response {
	t.Helper()
	body, ct := multipartBody(t, nil, multipartFile{"photo", name, data})
	return ts.do(t, http.MethodPost, "/api/v1/listings/"+strconv.FormatInt(listingID, 10)+"/photos", body, []string{"Content-Type", ct})
}

type apiPhotoJSON struct {
	ID       int64 `json:"id"`
	Position int   `json:"position"`
	Cover    bool  `json:"cover"`
	Width    int   `json:"width"`
	Height   int   `json:"height"`
	Sizes    []struct {
		Width       int    `json:"width"`
		Height      int    `json:"height"`
		URL         string `json:"url"`
		ContentType string `json:"content_type"`
	} `json:"sizes"`
}

func decodeInto(t *testing.T, r *response, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(r.body), v); err != nil {
		t.Fatalf("decode %q: %v", r.body, err)
	}
}

func (ts *testServer) newListing(t *testing.T) int64 {
	t.Helper()
	l := &market.Listing{Name: "Stoneware jug", Price: market.Money{Cents: 2500, Currency: "USD"}, Quantity: 1}
	if ts.User != nil {
		l.SellerID = ts.User.ID
	}
	if err := ts.DB.CreateListing(context.Background(), l); err != nil {
		t.Fatal(err)
	}
	return l.ID
}

func TestAPIPhotos(t *testing.T) {
	ts := newTestServer(t)
	id := ts.newListing(t)
	base := "/api/v1/listings/" + strconv.FormatInt(id, 10)

	var photos []apiPhotoJSON
	for _, tt := range []struct {
		name string
		data []byte
		ct   string
	}{
		{"photo.jpg", phototest.JPEG(phototest.Quadrants(1200, 900)), "image/jpeg"},
		{"photo.png", phototest.PNG(phototest.Quadrants(500, 400)), "image/jpeg"}, // opaque: stored as JPEG
		{"photo.webp", phototest.WebP, "image/jpeg"},
		{"no-extension", phototest.JPEG(phototest.Quadrants(300, 200)), "image/jpeg"},
	} {
		t.Run("accepts "+tt.name, func(t *testing.T) {
			r := ts.uploadAPI(t, id, tt.name, tt.data)
			if r.StatusCode != http.StatusCreated {
				t.Fatalf("status %d: %s", r.StatusCode, r.body)
			}
			var p apiPhotoJSON
			decodeInto(t, r, &p)
			if r.Header.Get("Location") != base+"/photos/"+strconv.FormatInt(p.ID, 10) {
				t.Errorf("Location %q", r.Header.Get("Location"))
			}
			if len(p.Sizes) == 0 || p.Sizes[0].ContentType != tt.ct {
				t.Fatalf("sizes %+v", p.Sizes)
			}
			for _, s := range p.Sizes {
				got := ts.get(t, s.URL)
				if got.StatusCode != http.StatusOK || got.Header.Get("Cache-Control") != "public, max-age=31536000, immutable" {
					t.Fatalf("GET %s: %d, Cache-Control %q", s.URL, got.StatusCode, got.Header.Get("Cache-Control"))
				}
				cfg, _, err := image.DecodeConfig(strings.NewReader(got.body))
				if err != nil || cfg.Width != s.Width || cfg.Height != s.Height {
					t.Fatalf("%s: %dx%d (%v), JSON says %dx%d", s.URL, cfg.Width, cfg.Height, err, s.Width, s.Height)
				}
			}
			photos = append(photos, p)
		})
	}
	if len(photos) != 4 || !photos[0].Cover || photos[1].Cover {
		t.Fatalf("photos %+v: want 4, the first the cover", photos)
	}

	t.Run("refusals", func(t *testing.T) {
		for _, tt := range []struct {
			name   string
			data   []byte
			status int
		}{
			{"pixel bomb", phototest.PNGBomb(100_000, 100_000), http.StatusUnprocessableEntity},
			{"svg with script", phototest.SVGScript, http.StatusUnprocessableEntity},
			{"png with a php tail", phototest.PHPPolyglot(), http.StatusUnprocessableEntity},
			{"gif", []byte("GIF89a\x01\x00\x01\x00\x00\x00\x00;"), http.StatusUnprocessableEntity},
			{"truncated", phototest.JPEG(phototest.Quadrants(64, 64))[:300], http.StatusUnprocessableEntity},
			{"empty", nil, http.StatusUnprocessableEntity},
			{"16 MB", append(phototest.JPEG(phototest.Quadrants(64, 64)), make([]byte, 16_000_000)...), http.StatusRequestEntityTooLarge},
		} {
			t.Run(tt.name, func(t *testing.T) {
				r := ts.uploadAPI(t, id, "x.jpg", tt.data)
				if r.StatusCode != tt.status || r.Header.Get("Content-Type") != "application/problem+json" {
					t.Fatalf("status %d %q: %s", r.StatusCode, r.Header.Get("Content-Type"), r.body)
				}
				var p struct {
					Errors map[string]string `json:"errors"`
					Detail string            `json:"detail"`
				}
				decodeInto(t, r, &p)
				if tt.status == http.StatusUnprocessableEntity && p.Errors["photo"] == "" {
					t.Fatalf("no message beside photo: %s", r.body)
				}
			})
		}
		if r := ts.get(t, base+"/photos"); !strings.Contains(r.body, `"id"`) || strings.Count(r.body, `"cover"`) != 4 {
			t.Fatalf("a refused upload was added: %s", r.body)
		}
	})

	t.Run("cover, move, delete", func(t *testing.T) {
		second := photos[1].ID
		r := ts.api(t, http.MethodPatch, base+"/photos/"+strconv.FormatInt(second, 10), `{"cover": true}`)
		var p apiPhotoJSON
		decodeInto(t, r, &p)
		if r.StatusCode != http.StatusOK || !p.Cover || p.Position != 0 {
			t.Fatalf("make cover: %d %s", r.StatusCode, r.body)
		}
		var l struct {
			Cover  *apiPhotoJSON  `json:"cover"`
			Photos []apiPhotoJSON `json:"photos"`
		}
		decodeInto(t, ts.get(t, base), &l)
		if l.Cover == nil || l.Cover.ID != second || len(l.Photos) != 4 || l.Photos[1].ID != photos[0].ID {
			t.Fatalf("listing after cover change: %+v", l)
		}
		var list struct {
			Listings []struct {
				ID    int64         `json:"id"`
				Cover *apiPhotoJSON `json:"cover"`
			} `json:"listings"`
		}
		decodeInto(t, ts.get(t, "/api/v1/listings"), &list)
		if len(list.Listings) != 1 || list.Listings[0].Cover == nil || list.Listings[0].Cover.ID != second {
			t.Fatalf("list's cover: %+v", list)
		}
		for body, field := range map[string]string{
			`{"position": 4}`:                   "position",
			`{"position": -1}`:                  "position",
			`{"cover": false}`:                  "cover",
			`{}`:                                "position",
			`{"cover": true, "position": 1}`:    "cover",
			`{"position": 1, "extra": "field"}`: "",
		} {
			r := ts.api(t, http.MethodPatch, base+"/photos/"+strconv.FormatInt(second, 10), body)
			if r.StatusCode != http.StatusUnprocessableEntity || (field != "" && !strings.Contains(r.body, `"`+field+`"`)) {
				t.Errorf("PATCH %s: %d %s", body, r.StatusCode, r.body)
			}
		}
		r = ts.api(t, http.MethodPatch, base+"/photos/"+strconv.FormatInt(second, 10), `{"position": 3}`)
		if decodeInto(t, r, &p); r.StatusCode != http.StatusOK || p.Position != 3 || p.Cover {
			t.Fatalf("move last: %d %s", r.StatusCode, r.body)
		}
		r = ts.api(t, http.MethodDelete, base+"/photos/"+strconv.FormatInt(second, 10), "")
		if r.StatusCode != http.StatusNoContent {
			t.Fatalf("delete: %d %s", r.StatusCode, r.body)
		}
		for _, path := range []string{base + "/photos/" + strconv.FormatInt(second, 10), base + "/photos/0", base + "/photos/x", "/api/v1/listings/999999/photos"} {
			if r := ts.get(t, path); r.StatusCode != http.StatusNotFound {
				t.Errorf("GET %s: %d", path, r.StatusCode)
			}
		}
	})

	t.Run("an eleventh photo is refused", func(t *testing.T) {
		small := phototest.JPEG(phototest.Quadrants(40, 30))
		for i := 3; i < market.MaxPhotos; i++ {
			if r := ts.uploadAPI(t, id, "p.jpg", small); r.StatusCode != http.StatusCreated {
				t.Fatalf("photo %d: %d %s", i+1, r.StatusCode, r.body)
			}
		}
		r := ts.uploadAPI(t, id, "p.jpg", small)
		if r.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(r.body, "at most 10 photos") {
			t.Fatalf("11th: %d %s", r.StatusCode, r.body)
		}
	})

	t.Run("deleting the listing removes its files", func(t *testing.T) {
		if r := ts.api(t, http.MethodDelete, base, ""); r.StatusCode != http.StatusNoContent {
			t.Fatalf("delete: %d", r.StatusCode)
		}
		for deadline := time.Now().Add(10 * time.Second); len(photoFiles(t, ts.PhotoDir)) > 0; time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("files left 10s after the listing was deleted: %v", photoFiles(t, ts.PhotoDir))
			}
		}
	})
}

// photoFiles lists the files under dir.
func photoFiles(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			out = append(out, p)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestPhotoMetadataStripped: a JPEG with an EXIF orientation (6: rotate
// 90° clockwise) and a GPS position is served upright, in every size,
// without the position.
func TestPhotoMetadataStripped(t *testing.T) {
	ts := newTestServer(t)
	id := ts.newListing(t)
	upload := phototest.JPEGWithExif(800, 400, 6)
	if !bytes.Contains(upload, []byte(phototest.GPSSecret)) {
		t.Fatal("the fixture lacks its GPS block")
	}
	r := ts.uploadAPI(t, id, "gps.jpg", upload)
	if r.StatusCode != http.StatusCreated {
		t.Fatalf("%d %s", r.StatusCode, r.body)
	}
	var p apiPhotoJSON
	decodeInto(t, r, &p)
	if p.Width != 400 || p.Height != 800 {
		t.Fatalf("size %dx%d, want 400x800 (rotated)", p.Width, p.Height)
	}
	for _, s := range p.Sizes {
		got := ts.get(t, s.URL)
		if strings.Contains(got.body, phototest.GPSSecret) || strings.Contains(got.body, "Exif") {
			t.Fatalf("%s still holds the EXIF/GPS block", s.URL)
		}
		m, _, err := image.Decode(strings.NewReader(got.body))
		if err != nil {
			t.Fatal(err)
		}
		b := m.Bounds()
		// Rotated 90° clockwise, the stored top-left (red) is at the top right.
		if c := phototest.ColourAt(m, b.Dx()*3/4, b.Dy()/4); c != phototest.Red {
			t.Errorf("%s: top right is %v, want red", s.URL, c)
		}
		if c := phototest.ColourAt(m, b.Dx()/4, b.Dy()/4); c != phototest.Blue {
			t.Errorf("%s: top left is %v, want blue", s.URL, c)
		}
	}
}
