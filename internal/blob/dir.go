package blob

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"
)

// Dir stores objects as files under a directory. Every file operation goes
// through an os.Root, so not even a symlink planted in the directory can
// make a write land outside it.
type Dir struct {
	root    *os.Root
	baseURL string
}

// NewDir opens (creating if needed) dir. baseURL is the URL prefix under
// which nginx serves it, such as "/media".
func NewDir(dir, baseURL string) (*Dir, error) {
	// #nosec G301 -- nginx, running as another user, serves these files.
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("blob: %w", err)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("blob: %w", err)
	}
	return &Dir{root: root, baseURL: strings.TrimSuffix(baseURL, "/")}, nil
}

// Close releases the directory handle.
func (d *Dir) Close() error { return d.root.Close() }

// Put writes data to a temporary file in the key's directory, syncs it and
// renames it into place, so nginx never serves half a file and a crash
// leaves at most a ".tmp-" file (never a valid key, so never served).
func (d *Dir) Put(ctx context.Context, key string, data []byte, _ string) error {
	if err := checkKey(key); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if dir := path.Dir(key); dir != "." {
		if err := d.root.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("blob: put %s: %w", key, err)
		}
	}
	var rnd [8]byte
	rand.Read(rnd[:])
	tmp := path.Join(path.Dir(key), ".tmp-"+hex.EncodeToString(rnd[:]))
	f, err := d.root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return fmt.Errorf("blob: put %s: %w", key, err)
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = d.root.Rename(tmp, key)
	}
	if err != nil {
		_ = d.root.Remove(tmp) // best effort; the Put error is what matters
		return fmt.Errorf("blob: put %s: %w", key, err)
	}
	return nil
}

// Open opens the file for key.
func (d *Dir) Open(ctx context.Context, key string) (io.ReadCloser, error) {
	if err := checkKey(key); err != nil {
		return nil, err
	}
	f, err := d.root.Open(key)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, notFound(key)
	} else if err != nil {
		return nil, fmt.Errorf("blob: open %s: %w", key, err)
	}
	return f, nil
}

// Delete removes the file for key. Empty shard directories are left: they
// cost an inode and will likely be reused.
func (d *Dir) Delete(ctx context.Context, key string) error {
	if err := checkKey(key); err != nil {
		return err
	}
	if err := d.root.Remove(key); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("blob: delete %s: %w", key, err)
	}
	return nil
}

// URL is baseURL/key.
func (d *Dir) URL(key string) string { return d.baseURL + "/" + key }
