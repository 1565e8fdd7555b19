// Command uploads is `make bench-uploads` (and the last part of `make
// bench`): 20 clients upload a 12-megapixel photo each at the same moment
// to one `bazaar serve` process, while one visitor keeps loading the home
// page. It prints the app's peak resident memory (VmRSS from /proc) and
// the home page's latency before and during the uploads, so the bound on
// decoding (BAZAAR_PHOTO_DECODES, default CPUs less one) shows as numbers:
// memory that does not grow with the number of uploaders, and page views
// that do not stall.
//
// The app runs as its own process (so its memory is its own), on a
// throwaway PostgreSQL (internal/pgcluster) with 24 seeded listings and a
// temporary photo directory. Knobs: UPLOADS_CLIENTS (20), UPLOADS_ROUNDS
// (1: uploads per client), BAZAAR_PHOTO_DECODES (passed through).
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/jpeg"
	"io"
	"math/rand/v2"
	"mime/multipart"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/bazaarhq/bazaar/internal/pgcluster"
	"github.com/jackc/pgx/v5"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "bench-uploads:", err)
		os.Exit(1)
	}
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

func run(ctx context.Context) error {
	clients := envInt("UPLOADS_CLIENTS", 20)
	rounds := envInt("UPLOADS_ROUNDS", 1)
	tmp, err := os.MkdirTemp("", "bazaar-uploads-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	// As root, pgcluster runs PostgreSQL as the postgres user, who must
	// reach its directory inside.
	if err := os.Chmod(tmp, 0o755); err != nil {
		return err
	}

	bin := filepath.Join(tmp, "bazaar")
	if out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/bazaar").CombinedOutput(); err != nil {
		return fmt.Errorf("go build: %w\n%s", err, out)
	}
	cluster, err := pgcluster.Start(ctx, pgcluster.Options{Dir: filepath.Join(tmp, "pg"), Timeout: 60 * time.Second})
	if err != nil {
		return err
	}
	defer cluster.Stop()
	conn, err := pgx.Connect(ctx, cluster.URL("postgres"))
	if err != nil {
		return err
	}
	_, err = conn.Exec(ctx, "CREATE DATABASE bench")
	_ = conn.Close(ctx)
	if err != nil {
		return err
	}
	dbURL := cluster.URL("bench")
	env := append(os.Environ(), "DATABASE_URL="+dbURL, "BAZAAR_ADDR=127.0.0.1:0",
		"BAZAAR_PHOTO_DIR="+filepath.Join(tmp, "photos"))
	for _, args := range [][]string{{"migrate"}, {"seed", "-n", strconv.Itoa(max(24, clients))}} {
		cmd := exec.CommandContext(ctx, bin, args...)
		cmd.Env = env
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("bazaar %s: %w\n%s", args[0], err, out)
		}
	}

	cmd := exec.Command(bin, "serve")
	cmd.Env = env
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return err
	}
	defer func() { _ = cmd.Process.Signal(syscall.SIGTERM); _ = cmd.Wait() }()
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			var m struct{ Msg, Addr string }
			if json.Unmarshal(sc.Bytes(), &m) == nil && m.Msg == "listening" {
				addr <- m.Addr
			}
		}
	}()
	var base string
	select {
	case a := <-addr:
		base = "http://" + a
	case <-time.After(30 * time.Second):
		return fmt.Errorf("the app did not start listening")
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if resp, err := http.Get(base + "/readyz"); err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the app is not ready")
		}
	}

	// The seeded listings belong to the demo sellers, round-robin (listing
	// k to seller (k-1) mod 3); each uploads to its own listings.
	var tokens []string
	for _, email := range []string{"ada@example.com", "grace@example.com", "linus@example.com"} {
		body := `{"email":"` + email + `","password":"bazaar-demo-2026","name":"bench"}`
		resp, err := http.Post(base+"/api/v1/tokens", "application/json", strings.NewReader(body))
		if err != nil {
			return err
		}
		var tok struct{ Token string }
		err = json.NewDecoder(resp.Body).Decode(&tok)
		_ = resp.Body.Close()
		if err != nil || tok.Token == "" {
			return fmt.Errorf("token for %s: %s %v", email, resp.Status, err)
		}
		tokens = append(tokens, tok.Token)
	}

	photo := photo12MP()
	fmt.Printf("photo: 4000x3000 JPEG, %.1f MB; %d clients x %d uploads; decode slots: %d\n",
		float64(len(photo))/1e6, clients, rounds, decodeSlots())
	idleRSS := procKiB(cmd.Process.Pid, "VmRSS:")

	// The visitor: GET / one after another (with a cookie, so the page
	// cache does not answer), before and during the uploads.
	home := func(until <-chan struct{}) []time.Duration {
		var ds []time.Duration
		client := &http.Client{Timeout: 30 * time.Second}
		for {
			select {
			case <-until:
				return ds
			default:
			}
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/", nil)
			req.Header.Set("Cookie", "bench=uncached")
			start := time.Now()
			resp, err := client.Do(req)
			if err == nil {
				_, _ = io.Copy(io.Discard, resp.Body)
				_ = resp.Body.Close()
				if resp.StatusCode == 200 {
					ds = append(ds, time.Since(start))
				}
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	idleStop := make(chan struct{})
	time.AfterFunc(3*time.Second, func() { close(idleStop) })
	idle := home(idleStop)

	busyStop := make(chan struct{})
	busyDone := make(chan []time.Duration)
	go func() { busyDone <- home(busyStop) }()
	// The resident set sampled every 10 ms while the uploads run: VmHWM
	// would also count the password hashing of the sign-ins above.
	peakDone := make(chan int64)
	go func() {
		var peak int64
		for {
			select {
			case <-busyStop:
				peakDone <- peak
				return
			case <-time.After(10 * time.Millisecond):
				peak = max(peak, procKiB(cmd.Process.Pid, "VmRSS:"))
			}
		}
	}()
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		upTimes  []time.Duration
		statuses = map[int]int{}
	)
	start := time.Now()
	for c := range clients {
		wg.Go(func() {
			for range rounds {
				t0 := time.Now()
				code := upload(ctx, base, c+1, tokens[c%3], photo)
				mu.Lock()
				upTimes = append(upTimes, time.Since(t0))
				statuses[code]++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	total := time.Since(start)
	close(busyStop)
	busy := <-busyDone
	peak := <-peakDone

	fmt.Printf("uploads: %d in %s, statuses %v; each took p50 %s, max %s\n", len(upTimes), total.Round(time.Millisecond),
		statuses, pct(upTimes, 50), pct(upTimes, 100))
	fmt.Printf("home page before: n=%d p50 %s p95 %s p99 %s max %s\n", len(idle), pct(idle, 50), pct(idle, 95), pct(idle, 99), pct(idle, 100))
	fmt.Printf("home page during: n=%d p50 %s p95 %s p99 %s max %s\n", len(busy), pct(busy, 50), pct(busy, 95), pct(busy, 99), pct(busy, 100))
	fmt.Printf("app RSS: %.1f MiB before the uploads, peak %.1f MiB during them (VmRSS every 10 ms)\n", float64(idleRSS)/1024, float64(peak)/1024)
	if statuses[201] != clients*rounds {
		return fmt.Errorf("not every upload succeeded: %v", statuses)
	}
	return nil
}

// upload posts photo to listing id's photo route and returns the status.
func upload(ctx context.Context, base string, id int, token string, photo []byte) int {
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	w, _ := mw.CreateFormFile("photo", "camera.jpg")
	_, _ = w.Write(photo)
	_ = mw.Close()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, base+"/api/v1/listings/"+strconv.Itoa(id)+"/photos", &b)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := (&http.Client{Timeout: 5 * time.Minute}).Do(req)
	if err != nil {
		return 0
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	return resp.StatusCode
}

// photo12MP is a 4000x3000 JPEG with a camera photo's size: smooth
// gradients with some noise, about 4-5 MB at quality 92.
func photo12MP() []byte {
	const w, h = 4000, 3000
	m := image.NewYCbCr(image.Rect(0, 0, w, h), image.YCbCrSubsampleRatio420)
	r := rand.New(rand.NewPCG(1, 2)) // #nosec G404 -- test image noise, not a secret
	for y := range h {
		for x := range w {
			m.Y[y*m.YStride+x] = uint8((x*255/w+y*255/h)/2) + uint8(r.IntN(24)) // #nosec G115 -- 0..254 by construction
		}
	}
	for y := range h / 2 {
		for x := range w / 2 {
			m.Cb[y*m.CStride+x] = uint8(96 + x*64/(w/2))
			m.Cr[y*m.CStride+x] = uint8(96 + y*64/(h/2))
		}
	}
	var b bytes.Buffer
	_ = jpeg.Encode(&b, m, &jpeg.Options{Quality: 92})
	return b.Bytes()
}

// procKiB reads a field of /proc/<pid>/status, in KiB.
func procKiB(pid int, field string) int64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field); ok {
			n, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return n
		}
	}
	return -1
}

func pct(ds []time.Duration, p int) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := (len(s)*p+99)/100 - 1
	return s[max(0, min(i, len(s)-1))].Round(100 * time.Microsecond)
}

// decodeSlots is the app's BAZAAR_PHOTO_DECODES: as set, else its default.
func decodeSlots() int {
	if v := os.Getenv("BAZAAR_PHOTO_DECODES"); v != "" {
		n, _ := strconv.Atoi(v)
		return n
	}
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return 0
	}
	return max(1, strings.Count(string(b), "\nprocessor")) // CPUs less one, the app's default
}
