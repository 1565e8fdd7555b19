package postgres

import (
	"context"

	"github.com/bazaarhq/bazaar/internal/market"
	"github.com/jackc/pgx/v5"
)

// RequestPasswordReset makes a single-use reset link for the account with
// email and queues the mail carrying it, in one transaction: the link
// exists exactly when its mail is in the outbox. compose writes that mail
// from the user and the link's secret. For an unknown email it does nothing
// and reports no error, so the caller answers both cases alike.
func (db *DB) RequestPasswordReset(ctx context.Context, email string, compose func(u *market.User, secret string) market.Mail) error {
	return db.inTx(ctx, func(tx pgx.Tx) error {
		rows, _ := tx.Query(ctx, `SELECT `+userColumns+` FROM users WHERE email = $1 AND password_hash <> '!'`, email)
		u, err := pgx.CollectExactlyOneRow(rows, scanUser)
		if err == pgx.ErrNoRows {
			return nil
		} else if err != nil {
			return err
		}
		secret, hash := market.NewSecret()
		if _, err := tx.Exec(ctx, `
			INSERT INTO password_resets (user_id, hash, expires_at)
			VALUES ($1, $2, now() + make_interval(secs => $3))`,
			u.ID, hash, market.PasswordResetTTL.Seconds()); err != nil {
			return err
		}
		return enqueueMail(ctx, tx, compose(u, secret))
	})
}

// PasswordResetUser returns the user a live reset link belongs to, or
// ENOTFOUND when the link is unknown, used or expired: for the page that
// asks for the new password.
func (db *DB) PasswordResetUser(ctx context.Context, secret string) (*market.User, error) {
	rows, _ := db.pool.Query(ctx, `
		SELECT u.id, u.email, u.display_name, u.password_hash, u.created_at
		FROM password_resets r JOIN users u ON u.id = r.user_id
		WHERE r.hash = $1 AND r.used_at IS NULL AND r.expires_at > now()`, market.HashSecret(secret))
	u, err := pgx.CollectExactlyOneRow(rows, scanUser)
	if err == pgx.ErrNoRows {
		return nil, expiredLink()
	}
	return u, translate(err)
}

func expiredLink() error {
	return market.Errorf(market.ENOTFOUND, "This reset link is not valid: it was used already, has expired, or was mistyped. Please ask for a new one.")
}

// ResetPassword spends the reset link secret and sets the user's password
// hash, in one transaction that also ends every session of the user and
// voids their other reset links. A link works once: a second use, like an
// expired or unknown link, is ENOTFOUND.
func (db *DB) ResetPassword(ctx context.Context, secret, hash string) (*market.User, error) {
	var u *market.User
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		var userID int64
		err := tx.QueryRow(ctx, `
			UPDATE password_resets SET used_at = now()
			WHERE hash = $1 AND used_at IS NULL AND expires_at > now()
			RETURNING user_id`, market.HashSecret(secret)).Scan(&userID)
		if err == pgx.ErrNoRows {
			return expiredLink()
		} else if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE password_resets SET used_at = now() WHERE user_id = $1 AND used_at IS NULL`, userID); err != nil {
			return err
		}
		rows, _ := tx.Query(ctx, `UPDATE users SET password_hash = $2, updated_at = now() WHERE id = $1 RETURNING `+userColumns, userID, hash)
		if u, err = pgx.CollectExactlyOneRow(rows, scanUser); err != nil {
			return err
		}
		return endSessions(ctx, tx, userID, "")
	})
	if err != nil {
		return nil, err
	}
	db.sessions.forgetUser(u.ID)
	return u, nil
}
