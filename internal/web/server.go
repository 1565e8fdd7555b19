// Package web is Bazaar's HTTP face: server-rendered HTML pages, the JSON API
// under /api/v1, health endpoints and metrics. Every route is in routes.go.
package web

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/alexedwards/scs/v2"

	"github.com/bazaarhq/bazaar/internal/gallery"
	"github.com/bazaarhq/bazaar/internal/password"
	"github.com/bazaarhq/bazaar/internal/postgres"
	"github.com/prometheus/client_golang/prometheus"
)

// Config is what the server needs from the outside world.
type Config struct {
	DB     *postgres.DB
	Logger *slog.Logger
	// Instance names this process in the X-Bazaar-Instance header of
	// responses to trusted proxies (never to other clients), so an operator
	// can tell replicas apart behind nginx.
	Instance string
	// TrustedProxies are the peers whose X-Forwarded-For and X-Request-ID
	// headers are believed. Everyone else's are ignored.
	TrustedProxies []netip.Prefix
	// RequestTimeout bounds the work (database calls) of one request.
	RequestTimeout time.Duration
	// SecureCookies marks cookies Secure (serve over HTTPS).
	SecureCookies bool
	// AccessLog, when set, receives each request's log line directly:
	// the JSON line Logger.With("instance", Instance) would write, but
	// encoded by hand at a fraction of the cost (accesslog.go). Logger
	// still decides the level. Every other line goes through Logger.
	AccessLog io.Writer
	// PageCacheBytes bounds the cache of anonymous visitors' pages
	// (pagecache.go); 0 turns it off. It is in use only while WatchChanges
	// runs.
	PageCacheBytes int
	// Registry receives the server's metrics; nil means a new registry.
	Registry *prometheus.Registry
	// SessionIdle ends a session unused for this long, SessionLifetime
	// any session this long after sign-in (0: DefaultSessionIdle,
	// DefaultSessionLifetime).
	SessionIdle     time.Duration
	SessionLifetime time.Duration
	// PublicURL is the site's address as people reach it
	// ("https://bazaar.example"), for the links in mail; never taken from
	// a request's Host, which a client writes. Empty: http://localhost:8080.
	PublicURL string
	// Hasher hashes passwords; nil means argon2id at OWASP's minimum with
	// as many hashes at once as there are CPUs, its gauge in Registry.
	Hasher *password.Hasher
	// Photos adds and serves listings' photos; nil turns uploads away
	// (503) and shows listings without photos.
	Photos *gallery.Gallery
	// PhotoOrigin is the origin photos are served from when it is not
	// this site's ("https://cdn.example.com"): the pages' CSP allows it.
	PhotoOrigin string
	// MediaDir, when set, is served under the path MediaURL (such as
	// /media): `make run` has no nginx to do it (handle_media.go).
	MediaDir string
	MediaURL string

	innerMiddleware func(http.Handler) http.Handler
}

// Server is the HTTP handler for the whole application.
type Server struct {
	db       *postgres.DB
	logger   *slog.Logger
	instance string
	// instanceHeader is the X-Bazaar-Instance value, built once.
	instanceHeader []string
	trusted        []netip.Prefix
	timeout        time.Duration
	secure         bool
	flash          flashHeaders
	views          *views
	registry       *prometheus.Registry
	metrics        *metrics
	cache          *pageCache // nil when off
	accessLog      io.Writer  // nil: request lines go through logger
	sessions       *scs.SessionManager
	idle           time.Duration
	hasher         *password.Hasher
	publicURL      string
	handler        http.Handler
	photos         *gallery.Gallery
	media          *os.Root // nil unless Config.MediaDir
	mediaURL       string
	photoOrigin    string
	// uploads holds a token per upload being read (upload.go).
	uploads chan struct{}
	// draining is set when shutdown begins, so /readyz turns 503 before the
	// listener closes.
	draining atomic.Bool
	// innerMiddleware, when set (by tests, see export_test.go), wraps the
	// mux inside every other middleware.
	innerMiddleware func(http.Handler) http.Handler
}

// NewServer builds the application handler.
func NewServer(cfg Config) (*Server, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.RequestTimeout == 0 {
		cfg.RequestTimeout = 10 * time.Second
	}
	if cfg.Registry == nil {
		cfg.Registry = prometheus.NewRegistry()
	}
	if cfg.SessionIdle == 0 {
		cfg.SessionIdle = DefaultSessionIdle
	}
	if cfg.SessionLifetime == 0 {
		cfg.SessionLifetime = DefaultSessionLifetime
	}
	v, err := newViews()
	if err != nil {
		return nil, err
	}
	if cfg.Hasher == nil {
		if cfg.Hasher, err = password.New(password.OWASP, 0, cfg.Registry); err != nil {
			return nil, err
		}
	}
	s := &Server{
		db: cfg.DB, logger: cfg.Logger, instance: cfg.Instance, trusted: cfg.TrustedProxies,
		timeout: cfg.RequestTimeout, secure: cfg.SecureCookies, views: v, registry: cfg.Registry,
		metrics: newMetrics(cfg.Registry), innerMiddleware: cfg.innerMiddleware, accessLog: cfg.AccessLog,
		idle: cfg.SessionIdle, hasher: cfg.Hasher, publicURL: strings.TrimSuffix(cfg.PublicURL, "/"),
		photos: cfg.Photos, uploads: make(chan struct{}, 2), photoOrigin: cfg.PhotoOrigin,
		flash: newFlashHeaders(cfg.SecureCookies),
	}
	if s.publicURL == "" {
		s.publicURL = "http://localhost:8080"
	}
	if cfg.Photos != nil {
		// Twice the decode slots: one upload decoding per slot and one
		// being read to follow it, so reading overlaps decoding while the
		// bytes held stay bounded.
		s.uploads = make(chan struct{}, 2*cfg.Photos.Processor().Slots())
	}
	s.sessions = s.newSessions(cfg)
	cfg.Registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "bazaar_ready",
		Help: "1 while this instance would answer /readyz with 200 (not draining, database reachable with the expected schema), else 0; measured at each scrape.",
	}, s.readyGauge))
	if cfg.PageCacheBytes > 0 {
		s.cache = newPageCache(cfg.PageCacheBytes, cfg.Registry)
	}
	if cfg.DB != nil {
		registerSessionCache(cfg.Registry, cfg.DB)
	}
	if strings.ContainsAny(cfg.PhotoOrigin, " ;,'\"") {
		return nil, fmt.Errorf("web: PhotoOrigin %q is not an origin", cfg.PhotoOrigin)
	}
	if cfg.MediaDir != "" {
		if !strings.HasPrefix(cfg.MediaURL, "/") || strings.Contains(cfg.MediaURL, "{") {
			return nil, fmt.Errorf("web: MediaURL must be a path such as /media, got %q", cfg.MediaURL)
		}
		if s.media, err = openMedia(cfg.MediaDir); err != nil {
			return nil, fmt.Errorf("web: media directory: %w", err)
		}
		s.mediaURL = strings.TrimSuffix(cfg.MediaURL, "/")
	}
	if cfg.Instance != "" {
		s.instanceHeader = []string{cfg.Instance}
	}
	s.handler = s.routes()
	return s, nil
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if s.draining.Load() {
		// net/http closes the connection after this response, and the
		// client (nginx) does not reuse it: see Drain.
		w.Header()["Connection"] = connectionClose
	}
	s.handler.ServeHTTP(w, r)
}

var connectionClose = []string{"close"}

// Drain marks the server as shutting down: /readyz answers 503 from now on,
// and every response closes its connection. So while the listener is still
// open (BAZAAR_DRAIN_DELAY), the keep-alive connections a proxy holds to
// this replica end one by one, each after a response, instead of all at
// once when http.Server.Shutdown closes the idle ones: a request the proxy
// writes into a connection the server is closing at that instant fails,
// and a proxy does not retry a POST it has sent (the 502 the e2e rolling
// restart saw). Those the proxy leaves idle it closes itself, after its
// keepalive_timeout, shorter than the delay.
func (s *Server) Drain() { s.draining.Store(true) }
