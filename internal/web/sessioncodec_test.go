package web

import (
	"maps"
	"testing"
	"time"

	"github.com/alexedwards/scs/v2"
)

// TestMemoCodec: a remembered decoding is what gob gives, each caller's
// copy is its own, other sessions' bytes decode to their own values, and
// the memory stays within its bound.
func TestMemoCodec(t *testing.T) {
	c := newMemoCodec(3)
	deadline := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	encode := func(values map[string]any) []byte {
		b, err := scs.GobCodec{}.Encode(deadline, values)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	ada := encode(map[string]any{"user_id": int64(1), "seen": int64(1700000000)})
	for i := range 3 {
		d, v, err := c.Decode(ada)
		if err != nil || !d.Equal(deadline) || v["user_id"] != int64(1) || v["seen"] != int64(1700000000) || len(v) != 2 {
			t.Fatalf("decode %d: %v %v %v", i, d, v, err)
		}
		v["user_id"] = int64(99) // scs's Put on this request's copy
		delete(v, "seen")
	}
	if len(c.seen) != 1 {
		t.Errorf("%d decodings remembered, want 1", len(c.seen))
	}
	grace := encode(map[string]any{"user_id": int64(2), "new_token": "secret"})
	if _, v, _ := c.Decode(grace); v["user_id"] != int64(2) || v["new_token"] != "secret" {
		t.Errorf("another session decoded to %v", v)
	}
	// A value a copy could reach into is not remembered.
	odd := encode(map[string]any{"list": []string{"a"}})
	if _, v, err := c.Decode(odd); err != nil || len(v["list"].([]string)) != 1 {
		t.Fatalf("decode of a slice value: %v %v", v, err)
	}
	if _, ok := c.seen[string(odd)]; ok {
		t.Error("a session holding a slice was remembered")
	}
	for i := range 5 {
		c.Decode(encode(map[string]any{"user_id": int64(10 + i)}))
	}
	if len(c.seen) > 3 {
		t.Errorf("%d decodings remembered, want at most 3", len(c.seen))
	}
	if _, _, err := c.Decode([]byte("not gob")); err == nil {
		t.Error("garbage decoded without an error")
	}
	_, want, _ := scs.GobCodec{}.Decode(ada)
	if _, got, _ := c.Decode(ada); !maps.Equal(got, want) {
		t.Errorf("after eviction: %v, want %v", got, want)
	}
}
