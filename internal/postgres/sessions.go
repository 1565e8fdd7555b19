package postgres

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/bazaarhq/bazaar/internal/market"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
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

// SessionUser receives, from FindCtx, the user a session token was
// recorded for (RecordSession), read in the same statement as the
// session: a signed-in request costs one query for both. User stays nil
// for a session nobody signed in to.
type SessionUser struct {
	User *market.User
	// CartCount is the number of units in User's cart, as CartCount
	// would return it, read in the same statement when WantCart is set:
	// every page's header shows it, so a signed-in page view costs one
	// query fewer. Requests that show no page (a form's POST answers with
	// a redirect) leave WantCart unset and spare the database the sum.
	CartCount int
	WantCart  bool
}

type sessionUserKey struct{}

// WithSessionUser returns ctx asking FindCtx to fill su.
func WithSessionUser(ctx context.Context, su *SessionUser) context.Context {
	return context.WithValue(ctx, sessionUserKey{}, su)
}

// sessionUserSQL reads a session with its expiry and its user;
// sessionUserCartSQL with the user's cart count too (SessionUser.WantCart).
// Both have the same columns: without the cart, the count is 0.
var (
	sessionUserSQL     = sessionUserQuery(`0`)
	sessionUserCartSQL = sessionUserQuery(`(SELECT coalesce(sum(quantity), 0) FROM cart_items WHERE user_id = u.id)`)
)

func sessionUserQuery(cartCount string) string {
	return `
		SELECT s.data, s.expiry, u.id, u.email, u.display_name, u.password_hash, u.created_at, ` + cartCount + `
		FROM sessions s
		LEFT JOIN user_sessions us ON us.token = s.token
		LEFT JOIN users u ON u.id = us.user_id
		WHERE s.token = $1 AND now() < s.expiry`
}

// FindCtx returns the data of the live session token, and fills the
// SessionUser that ctx carries (WithSessionUser), if any: from the
// session cache when it holds the token and the cart's count is not
// wanted, else from the database, which refreshes the cache.
func (s *SessionStore) FindCtx(ctx context.Context, token string) ([]byte, bool, error) {
	su, _ := ctx.Value(sessionUserKey{}).(*SessionUser)
	cache := s.db.sessions
	key := sessionKey(token)
	if su == nil || !su.WantCart {
		if e, ok := cache.get(key, time.Now()); ok {
			if su != nil && e.user != nil {
				u := *e.user
				su.User = &u
			}
			return slices.Clone(e.data), true, nil
		}
	}
	if su == nil {
		su = &SessionUser{}
	}
	gen, caching := cache.generation()
	// pgtype's nullable values rather than pointers: pgx scans a pointer
	// to a pointer through reflection, on every signed-in request.
	var b []byte
	var expiry pgtype.Timestamptz
	var id pgtype.Int8
	var email, name, hash pgtype.Text
	var created pgtype.Timestamptz
	sql := sessionUserSQL
	if su.WantCart {
		sql = sessionUserCartSQL
	}
	err := s.db.pool.QueryRow(ctx, sql, token).Scan(&b, &expiry, &id, &email, &name, &hash, &created, &su.CartCount)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, translate(err)
	}
	if id.Valid {
		su.User = &market.User{ID: id.Int64, Email: email.String, DisplayName: name.String, PasswordHash: hash.String, CreatedAt: created.Time}
	}
	if caching {
		e := sessionEntry{data: slices.Clone(b), expiry: expiry.Time, stored: time.Now()}
		if su.User != nil {
			u := *su.User
			e.user = &u
		}
		cache.put(key, gen, e)
	}
	return b, true, nil
}

// CommitCtx stores the session's data and expiry.
func (s *SessionStore) CommitCtx(ctx context.Context, token string, b []byte, expiry time.Time) error {
	_, err := s.db.pool.Exec(ctx, `
		INSERT INTO sessions (token, data, expiry) VALUES ($1, $2, $3)
		ON CONFLICT (token) DO UPDATE SET data = EXCLUDED.data, expiry = EXCLUDED.expiry`, token, b, expiry)
	s.db.sessions.forget(token)
	return translate(err)
}

// DeleteCtx ends the session token on the server.
func (s *SessionStore) DeleteCtx(ctx context.Context, token string) error {
	_, err := s.db.pool.Exec(ctx, `DELETE FROM sessions WHERE token = $1`, token)
	s.db.sessions.forget(token)
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
