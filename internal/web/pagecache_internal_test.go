package web

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// TestPageCacheGeneration: a page rendered while a change was announced
// may show the data from before it, so it is not stored; one rendered
// after is.
func TestPageCacheGeneration(t *testing.T) {
	c := newPageCache(1<<20, prometheus.NewRegistry())
	if _, _, live := c.get("/"); live {
		t.Fatal("the cache is in use before it listens for changes")
	}
	c.Listening()
	_, gen, live := c.get("/listings/1")
	if !live {
		t.Fatal("the cache is off after Listening")
	}
	c.Notify("update 2") // rendering /listings/1 meanwhile
	c.put(&cachedPage{key: "/listings/1", listing: 1, body: []byte("old")}, gen)
	if p, _, _ := c.get("/listings/1"); p != nil {
		t.Error("a page rendered across a change was stored")
	}
	_, gen, _ = c.get("/listings/1")
	c.put(&cachedPage{key: "/listings/1", listing: 1, body: []byte("new")}, gen)
	if p, _, _ := c.get("/listings/1"); p == nil || string(p.body) != "new" {
		t.Errorf("a page rendered after the change was not stored: %v", p)
	}
	for _, tt := range []struct {
		payload string
		kept    bool
	}{
		{"update 2", true}, // another listing, and /listings/1 is no list
		{"insert", true},
		{"update 1", false},
	} {
		_, gen, _ = c.get("/listings/1")
		c.put(&cachedPage{key: "/listings/1", listing: 1, body: []byte("x")}, gen)
		c.Notify(tt.payload)
		if p, _, _ := c.get("/listings/1"); (p != nil) != tt.kept {
			t.Errorf("after %q: page kept = %v, want %v", tt.payload, p != nil, tt.kept)
		}
	}
	for _, payload := range []string{"flush", "update x", "delete", "something new"} {
		_, gen, _ = c.get("/")
		c.put(&cachedPage{key: "/", body: []byte("home")}, gen)
		c.Notify(payload)
		if p, _, _ := c.get("/"); p != nil {
			t.Errorf("after %q the home page is still cached", payload)
		}
	}
	c.Lost(nil)
	if _, _, live := c.get("/"); live {
		t.Error("the cache is in use after its connection was lost")
	}
}
