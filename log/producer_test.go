package log_test

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/tributary-io/tributary/log"
	"github.com/tributary-io/tributary/recordbatch"
	"github.com/tributary-io/tributary/segment"
)

// pb describes one batch of an idempotent (or, with pid -1, plain) producer.
type pb struct {
	pid   int64
	epoch int16
	seq   int32
	n     int  // records
	txn   bool // transactional attribute
}

// pidBatch builds the batch p describes: a plain recordbatch.Build batch
// with the producer fields set and the CRC recomputed.
func pidBatch(p pb) []byte {
	b := recordbatch.Build(p.n, 20, tsBase)
	setProducer(b, p.pid, p.epoch, p.seq)
	if p.txn {
		attrs := binary.BigEndian.Uint16(b[recordbatch.AttributesPos:])
		binary.BigEndian.PutUint16(b[recordbatch.AttributesPos:], attrs|recordbatch.AttrTransactional)
	}
	recordbatch.SetCRC(b)
	return b
}

// setProducer sets a batch's producer ID, epoch and base sequence; the
// caller recomputes the CRC.
func setProducer(b []byte, pid int64, epoch int16, seq int32) {
	binary.BigEndian.PutUint64(b[recordbatch.ProducerIDPos:], uint64(pid))
	binary.BigEndian.PutUint16(b[recordbatch.ProducerEpochPos:], uint16(epoch))
	binary.BigEndian.PutUint32(b[recordbatch.BaseSequencePos:], uint32(seq))
}

func pidBatches(ps ...pb) []byte {
	var out []byte
	for _, p := range ps {
		out = append(out, pidBatch(p)...)
	}
	return out
}

// seqStep is one append of a sequencing scenario.
type seqStep struct {
	batches []pb
	wantErr error
	dupOf   int // >= 0: a retry of step dupOf, answered with its offsets
}

func ok(ps ...pb) seqStep                { return seqStep{batches: ps, dupOf: -1} }
func fails(err error, ps ...pb) seqStep  { return seqStep{batches: ps, wantErr: err, dupOf: -1} }
func retryOf(step int, ps ...pb) seqStep { return seqStep{batches: ps, dupOf: step} }

// runSteps runs a scenario on l and returns the log's batches, as stored.
// Failed and retried appends must leave the log as it was.
func runSteps(t *testing.T, l *log.Log, steps []seqStep) []storedBatch {
	t.Helper()
	stored := readAll(t, l)
	infos := make([]log.AppendInfo, len(steps))
	for i, st := range steps {
		buf := pidBatches(st.batches...)
		end := l.NextOffset()
		info, err := l.AppendBatches(buf)
		infos[i] = info
		switch {
		case st.wantErr != nil:
			if !errors.Is(err, st.wantErr) {
				t.Fatalf("step %d %+v: err %v, want %v", i, st.batches, err, st.wantErr)
			}
			if l.NextOffset() != end {
				t.Fatalf("step %d: failed append moved the log end %d → %d", i, end, l.NextOffset())
			}
		case err != nil:
			t.Fatalf("step %d %+v: %v", i, st.batches, err)
		case st.dupOf >= 0:
			orig := infos[st.dupOf]
			if !info.Duplicate || info.BaseOffset != orig.BaseOffset || info.LastOffset != orig.LastOffset {
				t.Fatalf("step %d: retry of step %d answered %+v, want the original %+v as a duplicate", i, st.dupOf, info, orig)
			}
			if l.NextOffset() != end {
				t.Fatalf("step %d: a retry appended: log end %d → %d", i, end, l.NextOffset())
			}
		default:
			if info.Duplicate || info.BaseOffset != end || info.LastOffset != l.NextOffset()-1 || info.LogAppendTime != -1 {
				t.Fatalf("step %d: %+v, want an append at %d..%d under CreateTime", i, info, end, l.NextOffset()-1)
			}
			for p := 0; p < len(buf); {
				h, _ := recordbatch.ParseHeader(buf[p:])
				stored = append(stored, storedBatch{base: h.BaseOffset, data: append([]byte(nil), buf[p:p+h.Size()]...)})
				p += h.Size()
			}
		}
	}
	checkContents(t, l, stored)
	return stored
}

func TestIdempotentSequencing(t *testing.T) {
	var (
		errEpoch   = log.ErrInvalidProducerEpoch
		errOrder   = log.ErrOutOfOrderSequence
		errUnknown = log.ErrUnknownProducerID
	)
	for _, tc := range []struct {
		name  string
		steps []seqStep
	}{
		{"in order", []seqStep{
			ok(pb{1, 0, 0, 3, false}), ok(pb{1, 0, 3, 2, false}), ok(pb{1, 0, 5, 1, false}),
		}},
		{"a retry of any of the last five batches", []seqStep{
			ok(pb{1, 0, 0, 2, false}), ok(pb{1, 0, 2, 1, false}), ok(pb{1, 0, 3, 4, false}),
			ok(pb{1, 0, 7, 1, false}), ok(pb{1, 0, 8, 1, false}),
			retryOf(0, pb{1, 0, 0, 2, false}), retryOf(2, pb{1, 0, 3, 4, false}), retryOf(4, pb{1, 0, 8, 1, false}),
			ok(pb{1, 0, 9, 1, false}),
			// Six batches later the first one is forgotten.
			fails(errOrder, pb{1, 0, 0, 2, false}),
			retryOf(1, pb{1, 0, 2, 1, false}),
			// Same first sequence, other length: not a retry.
			fails(errOrder, pb{1, 0, 2, 2, false}),
		}},
		{"gap", []seqStep{
			ok(pb{1, 0, 0, 2, false}), fails(errOrder, pb{1, 0, 3, 1, false}), fails(errOrder, pb{1, 0, 1, 1, false}),
			ok(pb{1, 0, 2, 1, false}),
		}},
		{"stale epoch", []seqStep{
			ok(pb{1, 3, 0, 1, false}), fails(errEpoch, pb{1, 2, 1, 1, false}), fails(errEpoch, pb{1, 2, 0, 1, false}),
			ok(pb{1, 3, 1, 1, false}),
		}},
		{"new epoch", []seqStep{
			ok(pb{1, 0, 0, 2, false}), ok(pb{1, 1, 0, 1, false}), ok(pb{1, 1, 1, 1, false}),
			fails(errEpoch, pb{1, 0, 2, 1, false}), fails(errEpoch, pb{1, 0, 0, 2, false}),
			fails(errOrder, pb{1, 2, 5, 1, false}),
			ok(pb{1, 5, 0, 1, false}), retryOf(6, pb{1, 5, 0, 1, false}),
		}},
		{"the same sequences in a new epoch are not a retry", []seqStep{
			ok(pb{1, 0, 0, 1, false}), ok(pb{1, 1, 0, 1, false}), retryOf(1, pb{1, 1, 0, 1, false}),
		}},
		{"unknown producer", []seqStep{
			fails(errUnknown, pb{7, 0, 5, 1, false}), ok(pb{7, 0, 0, 1, false}), ok(pb{8, 4, 0, 1, false}),
			fails(errUnknown, pb{9, 0, 1, 1, false}),
		}},
		{"producers are independent", []seqStep{
			ok(pb{1, 0, 0, 1, false}), ok(pb{2, 0, 0, 1, false}), ok(pb{1, 0, 1, 1, false}), ok(pb{2, 0, 1, 1, false}),
			retryOf(0, pb{1, 0, 0, 1, false}), retryOf(1, pb{2, 0, 0, 1, false}), fails(errOrder, pb{2, 0, 3, 1, false}),
		}},
		{"plain batches are not sequenced", []seqStep{
			ok(pb{-1, -1, -1, 2, false}), ok(pb{1, 0, 0, 1, false}), ok(pb{-1, -1, -1, 2, false}),
			ok(pb{-1, -1, -1, 2, false}), ok(pb{1, 0, 1, 1, false}),
		}},
		{"transactional batches are sequenced", []seqStep{
			ok(pb{1, 0, 0, 2, true}), retryOf(0, pb{1, 0, 0, 2, true}), fails(errOrder, pb{1, 0, 4, 1, true}),
			ok(pb{1, 0, 2, 1, false}),
		}},
		{"multi-batch appends are all or nothing", []seqStep{
			ok(pb{1, 0, 0, 2, false}, pb{1, 0, 2, 1, false}),
			fails(errOrder, pb{1, 0, 3, 1, false}, pb{1, 0, 5, 1, false}),
			ok(pb{1, 0, 3, 1, false}),
			ok(pb{1, 0, 4, 1, false}, pb{-1, -1, -1, 3, false}, pb{2, 0, 0, 1, false}),
			fails(errOrder, pb{2, 0, 1, 1, false}, pb{1, 0, 9, 1, false}),
			ok(pb{2, 0, 1, 1, false}),
			fails(errUnknown, pb{3, 0, 0, 1, false}, pb{4, 0, 1, 1, false}),
			ok(pb{4, 0, 0, 1, false}),
		}},
		{"a retry inside a multi-batch append", []seqStep{
			ok(pb{1, 0, 0, 1, false}),
			fails(errOrder, pb{1, 0, 0, 1, false}, pb{1, 0, 1, 1, false}),
			fails(errOrder, pb{1, 0, 1, 1, false}, pb{1, 0, 1, 1, false}),
			fails(errOrder, pb{2, 0, 0, 1, false}, pb{1, 0, 0, 1, false}),
			ok(pb{1, 0, 1, 1, false}),
		}},
		{"epochs inside a multi-batch append", []seqStep{
			ok(pb{1, 0, 0, 1, false}, pb{1, 1, 0, 1, false}),
			fails(errEpoch, pb{1, 1, 1, 1, false}, pb{1, 0, 2, 1, false}),
			fails(errOrder, pb{1, 1, 1, 1, false}, pb{1, 2, 1, 1, false}),
			ok(pb{1, 1, 1, 1, false}),
		}},
		{"producer id without a sequence or epoch", []seqStep{
			fails(log.ErrCorruptBatch, pb{1, 0, -1, 1, false}),
			fails(log.ErrCorruptBatch, pb{1, -1, 0, 1, false}),
			ok(pb{1, 0, 0, 1, false}),
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := openLog(t, t.TempDir(), quietConfig())
			runSteps(t, l, tc.steps)
		})
	}
}

// wideBatch is a one-record batch that claims delta+1 offsets (and so
// sequences), as compaction can leave one: a way to reach the end of the
// sequence space without appending two billion records.
func wideBatch(pid int64, epoch int16, seq, delta int32) []byte {
	b := recordbatch.Build(1, 20, tsBase)
	setProducer(b, pid, epoch, seq)
	binary.BigEndian.PutUint32(b[recordbatch.LastOffsetDeltaPos:], uint32(delta))
	recordbatch.SetCRC(b)
	return b
}

func TestIdempotentSequenceWraps(t *testing.T) {
	l := openLog(t, t.TempDir(), quietConfig())
	const max = math.MaxInt32
	mustAppend := func(b []byte) log.AppendInfo {
		t.Helper()
		info, err := l.AppendBatches(b)
		if err != nil || info.Duplicate {
			t.Fatalf("append: %+v, %v", info, err)
		}
		return info
	}
	mustAppend(wideBatch(1, 0, 0, max-2))           // sequences 0..max-2
	across := mustAppend(wideBatch(1, 0, max-1, 2)) // max-1, max, 0
	if info, err := l.AppendBatches(wideBatch(1, 0, max-1, 2)); err != nil || !info.Duplicate || info.BaseOffset != across.BaseOffset {
		t.Fatalf("retry of the batch across the wrap: %+v, %v", info, err)
	}
	if _, err := l.AppendBatches(wideBatch(1, 0, 0, 0)); !errors.Is(err, log.ErrOutOfOrderSequence) {
		t.Fatalf("sequence 0 again after the wrap: %v, want ErrOutOfOrderSequence", err)
	}
	mustAppend(wideBatch(1, 0, 1, 0))
	if got := l.Producers()[0].LastSequence; got != 1 {
		t.Fatalf("last sequence %d, want 1", got)
	}

	// A batch ending exactly at MaxInt32 is followed by 0.
	mustAppend(wideBatch(2, 0, 0, max-1))
	mustAppend(wideBatch(2, 0, max, 0))
	if _, err := l.AppendBatches(wideBatch(2, 0, max, 1)); !errors.Is(err, log.ErrOutOfOrderSequence) {
		t.Fatalf("a batch past MaxInt32 that does not wrap: %v", err)
	}
	mustAppend(wideBatch(2, 0, 0, 0))
}

func TestIdempotentLogAppendTime(t *testing.T) {
	cfg := quietConfig()
	clock := newFakeClock(tsBase + 5000)
	cfg.Now = clock.Now
	cfg.MessageTimestampType = log.TimestampTypeLogAppend
	l := openLog(t, t.TempDir(), cfg)
	first, err := l.AppendBatches(pidBatch(pb{1, 0, 0, 2, false}))
	if err != nil || first.LogAppendTime != tsBase+5000 {
		t.Fatalf("%+v, %v: want LogAppendTime %d", first, err, tsBase+5000)
	}
	clock.Set(tsBase + 9000)
	retry, err := l.AppendBatches(pidBatch(pb{1, 0, 0, 2, false}))
	if err != nil || !retry.Duplicate || retry != (log.AppendInfo{BaseOffset: 0, LastOffset: 1, Duplicate: true, LogAppendTime: tsBase + 5000}) {
		t.Fatalf("retry: %+v, %v: want the original's offsets and append time", retry, err)
	}
}

func TestProducersDescribe(t *testing.T) {
	l := openLog(t, t.TempDir(), quietConfig())
	if got := l.Producers(); len(got) != 0 {
		t.Fatalf("new log has producers %+v", got)
	}
	runSteps(t, l, []seqStep{
		ok(pb{9, 2, 0, 3, false}), ok(pb{4, 0, 0, 1, false}), ok(pb{-1, -1, -1, 1, false}), ok(pb{9, 2, 3, 2, false}),
	})
	want := []log.ProducerState{
		{ProducerID: 4, ProducerEpoch: 0, LastSequence: 0, LastTimestamp: tsBase, CoordinatorEpoch: -1, CurrentTxnStartOffset: -1},
		{ProducerID: 9, ProducerEpoch: 2, LastSequence: 4, LastTimestamp: tsBase + 1, CoordinatorEpoch: -1, CurrentTxnStartOffset: -1},
	}
	if got := l.Producers(); !reflect.DeepEqual(got, want) {
		t.Fatalf("Producers() = %+v\nwant %+v", got, want)
	}
}

// producerScenario appends batches of four producers, some before a
// Checkpoint (so a crash copy finds a snapshot behind the log end).
func producerScenario(t *testing.T, l *log.Log) {
	t.Helper()
	runSteps(t, l, []seqStep{
		ok(pb{1, 0, 0, 3, false}), ok(pb{2, 0, 0, 1, false}), ok(pb{1, 0, 3, 1, false}),
		ok(pb{-1, -1, -1, 4, false}), ok(pb{3, 7, 0, 2, false}),
	})
	if err := l.Checkpoint(); err != nil {
		t.Fatal(err)
	}
	runSteps(t, l, []seqStep{
		ok(pb{1, 0, 4, 2, false}), ok(pb{2, 1, 0, 1, false}), ok(pb{4, 0, 0, 1, false}),
	})
}

// checkProducerRetries asserts that l recognises the retries an idempotent
// producer could still send after the scenario, with their original
// offsets, and takes the next batches in sequence.
func checkProducerRetries(t *testing.T, l *log.Log, wantProducers []log.ProducerState) {
	t.Helper()
	if got := l.Producers(); !reflect.DeepEqual(got, wantProducers) {
		t.Fatalf("Producers() = %+v\nwant %+v", got, wantProducers)
	}
	end := l.NextOffset()
	for _, r := range []struct {
		b    pb
		base int64
	}{
		{pb{1, 0, 0, 3, false}, 0}, {pb{1, 0, 3, 1, false}, 4}, {pb{3, 7, 0, 2, false}, 9},
		{pb{1, 0, 4, 2, false}, 11}, {pb{2, 1, 0, 1, false}, 13}, {pb{4, 0, 0, 1, false}, 14},
	} {
		info, err := l.AppendBatches(pidBatch(r.b))
		if err != nil || !info.Duplicate || info.BaseOffset != r.base {
			t.Fatalf("retry of %+v: %+v, %v; want a duplicate at %d", r.b, info, err, r.base)
		}
	}
	if l.NextOffset() != end {
		t.Fatalf("retries appended: %d → %d", end, l.NextOffset())
	}
	if _, err := l.AppendBatches(pidBatch(pb{2, 0, 1, 1, false})); !errors.Is(err, log.ErrInvalidProducerEpoch) {
		t.Fatalf("stale epoch after reopen: %v", err)
	}
	if _, err := l.AppendBatches(pidBatch(pb{1, 0, 7, 1, false})); !errors.Is(err, log.ErrOutOfOrderSequence) {
		t.Fatalf("gap after reopen: %v", err)
	}
	for _, next := range []pb{{1, 0, 6, 1, false}, {2, 1, 1, 1, false}, {3, 7, 2, 1, false}, {4, 0, 1, 1, false}} {
		if info, err := l.AppendBatches(pidBatch(next)); err != nil || info.Duplicate {
			t.Fatalf("next batch %+v after reopen: %+v, %v", next, info, err)
		}
	}
}

func TestProducerStateSurvivesReopen(t *testing.T) {
	cfg := quietConfig()
	for _, variant := range []string{"snapshot", "no-snapshot", "corrupt-snapshot"} {
		t.Run(variant, func(t *testing.T) {
			l := openLog(t, t.TempDir(), cfg)
			producerScenario(t, l)
			want := l.Producers()
			if len(want) != 4 {
				t.Fatalf("%d producers, want 4", len(want))
			}
			// Each of reopenAll's restarts (clean: a fresh snapshot; kill -9
			// and no checkpoint: the snapshot of the Checkpoint, behind the log
			// end) must come back with the same state; without a snapshot it
			// is rebuilt from the whole log.
			reopenAll(t, l, cfg, func(t *testing.T, l *log.Log) {
				path := filepath.Join(l.Dir(), log.ProducerSnapshotFile)
				switch variant {
				case "no-snapshot":
					l.Close()
					if err := os.Remove(path); err != nil {
						t.Fatal(err)
					}
					l = openLog(t, l.Dir(), cfg)
				case "corrupt-snapshot":
					l.Close()
					b, err := os.ReadFile(path)
					if err != nil {
						t.Fatal(err)
					}
					b[len(b)/2] ^= 1
					if err := os.WriteFile(path, b, 0o644); err != nil {
						t.Fatal(err)
					}
					l = openLog(t, l.Dir(), cfg)
				}
				checkProducerRetries(t, l, want)
			})
		})
	}
}

// TestProducerSnapshotPastTheLogEnd: a snapshot that covers batches the log
// lost (a torn tail cut by recovery) must not be trusted, neither at once
// nor after appends carry the log end past its offset again; otherwise a
// producer's retry of a lost batch would be answered as a duplicate and
// the batch lost for good.
func TestProducerSnapshotPastTheLogEnd(t *testing.T) {
	cfg := quietConfig()
	dir := t.TempDir()
	l := openLog(t, dir, cfg)
	runSteps(t, l, []seqStep{ok(pb{1, 0, 0, 2, false}), ok(pb{1, 0, 2, 2, false})})
	lostAt := l.NextOffset()
	logSize := l.Size()
	runSteps(t, l, []seqStep{ok(pb{1, 0, 4, 2, false}), ok(pb{1, 0, 6, 2, false})})
	if err := l.Checkpoint(); err != nil { // the snapshot covers all four
		t.Fatal(err)
	}
	crashed := crashCopy(t, dir)
	// The power went: the last two batches never reached the disk.
	seg := filepath.Join(crashed, segment.FileName(0, segment.LogSuffix))
	if err := os.Truncate(seg, logSize); err != nil {
		t.Fatal(err)
	}
	l = openLog(t, crashed, cfg)
	if l.NextOffset() != lostAt {
		t.Fatalf("recovered to %d, want %d", l.NextOffset(), lostAt)
	}
	if got := l.Producers(); len(got) != 1 || got[0].LastSequence != 3 {
		t.Fatalf("producers after the lost tail: %+v, want last sequence 3", got)
	}
	// Plain appends carry the log end past the old snapshot's offset, then
	// the broker is killed before any checkpoint.
	appendRecords(t, l, 3, 5, tsBase, 1)
	crashed2 := crashCopy(t, crashed)
	l = openLog(t, crashed2, cfg)
	if got := l.Producers(); len(got) != 1 || got[0].LastSequence != 3 {
		t.Fatalf("producers after a second crash: %+v, want last sequence 3", got)
	}
	// The producer's retry of its lost batch is appended, not dropped.
	info, err := l.AppendBatches(pidBatch(pb{1, 0, 4, 2, false}))
	if err != nil || info.Duplicate {
		t.Fatalf("retry of a lost batch: %+v, %v; want it appended", info, err)
	}
}

func TestProducerStateAfterTruncate(t *testing.T) {
	cfg := quietConfig()
	l := openLog(t, t.TempDir(), cfg)
	steps := []seqStep{
		ok(pb{1, 0, 0, 2, false}), ok(pb{2, 0, 0, 1, false}), ok(pb{1, 0, 2, 2, false}),
		ok(pb{3, 0, 0, 1, false}), ok(pb{1, 0, 4, 2, false}), ok(pb{1, 1, 0, 1, false}),
		ok(pb{3, 0, 1, 1, false}),
	}
	runSteps(t, l, steps[:2])
	if err := l.Roll(); err != nil {
		t.Fatal(err)
	}
	stored := runSteps(t, l, steps[2:])
	// Producer 2 is untouched by the truncation even once retention took
	// its only batch: it must keep its state.
	if _, err := l.DeleteRecordsBefore(stored[2].base); err != nil {
		t.Fatal(err)
	}
	if segmentExists(t, l.Dir(), 0) {
		t.Fatal("DeleteRecordsBefore kept the first segment")
	}
	if err := l.Checkpoint(); err != nil { // a snapshot past the cut
		t.Fatal(err)
	}
	cut := stored[4].base // producer 1's batch 4..5 and epoch 1, producer 3's seq 1
	if _, err := l.Truncate(cut); err != nil {
		t.Fatal(err)
	}
	check := func(t *testing.T, l *log.Log) {
		t.Helper()
		got := l.Producers()
		want := []log.ProducerState{
			{ProducerID: 1, ProducerEpoch: 0, LastSequence: 3, LastTimestamp: tsBase + 1, CoordinatorEpoch: -1, CurrentTxnStartOffset: -1},
			{ProducerID: 2, ProducerEpoch: 0, LastSequence: 0, LastTimestamp: tsBase, CoordinatorEpoch: -1, CurrentTxnStartOffset: -1},
			{ProducerID: 3, ProducerEpoch: 0, LastSequence: 0, LastTimestamp: tsBase, CoordinatorEpoch: -1, CurrentTxnStartOffset: -1},
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("Producers() = %+v\nwant %+v", got, want)
		}
	}
	check(t, l)
	// The snapshot was replaced: a crash now, after plain appends carried
	// the log end past the old snapshot's offset, finds the truncated state.
	appendRecords(t, l, 4, 5, tsBase, 1)
	reopenAll(t, l, cfg, func(t *testing.T, l *log.Log) {
		check(t, l)
		if info, err := l.AppendBatches(pidBatch(pb{1, 0, 4, 2, false})); err != nil || info.Duplicate {
			t.Fatalf("resend of a truncated batch: %+v, %v; want it appended", info, err)
		}
		if info, err := l.AppendBatches(pidBatch(pb{2, 0, 0, 1, false})); err != nil || !info.Duplicate || info.BaseOffset != stored[1].base {
			t.Fatalf("retry of producer 2's batch: %+v, %v", info, err)
		}
	})
}

func TestProducerExpiration(t *testing.T) {
	cfg := quietConfig()
	clock := newFakeClock(tsBase)
	cfg.Now = clock.Now
	var err error
	cfg, err = cfg.With(map[string]string{log.ConfigProducerIDExpirationMs: "60000"})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.ProducerIDExpirationMs != 60000 || log.DefaultConfig().ProducerIDExpirationMs != 86400000 {
		t.Fatalf("producer.id.expiration.ms: %d, default %d", cfg.ProducerIDExpirationMs, log.DefaultConfig().ProducerIDExpirationMs)
	}
	for _, bad := range []string{"0", "-1", "soon"} {
		if _, err := cfg.With(map[string]string{log.ConfigProducerIDExpirationMs: bad}); !errors.Is(err, log.ErrInvalidConfig) {
			t.Errorf("producer.id.expiration.ms=%s: %v, want ErrInvalidConfig", bad, err)
		}
	}
	dir := t.TempDir()
	l := openLog(t, dir, cfg)
	runSteps(t, l, []seqStep{ok(pb{1, 0, 0, 2, false}), ok(pb{2, 0, 0, 2, false})})
	clock.Set(tsBase + 30_000)
	runSteps(t, l, []seqStep{ok(pb{2, 0, 2, 1, false})})
	clock.Set(tsBase + 59_999)
	if _, err := l.ApplyRetention(); err != nil {
		t.Fatal(err)
	}
	if got := len(l.Producers()); got != 2 {
		t.Fatalf("%d producers before expiration, want 2", got)
	}
	clock.Set(tsBase + 60_000)
	if _, err := l.ApplyRetention(); err != nil {
		t.Fatal(err)
	}
	if got := l.Producers(); len(got) != 1 || got[0].ProducerID != 2 {
		t.Fatalf("producers after producer 1 expired: %+v", got)
	}
	// Gone across a restart too (its batches are still in the log).
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = openLog(t, dir, cfg)
	if got := l.Producers(); len(got) != 1 || got[0].ProducerID != 2 {
		t.Fatalf("producers after reopen: %+v", got)
	}
	if _, err := l.AppendBatches(pidBatch(pb{1, 0, 2, 1, false})); !errors.Is(err, log.ErrUnknownProducerID) {
		t.Fatalf("expired producer continuing: %v, want ErrUnknownProducerID", err)
	}
	clock.Set(tsBase + 90_000)
	if _, err := l.ApplyRetention(); err != nil {
		t.Fatal(err)
	}
	if got := l.Producers(); len(got) != 0 {
		t.Fatalf("producers after producer 2 expired: %+v", got)
	}
	runSteps(t, l, []seqStep{ok(pb{1, 1, 0, 1, false})})
}

func TestProducerExpirationThroughManager(t *testing.T) {
	d := quietConfig()
	clock := newFakeClock(tsBase)
	d.Now = clock.Now
	d.ProducerIDExpirationMs = 1000
	opts := quietOptions()
	opts.Defaults = &d
	opts.RetentionCheckInterval = 5 * time.Millisecond
	m := openManager(t, t.TempDir(), opts)
	topic, err := m.CreateTopic("idem", 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	l := topic.Partitions[0]
	runSteps(t, l, []seqStep{ok(pb{1, 0, 0, 1, false})})
	clock.Set(tsBase + 1000)
	for i := 0; len(l.Producers()) != 0; i++ {
		if i == 2000 {
			t.Fatal("the Manager's background loop never expired the producer")
		}
		time.Sleep(time.Millisecond)
	}
}

// checkProducersMatchLog asserts that l's producer state is what its batches
// say: for each producer of a batch in the log, the epoch and last sequence
// of its last batch.
func checkProducersMatchLog(t *testing.T, l *log.Log) {
	t.Helper()
	want := map[int64]log.ProducerState{}
	rcvWalk(t, l, func(h recordbatch.Header, _ []byte) {
		if h.ProducerID >= 0 {
			want[h.ProducerID] = log.ProducerState{ProducerID: h.ProducerID, ProducerEpoch: h.ProducerEpoch,
				LastSequence: h.BaseSequence + h.LastOffsetDelta, LastTimestamp: h.MaxTimestamp,
				CoordinatorEpoch: -1, CurrentTxnStartOffset: -1}
		}
	})
	got := l.Producers()
	if len(got) != len(want) {
		t.Fatalf("%d producers, the log has batches of %d", len(got), len(want))
	}
	for _, p := range got {
		if p != want[p.ProducerID] {
			t.Fatalf("producer state %+v, the log says %+v", p, want[p.ProducerID])
		}
	}
}

// TestIdempotentConcurrentAppends runs producers, each retrying some of its
// batches, against Checkpoints and crash copies taken meanwhile: no retry is
// appended twice, and every copy recovers a producer state matching its log.
func TestIdempotentConcurrentAppends(t *testing.T) {
	const producers, batches = 4, 1000
	cfg := quietConfig()
	cfg.SegmentBytes = 16 << 10
	l := openLog(t, t.TempDir(), cfg)
	var wg sync.WaitGroup
	errs := make(chan error, producers+1)
	for p := range producers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			seq := int32(0)
			for i := range batches {
				b := pidBatch(pb{int64(p), 0, seq, 1 + i%3, false})
				first, err := l.AppendBatches(b)
				if err != nil || first.Duplicate {
					errs <- fmt.Errorf("producer %d batch %d: %+v, %v", p, i, first, err)
					return
				}
				if i%4 == 0 {
					retry, err := l.AppendBatches(pidBatch(pb{int64(p), 0, seq, 1 + i%3, false}))
					if err != nil || !retry.Duplicate || retry.BaseOffset != first.BaseOffset {
						errs <- fmt.Errorf("producer %d retry of batch %d: %+v, %v; first %+v", p, i, retry, err, first)
						return
					}
				}
				seq += int32(1 + i%3)
			}
		}()
	}
	stop := make(chan struct{})
	copyRoot := t.TempDir()
	var copies []string // taken as kill -9 would leave the files
	var bg sync.WaitGroup
	bg.Add(1)
	go func() {
		defer bg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			if err := l.Checkpoint(); err != nil {
				errs <- err
				return
			}
			_ = l.Producers()
			if len(copies) < 8 {
				dst := filepath.Join(copyRoot, fmt.Sprint(i))
				if err := copyRegularFiles(l.Dir(), dst); err != nil {
					errs <- err
					return
				}
				copies = append(copies, dst)
			}
		}
	}()
	wg.Wait()
	close(stop)
	bg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	wantRecords := int64(0)
	for i := range batches {
		wantRecords += int64(1 + i%3)
	}
	if l.NextOffset() != producers*wantRecords {
		t.Fatalf("log end %d, want %d: retries appended", l.NextOffset(), producers*wantRecords)
	}
	checkProducersMatchLog(t, l)
	t.Logf("%d crash copies taken during the run", len(copies))
	for _, dir := range append(copies, crashCopy(t, l.Dir())) {
		checkProducersMatchLog(t, openLog(t, dir, cfg))
	}
}

// copyRegularFiles copies the regular files of src into a new directory
// dst (crashCopy for goroutines other than the test's).
func copyRegularFiles(src, dst string) error {
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return err
	}
	ents, err := os.ReadDir(src)
	if err != nil {
		return err
	}
	for _, e := range ents {
		if !e.Type().IsRegular() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if errors.Is(err, os.ErrNotExist) {
			continue // a temp file renamed meanwhile
		}
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), b, 0o644); err != nil {
			return err
		}
	}
	return nil
}
