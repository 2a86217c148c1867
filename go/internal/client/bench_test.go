package client

import (
	"errors"
	"io"
	"os"
	"runtime"
	"strconv"
	"testing"
)

func TestBenchPutsFlag(t *testing.T) {
	o, err := ParseBenchArgs([]string{"--puts", "3", "--", "srv"}, io.Discard)
	if err != nil || o.Puts != 3 {
		t.Fatalf("--puts 3: %+v, %v", o, err)
	}
	if o, err := ParseBenchArgs([]string{"--", "srv"}, io.Discard); err != nil || o.Puts != DefaultPuts {
		t.Fatalf("default puts: %+v, %v", o, err)
	}
	if _, err := ParseBenchArgs([]string{"--puts", "0", "--", "srv"}, io.Discard); !errors.Is(err, errUsage) {
		t.Fatalf("--puts 0: want a usage error, got %v", err)
	}
}

func TestProcFigures(t *testing.T) {
	if runtime.GOOS != "linux" {
		if _, ok := CPUMillis("self"); ok {
			t.Fatal("CPUMillis read /proc outside Linux")
		}
		return
	}
	for _, pid := range []string{"self", strconv.Itoa(os.Getpid())} {
		if ms, ok := CPUMillis(pid); !ok || ms < 0 {
			t.Errorf("CPUMillis(%s) = %v, %v", pid, ms, ok)
		}
		if kib, ok := PeakRSSKiB(pid); !ok || kib <= 0 {
			t.Errorf("PeakRSSKiB(%s) = %v, %v", pid, kib, ok)
		}
	}
	if _, ok := CPUMillis(""); ok {
		t.Error("CPUMillis of no pid succeeded")
	}
	if v := per10k(1, 3, true, true, 5000); v == nil || *v != 4 {
		t.Errorf("per10k = %v", v)
	}
	if v := per10k(1, 3, false, true, 5000); v != nil {
		t.Errorf("per10k without a reading = %v", *v)
	}
}
