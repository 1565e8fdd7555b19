// Package mailtest runs a real SMTP server in the test's process
// (emersion/go-smtp) on 127.0.0.1:0, records every message it accepts,
// and can be taken down and brought back up to test the outbox's retries.
package mailtest

import (
	"bytes"
	"io"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"regexp"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

// Message is one accepted message.
type Message struct {
	From string
	To   []string
	Data []byte
}

// Parsed returns m as a mail message (headers and decoded-as-sent body).
func (m Message) Parsed(t testing.TB) *mail.Message {
	t.Helper()
	msg, err := mail.ReadMessage(bytes.NewReader(m.Data))
	if err != nil {
		t.Fatalf("message does not parse: %v\n%s", err, m.Data)
	}
	return msg
}

// Server is an SMTP server for one test.
type Server struct {
	addr string
	down atomic.Bool
	// delay, when set, is how long each message takes to be accepted: a
	// slow mail server, under which concurrent senders overlap.
	delay atomic.Int64
	mu    sync.Mutex
	msgs  []Message
}

// NewServer starts a server, stopped when t ends.
func NewServer(t testing.TB) *Server {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{addr: l.Addr().String()}
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) {
		return &session{s: s}, nil
	}))
	srv.Domain = "mailtest.invalid"
	srv.ReadTimeout, srv.WriteTimeout = 10*time.Second, 10*time.Second
	go func() { _ = srv.Serve(downListener{l, s}) }()
	t.Cleanup(func() { _ = srv.Close() })
	return s
}

// downListener drops every connection while the server is down: the
// client sees the connection close before any greeting, as from a mail
// server that crashed behind its socket. The port stays bound, so no other
// process can take it meanwhile.
type downListener struct {
	net.Listener
	s *Server
}

func (l downListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil || !l.s.down.Load() {
			return c, err
		}
		_ = c.Close()
	}
}

// URL is the server's address as a BAZAAR_SMTP_URL.
func (s *Server) URL() string { return "smtp://" + s.addr }

// SetDown takes the server down (true) or brings it back up (false).
func (s *Server) SetDown(down bool) { s.down.Store(down) }

// SetDelay makes each message take d to be accepted.
func (s *Server) SetDelay(d time.Duration) { s.delay.Store(int64(d)) }

// Messages returns a copy of the messages accepted so far.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.msgs...)
}

// WaitFor polls until at least n messages arrived, failing t after 20s.
func (s *Server) WaitFor(t testing.TB, n int) []Message {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		if m := s.Messages(); len(m) >= n {
			return m
		}
		if time.Now().After(deadline) {
			t.Fatalf("mailtest: %d messages after 20s, want %d", len(s.Messages()), n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

var linkRE = regexp.MustCompile(`https?://[^\s]+`)

// Link returns the first link in the body of m (quoted-printable decoded).
func Link(t testing.TB, m Message) string {
	t.Helper()
	body := Body(t, m)
	l := linkRE.FindString(body)
	if l == "" {
		t.Fatalf("no link in the message:\n%s", body)
	}
	return l
}

// Body returns the text of m, decoded from quoted-printable when so sent.
func Body(t testing.TB, m Message) string {
	t.Helper()
	msg := m.Parsed(t)
	var r io.Reader = msg.Body
	if msg.Header.Get("Content-Transfer-Encoding") == "quoted-printable" {
		r = quotedprintable.NewReader(r)
	}
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

type session struct {
	s    *Server
	from string
	to   []string
}

func (ss *session) Reset()        { ss.from, ss.to = "", nil }
func (ss *session) Logout() error { return nil }
func (ss *session) Mail(from string, _ *smtp.MailOptions) error {
	ss.from = from
	return nil
}
func (ss *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	ss.to = append(ss.to, to)
	return nil
}
func (ss *session) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	time.Sleep(time.Duration(ss.s.delay.Load()))
	ss.s.mu.Lock()
	ss.s.msgs = append(ss.s.msgs, Message{From: ss.from, To: ss.to, Data: b})
	ss.s.mu.Unlock()
	return nil
}
