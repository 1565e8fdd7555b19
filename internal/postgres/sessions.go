package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
)

// SessionStore keeps alexedwards/scs sessions in the "sessions" table
// (migration 00002), so that any replica serves any signed-in user. It is
// scs's CtxStore: the statements are those of scs's own pgxstore, but
// they run under the request's context, so a stalled database costs a
// signed-in request its deadline (503), not a hung connection (pgxstore
// runs them under context.Background). Expired rows are removed by Tidy,
// which the mail worker runs on every replica, rather than by one more
// goroutine per store.
type SessionStore struct{ db *DB }

// Sessions returns the store of scs sessions.
func (db *DB) Sessions() *SessionStore { return &SessionStore{db: db} }

// FindCtx returns the data of the live session token.
func (s *SessionStore) FindCtx(ctx context.Context, token string) ([]byte, bool, error) {
	var b []byte
	err := s.db.pool.QueryRow(ctx, `SELECT data FROM sessions WHERE token = $1 AND now() < expiry`, token).Scan(&b)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, translate(err)
	}
	return b, true, nil
}

// CommitCtx stores the session's data and expiry.
func (s *SessionStore) CommitCtx(ctx context.Context, token string, b []byte, expiry time.Time) error {
	_, err := s.db.pool.Exec(ctx, `
		INSERT INTO sessions (token, data, expiry) VALUES ($1, $2, $3)
		ON CONFLICT (token) DO UPDATE SET data = EXCLUDED.data, expiry = EXCLUDED.expiry`, token, b, expiry)
	return translate(err)
}

// DeleteCtx ends the session token on the server.
func (s *SessionStore) DeleteCtx(ctx context.Context, token string) error {
	_, err := s.db.pool.Exec(ctx, `DELETE FROM sessions WHERE token = $1`, token)
	return translate(err)
}

// Find, Commit and Delete complete scs.Store; scs calls the Ctx methods.
func (s *SessionStore) Find(token string) ([]byte, bool, error) {
	return s.FindCtx(context.Background(), token)
}

// Commit implements scs.Store.
func (s *SessionStore) Commit(token string, b []byte, expiry time.Time) error {
	return s.CommitCtx(context.Background(), token, b, expiry)
}

// Delete implements scs.Store.
func (s *SessionStore) Delete(token string) error {
	return s.DeleteCtx(context.Background(), token)
}

// SessionExists reports whether token is a live session, for tests.
func (db *DB) SessionExists(ctx context.Context, token string) (bool, error) {
	var ok bool
	err := db.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM sessions WHERE token = $1 AND now() < expiry)`, token).Scan(&ok)
	return ok, translate(err)
}

// CountSessions returns how many session rows exist, for tests that check
// that anonymous visitors create none.
func (db *DB) CountSessions(ctx context.Context) (int64, error) {
	var n int64
	err := db.pool.QueryRow(ctx, `SELECT count(*) FROM sessions`).Scan(&n)
	return n, translate(err)
}
