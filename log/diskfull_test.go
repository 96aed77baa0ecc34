package log_test

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/tributary-io/tributary/log"
	"github.com/tributary-io/tributary/recordbatch"
	"github.com/tributary-io/tributary/segment"
)

// Disk-full tests run the log on a real, tiny tmpfs, so that ENOSPC comes
// from the kernel (pwrite, fallocate) and not from a fake. They need root;
// elsewhere they skip.

// mountTmpfs mounts a tmpfs of the given size (mount's syntax: "4m") in a
// temporary directory and unmounts it when the test ends.
func mountTmpfs(t *testing.T, size string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("disk-full test skipped: mounting a small tmpfs needs root")
	}
	mnt := filepath.Join(t.TempDir(), "mnt")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", mnt).CombinedOutput()
	if err != nil {
		t.Skipf("disk-full test skipped: cannot mount a %s tmpfs at %s: %v: %s", size, mnt, err, bytes.TrimSpace(out))
	}
	// Registered after TempDir's cleanup, so it runs before the removal.
	t.Cleanup(func() {
		if out, err := exec.Command("umount", "-l", mnt).CombinedOutput(); err != nil {
			t.Errorf("umount -l %s: %v: %s", mnt, err, out)
		}
	})
	return mnt
}

// writeBallast writes a file of size bytes (real pages on tmpfs).
func writeBallast(t *testing.T, path string, size int) {
	t.Helper()
	if err := os.WriteFile(path, bytes.Repeat([]byte{0xba}, size), 0o644); err != nil {
		t.Fatalf("ballast: %v", err)
	}
}

// fillDisk appends to path until the file system is full.
func fillDisk(t *testing.T, path string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	chunk := bytes.Repeat([]byte{0xfe}, 4096)
	for {
		if _, err := f.Write(chunk); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("filling the disk: %v", err)
			}
			return
		}
	}
}

// diskFullConfig has small segments and preallocated indexes, so that a few
// MiB of tmpfs hold several segments.
func diskFullConfig() log.Config {
	cfg := quietConfig()
	cfg.SegmentBytes = 512 << 10
	cfg.SegmentIndexBytes = 64 << 10
	cfg.IndexIntervalBytes = 4096
	return cfg
}

// checkSizesUnchanged asserts that every file of before still has its size
// and that no file with data appeared.
func checkSizesUnchanged(t *testing.T, dir string, before map[string]int64, what string) {
	t.Helper()
	after := fileSizes(t, dir)
	for name, size := range before {
		if after[name] != size {
			t.Errorf("%s: %s is %d bytes, was %d", what, name, after[name], size)
		}
	}
	for name, size := range after {
		if _, ok := before[name]; !ok {
			if size != 0 {
				t.Errorf("%s: new file %s of %d bytes", what, name, size)
			} else {
				t.Logf("%s: left an empty %s", what, name)
			}
		}
	}
}

func TestDiskFullAppend(t *testing.T) {
	mnt := mountTmpfs(t, "4m")
	ballast := filepath.Join(mnt, "ballast")
	writeBallast(t, ballast, 1<<20)
	dir := filepath.Join(mnt, "events-0")
	cfg := diskFullConfig()
	l := openLog(t, dir, cfg)

	var acked []storedBatch
	var err error
	var before map[string]int64
	var next int64
	for i := 0; ; i++ {
		if i == 1000 {
			t.Fatal("4 MiB file system never filled up")
		}
		b := recordbatch.BuildSized(16<<10, tsBase+int64(i))
		before, next = fileSizes(t, dir), l.NextOffset()
		var base int64
		if base, err = l.Append(b); err != nil {
			break
		}
		if base != next {
			t.Fatalf("append %d at %d, want %d", i, base, next)
		}
		acked = append(acked, storedBatch{base: base, data: bytes.Clone(b)})
	}
	t.Logf("disk full after %d batches in %d segments: %v", len(acked), l.NumSegments(), err)
	if !errors.Is(err, log.ErrDiskFull) {
		t.Fatalf("append on a full disk: %v, want ErrDiskFull", err)
	}
	if len(acked) < 32 {
		t.Fatalf("only %d batches fit before the disk was full", len(acked))
	}
	if l.NextOffset() != next {
		t.Fatalf("failed append moved the log end %d → %d", next, l.NextOffset())
	}
	checkSizesUnchanged(t, dir, before, "failed append")
	checkContents(t, l, acked)

	// It keeps failing cleanly (no SIGBUS, no partial data), and reads work.
	for i := range 5 {
		b := recordbatch.BuildSized(16<<10, tsBase)
		if _, err := l.Append(b); !errors.Is(err, log.ErrDiskFull) {
			t.Fatalf("append %d on a full disk: %v, want ErrDiskFull", i, err)
		}
		if l.NextOffset() != next {
			t.Fatalf("failed append %d moved the log end", i)
		}
	}
	checkSizesUnchanged(t, dir, before, "failed appends")
	checkContents(t, l, acked)

	// Space comes back: the next append lands exactly at the old end.
	if err := os.Remove(ballast); err != nil {
		t.Fatal(err)
	}
	acked = append(acked, appendOne(t, l, recordbatch.BuildSized(16<<10, tsBase+5000)))
	if acked[len(acked)-1].base != next {
		t.Fatalf("append after freeing space at %d, want %d", acked[len(acked)-1].base, next)
	}
	acked = append(acked, appendOne(t, l, recordbatch.Build(3, 10, tsBase+5001)))
	checkContents(t, l, acked)

	if err := l.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	l = openLog(t, dir, cfg)
	if !l.Recovery().Clean {
		t.Errorf("reopen after Close was not clean: %+v", l.Recovery())
	}
	checkContents(t, l, acked)
	if err := l.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}

	// Unclean: without the checkpoint every segment is scanned.
	if err := os.Remove(filepath.Join(dir, log.CheckpointFile)); err != nil {
		t.Fatal(err)
	}
	l = openLog(t, dir, cfg)
	if l.Recovery().Clean || l.Recovery().TruncatedBytes != 0 {
		t.Errorf("recovery without checkpoint: %+v", l.Recovery())
	}
	checkContents(t, l, acked)
	acked = append(acked, appendOne(t, l, recordbatch.Build(3, 10, tsBase+5002)))
	checkContents(t, l, acked)
}

// TestDiskFullRoll: an append that needs a roll on a disk without room for
// its batch fails with ErrDiskFull and leaves every stored batch as it was
// (the roll itself needs no space: a new segment's indexes allocate as they
// fill, so it may have happened, leaving an empty active segment); once
// space is back the batch lands at the old log end, and it all survives a
// restart.
func TestDiskFullRoll(t *testing.T) {
	l, mnt, cfg, acked := fullSegmentOnTinyDisk(t)
	dir := l.Dir()
	ballast := filepath.Join(mnt, "ballast")

	before, next, segs := logFileSizes(t, dir), l.NextOffset(), l.NumSegments()
	for i := range 3 {
		if _, err := l.Append(recordbatch.BuildSized(20<<10, tsBase)); !errors.Is(err, log.ErrDiskFull) {
			t.Fatalf("append %d needing a roll on a full disk: %v, want ErrDiskFull", i, err)
		}
		if l.NextOffset() != next || l.NumSegments() > segs+1 {
			t.Fatalf("failed append: end %d→%d, segments %d→%d", next, l.NextOffset(), segs, l.NumSegments())
		}
	}
	after := logFileSizes(t, dir)
	for name, size := range before {
		if after[name] != size {
			t.Errorf("failed append: %s is %d bytes, was %d", name, after[name], size)
		}
	}
	for name, size := range after {
		if _, ok := before[name]; !ok && size != 0 {
			t.Errorf("failed append: new segment %s of %d bytes", name, size)
		}
	}
	checkContents(t, l, acked)

	// Space comes back: the batch lands at the old end, in a new segment.
	if err := os.Remove(ballast); err != nil {
		t.Fatal(err)
	}
	acked = append(acked, appendOne(t, l, recordbatch.BuildSized(20<<10, tsBase)))
	if l.NumSegments() != segs+1 || acked[len(acked)-1].base != next {
		t.Fatalf("append after freeing space: %d segments at %d, want the roll to %d segments at %d",
			l.NumSegments(), acked[len(acked)-1].base, segs+1, next)
	}
	acked = append(acked, appendOne(t, l, recordbatch.Build(1, 100, tsBase)))
	checkContents(t, l, acked)
	reopenAll(t, l, cfg, func(t *testing.T, l *log.Log) {
		checkContents(t, l, acked)
	})
}

// logFileSizes is fileSizes of the segment .log files alone.
func logFileSizes(t *testing.T, dir string) map[string]int64 {
	t.Helper()
	out := map[string]int64{}
	for name, size := range fileSizes(t, dir) {
		if strings.HasSuffix(name, segment.LogSuffix) {
			out[name] = size
		}
	}
	return out
}

// TestDiskFullRollLeavesLogAppendable: after an append that needed a roll
// failed for want of space, a batch that fits the space left still goes in,
// and once space is back the log takes the big one and survives a restart.
func TestDiskFullRollLeavesLogAppendable(t *testing.T) {
	l, mnt, cfg, acked := fullSegmentOnTinyDisk(t)
	dir := l.Dir()
	if _, err := l.Append(recordbatch.BuildSized(20<<10, tsBase)); !errors.Is(err, log.ErrDiskFull) {
		t.Fatalf("append needing a roll on a full disk: %v, want ErrDiskFull", err)
	}
	acked = append(acked, appendOne(t, l, recordbatch.Build(1, 100, tsBase)))
	if err := os.Remove(filepath.Join(mnt, "ballast")); err != nil {
		t.Fatal(err)
	}
	acked = append(acked, appendOne(t, l, recordbatch.BuildSized(20<<10, tsBase)))
	checkContents(t, l, acked)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	t.Logf("files before reopen: %v", fileSizes(t, dir))
	l = openLog(t, dir, cfg)
	checkContents(t, l, acked)
}

// fullSegmentOnTinyDisk opens a log on a 4 MiB tmpfs, fills the first
// segment to 16 KiB short of segment.bytes (a small batch still fits, a
// 20 KiB one needs a roll) and fills the disk but for 16 KiB: room for a
// small batch, and for a new segment, but not for the 20 KiB batch.
func fullSegmentOnTinyDisk(t *testing.T) (*log.Log, string, log.Config, []storedBatch) {
	t.Helper()
	mnt := mountTmpfs(t, "4m")
	cfg := quietConfig()
	cfg.SegmentBytes = 256 << 10
	cfg.SegmentIndexBytes = 512 << 10
	cfg.IndexIntervalBytes = 64
	l := openLog(t, filepath.Join(mnt, "events-0"), cfg)
	var acked []storedBatch
	for l.Size()+(32<<10) <= cfg.SegmentBytes {
		acked = append(acked, appendOne(t, l, recordbatch.BuildSized(16<<10, tsBase)))
	}
	ballast := filepath.Join(mnt, "ballast")
	fillDisk(t, ballast)
	fi, err := os.Stat(ballast)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(ballast, fi.Size()-16<<10); err != nil {
		t.Fatal(err)
	}
	return l, mnt, cfg, acked
}
