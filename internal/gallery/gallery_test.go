package gallery_test

import (
	"context"
	"errors"
	"io/fs"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/bazaarhq/bazaar/internal/blob"
	"github.com/bazaarhq/bazaar/internal/gallery"
	"github.com/bazaarhq/bazaar/internal/market"
	"github.com/bazaarhq/bazaar/internal/photo"
	"github.com/bazaarhq/bazaar/internal/photo/phototest"
	"github.com/bazaarhq/bazaar/internal/postgres"
	"github.com/bazaarhq/bazaar/internal/postgres/postgrestest"
)

func TestMain(m *testing.M) { postgrestest.Main(m) }

// flaky is a store that fails on demand: Put after okPuts successful
// ones, every Delete while down.
type flaky struct {
	blob.Store
	okPuts atomic.Int64 // puts left before Put fails; <0 never fails
	down   atomic.Bool  // Delete fails
}

var errDown = errors.New("store down")

func (f *flaky) Put(ctx context.Context, key string, data []byte, ct string) error {
	if f.okPuts.Load() == 0 {
		return errDown
	}
	f.okPuts.Add(-1)
	return f.Store.Put(ctx, key, data, ct)
}

func (f *flaky) Delete(ctx context.Context, key string) error {
	if f.down.Load() {
		return errDown
	}
	return f.Store.Delete(ctx, key)
}

// files lists the objects in dir (not temporary files).
func files(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			rel, _ := filepath.Rel(dir, p)
			out = append(out, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

type fixture struct {
	url   string
	db    *postgres.DB
	dir   string
	store *flaky
	g     *gallery.Gallery
	l     *market.Listing
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{url: postgrestest.NewURL(t), dir: t.TempDir()}
	f.db = postgrestest.Open(t, f.url)
	d, err := blob.NewDir(f.dir, "/media")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Close() })
	f.store = &flaky{Store: d}
	f.store.okPuts.Store(-1)
	f.g = gallery.New(gallery.Config{DB: f.db, Store: f.store, Processor: photo.NewProcessor(photo.Config{MaxDecodes: 1})})
	f.l = &market.Listing{Name: "Teapot", Price: market.Money{Cents: 1200, Currency: "USD"}, Quantity: 1}
	if err := f.db.CreateListing(context.Background(), f.l); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *fixture) garbage(t *testing.T) int64 {
	t.Helper()
	n, err := f.db.CountBlobGarbage(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestAddAndDelete(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	p, err := f.g.Add(ctx, f.l.ID, phototest.JPEG(phototest.Quadrants(1000, 600)))
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Variants) != 3 || p.Variants[0].Width != 320 || p.Variants[1].Width != 800 || p.Variants[2].Width != 1000 {
		t.Fatalf("variants %+v, want 320, 800 and the upload's own 1000 wide (never upscaled to 1600)", p.Variants)
	}
	for _, v := range p.Variants {
		if !strings.HasPrefix(v.URL, "/media/") || !blob.ValidKey(v.Key) {
			t.Errorf("variant %+v: bad URL or key", v)
		}
	}
	if got := files(t, f.dir); len(got) != 3 {
		t.Fatalf("files %v, want the 3 variants", got)
	}
	if n := f.garbage(t); n != 0 {
		t.Fatalf("%d garbage rows after a successful upload", n)
	}
	if err := f.db.DeletePhoto(ctx, f.l.ID, p.ID); err != nil {
		t.Fatal(err)
	}
	if n, err := f.g.CollectOnce(ctx); err != nil || n != 3 {
		t.Fatalf("collected %d, %v; want 3", n, err)
	}
	if got := files(t, f.dir); len(got) != 0 {
		t.Fatalf("files %v left after the photo was deleted", got)
	}
	if n := f.garbage(t); n != 0 {
		t.Fatalf("%d garbage rows after collection", n)
	}
}

// TestStoreDownHalfway: a store failing after the first of an upload's
// objects leaves no photo row, and the collector removes the object that
// was written.
func TestStoreDownHalfway(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	f.store.okPuts.Store(1)
	_, err := f.g.Add(ctx, f.l.ID, phototest.JPEG(phototest.Quadrants(1000, 600)))
	if market.ErrorCode(err) != market.EUNAVAILABLE {
		t.Fatalf("err = %v, want EUNAVAILABLE", err)
	}
	if ps, _ := f.db.ListingPhotos(ctx, f.l.ID); len(ps) != 0 {
		t.Fatalf("a photo row points at objects that were not all written: %+v", ps)
	}
	if got := files(t, f.dir); len(got) != 1 {
		t.Fatalf("files %v, want the one written before the store failed", got)
	}
	if n, err := f.g.CollectOnce(ctx); err != nil || n != 3 {
		t.Fatalf("collected %d, %v; want all 3 keys (one object, two never written)", n, err)
	}
	if got := files(t, f.dir); len(got) != 0 {
		t.Fatalf("orphan left: %v", got)
	}
	if n := f.garbage(t); n != 0 {
		t.Fatalf("%d garbage rows left", n)
	}
}

// TestStoreDownWhileDeleting: deleting a listing while the store is down
// keeps its keys as garbage, retried, and they go once the store is back.
func TestStoreDownWhileDeleting(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	for range 2 {
		if _, err := f.g.Add(ctx, f.l.ID, phototest.PNG(phototest.Quadrants(400, 300))); err != nil {
			t.Fatal(err)
		}
	}
	if got := files(t, f.dir); len(got) != 4 {
		t.Fatalf("files %v, want 2 photos × 2 sizes", got)
	}
	if err := f.db.DeleteListing(ctx, f.l.SellerID, f.l.ID); err != nil {
		t.Fatal(err)
	}
	f.store.down.Store(true)
	if n, err := f.g.CollectOnce(ctx); err != nil || n != 0 {
		t.Fatalf("collected %d, %v with the store down", n, err)
	}
	if n := f.garbage(t); n != 4 {
		t.Fatalf("%d garbage rows, want 4 kept for retry", n)
	}
	f.store.down.Store(false)
	// Not due yet: the retry waits.
	if n, _ := f.g.CollectOnce(ctx); n != 0 {
		t.Fatalf("retried %d before the pause", n)
	}
	pool := postgrestest.Pool(t, f.url)
	if _, err := pool.Exec(ctx, `UPDATE blob_garbage SET due_at = now()`); err != nil {
		t.Fatal(err)
	}
	if n, err := f.g.CollectOnce(ctx); err != nil || n != 4 {
		t.Fatalf("collected %d, %v; want 4", n, err)
	}
	if got := files(t, f.dir); len(got) != 0 {
		t.Fatalf("orphans left: %v", got)
	}
}
