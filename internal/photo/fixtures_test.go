package photo

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"os"
	"testing"
)

// Fixtures are built in code, so each test says exactly what its input
// holds: the quadrant colours, the EXIF tags, the bytes after the end.

// gpsSecret is written into every GPS block; finding it in an output means
// the seller's position leaked.
const gpsSecret = "BAZAAR-GPS-51.50072N-0.12758W"

var (
	red   = color.RGBA{255, 0, 0, 255}
	green = color.RGBA{0, 255, 0, 255}
	blue  = color.RGBA{0, 0, 255, 255}
	white = color.RGBA{255, 255, 255, 255}
)

// quadrants paints a w×h image: top-left red, top-right green, bottom-left
// blue, bottom-right white, so any rotation or mirror is visible.
func quadrants(w, h int) *image.RGBA {
	m := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			c := red
			switch {
			case x >= w/2 && y < h/2:
				c = green
			case x < w/2 && y >= h/2:
				c = blue
			case x >= w/2 && y >= h/2:
				c = white
			}
			m.SetRGBA(x, y, c)
		}
	}
	return m
}

func encodeJPEG(t testing.TB, m image.Image) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := jpeg.Encode(&b, m, &jpeg.Options{Quality: 90}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func encodePNG(t testing.TB, m image.Image) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := png.Encode(&b, m); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// exifBlock is a little-endian TIFF structure with IFD0 holding the
// orientation and a pointer to a GPS IFD (latitude ref, latitude, and a
// processing-method string carrying gpsSecret).
func exifBlock(orientation int) []byte {
	le := binary.LittleEndian
	var b bytes.Buffer
	w16 := func(v uint16) { binary.Write(&b, le, v) }
	w32 := func(v uint32) { binary.Write(&b, le, v) }
	b.WriteString("II")
	w16(42)
	w32(8) // IFD0 at 8
	// IFD0: 2 entries (12 bytes each) + next-IFD offset.
	const ifd0 = 8
	const gpsIFD = ifd0 + 2 + 2*12 + 4 // 38
	w16(2)
	w16(0x0112)
	w16(3)
	w32(1)
	w16(uint16(orientation))
	w16(0)
	w16(0x8825) // GPSInfo
	w16(4)
	w32(1)
	w32(gpsIFD)
	w32(0)
	// GPS IFD: 3 entries + next offset, then the out-of-line values.
	const values = gpsIFD + 2 + 3*12 + 4 // 80
	secret := append([]byte("ASCII\x00\x00\x00"), gpsSecret...)
	w16(3)
	w16(0x0001) // GPSLatitudeRef "N"
	w16(2)
	w32(2)
	b.WriteString("N\x00\x00\x00")
	w16(0x0002) // GPSLatitude, 3 rationals
	w16(5)
	w32(3)
	w32(values)
	w16(0x001B) // GPSProcessingMethod
	w16(7)
	w32(uint32(len(secret)))
	w32(values + 24)
	w32(0)
	for _, v := range []uint32{51, 1, 30, 1, 2592, 100} {
		w32(v)
	}
	b.Write(secret)
	return b.Bytes()
}

// withJPEGExif inserts an APP1 Exif segment right after SOI.
func withJPEGExif(jpg []byte, orientation int) []byte {
	payload := append([]byte("Exif\x00\x00"), exifBlock(orientation)...)
	seg := []byte{0xFF, 0xE1, 0, 0}
	binary.BigEndian.PutUint16(seg[2:], uint16(len(payload)+2))
	out := append([]byte{}, jpg[:2]...)
	out = append(out, seg...)
	out = append(out, payload...)
	return append(out, jpg[2:]...)
}

// pngChunk encodes one PNG chunk with its CRC.
func pngChunk(typ string, body []byte) []byte {
	var b bytes.Buffer
	binary.Write(&b, binary.BigEndian, uint32(len(body)))
	b.WriteString(typ)
	b.Write(body)
	binary.Write(&b, binary.BigEndian, crc32.ChecksumIEEE(append([]byte(typ), body...)))
	return b.Bytes()
}

// withPNGChunk inserts a chunk right after IHDR.
func withPNGChunk(p []byte, typ string, body []byte) []byte {
	ihdrEnd := 8 + 12 + 13
	out := append([]byte{}, p[:ihdrEnd]...)
	out = append(out, pngChunk(typ, body)...)
	return append(out, p[ihdrEnd:]...)
}

// pngBomb is a well-formed PNG whose header claims w×h pixels and whose
// data is a few bytes: decoding it would allocate w*h*4 bytes.
func pngBomb(w, h uint32) []byte {
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], w)
	binary.BigEndian.PutUint32(ihdr[4:], h)
	ihdr[8], ihdr[9] = 8, 6 // 8-bit RGBA
	out := append([]byte{}, sigPNG...)
	out = append(out, pngChunk("IHDR", ihdr)...)
	out = append(out, pngChunk("IDAT", []byte{0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01})...)
	return append(out, pngChunk("IEND", nil)...)
}

// jpegBomb patches the SOF0 dimensions of a small JPEG.
func jpegBomb(t testing.TB, w, h uint16) []byte {
	j := encodeJPEG(t, quadrants(16, 16))
	i := bytes.Index(j, []byte{0xFF, 0xC0})
	if i < 0 {
		t.Fatal("no SOF0")
	}
	binary.BigEndian.PutUint16(j[i+5:], h)
	binary.BigEndian.PutUint16(j[i+7:], w)
	return j
}

func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// riffChunk encodes one RIFF chunk, padded to an even length.
func riffChunk(typ string, body []byte) []byte {
	var b bytes.Buffer
	b.WriteString(typ)
	binary.Write(&b, binary.LittleEndian, uint32(len(body)))
	b.Write(body)
	if len(body)%2 == 1 {
		b.WriteByte(0)
	}
	return b.Bytes()
}

// webpWithExif rewraps a simple lossy WebP (RIFF, WEBP, one VP8 chunk) as
// an extended one: VP8X (EXIF flag), the VP8 chunk, and an EXIF chunk.
func webpWithExif(t testing.TB, simple []byte, w, h, orientation int) []byte {
	t.Helper()
	if string(simple[12:16]) != "VP8 " {
		t.Fatalf("want a simple lossy WebP, got chunk %q", simple[12:16])
	}
	vp8 := simple[12:]
	x := make([]byte, 10)
	x[0] = 0x08 // EXIF present
	put24 := func(b []byte, v int) { b[0], b[1], b[2] = byte(v), byte(v>>8), byte(v>>16) }
	put24(x[4:], w-1)
	put24(x[7:], h-1)
	body := append([]byte("WEBP"), riffChunk("VP8X", x)...)
	body = append(body, vp8...)
	body = append(body, riffChunk("EXIF", exifBlock(orientation))...)
	var b bytes.Buffer
	b.WriteString("RIFF")
	binary.Write(&b, binary.LittleEndian, uint32(len(body)))
	b.Write(body)
	return b.Bytes()
}
