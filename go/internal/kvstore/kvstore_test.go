package kvstore

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
)

func open(t *testing.T) *Store {
	t.Helper()
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestRoundTrip(t *testing.T) {
	s := open(t)
	all := make([]byte, 256)
	for i := range all {
		all[i] = byte(i)
	}
	mib := make([]byte, 1<<20)
	for i := range mib {
		mib[i] = byte(i % 251)
	}
	values := map[string][]byte{
		"binary":                           all,
		"large":                            mib,
		"empty":                            {},
		"ключ-🔑-键":                         []byte("unicode key"),
		"":                                 []byte("empty key"),
		"a/b/../c":                         []byte("slashes"),
		"..":                               []byte("dotdot"),
		"nul\x00and\xff":                   []byte("not utf-8"),
		strings.Repeat("long-", 400):       []byte("2000-byte key"),
		strings.Repeat("long-", 400) + "x": []byte("another long key"),
	}
	for k, v := range values {
		if err := s.Put(k, v); err != nil {
			t.Fatalf("Put(%q): %v", k, err)
		}
	}
	for k, v := range values {
		got, err := s.Get(k)
		if err != nil {
			t.Fatalf("Get(%q): %v", k, err)
		}
		if !bytes.Equal(got, v) {
			t.Errorf("Get(%q) = %d bytes, want %d", k, len(got), len(v))
		}
	}
	// Overwrite.
	if err := s.Put("binary", []byte("second")); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Get("binary"); string(got) != "second" {
		t.Errorf("overwrite: got %q", got)
	}
	// Exactly one file per key, no temp files left, all inside Dir.
	entries, err := os.ReadDir(s.Dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != len(values) {
		t.Errorf("%d files for %d keys", len(entries), len(values))
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") || e.IsDir() {
			t.Errorf("stray entry %q", e.Name())
		}
	}
}

func TestMissingKey(t *testing.T) {
	s := open(t)
	_, err := s.Get("missing-key")
	if !errors.Is(err, ErrNotFound) {
		t.Fatalf("err = %v, want ErrNotFound", err)
	}
	if !strings.Contains(err.Error(), "missing-key") {
		t.Errorf("error %q does not name the key", err)
	}
}

func TestFileNamesDistinct(t *testing.T) {
	seen := map[string]string{}
	for _, k := range []string{"", "a", "A", "k61", "61", strings.Repeat("x", 100), strings.Repeat("x", 101), strings.Repeat("x", 102)} {
		n := FileName(k)
		if len(n) > 255 {
			t.Errorf("name of %q is %d bytes", k, len(n))
		}
		if other, dup := seen[n]; dup {
			t.Errorf("%q and %q share %q", k, other, n)
		}
		seen[n] = k
	}
}

// Readers racing writers must only ever see complete values.
func TestAtomicWrites(t *testing.T) {
	s := open(t)
	const size = 256 << 10
	value := func(b byte) []byte { return bytes.Repeat([]byte{b}, size) }
	if err := s.Put("k", value(0)); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	errs := make(chan error, 8)
	for w := 0; w < 2; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < 40; i++ {
				if err := s.Put("k", value(byte(w*64+i))); err != nil {
					errs <- err
					return
				}
			}
		}(w)
	}
	var readers sync.WaitGroup
	for r := 0; r < 2; r++ {
		readers.Add(1)
		go func() {
			defer readers.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				got, err := s.Get("k")
				if err != nil {
					errs <- err
					return
				}
				if len(got) != size || !bytes.Equal(got, value(got[0])) {
					errs <- fmt.Errorf("torn read: %d bytes", len(got))
					return
				}
			}
		}()
	}
	wg.Wait()
	close(stop)
	readers.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
