package postgres_test

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/bazaarhq/bazaar/internal/market"
	"github.com/bazaarhq/bazaar/internal/postgres"
	"github.com/bazaarhq/bazaar/internal/postgres/postgrestest"
	"github.com/jackc/pgx/v5"
)

// TestEveryConstraintHasAnEntry: a migration that adds a constraint must
// say in the error table what its violation means to a user.
func TestEveryConstraintHasAnEntry(t *testing.T) {
	ctx := context.Background()
	pool := postgrestest.Pool(t, postgrestest.NewURL(t))
	rows, _ := pool.Query(ctx, `
		SELECT c.conname FROM pg_constraint c
		JOIN pg_class t ON t.oid = c.conrelid
		JOIN pg_namespace n ON n.oid = t.relnamespace
		WHERE n.nspname = 'public' AND t.relname <> 'goose_db_version'
		ORDER BY 1`)
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	if len(names) == 0 {
		t.Fatal("found no constraints; is the query right?")
	}
	known := postgres.ConstraintNames()
	for _, n := range names {
		if !slices.Contains(known, n) {
			t.Errorf("constraint %q has no entry in the error table (internal/postgres/errors.go)", n)
		}
	}
	for _, n := range known {
		if !slices.Contains(names, n) {
			t.Errorf("the error table names %q, which the schema does not have", n)
		}
	}
}

// TestConstraintViolationsSpeakToUsers: a violation that gets past the
// domain's checks is told as a message beside the field, or a specific
// conflict, never with the constraint's name.
func TestConstraintViolationsSpeakToUsers(t *testing.T) {
	db := postgrestest.NewDB(t)
	ctx := context.Background()
	l := newListing("Lamp")
	if err := db.CreateListing(ctx, l); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name, sql   string
		code, field string
		msg         string
	}{
		{"check", `INSERT INTO listings (name, price_cents, quantity) VALUES ('x', 0, 1)`,
			market.EINVALID, "price", "Price must be between 0.01 and 1,000,000.00"},
		{"another check", `UPDATE listings SET quantity = -1`,
			market.EINVALID, "quantity", "Quantity must be between 0 and 100,000"},
		{"unique", `INSERT INTO listings (id, name, price_cents, quantity) OVERRIDING SYSTEM VALUE VALUES (` + itoa(l.ID) + `, 'x', 1, 1)`,
			market.ECONFLICT, "", "That listing already exists."},
		{"NUL in text", `INSERT INTO listings (name, price_cents, quantity) VALUES (convert_from('\x6100'::bytea, 'UTF8'), 1, 1)`,
			market.EINVALID, "", "Text must be valid UTF-8 without NUL characters."},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := db.InTx(ctx, func(tx pgx.Tx) error {
				_, err := tx.Exec(ctx, tt.sql)
				return err
			})
			if market.ErrorCode(err) != tt.code {
				t.Fatalf("err = %v, want code %s", err, tt.code)
			}
			got := market.ErrorMessage(err)
			if tt.field != "" {
				got = market.ErrorFields(err)[tt.field]
			}
			if got != tt.msg {
				t.Errorf("message = %q (fields %v), want %q", got, market.ErrorFields(err), tt.msg)
			}
			for _, shown := range append([]string{market.ErrorMessage(err)}, mapValues(market.ErrorFields(err))...) {
				if strings.Contains(shown, "listings_") || strings.Contains(shown, "pkey") || strings.Contains(shown, "SQLSTATE") {
					t.Errorf("a user would read %q", shown)
				}
			}
		})
	}
}

// TestUnknownConstraintIsInternal: a violation the table does not know is
// a bug, reported generically (and logged) rather than shown raw.
func TestUnknownConstraintIsInternal(t *testing.T) {
	db := postgrestest.NewDB(t)
	ctx := context.Background()
	err := db.InTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `CREATE TEMP TABLE t (v int CONSTRAINT t_v_positive CHECK (v > 0))`); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO t VALUES (0)`)
		return err
	})
	if market.ErrorCode(err) != market.EINTERNAL || strings.Contains(market.ErrorMessage(err), "t_v_positive") {
		t.Errorf("err = %v (message %q), want an internal error with a generic message", err, market.ErrorMessage(err))
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func mapValues(m map[string]string) []string {
	var vs []string
	for _, v := range m {
		vs = append(vs, v)
	}
	return vs
}
