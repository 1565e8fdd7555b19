package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/bazaarhq/bazaar/internal/market"
	"github.com/bazaarhq/bazaar/internal/postgres"
	"github.com/jackc/pgx/v5"
)

// The checkout benchmark (issue 8): buyers placing orders through nginx,
// POST /api/v1/orders with a Bearer token, one unit each, against a floor
// measured in the same run on the same PostgreSQL: pgbench running only
// what no checkout can do without, per transaction the conditional stock
// update and an order insert. Two workloads:
//
//   - hot: checkoutBuyers concurrent buyers (wrk connections) on one
//     listing with ample stock, every transaction queueing on one row lock;
//   - spread: the same buyers over checkoutListings listings (no hot row).
//
// The app's side runs in the app's database, the floor's in the floor's
// (identical rows), with the stock put back before each run. pgbench uses
// as many connections as the app's pool (BAZAAR_DB_MAX_CONNS' default,
// postgres.DefaultMaxConns): the floor is what the database does at the
// concurrency the app can give it, not the app's 200 clients queueing on
// its connections. A run is invalid if wrk saw an error or a non-2xx answer
// (a 409 would mean the stock ran out) or if the orders written are fewer
// than the 201s wrk counted.
const (
	checkoutBuyers   = 200
	checkoutListings = 1000
	checkoutStock    = 100000 // the most a listing may hold
	targetCheckout   = 0.5
)

// checkoutFloorSQL is the floor's transaction. :lid is the listing (a
// variable of the run, or drawn per transaction for spread), :b a buyer.
const checkoutFloorSQL = `\set b random(:bmin, :bmax)
%s
BEGIN;
UPDATE listings SET quantity = quantity - 1 WHERE id = :lid AND quantity >= 1;
INSERT INTO orders (buyer_id, seller_id, status, currency, total_cents) VALUES (:b, :seller, 'placed', 'USD', 100);
COMMIT;
`

// shop is the buyers, seller and listings the benchmark made in one
// database (the same ids in both: made in the same order on identical
// databases, but read back, not assumed).
type shop struct {
	seller       int64
	bmin, bmax   int64
	lmin, lcount int64
}

// checkoutResult is one workload's figures over the rounds.
type checkoutResult struct {
	name       string
	app, floor []float64 // orders/s, transactions/s per round
	ratios     []float64
}

// checkout measures both workloads and prints their table; missed reports
// a median ratio under targetCheckout.
func (b *bench) checkout(ctx context.Context, app, floorDB string, appURL string, stdout io.Writer) (missed bool, err error) {
	pgbench, err := findPgbench()
	if err != nil {
		return false, err
	}
	tokens := filepath.Join(b.tmp, "tokens.txt")
	appShop, err := makeShop(ctx, app, tokens)
	if err != nil {
		return false, err
	}
	floorShop, err := makeShop(ctx, floorDB, "")
	if err != nil {
		return false, err
	}
	b.logf("checkout: %d buyers, %d listings of %d each, pgbench at %s", checkoutBuyers, checkoutListings, checkoutStock, pgbench)
	results := []*checkoutResult{{name: "hot"}, {name: "spread"}}
	for round := 1; round <= b.cfg.Rounds; round++ {
		for _, res := range results {
			if err := restock(ctx, app, appShop); err != nil {
				return false, err
			}
			if err := restock(ctx, floorDB, floorShop); err != nil {
				return false, err
			}
			count := int64(1)
			if res.name == "spread" {
				count = appShop.lcount
			}
			rate, err := b.checkoutApp(ctx, round, res.name, app, appURL, tokens, appShop.lmin, count)
			if err != nil {
				return false, err
			}
			tps, err := b.checkoutFloor(ctx, round, res.name, pgbench, floorDB, floorShop)
			if err != nil {
				return false, err
			}
			res.app, res.floor, res.ratios = append(res.app, rate), append(res.floor, tps), append(res.ratios, rate/tps)
			b.logf("checkout %s round %d: app %.0f orders/s, floor %.0f tx/s (%.2fx)", res.name, round, rate, tps, rate/tps)
		}
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "\nCheckout: POST /api/v1/orders, %d buyers (wrk -c%d), through nginx, against pgbench (-c%d) running the bare conditional update + order insert:\n",
		checkoutBuyers, checkoutBuyers, postgres.DefaultMaxConns())
	fmt.Fprintf(&sb, "%-28s %10s %10s %7s %6s   %s\n", "workload", "orders/s", "floor tx/s", "ratio", "target", "ratios per round")
	for _, res := range results {
		m := median(res.ratios)
		// The goal is the hot row's; the spread workload is reported.
		label, target, verdict := "one listing (hot row)", fmt.Sprintf("%.1fx", targetCheckout), "ok"
		if res.name == "spread" {
			label, target, verdict = fmt.Sprintf("spread over %d listings", checkoutListings), "-", ""
		} else if m < targetCheckout {
			verdict, missed = "MISS", true
		}
		fmt.Fprintf(&sb, "%-28s %10.0f %10.0f %6.2fx %6s   %s %s\n", label, median(res.app), median(res.floor), m, target, join(res.ratios, "%.2f"), verdict)
	}
	f, err := os.OpenFile(filepath.Join(b.out, "summary.txt"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return missed, err
	}
	if _, err := io.WriteString(f, sb.String()); err != nil {
		_ = f.Close()
		return missed, err
	}
	if err := f.Close(); err != nil {
		return missed, err
	}
	_, err = io.WriteString(stdout, sb.String())
	return missed, err
}

// checkoutApp runs wrk's buyers against the app and returns orders/s,
// checking that every 201 wrk counted is an order in the database.
func (b *bench) checkoutApp(ctx context.Context, round int, name, db, url, tokens string, first, count int64) (float64, error) {
	before, err := scalar(ctx, db, `SELECT count(*) FROM orders`)
	if err != nil {
		return 0, err
	}
	file := filepath.Join(b.out, fmt.Sprintf("checkout-%s-app-%d.txt", name, round))
	args := []string{"-t" + strconv.Itoa(b.cfg.Threads), "-c" + strconv.Itoa(checkoutBuyers), "-d" + strconv.Itoa(int(b.cfg.Duration/time.Second)) + "s",
		"--timeout", "10s", "-s", filepath.Join("bench", "checkout.lua"), url + "/api/v1/orders"}
	cmd := exec.CommandContext(ctx, "wrk", args...)
	cmd.Env = append(os.Environ(), "CHECKOUT_TOKENS="+tokens, "CHECKOUT_FIRST="+strconv.FormatInt(first, 10), "CHECKOUT_COUNT="+strconv.FormatInt(count, 10))
	out, err := cmd.CombinedOutput()
	if werr := os.WriteFile(file, out, 0o644); werr != nil {
		return 0, werr
	}
	if err != nil {
		if ctx.Err() != nil {
			return 0, ctx.Err()
		}
		return 0, invalidf("wrk failed: %v\n%s", err, out)
	}
	if bad := wrkTrouble.FindAllString(string(out), -1); len(bad) > 0 {
		return 0, invalidf("see %s: %s", file, strings.Join(bad, "; "))
	}
	rate, n, err := parseWrk(string(out))
	if err != nil {
		return 0, err
	}
	after, err := scalar(ctx, db, `SELECT count(*) FROM orders`)
	if err != nil {
		return 0, err
	}
	// Requests in flight when wrk stops may still commit: more orders
	// than 201s is possible, fewer is not.
	if after-before < n {
		return 0, invalidf("checkout %s: wrk counted %d 201s but %d orders were written", name, n, after-before)
	}
	return rate, nil
}

var pgbenchTPS = regexp.MustCompile(`(?m)^tps = ([0-9.]+)`)

// checkoutFloor runs pgbench's bare checkout and returns transactions/s.
func (b *bench) checkoutFloor(ctx context.Context, round int, name, pgbench, db string, s *shop) (float64, error) {
	lid := `\set lid random(:lmin, :lmax)`
	if name == "hot" {
		lid = `\set lid :lmin`
	}
	script := filepath.Join(b.tmp, "checkout-"+name+".sql")
	if err := os.WriteFile(script, []byte(fmt.Sprintf(checkoutFloorSQL, lid)), 0o644); err != nil {
		return 0, err
	}
	args := []string{"-n", "-M", "prepared", "-c", strconv.Itoa(int(postgres.DefaultMaxConns())), "-j", strconv.Itoa(b.cfg.Threads),
		"-T", strconv.Itoa(int(b.cfg.Duration / time.Second)), "-f", script,
		"-D", "bmin=" + strconv.FormatInt(s.bmin, 10), "-D", "bmax=" + strconv.FormatInt(s.bmax, 10),
		"-D", "seller=" + strconv.FormatInt(s.seller, 10),
		"-D", "lmin=" + strconv.FormatInt(s.lmin, 10), "-D", "lmax=" + strconv.FormatInt(s.lmin+s.lcount-1, 10), db}
	out, err := exec.CommandContext(ctx, pgbench, args...).CombinedOutput()
	if werr := os.WriteFile(filepath.Join(b.out, fmt.Sprintf("checkout-%s-floor-%d.txt", name, round)), out, 0o644); werr != nil {
		return 0, werr
	}
	if err != nil {
		if ctx.Err() != nil {
			return 0, ctx.Err()
		}
		return 0, invalidf("pgbench failed: %v\n%s", err, out)
	}
	m := pgbenchTPS.FindSubmatch(out)
	if m == nil {
		return 0, invalidf("no tps in pgbench's output:\n%s", out)
	}
	return strconv.ParseFloat(string(m[1]), 64)
}

// findPgbench finds pgbench on PATH or beside the PostgreSQL server
// binaries (Debian keeps it in /usr/lib/postgresql/<version>/bin).
func findPgbench() (string, error) {
	if p, err := exec.LookPath("pgbench"); err == nil {
		return p, nil
	}
	found, _ := filepath.Glob("/usr/lib/postgresql/*/bin/pgbench")
	if len(found) == 0 {
		return "", fmt.Errorf("pgbench not found (Debian: apt-get install -y postgresql)")
	}
	slices.Sort(found)
	return found[len(found)-1], nil
}

// makeShop adds a seller, checkoutBuyers buyers and checkoutListings
// listings to the database at url; with tokens set, it gives each buyer an
// API token and writes the secrets there, one a line.
func makeShop(ctx context.Context, url, tokens string) (*shop, error) {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return nil, err
	}
	defer conn.Close(ctx)
	s := &shop{lcount: checkoutListings}
	err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, `INSERT INTO users (email, display_name, password_hash) VALUES ('bench-seller@example.com', 'Bench seller', '!') RETURNING id`).Scan(&s.seller); err != nil {
			return err
		}
		err := tx.QueryRow(ctx, `
			WITH u AS (
				INSERT INTO users (email, display_name, password_hash)
				SELECT 'bench-buyer-' || g || '@example.com', 'Buyer ' || g, '!' FROM generate_series(1, $1) g RETURNING id
			) SELECT min(id), max(id) FROM u`, checkoutBuyers).Scan(&s.bmin, &s.bmax)
		if err != nil {
			return err
		}
		if s.bmax-s.bmin+1 != checkoutBuyers {
			return fmt.Errorf("buyer ids are not contiguous: %d..%d", s.bmin, s.bmax)
		}
		var lmax int64
		err = tx.QueryRow(ctx, `
			WITH l AS (
				INSERT INTO listings (name, price_cents, currency, quantity, seller_id)
				SELECT 'Bench item ' || g, 100, 'USD', $1, $2 FROM generate_series(1, $3) g RETURNING id
			) SELECT min(id), max(id) FROM l`, checkoutStock, s.seller, checkoutListings).Scan(&s.lmin, &lmax)
		if err != nil {
			return err
		}
		if lmax-s.lmin+1 != checkoutListings {
			return fmt.Errorf("listing ids are not contiguous: %d..%d", s.lmin, lmax)
		}
		if tokens == "" {
			return nil
		}
		var lines strings.Builder
		for id := s.bmin; id <= s.bmax; id++ {
			secret, hash := market.NewSecret()
			if _, err := tx.Exec(ctx, `INSERT INTO api_tokens (user_id, name, hash) VALUES ($1, 'bench', $2)`, id, hash); err != nil {
				return err
			}
			lines.WriteString(secret + "\n")
		}
		return os.WriteFile(tokens, []byte(lines.String()), 0o600)
	})
	return s, err
}

// restock puts the benchmark's listings back to full stock.
func restock(ctx context.Context, url string, s *shop) error {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, `UPDATE listings SET quantity = $1 WHERE seller_id = $2`, checkoutStock, s.seller)
	return err
}

func scalar(ctx context.Context, url, sql string) (int64, error) {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return 0, err
	}
	defer conn.Close(ctx)
	var n int64
	err = conn.QueryRow(ctx, sql).Scan(&n)
	return n, err
}
