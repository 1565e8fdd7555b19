package postgres

import (
	"context"
	"time"

	"github.com/bazaarhq/bazaar/internal/market"
	"github.com/jackc/pgx/v5"
)

// EnqueueMail puts m in the outbox on its own. Events that send mail call
// enqueueMail inside their own transaction instead.
func (db *DB) EnqueueMail(ctx context.Context, m market.Mail) error {
	return db.inTx(ctx, func(tx pgx.Tx) error { return enqueueMail(ctx, tx, m) })
}

func enqueueMail(ctx context.Context, tx pgx.Tx, m market.Mail) error {
	_, err := tx.Exec(ctx, `INSERT INTO mail_outbox (recipient, subject, body) VALUES ($1, $2, $3)`, m.To, m.Subject, m.Body)
	return err
}

// DeliverMail takes the oldest message that is due, locking its row with
// FOR UPDATE SKIP LOCKED so that any number of workers on any number of
// replicas each take a different one, and hands it to send while the lock
// is held. When send succeeds the message is marked sent in the same
// transaction; when it fails, the message is tried again after
// backoff(attempts). It reports whether there was a message to deliver.
//
// A message is sent at most once while the database commits what the worker
// did; a crash between the mail server's acceptance and the commit sends it
// again (at-least-once), which no SMTP exchange can rule out. Every message
// carries a stable Message-ID so receivers may drop such a repeat.
func (db *DB) DeliverMail(ctx context.Context, send func(context.Context, *market.Mail) error, backoff func(attempts int) time.Duration) (bool, error) {
	found := false
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		m := new(market.Mail)
		var attempts int
		err := tx.QueryRow(ctx, `
			SELECT id, recipient, subject, body, attempts FROM mail_outbox
			WHERE sent_at IS NULL AND next_attempt_at <= now()
			ORDER BY next_attempt_at, id
			LIMIT 1
			FOR UPDATE SKIP LOCKED`).Scan(&m.ID, &m.To, &m.Subject, &m.Body, &attempts)
		if err == pgx.ErrNoRows {
			return nil
		} else if err != nil {
			return err
		}
		found = true
		if serr := send(ctx, m); serr != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			_, err := tx.Exec(ctx, `
				UPDATE mail_outbox SET attempts = attempts + 1, last_error = $2,
					next_attempt_at = now() + make_interval(secs => $3)
				WHERE id = $1`, m.ID, serr.Error(), backoff(attempts+1).Seconds())
			return err
		}
		_, err = tx.Exec(ctx, `UPDATE mail_outbox SET sent_at = now(), attempts = attempts + 1, last_error = NULL WHERE id = $1`, m.ID)
		return err
	})
	return found, err
}

// PendingMail returns how many messages wait in the outbox, for metrics and
// tests.
func (db *DB) PendingMail(ctx context.Context) (int, error) {
	var n int
	err := db.pool.QueryRow(ctx, `SELECT count(*) FROM mail_outbox WHERE sent_at IS NULL`).Scan(&n)
	return n, translate(err)
}

// Tidy deletes what has outlived its use: failed logins a day old (well
// past market.LoginWindow),
// spent or expired reset links, mappings of ended sessions (after an hour,
// so that a session being created right now keeps its mapping) and mail
// sent more than 30 days ago, expired sessions, and Idempotency-Keys older than a day.
func (db *DB) Tidy(ctx context.Context) error {
	return db.inTx(ctx, func(tx pgx.Tx) error {
		for _, q := range []string{
			`DELETE FROM login_failures WHERE at < now() - interval '1 day'`,
			`DELETE FROM sessions WHERE expiry < now()`,
			`DELETE FROM password_resets WHERE used_at IS NOT NULL OR expires_at < now()`,
			`DELETE FROM user_sessions us WHERE created_at < now() - interval '1 hour'
				AND NOT EXISTS (SELECT 1 FROM sessions s WHERE s.token = us.token AND s.expiry > now())`,
			`DELETE FROM mail_outbox WHERE sent_at < now() - interval '30 days'`,
			// market.IdempotencyKeyTTL: a key is kept at least that long.
			`DELETE FROM idempotency_keys WHERE created_at < now() - interval '24 hours'`,
		} {
			if _, err := tx.Exec(ctx, q); err != nil {
				return err
			}
		}
		return nil
	})
}
