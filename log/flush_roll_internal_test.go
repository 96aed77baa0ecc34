package log

import (
	"log/slog"
	"testing"

	"github.com/tributary-io/tributary/recordbatch"
)

// TestSegmentFlushedWhileActiveIsSyncedOnceRolled: a segment whose every
// byte a flush covered while it was still active, then rolled with no
// write since, is synced again as a sealed segment by the next flush, so
// it closes its .log descriptor and can be parked. The flush scheduler
// used to skip it (nothing below the flushed offset to flush), leaving its
// descriptor and mappings for good, past the Manager's MappedSegments.
func TestSegmentFlushedWhileActiveIsSyncedOnceRolled(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Logger = slog.New(slog.DiscardHandler)
	batch := recordbatch.BuildSized(1<<10, 1_700_000_000_000)
	cfg.SegmentBytes = int64(4 * len(batch)) // the fifth append rolls
	l, err := Open(t.TempDir(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for range 4 {
		if _, err := l.Append(batch); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Sync(); err != nil { // the whole active segment
		t.Fatal(err)
	}
	if _, err := l.Append(batch); err != nil { // rolls it, unchanged
		t.Fatal(err)
	}
	if n := l.NumSegments(); n != 2 {
		t.Fatalf("%d segments, want 2 (the fifth append rolls)", n)
	}
	if err := l.Sync(); err != nil {
		t.Fatal(err)
	}
	sealed := l.segs[0]
	if sealed.HoldsFile() {
		t.Errorf("segment %d flushed while active, rolled, then flushed: still holds its descriptor", sealed.BaseOffset())
	}
	if !sealed.Park() {
		t.Errorf("segment %d flushed while active, rolled, then flushed: cannot be parked", sealed.BaseOffset())
	}
}
