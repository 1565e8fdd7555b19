package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bazaarhq/bazaar/internal/market"
	"github.com/bazaarhq/bazaar/internal/postgres"
	"github.com/bazaarhq/bazaar/internal/postgres/postgrestest"
	"github.com/jackc/pgx/v5"
)

func TestMain(m *testing.M) { postgrestest.Main(m) }

func str(s string) *string { return &s }

func newListing(name string) *market.Listing {
	return &market.Listing{Name: name, Description: "d", Price: market.Money{Cents: 1250}, Quantity: 3}
}

func TestCreateAndGetListing(t *testing.T) {
	db := postgrestest.NewDB(t)
	ctx := context.Background()
	l := &market.Listing{Name: "  Lamp  ", Description: "Brass", Price: market.Money{Cents: 1250}, Quantity: 2}
	if err := db.CreateListing(ctx, l); err != nil {
		t.Fatal(err)
	}
	if l.ID == 0 || l.CreatedAt.IsZero() {
		t.Fatalf("id/created_at not filled: %+v", l)
	}
	got, err := db.Listing(ctx, l.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Name != "Lamp" || got.Price != (market.Money{Cents: 1250, Currency: "USD"}) || got.Quantity != 2 || got.Description != "Brass" {
		t.Errorf("got %+v", got)
	}
	if _, err := db.Listing(ctx, l.ID+1000); market.ErrorCode(err) != market.ENOTFOUND {
		t.Errorf("missing listing: err = %v, want not_found", err)
	}
}

func TestCreateListingInvalidWritesNothing(t *testing.T) {
	db := postgrestest.NewDB(t)
	ctx := context.Background()
	err := db.CreateListing(ctx, &market.Listing{Name: "", Price: market.Money{Cents: 0}, Quantity: -1})
	if market.ErrorCode(err) != market.EINVALID {
		t.Fatalf("err = %v, want invalid", err)
	}
	for _, f := range []string{"name", "price", "quantity"} {
		if market.ErrorFields(err)[f] == "" {
			t.Errorf("no message for %s: %v", f, err)
		}
	}
	if n, _ := db.CountListings(ctx); n != 0 {
		t.Errorf("count = %d after invalid create", n)
	}
}

func TestDatabaseConstraintsBackTheDomain(t *testing.T) {
	pool := postgrestest.Pool(t, postgrestest.NewURL(t))
	_, err := pool.Exec(context.Background(),
		`INSERT INTO listings (name, price_cents, quantity) VALUES ('x', 0, 1)`)
	if err == nil {
		t.Fatal("database accepted a zero price")
	}
}

func TestListingsPagination(t *testing.T) {
	db := postgrestest.NewDB(t)
	ctx := context.Background()
	var ids []int64
	for i := range 7 {
		l := newListing(fmt.Sprintf("item %d", i))
		if err := db.CreateListing(ctx, l); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, l.ID)
	}
	// ids[6] is newest.
	names := func(p *market.ListingPage) string {
		var s []string
		for _, l := range p.Listings {
			s = append(s, strings.TrimPrefix(l.Name, "item "))
		}
		return strings.Join(s, ",")
	}
	p1, err := db.Listings(ctx, market.ListingFilter{Limit: 3})
	if err != nil {
		t.Fatal(err)
	}
	if names(p1) != "6,5,4" || p1.PrevAfter != 0 || p1.NextBefore != ids[4] {
		t.Fatalf("page 1 = %s prev=%d next=%d", names(p1), p1.PrevAfter, p1.NextBefore)
	}
	p2, _ := db.Listings(ctx, market.ListingFilter{Limit: 3, Before: p1.NextBefore})
	if names(p2) != "3,2,1" || p2.PrevAfter != ids[3] || p2.NextBefore != ids[1] {
		t.Fatalf("page 2 = %s prev=%d next=%d", names(p2), p2.PrevAfter, p2.NextBefore)
	}
	p3, _ := db.Listings(ctx, market.ListingFilter{Limit: 3, Before: p2.NextBefore})
	if names(p3) != "0" || p3.NextBefore != 0 || p3.PrevAfter != ids[0] {
		t.Fatalf("page 3 = %s prev=%d next=%d", names(p3), p3.PrevAfter, p3.NextBefore)
	}
	back, _ := db.Listings(ctx, market.ListingFilter{Limit: 3, After: p3.PrevAfter})
	if names(back) != "3,2,1" || back.NextBefore != ids[1] || back.PrevAfter != ids[3] {
		t.Fatalf("back from 3 = %s prev=%d next=%d", names(back), back.PrevAfter, back.NextBefore)
	}
	top, _ := db.Listings(ctx, market.ListingFilter{Limit: 3, After: back.PrevAfter})
	if names(top) != "6,5,4" || top.PrevAfter != 0 {
		t.Fatalf("back to top = %s prev=%d", names(top), top.PrevAfter)
	}
}

func TestUpdateListing(t *testing.T) {
	db := postgrestest.NewDB(t)
	ctx := context.Background()
	l := newListing("Chair")
	if err := db.CreateListing(ctx, l); err != nil {
		t.Fatal(err)
	}
	q := market.ListingInput{Quantity: str("9")}
	got, err := db.UpdateListing(ctx, 0, l.ID, q, 0)
	if err != nil {
		t.Fatal(err)
	}
	if got.Quantity != 9 || got.Name != "Chair" || !got.UpdatedAt.After(l.UpdatedAt) {
		t.Errorf("after update: %+v", got)
	}
	if _, err := db.UpdateListing(ctx, 0, l.ID, market.ListingInput{Name: str("")}, 0); market.ErrorCode(err) != market.EINVALID {
		t.Errorf("empty name: err = %v", err)
	}
	again, _ := db.Listing(ctx, l.ID)
	if again.Name != "Chair" {
		t.Errorf("invalid update changed the row: %+v", again)
	}
	if _, err := db.UpdateListing(ctx, 0, l.ID+99, q, 0); market.ErrorCode(err) != market.ENOTFOUND {
		t.Errorf("update missing: err = %v", err)
	}
	same, err := db.UpdateListing(ctx, 0, l.ID, market.ListingInput{}, 0)
	if err != nil || !same.UpdatedAt.Equal(got.UpdatedAt) {
		t.Errorf("empty patch: updated_at %v -> %v (err %v); want unchanged", got.UpdatedAt, same.UpdatedAt, err)
	}
	if _, err := db.UpdateListing(ctx, 0, l.ID+99, market.ListingInput{}, 0); market.ErrorCode(err) != market.ENOTFOUND {
		t.Errorf("empty patch of a missing listing: err = %v", err)
	}
}

// TestConcurrentUpdatesDoNotLoseWrites: writers that change DIFFERENT
// fields of one listing at the same moment must all see their change
// survive. UpdateListing reads the whole row, applies the patch and writes
// the whole row back; without the row lock (FOR UPDATE) two of them read
// the same old row and the later write silently restores the field the
// earlier one changed. (Writers of one field would pass without the lock,
// since any of their values is a "right" answer.)
func TestConcurrentUpdatesDoNotLoseWrites(t *testing.T) {
	db := postgrestest.NewDB(t)
	ctx := context.Background()
	l := newListing("Counter")
	if err := db.CreateListing(ctx, l); err != nil {
		t.Fatal(err)
	}
	for round := 1; round <= 20; round++ {
		name, desc := fmt.Sprintf("name %d", round), fmt.Sprintf("description %d", round)
		price, qty, cur := int64(1000+round), round, []string{"EUR", "GBP"}[round%2]
		patches := []market.ListingInput{{Name: &name}, {Description: &desc}, {PriceCents: str(strconv.FormatInt(price, 10))},
			{Quantity: str(strconv.Itoa(qty))}, {Currency: &cur}}
		var wg sync.WaitGroup
		start := make(chan struct{})
		for _, p := range patches {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start // all writers leave together
				if _, err := db.UpdateListing(ctx, 0, l.ID, p, 0); err != nil {
					t.Error(err)
				}
			}()
		}
		close(start)
		wg.Wait()
		got, err := db.Listing(ctx, l.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Name != name || got.Description != desc || got.Price.Cents != price || got.Quantity != qty || got.Price.Currency != cur {
			t.Fatalf("round %d: a concurrent write was lost: got name=%q description=%q price=%d quantity=%d currency=%s; "+
				"want %q %q %d %d %s", round, got.Name, got.Description, got.Price.Cents, got.Quantity, got.Price.Currency,
				name, desc, price, qty, cur)
		}
	}
}

func TestDeleteListing(t *testing.T) {
	db := postgrestest.NewDB(t)
	ctx := context.Background()
	l := newListing("Gone")
	if err := db.CreateListing(ctx, l); err != nil {
		t.Fatal(err)
	}
	if err := db.DeleteListing(ctx, 0, l.ID); err != nil {
		t.Fatal(err)
	}
	if err := db.DeleteListing(ctx, 0, l.ID); market.ErrorCode(err) != market.ENOTFOUND {
		t.Errorf("second delete: %v", err)
	}
}

func TestMigrateIsIdempotentAndReadyChecksSchema(t *testing.T) {
	ctx := context.Background()
	url := postgrestest.NewURL(t)
	res, err := postgres.Migrate(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Applied) != 0 || res.To != postgres.LatestVersion() {
		t.Errorf("re-migrate applied %v, to=%d", res.Applied, res.To)
	}
	db := postgrestest.Open(t, url)
	if err := db.Ready(ctx); err != nil {
		t.Errorf("ready on migrated db: %v", err)
	}
	if _, err := postgrestest.Pool(t, url).Exec(ctx, `DELETE FROM goose_db_version WHERE version_id = $1`, postgres.LatestVersion()); err != nil {
		t.Fatal(err)
	}
	if err := db.Ready(ctx); market.ErrorCode(err) != market.EUNAVAILABLE || !strings.Contains(err.Error(), "migrate") {
		t.Errorf("ready on old schema: %v", err)
	}
}

// TestRunsOnNewerSchema: after a later release migrated the database (an
// expand step: a new table, a new column on listings), this binary is still
// ready, reads and writes listings, and its own migrate is a no-op, so a
// rolling update or a rollback keeps serving.
func TestRunsOnNewerSchema(t *testing.T) {
	ctx := context.Background()
	url := postgrestest.NewURL(t)
	newer := postgrestest.ApplyNewerMigration(t, url, `
		CREATE TABLE newer_release (id bigint PRIMARY KEY);
		ALTER TABLE listings ADD COLUMN colour text NOT NULL DEFAULT 'none';`)
	db, err := postgres.Open(ctx, url, postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if v, err := db.SchemaVersion(ctx); err != nil || v != newer {
		t.Fatalf("schema version = %d, %v; want %d", v, err, newer)
	}
	if err := db.Ready(ctx); err != nil {
		t.Errorf("Ready on a newer schema = %v, want nil", err)
	}
	l := newListing("Lamp")
	if err := db.CreateListing(ctx, l); err != nil {
		t.Fatalf("create on a newer schema: %v", err)
	}
	if _, err := db.Listing(ctx, l.ID); err != nil {
		t.Errorf("read on a newer schema: %v", err)
	}
	res, err := postgres.Migrate(ctx, url)
	if err != nil || len(res.Applied) != 0 || res.To != newer {
		t.Errorf("this binary's migrate on a newer schema: %+v, %v; want a no-op at %d", res, err, newer)
	}
}

func TestInsertListings(t *testing.T) {
	db := postgrestest.NewDB(t)
	ctx := context.Background()
	ls := []*market.Listing{newListing("a"), newListing("b")}
	if n, err := db.InsertListings(ctx, ls); err != nil || n != 2 {
		t.Fatalf("n=%d err=%v", n, err)
	}
	if n, _ := db.CountListings(ctx); n != 2 {
		t.Errorf("count = %d", n)
	}
}

// TestInTxRollsBackAndTranslatesOnce: a failure after a first write undoes
// it, and the error leaves in market's words, whether fn returned a driver
// error or a market error of its own.
func TestInTxRollsBackAndTranslatesOnce(t *testing.T) {
	db := postgrestest.NewDB(t)
	ctx := context.Background()
	insert := func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO listings (name, price_cents, quantity) VALUES ('first write', 100, 1)`)
		return err
	}
	for _, tt := range []struct {
		name string
		then func(tx pgx.Tx) error
		code string
	}{
		{"driver error", func(tx pgx.Tx) error {
			_, err := tx.Exec(ctx, `SELECT * FROM listings WHERE id = 'x'`) // invalid_text_representation
			return err
		}, market.EINVALID},
		{"market error", func(pgx.Tx) error { return market.Errorf(market.ECONFLICT, "Changed meanwhile.") }, market.ECONFLICT},
		{"no rows", func(tx pgx.Tx) error { return tx.QueryRow(ctx, `SELECT 1 WHERE false`).Scan(new(int)) }, market.ENOTFOUND},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := db.InTx(ctx, func(tx pgx.Tx) error {
				if err := insert(tx); err != nil {
					return err
				}
				return tt.then(tx)
			})
			if market.ErrorCode(err) != tt.code {
				t.Errorf("err = %v, want code %s", err, tt.code)
			}
			if n, _ := db.CountListings(ctx); n != 0 {
				t.Errorf("count = %d after a failed transaction, want 0", n)
			}
		})
	}
	if err := db.InTx(ctx, insert); err != nil {
		t.Fatal(err)
	}
	if n, _ := db.CountListings(ctx); n != 1 {
		t.Errorf("count = %d after a committed transaction, want 1", n)
	}
}

// TestStaleUpdateWritesNothing: a change based on a version that is no
// longer current is refused with ErrStale and changes nothing; one based
// on the current version succeeds and moves the version on.
func TestStaleUpdateWritesNothing(t *testing.T) {
	db := postgrestest.NewDB(t)
	ctx := context.Background()
	l := newListing("Lamp")
	if err := db.CreateListing(ctx, l); err != nil {
		t.Fatal(err)
	}
	if l.Version != 1 {
		t.Fatalf("new listing has version %d, want 1", l.Version)
	}
	v2, err := db.UpdateListing(ctx, 0, l.ID, market.ListingInput{Quantity: str("7")}, 1)
	if err != nil || v2.Version != 2 || v2.Quantity != 7 {
		t.Fatalf("update based on the current version: %+v, %v; want version 2, quantity 7", v2, err)
	}
	for _, tt := range []struct {
		name    string
		in      market.ListingInput
		version int64
	}{
		{"stale", market.ListingInput{Quantity: str("3")}, 1},
		{"stale, nothing to change", market.ListingInput{}, 1},
		{"no version of ours", market.ListingInput{Name: str("Other")}, -1},
		{"a future version", market.ListingInput{Name: str("Other")}, 3},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := db.UpdateListing(ctx, 0, l.ID, tt.in, tt.version)
			if !errors.Is(err, market.ErrStale) || market.ErrorCode(err) != market.ECONFLICT {
				t.Errorf("err = %v, want ErrStale", err)
			}
			if got, _ := db.Listing(ctx, l.ID); *got != *v2 {
				t.Errorf("a stale update changed the listing: %+v, was %+v", got, v2)
			}
		})
	}
	if _, err := db.UpdateListing(ctx, 0, l.ID+99, market.ListingInput{Quantity: str("1")}, 1); market.ErrorCode(err) != market.ENOTFOUND {
		t.Errorf("stale check on a missing listing: %v, want not found first", err)
	}
}

// TestVersionBumpedByAnyWriter: the version moves with every UPDATE,
// whoever writes it (a previous release's binary does not know the
// column), so such a write still makes older versions stale.
func TestVersionBumpedByAnyWriter(t *testing.T) {
	url := postgrestest.NewURL(t)
	db := postgrestest.Open(t, url)
	ctx := context.Background()
	l := newListing("Lamp")
	if err := db.CreateListing(ctx, l); err != nil {
		t.Fatal(err)
	}
	if _, err := postgrestest.Pool(t, url).Exec(ctx, `UPDATE listings SET quantity = 0 WHERE id = $1`, l.ID); err != nil {
		t.Fatal(err)
	}
	got, err := db.Listing(ctx, l.ID)
	if err != nil || got.Version != 2 {
		t.Fatalf("after a plain UPDATE: version %d (%v), want 2", got.Version, err)
	}
	if _, err := db.UpdateListing(ctx, 0, l.ID, market.ListingInput{Quantity: str("5")}, 1); !errors.Is(err, market.ErrStale) {
		t.Errorf("update based on version 1 after another writer: %v, want ErrStale", err)
	}
}

// notices records what a Listen hears.
type notices struct {
	listening chan struct{}
	heard     chan string
}

func (n *notices) Listening()         { close(n.listening) }
func (n *notices) Lost(error)         {}
func (n *notices) Notify(with string) { n.heard <- with }

// TestListingChangesAnnounced: an edit, a stock change and a delete are
// announced on ListingsChannel with the listing's id, in commit order; an
// insert is not (migration 00009: lists expire instead).
func TestListingChangesAnnounced(t *testing.T) {
	db := postgrestest.NewDB(t)
	ctx, cancel := context.WithCancel(context.Background())
	n := &notices{listening: make(chan struct{}), heard: make(chan string, 16)}
	done := make(chan struct{})
	go func() { defer close(done); db.Listen(ctx, map[string]postgres.Listener{postgres.ListingsChannel: n}) }()
	t.Cleanup(func() { cancel(); <-done })
	<-n.listening

	l := newListing("Brass lamp")
	if err := db.CreateListing(context.Background(), l); err != nil {
		t.Fatal(err)
	}
	id := strconv.FormatInt(l.ID, 10)
	if _, err := db.UpdateListing(context.Background(), 0, l.ID, market.ListingInput{Quantity: str("1")}, 0); err != nil {
		t.Fatal(err)
	}
	if err := db.DeleteListing(context.Background(), 0, l.ID); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"update " + id, "delete " + id} {
		select {
		case got := <-n.heard:
			if got != want {
				t.Fatalf("heard %q, want %q (an insert must not be announced)", got, want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("no notice %q after 10s", want)
		}
	}
}
