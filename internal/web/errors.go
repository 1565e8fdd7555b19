package web

import (
	"errors"
	"net/http"
	"strings"

	"github.com/bazaarhq/bazaar/internal/market"
)

// status maps a market error code to an HTTP status. It is the only place
// that does, for pages and API alike.
func status(err error) int {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return http.StatusRequestEntityTooLarge
	}
	switch market.ErrorCode(err) {
	case market.EINVALID:
		return http.StatusUnprocessableEntity
	case market.ENOTFOUND:
		return http.StatusNotFound
	case market.ECONFLICT:
		return http.StatusConflict
	case market.EFORBIDDEN:
		return http.StatusForbidden
	case market.EUNAUTHORIZED:
		return http.StatusUnauthorized
	case market.EUNAVAILABLE:
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// errorPage is the data of the error page.
type errorPage struct {
	layout
	Status  int
	Message string
}

// error renders err as an HTML page with the right status. Internal errors
// are logged (once, with the request id) and shown as a generic message.
func (s *Server) error(w http.ResponseWriter, r *http.Request, err error) {
	if strings.HasPrefix(r.URL.Path, "/api/") {
		// Middleware (cross-origin protection, panics) reports through here
		// for every route; API clients get problem+json.
		s.apiError(w, r, err)
		return
	}
	code := status(err)
	msg := market.ErrorMessage(err)
	if code == http.StatusRequestEntityTooLarge {
		msg = "That request was too large."
	}
	s.logError(r, code, err)
	if code == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "2")
	}
	s.render(w, r, code, "error.html", errorPage{layout: layout{Title: http.StatusText(code)}, Status: code, Message: msg})
}

func (s *Server) logError(r *http.Request, code int, err error) {
	switch {
	case code >= 500:
		s.logger.Error("request failed", "request_id", requestID(r.Context()), "status", code, "err", err)
	case code >= 400:
		s.logger.Debug("request rejected", "request_id", requestID(r.Context()), "status", code, "err", err)
	}
}

func (s *Server) handleNotFound(w http.ResponseWriter, r *http.Request) {
	s.error(w, r, market.Errorf(market.ENOTFOUND, "We could not find that page."))
}
