// Package photo turns an untrusted upload into the few images Bazaar serves:
// it recognises JPEG, PNG and WebP by their bytes alone, refuses everything
// else before any pixel is decoded, applies the EXIF orientation, strips all
// metadata by re-encoding, and derives a handful of widths with
// content-hashed names. It knows nothing of HTTP or storage.
package photo

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"image"
	"image/jpeg"
	"image/png"

	"golang.org/x/image/webp"

	"github.com/bazaarhq/bazaar/internal/market"
)

// Limits on what an upload may be. They are checked from the file's header,
// before any pixel is decoded, so a decompression bomb costs a few hundred
// bytes of parsing, not gigabytes of memory.
const (
	// MaxBytes is the largest upload accepted (15 MB).
	MaxBytes = 15 << 20
	// MaxPixels bounds width*height (50 megapixels).
	MaxPixels = 50_000_000
	// maxJPEGScans bounds the scans of a progressive JPEG: Go's decoder
	// revisits every coefficient per scan, so thousands of tiny scans are a
	// CPU bomb that the pixel limit does not catch. Real encoders write ≤ 12.
	maxJPEGScans = 64
	// maxChunks bounds the chunks/segments walked in any container.
	maxChunks = 4096
)

// Field is the form and API field every photo error is reported against.
const Field = "photo"

// Format is an accepted image format.
type Format string

// The accepted formats.
const (
	JPEG Format = "jpeg"
	PNG  Format = "png"
	WebP Format = "webp"
)

// Header is what Sniff learned from an upload without decoding pixels.
type Header struct {
	Format      Format
	Width       int // as stored, before orientation
	Height      int
	Orientation int // EXIF orientation 1..8; 1 when absent or invalid
}

// TooLargeError reports an upload over MaxBytes. The web layer answers 413.
type TooLargeError struct{ Limit int64 }

func (e *TooLargeError) Error() string {
	return fmt.Sprintf("photo: upload larger than %d bytes", e.Limit)
}

// invalid is the one way this package refuses an upload: EINVALID with the
// message beside the photo field.
func invalid(msg string) error {
	return &market.Error{Code: market.EINVALID, Message: msg, Fields: map[string]string{Field: msg}}
}

// Messages users see. Kept together so tests and docs can refer to them.
const (
	msgUnknown   = "This file is not a JPEG, PNG or WebP image."
	msgGIF       = "GIF images are not accepted; please upload a JPEG, PNG or WebP photo."
	msgMarkup    = "This file is markup (SVG or HTML), not a photo; please upload a JPEG, PNG or WebP photo."
	msgTruncated = "This image is incomplete or damaged; please upload the file again."
	msgTrailing  = "This image has extra data after its end; please export it again as a plain JPEG, PNG or WebP."
	msgTooBig    = "This image has more than 50 megapixels; please upload a smaller one."
	msgAnimated  = "Animated images are not accepted; please upload a still photo."
	msgEmpty     = "Please choose a photo to upload."
)

var (
	sigPNG  = []byte("\x89PNG\r\n\x1a\n")
	sigJPEG = []byte{0xFF, 0xD8, 0xFF}
)

// Sniff recognises data as JPEG, PNG or WebP by its magic bytes, walks the
// whole container (every chunk or segment, up to the end marker) and parses
// the header with image.DecodeConfig. It refuses anything else, truncated
// files, and files with data after the image's end marker: those are the
// polyglots (a PNG with a PHP tail, a JPEG that is also a ZIP) that a server
// somewhere might one day interpret as something else. Zero padding after
// the end is tolerated; some tools write it and it cannot carry a payload.
// The file name and the client's Content-Type are never consulted.
func Sniff(data []byte) (Header, error) {
	if len(data) == 0 {
		return Header{}, invalid(msgEmpty)
	}
	if len(data) > MaxBytes {
		return Header{}, &TooLargeError{Limit: MaxBytes}
	}
	var (
		h    Header
		exif []byte
		err  error
	)
	switch {
	case bytes.HasPrefix(data, sigJPEG):
		h.Format = JPEG
		exif, err = walkJPEG(data)
	case bytes.HasPrefix(data, sigPNG):
		h.Format = PNG
		exif, err = walkPNG(data)
	case len(data) >= 12 && string(data[0:4]) == "RIFF" && string(data[8:12]) == "WEBP":
		h.Format = WebP
		exif, err = walkWebP(data)
	case bytes.HasPrefix(data, []byte("GIF8")):
		return Header{}, invalid(msgGIF)
	case looksLikeMarkup(data):
		return Header{}, invalid(msgMarkup)
	default:
		return Header{}, invalid(msgUnknown)
	}
	if err != nil {
		return Header{}, err
	}
	var cfg image.Config
	switch h.Format {
	case JPEG:
		cfg, err = jpeg.DecodeConfig(bytes.NewReader(data))
	case PNG:
		cfg, err = png.DecodeConfig(bytes.NewReader(data))
	case WebP:
		cfg, err = webp.DecodeConfig(bytes.NewReader(data))
	}
	if err != nil {
		return Header{}, invalid(msgTruncated)
	}
	if cfg.Width <= 0 || cfg.Height <= 0 {
		return Header{}, invalid(msgTruncated)
	}
	if int64(cfg.Width)*int64(cfg.Height) > MaxPixels {
		return Header{}, invalid(msgTooBig)
	}
	h.Width, h.Height = cfg.Width, cfg.Height
	h.Orientation = orientation(exif)
	return h, nil
}

// looksLikeMarkup reports whether data starts (after a BOM and white space)
// with '<', as SVG, HTML and XML do, so the message can say so.
func looksLikeMarkup(data []byte) bool {
	data = bytes.TrimPrefix(data, []byte("\xEF\xBB\xBF"))
	data = bytes.TrimLeft(data, " \t\r\n")
	return len(data) > 0 && data[0] == '<'
}

// onlyZeros reports whether b is empty or all NUL bytes.
func onlyZeros(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// walkJPEG follows the marker segments from SOI to EOI and returns the EXIF
// payload (the TIFF structure after "Exif\0\0") of the first APP1, if any.
func walkJPEG(d []byte) (exif []byte, err error) {
	i, scans := 2, 0
	for n := 0; ; n++ {
		if n > maxChunks {
			return nil, invalid(msgTruncated)
		}
		// Markers may be preceded by any number of 0xFF fill bytes.
		for i < len(d) && d[i] == 0xFF && i+1 < len(d) && d[i+1] == 0xFF {
			i++
		}
		if i+2 > len(d) {
			return nil, invalid(msgTruncated)
		}
		if d[i] != 0xFF {
			return nil, invalid(msgTruncated)
		}
		m := d[i+1]
		i += 2
		switch {
		case m == 0xD9: // EOI
			if !onlyZeros(d[i:]) {
				return nil, invalid(msgTrailing)
			}
			return exif, nil
		case m == 0x01 || (m >= 0xD0 && m <= 0xD7): // standalone markers
			continue
		}
		if i+2 > len(d) {
			return nil, invalid(msgTruncated)
		}
		l := int(binary.BigEndian.Uint16(d[i:]))
		if l < 2 || i+l > len(d) {
			return nil, invalid(msgTruncated)
		}
		seg := d[i+2 : i+l]
		i += l
		if m == 0xE1 && exif == nil && bytes.HasPrefix(seg, []byte("Exif\x00\x00")) {
			exif = seg[6:]
		}
		if m != 0xDA { // not SOS: the next marker follows the segment
			continue
		}
		if scans++; scans > maxJPEGScans {
			return nil, invalid(msgTruncated)
		}
		// Entropy-coded data: skip to the next marker that is neither a
		// stuffed 0xFF00 nor a restart marker.
		for {
			j := bytes.IndexByte(d[i:], 0xFF)
			if j < 0 || i+j+1 >= len(d) {
				return nil, invalid(msgTruncated)
			}
			i += j
			next := d[i+1]
			if next == 0x00 || (next >= 0xD0 && next <= 0xD7) || next == 0xFF {
				i++
				continue
			}
			break
		}
	}
}

// walkPNG checks every chunk's length and CRC from IHDR to IEND and returns
// the eXIf chunk's payload, if any.
func walkPNG(d []byte) (exif []byte, err error) {
	i := len(sigPNG)
	for n := 0; ; n++ {
		if n > maxChunks || i+8 > len(d) {
			return nil, invalid(msgTruncated)
		}
		l := int64(binary.BigEndian.Uint32(d[i:]))
		typ := string(d[i+4 : i+8])
		if l > int64(len(d)) || int64(i)+12+l > int64(len(d)) {
			return nil, invalid(msgTruncated)
		}
		body := d[i+8 : i+8+int(l)]
		crc := binary.BigEndian.Uint32(d[i+8+int(l):])
		if crc32.ChecksumIEEE(d[i+4:i+8+int(l)]) != crc {
			return nil, invalid(msgTruncated)
		}
		if n == 0 && typ != "IHDR" {
			return nil, invalid(msgTruncated)
		}
		i += 12 + int(l)
		switch typ {
		case "acTL":
			return nil, invalid(msgAnimated)
		case "eXIf":
			if exif == nil {
				exif = body
			}
		case "IEND":
			if !onlyZeros(d[i:]) {
				return nil, invalid(msgTrailing)
			}
			return exif, nil
		}
	}
}

// walkWebP checks the RIFF container: its declared size must cover exactly
// the file, every chunk must fit, and animation is refused. It returns the
// EXIF chunk's payload, if any.
func walkWebP(d []byte) (exif []byte, err error) {
	size := int64(binary.LittleEndian.Uint32(d[4:8]))
	switch {
	case size+8 > int64(len(d)):
		return nil, invalid(msgTruncated)
	case !onlyZeros(d[size+8:]):
		return nil, invalid(msgTrailing)
	}
	d = d[:size+8]
	i := 12
	sawImage := false
	for n := 0; i < len(d); n++ {
		if n > maxChunks || i+8 > len(d) {
			return nil, invalid(msgTruncated)
		}
		typ := string(d[i : i+4])
		l := int64(binary.LittleEndian.Uint32(d[i+4:]))
		if int64(i)+8+l > int64(len(d)) {
			return nil, invalid(msgTruncated)
		}
		body := d[i+8 : i+8+int(l)]
		i += 8 + int(l) + int(l&1) // chunks are padded to even sizes
		switch typ {
		case "VP8X":
			if len(body) >= 1 && body[0]&0x02 != 0 {
				return nil, invalid(msgAnimated)
			}
		case "ANIM", "ANMF":
			return nil, invalid(msgAnimated)
		case "VP8 ", "VP8L":
			sawImage = true
		case "EXIF":
			if exif == nil {
				exif = body
			}
		}
	}
	if !sawImage {
		return nil, invalid(msgTruncated)
	}
	return exif, nil
}

// errNotExif is internal: the EXIF block could not be read, so orientation
// falls back to 1 (as browsers do).
var errNotExif = errors.New("photo: malformed exif")
