// Package gallery connects uploads to listings: it has a photo processed
// (internal/photo), writes its sizes to the photo store (internal/blob)
// and records them in the database (internal/postgres), in the order that
// keeps rows and objects consistent whatever fails (migration 00007), and
// it runs the collector that deletes the objects of deleted photos.
package gallery

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"path"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/bazaarhq/bazaar/internal/blob"
	"github.com/bazaarhq/bazaar/internal/market"
	"github.com/bazaarhq/bazaar/internal/photo"
	"github.com/bazaarhq/bazaar/internal/postgres"
)

// Config configures a Gallery.
type Config struct {
	DB        *postgres.DB
	Store     blob.Store
	Processor *photo.Processor
	Logger    *slog.Logger
	// Hold is how long an upload's reserved keys wait before the collector
	// may delete them: longer than any upload takes from reserving to
	// recording (default 1 hour).
	Hold time.Duration
	// CollectEvery is the collector's pause between rounds when nothing
	// wakes it (default 1 minute).
	CollectEvery time.Duration
	// Registry receives the collector's metrics; nil means none.
	Registry prometheus.Registerer
}

// Gallery adds photos to listings and removes deleted photos' objects.
type Gallery struct {
	db      *postgres.DB
	store   blob.Store
	proc    *photo.Processor
	logger  *slog.Logger
	hold    time.Duration
	every   time.Duration
	wake    chan struct{}
	deleted prometheus.Counter
	failed  prometheus.Counter
}

// New returns a Gallery for cfg.
func New(cfg Config) *Gallery {
	g := &Gallery{
		db: cfg.DB, store: cfg.Store, proc: cfg.Processor, logger: cfg.Logger,
		hold: cfg.Hold, every: cfg.CollectEvery, wake: make(chan struct{}, 1),
		deleted: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "bazaar_photo_objects_deleted_total",
			Help: "Objects of deleted photos (and of failed uploads) removed from the photo store.",
		}),
		failed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "bazaar_photo_object_delete_failures_total",
			Help: "Attempts to remove an object from the photo store that failed (each is retried later).",
		}),
	}
	if g.logger == nil {
		g.logger = slog.New(slog.DiscardHandler)
	}
	if g.hold <= 0 {
		g.hold = time.Hour
	}
	if g.every <= 0 {
		g.every = time.Minute
	}
	if cfg.Registry != nil {
		cfg.Registry.MustRegister(g.deleted, g.failed)
	}
	return g
}

// Processor is the gallery's photo processor.
func (g *Gallery) Processor() *photo.Processor { return g.proc }

// Process checks and converts an upload (see photo.Processor.Process):
// EINVALID beside the photo field for anything but a JPEG, PNG or WebP
// photo within the limits, *photo.TooLargeError past 15 MB.
func (g *Gallery) Process(ctx context.Context, data []byte) (*photo.Result, error) {
	return g.proc.Process(ctx, data)
}

// Add processes data and adds it as the last photo of the listing.
func (g *Gallery) Add(ctx context.Context, listingID int64, data []byte) (*market.Photo, error) {
	res, err := g.Process(ctx, data)
	if err != nil {
		return nil, err
	}
	return g.Store(ctx, listingID, res)
}

// Store writes a processed photo's sizes and adds it as the last photo of
// the listing: its keys are reserved, the objects written, then the rows
// inserted. If anything fails, no row points at the objects, and the
// reservation has the collector delete whatever was written.
func (g *Gallery) Store(ctx context.Context, listingID int64, res *photo.Result) (*market.Photo, error) {
	p := &market.Photo{ListingID: listingID, Width: res.Width, Height: res.Height}
	keys := make([]string, len(res.Variants))
	for i, v := range res.Variants {
		keys[i] = objectKey(v.Name)
		p.Variants = append(p.Variants, market.PhotoVariant{Width: v.Width, Height: v.Height, Key: keys[i], ContentType: v.ContentType})
	}
	if err := g.db.ReserveBlobs(ctx, keys, g.hold); err != nil {
		return nil, err
	}
	fail := func(err error) (*market.Photo, error) {
		// The reservation stays if even this fails: then the collector
		// deletes the objects once the hold has passed.
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if rerr := g.db.ReleaseBlobs(cctx, keys); rerr == nil {
			g.Wake()
		}
		return nil, err
	}
	for i, v := range res.Variants {
		if err := g.store.Put(ctx, keys[i], v.Data, v.ContentType); err != nil {
			if ctx.Err() != nil {
				return fail(ctx.Err())
			}
			g.logger.LogAttrs(ctx, slog.LevelError, "photo store write failed", slog.String("key", keys[i]), slog.String("err", err.Error()))
			return fail(fmt.Errorf("%w: %w", market.Errorf(market.EUNAVAILABLE, "Photos cannot be saved just now. Please try again in a moment."), err))
		}
	}
	if err := g.db.AddPhoto(ctx, p); err != nil {
		return fail(err)
	}
	g.FillURLs(p)
	return p, nil
}

// objectKey is where a variant is stored: its content hash, sharded by
// the hash's first two characters so no directory grows huge, plus a
// random suffix of its own. The suffix makes every key belong to exactly
// one photo even when the same picture is uploaded twice, so deleting one
// photo's objects can never take another's.
func objectKey(name string) string {
	ext := path.Ext(name)
	var rnd [6]byte
	_, _ = rand.Read(rnd[:])
	return name[:2] + "/" + strings.TrimSuffix(name, ext) + "-" + hex.EncodeToString(rnd[:]) + ext
}

// FillURLs sets the URL of each of the photos' variants.
func (g *Gallery) FillURLs(ps ...*market.Photo) {
	for _, p := range ps {
		if p == nil {
			continue
		}
		for i := range p.Variants {
			p.Variants[i].URL = g.store.URL(p.Variants[i].Key)
		}
	}
}

// FillListings sets the URLs of the listings' covers.
func (g *Gallery) FillListings(ls ...*market.Listing) {
	for _, l := range ls {
		g.FillURLs(l.Cover)
	}
}

// FillPhotos sets the URLs of every variant of ps.
func (g *Gallery) FillPhotos(ps []market.Photo) {
	for i := range ps {
		g.FillURLs(&ps[i])
	}
}

// Wake has the collector run a round now rather than at its next tick.
func (g *Gallery) Wake() {
	select {
	case g.wake <- struct{}{}:
	default:
	}
}

// Collect deletes the objects of deleted photos and failed uploads until
// ctx ends: a round when woken (after a deletion on this replica) and
// every CollectEvery (for other replicas' deletions, listings deleted by
// SQL, and retries). Every replica runs one; the rows they claim keep
// them from doing the same work twice.
func (g *Gallery) Collect(ctx context.Context) {
	t := time.NewTicker(g.every)
	defer t.Stop()
	for {
		if _, err := g.CollectOnce(ctx); err != nil && ctx.Err() == nil {
			g.logger.LogAttrs(ctx, slog.LevelWarn, "photo collector round failed", slog.String("err", err.Error()))
		}
		select {
		case <-ctx.Done():
			return
		case <-g.wake:
		case <-t.C:
		}
	}
}

// CollectOnce deletes every object that is due, in batches, and returns how
// many it deleted. An object the store fails to delete stays claimed and is
// retried after a pause that doubles each time.
func (g *Gallery) CollectOnce(ctx context.Context) (int, error) {
	const batch = 100
	deleted := 0
	for {
		gs, err := g.db.ClaimBlobGarbage(ctx, batch)
		if err != nil {
			return deleted, err
		}
		var done []string
		for _, x := range gs {
			if err := g.store.Delete(ctx, x.Key); err != nil {
				g.failed.Inc()
				g.logger.LogAttrs(ctx, slog.LevelWarn, "photo object not deleted; will retry",
					slog.String("key", x.Key), slog.Int("attempts", x.Attempts), slog.String("err", err.Error()))
				_ = g.db.NoteBlobGarbageError(ctx, x.Key, err.Error())
				continue
			}
			done = append(done, x.Key)
		}
		if len(done) > 0 {
			if err := g.db.ForgetBlobGarbage(ctx, done); err != nil {
				return deleted, err // deleted again next time: Delete of a missing key succeeds
			}
			deleted += len(done)
			g.deleted.Add(float64(len(done)))
		}
		if len(gs) < batch {
			return deleted, nil
		}
	}
}
