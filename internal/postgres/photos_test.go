package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/bazaarhq/bazaar/internal/market"
	"github.com/bazaarhq/bazaar/internal/postgres"
	"github.com/bazaarhq/bazaar/internal/postgres/postgrestest"
	"github.com/jackc/pgx/v5/pgxpool"
)

var photoSeq int

// newPhoto is a photo of listing id with two variants under fresh keys,
// reserved as an upload reserves them.
func newPhoto(t *testing.T, db *postgres.DB, listingID int64) *market.Photo {
	t.Helper()
	photoSeq++
	p := &market.Photo{ListingID: listingID, Width: 1000, Height: 750, Variants: []market.PhotoVariant{
		{Width: 320, Height: 240, Key: fmt.Sprintf("ab/k%d-320.jpg", photoSeq), ContentType: "image/jpeg"},
		{Width: 1000, Height: 750, Key: fmt.Sprintf("ab/k%d-1000.jpg", photoSeq), ContentType: "image/jpeg"},
	}}
	if err := db.ReserveBlobs(context.Background(), photoKeys(p), time.Hour); err != nil {
		t.Fatal(err)
	}
	return p
}

func photoKeys(ps ...*market.Photo) []string {
	var keys []string
	for _, p := range ps {
		for _, v := range p.Variants {
			keys = append(keys, v.Key)
		}
	}
	slices.Sort(keys)
	return keys
}

func garbage(t *testing.T, pool *pgxpool.Pool) []string {
	t.Helper()
	rows, err := pool.Query(context.Background(), `SELECT key FROM blob_garbage ORDER BY key`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var keys []string
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			t.Fatal(err)
		}
		keys = append(keys, k)
	}
	return keys
}

func positions(t *testing.T, db *postgres.DB, listingID int64) []int64 {
	t.Helper()
	ps, err := db.ListingPhotos(context.Background(), listingID)
	if err != nil {
		t.Fatal(err)
	}
	ids := make([]int64, len(ps))
	for i, p := range ps {
		if p.Position != i {
			t.Fatalf("photo %d has position %d at index %d", p.ID, p.Position, i)
		}
		ids[i] = p.ID
	}
	return ids
}

func TestPhotosLifecycle(t *testing.T) {
	ctx := context.Background()
	url := postgrestest.NewURL(t)
	db := postgrestest.Open(t, url)
	pool := postgrestest.Pool(t, url)
	l := &market.Listing{Name: "Jug", Price: market.Money{Cents: 500, Currency: "USD"}, Quantity: 1}
	if err := db.CreateListing(ctx, l); err != nil {
		t.Fatal(err)
	}

	var added []*market.Photo
	for i := range market.MaxPhotos {
		p := newPhoto(t, db, l.ID)
		if err := db.AddPhoto(ctx, p); err != nil {
			t.Fatalf("photo %d: %v", i+1, err)
		}
		if p.Position != i || p.ID == 0 {
			t.Fatalf("photo %d: position %d id %d", i+1, p.Position, p.ID)
		}
		added = append(added, p)
	}
	if g := garbage(t, pool); len(g) != 0 {
		t.Fatalf("recorded photos' keys are still reserved as garbage: %v", g)
	}
	t.Run("an eleventh photo is refused", func(t *testing.T) {
		p := newPhoto(t, db, l.ID)
		err := db.AddPhoto(ctx, p)
		if !errors.Is(err, market.ErrTooManyPhotos) || market.ErrorFields(err)["photo"] == "" {
			t.Fatalf("err = %v, want ErrTooManyPhotos beside photo", err)
		}
		// Its reservation stays for the collector.
		if g := garbage(t, pool); !slices.Equal(g, photoKeys(p)) {
			t.Fatalf("garbage %v, want the refused photo's keys %v", g, photoKeys(p))
		}
		if err := db.ReleaseBlobs(ctx, photoKeys(p)); err != nil {
			t.Fatal(err)
		}
		gs, err := db.ClaimBlobGarbage(ctx, 10)
		if err != nil || len(gs) != 2 {
			t.Fatalf("claim after release: %v, %v", gs, err)
		}
		if err := db.ForgetBlobGarbage(ctx, photoKeys(p)); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("the database refuses an eleventh too", func(t *testing.T) {
		_, err := pool.Exec(ctx, `INSERT INTO listing_photos (listing_id, position, width, height) VALUES ($1, 10, 1, 1)`, l.ID)
		if err == nil {
			t.Fatal("position 10 inserted")
		}
	})
	ids := positions(t, db, l.ID)
	t.Run("move and cover", func(t *testing.T) {
		if err := db.MovePhoto(ctx, l.ID, ids[1], 0); err != nil {
			t.Fatal(err)
		}
		want := append([]int64{ids[1], ids[0]}, ids[2:]...)
		if got := positions(t, db, l.ID); !slices.Equal(got, want) {
			t.Fatalf("after making the second the cover: %v, want %v", got, want)
		}
		if err := db.MovePhoto(ctx, l.ID, ids[1], 9); err != nil {
			t.Fatal(err)
		}
		want = append(append([]int64{ids[0]}, ids[2:]...), ids[1])
		if got := positions(t, db, l.ID); !slices.Equal(got, want) {
			t.Fatalf("after moving it last: %v, want %v", got, want)
		}
		ids = want
		for _, pos := range []int{-1, 10} {
			if err := db.MovePhoto(ctx, l.ID, ids[0], pos); market.ErrorFields(err)["position"] == "" {
				t.Errorf("position %d: %v, want a message beside position", pos, err)
			}
		}
		if err := db.MovePhoto(ctx, l.ID+1, ids[0], 0); market.ErrorCode(err) != market.ENOTFOUND {
			t.Errorf("another listing's photo moved: %v", err)
		}
	})
	t.Run("delete closes the gap and makes its keys garbage", func(t *testing.T) {
		var deleted *market.Photo
		for _, p := range added {
			if p.ID == ids[0] {
				deleted = p
			}
		}
		if err := db.DeletePhoto(ctx, l.ID, ids[0]); err != nil {
			t.Fatal(err)
		}
		if got := positions(t, db, l.ID); !slices.Equal(got, ids[1:]) {
			t.Fatalf("after deleting the cover: %v, want %v", got, ids[1:])
		}
		if g := garbage(t, pool); !slices.Equal(g, photoKeys(deleted)) {
			t.Fatalf("garbage %v, want %v", g, photoKeys(deleted))
		}
		if err := db.DeletePhoto(ctx, l.ID, ids[0]); market.ErrorCode(err) != market.ENOTFOUND {
			t.Fatalf("deleting again: %v, want ENOTFOUND", err)
		}
		gs, err := db.ClaimBlobGarbage(ctx, 10)
		if err != nil || len(gs) != 2 || gs[0].Attempts != 1 {
			t.Fatalf("claim: %+v, %v", gs, err)
		}
		if again, _ := db.ClaimBlobGarbage(ctx, 10); len(again) != 0 {
			t.Fatalf("claimed keys claimed again before their retry: %+v", again)
		}
		if err := db.ForgetBlobGarbage(ctx, photoKeys(deleted)); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("covers of a page of listings", func(t *testing.T) {
		page, err := db.Listings(ctx, market.ListingFilter{Limit: 10})
		if err != nil {
			t.Fatal(err)
		}
		if c := page.Listings[0].Cover; c == nil || c.ID != ids[1] || len(c.Variants) != 2 || c.Variants[0].Width != 320 {
			t.Fatalf("cover %+v, want photo %d with its two sizes", c, ids[1])
		}
	})
	t.Run("deleting the listing makes every key garbage", func(t *testing.T) {
		if err := db.DeleteListing(ctx, l.SellerID, l.ID); err != nil {
			t.Fatal(err)
		}
		if g := garbage(t, pool); len(g) != 2*(market.MaxPhotos-1) {
			t.Fatalf("%d keys are garbage, want %d", len(g), 2*(market.MaxPhotos-1))
		}
	})
}

// TestAddPhotoRacing: uploads racing to one listing never make more than
// ten photos or share a position.
func TestAddPhotoRacing(t *testing.T) {
	ctx := context.Background()
	db := postgrestest.NewDB(t)
	l := &market.Listing{Name: "Vase", Price: market.Money{Cents: 500, Currency: "USD"}, Quantity: 1}
	if err := db.CreateListing(ctx, l); err != nil {
		t.Fatal(err)
	}
	ps := make([]*market.Photo, 16)
	for i := range ps {
		ps[i] = newPhoto(t, db, l.ID)
	}
	var wg sync.WaitGroup
	errs := make([]error, len(ps))
	for i, p := range ps {
		wg.Go(func() { errs[i] = db.AddPhoto(ctx, p) })
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		switch {
		case err == nil:
			ok++
		case !errors.Is(err, market.ErrTooManyPhotos):
			t.Errorf("unexpected error: %v", err)
		}
	}
	if ok != market.MaxPhotos {
		t.Fatalf("%d uploads succeeded, want %d", ok, market.MaxPhotos)
	}
	positions(t, db, l.ID) // checks 0..9 in order
}

// TestReservationLost: an upload whose reservation the collector claimed
// (it took longer than its hold) is not recorded, since its objects may be
// gone already.
func TestReservationLost(t *testing.T) {
	ctx := context.Background()
	db := postgrestest.NewDB(t)
	l := &market.Listing{Name: "Bowl", Price: market.Money{Cents: 500, Currency: "USD"}, Quantity: 1}
	if err := db.CreateListing(ctx, l); err != nil {
		t.Fatal(err)
	}
	p := &market.Photo{ListingID: l.ID, Width: 10, Height: 10, Variants: []market.PhotoVariant{
		{Width: 10, Height: 10, Key: "cd/slow.jpg", ContentType: "image/jpeg"}}}
	if err := db.ReserveBlobs(ctx, photoKeys(p), -time.Second); err != nil { // already due
		t.Fatal(err)
	}
	if gs, err := db.ClaimBlobGarbage(ctx, 10); err != nil || len(gs) != 1 {
		t.Fatalf("claim: %v, %v", gs, err)
	}
	if err := db.AddPhoto(ctx, p); market.ErrorCode(err) != market.EUNAVAILABLE {
		t.Fatalf("AddPhoto after its reservation was claimed: %v, want EUNAVAILABLE", err)
	}
	if ps, _ := db.ListingPhotos(ctx, l.ID); len(ps) != 0 {
		t.Fatalf("a photo was recorded: %+v", ps)
	}
}
