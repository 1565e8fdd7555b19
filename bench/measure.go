package main

import (
	"context"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"
)

// sample is one wrk run against one target.
type sample struct {
	rps                  float64
	requests             int64
	upCPU, ngxCPU, pgCPU float64 // CPU microseconds per request
	upstream, nginx, pg  int64   // ticks, for the record
	written, before      int64   // POST only
}

// results holds every round's samples by target and kind ("app-get"), and
// the paired ratios by comparison ("get app/floor").
type results struct {
	cfg     config
	samples map[string][]sample
	paired  map[string][]float64
	// rssPeakMiB is the app's peak resident memory over the run; cache its
	// page cache's metrics at the end.
	rssPeakMiB float64
	cache      map[string]float64
}

// comparison is one verdict line: the app against a floor for one kind of
// request (the floor's sample of floorKind, measured in the same round).
type comparison struct {
	kind, floor, floorKind string
	target                 float64
}

var comparisons = []comparison{
	{"get", "floor", "get", targetGet},
	{"get", "bare", "get", targetGet},
	{"listing", "floor", "listing", targetGet},
	{"listing", "bare", "listing", targetGet},
	{"category", "floor", "category", targetGet},
	{"category", "bare", "category", targetGet},
	{"post", "floor", "post", targetPost},
	{"get-cached", "bare", "get", targetCached},
	{"listing-cached", "bare", "listing", targetCached},
	{"category-cached", "bare", "category", targetCached},
	{"get-signed-in", "floor", "get", targetSignedIn},
}

// kinds are the requests measured, in this order in every round. The
// uncached kinds send a cookie, as a signed-in visitor's browser does, so
// the app's page cache (for anonymous visitors only) stays out of the
// way; the floors ignore it. The -cached kinds send none: the app may
// answer from its cache. Only the app serves them; the bare floor's
// sample of the same page, from the same round, is the comparison.
// get-signed-in is the home page with a signed-in seller's session cookie
// (and the uncached one): the app loads the session and the user from
// PostgreSQL each time; compared with the floor's anonymous home page.
var kinds = []string{"get", "listing", "category", "post", "get-cached", "listing-cached", "category-cached", "get-signed-in"}

// uncachedCookie is the cookie the uncached kinds send.
const uncachedCookie = "Cookie: bench=uncached"

// measure warms every target up, then runs the rounds.
func (b *bench) measure(ctx context.Context, targets []*target) (*results, error) {
	res := &results{cfg: b.cfg, samples: map[string][]sample{}, paired: map[string][]float64{}}
	b.logf("warming up (%s per request and target)", b.cfg.Warmup)
	for _, t := range targets {
		for _, kind := range t.kinds {
			if _, err := b.wrk(ctx, filepath.Join(b.out, "warmup-"+t.name+"-"+kind+".txt"), t, kind, b.cfg.Warmup); err != nil {
				return nil, err
			}
		}
	}
	for round := 1; round <= b.cfg.Rounds; round++ {
		order := slices.Clone(targets)
		if round%2 == 0 {
			slices.Reverse(order)
		}
		last := map[string]float64{} // by target and kind, this round
		for _, kind := range kinds {
			for _, t := range order {
				if !t.serves(kind) {
					continue
				}
				s, err := b.sample(ctx, round, t, kind)
				if err != nil {
					return nil, err
				}
				res.samples[t.name+"-"+kind] = append(res.samples[t.name+"-"+kind], s)
				last[t.name+"-"+kind] = s.rps
				b.logf("round %d: %-5s %-7s %8.0f req/s   CPU us/request: %-5s %4.0f  nginx %4.0f  postgres %4.0f",
					round, t.name, kind, s.rps, t.name, s.upCPU, s.ngxCPU, s.pgCPU)
			}
			for _, c := range comparisons {
				app, okApp := last["app-"+kind]
				floor, okFloor := last[c.floor+"-"+c.floorKind]
				if c.kind == kind && okApp && okFloor { // both measured (BENCH_KINDS)
					res.paired[c.key()] = append(res.paired[c.key()], app/floor)
				}
			}
		}
	}
	return res, nil
}

func (c comparison) key() string { return c.kind + " app/" + c.floor }

// sample measures one target and kind for the configured duration, with
// the CPU time of its upstream, its nginx and PostgreSQL over that time.
func (b *bench) sample(ctx context.Context, round int, t *target, kind string) (sample, error) {
	var s sample
	file := filepath.Join(b.out, fmt.Sprintf("round%d-%s-%s.txt", round, t.name, kind))
	var err error
	if kind == "post" {
		if s.before, err = countRows(ctx, t.db); err != nil {
			return s, fmt.Errorf("count %s's listings: %w", t.name, err)
		}
	}
	roots := []int{t.up.pid(), t.ngx.Pid(), b.pgPid}
	t0, err := cpuTicks(roots...)
	if err != nil {
		return s, err
	}
	out, err := b.wrk(ctx, file, t, kind, b.cfg.Duration)
	if err != nil {
		return s, err
	}
	t1, err := cpuTicks(roots...)
	if err != nil {
		return s, err
	}
	if s.rps, s.requests, err = parseWrk(out); err != nil {
		return s, fmt.Errorf("%s: %w", file, err)
	}
	s.upstream, s.nginx, s.pg = t1[0]-t0[0], t1[1]-t0[1], t1[2]-t0[2]
	perReq := func(ticks int64) float64 { return math.Round(float64(ticks) * 1e6 / userHZ / float64(s.requests)) }
	s.upCPU, s.ngxCPU, s.pgCPU = perReq(s.upstream), perReq(s.nginx), perReq(s.pg)
	note := fmt.Sprintf("cpu us/request: %s %.0f, nginx %.0f, postgres %.0f\n", t.name, s.upCPU, s.ngxCPU, s.pgCPU)
	if kind == "post" {
		after, err := countRows(ctx, t.db)
		if err != nil {
			return s, fmt.Errorf("count %s's listings: %w", t.name, err)
		}
		s.written = after - s.before
		// Requests still in flight when wrk stops may land too.
		if s.written < s.requests || s.written > s.requests+int64(b.cfg.Conns) {
			return s, invalidf("%s: wrk counted %d POSTs but %d rows were written", t.name, s.requests, s.written)
		}
		note = fmt.Sprintf("rows written: %d\n", s.written) + note
		if err := b.trim(ctx, t.db); err != nil {
			return s, err
		}
	}
	return s, appendFile(file, note)
}

// wrk runs wrk against t for d, keeps its output in file and returns it.
// Socket errors or non-2xx/3xx responses make the run invalid.
func (b *bench) wrk(ctx context.Context, file string, t *target, kind string, d time.Duration) (string, error) {
	// wrk counts a response slower than its default 2 s as a socket
	// error, which makes the run invalid; on a machine shared with other
	// work a few requests wait that long behind neighbours. 10 s still
	// catches a server that hangs.
	args := []string{"-t" + strconv.Itoa(b.cfg.Threads), "-c" + strconv.Itoa(b.cfg.Conns), "-d" + strconv.Itoa(int(d/time.Second)) + "s", "--timeout", "10s", "--latency"}
	url := t.url + "/"
	switch {
	case (kind == "post" || kind == "get-signed-in") && t.session != "":
		args = append(args, "-H", uncachedCookie+"; "+t.session)
	case kind == "get", kind == "listing", kind == "category", kind == "post":
		args = append(args, "-H", uncachedCookie)
	}
	switch kind {
	case "listing", "listing-cached":
		url = t.url + b.cfg.listingPath()
	case "category", "category-cached":
		url = t.url + b.category
	case "post":
		args = append(args, "-s", filepath.Join("bench", "post.lua"))
		url = t.url + "/listings"
	}
	out, err := exec.CommandContext(ctx, "wrk", append(args, url)...).CombinedOutput()
	if werr := os.WriteFile(file, out, 0o644); werr != nil {
		return "", werr
	}
	if err != nil {
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
		return "", invalidf("wrk failed: %v\n%s", err, out)
	}
	if bad := wrkTrouble.FindAllString(string(out), -1); len(bad) > 0 {
		return "", invalidf("see %s: %s", file, strings.Join(bad, "; "))
	}
	return string(out), nil
}

var (
	wrkTrouble  = regexp.MustCompile(`(?m)^\s*(Non-2xx or 3xx responses|Socket errors):.*$`)
	wrkRate     = regexp.MustCompile(`(?m)^Requests/sec:\s+([0-9.]+)`)
	wrkRequests = regexp.MustCompile(`(?m)^\s*([0-9]+) requests in `)
)

// parseWrk reads requests/s and the number of requests from wrk's report.
func parseWrk(out string) (rps float64, requests int64, err error) {
	m, n := wrkRate.FindStringSubmatch(out), wrkRequests.FindStringSubmatch(out)
	if m == nil || n == nil {
		return 0, 0, fmt.Errorf("no Requests/sec or request count in wrk's output:\n%s", out)
	}
	rps, err = strconv.ParseFloat(m[1], 64)
	if err != nil {
		return 0, 0, err
	}
	requests, err = strconv.ParseInt(n[1], 10, 64)
	if err == nil && requests == 0 {
		err = fmt.Errorf("wrk completed no requests:\n%s", out)
	}
	return rps, requests, err
}

func appendFile(path, s string) error {
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	if _, err := io.WriteString(f, s); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}

// report prints the table and the verdicts (also to summary.txt) and says
// whether a target was missed.
func (b *bench) report(stdout io.Writer, res *results) (missed bool, err error) {
	var sb strings.Builder
	missed = res.write(&sb, b.header())
	if err := os.WriteFile(filepath.Join(b.out, "summary.txt"), []byte(sb.String()), 0o644); err != nil {
		return missed, err
	}
	_, err = io.WriteString(stdout, sb.String())
	return missed, err
}

func (b *bench) header() string {
	c := b.cfg
	rev, _ := exec.Command("git", "rev-parse", "--short", "HEAD").Output()
	load, _ := os.ReadFile("/proc/loadavg")
	return fmt.Sprintf("Bazaar vs its floors through nginx: wrk -t%d -c%d -d%s, %d rounds in alternating order\n"+
		"%s  %s  %s  %d CPUs  load %s  durable=%d  listings=%d\n",
		c.Threads, c.Conns, c.Duration, c.Rounds,
		time.Now().UTC().Format(time.RFC3339), strings.TrimSpace(string(rev)), runtime.Version(), runtime.NumCPU(),
		strings.Join(strings.Fields(string(load))[:min(3, len(strings.Fields(string(load))))], " "), btoi(c.Durable), c.Listings)
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// write prints the table and the verdict lines and reports a miss.
func (r *results) write(w io.Writer, header string) (missed bool) {
	fmt.Fprintln(w, header)
	fmt.Fprintf(w, "%-23s %-6s %9s %9s   %-40s %s\n", "request", "target", "req/s", "best", "samples", "CPU us/req (median): upstream nginx postgres = total")
	for _, kind := range kinds {
		for _, name := range []string{"app", "floor", "bare"} {
			ss := r.samples[name+"-"+kind]
			if len(ss) == 0 {
				continue
			}
			rates := field(ss, func(s sample) float64 { return s.rps })
			u, n, g := r.cpu(name, kind)
			fmt.Fprintf(w, "%-23s %-6s %9.0f %9.0f   %-40s %9s %5s %8s   %5s\n", request(kind), name, median(rates), slices.Max(rates),
				join(rates, "%.0f"), num(u), num(n), num(g), num(u+n+g))
		}
	}
	fmt.Fprintln(w)
	for _, c := range comparisons {
		rounds := r.paired[c.key()]
		if len(rounds) == 0 {
			continue
		}
		m := median(rounds)
		verdict := "PASS"
		if m < c.target {
			verdict, missed = "MISS", true
		}
		au, an, ag := r.cpu("app", c.kind)
		fu, fn, fg := r.cpu(c.floor, c.floorKind)
		cpu := (fu + fn + fg) / (au + an + ag)
		best := slices.Max(field(r.samples["app-"+c.kind], func(s sample) float64 { return s.rps })) /
			slices.Max(field(r.samples[c.floor+"-"+c.floorKind], func(s sample) float64 { return s.rps }))
		fmt.Fprintf(w, "%-22s %-9s %.3f (target %.2f) %s   rounds %s  best-of %.3f  CPU model %.3f\n",
			request(c.kind), "app/"+c.floor, m, c.target, verdict, join(rounds, "%.3f"), best, cpu)
		// Say so when the rounds scatter or the CPU model disagrees: on a
		// busy machine one verdict is then not worth much.
		if spread := (slices.Max(rounds) - slices.Min(rounds)) / m; spread > 0.15 {
			fmt.Fprintf(w, "                (noisy: the rounds span %.0f%% of the median; rerun on a quieter machine)\n", 100*spread)
		}
		if (cpu >= c.target) != (verdict == "PASS") {
			other := "MISS"
			if cpu >= c.target {
				other = "PASS"
			}
			fmt.Fprintf(w, "                (the CPU model says %s)\n", other)
		}
	}
	if r.rssPeakMiB > 0 {
		verdict := "PASS"
		if r.rssPeakMiB >= targetRSSMiB {
			verdict, missed = "MISS", true
		}
		fmt.Fprintf(w, "%-22s %-9s %.1f MiB (target < %d) %s   page cache: %.0f hits, %.0f misses, %.0f evictions, %.0f invalidations, %.0f pages, %.0f KiB of %.0f KiB\n",
			"app memory", "peak RSS", r.rssPeakMiB, targetRSSMiB, verdict,
			r.cache["bazaar_page_cache_hits_total"], r.cache["bazaar_page_cache_misses_total"], r.cache["bazaar_page_cache_evictions_total"],
			r.cache["bazaar_page_cache_invalidations_total"], r.cache["bazaar_page_cache_pages"], r.cache["bazaar_page_cache_bytes"]/1024, r.cache["bazaar_page_cache_max_bytes"]/1024)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "req/s: median of the rounds (best beside it). app/floor, app/bare: median of each round's back-to-back ratio.")
	fmt.Fprintln(w, "floor: the app's templates and rules, nothing else. bare: the same rows from the same query on a minimal page.")
	fmt.Fprintln(w, "uncached requests carry a cookie (the app's page cache serves anonymous visitors only); cached ones do not, against the bare floor's same page.")
	fmt.Fprintln(w, "CPU model: the floor's CPU time per request over the app's (upstream + nginx + postgres), the ratio to expect when CPU-bound.")
	return missed
}

// cpu returns the median CPU microseconds per request of name's upstream,
// its nginx and PostgreSQL for kind.
func (r *results) cpu(name, kind string) (up, ngx, pg float64) {
	ss := r.samples[name+"-"+kind]
	return median(field(ss, func(s sample) float64 { return s.upCPU })),
		median(field(ss, func(s sample) float64 { return s.ngxCPU })),
		median(field(ss, func(s sample) float64 { return s.pgCPU }))
}

func request(kind string) string {
	switch kind {
	case "post":
		return "POST /listings"
	case "listing":
		return "GET /listings/N"
	case "get-cached":
		return "GET / cached"
	case "listing-cached":
		return "GET /listings/N cached"
	case "category":
		return "GET /c/{slug}"
	case "category-cached":
		return "GET /c/{slug} cached"
	case "get-signed-in":
		return "GET / signed in"
	}
	return "GET /"
}

func field(ss []sample, f func(sample) float64) []float64 {
	out := make([]float64, len(ss))
	for i, s := range ss {
		out[i] = f(s)
	}
	return out
}

// median of xs; the mean of the middle two for an even count.
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := slices.Sorted(slices.Values(xs))
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func join(xs []float64, format string) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = fmt.Sprintf(format, x)
	}
	return strings.Join(s, "/")
}

// num prints a median of whole microseconds: whole, or with the .5 an even
// count of samples can give.
func num(x float64) string { return strconv.FormatFloat(x, 'f', -1, 64) }
