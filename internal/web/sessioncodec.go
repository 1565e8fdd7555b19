package web

import (
	"maps"
	"sync"
	"time"

	"github.com/alexedwards/scs/v2"
)

// memoCodec is scs's gob codec with its decodings remembered. A signed-in
// request reads its session's bytes from PostgreSQL, and a fresh gob
// decoder compiles the session's types again every time: about 30 us, a
// tenth of the app's CPU on POST /listings (issue 13, perf). The bytes of
// a session change only when the session is written (sign-in, the
// once-a-minute "seen" note), so the same bytes arrive on request after
// request, and decoding is a pure function of them: a remembered result
// is what decoding would give, whoever's session it is. The format stays
// gob, so every release reads every other's sessions.
//
// Only maps of int64 and string values, all the app stores, are
// remembered, and each caller gets a copy it may change. At most max
// decodings are kept; when full, the memory starts over.
type memoCodec struct {
	scs.GobCodec
	max int

	mu   sync.Mutex
	seen map[string]memoSession
}

type memoSession struct {
	deadline time.Time
	values   map[string]any
}

func newMemoCodec(max int) *memoCodec {
	return &memoCodec{max: max, seen: make(map[string]memoSession)}
}

// Decode implements scs.Codec.
func (c *memoCodec) Decode(b []byte) (time.Time, map[string]any, error) {
	c.mu.Lock()
	m, ok := c.seen[string(b)]
	c.mu.Unlock()
	if ok {
		return m.deadline, maps.Clone(m.values), nil
	}
	deadline, values, err := c.GobCodec.Decode(b)
	if err != nil || !plain(values) {
		return deadline, values, err
	}
	c.mu.Lock()
	if len(c.seen) >= c.max {
		clear(c.seen)
	}
	c.seen[string(b)] = memoSession{deadline: deadline, values: maps.Clone(values)}
	c.mu.Unlock()
	return deadline, values, nil
}

// plain reports whether values holds only values no caller can change
// through a copy of the map.
func plain(values map[string]any) bool {
	for _, v := range values {
		switch v.(type) {
		case int64, string:
		default:
			return false
		}
	}
	return true
}
