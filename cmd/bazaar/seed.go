package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"time"

	"github.com/bazaarhq/bazaar/internal/market"
	"github.com/bazaarhq/bazaar/internal/password"
	"github.com/bazaarhq/bazaar/internal/postgres"
)

// demoListingCount is how many listings an empty development database gets.
const demoListingCount = 36

func seed(ctx context.Context, cfg config, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("seed", flag.ContinueOnError)
	fs.SetOutput(stdout)
	n := fs.Int("n", 0, "add exactly `N` generated listings, even if some exist")
	if err := fs.Parse(args); err != nil {
		return err
	}
	db, err := postgres.Open(ctx, cfg.DatabaseURL, postgres.Options{MaxConns: 2})
	if err != nil {
		return err
	}
	defer db.Close()
	return seedListings(ctx, db, *n, stdout)
}

// DemoPassword is the password of every demo seller, printed by `make
// run`. Demo data only: `bazaar seed` is for development and benchmarks,
// never for a site people use.
const DemoPassword = "bazaar-demo-2026"

// demoSellers are the accounts the demo listings belong to.
var demoSellers = []struct{ email, name string }{
	{"ada@example.com", "Ada's Attic"},
	{"grace@example.com", "Grace Goods"},
	{"linus@example.com", "Linus Loft"},
}

// ensureDemoSellers returns the demo sellers' ids, creating those that do
// not exist yet (with DemoPassword).
func ensureDemoSellers(ctx context.Context, db *postgres.DB) ([]int64, error) {
	var hasher *password.Hasher
	ids := make([]int64, 0, len(demoSellers))
	for _, d := range demoSellers {
		u, err := db.UserByEmail(ctx, d.email)
		if market.ErrorCode(err) == market.ENOTFOUND {
			if hasher == nil {
				if hasher, err = password.New(password.OWASP, 1, nil); err != nil {
					return nil, err
				}
			}
			u = &market.User{Email: d.email, DisplayName: d.name}
			if u.PasswordHash, err = hasher.Hash(ctx, DemoPassword); err != nil {
				return nil, err
			}
			err = db.CreateUser(ctx, u)
		}
		if err != nil {
			return nil, err
		}
		ids = append(ids, u.ID)
	}
	return ids, nil
}

// seedListings adds n generated listings (corpus.go: a Zipf-like
// vocabulary), or, when n is 0, demoListingCount hand-made demo listings to
// an empty table only, so running it twice changes nothing.
func seedListings(ctx context.Context, db *postgres.DB, n int, stdout io.Writer) error {
	generated := n > 0
	if n == 0 {
		have, err := db.CountListings(ctx)
		if err != nil {
			return err
		}
		if have > 0 {
			fmt.Fprintf(stdout, "seed: %d listings exist; leaving them alone\n", have)
			return nil
		}
		n = demoListingCount
	}
	sellers, err := ensureDemoSellers(ctx, db)
	if err != nil {
		return err
	}
	// #nosec G404 -- demo data, seeded on purpose so every run makes the same listings.
	rng := rand.New(rand.NewPCG(1, 2))
	next := func(i int) *market.Listing { return demoListing(rng, i) }
	if generated {
		// Many listings, as a search engine sees a marketplace's.
		tree, err := db.Categories(ctx)
		if err != nil {
			return err
		}
		var leaves []string
		for _, c := range tree.Leaves() {
			leaves = append(leaves, c.Slug)
		}
		c := newCorpus(rng, leaves)
		next = func(int) *market.Listing { return c.listing() }
	}
	const batch = 5000
	start := time.Now()
	for done := 0; done < n; {
		size := min(batch, n-done)
		ls := make([]*market.Listing, size)
		for i := range ls {
			ls[i] = next(done + i)
			ls[i].SellerID = sellers[(done+i)%len(sellers)]
		}
		if _, err := db.InsertListings(ctx, ls); err != nil {
			return err
		}
		done += size
	}
	took := time.Since(start)
	fmt.Fprintf(stdout, "seed: added %d listings in %s (%.0f rows/s, COPY in batches of %d)\n",
		n, took.Round(time.Millisecond), float64(n)/took.Seconds(), batch)
	return nil
}

var (
	demoAdjectives = []string{"Vintage", "Handmade", "Walnut", "Brass", "Linen", "Ceramic", "Hand-dyed", "Reclaimed", "Woven", "Copper", "Enamel", "Stoneware"}
	demoNouns      = []string{"lamp", "teapot", "scarf", "bowl", "chair", "print", "mug", "basket", "clock", "vase", "notebook", "cutting board"}
	// demoCategories files each noun under a leaf category.
	demoCategories = map[string]string{"lamp": "lighting", "teapot": "kitchen", "scarf": "bags-accessories", "bowl": "tableware",
		"chair": "furniture", "print": "prints", "mug": "tableware", "basket": "decor", "clock": "decor", "vase": "decor",
		"notebook": "craft-supplies", "cutting board": "kitchen"}
)

func demoListing(rng *rand.Rand, i int) *market.Listing {
	adj, noun := demoAdjectives[rng.IntN(len(demoAdjectives))], demoNouns[rng.IntN(len(demoNouns))]
	return &market.Listing{
		Name:        fmt.Sprintf("%s %s #%d", adj, noun, i+1),
		Description: fmt.Sprintf("A %s %s in good condition. Ships within two days.", adj, noun),
		Price:       market.Money{Cents: int64(500 + rng.IntN(20000)), Currency: market.DefaultCurrency},
		Quantity:    rng.IntN(20),
		Category:    demoCategories[noun],
		Condition:   market.Conditions[rng.IntN(len(market.Conditions))],
	}
}
