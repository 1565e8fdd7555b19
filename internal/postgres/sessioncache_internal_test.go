package postgres

import (
	"crypto/md5" // #nosec G501 -- a cache key, as in sessioncache.go
	"encoding/hex"
	"testing"
	"time"

	"github.com/bazaarhq/bazaar/internal/market"
)

func entry(userID int64) sessionEntry {
	e := sessionEntry{data: []byte("d"), expiry: time.Now().Add(time.Hour), stored: time.Now()}
	if userID != 0 {
		e.user = &market.User{ID: userID}
	}
	return e
}

func TestSessionCacheRules(t *testing.T) {
	now := time.Now()
	k1, k2, k3 := sessionKey("one"), sessionKey("two"), sessionKey("three")
	c := newSessionCache(2)

	// Off until listening: nothing is stored or served.
	gen, live := c.generation()
	c.put(k1, gen, entry(1))
	if _, ok := c.get(k1, now); ok || live {
		t.Fatal("served or stored while not listening")
	}
	c.Listening()

	// A read that began before something was forgotten is not stored.
	gen, _ = c.generation()
	c.forget("unrelated")
	c.put(k1, gen, entry(1))
	if _, ok := c.get(k1, now); ok {
		t.Fatal("stored a read that began before a forget")
	}

	// Bounded in entries.
	gen, _ = c.generation()
	c.put(k1, gen, entry(1))
	c.put(k2, gen, entry(2))
	c.put(k3, gen, entry(3))
	if n := len(c.entries); n != 2 {
		t.Fatalf("%d entries, want at most 2", n)
	}

	// Expired, or older than sessionMaxAge: not served.
	c.entries[k1] = entry(1)
	if _, ok := c.get(k1, now.Add(2*time.Hour)); ok {
		t.Fatal("served past the session's expiry")
	}
	c.entries[k1] = entry(1)
	if _, ok := c.get(k1, now.Add(sessionMaxAge+time.Second)); ok {
		t.Fatal("served past sessionMaxAge")
	}

	// Notices: a token's MD5 forgets that session, a user theirs, anything
	// else everything.
	fill := func() {
		clear(c.entries)
		c.entries[k1], c.entries[k2], c.entries[k3] = entry(1), entry(2), entry(0)
	}
	sum := md5.Sum([]byte("one")) // #nosec G401 -- as in sessioncache.go
	for _, tc := range []struct {
		payload string
		left    [][md5.Size]byte
	}{
		{"token " + hex.EncodeToString(sum[:]), [][md5.Size]byte{k2, k3}},
		{"user 2", [][md5.Size]byte{k1, k3}},
		{"user 9", [][md5.Size]byte{k1, k2, k3}},
		{"flush", nil},
		{"token nothex", nil},
		{"user x", nil},
	} {
		fill()
		before := c.gen
		c.Notify(tc.payload)
		if c.gen == before {
			t.Errorf("%q: generation not bumped", tc.payload)
		}
		if len(c.entries) != len(tc.left) {
			t.Errorf("%q: %d entries left, want %d", tc.payload, len(c.entries), len(tc.left))
		}
		for _, k := range tc.left {
			if _, ok := c.entries[k]; !ok {
				t.Errorf("%q: dropped an entry it does not name", tc.payload)
			}
		}
	}

	// Lost: off and empty.
	fill()
	c.Lost(nil)
	if _, ok := c.get(k2, now); ok || len(c.entries) != 0 {
		t.Fatal("served or kept entries after the listener was lost")
	}
}
