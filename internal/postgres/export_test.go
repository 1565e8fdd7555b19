package postgres

import (
	"context"

	"github.com/jackc/pgx/v5"
)

// InTx exposes inTx to the tests of this package.
func (db *DB) InTx(ctx context.Context, fn func(tx pgx.Tx) error) error { return db.inTx(ctx, fn) }

// ConstraintNames lists the constraints the error table knows.
func ConstraintNames() []string {
	names := make([]string, 0, len(constraints))
	for n := range constraints {
		names = append(names, n)
	}
	return names
}

// IdempotencyLockKey is the advisory lock's key expression for ($1 user, $2 key).
const IdempotencyLockKey = idempotencyLockKey

// SetSearchWindow makes Search rank and count this many matches, so that
// a small corpus exercises what a large one does past the window.
func (db *DB) SetSearchWindow(n int) { db.searchWindow = n }

// Roughly exposes roughly, the rounding of estimates.
var Roughly = roughly
