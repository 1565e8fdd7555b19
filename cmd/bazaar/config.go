package main

import (
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/bazaarhq/bazaar/internal/blob"
	"github.com/bazaarhq/bazaar/internal/mail"
	"github.com/bazaarhq/bazaar/internal/postgres"
)

// config is every setting, read once from the environment at start-up.
type config struct {
	DatabaseURL     string
	Addr            string
	TrustedProxies  []netip.Prefix
	Instance        string
	ShutdownTimeout time.Duration
	DrainDelay      time.Duration
	RequestTimeout  time.Duration
	DBMaxConns      int32
	PageCacheBytes  int
	LogLevel        slog.Level
	SecureCookies   bool
	// SMTPURL is where mail goes (smtp:// or smtps://); empty means into
	// files under DataDir/mail, with their links logged (make run).
	SMTPURL  string
	MailFrom string
	DataDir  string
	// SessionIdle and SessionLifetime bound a sign-in: unused for
	// SessionIdle, or SessionLifetime after it began, it ends.
	SessionIdle     time.Duration
	SessionLifetime time.Duration
	// PublicURL is the site's address for links in mail.
	PublicURL string
	// Photos: a directory (PhotoDir, served by nginx under PhotoURL), or
	// an S3 bucket when S3.Endpoint is set. PhotoDecodes bounds how many
	// uploads are decoded at once (0: one per CPU).
	PhotoDir     string
	PhotoURL     string
	S3           blob.S3Config
	PhotoDecodes int
	// ServeMedia has the app itself serve PhotoDir under PhotoURL: set
	// by `bazaar dev` only; in production nginx serves the files.
	ServeMedia bool
}

// loadConfig reads and validates the environment, reporting every bad value
// at once with the variable's name.
func loadConfig(getenv func(string) string) (config, error) {
	var errs []error
	bad := func(name, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", name, fmt.Sprintf(format, args...)))
	}
	c := config{
		DatabaseURL: getenv("DATABASE_URL"),
		Addr:        or(getenv("BAZAAR_ADDR"), ":8080"),
		Instance:    getenv("BAZAAR_INSTANCE"),
	}
	// DATABASE_URL_FILE names a file holding the URL, the way the official
	// images read their secrets (POSTGRES_PASSWORD_FILE): a Docker or
	// Kubernetes secret mounted as a file never shows in `docker inspect`
	// or the process environment. One trailing newline (as `echo` or an
	// editor leaves) is not part of it. Messages never quote the URL: it
	// holds the password.
	if file := getenv("DATABASE_URL_FILE"); file != "" {
		const urlVar = "DATABASE_URL_FILE"
		if c.DatabaseURL != "" {
			bad(urlVar, "and DATABASE_URL are both set; set only one (the file is for secrets, the variable for everything else)")
		} else if b, err := os.ReadFile(file); err != nil { // #nosec G304 -- the operator names the secret's file; configuration, never request input
			bad(urlVar, "cannot read the file: %v", err)
		} else if c.DatabaseURL = strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r"); c.DatabaseURL == "" {
			bad(urlVar, "%s is empty", file)
		} else if !strings.HasPrefix(c.DatabaseURL, "postgres://") && !strings.HasPrefix(c.DatabaseURL, "postgresql://") {
			bad(urlVar, "%s must hold a postgres:// URL", file)
		}
	} else if c.DatabaseURL == "" {
		bad("DATABASE_URL", "is required (for example postgres://bazaar:secret@localhost:5432/bazaar, or DATABASE_URL_FILE naming a file that holds it); `make run` sets it for you")
	} else if !strings.HasPrefix(c.DatabaseURL, "postgres://") && !strings.HasPrefix(c.DatabaseURL, "postgresql://") {
		bad("DATABASE_URL", "must be a postgres:// URL")
	}
	if _, port, err := net.SplitHostPort(c.Addr); err != nil {
		bad("BAZAAR_ADDR", "must be host:port or :port, got %q", c.Addr)
	} else if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		bad("BAZAAR_ADDR", "port must be a number from 0 to 65535, got %q", port)
	}
	proxies := or(getenv("BAZAAR_TRUSTED_PROXIES"), "127.0.0.1/32,::1/128")
	for _, p := range strings.Split(proxies, ",") {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		if !strings.Contains(p, "/") {
			if a, err := netip.ParseAddr(p); err == nil {
				c.TrustedProxies = append(c.TrustedProxies, netip.PrefixFrom(a, a.BitLen()))
				continue
			}
		}
		pfx, err := netip.ParsePrefix(p)
		if err != nil {
			bad("BAZAAR_TRUSTED_PROXIES", "%q is not an address or CIDR prefix", p)
			continue
		}
		c.TrustedProxies = append(c.TrustedProxies, pfx.Masked())
	}
	c.ShutdownTimeout = duration(getenv, "BAZAAR_SHUTDOWN_TIMEOUT", 15*time.Second, bad)
	c.DrainDelay = duration(getenv, "BAZAAR_DRAIN_DELAY", 0, bad)
	c.RequestTimeout = duration(getenv, "BAZAAR_REQUEST_TIMEOUT", 10*time.Second, bad)
	c.SessionIdle = duration(getenv, "BAZAAR_SESSION_IDLE", 7*24*time.Hour, bad)
	c.SessionLifetime = duration(getenv, "BAZAAR_SESSION_LIFETIME", 30*24*time.Hour, bad)
	if c.SessionIdle > c.SessionLifetime {
		bad("BAZAAR_SESSION_IDLE", "(%s) must not be longer than BAZAAR_SESSION_LIFETIME (%s)", c.SessionIdle, c.SessionLifetime)
	}
	if v := getenv("BAZAAR_DB_MAX_CONNS"); v != "" {
		// ParseInt's bit size keeps the int32 conversion exact even before the range check.
		n, err := strconv.ParseInt(v, 10, 32)
		if err != nil || n < 1 || n > 1000 {
			bad("BAZAAR_DB_MAX_CONNS", "must be a whole number from 1 to 1000, got %q", v)
		} else {
			c.DBMaxConns = int32(n)
		}
	} else {
		c.DBMaxConns = postgres.DefaultMaxConns()
	}
	c.PageCacheBytes = 16 << 20
	if v := getenv("BAZAAR_PAGE_CACHE_MB"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > 4096 {
			bad("BAZAAR_PAGE_CACHE_MB", "must be a whole number of MiB from 0 (off) to 4096, got %q", v)
		} else {
			c.PageCacheBytes = n << 20
		}
	}
	if err := c.LogLevel.UnmarshalText([]byte(or(getenv("BAZAAR_LOG_LEVEL"), "info"))); err != nil {
		bad("BAZAAR_LOG_LEVEL", "must be debug, info, warn or error, got %q", getenv("BAZAAR_LOG_LEVEL"))
	}
	switch v := getenv("BAZAAR_SECURE_COOKIES"); v {
	case "", "false", "0":
	case "true", "1":
		c.SecureCookies = true
	default:
		bad("BAZAAR_SECURE_COOKIES", "must be true or false, got %q", v)
	}
	c.SMTPURL = getenv("BAZAAR_SMTP_URL")
	c.MailFrom = or(getenv("BAZAAR_MAIL_FROM"), "Bazaar <no-reply@localhost>")
	c.DataDir = or(getenv("BAZAAR_DATA_DIR"), ".data")
	if c.SMTPURL != "" {
		if _, err := mail.NewSMTP(c.SMTPURL, c.MailFrom); err != nil {
			bad("BAZAAR_SMTP_URL", "%v (want smtp://user:password@host:587 or smtps://host:465)", err)
		}
	} else if _, err := mail.NewSMTP("smtp://localhost", c.MailFrom); err != nil {
		bad("BAZAAR_MAIL_FROM", "must be an address such as \"Bazaar <no-reply@example.com>\", got %q", c.MailFrom)
	}
	c.PublicURL = strings.TrimSuffix(getenv("BAZAAR_PUBLIC_URL"), "/")
	if c.PublicURL == "" {
		port := "8080"
		if _, p, err := net.SplitHostPort(c.Addr); err == nil && p != "0" {
			port = p
		}
		c.PublicURL = "http://localhost:" + port
	} else if u, err := url.Parse(c.PublicURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		bad("BAZAAR_PUBLIC_URL", "must be the site's address such as https://bazaar.example, got %q", c.PublicURL)
	}
	c.PhotoDir = or(getenv("BAZAAR_PHOTO_DIR"), filepath.Join(c.DataDir, "photos"))
	c.PhotoURL = or(getenv("BAZAAR_PHOTO_URL"), "/media")
	if u, err := url.Parse(c.PhotoURL); err != nil || u.RawQuery != "" || u.Fragment != "" ||
		!(strings.HasPrefix(c.PhotoURL, "/") && !strings.HasPrefix(c.PhotoURL, "//") || u.Scheme == "https" || u.Scheme == "http") {
		bad("BAZAAR_PHOTO_URL", "must be a path such as /media or an http(s) URL such as https://cdn.example.com/photos, got %q", c.PhotoURL)
	}
	c.S3 = blob.S3Config{
		Endpoint: getenv("BAZAAR_S3_ENDPOINT"), Region: getenv("BAZAAR_S3_REGION"), Bucket: getenv("BAZAAR_S3_BUCKET"),
		AccessKey: getenv("BAZAAR_S3_ACCESS_KEY"), SecretKey: getenv("BAZAAR_S3_SECRET_KEY"), PublicURL: getenv("BAZAAR_S3_PUBLIC_URL"),
	}
	if c.S3.Endpoint != "" {
		if u, err := url.Parse(c.S3.Endpoint); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad("BAZAAR_S3_ENDPOINT", "must be an http(s) URL such as https://s3.eu-west-1.amazonaws.com, got %q", c.S3.Endpoint)
		}
		if c.S3.Bucket == "" {
			bad("BAZAAR_S3_BUCKET", "is required with BAZAAR_S3_ENDPOINT")
		}
		if c.S3.AccessKey == "" || c.S3.SecretKey == "" {
			bad("BAZAAR_S3_ACCESS_KEY", "and BAZAAR_S3_SECRET_KEY are required with BAZAAR_S3_ENDPOINT")
		}
		if c.S3.PublicURL == "" {
			bad("BAZAAR_S3_PUBLIC_URL", "is required with BAZAAR_S3_ENDPOINT: where browsers fetch the photos (the bucket's public URL, a CDN, or a path nginx proxies to the bucket)")
		}
	} else {
		for _, k := range []string{"BAZAAR_S3_BUCKET", "BAZAAR_S3_ACCESS_KEY", "BAZAAR_S3_SECRET_KEY", "BAZAAR_S3_PUBLIC_URL", "BAZAAR_S3_REGION"} {
			if getenv(k) != "" {
				bad(k, "is set but BAZAAR_S3_ENDPOINT is not; set it to store photos in S3, or unset %s to keep them in BAZAAR_PHOTO_DIR", k)
			}
		}
	}
	if v := getenv("BAZAAR_PHOTO_DECODES"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 64 {
			bad("BAZAAR_PHOTO_DECODES", "must be a whole number from 1 to 64, got %q", v)
		} else {
			c.PhotoDecodes = n
		}
	}
	if c.Instance == "" {
		c.Instance, _ = os.Hostname()
	}
	if len(errs) > 0 {
		return c, fmt.Errorf("invalid configuration:\n  %w", joinIndented(errs))
	}
	return c, nil
}

func duration(getenv func(string) string, name string, def time.Duration, bad func(string, string, ...any)) time.Duration {
	v := getenv(name)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 || (d == 0 && def > 0) {
		bad(name, "must be a positive duration such as 15s, got %q", v)
		return def
	}
	return d
}

func or(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

type indented []error

func (e indented) Error() string {
	s := make([]string, len(e))
	for i, err := range e {
		s[i] = err.Error()
	}
	return strings.Join(s, "\n  ")
}

func (e indented) Unwrap() []error { return e }

func joinIndented(errs []error) error { return indented(errs) }
