package main

import (
	"math"
	"math/rand/v2"
	"strings"

	"github.com/bazaarhq/bazaar/internal/market"
)

// corpus makes listings that look like a marketplace's to a search engine:
// names and descriptions drawn from a vocabulary of several thousand words
// with a Zipf-like frequency (a few words in very many listings, most
// words in few), prices spread log-normally, categories and conditions
// uneven. `bazaar seed -n N` uses it, so the search benchmark meets the
// common and rare words, long posting lists and skewed facets of real data.
type corpus struct {
	rng        *rand.Rand
	leaves     []string // category slugs
	words      []string // the vocabulary, most frequent first
	nouns      []string
	adjectives []string
	zWords     *rand.Zipf
	zNouns     *rand.Zipf
	zAdj       *rand.Zipf
	zLeaf      *rand.Zipf
}

// Real words head the vocabulary, so the most common ones are ones people
// search for; made-up words (syllable strings) fill its long tail.
var (
	corpusAdjectives = strings.Fields(`vintage handmade small large blue green red white black wooden brass linen ceramic
		hand-dyed reclaimed woven copper enamel stoneware antique modern rustic organic leather silver golden oak walnut
		pine glass cotton wool silk velvet bamboo marble iron porcelain painted carved knitted embroidered printed
		minimalist retro floral striped round square tall tiny oversized soft warm bright pastel`)
	corpusNouns = strings.Fields(`bowl mug lamp vase chair table print scarf basket clock teapot notebook plate cup
		candle blanket pillow cushion rug mirror frame poster necklace ring earrings bracelet brooch bag wallet belt
		hat gloves socks sweater dress shirt jacket apron tote planter pot jug pitcher tray spoon knife board shelf
		stool bench desk box jar bottle card journal pen brush soap quilt doll puzzle kite toy sculpture figurine
		tile coaster napkin runner curtain hook`)
	corpusCommon = strings.Fields(`with and for the in of a to gift set made design natural style perfect home
		kitchen decor wedding birthday christmas unique original custom personalised shipping colour size condition
		new used piece collection quality simple classic everyday craft artisan studio`)
	syllables = strings.Fields(`ka lo mi ra ten vel dor sil qua bre nix tor pal zen fi ru mo sa ve li gan tho
		ber cas dun el fra gil hor ith jun kel lum mar nor ost pim ren sul tav ulm vor wes yar zol`)
)

func newCorpus(rng *rand.Rand, leaves []string) *corpus {
	c := &corpus{rng: rng, leaves: leaves, nouns: corpusNouns, adjectives: corpusAdjectives}
	seen := map[string]bool{}
	add := func(w string) {
		if !seen[w] {
			seen[w] = true
			c.words = append(c.words, w)
		}
	}
	for _, w := range corpusCommon {
		add(w)
	}
	for _, w := range corpusAdjectives {
		add(w)
	}
	for _, w := range corpusNouns {
		add(w)
	}
	// The long tail: 2- and 3-syllable made-up words, in a fixed order,
	// up to 6,000 words in all.
	const size = 6000
	for _, a := range syllables {
		for _, b := range syllables {
			if len(c.words) < size/2 {
				add(a + b)
			}
		}
	}
	for _, a := range syllables {
		for _, b := range syllables {
			for _, d := range syllables {
				if len(c.words) < size {
					add(a + b + d)
				}
			}
		}
	}
	c.zWords = rand.NewZipf(rng, 1.1, 2, uint64(len(c.words)-1))    // #nosec G115 -- list lengths, a few thousand at most
	c.zNouns = rand.NewZipf(rng, 1.2, 3, uint64(len(c.nouns)-1))    // #nosec G115 -- list lengths, a few thousand at most
	c.zAdj = rand.NewZipf(rng, 1.2, 3, uint64(len(c.adjectives)-1)) // #nosec G115 -- list lengths, a few thousand at most
	c.zLeaf = rand.NewZipf(rng, 1.05, 4, uint64(len(leaves)-1))     // #nosec G115 -- list lengths, a few thousand at most
	return c
}

// listing makes one listing.
func (c *corpus) listing() *market.Listing {
	r := c.rng
	noun := c.nouns[c.zNouns.Uint64()]
	var name []string
	name = append(name, c.adjectives[c.zAdj.Uint64()])
	for range r.IntN(3) {
		name = append(name, c.words[c.zWords.Uint64()])
	}
	name = append(name, noun)
	first := name[0]
	name[0] = strings.ToUpper(first[:1]) + first[1:]
	desc := make([]string, 8+r.IntN(30))
	for i := range desc {
		desc[i] = c.words[c.zWords.Uint64()]
	}
	// Prices: log-normal around 25.00, from 1.00 to 10,000.00.
	cents := int64(math.Exp(r.NormFloat64()*1.0 + math.Log(2500)))
	cents = max(100, min(cents, 1_000_000))
	qty := 0
	if r.IntN(10) > 0 {
		qty = 1 + r.IntN(20)
	}
	cond := market.ConditionNew
	switch p := r.IntN(100); {
	case p < 35:
		cond = market.ConditionUsed
	case p < 55:
		cond = market.ConditionHandmade
	}
	return &market.Listing{
		Name:        strings.Join(name, " "),
		Description: strings.Join(desc, " ") + ".",
		Price:       market.Money{Cents: cents, Currency: market.DefaultCurrency},
		Quantity:    qty,
		Category:    c.leaves[c.zLeaf.Uint64()],
		Condition:   cond,
	}
}
