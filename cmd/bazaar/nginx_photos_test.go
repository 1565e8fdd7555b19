package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"image"
	_ "image/jpeg"
	_ "image/png"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bazaarhq/bazaar/internal/nginxtest"
	"github.com/bazaarhq/bazaar/internal/photo/phototest"
)

// photoStack is the app with a photo directory and nginx serving it, as
// in compose.
type photoStack struct {
	app  *app
	base string // nginx
	dir  string
}

func startPhotoStack(t *testing.T) *photoStack {
	t.Helper()
	dir := t.TempDir()
	a := startApp(t, map[string]string{"BAZAAR_PHOTO_DIR": dir})
	n := nginxtest.New(t, a.Addr, nginxtest.Options{PhotoDir: dir})
	return &photoStack{app: a, base: n.URL, dir: dir}
}

// multipartPhoto is a multipart body with data in the field "photo".
func multipartPhoto(t testing.TB, fields map[string]string, name string, data ...[]byte) (*bytes.Buffer, string) {
	t.Helper()
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	for k, v := range fields {
		_ = mw.WriteField(k, v)
	}
	for _, d := range data {
		w, err := mw.CreateFormFile("photo", name)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = w.Write(d)
	}
	if err := mw.Close(); err != nil {
		t.Fatal(err)
	}
	return &b, mw.FormDataContentType()
}

type photoJSON struct {
	ID    int64 `json:"id"`
	Sizes []struct {
		Width  int    `json:"width"`
		Height int    `json:"height"`
		URL    string `json:"url"`
	} `json:"sizes"`
}

// upload posts data to the API's photo route through nginx.
func (s *photoStack) upload(t *testing.T, listing int, name string, data []byte) (*http.Response, string) {
	t.Helper()
	body, ct := multipartPhoto(t, nil, name, data)
	req, _ := http.NewRequest(http.MethodPost, fmt.Sprintf("%s/api/v1/listings/%d/photos", s.base, listing), body)
	req.Header.Set("Content-Type", ct)
	req.Header.Set("Authorization", "Bearer "+s.app.Creds(t).Token)
	resp, err := noRedirect.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp, readBody(t, resp)
}

// TestNginxPhotoUploads: uploads over real HTTP through the production
// nginx template, and the photos served by nginx from the directory.
func TestNginxPhotoUploads(t *testing.T) {
	s := startPhotoStack(t)
	createListingAPI(t, s.app, "Blue jug")

	var served []string
	for _, tt := range []struct {
		name string
		data []byte
	}{
		{"camera.jpg", phototest.JPEGWithExif(1800, 1200, 6)},
		{"cutout.png", phototest.PNG(phototest.Quadrants(600, 400))},
		{"phone.webp", phototest.WebP},
	} {
		t.Run("accepts "+tt.name, func(t *testing.T) {
			resp, body := s.upload(t, 1, tt.name, tt.data)
			if resp.StatusCode != http.StatusCreated {
				t.Fatalf("%s: %s", resp.Status, body)
			}
			var p photoJSON
			if err := json.Unmarshal([]byte(body), &p); err != nil || len(p.Sizes) == 0 {
				t.Fatalf("%v: %s", err, body)
			}
			for _, size := range p.Sizes {
				served = append(served, size.URL)
				resp, err := http.Get(s.base + size.URL)
				if err != nil {
					t.Fatal(err)
				}
				img := readBody(t, resp)
				if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "image/jpeg" ||
					resp.Header.Get("Cache-Control") != "public, max-age=31536000, immutable" {
					t.Fatalf("GET %s: %s, Content-Type %q, Cache-Control %q", size.URL, resp.Status,
						resp.Header.Get("Content-Type"), resp.Header.Get("Cache-Control"))
				}
				// Served by nginx from the directory: the app never saw it.
				if id := resp.Header.Get("X-Request-ID"); findLogLine(s.app.Logs(), id) != nil {
					t.Errorf("GET %s went through the app", size.URL)
				}
				if strings.Contains(img, phototest.GPSSecret) || strings.Contains(img, "Exif") {
					t.Errorf("%s carries the upload's EXIF/GPS", size.URL)
				}
				m, _, err := image.Decode(strings.NewReader(img))
				if err != nil || m.Bounds().Dx() != size.Width || m.Bounds().Dy() != size.Height {
					t.Fatalf("%s: %v, %v, want %dx%d", size.URL, m.Bounds(), err, size.Width, size.Height)
				}
				if tt.name == "camera.jpg" {
					// Orientation 6: turned 90° clockwise, portrait, red top right.
					b := m.Bounds()
					if b.Dy() <= b.Dx() || phototest.ColourAt(m, b.Dx()*3/4, b.Dy()/4) != phototest.Red {
						t.Errorf("%s is not upright: %v", size.URL, b)
					}
				}
			}
		})
	}

	t.Run("refusals", func(t *testing.T) {
		for _, tt := range []struct {
			name   string
			data   []byte
			status int
			says   string
		}{
			{"pixel bomb", phototest.PNGBomb(60_000, 60_000), 422, "megapixels"},
			{"svg with script", phototest.SVGScript, 422, "markup"},
			{"png with a php tail", phototest.PHPPolyglot(), 422, "extra data"},
			{"16 MB file", append(phototest.JPEG(phototest.Quadrants(64, 64)), make([]byte, 16_000_000)...), 413, "15 MB"},
			{"17 MiB file", append(phototest.JPEG(phototest.Quadrants(64, 64)), make([]byte, 17<<20)...), 413, "16 MB"},
		} {
			t.Run(tt.name, func(t *testing.T) {
				resp, body := s.upload(t, 1, "photo.jpg", tt.data)
				if resp.StatusCode != tt.status || resp.Header.Get("Content-Type") != "application/problem+json" || !strings.Contains(body, tt.says) {
					t.Fatalf("%s %q: %s", resp.Status, resp.Header.Get("Content-Type"), body)
				}
				if tt.status == 422 && !strings.Contains(body, `"photo"`) {
					t.Errorf("no message beside the photo field: %s", body)
				}
			})
		}
	})

	t.Run("only photo names are served", func(t *testing.T) {
		if len(served) == 0 {
			t.Skip("no upload succeeded")
		}
		shard := strings.Split(served[0], "/")[2]
		if err := os.WriteFile(filepath.Join(s.dir, shard, ".tmp-0123456789abcdef"), []byte("half"), 0o644); err != nil {
			t.Fatal(err)
		}
		for _, path := range []string{"/media/", "/media/" + shard + "/", "/media/" + shard + "/.tmp-0123456789abcdef",
			"/media/../../etc/passwd", "/media/" + shard + "/nope.jpg", strings.TrimSuffix(served[0], ".jpg") + ".png"} {
			resp, err := http.Get(s.base + path)
			if err != nil {
				t.Fatal(err)
			}
			body := readBody(t, resp)
			if resp.StatusCode != http.StatusNotFound && resp.StatusCode != http.StatusBadRequest {
				t.Errorf("GET %s: %s\n%.200s", path, resp.Status, body)
			}
		}
	})
}
