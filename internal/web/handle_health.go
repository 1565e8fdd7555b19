package web

import (
	"context"
	"errors"
	"net/http"
	"time"
)

// handleHealthz says the process is up. It touches nothing else, so a slow
// database never gets a healthy process restarted.
func (s *Server) handleHealthz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write([]byte("ok\n"))
}

// handleReadyz says whether this instance should get traffic (ready).
func (s *Server) handleReadyz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if err := s.ready(r.Context()); err != nil {
		if !errors.Is(err, errDraining) {
			s.logger.Warn("not ready", "request_id", requestID(r.Context()), "err", err)
		}
		w.WriteHeader(http.StatusServiceUnavailable)
		if errors.Is(err, errDraining) {
			_, _ = w.Write([]byte("draining\n"))
		} else {
			_, _ = w.Write([]byte("not ready\n"))
		}
		return
	}
	_, _ = w.Write([]byte("ready\n"))
}

var errDraining = errors.New("draining for shutdown")

// ready says whether this instance should get traffic: not while it is
// draining for shutdown, and only when the database is reachable with the
// schema this binary expects. /readyz answers it for load balancers and
// the bazaar_ready gauge for Prometheus (the NoReadyReplica alert).
func (s *Server) ready(ctx context.Context) error {
	if s.draining.Load() {
		return errDraining
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	return s.db.Ready(ctx)
}

// readyGauge is bazaar_ready's value, measured when Prometheus scrapes.
func (s *Server) readyGauge() float64 {
	if s.ready(context.Background()) != nil {
		return 0
	}
	return 1
}
