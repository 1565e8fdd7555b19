package mail

import (
	"context"
	"log/slog"
	"time"

	"github.com/bazaarhq/bazaar/internal/market"
	"github.com/bazaarhq/bazaar/internal/postgres"
	"github.com/prometheus/client_golang/prometheus"
)

// Worker delivers the outbox. Run one per replica: they share the work
// through row locks (FOR UPDATE SKIP LOCKED), so each message is sent once.
type Worker struct {
	db     *postgres.DB
	sender Sender
	logger *slog.Logger
	// Interval is how often the outbox is polled when it is empty.
	Interval time.Duration
	// Backoff is how long to wait before the attempts-th retry of a message.
	Backoff func(attempts int) time.Duration
	// TidyEvery is how often the worker also runs db.Tidy (0: never).
	TidyEvery time.Duration
	results   *prometheus.CounterVec
}

// NewWorker returns a worker that sends db's outbox through sender, polling
// every 2 seconds and retrying a failed message after 10s, 20s, 40s, ... up
// to 15 minutes. reg (when not nil) receives the
// bazaar_mail_deliveries_total counter.
func NewWorker(db *postgres.DB, sender Sender, logger *slog.Logger, reg prometheus.Registerer) *Worker {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	w := &Worker{
		db: db, sender: sender, logger: logger,
		Interval:  2 * time.Second,
		TidyEvery: 10 * time.Minute,
		Backoff: func(attempts int) time.Duration {
			return min(10*time.Second<<min(attempts-1, 10), 15*time.Minute)
		},
		results: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bazaar_mail_deliveries_total",
			Help: "Outbox delivery attempts, by result (sent or failed).",
		}, []string{"result"}),
	}
	w.results.WithLabelValues("sent")
	w.results.WithLabelValues("failed")
	if reg != nil {
		reg.MustRegister(w.results)
	}
	return w
}

// Run delivers due messages until ctx is done, then returns nil.
func (w *Worker) Run(ctx context.Context) error {
	var lastTidy time.Time
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-timer.C:
		}
		w.drain(ctx)
		if w.TidyEvery > 0 && time.Since(lastTidy) >= w.TidyEvery {
			lastTidy = time.Now()
			if err := w.db.Tidy(ctx); err != nil && ctx.Err() == nil {
				w.logger.LogAttrs(ctx, slog.LevelWarn, "tidy failed", slog.String("err", err.Error()))
			}
		}
		timer.Reset(w.Interval)
	}
}

// drain sends every due message, one transaction each.
func (w *Worker) drain(ctx context.Context) {
	for ctx.Err() == nil {
		found, err := w.db.DeliverMail(ctx, w.send, w.Backoff)
		if err != nil {
			if ctx.Err() == nil {
				w.logger.LogAttrs(ctx, slog.LevelWarn, "outbox unavailable", slog.String("err", err.Error()))
			}
			return
		}
		if !found {
			return
		}
	}
}

func (w *Worker) send(ctx context.Context, m *market.Mail) error {
	err := w.sender.Send(ctx, m)
	if err != nil {
		w.results.WithLabelValues("failed").Inc()
		w.logger.LogAttrs(ctx, slog.LevelWarn, "mail not delivered; will retry",
			slog.Int64("mail_id", m.ID), slog.String("err", err.Error()))
		return err
	}
	w.results.WithLabelValues("sent").Inc()
	w.logger.LogAttrs(ctx, slog.LevelInfo, "mail delivered", slog.Int64("mail_id", m.ID))
	return nil
}
