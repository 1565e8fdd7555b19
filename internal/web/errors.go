package web

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"

	"github.com/bazaarhq/bazaar/internal/market"
	"github.com/bazaarhq/bazaar/internal/web/templates"
)

// StatusClientClosedRequest is nginx's 499: the client went away before the
// answer was ready. It is what logs and metrics record for such a request;
// nobody is left to read it.
const StatusClientClosedRequest = 499

// failure is what a user is told about an error. describe makes it; the
// HTML page and the problem+json body both render it.
type failure struct {
	Status  int
	Message string
	Fields  map[string]string
	// Shortages are the short lines of a refused checkout.
	Shortages []market.Shortage
}

// describe is the one place that turns an error into a status and the words
// a user sees, for pages and API alike. It logs the error once, at the level
// its cause deserves, and sets the headers that go with the status.
func (s *Server) describe(w http.ResponseWriter, r *http.Request, err error) failure {
	var mbe *http.MaxBytesError
	var mna *methodNotAllowed
	var re *requestError
	var tma *tooManyAttempts
	var oos *market.OutOfStockError
	f := failure{Message: market.ErrorMessage(err), Fields: market.ErrorFields(err)}
	if errors.As(err, &oos) {
		f.Shortages = oos.Lines
	}
	switch {
	case errors.As(err, &re):
		// First: a body read that timed out also cancels the request's
		// context, but the client is still there to be told.
		f.Status, f.Message = re.status, re.msg
	case errors.Is(err, context.Canceled) || errors.Is(err, errClientGone) || errors.Is(r.Context().Err(), context.Canceled):
		// The client hung up (its context is cancelled; a request timeout
		// would be DeadlineExceeded): not our failure, and not an error to
		// page anyone about.
		s.logger.LogAttrs(r.Context(), slog.LevelInfo, "client closed the request",
			slog.String("request_id", requestID(r.Context())), slog.String("err", err.Error()))
		return failure{Status: StatusClientClosedRequest, Message: "The request was cancelled."}
	case errors.As(err, &mna):
		w.Header().Set("Allow", strings.Join(mna.allow, ", "))
		f.Status, f.Message = http.StatusMethodNotAllowed, mna.Error()
	case errors.As(err, &mbe):
		f.Status, f.Message = http.StatusRequestEntityTooLarge, "The request body is larger than 1 MiB."
	case errors.As(err, &tma):
		w.Header().Set("Retry-After", tma.retryAfter())
		f.Status, f.Message = http.StatusTooManyRequests, tma.Error()
	default:
		f.Status = statusOf(market.ErrorCode(err))
		if errors.Is(err, market.ErrStale) && r.Header.Get("If-Match") != "" {
			// The API client made the change conditional; the form's stale
			// save stays the 409 its page explains.
			f.Status = http.StatusPreconditionFailed
		}
	}
	switch {
	case f.Status >= 500:
		s.logger.LogAttrs(r.Context(), slog.LevelError, "request failed",
			slog.String("request_id", requestID(r.Context())), slog.Int("status", f.Status), slog.String("err", err.Error()))
	default:
		s.logger.LogAttrs(r.Context(), slog.LevelDebug, "request rejected",
			slog.String("request_id", requestID(r.Context())), slog.Int("status", f.Status), slog.String("err", err.Error()))
	}
	switch f.Status {
	case http.StatusServiceUnavailable:
		w.Header().Set("Retry-After", "2")
	case http.StatusUnauthorized:
		// RFC 9110: a 401 names the scheme that would work.
		w.Header().Set("WWW-Authenticate", `Bearer realm="bazaar"`)
	}
	w.Header().Set("Cache-Control", "no-store") // even if the handler had called the page cacheable
	return f
}

// statusOf maps a market error code to an HTTP status.
func statusOf(code string) int {
	switch code {
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

// errClientGone marks an error caused by the client closing its connection
// (halfway through sending its body, say).
var errClientGone = errors.New("the client closed the connection")

// requestError is a problem with the request as HTTP, below the domain's
// rules: a body that arrives too slowly (408) or cannot be read (400).
type requestError struct {
	status int
	msg    string
	err    error
}

func (e *requestError) Error() string { return e.msg + ": " + e.err.Error() }
func (e *requestError) Unwrap() error { return e.err }

// methodNotAllowed is a request for a known path with a method it does not
// have.
type methodNotAllowed struct {
	method string
	allow  []string
}

func (e *methodNotAllowed) Error() string {
	return "This address does not support " + e.method + "; it supports " + strings.Join(e.allow, ", ") + "."
}

// error answers err: problem+json under /api/ (middleware such as
// cross-origin protection and panic recovery reports through here for
// every route), the error page elsewhere. A client that went away gets
// nothing but its 499 in the log.
func (s *Server) error(w http.ResponseWriter, r *http.Request, err error) {
	f := s.describe(w, r, err)
	switch {
	case f.Status == StatusClientClosedRequest:
		w.WriteHeader(f.Status)
	case strings.HasPrefix(r.URL.Path, "/api/"):
		s.writeProblem(w, r, f)
	default:
		s.render(w, r, f.Status, templates.Error(templates.ErrorPage{
			Layout: templates.Layout{Title: http.StatusText(f.Status), Static: s.views.prefix}, Status: f.Status, Message: f.Message,
		}))
	}
}

func (s *Server) handleNotFound(w http.ResponseWriter, r *http.Request) {
	s.error(w, r, market.Errorf(market.ENOTFOUND, "We could not find that page."))
}
