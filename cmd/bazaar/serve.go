package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime/debug"
	"time"

	"github.com/bazaarhq/bazaar/internal/blob"
	"github.com/bazaarhq/bazaar/internal/gallery"
	"github.com/bazaarhq/bazaar/internal/mail"
	"github.com/bazaarhq/bazaar/internal/market"
	"github.com/bazaarhq/bazaar/internal/photo"
	"github.com/bazaarhq/bazaar/internal/postgres"
	"github.com/bazaarhq/bazaar/internal/web"
	"github.com/prometheus/client_golang/prometheus"
)

// tuneGC sets the collector for a small, steady heap, unless GOGC or
// GOMEMLIMIT say otherwise. The app keeps a few MiB live (plus the page
// cache), and Go's default (collect when the heap has doubled) then runs
// a collection every few hundred requests: 7% of the CPU of a listing
// page under load (issue 13). Collecting at 4x the live heap, but always
// before the heap passes the page cache plus 32 MiB (a soft limit: Go
// collects harder near it), spends that memory, which the container has,
// on fewer collections and keeps the peak under the 64 MiB the issue sets.
//
// Photo uploads add 48 MiB per decode slot: a 12-megapixel photo's pixels
// and resized copies (about 35 MiB) and the uploads read meanwhile. Without
// that room the limit would have the collector run flat out during
// uploads; with more, GOGC=300 lets the heap grow to it (bench/uploads
// peaked at 251 MiB with 96 MiB a slot, 159 MiB with 48, two slots).
func tuneGC(pageCacheBytes, decodeSlots int) {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(300)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(int64(pageCacheBytes) + 32<<20 + int64(decodeSlots)*48<<20)
	}
}

// logFlushEvery bounds how long a log line waits in the buffer (logbuf.go).
const logFlushEvery = 100 * time.Millisecond

// serve runs the web server until ctx is cancelled, then drains: /readyz
// turns 503 and every response closes its connection (for
// BAZAAR_DRAIN_DELAY, while still serving), the listener closes, in-flight
// requests finish (up to ShutdownTimeout), and only then does the database
// pool close.
func serve(ctx context.Context, cfg config, stdout io.Writer) error {
	reg := prometheus.NewRegistry()
	proc := photo.NewProcessor(photo.Config{MaxDecodes: cfg.PhotoDecodes, Registry: reg})
	tuneGC(cfg.PageCacheBytes, proc.Slots())
	out := newLogBuffer(stdout, logFlushEvery, 64<<10)
	defer out.Close() // last: after "stopped"
	logger := slog.New(slog.NewJSONHandler(out, &slog.HandlerOptions{Level: cfg.LogLevel})).With("instance", cfg.Instance)

	db, err := postgres.Open(ctx, cfg.DatabaseURL, postgres.Options{MaxConns: cfg.DBMaxConns})
	if err != nil {
		return err
	}
	defer db.Close()
	if err := checkSchema(ctx, db, logger); err != nil {
		return err
	}

	store, err := photoStore(cfg)
	if err != nil {
		return err
	}
	photos := gallery.New(gallery.Config{DB: db, Store: store, Processor: proc, Logger: logger, Registry: reg})
	wcfg := web.Config{
		DB: db, Logger: logger, Instance: cfg.Instance, TrustedProxies: cfg.TrustedProxies,
		RequestTimeout: cfg.RequestTimeout, SecureCookies: cfg.SecureCookies, Registry: reg,
		PageCacheBytes: cfg.PageCacheBytes, AccessLog: out, Photos: photos,
		SessionIdle: cfg.SessionIdle, SessionLifetime: cfg.SessionLifetime, PublicURL: cfg.PublicURL,
	}
	wcfg.PhotoOrigin = photoOrigin(cfg)
	if cfg.ServeMedia && cfg.S3.Endpoint == "" {
		wcfg.MediaDir, wcfg.MediaURL = cfg.PhotoDir, cfg.PhotoURL
	}
	srv, err := web.NewServer(wcfg)
	if err != nil {
		return err
	}
	// The collector of deleted photos' objects: every replica runs one.
	collectCtx, stopCollect := context.WithCancel(context.WithoutCancel(ctx))
	collectDone := make(chan struct{})
	go func() { defer close(collectDone); photos.Collect(collectCtx) }()
	defer func() {
		stopCollect()
		<-collectDone
	}()
	// The connection listening for changes, which keeps the page cache and
	// the session cache correct; stopped after the last request is served.
	watchCtx, stopWatch := context.WithCancel(context.WithoutCancel(ctx))
	watchDone := make(chan struct{})
	go func() { defer close(watchDone); srv.WatchChanges(watchCtx) }()
	defer func() {
		stopWatch()
		<-watchDone
	}()

	// The outbox worker: every replica runs one; row locks share the work.
	var sender mail.Sender = &mail.Dir{Path: filepath.Join(cfg.DataDir, "mail"), Logger: logger, From: cfg.MailFrom}
	if cfg.SMTPURL != "" {
		if sender, err = mail.NewSMTP(cfg.SMTPURL, cfg.MailFrom); err != nil {
			return err
		}
	} else {
		logger.Warn("BAZAAR_SMTP_URL is not set: mail is written to files, not sent", "dir", filepath.Join(cfg.DataDir, "mail"))
	}
	workerCtx, stopWorker := context.WithCancel(context.WithoutCancel(ctx))
	workerDone := make(chan error, 1)
	go func() { workerDone <- mail.NewWorker(db, sender, logger, reg).Run(workerCtx) }()
	defer func() {
		stopWorker()
		<-workerDone
	}()
	httpServer := &http.Server{
		Handler:           srv,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		// Longer than nginx's upstream keepalive_timeout (4s), so nginx,
		// not the app, closes idle connections and never sends a request
		// down one the app is closing (and see web.Server.Drain).
		IdleTimeout: 75 * time.Second,
		ErrorLog:    slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.Addr, err)
	}
	logger.Info("listening", "addr", ln.Addr().String(), "schema", postgres.LatestVersion())

	errc := make(chan error, 1)
	go func() { errc <- httpServer.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}

	logger.Info("shutting down", "timeout", cfg.ShutdownTimeout.String())
	srv.Drain()
	if cfg.DrainDelay > 0 {
		// Keep serving while load balancers that poll /readyz notice.
		time.Sleep(cfg.DrainDelay)
	}
	sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	if err := httpServer.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	logger.Info("stopped")
	return nil
}

// photoOrigin is the origin browsers fetch photos from when it is not the
// site's own: the scheme and host of an absolute photo URL.
func photoOrigin(cfg config) string {
	u := cfg.PhotoURL
	if cfg.S3.Endpoint != "" {
		u = cfg.S3.PublicURL
	}
	p, err := url.Parse(u)
	if err != nil || p.Host == "" || (p.Scheme != "http" && p.Scheme != "https") {
		return ""
	}
	return p.Scheme + "://" + p.Host
}

// photoStore opens the store photos are written to: the S3 bucket when one
// is configured, else the directory.
func photoStore(cfg config) (blob.Store, error) {
	if cfg.S3.Endpoint != "" {
		return blob.NewS3(cfg.S3)
	}
	d, err := blob.NewDir(cfg.PhotoDir, cfg.PhotoURL)
	if err != nil {
		return nil, fmt.Errorf("BAZAAR_PHOTO_DIR: %w", err)
	}
	// A directory the app cannot write (a volume owned by another user)
	// would refuse every upload; say so now, not at the first seller.
	// The probe's name starts with ".tmp-", which is never a photo's.
	f, err := os.CreateTemp(cfg.PhotoDir, ".tmp-probe-")
	if err != nil {
		return nil, fmt.Errorf("BAZAAR_PHOTO_DIR %s is not writable by this process (uid %d): %w", cfg.PhotoDir, os.Getuid(), err)
	}
	_ = f.Close()
	_ = os.Remove(f.Name())
	return d, nil
}

// checkSchema refuses to serve on a schema older than this binary needs; a
// newer one is fine (expand/contract migrations, see
// internal/postgres/migrations/README.md). It waits up to 30 seconds for an unreachable database, so the
// app can start alongside it.
func checkSchema(ctx context.Context, db *postgres.DB, logger *slog.Logger) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		have, err := db.SchemaVersion(ctx)
		if err == nil {
			if err := postgres.CheckSchema(have, nil); err != nil {
				return err
			}
			if want := postgres.LatestVersion(); have > want {
				logger.Info("database schema is newer than this binary's; serving on it", "schema", have, "binary_schema", want)
			}
			return nil
		}
		if market.ErrorCode(err) != market.EUNAVAILABLE {
			return fmt.Errorf("check schema: %w", err)
		}
		logger.Warn("database not reachable yet", "err", err)
		select {
		case <-ctx.Done():
			return fmt.Errorf("database not reachable: %w", err)
		case <-time.After(500 * time.Millisecond):
		}
	}
}

func migrate(ctx context.Context, cfg config, stdout io.Writer) error {
	res, err := postgres.Migrate(ctx, cfg.DatabaseURL)
	if err != nil {
		return err
	}
	if len(res.Applied) == 0 {
		fmt.Fprintf(stdout, "schema is current at version %d; nothing to do\n", res.To)
		return nil
	}
	for _, p := range res.Applied {
		fmt.Fprintf(stdout, "applied %s\n", p)
	}
	fmt.Fprintf(stdout, "schema migrated from version %d to %d\n", res.From, res.To)
	return nil
}

// healthcheck asks the local server's /readyz, for container health checks
// in images that have no curl.
func healthcheck(ctx context.Context, getenv func(string) string) error {
	_, port, err := net.SplitHostPort(or(getenv("BAZAAR_ADDR"), ":8080"))
	if err != nil {
		return fmt.Errorf("BAZAAR_ADDR: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://127.0.0.1:"+port+"/readyz", nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("readyz: %s", resp.Status)
	}
	return nil
}
