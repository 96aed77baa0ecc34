package log_test

import (
	"errors"
	"testing"

	"github.com/tributary-io/tributary/log"
	"github.com/tributary-io/tributary/recordbatch"
)

// TestAppendProduced: the produce path's append (the caller has checked the
// CRC and records) stores a batch like AppendBatches, still refuses a
// header that does not parse, and leaves the CRC check to AppendBatches
// for everything else.
func TestAppendProduced(t *testing.T) {
	l := openLog(t, t.TempDir(), quietConfig())
	b := recordbatch.Build(3, 10, 1)
	info, err := l.AppendProduced(b)
	if err != nil || info.BaseOffset != 0 || l.NextOffset() != 3 {
		t.Fatalf("AppendProduced: %+v %v, next offset %d", info, err, l.NextOffset())
	}
	if _, err := l.AppendProduced(b[:recordbatch.HeaderSize-1]); !errors.Is(err, log.ErrCorruptBatch) {
		t.Fatalf("truncated header: %v, want ErrCorruptBatch", err)
	}
	if _, err := l.AppendProduced(append(recordbatch.Build(1, 10, 1), b...)); !errors.Is(err, log.ErrCorruptBatch) {
		t.Fatalf("two batches: %v, want ErrCorruptBatch (only one is checked)", err)
	}
	damaged := recordbatch.Build(3, 10, 1)
	damaged[len(damaged)-1] ^= 0xff
	if _, err := l.AppendBatches(damaged); !errors.Is(err, log.ErrCorruptBatch) {
		t.Fatalf("AppendBatches of a damaged batch: %v, want ErrCorruptBatch", err)
	}
	if l.NextOffset() != 3 {
		t.Fatalf("next offset %d after refused appends, want 3", l.NextOffset())
	}
}
