// Package mail delivers the outbox: a worker takes due messages from
// PostgreSQL (postgres.DB.DeliverMail) and hands them to a Sender, which
// speaks SMTP to a real mail server, or, for `make run` without one, writes
// each message to a file and logs its links.
package mail

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"mime/quotedprintable"
	"net"
	netmail "net/mail"
	"net/smtp"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/bazaarhq/bazaar/internal/market"
)

// Sender delivers one message. It is the boundary to the outside world, so
// tests replace the mail server, never the outbox.
type Sender interface {
	Send(ctx context.Context, m *market.Mail) error
}

// SMTP sends through a mail server given by URL:
//
//	smtp://[user:password@]host[:port]   port 587 by default; STARTTLS when the server offers it
//	smtps://[user:password@]host[:port]  port 465 by default; TLS from the first byte
//
// Credentials are sent only over TLS (or to localhost), as net/smtp insists.
type SMTP struct {
	addr, host  string
	implicitTLS bool
	auth        smtp.Auth
	from        string
	// Timeout bounds one whole exchange, so that a hung server does not
	// hold an outbox row's lock for long.
	Timeout time.Duration
	// TLSConfig, when set, replaces the default (verify host against the
	// system roots); tests use it to trust their own certificate.
	TLSConfig *tls.Config
}

// NewSMTP parses rawURL (see SMTP) and returns a Sender that sends from the
// address from (for example "Bazaar <no-reply@example.com>").
func NewSMTP(rawURL, from string) (*SMTP, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("not a URL: %w", err)
	}
	s := &SMTP{host: u.Hostname(), from: from, Timeout: 30 * time.Second}
	port := u.Port()
	switch u.Scheme {
	case "smtp":
		port = cmpOr(port, "587")
	case "smtps":
		port, s.implicitTLS = cmpOr(port, "465"), true
	default:
		return nil, fmt.Errorf("scheme must be smtp or smtps, got %q", u.Scheme)
	}
	if s.host == "" {
		return nil, errors.New("host is missing")
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return nil, fmt.Errorf("bad port %q", port)
	}
	s.addr = net.JoinHostPort(s.host, port)
	if u.User != nil {
		pw, _ := u.User.Password()
		s.auth = smtp.PlainAuth("", u.User.Username(), pw, s.host)
	}
	if _, err := parseFrom(from); err != nil {
		return nil, err
	}
	return s, nil
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func parseFrom(from string) (string, error) {
	a, err := parseAddress(from)
	if err != nil {
		return "", fmt.Errorf("sender address %q: %w", from, err)
	}
	return a, nil
}

// Send delivers m in one SMTP exchange.
func (s *SMTP) Send(ctx context.Context, m *market.Mail) error {
	ctx, cancel := context.WithTimeout(ctx, s.Timeout)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", s.addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	deadline, _ := ctx.Deadline()
	_ = conn.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	tlsConfig := s.TLSConfig
	if tlsConfig == nil {
		tlsConfig = &tls.Config{ServerName: s.host}
	}
	if s.implicitTLS {
		conn = tls.Client(conn, tlsConfig)
	}
	c, err := smtp.NewClient(conn, s.host)
	if err != nil {
		return err
	}
	defer c.Close()
	if !s.implicitTLS {
		if ok, _ := c.Extension("STARTTLS"); ok {
			if err := c.StartTLS(tlsConfig); err != nil {
				return err
			}
		}
	}
	if s.auth != nil {
		if err := c.Auth(s.auth); err != nil {
			return err
		}
	}
	from, _ := parseFrom(s.from)
	to, err := parseAddress(m.To)
	if err != nil {
		return fmt.Errorf("recipient: %w", err)
	}
	if err := c.Mail(from); err != nil {
		return err
	}
	if err := c.Rcpt(to); err != nil {
		return err
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := w.Write(Format(m, s.from, time.Now())); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	return c.Quit()
}

// Format renders m as an RFC 5322 message: plain text, UTF-8, quoted-printable
// (so no line is too long for SMTP), with a Message-ID derived from the
// outbox id so that a message sent twice after a crash can be recognised.
func Format(m *market.Mail, from string, now time.Time) []byte {
	var b bytes.Buffer
	domain := "bazaar.invalid"
	if a, err := parseAddress(from); err == nil {
		domain = a[strings.LastIndexByte(a, '@')+1:]
	}
	header := func(k, v string) {
		// No header injection: a CR or LF in a value would start a new header.
		v = strings.NewReplacer("\r", " ", "\n", " ").Replace(v)
		fmt.Fprintf(&b, "%s: %s\r\n", k, v)
	}
	header("From", from)
	header("To", m.To)
	header("Subject", mime.QEncoding.Encode("utf-8", m.Subject))
	header("Date", now.UTC().Format(time.RFC1123Z))
	header("Message-ID", fmt.Sprintf("<outbox-%d@%s>", m.ID, domain))
	header("MIME-Version", "1.0")
	header("Content-Type", "text/plain; charset=utf-8")
	header("Content-Transfer-Encoding", "quoted-printable")
	b.WriteString("\r\n")
	qp := quotedprintable.NewWriter(&b)
	_, _ = qp.Write([]byte(strings.ReplaceAll(strings.ReplaceAll(m.Body, "\r\n", "\n"), "\n", "\r\n")))
	_ = qp.Close()
	return b.Bytes()
}

// Dir "sends" by writing each message to a file in a directory and logging
// the links it contains: mail for `make run` without a mail server.
type Dir struct {
	Path   string
	Logger *slog.Logger
	From   string
}

var linkRE = regexp.MustCompile(`https?://\S+`)

// Send writes m to Path/<id>.eml.
func (d *Dir) Send(ctx context.Context, m *market.Mail) error {
	if err := os.MkdirAll(d.Path, 0o700); err != nil {
		return err
	}
	// Written beside its final name and renamed, so whoever watches the
	// directory (a developer's mail client, a test) never reads half a message.
	file := filepath.Join(d.Path, fmt.Sprintf("%06d.eml", m.ID))
	tmp, err := os.CreateTemp(d.Path, ".mail-*.tmp")
	if err != nil {
		return err
	}
	defer func() { _ = os.Remove(tmp.Name()) }() // a no-op once renamed
	if _, err := tmp.Write(Format(m, d.From, time.Now())); err != nil {
		_ = tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), file); err != nil {
		return err
	}
	if d.Logger != nil {
		d.Logger.LogAttrs(ctx, slog.LevelInfo, "mail written to a file (no BAZAAR_SMTP_URL)",
			slog.String("to", m.To), slog.String("subject", m.Subject), slog.String("file", file),
			slog.Any("links", linkRE.FindAllString(m.Body, -1)))
	}
	return nil
}

// parseAddress returns the bare address of "Name <addr>" or "addr".
func parseAddress(s string) (string, error) {
	a, err := netmail.ParseAddress(s)
	if err != nil {
		return "", err
	}
	return a.Address, nil
}
