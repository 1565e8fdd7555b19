package market

import (
	"strconv"
	"time"
)

// MaxPhotos is how many photos a listing may have. The database enforces
// it too (positions 0 to 9, unique per listing).
const MaxPhotos = 10

// Photo is one picture of a listing, stored as a few re-encoded sizes.
// Photos are ordered by Position from 0; the first is the cover, the one
// cards show.
type Photo struct {
	ID        int64
	ListingID int64
	Position  int
	// Width and Height are the upload's, after its EXIF orientation.
	Width     int
	Height    int
	Variants  []PhotoVariant // ascending width; the last is the largest
	CreatedAt time.Time
}

// Cover reports whether p is its listing's cover.
func (p *Photo) Cover() bool { return p.Position == 0 }

// PhotoVariant is one stored size of a photo: an immutable object under a
// content-hashed key. URL is where browsers fetch it; the store leaves it
// empty and the web layer fills it from the photo store's base URL.
type PhotoVariant struct {
	Width       int
	Height      int
	Key         string
	ContentType string
	URL         string
}

// ErrTooManyPhotos refuses an eleventh photo, beside the photo field.
var ErrTooManyPhotos = &Error{
	Code:    EINVALID,
	Message: "A listing can have at most 10 photos.",
	Fields:  map[string]string{"photo": "A listing can have at most 10 photos; delete one to add another."},
}

// CheckPhotoPosition reports a position outside 0..n-1 for a listing with n
// photos, beside the position field.
func CheckPhotoPosition(pos, n int) error {
	if pos < 0 || pos >= n {
		p := Problems{}
		if n == 1 {
			p.Add("position", "This listing has one photo; its position is 0.")
		} else {
			p.Add("position", "Position must be a whole number from 0 to "+strconv.Itoa(n-1)+".")
		}
		return p.Err()
	}
	return nil
}
