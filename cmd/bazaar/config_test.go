package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bazaarhq/bazaar/internal/postgres/postgrestest"
)

// DATABASE_URL_FILE is how a Docker secret reaches the app (deploy/swarm):
// the file's content is the URL, less one trailing newline; setting both it
// and DATABASE_URL is refused; no message shows the URL (it holds the
// password).
func TestDatabaseURLFile(t *testing.T) {
	const url = "postgres://bazaar:s3cret-pw@db:5432/bazaar?sslmode=disable"
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("good", url+"\n")
	tests := []struct {
		name    string
		env     map[string]string
		wantURL string
		wantErr []string // each must be in the error; nil means no error
	}{
		{"file with a trailing newline", map[string]string{"DATABASE_URL_FILE": good}, url, nil},
		{"file with CRLF", map[string]string{"DATABASE_URL_FILE": write("crlf", url+"\r\n")}, url, nil},
		{"file without newline", map[string]string{"DATABASE_URL_FILE": write("bare", url)}, url, nil},
		{"both set", map[string]string{"DATABASE_URL_FILE": good, "DATABASE_URL": url}, "", []string{"DATABASE_URL_FILE", "DATABASE_URL are both set", "only one"}},
		{"missing file", map[string]string{"DATABASE_URL_FILE": filepath.Join(dir, "nope")}, "", []string{"DATABASE_URL_FILE", "cannot read"}},
		{"empty file", map[string]string{"DATABASE_URL_FILE": write("empty", "\n")}, "", []string{"DATABASE_URL_FILE", "is empty"}},
		{"not a postgres URL", map[string]string{"DATABASE_URL_FILE": write("mysql", "mysql://root:s3cret-pw@db/x\n")}, "", []string{"DATABASE_URL_FILE", "postgres://"}},
		{"neither", map[string]string{}, "", []string{"DATABASE_URL", "is required"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := loadConfig(func(k string) string { return tt.env[k] })
			if tt.wantErr == nil {
				if err != nil || cfg.DatabaseURL != tt.wantURL {
					t.Fatalf("loadConfig: URL %q, %v; want %q", cfg.DatabaseURL, err, tt.wantURL)
				}
				return
			}
			if err == nil {
				t.Fatalf("loadConfig: no error, URL %q", cfg.DatabaseURL)
			}
			for _, w := range tt.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not say %q:\n%v", w, err)
				}
			}
			if strings.Contains(err.Error(), "s3cret-pw") {
				t.Errorf("the error shows the password:\n%v", err)
			}
		})
	}

	// And for real: migrate reads its database from the file.
	f := write("real", postgrestest.NewURL(t)+"\n")
	var out bytes.Buffer
	env := map[string]string{"DATABASE_URL_FILE": f}
	if err := run(context.Background(), []string{"bazaar", "migrate"}, func(k string) string { return env[k] }, &out, &out); err != nil {
		t.Fatalf("migrate with DATABASE_URL_FILE: %v\n%s", err, out.String())
	}
}

// The accounts settings: lifetimes and the public address, each bad value
// named.
func TestAccountSettings(t *testing.T) {
	base := map[string]string{"DATABASE_URL": "postgres://x@db/x"}
	load := func(extra map[string]string) (config, error) {
		return loadConfig(func(k string) string {
			if v, ok := extra[k]; ok {
				return v
			}
			return base[k]
		})
	}
	cfg, err := load(map[string]string{"BAZAAR_ADDR": ":9090"})
	if err != nil || cfg.PublicURL != "http://localhost:9090" || cfg.SessionIdle != 7*24*time.Hour || cfg.SessionLifetime != 30*24*time.Hour {
		t.Errorf("defaults: %q %v %v (%v)", cfg.PublicURL, cfg.SessionIdle, cfg.SessionLifetime, err)
	}
	cfg, err = load(map[string]string{"BAZAAR_PUBLIC_URL": "https://bazaar.example/", "BAZAAR_SESSION_IDLE": "1h", "BAZAAR_SESSION_LIFETIME": "24h"})
	if err != nil || cfg.PublicURL != "https://bazaar.example" || cfg.SessionIdle != time.Hour || cfg.SessionLifetime != 24*time.Hour {
		t.Errorf("set: %q %v %v (%v)", cfg.PublicURL, cfg.SessionIdle, cfg.SessionLifetime, err)
	}
	for _, tt := range []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"BAZAAR_PUBLIC_URL": "bazaar.example"}, "BAZAAR_PUBLIC_URL"},
		{map[string]string{"BAZAAR_PUBLIC_URL": "ftp://bazaar.example"}, "BAZAAR_PUBLIC_URL"},
		{map[string]string{"BAZAAR_SESSION_IDLE": "soon"}, "BAZAAR_SESSION_IDLE"},
		{map[string]string{"BAZAAR_SESSION_IDLE": "48h", "BAZAAR_SESSION_LIFETIME": "24h"}, "BAZAAR_SESSION_IDLE"},
		{map[string]string{"BAZAAR_SESSION_LIFETIME": "0s"}, "BAZAAR_SESSION_LIFETIME"},
	} {
		if _, err := load(tt.env); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%v: error %v, want one naming %s", tt.env, err, tt.want)
		}
	}
}
