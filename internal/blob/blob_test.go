package blob_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bazaarhq/bazaar/internal/blob"
	"github.com/bazaarhq/bazaar/internal/blob/s3test"
	"github.com/bazaarhq/bazaar/internal/market"
)

// testContract is the one contract every Store passes.
func testContract(t *testing.T, s blob.Store, base string) {
	ctx := context.Background()
	read := func(t *testing.T, key string) ([]byte, error) {
		t.Helper()
		rc, err := s.Open(ctx, key)
		if err != nil {
			return nil, err
		}
		defer rc.Close()
		return io.ReadAll(rc)
	}
	big := make([]byte, 3<<20)
	rand.Read(big)

	t.Run("put then open", func(t *testing.T) {
		for key, data := range map[string][]byte{
			"ab/abcdef0123.jpg": []byte("\xff\xd8 a jpeg"),
			"flat.png":          []byte("\x89PNG"),
			"a/b/c/big.jpg":     big,
			"empty.jpg":         {},
		} {
			if err := s.Put(ctx, key, data, "image/jpeg"); err != nil {
				t.Fatalf("put %s: %v", key, err)
			}
			got, err := read(t, key)
			if err != nil {
				t.Fatalf("open %s: %v", key, err)
			}
			if !bytes.Equal(got, data) {
				t.Fatalf("%s: read %d bytes, wrote %d", key, len(got), len(data))
			}
		}
	})
	t.Run("put again is harmless", func(t *testing.T) {
		for range 2 {
			if err := s.Put(ctx, "again.jpg", []byte("same"), "image/jpeg"); err != nil {
				t.Fatal(err)
			}
		}
		if got, err := read(t, "again.jpg"); err != nil || string(got) != "same" {
			t.Fatalf("%q, %v", got, err)
		}
	})
	t.Run("missing is not found", func(t *testing.T) {
		if _, err := s.Open(ctx, "never/written.jpg"); market.ErrorCode(err) != market.ENOTFOUND {
			t.Fatalf("open missing: %v, want ENOTFOUND", err)
		}
	})
	t.Run("delete", func(t *testing.T) {
		if err := s.Put(ctx, "gone/soon.jpg", []byte("x"), "image/jpeg"); err != nil {
			t.Fatal(err)
		}
		for range 2 { // the second time the key is already gone
			if err := s.Delete(ctx, "gone/soon.jpg"); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := s.Open(ctx, "gone/soon.jpg"); market.ErrorCode(err) != market.ENOTFOUND {
			t.Fatalf("open deleted: %v, want ENOTFOUND", err)
		}
		if err := s.Delete(ctx, "never/there.jpg"); err != nil {
			t.Fatalf("delete never written: %v", err)
		}
	})
	t.Run("unsafe keys", func(t *testing.T) {
		for _, key := range []string{"", "../escape.jpg", "a/../../escape.jpg", "/abs.jpg", "a//b.jpg", ".hidden",
			"a/.tmp-x", "UPPER.jpg", "sp ace.jpg", "a\\b.jpg", "nul\x00.jpg", "a/b/c/d/e.jpg", "a/", strings.Repeat("a", 201), "ü.jpg", "%2e%2e"} {
			if err := s.Put(ctx, key, []byte("x"), "image/jpeg"); err == nil {
				t.Errorf("put %q accepted", key)
			}
			if _, err := s.Open(ctx, key); err == nil {
				t.Errorf("open %q accepted", key)
			}
			if err := s.Delete(ctx, key); err == nil {
				t.Errorf("delete %q accepted", key)
			}
		}
	})
	t.Run("url", func(t *testing.T) {
		if got, want := s.URL("ab/cd.jpg"), base+"/ab/cd.jpg"; got != want {
			t.Fatalf("URL = %q, want %q", got, want)
		}
	})
	t.Run("readers never see half an object", func(t *testing.T) {
		var wg sync.WaitGroup
		stop := make(chan struct{})
		errs := make(chan error, 100)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				if err := s.Put(ctx, "race/obj.jpg", big, "image/jpeg"); err != nil {
					errs <- err
					return
				}
				if i%2 == 0 {
					s.Delete(ctx, "race/obj.jpg")
				}
			}
		}()
		deadline := time.Now().Add(time.Second)
		reads := 0
		for time.Now().Before(deadline) {
			got, err := read(t, "race/obj.jpg")
			if market.ErrorCode(err) == market.ENOTFOUND {
				continue
			}
			if err != nil {
				errs <- err
				break
			}
			reads++
			if !bytes.Equal(got, big) {
				errs <- fmt.Errorf("read %d bytes of %d", len(got), len(big))
				break
			}
		}
		close(stop)
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		t.Logf("%d whole reads", reads)
	})
	t.Run("cancelled context", func(t *testing.T) {
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		if err := s.Put(cctx, "cancelled.jpg", []byte("x"), "image/jpeg"); err == nil {
			t.Fatal("put with a cancelled context succeeded")
		}
	})
}

func TestDir(t *testing.T) {
	dir := t.TempDir()
	d, err := blob.NewDir(dir, "/media/")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	testContract(t, d, "/media")

	t.Run("files are where nginx looks, no temporaries left", func(t *testing.T) {
		if err := d.Put(context.Background(), "ab/cdef.jpg", []byte("jpeg"), "image/jpeg"); err != nil {
			t.Fatal(err)
		}
		if b, err := os.ReadFile(filepath.Join(dir, "ab", "cdef.jpg")); err != nil || string(b) != "jpeg" {
			t.Fatalf("file: %q, %v", b, err)
		}
		filepath.WalkDir(dir, func(p string, e os.DirEntry, err error) error {
			if strings.HasPrefix(e.Name(), ".tmp-") {
				t.Errorf("temporary file left: %s", p)
			}
			if !e.IsDir() {
				if fi, _ := e.Info(); fi.Mode().Perm() != 0o644 {
					t.Errorf("%s has mode %v, nginx needs to read it", p, fi.Mode())
				}
			}
			return nil
		})
	})
	t.Run("a symlink cannot lead a write outside", func(t *testing.T) {
		outside := t.TempDir()
		if err := os.Symlink(outside, filepath.Join(dir, "evil")); err != nil {
			t.Fatal(err)
		}
		if err := d.Put(context.Background(), "evil/x.jpg", []byte("x"), "image/jpeg"); err == nil {
			t.Error("put through a symlink out of the root succeeded")
		}
		if entries, _ := os.ReadDir(outside); len(entries) != 0 {
			t.Errorf("wrote outside the root: %v", entries)
		}
	})
}

func TestS3(t *testing.T) {
	srv := s3test.Start(t)
	s := srv.Store(t, "https://cdn.example/photos/")
	testContract(t, s, "https://cdn.example/photos")

	t.Run("objects are files of the backend", func(t *testing.T) {
		// Proves the requests reached a real server, not a stub.
		if err := s.Put(context.Background(), "ab/real.jpg", []byte("real"), "image/jpeg"); err != nil {
			t.Fatal(err)
		}
		matches, _ := filepath.Glob(filepath.Join(srv.Dir, "*", "ab", "real.jpg"))
		if len(matches) != 1 {
			t.Fatalf("object not on the backend's disk: %v", matches)
		}
	})
	t.Run("wrong secret is refused", func(t *testing.T) {
		bad, err := blob.NewS3(blob.S3Config{Endpoint: "http://s3.test", Bucket: "whatever", AccessKey: srv.AccessKey,
			SecretKey: "wrong", HTTPClient: srv.HTTPClient()})
		if err != nil {
			t.Fatal(err)
		}
		if err := bad.Put(context.Background(), "x.jpg", []byte("x"), "image/jpeg"); err == nil {
			t.Fatal("put with a wrong secret succeeded")
		}
	})
}

// TestS3Down: a store that is unreachable reports an error promptly (the
// caller then writes no row), it does not hang or pretend.
func TestS3Down(t *testing.T) {
	srv := s3test.Start(t)
	s, err := blob.NewS3(blob.S3Config{Endpoint: "http://s3.test", Bucket: "down", AccessKey: srv.AccessKey,
		SecretKey: srv.SecretKey, HTTPClient: srv.HTTPClient()})
	if err != nil {
		t.Fatal(err)
	}
	os.Remove(srv.Socket) // nothing listens there any more
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err = s.Put(ctx, "x.jpg", []byte("x"), "image/jpeg")
	if err == nil || errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("put to a store that is down: %v", err)
	}
}
