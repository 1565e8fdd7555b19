package web

import (
	"context"
	"net/http"
	"time"
)

// WithInnerMiddleware makes the server wrap its mux in mw, inside every
// other middleware: where a session or authentication layer will go.
func WithInnerMiddleware(mw func(http.Handler) http.Handler) func(*Config) {
	return func(c *Config) { c.innerMiddleware = mw }
}

// SessionCookie starts a session for user id as a sign-in would (a new
// token, recorded as the user's), without a password: for tests that need
// a signed-in client but test something else than signing in.
func (s *Server) SessionCookie(ctx context.Context, userID int64) (*http.Cookie, error) {
	ctx, err := s.sessions.Load(ctx, "")
	if err != nil {
		return nil, err
	}
	s.sessions.Put(ctx, sessionUserKey, userID)
	s.sessions.Put(ctx, sessionSeenKey, time.Now().Unix())
	token, _, err := s.sessions.Commit(ctx)
	if err != nil {
		return nil, err
	}
	if err := s.db.RecordSession(ctx, token, userID); err != nil {
		return nil, err
	}
	return &http.Cookie{Name: s.sessions.Cookie.Name, Value: token, Path: "/"}, nil
}

// SessionCookieName is the name of the session cookie.
func (s *Server) SessionCookieName() string { return s.sessions.Cookie.Name }
