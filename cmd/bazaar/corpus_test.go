package main

import (
	"math/rand/v2"
	"sort"
	"strings"
	"testing"
)

// The generated corpus is valid and skewed like real text: a few words in
// very many listings, thousands of words in few.
func TestCorpus(t *testing.T) {
	c := newCorpus(rand.New(rand.NewPCG(1, 2)), []string{"tableware", "kitchen", "lighting", "decor"})
	if len(c.words) < 5000 {
		t.Fatalf("vocabulary of %d words, want several thousand", len(c.words))
	}
	counts := map[string]int{}
	cats := map[string]int{}
	const n = 20000
	for range n {
		l := c.listing()
		if err := l.Validate(); err != nil {
			t.Fatalf("%+v: %v", l, err)
		}
		cats[l.Category]++
		seen := map[string]bool{}
		for _, w := range strings.Fields(strings.ToLower(l.Name + " " + l.Description)) {
			w = strings.TrimSuffix(w, ".")
			if !seen[w] {
				seen[w] = true
				counts[w]++
			}
		}
	}
	var freq []int
	for _, k := range counts {
		freq = append(freq, k)
	}
	sort.Sort(sort.Reverse(sort.IntSlice(freq)))
	rare := 0
	for _, f := range freq {
		if f <= n/1000 {
			rare++
		}
	}
	t.Logf("%d distinct words; top counts %v; %d words in at most 0.1%% of listings; categories %v", len(freq), freq[:5], rare, cats)
	if freq[0] < n/5 || rare < 1000 || len(freq) < 3000 {
		t.Errorf("not Zipf-like: top %v, %d rare words of %d", freq[:5], rare, len(freq))
	}
	if len(cats) != 4 || cats["tableware"] <= cats["decor"] {
		t.Errorf("categories %v: want all used, unevenly", cats)
	}
}
