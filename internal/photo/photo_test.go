package photo

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"runtime"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/bazaarhq/bazaar/internal/market"
)

// testWidths are DefaultWidths scaled down ten times: the same logic on a
// hundredth of the pixels, because the race detector makes every pixel
// loop about 30 times slower (TestDefaultWidths runs the real ones once).
var testWidths = []int{32, 80, 160}

func newTestProcessor(t testing.TB) *Processor {
	t.Helper()
	return NewProcessor(Config{MaxDecodes: 2, Widths: testWidths, Registry: prometheus.NewRegistry()})
}

// decodeVariant decodes an output and checks that it is what its name and
// content type say it is.
func decodeVariant(t *testing.T, v Variant) image.Image {
	t.Helper()
	var (
		m   image.Image
		err error
	)
	switch v.ContentType {
	case "image/jpeg":
		m, err = jpeg.Decode(bytes.NewReader(v.Data))
	case "image/png":
		m, err = png.Decode(bytes.NewReader(v.Data))
	default:
		t.Fatalf("content type %q", v.ContentType)
	}
	if err != nil {
		t.Fatalf("variant %s does not decode: %v", v.Name, err)
	}
	if b := m.Bounds(); b.Dx() != v.Width || b.Dy() != v.Height {
		t.Fatalf("variant %s is %dx%d, says %dx%d", v.Name, b.Dx(), b.Dy(), v.Width, v.Height)
	}
	return m
}

// assertClean fails if an output carries any metadata of the upload.
func assertClean(t *testing.T, res *Result) {
	t.Helper()
	for _, v := range res.Variants {
		for _, leak := range []string{gpsSecret, "Exif", "eXIf", "EXIF", "GPS"} {
			if bytes.Contains(v.Data, []byte(leak)) {
				t.Errorf("variant %dw contains %q", v.Width, leak)
			}
		}
		if v.ContentType == "image/jpeg" && bytes.Contains(v.Data, []byte{0xFF, 0xE1}) && hasAPP1(v.Data) {
			t.Errorf("variant %dw has an APP1 segment", v.Width)
		}
	}
}

// hasAPP1 walks the JPEG header segments (up to SOS) looking for APP1.
func hasAPP1(d []byte) bool {
	for i := 2; i+4 <= len(d) && d[i] == 0xFF; {
		m := d[i+1]
		if m == 0xE1 {
			return true
		}
		if m == 0xDA {
			return false
		}
		i += 2 + int(d[i+2])<<8 | int(d[i+3])
	}
	return false
}

func near(a, b color.Color) bool {
	r1, g1, b1, _ := a.RGBA()
	r2, g2, b2, _ := b.RGBA()
	d := func(x, y uint32) bool { return (x>>8)-(y>>8) < 40 || (y>>8)-(x>>8) < 40 }
	return d(r1, r2) && d(g1, g2) && d(b1, b2)
}

// TestOrientation: every EXIF orientation is applied, checked by the colour
// of each corner of every output, and no GPS survives.
func TestOrientation(t *testing.T) {
	p := newTestProcessor(t)
	src := quadrants(100, 50)
	// Expected corner colours (top-left, top-right, bottom-left,
	// bottom-right) of the upright image, from the EXIF specification's
	// description of where row 0 and column 0 of the stored image go.
	want := map[int][4]color.RGBA{
		1: {red, green, blue, white},
		2: {green, red, white, blue},
		3: {white, blue, green, red},
		4: {blue, white, red, green},
		5: {red, blue, green, white},
		6: {blue, red, white, green},
		7: {white, green, blue, red},
		8: {green, white, red, blue},
	}
	for _, format := range []string{"jpeg", "png"} {
		for o := 1; o <= 8; o++ {
			t.Run(format+"/"+string(rune('0'+o)), func(t *testing.T) {
				var upload []byte
				if format == "jpeg" {
					upload = withJPEGExif(encodeJPEG(t, src), o)
				} else {
					upload = withPNGChunk(encodePNG(t, src), "eXIf", exifBlock(o))
				}
				if !bytes.Contains(upload, []byte(gpsSecret)) {
					t.Fatal("fixture has no GPS block")
				}
				res, err := p.Process(context.Background(), upload)
				if err != nil {
					t.Fatal(err)
				}
				ow, oh := 100, 50
				if o >= 5 {
					ow, oh = 50, 100
				}
				if res.Width != ow || res.Height != oh {
					t.Errorf("result %dx%d, want %dx%d", res.Width, res.Height, ow, oh)
				}
				assertClean(t, res)
				for _, v := range res.Variants {
					m := decodeVariant(t, v)
					b := m.Bounds()
					if (b.Dx() > b.Dy()) != (ow > oh) {
						t.Fatalf("variant %dx%d has the wrong aspect", b.Dx(), b.Dy())
					}
					at := [4]color.Color{
						m.At(b.Dx()/8, b.Dy()/8), m.At(b.Dx()*7/8, b.Dy()/8),
						m.At(b.Dx()/8, b.Dy()*7/8), m.At(b.Dx()*7/8, b.Dy()*7/8),
					}
					for i, c := range at {
						if !near(c, want[o][i]) {
							t.Errorf("orientation %d, %dw: corner %d is %v, want %v", o, v.Width, i, c, want[o][i])
						}
					}
				}
			})
		}
	}
}

// TestVariants: widths below the upload's, never upscaled, content-hashed
// names, and the same upload gives the same names.
func TestVariants(t *testing.T) {
	p := newTestProcessor(t)
	cases := []struct {
		name   string
		w, h   int
		widths []int
	}{
		{"large", 200, 150, []int{32, 80, 160}},
		{"between", 100, 70, []int{32, 80, 100}},
		{"exactly the largest", 160, 90, []int{32, 80, 160}},
		{"small", 20, 10, []int{20}},
		{"tiny", 1, 1, []int{1}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			upload := encodeJPEG(t, quadrants(tc.w, tc.h))
			res, err := p.Process(context.Background(), upload)
			if err != nil {
				t.Fatal(err)
			}
			var got []int
			for _, v := range res.Variants {
				got = append(got, v.Width)
				m := decodeVariant(t, v)
				wantH := max(1, (tc.h*v.Width+tc.w/2)/tc.w)
				if m.Bounds().Dy() != wantH {
					t.Errorf("%dw is %d high, want %d", v.Width, m.Bounds().Dy(), wantH)
				}
				sum := sha256.Sum256(v.Data)
				if want := hex.EncodeToString(sum[:16]) + ".jpg"; v.Name != want {
					t.Errorf("name %q, want %q", v.Name, want)
				}
			}
			if len(got) != len(tc.widths) {
				t.Fatalf("widths %v, want %v", got, tc.widths)
			}
			for i := range got {
				if got[i] != tc.widths[i] {
					t.Fatalf("widths %v, want %v", got, tc.widths)
				}
			}
			again, err := p.Process(context.Background(), upload)
			if err != nil {
				t.Fatal(err)
			}
			for i := range again.Variants {
				if again.Variants[i].Name != res.Variants[i].Name {
					t.Errorf("same upload, different name for %dw", again.Variants[i].Width)
				}
			}
		})
	}
}

// TestDefaultWidths: the real widths are chosen as the scaled-down ones
// are (TestVariants decodes those): 320, 800, 1600, never above the photo.
func TestDefaultWidths(t *testing.T) {
	p := NewProcessor(Config{})
	for ow, want := range map[int][]int{4000: {320, 800, 1600}, 1600: {320, 800, 1600}, 1000: {320, 800, 1000}, 320: {320}, 100: {100}} {
		if got := p.targets(ow); !slices.Equal(got, want) {
			t.Errorf("targets(%d) = %v, want %v", ow, got, want)
		}
	}
}

// TestFormats: each accepted format is recognised by content, and only
// transparency makes a PNG output.
func TestFormats(t *testing.T) {
	p := newTestProcessor(t)
	translucent := image.NewNRGBA(image.Rect(0, 0, 40, 30))
	for i := range translucent.Pix {
		translucent.Pix[i] = 0x80
	}
	lossy := readTestdata(t, "blue-purple-pink.lossy.webp")
	cases := []struct {
		name        string
		upload      []byte
		format      Format
		contentType string
		w, h        int
	}{
		{"jpeg", encodeJPEG(t, quadrants(64, 48)), JPEG, "image/jpeg", 64, 48},
		{"opaque png becomes jpeg", encodePNG(t, quadrants(64, 48)), PNG, "image/jpeg", 64, 48},
		{"png with alpha stays png", encodePNG(t, translucent), PNG, "image/png", 40, 30},
		{"lossy webp", lossy, WebP, "image/jpeg", 150, 100},
		{"lossless webp with alpha", readTestdata(t, "gopher-doc.with-alpha.lossless.webp"), WebP, "image/png", 75, 100},
		{"webp with exif", webpWithExif(t, lossy, 150, 100, 6), WebP, "image/jpeg", 100, 150},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h, err := Sniff(tc.upload)
			if err != nil {
				t.Fatal(err)
			}
			if h.Format != tc.format {
				t.Errorf("format %s, want %s", h.Format, tc.format)
			}
			res, err := p.Process(context.Background(), tc.upload)
			if err != nil {
				t.Fatal(err)
			}
			if res.Width != tc.w || res.Height != tc.h {
				t.Errorf("%dx%d, want %dx%d", res.Width, res.Height, tc.w, tc.h)
			}
			assertClean(t, res)
			for _, v := range res.Variants {
				if v.ContentType != tc.contentType {
					t.Errorf("%dw: %s, want %s", v.Width, v.ContentType, tc.contentType)
				}
				decodeVariant(t, v)
			}
		})
	}
}

// wantRefusal asserts err is EINVALID with msg beside the photo field.
func wantRefusal(t *testing.T, err error, msg string) {
	t.Helper()
	if market.ErrorCode(err) != market.EINVALID {
		t.Fatalf("got %v, want EINVALID", err)
	}
	if got := market.ErrorFields(err)[Field]; got != msg {
		t.Fatalf("field message %q, want %q", got, msg)
	}
}

// TestRefusals: everything that is not a whole, plain JPEG, PNG or WebP is
// refused with a message beside the field, before a decode slot is taken.
func TestRefusals(t *testing.T) {
	jpg := encodeJPEG(t, quadrants(64, 48))
	pngData := encodePNG(t, quadrants(64, 48))
	webpData := readTestdata(t, "blue-purple-pink.lossy.webp")
	apng := withPNGChunk(pngData, "acTL", []byte{0, 0, 0, 2, 0, 0, 0, 0})
	cases := []struct {
		name   string
		upload []byte
		msg    string
	}{
		{"empty", nil, msgEmpty},
		{"svg with script", []byte(`<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><script>alert(document.cookie)</script></svg>`), msgMarkup},
		{"svg after bom and space", []byte("\xEF\xBB\xBF \n<svg><script>alert(1)</script></svg>"), msgMarkup},
		{"html", []byte("<!doctype html><html><body><script>alert(1)</script>"), msgMarkup},
		{"gif", []byte("GIF89a\x01\x00\x01\x00\x80\x00\x00\xff\xff\xff\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"), msgGIF},
		{"text", []byte("hello, I am a photo.jpg"), msgUnknown},
		{"php", []byte("<?php system($_GET['c']); ?>"), msgMarkup},
		{"bmp", []byte("BM\x3a\x00\x00\x00\x00\x00\x00\x00\x36\x00\x00\x00"), msgUnknown},
		{"png pixel bomb 100000x100000", pngBomb(100000, 100000), msgTooBig},
		{"png just over 50 MP", pngBomb(10000, 5001), msgTooBig},
		{"jpeg pixel bomb 60000x60000", jpegBomb(t, 60000, 60000), msgTooBig},
		{"png with php tail", append(append([]byte{}, pngData...), "<?php system($_GET['c']); ?>"...), msgTrailing},
		{"jpeg with zip tail", append(append([]byte{}, jpg...), "PK\x03\x04\x14\x00\x00\x00"...), msgTrailing},
		{"webp with html tail", append(append([]byte{}, webpData...), "<script>alert(1)</script>"...), msgTrailing},
		{"animated png", apng, msgAnimated},
		{"png with bad crc", func() []byte { b := append([]byte{}, pngData...); b[40] ^= 0xFF; return b }(), msgTruncated},
		{"png without ihdr", append(append([]byte{}, sigPNG...), pngChunk("IEND", nil)...), msgTruncated},
		{"jpeg header only", jpg[:20], msgTruncated},
		{"riff that is not webp", []byte("RIFF\x04\x00\x00\x00WAVE"), msgUnknown},
		{"webp without image", []byte("RIFF\x04\x00\x00\x00WEBP"), msgTruncated},
	}
	for name, full := range map[string][]byte{"jpeg": jpg, "png": pngData, "webp": webpData} {
		for _, cut := range []int{1, 2, 10, len(full) / 2, len(full) - 12} {
			cases = append(cases, struct {
				name   string
				upload []byte
				msg    string
			}{name + " truncated by " + itoa(cut), full[:len(full)-cut], msgTruncated})
		}
	}
	p := newTestProcessor(t)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Sniff(tc.upload)
			wantRefusal(t, err, tc.msg)
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			res, err := p.Process(context.Background(), tc.upload)
			runtime.ReadMemStats(&after)
			if res != nil {
				t.Fatal("a refused upload produced output")
			}
			wantRefusal(t, err, tc.msg)
			// Refusing a bomb costs its header, not its pixels.
			if d := after.TotalAlloc - before.TotalAlloc; d > 4<<20 {
				t.Errorf("refusal allocated %d bytes", d)
			}
		})
	}
}

func itoa(n int) string {
	var b [20]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + n%10)
		if n /= 10; n == 0 {
			return string(b[i:])
		}
	}
}

// TestZeroPadding: NUL bytes after the end marker are tolerated (some tools
// pad files) and do not reach the output.
func TestZeroPadding(t *testing.T) {
	for name, data := range map[string][]byte{
		"jpeg": encodeJPEG(t, quadrants(64, 48)),
		"png":  encodePNG(t, quadrants(64, 48)),
	} {
		t.Run(name, func(t *testing.T) {
			padded := append(append([]byte{}, data...), make([]byte, 100)...)
			if _, err := Sniff(padded); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestTooLarge: past 15 MB the answer is a *TooLargeError (413), whether
// the bytes come from a reader or a slice.
func TestTooLarge(t *testing.T) {
	big := make([]byte, 16<<20)
	copy(big, encodeJPEG(t, quadrants(64, 48)))
	var tle *TooLargeError
	if _, err := ReadUpload(bytes.NewReader(big)); !errors.As(err, &tle) {
		t.Fatalf("ReadUpload(16 MB) = %v, want *TooLargeError", err)
	}
	if _, err := Sniff(big); !errors.As(err, &tle) {
		t.Fatalf("Sniff(16 MB) = %v, want *TooLargeError", err)
	}
	exact := make([]byte, MaxBytes)
	got, err := ReadUpload(bytes.NewReader(exact))
	if err != nil || len(got) != MaxBytes {
		t.Fatalf("ReadUpload(15 MB) = %d bytes, %v", len(got), err)
	}
}

// TestDecodeSlots: no more than MaxDecodes uploads are decoded at once; the
// rest wait, visibly in the metrics, and a waiter can give up. Without the
// semaphore all six would be inside at once and the count check fails.
func TestDecodeSlots(t *testing.T) {
	reg := prometheus.NewRegistry()
	p := NewProcessor(Config{MaxDecodes: 2, Registry: reg})
	var inside, most atomic.Int32
	release := make(chan struct{})
	p.testHook = func() {
		n := inside.Add(1)
		for {
			m := most.Load()
			if n <= m || most.CompareAndSwap(m, n) {
				break
			}
		}
		<-release
		inside.Add(-1)
	}
	upload := encodeJPEG(t, quadrants(64, 48))
	errs := make(chan error, 6)
	for range 6 {
		go func() {
			_, err := p.Process(context.Background(), upload)
			errs <- err
		}()
	}
	waitFor(t, func() bool {
		return testutil.ToFloat64(p.inFlight) == 2 && testutil.ToFloat64(p.waiting) == 4
	})
	if n := inside.Load(); n != 2 {
		t.Fatalf("%d decodes at once, want 2", n)
	}
	// A waiter whose client left gives up without a slot.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := p.Process(ctx, upload); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled waiter: %v", err)
	}
	close(release)
	for range 6 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if m := most.Load(); m != 2 {
		t.Fatalf("at most %d decodes at once, want 2", m)
	}
	if v := testutil.ToFloat64(p.inFlight); v != 0 {
		t.Fatalf("in flight after all done: %v", v)
	}
	out, err := testutil.GatherAndCount(reg, "bazaar_photo_decode_slots")
	if err != nil || out != 1 {
		t.Fatalf("slots metric: %d, %v", out, err)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10s")
		}
		time.Sleep(time.Millisecond)
	}
}
