package web

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// routes is the one place every route of Bazaar is declared.
//
// Middleware, outermost first: request id, logging and metrics; recovery
// from panics; security headers; cross-origin protection for every
// unsafe method, and a deadline for the request's work. Sessions wrap only the
// HTML pages that use them, so the API, health checks and static files never
// touch the sessions table.
func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	page := s.sessions.LoadAndSave

	// HTML pages.
	mux.Handle("GET /{$}", page(http.HandlerFunc(s.handleHome)))
	mux.Handle("GET /listings/new", page(http.HandlerFunc(s.handleListingNew)))
	mux.Handle("POST /listings", page(http.HandlerFunc(s.handleListingCreate)))
	mux.Handle("GET /listings/{id}", page(http.HandlerFunc(s.handleListingShow)))
	mux.Handle("GET /listings/{id}/edit", page(http.HandlerFunc(s.handleListingEdit)))
	mux.Handle("POST /listings/{id}", page(http.HandlerFunc(s.handleListingUpdate)))
	mux.Handle("POST /listings/{id}/delete", page(http.HandlerFunc(s.handleListingDelete)))
	mux.HandleFunc("GET /static/{version}/{file...}", s.handleStatic)

	// JSON API v1.
	mux.HandleFunc("GET /api/v1/listings", s.apiListListings)
	mux.HandleFunc("POST /api/v1/listings", s.apiCreateListing)
	mux.HandleFunc("GET /api/v1/listings/{id}", s.apiGetListing)
	mux.HandleFunc("PATCH /api/v1/listings/{id}", s.apiUpdateListing)
	mux.HandleFunc("DELETE /api/v1/listings/{id}", s.apiDeleteListing)
	mux.HandleFunc("GET /api/v1/openapi.yaml", s.handleOpenAPI)
	mux.HandleFunc("/api/", s.apiNotFound)

	// Operations.
	mux.HandleFunc("GET /healthz", s.handleHealthz)
	mux.HandleFunc("GET /readyz", s.handleReadyz)
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.registry, promhttp.HandlerOpts{}))

	mux.HandleFunc("/", s.handleNotFound)

	var h http.Handler = mux
	h = s.withTimeout(h)
	h = s.crossOriginProtection(h)
	h = secureHeaders(h)
	h = s.recoverPanic(h)
	h = s.observe(h)
	return h
}
