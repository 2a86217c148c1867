package provider

import (
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
)

// errReadOnly is returned by writes to a store configured with read_only.
var errReadOnly = errors.New("the store is read-only (read_only = true)")

// store is the provider's key/value store: a map when no directory is configured, else
// one file per key under the directory.
type store struct {
	mu       sync.Mutex
	dir      string
	readOnly bool
	entries  map[string]string
}

func openStore(dir string, readOnly bool) (*store, error) {
	if dir != "" && !readOnly {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("creating %s: %w", dir, err)
		}
	}
	return &store{dir: dir, readOnly: readOnly, entries: map[string]string{}}, nil
}

// path is the file holding key; hex keeps any key a single safe file name.
func (s *store) path(key string) string {
	return filepath.Join(s.dir, hex.EncodeToString([]byte(key)))
}

// get returns the value of key and whether it exists.
func (s *store) get(key string) (string, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.dir == "" {
		value, ok := s.entries[key]
		return value, ok, nil
	}
	data, err := os.ReadFile(s.path(key))
	if errors.Is(err, fs.ErrNotExist) {
		return "", false, nil
	}
	if err != nil {
		return "", false, err
	}
	return string(data), true, nil
}

// put sets key to value, creating it if needed.
func (s *store) put(key, value string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.readOnly {
		return errReadOnly
	}
	if s.dir == "" {
		s.entries[key] = value
		return nil
	}
	return os.WriteFile(s.path(key), []byte(value), 0o644)
}

// remove deletes key; deleting a missing key is not an error.
func (s *store) remove(key string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.readOnly {
		return errReadOnly
	}
	if s.dir == "" {
		delete(s.entries, key)
		return nil
	}
	err := os.Remove(s.path(key))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}

// storeFrom converts the provider data handed to Configure; nil means the provider is not
// configured yet (Terraform validates before it configures).
func storeFrom(providerData any) (*store, error) {
	if providerData == nil {
		return nil, nil
	}
	s, ok := providerData.(*store)
	if !ok {
		return nil, fmt.Errorf("expected *provider.store, got %T; please report this issue to the provider developers", providerData)
	}
	return s, nil
}
