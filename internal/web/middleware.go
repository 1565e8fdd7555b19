package web

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/bazaarhq/bazaar/internal/market"
	"github.com/bazaarhq/bazaar/internal/postgres"
)

type ctxKey int

const infoKey ctxKey = iota

// requestInfo is what the outer middleware learns about a request from the
// inner layers: its id going in, the matched route pattern coming out (set
// by the router's wrapper of each route, see routes.go).
type requestInfo struct {
	id    string
	route string
	// cacheable is set by the routes whose pages anonymous visitors may
	// share (cachedPages), with the listing the page shows (0: a list).
	cacheable bool
	listing   int64
	// session is set when the request's session was loaded (auth.go);
	// user and authErr are who sent it, once authDone.
	session bool
	// sessionUser is filled by the session store with the session's user.
	sessionUser *postgres.SessionUser
	authDone    bool
	user        *market.User
	authErr     error
}

// requestID returns the id of the request carried by ctx.
func requestID(ctx context.Context) string {
	if info, ok := ctx.Value(infoKey).(*requestInfo); ok {
		return info.id
	}
	return ""
}

// statusWriter records the status code and size of a response.
type statusWriter struct {
	http.ResponseWriter
	status int
	bytes  int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += n
	return n, err
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// observe gives each request an id (nginx's, when nginx is a trusted
// proxy), names the instance in a response header to trusted proxies only,
// and logs and counts the request once it is done.
func (s *Server) observe(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		client, trusted := s.clientIP(r)
		id := ""
		if trusted {
			id = validRequestID(r.Header.Get("X-Request-ID"))
		}
		if id == "" {
			id = newRequestID()
		}
		info := &requestInfo{id: id}
		r = r.WithContext(context.WithValue(r.Context(), infoKey, info))
		h := w.Header()
		h["X-Request-Id"] = []string{id}
		if trusted && s.instanceHeader != nil {
			// Only towards a trusted proxy: the instance name is the
			// container's hostname under compose, nothing the public needs.
			// nginx hides it from clients (proxy_hide_header) and can log it
			// ($upstream_http_x_bazaar_instance); our own log lines carry it.
			h["X-Bazaar-Instance"] = s.instanceHeader // shared, never modified
		}
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r)
		if sw.status == 0 {
			sw.status = http.StatusOK
		}
		elapsed := time.Since(start)
		route := info.route
		if route == "" {
			route = "unmatched"
		}
		s.metrics.observe(r.Method, route, sw.status, elapsed)
		line := requestLine{
			level: slog.LevelInfo, id: id, method: r.Method, path: r.URL.Path, route: route,
			status: sw.status, bytes: sw.bytes, duration: elapsed, client: client,
		}
		if sw.status >= 500 {
			line.level = slog.LevelError
		}
		s.logRequest(r, &line)
	})
}

// logRequest writes a request's log line: straight to Config.AccessLog
// when there is one (accesslog.go), else through the logger.
func (s *Server) logRequest(r *http.Request, line *requestLine) {
	if !s.logger.Enabled(r.Context(), line.level) {
		return
	}
	if s.accessLog == nil {
		s.logger.LogAttrs(r.Context(), line.level, "request", line.attrs()...)
		return
	}
	bp := linePool.Get().(*[]byte)
	*bp = line.append((*bp)[:0], time.Now(), s.instance)
	_, _ = s.accessLog.Write(*bp)
	if cap(*bp) <= 4<<10 {
		linePool.Put(bp)
	}
}

// clientIP returns the client's address and whether the direct peer is a
// trusted proxy. Behind a trusted proxy it is the last address the proxy
// appended to X-Forwarded-For; anyone else's X-Forwarded-For is ignored,
// since a client can write whatever it likes there.
func (s *Server) clientIP(r *http.Request) (string, bool) {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	peer, err := netip.ParseAddr(host)
	if err != nil {
		return host, false
	}
	peer = peer.Unmap()
	trusted := false
	for _, p := range s.trusted {
		if p.Contains(peer) {
			trusted = true
			break
		}
	}
	if !trusted {
		return peer.String(), false
	}
	xff := r.Header.Values("X-Forwarded-For")
	if len(xff) == 0 {
		return peer.String(), true
	}
	parts := strings.Split(xff[len(xff)-1], ",")
	if a, err := netip.ParseAddr(strings.TrimSpace(parts[len(parts)-1])); err == nil {
		return a.String(), true
	}
	return peer.String(), true
}

// validRequestID accepts ids of sane length and alphabet only, so a header
// cannot inject into logs.
func validRequestID(id string) string {
	if len(id) == 0 || len(id) > 64 {
		return ""
	}
	for _, c := range id {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return ""
		}
	}
	return id
}

func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// recoverPanic turns a panic into a logged 500 instead of a dropped connection.
func (s *Server) recoverPanic(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				w.Header().Set("Connection", "close")
				s.error(w, r, fmt.Errorf("panic: %v", v))
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// securityHeaders are set on every response. The value slices are shared
// by all responses and never modified; assigning them skips the
// canonicalisation and allocation of Header.Set on the hot path.
var securityHeaders = map[string][]string{
	"Content-Security-Policy":    {"default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"},
	"X-Content-Type-Options":     {"nosniff"},
	"Referrer-Policy":            {"strict-origin-when-cross-origin"},
	"X-Frame-Options":            {"DENY"},
	"Cross-Origin-Opener-Policy": {"same-origin"},
	// Nothing dynamic is stored by any cache unless its handler says so
	// (cacheablePage, static files, the OpenAPI document): API answers,
	// forms, errors, redirects and operations endpoints stay no-store, and
	// so will every page that shows a user's own data.
	"Cache-Control": {"no-store"},
}

// secureHeaders sets the headers every response carries. Photos served
// from another origin (an S3 bucket or CDN, Config.PhotoOrigin) are
// allowed as images in the Content-Security-Policy. The headers are laid
// out once in a slice: ranging over a map on every request costs more.
func secureHeaders(next http.Handler, photoOrigin string) http.Handler {
	type header struct {
		key    string
		values []string
	}
	headers := make([]header, 0, len(securityHeaders))
	for k, v := range securityHeaders {
		if k == "Content-Security-Policy" && photoOrigin != "" {
			v = []string{strings.Replace(v[0], "img-src 'self' data:", "img-src 'self' data: "+photoOrigin, 1)}
		}
		headers = append(headers, header{k, v})
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		for _, kv := range headers {
			h[kv.key] = kv.values
		}
		next.ServeHTTP(w, r)
	})
}

// crossOriginProtection rejects cross-site unsafe requests (POST, PATCH,
// DELETE) with 403, using Go's Fetch-metadata based protection: browsers
// say where a request came from in Sec-Fetch-Site/Origin, so no token is
// needed. Requests without either header (curl, API clients) pass: they
// carry no ambient browser credentials to abuse.
func (s *Server) crossOriginProtection(next http.Handler) http.Handler {
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.error(w, r, market.Errorf(market.EFORBIDDEN, "Cross-site requests are not allowed. Please use the form on this site."))
	}))
	return cop.Handler(next)
}

// maxBodyBytes caps every request body: forms and JSON alike are small.
const maxBodyBytes = 1 << 20

// readBody reads the request body into memory before the request's work
// begins, as nginx buffers it too: at most maxBodyBytes (else 413), within
// the request timeout (else 408: a client too slow to send its body is not
// a database outage), and a client that hangs up halfway is an abort (499).
// It reports false when it has answered.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request) bool {
	if r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0 {
		return true
	}
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Now().Add(s.timeout)) // unsupported only by test recorders
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	_ = rc.SetReadDeadline(time.Time{})
	if err != nil {
		var mbe *http.MaxBytesError
		switch {
		case errors.As(err, &mbe):
		case errors.Is(err, os.ErrDeadlineExceeded):
			w.Header().Set("Connection", "close")
			err = &requestError{status: http.StatusRequestTimeout, msg: "The request body arrived too slowly.", err: err}
		case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, syscall.ECONNRESET), errors.Is(err, net.ErrClosed):
			err = fmt.Errorf("read body: %w: %w", errClientGone, err)
		default:
			w.Header().Set("Connection", "close")
			err = &requestError{status: http.StatusBadRequest, msg: "The request body could not be read.", err: err}
		}
		s.error(w, r, err)
		return false
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	return true
}
