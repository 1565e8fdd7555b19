// Package s3test starts a real S3 server for tests: versitygw serving a
// temporary directory on a Unix socket (no port to race for), with a
// bucket ready. The binary is found through $BAZAAR_VERSITYGW or $PATH;
// `make test` installs it (see the Makefile's versitygw target).
package s3test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/bazaarhq/bazaar/internal/blob"
)

// Server is a running versitygw.
type Server struct {
	Socket    string // Unix socket of the S3 API
	AccessKey string
	SecretKey string
	Dir       string // the posix backend's root: one directory per bucket
}

// Binary returns the versitygw to run, or "" when there is none.
func Binary() string {
	if p := os.Getenv("BAZAAR_VERSITYGW"); p != "" {
		// #nosec G703 -- the path is the test runner's own setting.
		if _, err := os.Stat(p); err == nil {
			return p
		}
		return ""
	}
	p, _ := exec.LookPath("versitygw")
	return p
}

// Start runs versitygw for the test and stops it at cleanup. Without the
// binary the test is skipped, loudly, or fails under BAZAAR_REQUIRE_ALL=1.
func Start(t testing.TB) *Server {
	t.Helper()
	bin := Binary()
	if bin == "" {
		msg := "!!! versitygw not found ($BAZAAR_VERSITYGW or $PATH): the S3 store tests did NOT run. " +
			"`make test` installs it; or go install github.com/versity/versitygw/cmd/versitygw@v1.8.0. " +
			"Set BAZAAR_REQUIRE_ALL=1 to make this a failure. !!!"
		if os.Getenv("BAZAAR_REQUIRE_ALL") == "1" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	// Unix socket paths are limited to ~108 bytes; t.TempDir() can be
	// longer than that, so the socket gets a short directory of its own.
	sockDir, err := os.MkdirTemp("", "s3t")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(sockDir) })
	s := &Server{
		Socket:    filepath.Join(sockDir, "s3.sock"),
		AccessKey: "bazaartest",
		SecretKey: randomHex(16),
		Dir:       t.TempDir(),
	}
	var out bytes.Buffer
	// #nosec G204 -- runs the versitygw binary the test runner named.
	cmd := exec.Command(bin, "--port", s.Socket, "--access", s.AccessKey, "--secret", s.SecretKey, "--quiet", "posix", s.Dir)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
		if t.Failed() {
			t.Logf("versitygw output:\n%s", out.String())
		}
	})
	// Ready when a request over the socket gets an S3 answer.
	hc := s.HTTPClient()
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := hc.Get("http://s3.test/")
		if err == nil {
			_ = resp.Body.Close()
			break
		}
		select {
		case <-exited:
			t.Fatalf("versitygw exited: %s", out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("versitygw not answering on %s after 20s: %v\n%s", s.Socket, err, out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	return s
}

// HTTPClient dials the server's socket whatever the URL's host.
func (s *Server) HTTPClient() *http.Client {
	return &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", s.Socket)
		},
	}}
}

// Store returns a blob.S3 on a new bucket of this server.
func (s *Server) Store(t testing.TB, publicURL string) *blob.S3 {
	t.Helper()
	st, err := blob.NewS3(blob.S3Config{
		Endpoint:   "http://s3.test",
		Bucket:     "b" + randomHex(6),
		AccessKey:  s.AccessKey,
		SecretKey:  s.SecretKey,
		PublicURL:  publicURL,
		HTTPClient: s.HTTPClient(),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := st.CreateBucket(ctx); err != nil {
		t.Fatal(err)
	}
	return st
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
