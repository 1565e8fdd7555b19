package postgres_test

import (
	"context"
	"io/fs"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/bazaarhq/bazaar/internal/market"
	"github.com/bazaarhq/bazaar/internal/postgres"
	"github.com/bazaarhq/bazaar/internal/postgres/postgrestest"
)

// newUser stores a user with a placeholder hash (these tests are about the
// store; hashing is internal/password's).
func newUser(t *testing.T, db *postgres.DB, email string) *market.User {
	t.Helper()
	u := &market.User{Email: email, DisplayName: strings.Split(email, "@")[0], PasswordHash: "$argon2id$placeholder"}
	if err := db.CreateUser(context.Background(), u); err != nil {
		t.Fatal(err)
	}
	return u
}

func TestUsersEmailIsUniqueIgnoringCase(t *testing.T) {
	db := postgrestest.NewDB(t)
	ctx := context.Background()
	u := newUser(t, db, "Ada@Example.com")
	dup := &market.User{Email: "ada@EXAMPLE.com", DisplayName: "Other", PasswordHash: "x"}
	err := db.CreateUser(ctx, dup)
	if market.ErrorCode(err) != market.ECONFLICT || market.ErrorFields(err)["email"] != "An account with that email already exists." {
		t.Fatalf("duplicate email: err = %v (fields %v), want conflict beside email", err, market.ErrorFields(err))
	}
	got, err := db.UserByEmail(ctx, "ADA@example.COM")
	if err != nil || got.ID != u.ID || got.Email != "Ada@Example.com" {
		t.Fatalf("UserByEmail = %+v, %v; want user %d as typed at sign-up", got, err, u.ID)
	}
	if _, err := db.UserByEmail(ctx, "bob@example.com"); market.ErrorCode(err) != market.ENOTFOUND {
		t.Fatalf("unknown email: err = %v, want not_found", err)
	}
	if _, err := db.UpdateDisplayName(ctx, u.ID, strings.Repeat("x", 51)); market.ErrorFields(err)["display_name"] == "" {
		t.Fatalf("long display name: err = %v", err)
	}
	if got, err := db.UpdateDisplayName(ctx, u.ID, "  Ada L. "); err != nil || got.DisplayName != "Ada L." {
		t.Fatalf("UpdateDisplayName = %+v, %v", got, err)
	}
}

func TestUpgradePasswordHashLosesToANewPassword(t *testing.T) {
	db := postgrestest.NewDB(t)
	ctx := context.Background()
	u := newUser(t, db, "ada@example.com")
	if err := db.ChangePassword(ctx, u.ID, "new-password-hash", ""); err != nil {
		t.Fatal(err)
	}
	// A login that read the old hash finishes after the change: its upgrade
	// must not bring the old password back.
	if err := db.UpgradePasswordHash(ctx, u.ID, u.PasswordHash, "upgraded-old-hash"); err != nil {
		t.Fatal(err)
	}
	got, _ := db.User(ctx, u.ID)
	if got.PasswordHash != "new-password-hash" {
		t.Fatalf("hash = %q, want the new password's", got.PasswordHash)
	}
	if err := db.UpgradePasswordHash(ctx, u.ID, "new-password-hash", "upgraded"); err != nil {
		t.Fatal(err)
	}
	if got, _ := db.User(ctx, u.ID); got.PasswordHash != "upgraded" {
		t.Fatalf("hash = %q, want upgraded", got.PasswordHash)
	}
}

func TestAPITokens(t *testing.T) {
	url := postgrestest.NewURL(t)
	db := postgrestest.Open(t, url)
	pool := postgrestest.Pool(t, url)
	ctx := context.Background()
	ada, bob := newUser(t, db, "ada@example.com"), newUser(t, db, "bob@example.com")
	tok, secret, err := db.CreateAPIToken(ctx, ada.ID, "  laptop ")
	if err != nil {
		t.Fatal(err)
	}
	if tok.Name != "laptop" || tok.UserID != ada.ID {
		t.Fatalf("token = %+v", tok)
	}
	if _, _, err := db.CreateAPIToken(ctx, ada.ID, ""); market.ErrorFields(err)["name"] != "Name is required" {
		t.Fatalf("empty name: err = %v", err)
	}
	// Only the hash is stored.
	var n int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM api_tokens WHERE position($1::bytea IN hash) > 0 OR encode(hash, 'escape') LIKE '%' || $2 || '%'`, []byte(secret), secret).Scan(&n); err != nil || n != 0 {
		t.Fatalf("the secret is stored as it is (%d rows, %v)", n, err)
	}
	got, err := db.UserByToken(ctx, secret)
	if err != nil || got.ID != ada.ID {
		t.Fatalf("UserByToken = %+v, %v", got, err)
	}
	if _, err := db.UserByToken(ctx, secret+"x"); market.ErrorCode(err) != market.EUNAUTHORIZED {
		t.Fatalf("wrong secret: err = %v, want unauthorized", err)
	}
	ts, err := db.APITokens(ctx, ada.ID)
	if err != nil || len(ts) != 1 || ts[0].ID != tok.ID || ts[0].LastUsedAt == nil {
		t.Fatalf("APITokens = %+v, %v; want the one token, used", ts, err)
	}
	if ts, _ := db.APITokens(ctx, bob.ID); len(ts) != 0 {
		t.Fatalf("bob sees ada's tokens: %+v", ts)
	}
	if err := db.RevokeAPIToken(ctx, bob.ID, tok.ID); market.ErrorCode(err) != market.ENOTFOUND {
		t.Fatalf("bob revokes ada's token: err = %v, want not_found", err)
	}
	if err := db.RevokeAPIToken(ctx, ada.ID, tok.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := db.UserByToken(ctx, secret); market.ErrorCode(err) != market.EUNAUTHORIZED {
		t.Fatalf("revoked token: err = %v, want unauthorized", err)
	}
}

func TestLoginLimits(t *testing.T) {
	db := postgrestest.NewDB(t)
	ctx := context.Background()
	blocked := func(email, client string) time.Duration {
		t.Helper()
		d, err := db.LoginBlocked(ctx, email, client)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	for i := range market.MaxFailuresPerAccount {
		if d := blocked("ada@example.com", "192.0.2.1"); d != 0 {
			t.Fatalf("blocked for %v after %d failures", d, i)
		}
		if err := db.RecordLoginFailure(ctx, "Ada@example.com", "192.0.2.1"); err != nil {
			t.Fatal(err)
		}
	}
	d := blocked("ADA@example.com", "192.0.2.1")
	if d < market.LoginWindow-time.Minute || d > market.LoginWindow {
		t.Fatalf("after %d failures: wait %v, want about %v", market.MaxFailuresPerAccount, d, market.LoginWindow)
	}
	// The real user, elsewhere, is not locked out; nor is another account
	// from the attacker's address (until the per-address limit).
	if d := blocked("ada@example.com", "198.51.100.7"); d != 0 {
		t.Fatalf("another address is blocked for %v", d)
	}
	if d := blocked("bob@example.com", "192.0.2.1"); d != 0 {
		t.Fatalf("another account is blocked for %v", d)
	}
	// A successful login from the address clears the account's failures
	// there (and counts as none).
	if err := db.ClearLoginFailures(ctx, "ada@example.com", "192.0.2.1"); err != nil {
		t.Fatal(err)
	}
	if d := blocked("ada@example.com", "192.0.2.1"); d != 0 {
		t.Fatalf("blocked for %v after a successful login", d)
	}
	for i := range market.MaxFailuresPerAddress {
		if err := db.RecordLoginFailure(ctx, "user"+itoa(int64(i))+"@example.com", "192.0.2.1"); err != nil {
			t.Fatal(err)
		}
	}
	if d := blocked("carol@example.com", "192.0.2.1"); d == 0 {
		t.Fatalf("%d failures from one address do not block it", market.MaxFailuresPerAddress)
	}
	if d := blocked("carol@example.com", "192.0.2.2"); d != 0 {
		t.Fatal("another address is blocked")
	}
}

func TestLoginFailuresAgeOut(t *testing.T) {
	url := postgrestest.NewURL(t)
	db := postgrestest.Open(t, url)
	pool := postgrestest.Pool(t, url)
	ctx := context.Background()
	for range market.MaxFailuresPerAccount {
		if err := db.RecordLoginFailure(ctx, "ada@example.com", "192.0.2.1"); err != nil {
			t.Fatal(err)
		}
	}
	// Move the oldest failure to the edge of the window: the wait is until
	// it leaves.
	if _, err := pool.Exec(ctx, `UPDATE login_failures SET at = now() - interval '14 minutes 50 seconds' WHERE id = (SELECT min(id) FROM login_failures)`); err != nil {
		t.Fatal(err)
	}
	d, err := db.LoginBlocked(ctx, "ada@example.com", "192.0.2.1")
	if err != nil || d <= 0 || d > 11*time.Second {
		t.Fatalf("wait = %v, %v; want about 10s", d, err)
	}
	if _, err := pool.Exec(ctx, `UPDATE login_failures SET at = now() - interval '16 minutes' WHERE id = (SELECT min(id) FROM login_failures)`); err != nil {
		t.Fatal(err)
	}
	if d, err := db.LoginBlocked(ctx, "ada@example.com", "192.0.2.1"); err != nil || d != 0 {
		t.Fatalf("after the oldest failure left the window: wait = %v, %v", d, err)
	}
}

// sessionRow stores a session the way scs's postgresstore does.
func sessionRow(t *testing.T, url, token string) {
	t.Helper()
	_, err := postgrestest.Pool(t, url).Exec(context.Background(),
		`INSERT INTO sessions (token, data, expiry) VALUES ($1, '\x00', now() + interval '1 hour')`, token)
	if err != nil {
		t.Fatal(err)
	}
}

func TestPasswordResetIsSingleUseAndEndsSessions(t *testing.T) {
	url := postgrestest.NewURL(t)
	db := postgrestest.Open(t, url)
	pool := postgrestest.Pool(t, url)
	ctx := context.Background()
	ada, bob := newUser(t, db, "ada@example.com"), newUser(t, db, "bob@example.com")
	for _, s := range []struct {
		token string
		user  int64
	}{{"ada-1", ada.ID}, {"ada-2", ada.ID}, {"bob-1", bob.ID}} {
		sessionRow(t, url, s.token)
		if err := db.RecordSession(ctx, s.token, s.user); err != nil {
			t.Fatal(err)
		}
	}
	if n, _ := db.SessionCount(ctx, ada.ID); n != 2 {
		t.Fatalf("ada has %d sessions, want 2", n)
	}
	var secret string
	compose := func(u *market.User, s string) market.Mail {
		secret = s
		return market.Mail{To: u.Email, Subject: "Reset", Body: "https://bazaar.example/password/reset/" + s}
	}
	if err := db.RequestPasswordReset(ctx, "nobody@example.com", compose); err != nil || secret != "" {
		t.Fatalf("unknown email: err = %v, secret %q; want nothing done", err, secret)
	}
	if n, _ := db.PendingMail(ctx); n != 0 {
		t.Fatalf("unknown email queued %d mails", n)
	}
	if err := db.RequestPasswordReset(ctx, "ADA@example.com", compose); err != nil || secret == "" {
		t.Fatalf("RequestPasswordReset = %v, secret %q", err, secret)
	}
	if n, _ := db.PendingMail(ctx); n != 1 {
		t.Fatalf("%d mails queued, want 1", n)
	}
	var stored int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM password_resets WHERE hash = sha256(convert_to($1, 'UTF8'))`, secret).Scan(&stored); err != nil || stored != 1 {
		t.Fatalf("reset stored under its SHA-256: %d rows, %v", stored, err)
	}
	if u, err := db.PasswordResetUser(ctx, secret); err != nil || u.ID != ada.ID {
		t.Fatalf("PasswordResetUser = %+v, %v", u, err)
	}
	u, err := db.ResetPassword(ctx, secret, "new-hash")
	if err != nil || u.ID != ada.ID || u.PasswordHash != "new-hash" {
		t.Fatalf("ResetPassword = %+v, %v", u, err)
	}
	if n, _ := db.SessionCount(ctx, ada.ID); n != 0 {
		t.Fatalf("ada has %d sessions after a reset, want 0", n)
	}
	var left int
	_ = pool.QueryRow(ctx, `SELECT count(*) FROM sessions`).Scan(&left)
	if left != 1 {
		t.Fatalf("%d sessions left, want bob's 1", left)
	}
	if _, err := db.ResetPassword(ctx, secret, "again"); market.ErrorCode(err) != market.ENOTFOUND {
		t.Fatalf("second use: err = %v, want not_found", err)
	}
	if _, err := db.PasswordResetUser(ctx, secret); market.ErrorCode(err) != market.ENOTFOUND {
		t.Fatalf("spent link: err = %v, want not_found", err)
	}
	// An expired link does not work.
	secret = ""
	if err := db.RequestPasswordReset(ctx, "bob@example.com", compose); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `UPDATE password_resets SET expires_at = now() - interval '1 second' WHERE used_at IS NULL`); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ResetPassword(ctx, secret, "x"); market.ErrorCode(err) != market.ENOTFOUND {
		t.Fatalf("expired link: err = %v, want not_found", err)
	}
	if got, _ := db.User(ctx, bob.ID); got.PasswordHash == "x" {
		t.Fatal("an expired link changed the password")
	}
}

func TestChangePasswordKeepsTheCurrentSession(t *testing.T) {
	url := postgrestest.NewURL(t)
	db := postgrestest.Open(t, url)
	ctx := context.Background()
	ada := newUser(t, db, "ada@example.com")
	for _, tok := range []string{"here", "there"} {
		sessionRow(t, url, tok)
		if err := db.RecordSession(ctx, tok, ada.ID); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.ChangePassword(ctx, ada.ID, "h2", "here"); err != nil {
		t.Fatal(err)
	}
	if n, _ := db.SessionCount(ctx, ada.ID); n != 1 {
		t.Fatalf("%d sessions, want the current one", n)
	}
}

// TestMigrationGivesExistingListingsASeller: listings from before accounts
// survive the accounts migration, owned by the archive account; and the
// previous release's inserts (no seller_id) still work on the new schema.
func TestMigrationGivesExistingListingsASeller(t *testing.T) {
	url := postgrestest.NewEmptyURL(t)
	ctx := context.Background()
	v1 := fstest.MapFS{}
	b, err := fs.ReadFile(postgres.Migrations(), "00001_listings.sql")
	if err != nil {
		t.Fatal(err)
	}
	v1["00001_listings.sql"] = &fstest.MapFile{Data: b}
	if _, err := postgres.MigrateFS(ctx, url, v1); err != nil {
		t.Fatal(err)
	}
	pool := postgrestest.Pool(t, url)
	if _, err := pool.Exec(ctx, `INSERT INTO listings (name, price_cents, quantity) VALUES ('Old lamp', 100, 1), ('Old chair', 200, 2)`); err != nil {
		t.Fatal(err)
	}
	if _, err := postgres.Migrate(ctx, url); err != nil {
		t.Fatal(err)
	}
	var n, sellers int
	var seller string
	if err := pool.QueryRow(ctx, `
		SELECT count(*), count(DISTINCT seller_id), min(u.display_name)
		FROM listings l JOIN users u ON u.id = l.seller_id`).Scan(&n, &sellers, &seller); err != nil {
		t.Fatal(err)
	}
	if n != 2 || sellers != 1 || seller != "Bazaar archive" {
		t.Fatalf("%d listings with %d sellers (%q), want 2 with the archive account", n, sellers, seller)
	}
	// The previous release's INSERT, without a seller.
	if _, err := pool.Exec(ctx, `INSERT INTO listings (name, price_cents, quantity) VALUES ('During the rollout', 300, 1)`); err != nil {
		t.Fatalf("an insert without seller_id fails on the new schema: %v", err)
	}
	if _, err := pool.Exec(ctx, `UPDATE listings SET seller_id = NULL`); err == nil {
		t.Fatal("a listing can lose its seller")
	}
}

// TestSessionUserCartCount: the session query reads the session's user,
// and the user's cart count only when asked (SessionUser.WantCart).
func TestSessionUserCartCount(t *testing.T) {
	url := postgrestest.NewURL(t)
	db := postgrestest.Open(t, url)
	ctx := context.Background()
	ada := newUser(t, db, "ada@example.com")
	sessionRow(t, url, "tok")
	if err := db.RecordSession(ctx, "tok", ada.ID); err != nil {
		t.Fatal(err)
	}
	l := newListing("Lamp")
	if err := db.CreateListing(ctx, l); err != nil {
		t.Fatal(err)
	}
	if _, err := db.AddToCart(ctx, ada.ID, l.ID, 2); err != nil {
		t.Fatal(err)
	}
	for _, want := range []bool{true, false} {
		su := &postgres.SessionUser{WantCart: want}
		data, ok, err := db.Sessions().FindCtx(postgres.WithSessionUser(ctx, su), "tok")
		if err != nil || !ok || len(data) == 0 {
			t.Fatalf("WantCart %v: FindCtx = %q, %v, %v", want, data, ok, err)
		}
		if su.User == nil || su.User.ID != ada.ID || su.User.Email != ada.Email {
			t.Errorf("WantCart %v: user %+v, want %d", want, su.User, ada.ID)
		}
		if wantCount := map[bool]int{true: 2, false: 0}[want]; su.CartCount != wantCount {
			t.Errorf("WantCart %v: CartCount %d, want %d", want, su.CartCount, wantCount)
		}
	}
	// A session nobody signed in to has no user, whatever is asked.
	sessionRow(t, url, "anon")
	su := &postgres.SessionUser{WantCart: true}
	if _, ok, err := db.Sessions().FindCtx(postgres.WithSessionUser(ctx, su), "anon"); err != nil || !ok || su.User != nil || su.CartCount != 0 {
		t.Errorf("anonymous session: ok %v, err %v, user %+v, count %d", ok, err, su.User, su.CartCount)
	}
}
