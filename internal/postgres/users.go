package postgres

import (
	"context"
	"time"

	"github.com/bazaarhq/bazaar/internal/market"
	"github.com/jackc/pgx/v5"
)

const userColumns = `id, email, display_name, password_hash, created_at`

func scanUser(row pgx.CollectableRow) (*market.User, error) {
	u := new(market.User)
	err := row.Scan(&u.ID, &u.Email, &u.DisplayName, &u.PasswordHash, &u.CreatedAt)
	return u, err
}

// CreateUser stores a new user with the given password hash (the caller
// validated the sign-up and hashed the password, outside any transaction:
// hashing takes tens of milliseconds) and fills in u's ID and CreatedAt.
// A taken email is ECONFLICT with a message beside the email field.
func (db *DB) CreateUser(ctx context.Context, u *market.User) error {
	err := db.pool.QueryRow(ctx, `
		INSERT INTO users (email, display_name, password_hash) VALUES ($1, $2, $3)
		RETURNING id, created_at`,
		u.Email, u.DisplayName, u.PasswordHash,
	).Scan(&u.ID, &u.CreatedAt)
	return translate(err)
}

// User returns the user with the given id, or ENOTFOUND.
func (db *DB) User(ctx context.Context, id int64) (*market.User, error) {
	rows, _ := db.pool.Query(ctx, `SELECT `+userColumns+` FROM users WHERE id = $1`, id)
	u, err := pgx.CollectExactlyOneRow(rows, scanUser)
	return u, translate(err)
}

// UserByEmail returns the user with the given email, compared without
// regard to case, or ENOTFOUND.
func (db *DB) UserByEmail(ctx context.Context, email string) (*market.User, error) {
	rows, _ := db.pool.Query(ctx, `SELECT `+userColumns+` FROM users WHERE email = $1`, email)
	u, err := pgx.CollectExactlyOneRow(rows, scanUser)
	return u, translate(err)
}

// UpgradePasswordHash replaces the user's hash with a stronger one of the
// same password, unless the hash changed since it was read (the user set a
// new password meanwhile, which must win).
func (db *DB) UpgradePasswordHash(ctx context.Context, id int64, old, new string) error {
	_, err := db.pool.Exec(ctx, `UPDATE users SET password_hash = $3 WHERE id = $1 AND password_hash = $2`, id, old, new)
	db.sessions.forgetUser(id)
	return translate(err)
}

// UpdateDisplayName sets the user's display name after checking it. Pages
// show sellers' names, so the change is announced on ListingsChannel in the
// same transaction ("flush": every replica's page cache drops its pages).
func (db *DB) UpdateDisplayName(ctx context.Context, id int64, name string) (*market.User, error) {
	p := market.Problems{}
	name = market.ValidateDisplayName(p, name)
	if err := p.Err(); err != nil {
		return nil, err
	}
	var u *market.User
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		rows, _ := tx.Query(ctx, `UPDATE users SET display_name = $2, updated_at = now() WHERE id = $1 RETURNING `+userColumns, id, name)
		var err error
		if u, err = pgx.CollectExactlyOneRow(rows, scanUser); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `SELECT pg_notify($1, 'flush')`, ListingsChannel)
		return err
	})
	db.sessions.forgetUser(id)
	return u, err
}

// ChangePassword sets the user's password hash and ends every session of
// the user except keep (the session that asked, "" for none), in one
// transaction: whoever knew the old password is signed out everywhere.
func (db *DB) ChangePassword(ctx context.Context, id int64, hash, keep string) error {
	defer db.sessions.forgetUser(id)
	return db.inTx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE users SET password_hash = $2, updated_at = now() WHERE id = $1`, id, hash)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return market.Errorf(market.ENOTFOUND, "That account does not exist.")
		}
		return endSessions(ctx, tx, id, keep)
	})
}

// RecordSession notes that session token belongs to user, so that
// EndSessions can find it. Call it after the token was renewed at login.
func (db *DB) RecordSession(ctx context.Context, token string, userID int64) error {
	_, err := db.pool.Exec(ctx, `
		INSERT INTO user_sessions (token, user_id) VALUES ($1, $2)
		ON CONFLICT (token) DO UPDATE SET user_id = EXCLUDED.user_id`, token, userID)
	db.sessions.forget(token)
	return translate(err)
}

// endSessions deletes the user's sessions but keep from scs's table.
func endSessions(ctx context.Context, tx pgx.Tx, userID int64, keep string) error {
	_, err := tx.Exec(ctx, `
		WITH gone AS (
			DELETE FROM user_sessions WHERE user_id = $1 AND token <> $2 RETURNING token
		)
		DELETE FROM sessions WHERE token IN (SELECT token FROM gone)`, userID, keep)
	return err
}

// SessionCount returns how many live sessions the user has, for the
// account page and tests.
func (db *DB) SessionCount(ctx context.Context, userID int64) (int, error) {
	var n int
	err := db.pool.QueryRow(ctx, `
		SELECT count(*) FROM user_sessions us JOIN sessions s USING (token)
		WHERE us.user_id = $1 AND s.expiry > now()`, userID).Scan(&n)
	return n, translate(err)
}

// LoginBlocked returns how long the client at address must wait before it
// may try to sign in to email again, or 0 when it may now. The counts are
// the failures recorded in the last market.LoginWindow: for this account
// from this address, and from this address over all accounts.
func (db *DB) LoginBlocked(ctx context.Context, email, client string) (time.Duration, error) {
	return loginBlocked(ctx, db.pool, email, client)
}

// queryRower is what both the pool and a transaction offer.
type queryRower interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

func loginBlocked(ctx context.Context, q queryRower, email, client string) (time.Duration, error) {
	// For each limit, the wait is until the failure that filled it leaves
	// the window: the limit-th most recent one.
	var secs float64
	err := q.QueryRow(ctx, `
		WITH recent AS (
			SELECT email, at FROM login_failures
			WHERE client = $2 AND at > now() - make_interval(secs => $3)
		)
		SELECT coalesce(extract(epoch FROM greatest(
			(SELECT at FROM recent WHERE email = $1 ORDER BY at DESC OFFSET $4 - 1 LIMIT 1),
			(SELECT at FROM recent ORDER BY at DESC OFFSET $5 - 1 LIMIT 1)
		) + make_interval(secs => $3) - now()), 0)::float8`,
		email, client, market.LoginWindow.Seconds(), market.MaxFailuresPerAccount, market.MaxFailuresPerAddress,
	).Scan(&secs)
	if err != nil {
		return 0, translate(err)
	}
	wait := time.Duration(secs * float64(time.Second))
	return max(wait, 0), nil
}

// BeginLoginAttempt admits one sign-in attempt for email from client, or
// says how long to wait. An admitted attempt is counted as a failure at
// once, before its password is checked (ClearLoginFailures forgets it when
// the password was right), so that attempts in flight count too: checking
// and counting happen under a transaction-scoped advisory lock on the
// client address (both limits are per address), so no burst of concurrent
// attempts, on however many replicas, gets past the limit. The lock is
// held for two short statements, never while a password is hashed.
func (db *DB) BeginLoginAttempt(ctx context.Context, email, client string) (time.Duration, error) {
	var wait time.Duration
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended('bazaar login ' || $1, 0))`, client); err != nil {
			return err
		}
		var err error
		if wait, err = loginBlocked(ctx, tx, email, client); err != nil || wait > 0 {
			return err
		}
		_, err = tx.Exec(ctx, `INSERT INTO login_failures (email, client) VALUES ($1, $2)`, email, client)
		return err
	})
	return wait, err
}

// RecordLoginFailure counts one failed login for email from client.
func (db *DB) RecordLoginFailure(ctx context.Context, email, client string) error {
	_, err := db.pool.Exec(ctx, `INSERT INTO login_failures (email, client) VALUES ($1, $2)`, email, client)
	return translate(err)
}

// ClearLoginFailures forgets the failures for email from client after a
// successful login: the person at that address knows the password.
func (db *DB) ClearLoginFailures(ctx context.Context, email, client string) error {
	_, err := db.pool.Exec(ctx, `DELETE FROM login_failures WHERE email = $1 AND client = $2`, email, client)
	return translate(err)
}

// CreateAPIToken makes a token for the user and returns it with its secret,
// which exists nowhere else afterwards: only its hash is stored.
func (db *DB) CreateAPIToken(ctx context.Context, userID int64, name string) (*market.APIToken, string, error) {
	p := market.Problems{}
	name = market.ValidateTokenName(p, name)
	if err := p.Err(); err != nil {
		return nil, "", err
	}
	secret, hash := market.NewSecret()
	t := &market.APIToken{UserID: userID, Name: name}
	err := db.pool.QueryRow(ctx, `
		INSERT INTO api_tokens (user_id, name, hash) VALUES ($1, $2, $3) RETURNING id, created_at`,
		userID, name, hash).Scan(&t.ID, &t.CreatedAt)
	if err != nil {
		return nil, "", translate(err)
	}
	return t, secret, nil
}

// APITokens returns the user's tokens, newest first.
func (db *DB) APITokens(ctx context.Context, userID int64) ([]*market.APIToken, error) {
	rows, _ := db.pool.Query(ctx, `
		SELECT id, user_id, name, created_at, last_used_at FROM api_tokens
		WHERE user_id = $1 ORDER BY id DESC`, userID)
	ts, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*market.APIToken, error) {
		t := new(market.APIToken)
		return t, row.Scan(&t.ID, &t.UserID, &t.Name, &t.CreatedAt, &t.LastUsedAt)
	})
	return ts, translate(err)
}

// RevokeAPIToken deletes the user's token id. Another user's token is
// ENOTFOUND, as if it did not exist. The next request with it fails on
// every replica, since each request looks the token up.
func (db *DB) RevokeAPIToken(ctx context.Context, userID, id int64) error {
	tag, err := db.pool.Exec(ctx, `DELETE FROM api_tokens WHERE id = $1 AND user_id = $2`, id, userID)
	if err != nil {
		return translate(err)
	}
	if tag.RowsAffected() == 0 {
		return market.Errorf(market.ENOTFOUND, "Token not found.")
	}
	return nil
}

// UserByToken returns the owner of the API token secret, or EUNAUTHORIZED.
// It records when the token was last used, at most once a minute, so that
// a busy client does not turn every read into a write.
func (db *DB) UserByToken(ctx context.Context, secret string) (*market.User, error) {
	rows, _ := db.pool.Query(ctx, `
		WITH t AS (
			UPDATE api_tokens SET last_used_at = now()
			WHERE hash = $1 AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute')
			RETURNING user_id
		)
		SELECT u.id, u.email, u.display_name, u.password_hash, u.created_at FROM users u
		WHERE u.id = coalesce((SELECT user_id FROM t), (SELECT user_id FROM api_tokens WHERE hash = $1))`,
		market.HashSecret(secret))
	u, err := pgx.CollectExactlyOneRow(rows, scanUser)
	if market.ErrorCode(translate(err)) == market.ENOTFOUND {
		return nil, market.Errorf(market.EUNAUTHORIZED, "The token is not valid; it may have been revoked.")
	}
	return u, translate(err)
}
