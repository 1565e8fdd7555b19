package postgres

import (
	"crypto/md5" // #nosec G501 -- a cache key and the notices' name for a token, not a protection
	"encoding/hex"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/bazaarhq/bazaar/internal/market"
)

// SessionsChannel is the channel on which the database announces every
// change that could make a remembered session wrong (migration 00010), in
// the writing transaction like ListingsChannel. Payloads:
//
//	token <md5>  the session whose token has this MD5 (hex) changed or ended
//	user <id>    user id changed or is gone
//	anything else, such as "flush": assume everything changed
const SessionsChannel = "bazaar_sessions"

// sessionCacheEntries bounds the session cache; a full cache forgets an
// arbitrary entry per new one. An entry is about 300 bytes.
const sessionCacheEntries = 10000

// sessionMaxAge bounds how long a session is remembered, whatever was or
// was not heard: a backstop, not what keeps the cache correct.
const sessionMaxAge = 30 * time.Second

// sessionCache remembers live sessions (scs's data, expiry and the user
// the token was recorded for) by the MD5 of their token, so that a
// signed-in request that shows no page (a form's POST, an API call) costs
// the database no session query: on POST /listings that was one of its
// two statements (issue 13). It is correct across replicas the way the
// page cache is (internal/web, pagecache.go):
//
//   - The database announces every change to a live session, to the
//     mapping of tokens to users, and to users (SessionsChannel); each
//     replica listens on its connection for changes (Listen) and forgets
//     what changed as soon as the notice arrives, milliseconds after the
//     commit. This replica's own writes are forgotten at once, too.
//   - The cache is off (every request reads the database, nothing is
//     stored) from the moment that connection fails until a new one
//     listens, and it is emptied then: a notice sent meanwhile is lost.
//   - A session read before a notice is not stored after it: every
//     forgetting bumps a generation, and an entry is stored only under
//     the generation its read started in.
//   - An expired session is never served, and nothing is kept longer
//     than sessionMaxAge.
//
// Requests that show the cart's count (SessionUser.WantCart) always read
// the database, and refresh the entry.
type sessionCache struct {
	max int

	mu           sync.Mutex
	live         bool
	gen          uint64
	entries      map[[md5.Size]byte]sessionEntry
	hits, misses uint64
}

type sessionEntry struct {
	data   []byte
	expiry time.Time
	stored time.Time
	user   *market.User // nil: nobody signed in to the session
}

func newSessionCache(max int) *sessionCache {
	return &sessionCache{max: max, entries: make(map[[md5.Size]byte]sessionEntry)}
}

func sessionKey(token string) [md5.Size]byte {
	return md5.Sum([]byte(token)) // #nosec G401 -- see the import
}

// get returns the live entry for key, if the cache is on and holds one.
// The caller must not modify what it returns.
func (c *sessionCache) get(key [md5.Size]byte, now time.Time) (sessionEntry, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.live {
		return sessionEntry{}, false
	}
	e, ok := c.entries[key]
	if ok && (!now.Before(e.expiry) || now.Sub(e.stored) >= sessionMaxAge) {
		delete(c.entries, key)
		ok = false
	}
	if !ok {
		c.misses++
		return sessionEntry{}, false
	}
	c.hits++
	return e, true
}

// SessionCacheStats describes a DB's session cache, for metrics.
type SessionCacheStats struct {
	Live         bool // hearing of changes, and in use
	Entries, Max int
	Hits, Misses uint64 // lookups answered from memory, and not
}

// SessionCacheStats returns the session cache's figures now.
func (db *DB) SessionCacheStats() SessionCacheStats {
	c := db.sessions
	c.mu.Lock()
	defer c.mu.Unlock()
	return SessionCacheStats{Live: c.live, Entries: len(c.entries), Max: c.max, Hits: c.hits, Misses: c.misses}
}

// generation returns the generation a read starts in (see put), and
// whether the cache is on at all.
func (c *sessionCache) generation() (uint64, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gen, c.live
}

// put stores e under key if nothing was forgotten since generation gen.
func (c *sessionCache) put(key [md5.Size]byte, gen uint64, e sessionEntry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.live || c.gen != gen {
		return
	}
	if _, ok := c.entries[key]; !ok && len(c.entries) >= c.max {
		for k := range c.entries { // an arbitrary one
			delete(c.entries, k)
			break
		}
	}
	c.entries[key] = e
}

// forget drops the session token (this replica wrote or ended it).
func (c *sessionCache) forget(token string) { c.forgetKey(sessionKey(token)) }

// forgetKey drops the session whose token has the MD5 key.
func (c *sessionCache) forgetKey(key [md5.Size]byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	delete(c.entries, key)
}

// forgetUser drops every session of user id (this replica changed them).
func (c *sessionCache) forgetUser(id int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	for k, e := range c.entries {
		if e.user != nil && e.user.ID == id {
			delete(c.entries, k)
		}
	}
}

func (c *sessionCache) flush() {
	c.gen++
	clear(c.entries)
}

// Listening implements Listener: notices sent while nobody listened are
// lost, so start empty.
func (c *sessionCache) Listening() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.flush()
	c.live = true
}

// Lost implements Listener: until a connection listens again no change
// is heard, so serve nothing from the cache and store nothing.
func (c *sessionCache) Lost(error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.live = false
	c.flush()
}

// Notify implements Listener: forget what the notice says changed
// (SessionsChannel), everything if it is not understood.
func (c *sessionCache) Notify(payload string) {
	op, arg, _ := strings.Cut(payload, " ")
	switch op {
	case "token":
		var key [md5.Size]byte
		if n, err := hex.Decode(key[:], []byte(arg)); err == nil && n == len(key) {
			c.forgetKey(key)
			return
		}
	case "user":
		if id, err := strconv.ParseInt(arg, 10, 64); err == nil {
			c.forgetUser(id)
			return
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.flush()
}
