package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"mime/multipart"
	"net/http"
	"strings"
	"testing"
	"time"
)

// photos: the replicas share one photo volume. Photos uploaded through
// nginx land on whichever replica nginx picks, every replica lists them,
// nginx serves them from the volume (never through an app), and a delete
// on any replica removes the files.
func (e *suite) photos(t *testing.T) {
	s := e.s
	apps := s.ensureReplicas(t, replicas)
	resp, l, err := s.createListing("Photographed jug " + e.run)
	if err != nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("create listing: %v %v", err, resp)
	}
	base := fmt.Sprintf("/api/v1/listings/%d/photos", l.ID)

	type photo struct {
		ID    int64 `json:"id"`
		Sizes []struct {
			URL string `json:"url"`
		} `json:"sizes"`
	}
	var (
		photos     []photo
		uploadIDs  []string
		urls       []string
		uploadedBy = map[string]bool{}
	)
	for i := range 6 {
		resp, err := s.upload(base, testJPEG(t, 900+i*10, 600))
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("upload %d: %s\n%s", i, resp.Status, resp.body)
		}
		var p photo
		if err := json.Unmarshal([]byte(resp.body), &p); err != nil {
			t.Fatal(err)
		}
		photos = append(photos, p)
		uploadIDs = append(uploadIDs, resp.Header.Get("X-Request-ID"))
		for _, sz := range p.Sizes {
			urls = append(urls, sz.URL)
		}
	}
	// The replicas batch their log lines: wait until each upload's is out.
	var by map[string]string
	poll(10*time.Second, 100*time.Millisecond, func() bool {
		by = servedBy(t, apps)
		for _, id := range uploadIDs {
			if by[id] == "" {
				return false
			}
		}
		return true
	})
	for _, id := range uploadIDs {
		uploadedBy[by[id]] = true
	}
	t.Logf("6 uploads handled by %d replicas: %v", len(uploadedBy), uploadedBy)
	if len(uploadedBy) < 2 {
		t.Errorf("all uploads went to one replica (%v); the test shows nothing about sharing", uploadedBy)
	}

	// Every replica lists them all (nginx spreads these GETs).
	for range 2 * replicas {
		r, err := s.get(base)
		if err != nil {
			t.Fatal(err)
		}
		if r.StatusCode != http.StatusOK || strings.Count(r.body, `"cover"`) != len(photos) {
			t.Fatalf("GET %s: %s\n%s", base, r.Status, r.body)
		}
	}
	var servedIDs []string
	for _, u := range urls {
		r, err := s.get(u)
		if err != nil {
			t.Fatal(err)
		}
		if r.StatusCode != http.StatusOK || r.Header.Get("Content-Type") != "image/jpeg" ||
			r.Header.Get("Cache-Control") != "public, max-age=31536000, immutable" {
			t.Fatalf("GET %s: %s %q %q", u, r.Status, r.Header.Get("Content-Type"), r.Header.Get("Cache-Control"))
		}
		if _, _, err := image.DecodeConfig(strings.NewReader(r.body)); err != nil {
			t.Fatalf("GET %s: not an image: %v", u, err)
		}
		servedIDs = append(servedIDs, r.Header.Get("X-Request-ID"))
	}
	// Deleting the listing removes every file, whichever replica deletes.
	u, _ := s.url(fmt.Sprintf("/api/v1/listings/%d", l.ID))
	req, _ := http.NewRequest(http.MethodDelete, u, nil)
	token, _, err := s.signIn()
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	if r, err := s.do(req); err != nil || r.StatusCode != http.StatusNoContent {
		t.Fatalf("delete listing: %v %v", err, r)
	}
	gone := poll(30*time.Second, 200*time.Millisecond, func() bool {
		for _, u := range urls {
			if r, err := s.get(u); err != nil || r.StatusCode != http.StatusNotFound {
				return false
			}
		}
		return true
	})
	if !gone {
		t.Fatalf("photo files still served 30s after their listing was deleted")
	}
	// Seconds later, any log line of the photo GETs would be out.
	by = servedBy(t, apps)
	for i, id := range servedIDs {
		if by[id] != "" {
			t.Errorf("%s was served by %s, not by nginx from the volume", urls[i], by[id])
		}
	}
}

// upload posts one JPEG as the multipart field "photo".
func (s *stack) upload(path string, data []byte) (*response, error) {
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	w, err := mw.CreateFormFile("photo", "photo.jpg")
	if err != nil {
		return nil, err
	}
	_, _ = w.Write(data)
	if err := mw.Close(); err != nil {
		return nil, err
	}
	u, err := s.url(path)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequest(http.MethodPost, u, &b)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", mw.FormDataContentType())
	token, _, err := s.signIn()
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	return s.do(req)
}

// testJPEG is a w×h gradient.
func testJPEG(t *testing.T, w, h int) []byte {
	t.Helper()
	m := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			m.SetRGBA(x, y, color.RGBA{uint8(x), uint8(y), 128, 255})
		}
	}
	var b bytes.Buffer
	if err := jpeg.Encode(&b, m, nil); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}
