package web

import (
	"context"
	"net/http"
	"strings"

	"github.com/bazaarhq/bazaar/internal/market"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// routes is the one place every route of Bazaar is declared.
//
// Middleware, outermost first: request id, logging and metrics; the page
// cache for anonymous visitors (pagecache.go: a hit is answered there,
// with the headers stored with the page); recovery from panics; security
// headers; cross-origin protection for every unsafe method. Then each route (router.Handle) records its pattern, reads
// the body and sets a deadline for the request's work.
func (s *Server) routes() http.Handler {
	mux := router{ServeMux: http.NewServeMux(), s: s}
	// HTML pages.
	mux.HandleFunc("GET /{$}", cachedPages(listPage, s.handleHome))
	mux.HandleFunc("GET /listings/new", s.handleListingNew)
	mux.HandleUpload("POST /listings", s.handleListingCreate)
	mux.HandleFunc("GET /listings/{id}", cachedPages(listingPage, s.handleListingShow))
	mux.HandleFunc("GET /listings/{id}/edit", s.handleListingEdit)
	mux.HandleUpload("POST /listings/{id}", s.handleListingUpdate)
	mux.HandleFunc("POST /listings/{id}/delete", s.handleListingDelete)
	mux.HandleUpload("POST /listings/{id}/photos", s.handlePhotoAdd)
	mux.HandleFunc("POST /listings/{id}/photos/{photo_id}/delete", s.handlePhotoDelete)
	mux.HandleFunc("POST /listings/{id}/photos/{photo_id}/cover", s.handlePhotoCover)
	mux.HandleFunc("POST /listings/{id}/photos/{photo_id}/move", s.handlePhotoMove)
	mux.HandleFunc("GET /search", s.handleSearch)
	mux.HandleFunc("GET /c/{slug}", cachedPages(listPage, s.handleCategory))
	mux.HandleFunc("GET /sellers/{id}", cachedPages(listPage, s.handleSeller))
	mux.HandleFunc("GET /signup", s.handleSignupForm)
	mux.HandleFunc("POST /signup", s.handleSignup)
	mux.HandleFunc("GET /login", s.handleLoginForm)
	mux.HandleFunc("POST /login", s.handleLogin)
	mux.HandleFunc("POST /logout", s.handleLogout)
	mux.HandleFunc("GET /account", s.handleAccount)
	mux.HandleFunc("POST /account/name", s.handleAccountName)
	mux.HandleFunc("POST /account/password", s.handleAccountPassword)
	mux.HandleFunc("POST /account/tokens", s.handleAccountTokenCreate)
	mux.HandleFunc("POST /account/tokens/{id}/delete", s.handleAccountTokenRevoke)
	mux.HandleFunc("GET /password/forgot", s.handleForgotForm)
	mux.HandleFunc("POST /password/forgot", s.handleForgot)
	mux.HandleFunc("GET /password/reset", s.handleResetForm)
	mux.HandleFunc("POST /password/reset", s.handleReset)
	mux.HandleFunc("GET /static/{version}/{file...}", s.handleStatic)
	mux.HandleFunc("GET /cart", s.handleCart)
	mux.HandleFunc("POST /cart/items", s.handleCartAdd)
	mux.HandleFunc("POST /cart/items/{listing_id}", s.handleCartUpdate)
	mux.HandleFunc("POST /cart/items/{listing_id}/delete", s.handleCartRemove)
	mux.HandleFunc("POST /checkout", s.handleCheckout)
	mux.HandleFunc("GET /orders", s.handleOrders)
	mux.HandleFunc("GET /orders/{id}", s.handleOrder)
	mux.HandleFunc("POST /orders/{id}/deliver", s.handleOrderDeliver)
	mux.HandleFunc("POST /orders/{id}/cancel", s.handleOrderCancel)
	mux.HandleFunc("GET /sales", s.handleSales)
	mux.HandleFunc("GET /sales/{id}", s.handleSale)
	mux.HandleFunc("POST /sales/{id}/ship", s.handleSaleShip)
	mux.HandleFunc("POST /sales/{id}/cancel", s.handleSaleCancel)
	if s.media != nil { // make run only: nginx serves the photos in production
		mux.HandleFunc("GET "+s.mediaURL+"/{key...}", s.handleMedia)
	}

	// JSON API v1.
	mux.HandleFunc("GET /api/v1/listings", s.apiListListings)
	mux.HandleFunc("POST /api/v1/listings", s.apiCreateListing)
	mux.HandleFunc("GET /api/v1/listings/{id}", s.apiGetListing)
	mux.HandleFunc("PATCH /api/v1/listings/{id}", s.apiUpdateListing)
	mux.HandleFunc("DELETE /api/v1/listings/{id}", s.apiDeleteListing)
	mux.HandleFunc("GET /api/v1/sellers/{id}", s.apiGetSeller)
	mux.HandleFunc("POST /api/v1/users", s.apiSignup)
	mux.HandleFunc("GET /api/v1/me", s.apiMe)
	mux.HandleFunc("POST /api/v1/tokens", s.apiCreateToken)
	mux.HandleFunc("GET /api/v1/tokens", s.apiListTokens)
	mux.HandleFunc("DELETE /api/v1/tokens/{id}", s.apiRevokeToken)
	mux.HandleFunc("GET /api/v1/listings/{id}/photos", s.apiListPhotos)
	mux.HandleUpload("POST /api/v1/listings/{id}/photos", s.apiAddPhoto)
	mux.HandleFunc("GET /api/v1/listings/{id}/photos/{photo_id}", s.apiGetPhoto)
	mux.HandleFunc("PATCH /api/v1/listings/{id}/photos/{photo_id}", s.apiUpdatePhoto)
	mux.HandleFunc("DELETE /api/v1/listings/{id}/photos/{photo_id}", s.apiDeletePhoto)
	mux.HandleFunc("GET /api/v1/categories", s.apiCategories)
	mux.HandleFunc("GET /api/v1/suggest", s.apiSuggest)
	mux.HandleFunc("GET /api/v1/cart", s.apiGetCart)
	mux.HandleFunc("PUT /api/v1/cart/items/{listing_id}", s.apiPutCartItem)
	mux.HandleFunc("DELETE /api/v1/cart/items/{listing_id}", s.apiDeleteCartItem)
	mux.HandleFunc("POST /api/v1/orders", s.apiCreateOrders)
	mux.HandleFunc("GET /api/v1/orders", s.apiListOrders)
	mux.HandleFunc("GET /api/v1/orders/{id}", s.apiGetOrder)
	mux.HandleFunc("POST /api/v1/orders/{id}/ship", s.apiShipOrder)
	mux.HandleFunc("POST /api/v1/orders/{id}/deliver", s.apiDeliverOrder)
	mux.HandleFunc("POST /api/v1/orders/{id}/cancel", s.apiCancelOrder)
	mux.HandleFunc("GET /api/v1/sales", s.apiListSales)
	mux.HandleFunc("GET /api/v1/openapi.yaml", s.handleOpenAPI)

	// Operations.
	mux.HandleFunc("GET /healthz", s.handleHealthz)
	mux.HandleFunc("GET /readyz", s.handleReadyz)
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.registry, promhttp.HandlerOpts{}))

	// No catch-all pattern: it would match every method of every path and
	// hide the mux's knowledge of which methods a path has. Requests no
	// pattern matches are answered by router.ServeHTTP (404 or 405).
	var h http.Handler = mux
	if s.innerMiddleware != nil {
		h = s.innerMiddleware(h)
	}
	h = s.sessionLayer(h)
	h = s.crossOriginProtection(h)
	h = secureHeaders(h, s.photoOrigin)
	h = s.recoverPanic(h)
	h = s.cacheLayer(h)
	h = s.observe(h)
	return h
}

// router registers routes on a ServeMux, each wrapped to record its own
// pattern in the request's info for observe's log line and metrics. The
// pattern travels in the *requestInfo that observe put in the context, so
// it arrives whatever middleware sits in between and however often they
// replace the request (r.WithContext makes a new *http.Request, and
// ServeMux sets Pattern only on the one it was handed).
type router struct {
	*http.ServeMux
	s *Server
}

// probeMethods are the methods a 405's Allow header can name.
var probeMethods = []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete}

// ServeHTTP serves a request with the route it matches. One that matches no
// route gets a 405 with an Allow header when its path is a route's with
// other methods, else a 404, as a page or (under /api/) problem+json; both
// count under the route "unmatched".
func (rt router) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if _, pattern := rt.Handler(r); pattern != "" {
		rt.ServeMux.ServeHTTP(w, r)
		return
	}
	var allow []string
	probe := *r
	for _, m := range probeMethods {
		probe.Method = m
		if _, pattern := rt.Handler(&probe); pattern != "" && m != r.Method {
			allow = append(allow, m)
		}
	}
	switch {
	case len(allow) > 0:
		rt.s.error(w, r, &methodNotAllowed{method: r.Method, allow: allow})
	case strings.HasPrefix(r.URL.Path, "/api/"):
		rt.s.error(w, r, market.Errorf(market.ENOTFOUND, "No such API route: %s %s.", r.Method, r.URL.Path))
	default:
		rt.s.handleNotFound(w, r)
	}
}

// Handle registers h for pattern. Each request to it first records the
// pattern, then has its body read in full (readBody: 413, 408, 499), and
// only then starts the deadline for its work, so a slow client cannot use
// up the time the database work was given.
func (rt router) Handle(pattern string, h http.Handler) {
	s := rt.s
	rt.ServeMux.Handle(pattern, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if info, ok := r.Context().Value(infoKey).(*requestInfo); ok {
			info.route = pattern
		}
		if !s.readBody(w, r) {
			return
		}
		// The deadline bounds the request's work, so a stalled database
		// turns into a prompt 503 rather than a hung connection.
		ctx, cancel := context.WithTimeout(r.Context(), s.timeout)
		defer cancel()
		h.ServeHTTP(w, r.WithContext(ctx))
	}))
}

// HandleFunc registers f for pattern.
func (rt router) HandleFunc(pattern string, f func(http.ResponseWriter, *http.Request)) {
	rt.Handle(pattern, http.HandlerFunc(f))
}
