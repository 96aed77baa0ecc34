package wallclock

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestSetOffsetCreatesTheFileAndReadOffsetReadsItBack(t *testing.T) {
	path := filepath.Join(t.TempDir(), "clock")
	if _, _, err := ReadOffset(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("ReadOffset of a missing file: %v, want not exist", err)
	}
	for _, d := range []time.Duration{90 * time.Minute, -3 * time.Hour, -time.Nanosecond, 0} {
		if err := SetOffset(path, d); err != nil {
			t.Fatal(err)
		}
		got, pid, err := ReadOffset(path)
		if err != nil {
			t.Fatal(err)
		}
		if got != d || pid != 0 {
			t.Fatalf("ReadOffset after SetOffset(%v) = %v, pid %d; want %v, pid 0", d, got, pid, d)
		}
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Size() != fileSize {
		t.Fatalf("offset file has %d bytes, want %d", fi.Size(), fileSize)
	}
}

func TestReadOffsetRefusesAShortFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "clock")
	if err := os.WriteFile(path, make([]byte, 8), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := ReadOffset(path); !errors.Is(err, ErrShortFile) {
		t.Fatalf("ReadOffset of an 8-byte file: %v, want ErrShortFile", err)
	}
}

func TestNowAllocatesNothing(t *testing.T) {
	if n := testing.AllocsPerRun(100, func() { _ = Now().UnixMilli() }); n != 0 {
		t.Fatalf("Now allocates %v times a call", n)
	}
}

func BenchmarkNow(b *testing.B) {
	b.ReportAllocs()
	var sink int64
	for b.Loop() {
		sink += Now().UnixMilli()
	}
	_ = sink
}
