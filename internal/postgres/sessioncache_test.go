package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/bazaarhq/bazaar/internal/market"
	"github.com/bazaarhq/bazaar/internal/postgres"
	"github.com/bazaarhq/bazaar/internal/postgres/postgrestest"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// replica opens a store on the database at url whose session cache is in
// use: it listens for changes as `bazaar serve` does (web.WatchChanges),
// until t ends. Every notice it has acted on is sent on heard.
func replica(t *testing.T, url string) (*postgres.DB, chan string) {
	t.Helper()
	db := postgrestest.Open(t, url)
	heard := make(chan string, 1024)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		db.Listen(ctx, map[string]postgres.Listener{postgres.SessionsChannel: recorder{db.SessionListener(), heard}})
	}()
	t.Cleanup(func() { cancel(); <-done })
	eventually(t, 10*time.Second, "the session cache is on", func() bool { return db.SessionCacheStats().Live })
	return db, heard
}

type recorder struct {
	postgres.Listener
	heard chan string
}

func (r recorder) Notify(payload string) {
	r.Listener.Notify(payload)
	select {
	case r.heard <- payload:
	default:
	}
}

// settle returns once every replica has acted on every notice sent so
// far: notices arrive in commit order, so after a marker sent now.
func settle(t *testing.T, pool *pgxpool.Pool, replicas ...chan string) {
	t.Helper()
	const marker = "user 0" // no such user: forgets nothing
	if _, err := pool.Exec(context.Background(), `SELECT pg_notify($1, $2)`, postgres.SessionsChannel, marker); err != nil {
		t.Fatal(err)
	}
	for _, heard := range replicas {
		for got := ""; got != marker; {
			select {
			case got = <-heard:
			case <-time.After(10 * time.Second):
				t.Fatal("the marker notice did not arrive within 10s")
			}
		}
	}
}

// eventually polls ok until it holds, failing t after within.
func eventually(t *testing.T, within time.Duration, what string, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(within); !ok(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("after %v: not true that %s", within, what)
		}
	}
}

// found is what a replica's store answers for a session token.
type found struct {
	data string
	ok   bool
	user *market.User
}

func find(t *testing.T, db *postgres.DB, token string) found {
	t.Helper()
	su := &postgres.SessionUser{}
	b, ok, err := db.Sessions().FindCtx(postgres.WithSessionUser(context.Background(), su), token)
	if err != nil {
		t.Fatal(err)
	}
	return found{string(b), ok, su.User}
}

// unannounced changes a session's data behind every cache's back: with
// triggers off, as no code path of the app can, so that whatever a
// replica answers afterwards shows whether it read the database.
func unannounced(t *testing.T, pool *pgxpool.Pool, token, data string) {
	t.Helper()
	err := pgx.BeginFunc(context.Background(), pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(context.Background(), `SET LOCAL session_replication_role = replica`); err != nil {
			return err
		}
		_, err := tx.Exec(context.Background(), `UPDATE sessions SET data = $2 WHERE token = $1`, token, []byte(data))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

func signIn(t *testing.T, db *postgres.DB, u *market.User, token, data string) {
	t.Helper()
	ctx := context.Background()
	if err := db.Sessions().CommitCtx(ctx, token, []byte(data), time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := db.RecordSession(ctx, token, u.ID); err != nil {
		t.Fatal(err)
	}
}

// TestSessionCacheAcrossReplicas: a replica answers a session it read
// before from memory, and a change made through another replica (new
// session data, a renamed user, a sign-out, a password change that ends
// the user's sessions) reaches it within a second.
func TestSessionCacheAcrossReplicas(t *testing.T) {
	url := postgrestest.NewURL(t)
	a, heardA := replica(t, url)
	b, heardB := replica(t, url)
	raw := postgrestest.Pool(t, url)
	ctx := context.Background()
	u := newUser(t, a, "ann@example.com")
	signIn(t, a, u, "token-one", "v1")
	settle(t, raw, heardA, heardB)

	if got := find(t, a, "token-one"); !got.ok || got.data != "v1" || got.user == nil || got.user.ID != u.ID || got.user.DisplayName != "ann" {
		t.Fatalf("replica a: %+v, want v1 for ann", got)
	}
	// a answers from memory now; b, which never read it, from the database.
	unannounced(t, raw, "token-one", "behind the cache")
	if got := find(t, a, "token-one"); got.data != "v1" {
		t.Fatalf("replica a read %q again, want v1 from its cache", got.data)
	}
	if got := find(t, b, "token-one"); got.data != "behind the cache" {
		t.Fatalf("replica b: %q, want the database's", got.data)
	}

	if err := b.Sessions().CommitCtx(ctx, "token-one", []byte("v2"), time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	eventually(t, time.Second, "replica a shows the data written through b", func() bool { return find(t, a, "token-one").data == "v2" })

	if _, err := b.UpdateDisplayName(ctx, u.ID, "Ann B."); err != nil {
		t.Fatal(err)
	}
	eventually(t, time.Second, "replica a shows the name changed through b", func() bool {
		got := find(t, a, "token-one")
		return got.user != nil && got.user.DisplayName == "Ann B."
	})

	if err := b.Sessions().DeleteCtx(ctx, "token-one"); err != nil {
		t.Fatal(err)
	}
	eventually(t, time.Second, "replica a refuses the session ended through b", func() bool { return !find(t, a, "token-one").ok })

	signIn(t, a, u, "token-two", "v1")
	signIn(t, a, u, "token-kept", "v1")
	settle(t, raw, heardA, heardB)
	for _, tok := range []string{"token-two", "token-kept"} {
		if got := find(t, a, tok); !got.ok {
			t.Fatalf("%s not found", tok)
		}
	}
	if err := b.ChangePassword(ctx, u.ID, "$argon2id$new", "token-kept"); err != nil {
		t.Fatal(err)
	}
	eventually(t, time.Second, "replica a refuses a session the password change through b ended", func() bool { return !find(t, a, "token-two").ok })
	got := find(t, a, "token-kept")
	if !got.ok || got.user == nil || got.user.PasswordHash != "$argon2id$new" {
		t.Fatalf("the session that changed the password: %+v, want it kept, with the new hash", got)
	}
}

// TestSessionCacheListenerFailover: notices sent while a replica's
// listening connection is down are lost, so once that connection fails
// the replica forgets every session it remembered. A change no notice
// announced (triggers off) stands in for one made during the outage.
func TestSessionCacheListenerFailover(t *testing.T) {
	url := postgrestest.NewURL(t)
	a, heard := replica(t, url)
	raw := postgrestest.Pool(t, url)
	ctx := context.Background()
	u := newUser(t, a, "bo@example.com")
	signIn(t, a, u, "token-one", "v1")
	settle(t, raw, heard)
	if got := find(t, a, "token-one"); got.data != "v1" {
		t.Fatalf("got %q, want v1", got.data)
	}
	unannounced(t, raw, "token-one", "changed unheard")
	if got := find(t, a, "token-one"); got.data != "v1" {
		t.Fatalf("got %q, want v1 from the cache", got.data)
	}
	var pid int32
	if err := raw.QueryRow(ctx, `SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND application_name = $1`, postgres.ListenerName).Scan(&pid); err != nil {
		t.Fatal(err)
	}
	if _, err := raw.Exec(ctx, `SELECT pg_terminate_backend($1)`, pid); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "replica a reads the session again after its listener failed", func() bool { return find(t, a, "token-one").data == "changed unheard" })
	eventually(t, 10*time.Second, "the session cache is on again", func() bool { return a.SessionCacheStats().Live })
	// Listening again, the cache started empty: the old data is not back.
	if got := find(t, a, "token-one"); got.data != "changed unheard" {
		t.Fatalf("after the listener reconnected: %q, want the database's", got.data)
	}
}

// TestSessionCacheHonoursExpiry: a remembered session is not served past
// its expiry, though no notice says so.
func TestSessionCacheHonoursExpiry(t *testing.T) {
	url := postgrestest.NewURL(t)
	a, _ := replica(t, url)
	u := newUser(t, a, "cy@example.com")
	if err := a.Sessions().CommitCtx(context.Background(), "token-one", []byte("v1"), time.Now().Add(300*time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	if err := a.RecordSession(context.Background(), "token-one", u.ID); err != nil {
		t.Fatal(err)
	}
	if got := find(t, a, "token-one"); !got.ok {
		t.Fatal("the session was not found before its expiry")
	}
	eventually(t, 2*time.Second, "the session is refused after its expiry", func() bool { return !find(t, a, "token-one").ok })
}
