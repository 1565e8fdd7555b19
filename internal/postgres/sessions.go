package postgres

import "context"

// DeleteExpiredSessions removes sessions past their expiry. scs's pgxstore
// owns the rest of the sessions table.
func (db *DB) DeleteExpiredSessions(ctx context.Context) error {
	_, err := db.Pool.Exec(ctx, `DELETE FROM sessions WHERE expiry < now()`)
	return translate(err)
}
