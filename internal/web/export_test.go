package web

import "net/http"

// WithInnerMiddleware makes the server wrap its mux in mw, inside every
// other middleware: where a session or authentication layer will go.
func WithInnerMiddleware(mw func(http.Handler) http.Handler) func(*Config) {
	return func(c *Config) { c.innerMiddleware = mw }
}
