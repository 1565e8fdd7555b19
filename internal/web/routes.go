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
	mux := router{http.NewServeMux()}
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

	var h http.Handler = mux.ServeMux
	if s.innerMiddleware != nil {
		h = s.innerMiddleware(h)
	}
	h = s.withTimeout(h)
	h = s.crossOriginProtection(h)
	h = secureHeaders(h)
	h = s.recoverPanic(h)
	h = s.observe(h)
	return h
}

// router registers routes on a ServeMux, each wrapped to record its own
// pattern in the request's info for observe's log line and metrics. The
// pattern travels in the *requestInfo that observe put in the context, so
// it arrives whatever middleware sits in between and however often they
// replace the request (r.WithContext makes a new *http.Request, and
// ServeMux sets Pattern only on the one it was handed).
type router struct{ *http.ServeMux }

// Handle registers h for pattern.
func (rt router) Handle(pattern string, h http.Handler) {
	rt.ServeMux.Handle(pattern, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if info, ok := r.Context().Value(infoKey).(*requestInfo); ok {
			info.route = pattern
		}
		h.ServeHTTP(w, r)
	}))
}

// HandleFunc registers f for pattern.
func (rt router) HandleFunc(pattern string, f func(http.ResponseWriter, *http.Request)) {
	rt.Handle(pattern, http.HandlerFunc(f))
}
