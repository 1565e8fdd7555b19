package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/bazaarhq/bazaar/internal/market"
	"github.com/jackc/pgx/v5"
)

// Photos and the objects behind them. The protocol that keeps rows and
// objects consistent whatever fails is described in migration 00007: an
// upload's keys are entered as garbage first (ReserveBlobs), then written,
// then taken back in the transaction that inserts the photo (AddPhoto);
// deleting a photo or its listing enters its keys as garbage by trigger,
// and the collector (internal/gallery) deletes them from the store.

// ReserveBlobs enters keys in blob_garbage, due after hold: if the upload
// they belong to does not reach AddPhoto, the collector deletes whatever
// of them was written once hold has passed.
func (db *DB) ReserveBlobs(ctx context.Context, keys []string, hold time.Duration) error {
	_, err := db.pool.Exec(ctx, `
		INSERT INTO blob_garbage (key, due_at) SELECT k, now() + $2::interval FROM unnest($1::text[]) AS k`,
		keys, hold)
	return translate(err)
}

// ReleaseBlobs makes reserved keys due now, after an upload failed for
// good, so the collector deletes what was written without waiting for the
// reservation to run out.
func (db *DB) ReleaseBlobs(ctx context.Context, keys []string) error {
	_, err := db.pool.Exec(ctx, `UPDATE blob_garbage SET due_at = now() WHERE key = ANY($1) AND attempts = 0`, keys)
	return translate(err)
}

// errReservationLost is an upload whose reservation the collector has
// claimed meanwhile (it took longer than its hold): its objects may be
// deleted already, so no row may point at them.
var errReservationLost = market.Errorf(market.EUNAVAILABLE, "The upload took too long. Please try again.")

// AddPhoto adds p, whose variants were reserved and written, as the last
// photo of listing p.ListingID, and fills in its ID, Position and
// CreatedAt. The listing's row is locked, so concurrent uploads to one
// listing count each other; the eleventh photo is ErrTooManyPhotos.
func (db *DB) AddPhoto(ctx context.Context, p *market.Photo) error {
	keys := make([]string, len(p.Variants))
	for i, v := range p.Variants {
		keys[i] = v.Key
	}
	return db.inTx(ctx, func(tx pgx.Tx) error {
		n, err := lockPhotos(ctx, tx, p.ListingID)
		if err != nil {
			return err
		}
		if n >= market.MaxPhotos {
			return market.ErrTooManyPhotos
		}
		p.Position = n
		if err := tx.QueryRow(ctx, `
			INSERT INTO listing_photos (listing_id, position, width, height) VALUES ($1, $2, $3, $4)
			RETURNING id, created_at`, p.ListingID, p.Position, p.Width, p.Height).Scan(&p.ID, &p.CreatedAt); err != nil {
			return err
		}
		rows := make([][]any, len(p.Variants))
		for i, v := range p.Variants {
			rows[i] = []any{p.ID, v.Width, v.Height, v.Key, v.ContentType}
		}
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"photo_variants"},
			[]string{"photo_id", "width", "height", "key", "content_type"}, pgx.CopyFromRows(rows)); err != nil {
			return err
		}
		// Take the reservations back, but only unclaimed ones: a claimed
		// key may be gone from the store already.
		tag, err := tx.Exec(ctx, `DELETE FROM blob_garbage WHERE key = ANY($1) AND attempts = 0`, keys)
		if err != nil {
			return err
		}
		if tag.RowsAffected() != int64(len(keys)) {
			return errReservationLost
		}
		return nil
	})
}

// lockPhotos locks the listing's row against other photo changes (FOR NO
// KEY UPDATE: edits of its fields wait, readers do not) and counts its
// photos. An unknown listing is ENOTFOUND.
func lockPhotos(ctx context.Context, tx pgx.Tx, listingID int64) (int, error) {
	// Two statements: a count in the locking statement would see the
	// snapshot from before it waited for the lock, and miss the photo
	// the previous holder added.
	var one int
	err := tx.QueryRow(ctx, `SELECT 1 FROM listings WHERE id = $1 FOR NO KEY UPDATE`, listingID).Scan(&one)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, market.Errorf(market.ENOTFOUND, "Listing not found.")
	} else if err != nil {
		return 0, err
	}
	var n int
	err = tx.QueryRow(ctx, `SELECT count(*) FROM listing_photos WHERE listing_id = $1`, listingID).Scan(&n)
	return n, err
}

// ListingPhotos returns the listing's photos in order, the cover first.
// A listing without photos, or an unknown one, has none.
func (db *DB) ListingPhotos(ctx context.Context, listingID int64) ([]market.Photo, error) {
	ps, err := photosWhere(ctx, db, `p.listing_id = $1`, listingID)
	return ps, translate(err)
}

// Photo returns one photo of a listing, or ENOTFOUND (also when the photo
// belongs to another listing).
func (db *DB) Photo(ctx context.Context, listingID, photoID int64) (*market.Photo, error) {
	ps, err := photosWhere(ctx, db, `p.listing_id = $1 AND p.id = $2`, listingID, photoID)
	if err != nil {
		return nil, translate(err)
	}
	if len(ps) == 0 {
		return nil, errPhotoNotFound
	}
	return &ps[0], nil
}

var errPhotoNotFound = market.Errorf(market.ENOTFOUND, "Photo not found.")

// fillCovers sets the Cover of each listing that has photos, in one query.
func (db *DB) fillCovers(ctx context.Context, ls []*market.Listing) error {
	if len(ls) == 0 {
		return nil
	}
	ids := make([]int64, len(ls))
	byID := make(map[int64]*market.Listing, len(ls))
	for i, l := range ls {
		ids[i] = l.ID
		byID[l.ID] = l
	}
	ps, err := photosWhere(ctx, db, `p.listing_id = ANY($1) AND p.position = 0`, ids)
	if err != nil {
		return err
	}
	for i := range ps {
		if l := byID[ps[i].ListingID]; l != nil {
			l.Cover = &ps[i]
		}
	}
	return nil
}

// photosWhere reads the photos matching cond, with their variants, ordered
// by listing and position.
func photosWhere(ctx context.Context, db *DB, cond string, args ...any) ([]market.Photo, error) {
	rows, _ := db.pool.Query(ctx, photosSQL+cond+photosOrder, args...)
	return scanPhotos(rows)
}

// photosSQL reads photos with their variants, up to its condition; then
// photosOrder.
const photosSQL = `
		SELECT p.id, p.listing_id, p.position, p.width, p.height, p.created_at, v.width, v.height, v.key, v.content_type
		FROM listing_photos p JOIN photo_variants v ON v.photo_id = p.id
		WHERE `

const photosOrder = `
		ORDER BY p.listing_id, p.position, v.width`

// scanPhotos reads photosSQL's rows: one per variant, grouped into photos.
func scanPhotos(rows pgx.Rows) ([]market.Photo, error) {
	var (
		ps []market.Photo
		p  market.Photo
		v  market.PhotoVariant
	)
	_, err := pgx.ForEachRow(rows, []any{&p.ID, &p.ListingID, &p.Position, &p.Width, &p.Height, &p.CreatedAt,
		&v.Width, &v.Height, &v.Key, &v.ContentType}, func() error {
		if n := len(ps); n == 0 || ps[n-1].ID != p.ID {
			ps = append(ps, p)
		}
		last := &ps[len(ps)-1]
		last.Variants = append(last.Variants, v)
		return nil
	})
	return ps, err
}

// DeletePhoto removes a photo of a listing and closes the gap in the
// positions; the photo after it becomes the cover if it was one. Its
// objects are entered as garbage by trigger, in the same transaction.
func (db *DB) DeletePhoto(ctx context.Context, listingID, photoID int64) error {
	return db.inTx(ctx, func(tx pgx.Tx) error {
		if _, err := lockPhotos(ctx, tx, listingID); err != nil {
			return err
		}
		var pos int
		err := tx.QueryRow(ctx, `DELETE FROM listing_photos WHERE id = $1 AND listing_id = $2 RETURNING position`,
			photoID, listingID).Scan(&pos)
		if errors.Is(err, pgx.ErrNoRows) {
			return errPhotoNotFound
		} else if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `UPDATE listing_photos SET position = position - 1 WHERE listing_id = $1 AND position > $2`,
			listingID, pos)
		return err
	})
}

// MovePhoto moves a photo of a listing to position pos (0 makes it the
// cover), shifting the photos in between by one. A position outside the
// listing's photos is EINVALID beside "position".
func (db *DB) MovePhoto(ctx context.Context, listingID, photoID int64, pos int) error {
	return db.inTx(ctx, func(tx pgx.Tx) error {
		n, err := lockPhotos(ctx, tx, listingID)
		if err != nil {
			return err
		}
		var from int
		err = tx.QueryRow(ctx, `SELECT position FROM listing_photos WHERE id = $1 AND listing_id = $2`,
			photoID, listingID).Scan(&from)
		if errors.Is(err, pgx.ErrNoRows) {
			return errPhotoNotFound
		} else if err != nil {
			return err
		}
		if err := market.CheckPhotoPosition(pos, n); err != nil {
			return err
		}
		if pos == from {
			return nil
		}
		// One statement: the photo goes to pos, those between shift by
		// one towards the gap it left (the unique constraint is checked at
		// commit).
		_, err = tx.Exec(ctx, `
			UPDATE listing_photos SET position = CASE
				WHEN id = $2 THEN $4::int
				WHEN $4::int < $3::int THEN position + 1
				ELSE position - 1 END
			WHERE listing_id = $1 AND position BETWEEN least($3::int, $4::int) AND greatest($3::int, $4::int)`,
			listingID, photoID, from, pos)
		return err
	})
}

// BlobGarbage is an object to delete from the photo store.
type BlobGarbage struct {
	Key string
	// Attempts counts the claims, this one included.
	Attempts int
}

// ClaimBlobGarbage claims up to n due keys for deletion: each is pushed
// back by a pause that doubles with every attempt (up to an hour), so a
// collector that dies, or a store that is down, leaves it to be tried
// again later, and other replicas' collectors skip it meanwhile.
func (db *DB) ClaimBlobGarbage(ctx context.Context, n int) ([]BlobGarbage, error) {
	rows, _ := db.pool.Query(ctx, `
		UPDATE blob_garbage g SET attempts = g.attempts + 1,
			due_at = now() + least(interval '1 hour', interval '5 seconds' * power(2, least(g.attempts, 20)))
		FROM (SELECT key FROM blob_garbage WHERE due_at <= now() ORDER BY due_at LIMIT $1 FOR UPDATE SKIP LOCKED) AS due
		WHERE g.key = due.key
		RETURNING g.key, g.attempts`, n)
	gs, err := pgx.CollectRows(rows, pgx.RowToStructByPos[BlobGarbage])
	return gs, translate(err)
}

// ForgetBlobGarbage removes keys whose objects are deleted.
func (db *DB) ForgetBlobGarbage(ctx context.Context, keys []string) error {
	_, err := db.pool.Exec(ctx, `DELETE FROM blob_garbage WHERE key = ANY($1) AND attempts > 0`, keys)
	return translate(err)
}

// NoteBlobGarbageError records why deleting key failed (for an operator
// reading the table); the key stays claimed until its next attempt.
func (db *DB) NoteBlobGarbageError(ctx context.Context, key, msg string) error {
	_, err := db.pool.Exec(ctx, `UPDATE blob_garbage SET error = left($2, 500) WHERE key = $1`, key, msg)
	return translate(err)
}

// CountBlobGarbage returns how many keys wait for deletion, due or not.
func (db *DB) CountBlobGarbage(ctx context.Context) (int64, error) {
	var n int64
	err := db.pool.QueryRow(ctx, `SELECT count(*) FROM blob_garbage`).Scan(&n)
	return n, translate(err)
}
