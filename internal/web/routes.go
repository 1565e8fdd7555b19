package web

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// routes is the one place every route of Bazaar is declared.
//
// Middleware, outermost first: request id, logging and metrics; recovery
// from panics; security headers; cross-origin protection for every
// unsafe method; and a deadline for the request's work.
func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	// HTML pages.
	mux.HandleFunc("GET /{$}", s.handleHome)
	mux.HandleFunc("GET /listings/new", s.handleListingNew)
	mux.HandleFunc("POST /listings", s.handleListingCreate)
	mux.HandleFunc("GET /listings/{id}", s.handleListingShow)
	mux.HandleFunc("GET /listings/{id}/edit", s.handleListingEdit)
	mux.HandleFunc("POST /listings/{id}", s.handleListingUpdate)
	mux.HandleFunc("POST /listings/{id}/delete", s.handleListingDelete)
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
