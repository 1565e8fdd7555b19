// Command bench is `make bench`: Bazaar against its two floors, through
// nginx, in one run.
//
// One throwaway PostgreSQL (internal/pgcluster, on a Unix socket) holds two
// databases, each migrated and seeded by the app's own `bazaar migrate` and
// `bazaar seed`, then given photos (photosSQL: the rows an upload makes,
// one to four photos on nine listings in ten, three sizes each; the image
// files do not exist, wrk fetches only HTML), so the targets read
// identical rows and the pages show covers. Three upstreams serve them:
//
//   - app: `bazaar serve`;
//   - floor: bench/floor, the same pages with the app's templates, queries
//     and rules and nothing else (the price of the app's features);
//   - bare: `floor bare`, the same rows from the same queries on a minimal
//     page of its own (the price of the features and of the page).
//
// The floors share the second database. Each upstream binds 127.0.0.1:0 and
// reports its address; each sits behind its own nginx started by
// internal/nginxtest from deploy/nginx/templates/default.conf.template, so
// all pay the same proxy cost. wrk then measures GET / (24 cards with
// covers), a listing's page, GET /listings/{id} (four photos), and a
// category's page, GET /c/{slug} (the top-level category with the most
// listings: breadcrumbs, counts per child, 24 cards with covers), against
// all three; and POST /listings (app and floor), each with a cookie so the
// app's page cache (anonymous visitors only) stays out of the way; then
// the three pages again without one, from the app only, against the bare
// floor's figure of the same round (the cache's target). The listings the
// POSTs add are deleted after each, so every round's pages show the
// seeded listings. All in alternating order over BENCH_ROUNDS rounds,
// after waiting for the app's page cache to be in use. The verdict is the
// median of the rounds' paired ratios: a target and its floor measured
// back to back share the machine's weather, and the median ignores a round
// a neighbour spoiled. The best of each is shown beside it.
//
// Beside requests/s it prints the CPU time each upstream process, its nginx
// and PostgreSQL spent per request (median over the rounds), read from
// /proc. On a busy machine that figure moves far less than throughput, so it
// tells whether a miss is the code or the neighbours. Last, the app's peak
// resident memory over the run (VmHWM), against its 64 MiB target, and
// its page cache's metrics.
//
// A run is invalid (exit 2) if wrk saw socket errors or non-2xx/3xx
// responses, if a list does not show the same 24 listings and covers on
// all three, if the listing page's photos differ, or if the POSTs did not
// write as many rows as wrk counted. Missing a target prints MISS and exits
// 0 unless BENCH_STRICT=1 (then 1). Raw output and the last 200 lines of
// every log go to bench/out/<time>/.
//
// Knobs: BENCH_DURATION (6s), BENCH_WARMUP (2s), BENCH_ROUNDS (4),
// BENCH_THREADS (2), BENCH_CONNECTIONS (16), BENCH_LISTINGS (10000),
// BENCH_ONLY (pages or checkout: measure only those), BENCH_KINDS (a comma
// list of the page requests to measure, e.g. post,listing), BENCH_DURABLE (0: fsync off, as in tests, so the disk of a shared machine
// does not drown the code being measured; 1: fsync and synchronous commit
// on, as in production), BENCH_STRICT (0).
package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/bazaarhq/bazaar/bench/corpus"
	"github.com/bazaarhq/bazaar/internal/nginxtest"
	"github.com/bazaarhq/bazaar/internal/pgcluster"
	"github.com/jackc/pgx/v5"
)

// Targets: the app's ratio to each floor, per request kind.
const (
	targetGet  = 0.95
	targetPost = 0.90
	// targetCached: the app answering anonymous visitors from its page
	// cache, against the bare floor rendering the page (issue 13).
	targetCached = 2.0
	// targetSignedIn: the home page for a signed-in seller (the session
	// read from PostgreSQL, then the user, on every request) against the
	// floor's anonymous home page (issue 7).
	targetSignedIn = 0.8
	// targetRSSMiB: the app's peak resident memory over the whole run,
	// page cache included.
	targetRSSMiB = 64
)

// Exit statuses besides 0 and 1.
const (
	exitInvalid   = 2   // the measurement cannot be trusted
	exitInterrupt = 130 // as a shell reports SIGINT
)

// errInvalid marks a run whose numbers mean nothing.
var errInvalid = errors.New("invalid run")

// errMissed is returned under BENCH_STRICT=1 when a target was missed.
var errMissed = errors.New("a target was missed (BENCH_STRICT=1)")

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Getenv, os.Stdout, os.Stderr)
	switch {
	case err == nil:
	case ctx.Err() != nil:
		fmt.Fprintln(os.Stderr, "bench: interrupted")
		os.Exit(exitInterrupt)
	case errors.Is(err, errInvalid):
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(exitInvalid)
	default:
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// config is the knobs, read once from the environment.
type config struct {
	Duration, Warmup time.Duration
	Rounds           int
	Threads, Conns   int
	Listings         int
	Durable, Strict  bool
	// Only is "pages" or "checkout" to measure only those, "" for all.
	Only string
	// Kinds, when set, are the only kinds of page request measured
	// (BENCH_KINDS=post,listing): a quicker run while working on one.
	Kinds []string
}

func loadConfig(getenv func(string) string) (config, error) {
	var errs []error
	dur := func(name string, def time.Duration) time.Duration {
		v := getenv(name)
		if v == "" {
			return def
		}
		if n, err := strconv.Atoi(v); err == nil { // wrk's plain seconds
			v = strconv.Itoa(n) + "s"
		}
		d, err := time.ParseDuration(v)
		if err != nil || d < time.Second || d%time.Second != 0 {
			errs = append(errs, fmt.Errorf("%s: want whole seconds such as 6s, got %q", name, getenv(name)))
			return def
		}
		return d
	}
	num := func(name string, def, lo int) int {
		v := getenv(name)
		if v == "" {
			return def
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < lo {
			errs = append(errs, fmt.Errorf("%s: want a whole number from %d, got %q", name, lo, v))
			return def
		}
		return n
	}
	flag := func(name string) bool {
		switch v := getenv(name); v {
		case "", "0":
			return false
		case "1":
			return true
		default:
			errs = append(errs, fmt.Errorf("%s: want 0 or 1, got %q", name, v))
			return false
		}
	}
	c := config{
		Duration: dur("BENCH_DURATION", 6*time.Second),
		Warmup:   dur("BENCH_WARMUP", 2*time.Second),
		Rounds:   num("BENCH_ROUNDS", 4, 1),
		Threads:  num("BENCH_THREADS", 2, 1),
		Conns:    num("BENCH_CONNECTIONS", 16, 1),
		Listings: num("BENCH_LISTINGS", 10000, 100),
		Durable:  flag("BENCH_DURABLE"),
		Strict:   flag("BENCH_STRICT"),
		Only:     getenv("BENCH_ONLY"),
	}
	if v := getenv("BENCH_KINDS"); v != "" {
		for k := range strings.SplitSeq(v, ",") {
			if k = strings.TrimSpace(k); !slices.Contains(kinds, k) {
				errs = append(errs, fmt.Errorf("BENCH_KINDS: %q is none of %s", k, strings.Join(kinds, ", ")))
			}
			c.Kinds = append(c.Kinds, k)
		}
	}
	if c.Only != "" && c.Only != "pages" && c.Only != "checkout" {
		errs = append(errs, fmt.Errorf("BENCH_ONLY: want pages or checkout, got %q", c.Only))
	}
	if c.Conns < c.Threads {
		errs = append(errs, fmt.Errorf("BENCH_CONNECTIONS (%d) must be at least BENCH_THREADS (%d), as wrk requires", c.Conns, c.Threads))
	}
	return c, errors.Join(errs...)
}

// target is one upstream behind its own nginx.
type target struct {
	name  string   // app, floor, bare
	kinds []string // the requests it serves: get, listing, post
	db    string   // its database URL
	up    *proc
	ngx   *nginxtest.Nginx
	url   string // through nginx
	addr  string // the upstream itself
	// session is the Cookie header value of a signed-in seller's session
	// ("name=token"), for the requests that need one (POST /listings);
	// "" for the bare floor, which does not create listings.
	session string
}

func (t *target) serves(kind string) bool {
	for _, k := range t.kinds {
		if k == kind {
			return true
		}
	}
	return false
}

// bench is one run: its directories and what must be stopped at the end.
type bench struct {
	cfg    config
	stderr io.Writer
	out    string // bench/out/<time>
	tmp    string
	// category is the category page measured, /c/{slug}: the top-level
	// category with the most listings (the same in both databases).
	category string
	pgPid    int      // the postmaster
	stops    []func() // newest last
}

func (b *bench) logf(format string, args ...any) {
	fmt.Fprintf(b.stderr, "%s bench: %s\n", time.Now().UTC().Format("15:04:05"), fmt.Sprintf(format, args...))
}

func invalidf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errInvalid, fmt.Sprintf(format, args...))
}

func run(ctx context.Context, getenv func(string) string, stdout, stderr io.Writer) (err error) {
	cfg, err := loadConfig(getenv)
	if err != nil {
		return err
	}
	if err := chdirRoot(); err != nil {
		return err
	}
	// nginx comes from internal/nginxtest: the test image under docker by
	// default (a host nginx with BAZAAR_NGINX=host); it says what is missing.
	for _, tool := range []string{"wrk", "go"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("%s not found (Debian: apt-get install -y wrk)", tool)
		}
	}
	b := &bench{cfg: cfg, stderr: stderr, out: filepath.Join("bench", "out", time.Now().UTC().Format("20060102T150405Z"))}
	if err := os.MkdirAll(b.out, 0o755); err != nil {
		return err
	}
	if b.tmp, err = os.MkdirTemp("", "bazaar-bench-"); err != nil {
		return err
	}
	// PostgreSQL runs as the postgres user and must reach its directory.
	if err := os.Chmod(b.tmp, 0o755); err != nil {
		return err
	}
	defer b.cleanup()

	targets, err := b.start(ctx)
	if err != nil {
		return err
	}
	if err := b.check(ctx, targets); err != nil {
		return err
	}
	missed := false
	if cfg.Only != "checkout" {
		res, err := b.measure(ctx, targets)
		if err != nil {
			return err
		}
		if err := b.appStats(ctx, targets[0], res); err != nil {
			return err
		}
		if missed, err = b.report(stdout, res); err != nil {
			return err
		}
	}
	if cfg.Only != "pages" {
		m, err := b.checkout(ctx, targets[0].db, targets[1].db, targets[0].url, stdout)
		if err != nil {
			return err
		}
		missed = missed || m
	}
	b.logf("raw output in %s", b.out)
	if missed && cfg.Strict {
		return errMissed
	}
	return nil
}

// start builds the programs and starts PostgreSQL, the three upstreams and
// their nginx, each ready when it returns.
func (b *bench) start(ctx context.Context) ([]*target, error) {
	b.logf("building into %s", b.tmp)
	for _, build := range [][2]string{{"bazaar", "./cmd/bazaar"}, {"floor", "./bench/floor"}} {
		out, err := exec.CommandContext(ctx, "go", "build", "-o", filepath.Join(b.tmp, build[0]), build[1]).CombinedOutput()
		if err != nil {
			return nil, fmt.Errorf("go build %s: %w\n%s", build[1], err, out)
		}
	}

	b.logf("starting PostgreSQL (durable=%v)", b.cfg.Durable)
	cluster, err := pgcluster.Start(ctx, pgcluster.Options{Dir: filepath.Join(b.tmp, "pg"), Durable: b.cfg.Durable, Timeout: 60 * time.Second})
	if err != nil {
		return nil, err
	}
	b.stops = append(b.stops, func() { _ = cluster.Stop() })
	b.pgPid = cluster.Pid()
	dbs := map[string]string{}
	for _, name := range []string{"app", "floor"} {
		if err := createDatabase(ctx, cluster.URL("postgres"), name); err != nil {
			return nil, err
		}
		dbs[name] = cluster.URL(name)
		for _, args := range [][]string{{"migrate"}, {"seed", "-n", strconv.Itoa(b.cfg.Listings)}} {
			if err := b.setup(ctx, dbs[name], args...); err != nil {
				return nil, err
			}
		}
		if err := seedPhotos(ctx, dbs[name]); err != nil {
			return nil, err
		}
	}
	if b.category, err = busiestCategory(ctx, dbs["app"]); err != nil {
		return nil, err
	}
	b.logf("migrated and seeded %d listings with photos into each database; category page %s", b.cfg.Listings, b.category)

	targets := []*target{
		{name: "app", kinds: []string{"get", "listing", "category", "post", "get-cached", "listing-cached", "category-cached", "get-signed-in"}, db: dbs["app"]},
		{name: "floor", kinds: []string{"get", "listing", "category", "post"}, db: dbs["floor"]},
		{name: "bare", kinds: []string{"get", "listing", "category"}, db: dbs["floor"]},
	}
	if b.cfg.Kinds != nil {
		for _, t := range targets {
			t.kinds = slices.DeleteFunc(t.kinds, func(k string) bool { return !slices.Contains(b.cfg.Kinds, k) })
		}
	}
	for _, t := range targets {
		env := []string{"DATABASE_URL=" + t.db, "BAZAAR_ADDR=127.0.0.1:0", "BAZAAR_INSTANCE=bench"}
		bin, args := filepath.Join(b.tmp, "floor"), []string(nil)
		switch t.name {
		case "app":
			bin, args = filepath.Join(b.tmp, "bazaar"), []string{"serve"}
		case "bare":
			args = []string{"bare"}
		}
		if t.up, err = startProc(t.name, filepath.Join(b.tmp, t.name+".log"), env, bin, args...); err != nil {
			return nil, err
		}
		b.stops = append(b.stops, func() { t.up.stop() })
		addr, err := t.up.listening(ctx, 30*time.Second)
		if err != nil {
			return nil, fmt.Errorf("%w (logs in %s)", err, b.out)
		}
		t.addr = addr
		ready := "/"
		if t.name == "app" {
			ready = "/readyz"
		}
		if err := waitOK(ctx, t.up, "http://"+addr+ready, 30*time.Second); err != nil {
			return nil, fmt.Errorf("%w (logs in %s)", err, b.out)
		}
		switch t.name {
		case "app":
			if t.session, err = signIn(ctx, "http://"+addr); err != nil {
				return nil, err
			}
		case "floor":
			if t.session, err = floorSession(ctx, t.db); err != nil {
				return nil, err
			}
		}
		t.ngx, err = nginxtest.Start(ctx, addr, nginxtest.Options{Dir: filepath.Join(b.tmp, "nginx-"+t.name), Workers: runtime.NumCPU()})
		if err != nil {
			return nil, fmt.Errorf("nginx for %s: %w", t.name, err)
		}
		b.stops = append(b.stops, func() { _ = t.ngx.Stop() })
		t.url = t.ngx.URL
	}
	b.logf("app at %s, floor at %s, bare floor at %s (through nginx)", targets[0].url, targets[1].url, targets[2].url)
	return targets, nil
}

// The demo seller `bazaar seed` makes (cmd/bazaar/seed.go), whose session
// the app's POST /listings is measured with.
const (
	demoEmail    = "ada@example.com"
	demoPassword = "bazaar-demo-2026"
)

// signIn signs the demo seller in to the app at base and returns the
// session cookie as a Cookie header value.
func signIn(ctx context.Context, base string) (string, error) {
	form := "email=" + url.QueryEscape(demoEmail) + "&password=" + url.QueryEscape(demoPassword)
	status, _, body, cookies, err := httpDoCookie(ctx, "POST", base+"/login", form, "")
	if err != nil {
		return "", err
	}
	for _, c := range cookies {
		if strings.HasSuffix(c.Name, "bazaar_session") {
			return c.Name + "=" + c.Value, nil
		}
	}
	return "", invalidf("signing in as %s: %d, no session cookie\n%.500s", demoEmail, status, body)
}

// floorSession makes a session of the demo seller in the floor's database
// by hand (the floor has no sign-in; it only looks the session up, as the
// app does) and returns its cookie as a Cookie header value.
func floorSession(ctx context.Context, dbURL string) (string, error) {
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return "", err
	}
	defer conn.Close(ctx)
	token := rand.Text() // a session token, as unguessable as scs's
	if _, err := conn.Exec(ctx, `INSERT INTO sessions (token, data, expiry) VALUES ($1, '', now() + interval '1 day')`, token); err != nil {
		return "", err
	}
	if _, err := conn.Exec(ctx, `INSERT INTO user_sessions (token, user_id) SELECT $1, id FROM users WHERE email = $2`, token, demoEmail); err != nil {
		return "", err
	}
	return "bazaar_session=" + token, nil
}

// setup runs `bazaar ARGS...` on database url, its output in setup.log.
func (b *bench) setup(ctx context.Context, url string, args ...string) error {
	f, err := os.OpenFile(filepath.Join(b.tmp, "setup.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	cmd := exec.CommandContext(ctx, filepath.Join(b.tmp, "bazaar"), args...)
	cmd.Env = append(os.Environ(), "DATABASE_URL="+url)
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("bazaar %s: %w (see setup.log in %s)", strings.Join(args, " "), err, b.out)
	}
	return nil
}

// photosSQL gives the seeded listings photos (corpus.PhotosSQL), then
// fresh statistics for the planner.
var photosSQL = append(slices.Clip(corpus.PhotosSQL), `VACUUM ANALYZE listing_photos, photo_variants`)

// seedPhotos runs photosSQL on the database at url.
func seedPhotos(ctx context.Context, url string) error {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	for _, q := range photosSQL {
		if _, err := conn.Exec(ctx, q); err != nil {
			return fmt.Errorf("seeding photos: %w", err)
		}
	}
	return nil
}

// busiestCategory returns the path of the top-level category with the
// most listings.
func busiestCategory(ctx context.Context, url string) (string, error) {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return "", err
	}
	defer conn.Close(ctx)
	var slug string
	err = conn.QueryRow(ctx, `
		SELECT p.slug FROM listings l JOIN categories c ON c.id = l.category_id JOIN categories p ON p.id = c.parent_id
		GROUP BY p.slug ORDER BY count(*) DESC, p.slug LIMIT 1`).Scan(&slug)
	return "/c/" + slug, err
}

var (
	listingLink = regexp.MustCompile(`href="/listings/[0-9]+"`)
	heading     = regexp.MustCompile(`<h1>([^<]*)</h1>`)
	countText   = regexp.MustCompile(`class="(total|count)"[^>]*>[^<]*<`)
)

// listingPath is the listing page the bench measures: a seeded listing,
// so it has the same id and content in both databases.
func (c config) listingPath() string { return "/listings/" + strconv.Itoa(c.Listings/2) }

// check makes sure the comparison is fair: every home page and category
// page shows the same 24 listings with the same covers, every listing page
// the same listing with the same photos, and every POST /listings answers
// as the app's does.
func (b *bench) check(ctx context.Context, targets []*target) error {
	links, counts := map[string]string{}, map[string]string{}
	for _, page := range []struct{ name, path string }{{"home", "/"}, {"category", b.category}} {
		for _, t := range targets {
			status, _, body, err := httpDo(ctx, "GET", t.url+page.path, "")
			if err != nil {
				return err
			}
			if err := os.WriteFile(filepath.Join(b.out, page.name+"-"+t.name+".html"), body, 0o644); err != nil {
				return err
			}
			// A card links its listing twice when it has a cover.
			found := slices.Compact(listingLink.FindAllString(string(body), -1))
			covers := strings.Count(string(body), "<img ")
			if status != 200 || len(found) != 24 || covers == 0 {
				return invalidf("%s's %s page %s answered %d with %d listings and %d covers, want 200 with 24, most with covers",
					t.name, page.name, page.path, status, len(found), covers)
			}
			links[page.name+"-"+t.name] = fmt.Sprintf("%s, %d covers", strings.Join(found, " "), covers)
			// The app's and the floor's counts (totals, per child) too.
			counts[page.name+"-"+t.name] = strings.Join(countText.FindAllString(string(body), -1), " ")
			b.logf("%s page: %s %d bytes, %d covers", page.name, t.name, len(body), covers)
		}
		if links[page.name+"-app"] != links[page.name+"-floor"] || links[page.name+"-bare"] != links[page.name+"-floor"] {
			return invalidf("the %s pages show different listings or covers:\napp   %s\nfloor %s\nbare  %s", page.name,
				links[page.name+"-app"], links[page.name+"-floor"], links[page.name+"-bare"])
		}
		if counts[page.name+"-app"] != counts[page.name+"-floor"] {
			return invalidf("the %s pages of the app and the floor count differently:\napp   %s\nfloor %s", page.name,
				counts[page.name+"-app"], counts[page.name+"-floor"])
		}
	}
	names := map[string]string{}
	for _, t := range targets {
		status, _, body, err := httpDo(ctx, "GET", t.url+b.cfg.listingPath(), "")
		if err != nil {
			return err
		}
		m := heading.FindSubmatch(body)
		if status != 200 || m == nil {
			return invalidf("%s: GET %s answered %d without an <h1>, want 200 with the listing's name", t.name, b.cfg.listingPath(), status)
		}
		names[t.name] = fmt.Sprintf("%s with %d photos", m[1], strings.Count(string(body), "<img "))
	}
	if names["app"] != names["floor"] || names["bare"] != names["floor"] || !strings.Contains(names["app"], " 4 photos") {
		return invalidf("the listing page %s shows different listings or photos (want 4): %q", b.cfg.listingPath(), names)
	}
	// The app's page cache is in use once it listens for changes.
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		m, err := appMetrics(ctx, targets[0])
		if err != nil {
			return err
		}
		if m["bazaar_page_cache_live"] == 1 {
			break
		}
		if time.Now().After(deadline) {
			return invalidf("the app's page cache was not in use after 30s (bazaar_page_cache_live %v)", m["bazaar_page_cache_live"])
		}
	}
	// After every GET: a POST to the floor changes the bare floor's page.
	for _, t := range targets {
		if !t.serves("post") {
			continue
		}
		status, loc, _, _, err := httpDoCookie(ctx, "POST", t.url+"/listings", "name=Check&description=&price=12.50&quantity=3", t.session)
		if err != nil {
			return err
		}
		if status != 303 || !strings.HasPrefix(loc, "/listings/") {
			return invalidf("%s: POST /listings answered %d to %q, want a 303 to /listings/{id}", t.name, status, loc)
		}
		if err := b.trim(ctx, t.db); err != nil {
			return err
		}
	}
	// The signed-in home page is the seller's: it names them.
	if status, _, body, _, err := httpDoCookie(ctx, "GET", targets[0].url+"/", "", "bench=uncached; "+targets[0].session); err != nil {
		return err
	} else if status != 200 || !strings.Contains(string(body), `class="user-name"`) {
		return invalidf("the app's home page with the seller's session: %d, not signed in", status)
	}
	return nil
}

var metricLine = regexp.MustCompile(`(?m)^(bazaar_page_cache_[a-z_]+) ([0-9.e+]+)$`)

// appMetrics reads the app's page cache metrics from its own /metrics
// (nginx refuses that path to the public).
func appMetrics(ctx context.Context, app *target) (map[string]float64, error) {
	status, _, body, err := httpDo(ctx, "GET", "http://"+app.addr+"/metrics", "")
	if err != nil || status != 200 {
		return nil, fmt.Errorf("GET /metrics from the app: %d %v", status, err)
	}
	m := map[string]float64{}
	for _, l := range metricLine.FindAllStringSubmatch(string(body), -1) {
		m[l[1]], _ = strconv.ParseFloat(l[2], 64)
	}
	return m, nil
}

// appStats records the app's peak resident memory (VmHWM: the whole run,
// page cache included) and its page cache's figures.
func (b *bench) appStats(ctx context.Context, app *target, res *results) error {
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", app.up.pid()))
	if err != nil {
		return err
	}
	for _, line := range strings.Split(string(status), "\n") {
		var kb float64
		if _, err := fmt.Sscanf(line, "VmHWM: %f kB", &kb); err == nil {
			res.rssPeakMiB = kb / 1024
		}
	}
	if res.rssPeakMiB == 0 {
		return fmt.Errorf("no VmHWM in /proc/%d/status", app.up.pid())
	}
	res.cache, err = appMetrics(ctx, app)
	return err
}

func createDatabase(ctx context.Context, adminURL, name string) error {
	conn, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		return fmt.Errorf("create database %s: %w", name, err)
	}
	return nil
}

// trim deletes the listings POSTs added to the database at url (every id
// past the seeded ones) and vacuums what they changed, so that every
// round's pages show the seeded listings with their photos, not the
// cover-less rows of the last round's POSTs, and the two databases stay
// alike.
func (b *bench) trim(ctx context.Context, url string) error {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `DELETE FROM listings WHERE id > $1`, b.cfg.Listings); err != nil {
		return fmt.Errorf("deleting the POSTed listings: %w", err)
	}
	// search_words too: every POST updated its words' counts, and the
	// delete took them back, so without a vacuum here autovacuum would
	// clean up the dead rows during some later round, of either target.
	_, err = conn.Exec(ctx, `VACUUM ANALYZE listings, search_words`)
	return err
}

// countRows returns the number of listings in the database at url.
func countRows(ctx context.Context, url string) (int64, error) {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return 0, err
	}
	defer conn.Close(ctx)
	var n int64
	err = conn.QueryRow(ctx, "SELECT count(*) FROM listings").Scan(&n)
	return n, err
}

// cleanup stops everything newest first (nginx before its upstream, the
// database last), keeps the ends of the logs, which is what a failed run
// needs (the request logs of a whole run are tens of megabytes), and
// drops the rest.
func (b *bench) cleanup() {
	for i := len(b.stops) - 1; i >= 0; i-- {
		b.stops[i]()
	}
	logs := map[string]string{"postgres.log": filepath.Join("pg", "postgres.log")}
	for _, name := range []string{"setup", "app", "floor", "bare"} {
		logs[name+".log"] = name + ".log"
	}
	for _, name := range []string{"app", "floor", "bare"} {
		logs["nginx-"+name+"-access.log"] = filepath.Join("nginx-"+name, "access.log")
		logs["nginx-"+name+".log"] = filepath.Join("nginx-"+name, "error.log")
	}
	for dst, src := range logs {
		if tail, err := tailLines(filepath.Join(b.tmp, src), 200); err == nil {
			_ = os.WriteFile(filepath.Join(b.out, dst), tail, 0o644)
		}
	}
	_ = os.RemoveAll(b.tmp)
}

// chdirRoot moves to the module root (the nearest go.mod above), so
// `go run ./bench` works from anywhere in the repository.
func chdirRoot() error {
	dir, err := os.Getwd()
	if err != nil {
		return err
	}
	for !exists(filepath.Join(dir, "go.mod")) {
		parent := filepath.Dir(dir)
		if parent == dir {
			return errors.New("run me inside the repository (no go.mod above the working directory)")
		}
		dir = parent
	}
	return os.Chdir(dir)
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
