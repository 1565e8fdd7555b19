package photo

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"image"
	"image/jpeg"
	"image/png"
	"io"
	"runtime"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/image/draw"
	"golang.org/x/image/webp"
)

// DefaultWidths are the derived widths: a card in a grid, the listing page,
// and the listing page on a high-density screen.
var DefaultWidths = []int{320, 800, 1600}

// JPEGQuality is the quality of every JPEG Bazaar writes: indistinguishable
// from the upload at these sizes, about a third of quality 100's bytes.
const JPEGQuality = 82

// Config configures a Processor.
type Config struct {
	// Widths to derive, in pixels; nil means DefaultWidths.
	Widths []int
	// MaxDecodes bounds how many uploads are decoded at once; 0 means
	// GOMAXPROCS less one (at least one). Each decode of a 12-megapixel JPEG holds ~20 MB of pixels
	// plus the resized copies, so this is the knob for peak memory.
	MaxDecodes int
	// Registry receives the processor's metrics; nil means none.
	Registry prometheus.Registerer
}

// Processor decodes, orients, resizes and re-encodes uploads, never more
// than MaxDecodes at once. It is safe for concurrent use.
type Processor struct {
	widths   []int
	slots    chan struct{}
	inFlight prometheus.Gauge
	waiting  prometheus.Gauge
	seconds  prometheus.Histogram
	// testHook, when set, runs while a slot is held (tests count holders).
	testHook func()
}

// NewProcessor returns a Processor for cfg.
func NewProcessor(cfg Config) *Processor {
	widths := slices.Clone(cfg.Widths)
	if len(widths) == 0 {
		widths = slices.Clone(DefaultWidths)
	}
	slices.Sort(widths)
	widths = slices.Compact(widths)
	n := cfg.MaxDecodes
	if n <= 0 {
		// One CPU is left for everything else: with all of them decoding,
		// 20 uploads of 12-megapixel photos took the home page's p95 from
		// 3 ms to 78 ms on 2 CPUs; with one, to 7 ms (bench/uploads).
		n = max(1, runtime.GOMAXPROCS(0)-1)
	}
	p := &Processor{
		widths: widths,
		slots:  make(chan struct{}, n),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "bazaar_photo_decodes_in_flight",
			Help: "Uploads being decoded and resized now (at most bazaar_photo_decode_slots).",
		}),
		waiting: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "bazaar_photo_decodes_waiting",
			Help: "Uploads waiting for a decode slot.",
		}),
		seconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "bazaar_photo_process_seconds",
			Help:    "Time to decode, orient, resize and encode one upload, once it has a slot.",
			Buckets: []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}),
	}
	if cfg.Registry != nil {
		slotsGauge := prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "bazaar_photo_decode_slots",
			Help: "How many uploads may be decoded at once.",
		})
		slotsGauge.Set(float64(n))
		cfg.Registry.MustRegister(p.inFlight, p.waiting, p.seconds, slotsGauge)
	}
	return p
}

// Slots returns how many decodes may run at once.
func (p *Processor) Slots() int { return cap(p.slots) }

// Result is a processed upload.
type Result struct {
	Format   Format    // of the upload
	Width    int       // of the upload after orientation
	Height   int       //
	Variants []Variant // ascending width; the last is the largest
}

// Variant is one derived image, free of metadata.
type Variant struct {
	Width       int
	Height      int
	Name        string // content hash and extension: safe as a file or object name
	ContentType string
	Data        []byte
}

// ReadUpload reads at most MaxBytes from r, returning a *TooLargeError past
// that, so a handler never holds more than one limit's worth of one upload.
func ReadUpload(r io.Reader) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxBytes+1))
	if err != nil {
		return nil, err
	}
	if len(data) > MaxBytes {
		return nil, &TooLargeError{Limit: MaxBytes}
	}
	return data, nil
}

// Process checks data with Sniff, then (holding a decode slot) decodes it,
// applies its EXIF orientation and writes each derived width. Invalid
// uploads are refused before waiting for a slot.
func (p *Processor) Process(ctx context.Context, data []byte) (*Result, error) {
	h, err := Sniff(data)
	if err != nil {
		return nil, err
	}
	p.waiting.Inc()
	select {
	case p.slots <- struct{}{}:
		p.waiting.Dec()
	case <-ctx.Done():
		p.waiting.Dec()
		return nil, ctx.Err()
	}
	p.inFlight.Inc()
	start := time.Now()
	defer func() {
		p.seconds.Observe(time.Since(start).Seconds())
		p.inFlight.Dec()
		<-p.slots
	}()
	if p.testHook != nil {
		p.testHook()
	}
	return p.process(h, data)
}

func (p *Processor) process(h Header, data []byte) (*Result, error) {
	var (
		src image.Image
		err error
	)
	r := bytes.NewReader(data)
	switch h.Format {
	case JPEG:
		src, err = jpeg.Decode(r)
	case PNG:
		src, err = png.Decode(r)
	case WebP:
		src, err = webp.Decode(r)
	}
	if err != nil {
		return nil, invalid(msgTruncated)
	}
	b := src.Bounds()
	if b.Dx() != h.Width || b.Dy() != h.Height {
		// The decoder disagrees with the header it was checked against.
		return nil, invalid(msgTruncated)
	}
	swap := h.Orientation >= 5
	ow, oh := b.Dx(), b.Dy()
	if swap {
		ow, oh = oh, ow
	}
	alpha := !opaque(src)
	res := &Result{Format: h.Format, Width: ow, Height: oh}

	// Largest first, each from the previous one: a 2x step with
	// Catmull-Rom looks as good as a direct one and costs a fraction.
	targets := p.targets(ow)
	cur := src
	for i := len(targets) - 1; i >= 0; i-- {
		tw := targets[i]
		th := max(1, (oh*tw+ow/2)/ow)
		sw, sh := tw, th // in the stored (unrotated) frame
		if swap {
			sw, sh = th, tw
		}
		// Halve with bilinear (at exactly 2x, a 2x2 average) while the
		// source is twice the target or more, then the last step with
		// Catmull-Rom, unless its scratch buffer would be large.
		for b := cur.Bounds(); b.Dx() >= 2*sw && b.Dy() >= 2*sh; b = cur.Bounds() {
			half := newCanvas(image.Rect(0, 0, (b.Dx()+1)/2, (b.Dy()+1)/2), alpha)
			draw.ApproxBiLinear.Scale(half, half.Bounds(), cur, b, draw.Src, nil)
			cur = half
		}
		scaled := newCanvas(image.Rect(0, 0, sw, sh), alpha)
		var interp draw.Interpolator = draw.CatmullRom
		if sw*cur.Bounds().Dy()*kernelTmpBytes > maxKernelTmp {
			interp = draw.ApproxBiLinear
		}
		interp.Scale(scaled, scaled.Bounds(), cur, cur.Bounds(), draw.Src, nil)
		cur = scaled
		v, err := encode(orient(scaled, h.Orientation), alpha)
		if err != nil {
			return nil, err
		}
		res.Variants = append(res.Variants, v)
	}
	slices.Reverse(res.Variants)
	return res, nil
}

// A kernel scaler (Catmull-Rom) of golang.org/x/image/draw first scales
// one axis into a scratch buffer of dst width × src height pixels, 32 bytes
// each: straight from a 12-megapixel photo to 1600 px wide that is 150 MB
// per upload, which made 20 concurrent uploads peak at 355 MiB with two
// decode slots (bench/uploads). Halving first and allowing the kernel only
// a small buffer bounds a decode to its pixels plus a few MiB.
const (
	kernelTmpBytes = 32
	maxKernelTmp   = 16 << 20
)

// targets are the widths to derive for an image ow pixels wide: every
// configured width below ow, and ow itself when it is not above the
// largest, so nothing is ever upscaled and a small photo still gets one
// variant at its own size.
func (p *Processor) targets(ow int) []int {
	var t []int
	for _, w := range p.widths {
		if w < ow {
			t = append(t, w)
		}
	}
	if ow <= p.widths[len(p.widths)-1] {
		t = append(t, ow)
	}
	return t
}

func newCanvas(r image.Rectangle, alpha bool) draw.Image {
	if alpha {
		return image.NewNRGBA(r)
	}
	return image.NewRGBA(r)
}

// opaque reports whether every pixel of m is opaque. Image types that
// cannot hold alpha (YCbCr, Gray, CMYK) are opaque by construction.
func opaque(m image.Image) bool {
	if o, ok := m.(interface{ Opaque() bool }); ok {
		return o.Opaque()
	}
	return false
}

// encode writes m as JPEG, or as PNG when it has transparency (JPEG has no
// alpha channel; a cut-out product shot would get a black background).
// Neither encoder writes metadata, which is how EXIF, GPS, XMP and ICC
// chunks of the upload are dropped.
func encode(m image.Image, alpha bool) (Variant, error) {
	var buf bytes.Buffer
	v := Variant{Width: m.Bounds().Dx(), Height: m.Bounds().Dy()}
	ext := ".jpg"
	v.ContentType = "image/jpeg"
	var err error
	if alpha {
		ext, v.ContentType = ".png", "image/png"
		err = (&png.Encoder{CompressionLevel: png.BestSpeed}).Encode(&buf, m)
	} else {
		err = jpeg.Encode(&buf, m, &jpeg.Options{Quality: JPEGQuality})
	}
	if err != nil {
		return Variant{}, fmt.Errorf("photo: encode: %w", err)
	}
	v.Data = buf.Bytes()
	sum := sha256.Sum256(v.Data)
	v.Name = hex.EncodeToString(sum[:16]) + ext
	return v, nil
}
