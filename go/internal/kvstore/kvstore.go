// Package kvstore is the KV server's storage: one file per key in a
// directory, written atomically (temp file, fsync, rename, fsync of the
// directory), so a reader never sees a half-written value.
package kvstore

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// ErrNotFound is returned (wrapped) by Get for a key that was never Put.
var ErrNotFound = errors.New("key not found")

// maxHexKey is the longest key (in bytes) whose hex encoding is used as the
// file name directly; longer keys are named by their SHA-256, which keeps
// every name well under the usual 255-byte limit.
const maxHexKey = 100

// Store keeps values in files under Dir.
type Store struct {
	Dir string
}

// Open creates dir if needed and returns a Store on it.
func Open(dir string) (*Store, error) {
	if dir == "" {
		return nil, errors.New("kvstore: empty directory")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("kvstore: %w", err)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("kvstore: %w", err)
	}
	return &Store{Dir: abs}, nil
}

// FileName is the name of the file holding key: "k" + hex of the key bytes,
// or "s" + hex SHA-256 of them for long keys. Any key, including the empty
// one, slashes, NULs and non-UTF-8 bytes, maps to a plain, distinct name;
// temp files start with "." and never collide with it.
func FileName(key string) string {
	if len(key) <= maxHexKey {
		return "k" + hex.EncodeToString([]byte(key))
	}
	sum := sha256.Sum256([]byte(key))
	return "s" + hex.EncodeToString(sum[:])
}

// Path is the full path of key's file.
func (s *Store) Path(key string) string {
	return filepath.Join(s.Dir, FileName(key))
}

// Get returns the value stored for key, or an error wrapping ErrNotFound.
func (s *Store) Get(key string) ([]byte, error) {
	b, err := os.ReadFile(s.Path(key))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %q", ErrNotFound, key)
	}
	if err != nil {
		return nil, err
	}
	return b, nil
}

// Put stores value for key atomically.
func (s *Store) Put(key string, value []byte) (err error) {
	tmp, err := os.CreateTemp(s.Dir, ".tmp-*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = tmp.Close()
			_ = os.Remove(tmp.Name())
		}
	}()
	if _, err = tmp.Write(value); err != nil {
		return err
	}
	if err = tmp.Sync(); err != nil {
		return err
	}
	if err = tmp.Close(); err != nil {
		return err
	}
	if err = os.Rename(tmp.Name(), s.Path(key)); err != nil {
		return err
	}
	return syncDir(s.Dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, os.ErrInvalid) {
		return err
	}
	return nil
}
