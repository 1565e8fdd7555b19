// Package blob stores immutable objects (photo files) under short keys,
// behind one small interface with two implementations: a directory, which
// nginx serves directly, and an S3-compatible bucket. Keys are content
// hashes, so an object never changes once written; Put of an existing key
// simply writes the same bytes again.
package blob

import (
	"context"
	"io"
	"strings"

	"github.com/bazaarhq/bazaar/internal/market"
)

// Store is where objects live. Implementations are safe for concurrent use.
type Store interface {
	// Put stores data under key, atomically: a reader sees the whole
	// object or none of it.
	Put(ctx context.Context, key string, data []byte, contentType string) error
	// Open returns the object's bytes, or a market.ENOTFOUND error.
	Open(ctx context.Context, key string) (io.ReadCloser, error)
	// Delete removes the object. Deleting a missing key is not an error,
	// so a retried cleanup converges.
	Delete(ctx context.Context, key string) error
	// URL is where a browser fetches the object (not through Go).
	URL(key string) string
}

// CacheControl is sent with every object: keys are content hashes, so an
// object at a URL never changes.
const CacheControl = "public, max-age=31536000, immutable"

// MaxKeyLen bounds a key's length.
const MaxKeyLen = 200

// ValidKey reports whether key is safe as both a relative file path and an
// object name: one to four segments separated by '/', each starting with a
// lower-case letter or digit and holding only [a-z0-9._-]. That rules out
// "..", absolute paths, empty segments, hidden files and anything a shell,
// a URL or nginx would treat specially.
func ValidKey(key string) bool {
	if key == "" || len(key) > MaxKeyLen {
		return false
	}
	segs := strings.Split(key, "/")
	if len(segs) > 4 {
		return false
	}
	for _, s := range segs {
		if s == "" || !isLowerAlnum(s[0]) || strings.Contains(s, "..") {
			return false
		}
		for i := 1; i < len(s); i++ {
			if c := s[i]; !isLowerAlnum(c) && c != '.' && c != '_' && c != '-' {
				return false
			}
		}
	}
	return true
}

func isLowerAlnum(c byte) bool { return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' }

func checkKey(key string) error {
	if !ValidKey(key) {
		return market.Errorf(market.EINTERNAL, "blob: unsafe key %q", key)
	}
	return nil
}

func notFound(key string) error {
	return market.Errorf(market.ENOTFOUND, "blob: %s not found", key)
}
