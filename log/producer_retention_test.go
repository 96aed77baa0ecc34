package log_test

import (
	"errors"
	"testing"

	"github.com/tributary-io/tributary/log"
)

// Idempotent producer state across segment deletion and truncation: the
// state of a producer outlives the batches it was built from.

// mustAppendPID appends one batch of p and fails unless it was appended
// (not a duplicate).
func mustAppendPID(t *testing.T, l *log.Log, p pb) log.AppendInfo {
	t.Helper()
	info, err := l.AppendBatches(pidBatch(p))
	if err != nil || info.Duplicate {
		t.Fatalf("append %+v: %+v, %v", p, info, err)
	}
	return info
}

// TestSegmentDeletionKeepsProducerState: segments deleted by retention or
// DeleteRecords past the producer snapshot's offset, then kill -9: the
// producers' state must survive, or a retry still in a producer's window
// is appended twice after the restart. The snapshot used to be written only
// at checkpoint and close, so Open replayed from an older snapshot over
// batches that were gone; it is now written before any segment is deleted
// (Kafka snapshots at every roll for the same reason).
func TestSegmentDeletionKeepsProducerState(t *testing.T) {
	for _, how := range []string{"DeleteRecordsBefore", "retention.bytes"} {
		t.Run(how, func(t *testing.T) {
			cfg := quietConfig()
			l := openLog(t, t.TempDir(), cfg)
			first := mustAppendPID(t, l, pb{1, 0, 0, 1, false})
			if err := l.Checkpoint(); err != nil { // snapshot at offset 1
				t.Fatal(err)
			}
			var acked []log.AppendInfo
			for seq := int32(1); seq <= 3; seq++ {
				acked = append(acked, mustAppendPID(t, l, pb{1, 0, seq, 1, false}))
			}
			if err := l.Roll(); err != nil {
				t.Fatal(err)
			}
			appendRecords(t, l, 1, 2, tsBase, 1) // the active segment holds a plain batch
			switch how {
			case "DeleteRecordsBefore":
				if _, err := l.DeleteRecordsBefore(acked[2].LastOffset + 1); err != nil {
					t.Fatal(err)
				}
			case "retention.bytes":
				c := l.Config()
				c.RetentionBytes = 1
				if err := l.SetConfig(c); err != nil {
					t.Fatal(err)
				}
				if n, err := l.ApplyRetention(); err != nil || n != 1 {
					t.Fatalf("ApplyRetention: %d, %v; want 1 segment deleted", n, err)
				}
			}
			if segmentExists(t, l.Dir(), first.BaseOffset) {
				t.Fatal("the first segment was not deleted")
			}
			if got := l.Producers(); len(got) != 1 || got[0].LastSequence != 3 {
				t.Fatalf("live state %+v, want last sequence 3", got)
			}

			// kill -9 before the next Checkpoint.
			l = openLog(t, crashCopy(t, l.Dir()), cfg)
			end := l.NextOffset()
			if got := l.Producers(); len(got) != 1 || got[0].LastSequence != 3 {
				t.Errorf("after kill -9: producers %+v, want producer 1 at last sequence 3 (as before the crash)", got)
			}
			// The client retries its in-flight batch seq 3 (acked, response lost).
			info, err := l.AppendBatches(pidBatch(pb{1, 0, 3, 1, false}))
			if err != nil || !info.Duplicate || info.BaseOffset != acked[2].BaseOffset {
				t.Errorf("retry of the acknowledged batch seq 3: %+v, %v; want a duplicate at %d", info, err, acked[2].BaseOffset)
			}
			// A retry of seq 1 (also in the 5-batch window before the crash)
			// must never be appended again.
			info, err = l.AppendBatches(pidBatch(pb{1, 0, 1, 1, false}))
			if err == nil && !info.Duplicate {
				t.Errorf("retry of the acknowledged batch seq 1 (first at offset %d) appended a second time at %d",
					acked[0].BaseOffset, info.BaseOffset)
			}
			if l.NextOffset() != end {
				t.Errorf("retries moved the log end %d → %d", end, l.NextOffset())
			}
		})
	}
}

// TestTruncateKeepsProducerWithDeletedBatches: a producer whose last batch
// Truncate cuts goes back to its state before that batch, even when
// retention already removed its earlier batches from the log (it used to
// be rebuilt from the log alone and vanish, refusing the producer's resend
// with ErrUnknownProducerID). Kafka reloads an older snapshot instead.
func TestTruncateKeepsProducerWithDeletedBatches(t *testing.T) {
	l := openLog(t, t.TempDir(), quietConfig())
	for seq := int32(0); seq < 3; seq++ {
		mustAppendPID(t, l, pb{1, 0, seq, 1, false})
	}
	if err := l.Roll(); err != nil {
		t.Fatal(err)
	}
	plain := appendRecords(t, l, 1, 2, tsBase, 1)
	cut := mustAppendPID(t, l, pb{1, 0, 3, 1, false})
	if _, err := l.DeleteRecordsBefore(plain[0].base); err != nil {
		t.Fatal(err)
	}
	if segmentExists(t, l.Dir(), 0) {
		t.Fatal("DeleteRecordsBefore kept the first segment")
	}
	if _, err := l.Truncate(cut.BaseOffset); err != nil {
		t.Fatal(err)
	}
	if got := l.Producers(); len(got) != 1 || got[0].LastSequence != 2 {
		t.Errorf("after truncating producer 1's batch seq 3: producers %+v, want producer 1 at last sequence 2", got)
	}
	if info, err := l.AppendBatches(pidBatch(pb{1, 0, 3, 1, false})); err != nil || info.Duplicate {
		t.Errorf("resend of the truncated batch seq 3: %+v, %v; want it appended (Kafka accepts it)", info, err)
		if errors.Is(err, log.ErrUnknownProducerID) {
			t.Logf("the producer's state was dropped by the truncation")
		}
	}
}
