package photo

import "image"

// orient returns m transformed so that it displays upright for EXIF
// orientation o (1..8). It works on the small resized image, never on the
// full upload: scaling and these transforms commute, so orienting last
// saves a full-size copy. m is an *image.RGBA or *image.NRGBA (newCanvas).
func orient(m image.Image, o int) image.Image {
	if o <= 1 || o > 8 {
		return m
	}
	var pix []byte
	var stride int
	switch m := m.(type) {
	case *image.RGBA:
		pix, stride = m.Pix, m.Stride
	case *image.NRGBA:
		pix, stride = m.Pix, m.Stride
	default:
		return m
	}
	W, H := m.Bounds().Dx(), m.Bounds().Dy()
	w, h := W, H
	if o >= 5 {
		w, h = H, W
	}
	r := image.Rect(0, 0, w, h)
	var dst []byte
	var dstride int
	var out image.Image
	if _, ok := m.(*image.NRGBA); ok {
		d := image.NewNRGBA(r)
		dst, dstride, out = d.Pix, d.Stride, d
	} else {
		d := image.NewRGBA(r)
		dst, dstride, out = d.Pix, d.Stride, d
	}
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			var sx, sy int
			switch o {
			case 2: // mirrored
				sx, sy = W-1-x, y
			case 3: // upside down
				sx, sy = W-1-x, H-1-y
			case 4: // mirrored upside down
				sx, sy = x, H-1-y
			case 5: // transposed
				sx, sy = y, x
			case 6: // camera turned right: rotate 90° clockwise
				sx, sy = y, H-1-x
			case 7: // transverse
				sx, sy = W-1-y, H-1-x
			case 8: // camera turned left: rotate 90° counter-clockwise
				sx, sy = W-1-y, x
			}
			copy(dst[y*dstride+4*x:y*dstride+4*x+4], pix[sy*stride+4*sx:sy*stride+4*sx+4])
		}
	}
	return out
}
