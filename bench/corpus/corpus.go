// Package corpus holds what the benchmarks seed beside `bazaar seed`'s
// listings, shared by make bench (bench/main.go) and the floors' tests
// (bench/floor), so both measure and test the same pages.
package corpus

// PhotosSQL gives the seeded listings photos as uploads through the app
// would (internal/gallery): all but every tenth listing has one to four,
// the first its cover, each stored in three sizes under content-hashed
// keys. Only the rows: the bench fetches pages, never the images. The
// same statements give every database the same photos, ids included.
var PhotosSQL = []string{
	`INSERT INTO listing_photos (listing_id, position, width, height)
	 SELECT l.id, p, 1600, 1200 FROM listings l, generate_series(0, 3) p
	 WHERE l.id % 10 <> 7 AND p < 4 - l.id % 4
	 ORDER BY l.id, p`,
	`INSERT INTO photo_variants (photo_id, width, height, key, content_type)
	 SELECT p.id, v.w, v.w * 3 / 4, left(h, 2) || '/' || h || '-' || right(h, 12) || '.jpg', 'image/jpeg'
	 FROM listing_photos p, (VALUES (320), (800), (1600)) v (w), md5(p.id || 'x' || v.w) h
	 ORDER BY p.id, v.w`,
}
