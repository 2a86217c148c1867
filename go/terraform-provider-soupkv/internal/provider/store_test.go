package provider

import (
	"errors"
	"testing"
)

// TestStore runs put/get/remove on both backends, with a key that is not a safe file name.
func TestStore(t *testing.T) {
	for name, dir := range map[string]string{"memory": "", "directory": t.TempDir()} {
		t.Run(name, func(t *testing.T) {
			s, err := openStore(dir, false)
			if err != nil {
				t.Fatal(err)
			}
			const key = "../a/b"
			if err := s.put(key, "v1"); err != nil {
				t.Fatal(err)
			}
			if err := s.put(key, "v2"); err != nil {
				t.Fatal(err)
			}
			if value, ok, err := s.get(key); err != nil || !ok || value != "v2" {
				t.Fatalf("get = %q, %v, %v; want \"v2\", true, nil", value, ok, err)
			}
			if err := s.remove(key); err != nil {
				t.Fatal(err)
			}
			if _, ok, err := s.get(key); err != nil || ok {
				t.Fatalf("get after remove = %v, %v; want false, nil", ok, err)
			}
			if err := s.remove(key); err != nil {
				t.Fatalf("removing a missing key: %v", err)
			}
		})
	}
}

// TestStoreReadOnly checks that read_only refuses writes.
func TestStoreReadOnly(t *testing.T) {
	s, err := openStore("", true)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.put("k", "v"); !errors.Is(err, errReadOnly) {
		t.Errorf("put = %v, want errReadOnly", err)
	}
	if err := s.remove("k"); !errors.Is(err, errReadOnly) {
		t.Errorf("remove = %v, want errReadOnly", err)
	}
}
