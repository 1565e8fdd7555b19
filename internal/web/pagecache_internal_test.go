package web

import (
	"testing"
	"time"

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
	// Lists expire listMaxAge after their request began (inserts are not
	// announced); a listing's page does not.
	_, gen, _ = c.get("/")
	c.put(&cachedPage{key: "/", body: []byte("home"), expires: time.Now().Add(time.Hour)}, gen)
	c.put(&cachedPage{key: "/c/toys", body: []byte("toys"), expires: time.Now().Add(-time.Millisecond)}, gen)
	c.put(&cachedPage{key: "/listings/1", listing: 1, body: []byte("lamp")}, gen)
	for key, kept := range map[string]bool{"/": true, "/c/toys": false, "/listings/1": true} {
		if p, _, _ := c.get(key); (p != nil) != kept {
			t.Errorf("%s: page kept = %v, want %v", key, p != nil, kept)
		}
	}
	if _, ok := c.pages["/c/toys"]; ok || c.size != (&cachedPage{key: "/", body: []byte("home")}).cost()+(&cachedPage{key: "/listings/1", body: []byte("lamp")}).cost() {
		t.Errorf("the expired page still takes room: %d bytes held", c.size)
	}

	c.Lost(nil)
	if _, _, live := c.get("/"); live {
		t.Error("the cache is in use after its connection was lost")
	}
}
