// Package phototest builds uploads for tests outside package photo (the
// web, nginx and browser tests): real JPEG, PNG and WebP files, ones with
// an EXIF orientation and a GPS position, and the refusals the issue
// names (a pixel bomb, an SVG with script, a PNG with a PHP tail).
package phototest

import (
	"bytes"
	_ "embed"
	"encoding/binary"
	"hash/crc32"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
)

// GPSSecret is written into every GPS block; finding it in a served image
// means the seller's position leaked.
const GPSSecret = "BAZAAR-GPS-51.50072N-0.12758W" // #nosec G101 -- a marker string for tests, no credential

// WebP is a small lossy WebP (from golang.org/x/image's test data).
//
//go:embed blue-purple-pink.lossy.webp
var WebP []byte

// The quadrant colours.
var (
	Red   = color.RGBA{255, 0, 0, 255}
	Green = color.RGBA{0, 255, 0, 255}
	Blue  = color.RGBA{0, 0, 255, 255}
	White = color.RGBA{255, 255, 255, 255}
)

// Quadrants paints a w×h image: top-left red, top-right green, bottom-left
// blue, bottom-right white, so any rotation or mirror is visible.
func Quadrants(w, h int) *image.RGBA {
	m := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			c := Red
			switch {
			case x >= w/2 && y < h/2:
				c = Green
			case x < w/2 && y >= h/2:
				c = Blue
			case x >= w/2 && y >= h/2:
				c = White
			}
			m.SetRGBA(x, y, c)
		}
	}
	return m
}

// JPEG encodes m.
func JPEG(m image.Image) []byte {
	var b bytes.Buffer
	if err := jpeg.Encode(&b, m, &jpeg.Options{Quality: 90}); err != nil {
		panic(err)
	}
	return b.Bytes()
}

// PNG encodes m.
func PNG(m image.Image) []byte {
	var b bytes.Buffer
	if err := png.Encode(&b, m); err != nil {
		panic(err)
	}
	return b.Bytes()
}

// JPEGWithExif is a w×h quadrants JPEG carrying an EXIF orientation and a
// GPS block holding GPSSecret.
func JPEGWithExif(w, h, orientation int) []byte {
	jpg := JPEG(Quadrants(w, h))
	payload := append([]byte("Exif\x00\x00"), exifBlock(orientation)...)
	seg := []byte{0xFF, 0xE1, 0, 0}
	binary.BigEndian.PutUint16(seg[2:], uint16(len(payload)+2)) // #nosec G115 -- the EXIF block is a few hundred bytes
	out := append([]byte{}, jpg[:2]...)
	out = append(out, seg...)
	out = append(out, payload...)
	return append(out, jpg[2:]...)
}

// PNGBomb is a well-formed PNG whose header claims w×h pixels and whose
// data is a few bytes: decoding it would allocate w*h*4 bytes.
func PNGBomb(w, h uint32) []byte {
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], w)
	binary.BigEndian.PutUint32(ihdr[4:], h)
	ihdr[8], ihdr[9] = 8, 6 // 8-bit RGBA
	out := []byte("\x89PNG\r\n\x1a\n")
	out = append(out, pngChunk("IHDR", ihdr)...)
	out = append(out, pngChunk("IDAT", []byte{0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01})...)
	return append(out, pngChunk("IEND", nil)...)
}

// PHPPolyglot is a valid PNG with a PHP program after its end.
func PHPPolyglot() []byte {
	return append(PNG(Quadrants(32, 32)), "<?php system($_GET['c']); ?>"...)
}

// SVGScript is an SVG image carrying a script.
var SVGScript = []byte(`<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">` +
	`<script>alert(document.cookie)</script><rect width="10" height="10"/></svg>`)

// ColourAt reports which quadrant colour the pixel at (x, y) is closest to.
func ColourAt(m image.Image, x, y int) color.RGBA {
	r, g, b, _ := m.At(x, y).RGBA()
	best, bestD := Red, int64(1)<<62
	for _, c := range []color.RGBA{Red, Green, Blue, White} {
		dr, dg, db := int64(r>>8)-int64(c.R), int64(g>>8)-int64(c.G), int64(b>>8)-int64(c.B)
		if d := dr*dr + dg*dg + db*db; d < bestD {
			best, bestD = c, d
		}
	}
	return best
}

func pngChunk(typ string, body []byte) []byte {
	var b bytes.Buffer
	_ = binary.Write(&b, binary.BigEndian, uint32(len(body))) // #nosec G115 -- test fixtures are small
	b.WriteString(typ)
	b.Write(body)
	_ = binary.Write(&b, binary.BigEndian, crc32.ChecksumIEEE(append([]byte(typ), body...)))
	return b.Bytes()
}

// exifBlock is a little-endian TIFF structure with IFD0 holding the
// orientation and a pointer to a GPS IFD (latitude ref, latitude, and a
// processing-method string carrying GPSSecret).
func exifBlock(orientation int) []byte {
	le := binary.LittleEndian
	var b bytes.Buffer
	w16 := func(v uint16) { _ = binary.Write(&b, le, v) }
	w32 := func(v uint32) { _ = binary.Write(&b, le, v) }
	b.WriteString("II")
	w16(42)
	w32(8)
	const ifd0 = 8
	const gpsIFD = ifd0 + 2 + 2*12 + 4
	w16(2)
	w16(0x0112)
	w16(3)
	w32(1)
	w16(uint16(orientation)) // #nosec G115 -- orientation is 1..8
	w16(0)
	w16(0x8825)
	w16(4)
	w32(1)
	w32(gpsIFD)
	w32(0)
	const values = gpsIFD + 2 + 3*12 + 4
	secret := append([]byte("ASCII\x00\x00\x00"), GPSSecret...)
	w16(3)
	w16(0x0001)
	w16(2)
	w32(2)
	b.WriteString("N\x00\x00\x00")
	w16(0x0002)
	w16(5)
	w32(3)
	w32(values)
	w16(0x001B)
	w16(7)
	w32(uint32(len(secret))) // #nosec G115 -- test fixtures are small
	w32(values + 24)
	w32(0)
	for _, v := range []uint32{51, 1, 30, 1, 2592, 100} {
		w32(v)
	}
	b.Write(secret)
	return b.Bytes()
}
