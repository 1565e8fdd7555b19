package mail_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bazaarhq/bazaar/internal/mail"
	"github.com/bazaarhq/bazaar/internal/mail/mailtest"
	"github.com/bazaarhq/bazaar/internal/market"
	"github.com/bazaarhq/bazaar/internal/postgres"
	"github.com/bazaarhq/bazaar/internal/postgres/postgrestest"
)

func TestMain(m *testing.M) { postgrestest.Main(m) }

const from = "Bazaar <no-reply@bazaar.example>"

func newSMTP(t *testing.T, srv *mailtest.Server) *mail.SMTP {
	t.Helper()
	s, err := mail.NewSMTP(srv.URL(), from)
	if err != nil {
		t.Fatal(err)
	}
	s.Timeout = 5 * time.Second
	return s
}

// startWorker runs a worker until the test ends (or stop is called), with
// fast polling and retries.
func startWorker(t *testing.T, db *postgres.DB, s mail.Sender) (stop func()) {
	t.Helper()
	w := mail.NewWorker(db, s, nil, nil)
	w.Interval = 20 * time.Millisecond
	w.Backoff = func(int) time.Duration { return 50 * time.Millisecond }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("worker: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

func TestSMTPDelivers(t *testing.T) {
	srv := mailtest.NewServer(t)
	db := postgrestest.NewDB(t)
	ctx := context.Background()
	body := "Hello Ada,\n\nfollow https://bazaar.example/password/reset/bzr_abc to choose a new password. " + strings.Repeat("Ünïcödé ", 20)
	if err := db.EnqueueMail(ctx, market.Mail{To: "ada@example.com", Subject: "Réinitialiser", Body: body}); err != nil {
		t.Fatal(err)
	}
	startWorker(t, db, newSMTP(t, srv))
	msgs := srv.WaitFor(t, 1)
	m := msgs[0]
	if m.From != "no-reply@bazaar.example" || len(m.To) != 1 || m.To[0] != "ada@example.com" {
		t.Fatalf("envelope from %q to %v", m.From, m.To)
	}
	p := m.Parsed(t)
	if subj, err := new(mimeDecoder).DecodeHeader(p.Header.Get("Subject")); err != nil || subj != "Réinitialiser" {
		t.Errorf("subject %q (%v)", subj, err)
	}
	if !strings.HasPrefix(p.Header.Get("Message-Id"), "<outbox-") {
		t.Errorf("Message-ID %q", p.Header.Get("Message-Id"))
	}
	if got := strings.TrimSuffix(mailtest.Body(t, m), "\r\n"); got != strings.ReplaceAll(body, "\n", "\r\n") {
		t.Errorf("body:\n%q\nwant\n%q", got, body)
	}
	if l := mailtest.Link(t, m); l != "https://bazaar.example/password/reset/bzr_abc" {
		t.Errorf("link %q", l)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		n, err := db.PendingMail(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d messages still pending after delivery", n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestOutboxSurvivesAnOutageAndDeliversOnce: mail queued while the mail
// server is down is delivered when it comes back, each message exactly
// once, though two app instances (two pools, two workers) run the outbox.
// Shown to fail without FOR UPDATE SKIP LOCKED in DeliverMail: both
// workers took the same rows and the server received duplicates.
func TestOutboxSurvivesAnOutageAndDeliversOnce(t *testing.T) {
	srv := mailtest.NewServer(t)
	srv.SetDown(true)
	srv.SetDelay(10 * time.Millisecond) // so that the two workers overlap
	url := postgrestest.NewURL(t)
	db1, db2 := postgrestest.Open(t, url), postgrestest.Open(t, url)
	ctx := context.Background()
	const n = 30
	for i := range n {
		if err := db1.EnqueueMail(ctx, market.Mail{To: fmt.Sprintf("user%d@example.com", i), Subject: "Hello", Body: "Hi."}); err != nil {
			t.Fatal(err)
		}
	}
	stop1 := startWorker(t, db1, newSMTP(t, srv))
	stop2 := startWorker(t, db2, newSMTP(t, srv))
	// Wait until every message has failed at least once.
	pool := postgrestest.Pool(t, url)
	deadline := time.Now().Add(20 * time.Second)
	for {
		var failed int
		if err := pool.QueryRow(ctx, `SELECT count(*) FROM mail_outbox WHERE attempts > 0 AND sent_at IS NULL AND last_error IS NOT NULL`).Scan(&failed); err != nil {
			t.Fatal(err)
		}
		if failed == n {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d messages failed while the server was down", failed, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if got := len(srv.Messages()); got != 0 {
		t.Fatalf("%d messages arrived while the server was down", got)
	}
	srv.SetDown(false)
	srv.WaitFor(t, n)
	deadline = time.Now().Add(20 * time.Second)
	for {
		pending, err := db1.PendingMail(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if pending == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d messages pending after the server came back", pending)
		}
		time.Sleep(10 * time.Millisecond)
	}
	stop1()
	stop2()
	seen := map[string]int{}
	for _, m := range srv.Messages() {
		seen[m.To[0]]++
	}
	for i := range n {
		if to := fmt.Sprintf("user%d@example.com", i); seen[to] != 1 {
			t.Errorf("%s got %d messages, want 1", to, seen[to])
		}
	}
	if len(srv.Messages()) != n {
		t.Errorf("%d messages delivered, want %d", len(srv.Messages()), n)
	}
}

func TestDirWritesFilesAndLogsLinks(t *testing.T) {
	db := postgrestest.NewDB(t)
	ctx := context.Background()
	dir := t.TempDir()
	var log strings.Builder
	var mu sync.Mutex
	logger := newLogger(&lockedWriter{w: &log, mu: &mu})
	if err := db.EnqueueMail(ctx, market.Mail{To: "ada@example.com", Subject: "Reset", Body: "Go to http://localhost:8080/password/reset/bzr_xyz now."}); err != nil {
		t.Fatal(err)
	}
	startWorker(t, db, &mail.Dir{Path: filepath.Join(dir, "mail"), Logger: logger, From: from})
	deadline := time.Now().Add(10 * time.Second)
	for {
		files, _ := filepath.Glob(filepath.Join(dir, "mail", "*.eml"))
		if len(files) == 1 {
			b, err := os.ReadFile(files[0])
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(b), "To: ada@example.com") {
				t.Fatalf("file:\n%s", b)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d files written", len(files))
		}
		time.Sleep(10 * time.Millisecond)
	}
	for {
		mu.Lock()
		s := log.String()
		mu.Unlock()
		if strings.Contains(s, "http://localhost:8080/password/reset/bzr_xyz") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the link is not logged:\n%s", s)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestNewSMTPRejectsBadURLs(t *testing.T) {
	t.Parallel()
	for _, u := range []string{"http://mail.example", "smtp://", "smtp://mail.example:99999", "://"} {
		if _, err := mail.NewSMTP(u, from); err == nil {
			t.Errorf("NewSMTP(%q) succeeded", u)
		}
	}
	if _, err := mail.NewSMTP("smtp://mail.example", "not an address"); err == nil {
		t.Error("a bad sender address was accepted")
	}
	for _, u := range []string{"smtp://user:pw@mail.example:587", "smtps://mail.example", "smtp://localhost:2525"} {
		if _, err := mail.NewSMTP(u, from); err != nil {
			t.Errorf("NewSMTP(%q) = %v", u, err)
		}
	}
}
