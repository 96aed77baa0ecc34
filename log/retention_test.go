package log_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/tributary-io/tributary/log"
	"github.com/tributary-io/tributary/recordbatch"
	"github.com/tributary-io/tributary/segment"
)

func TestRetentionByTime(t *testing.T) {
	clock := newFakeClock(tsBase)
	cfg := quietConfig()
	cfg.Now = clock.Now
	cfg.RetentionMs = 10_000
	l := openLog(t, t.TempDir(), cfg)
	// 4 segments of 3 batches of 5 records, 5 s apart: segment s holds
	// [15s, 15s+15) and its max timestamp is tsBase+s*5000+24.
	all := buildSegments(t, l, 4, 3, 5000)
	maxTs := func(s int) int64 { return tsBase + int64(s)*5000 + 24 }

	clock.Set(maxTs(1) + 10_000) // segment 0 is 15 s old, segment 1 exactly retention.ms
	if n, err := l.ApplyRetention(); err != nil || n != 1 {
		t.Fatalf("ApplyRetention = %d, %v; want 1 segment (older than retention.ms, not equal to it)", n, err)
	}
	if l.StartOffset() != 15 || segmentExists(t, l.Dir(), 0) {
		t.Fatalf("start %d, segment 0 exists %v; want start 15 and segment 0 gone", l.StartOffset(), segmentExists(t, l.Dir(), 0))
	}
	wantOutOfRange(t, l, 14)
	checkContents(t, l, all)

	clock.Set(maxTs(1) + 10_001)
	if n, err := l.ApplyRetention(); err != nil || n != 1 || l.StartOffset() != 30 {
		t.Fatalf("ApplyRetention = %d, %v, start %d; want segment 1 deleted, start 30", n, err, l.StartOffset())
	}

	// Everything, the active segment included, is now expired: the active
	// segment stays.
	clock.Set(maxTs(3) + 1_000_000)
	if n, err := l.ApplyRetention(); err != nil || n != 1 {
		t.Fatalf("ApplyRetention = %d, %v; want only sealed segment 2 deleted", n, err)
	}
	if l.NumSegments() != 1 || l.StartOffset() != 45 {
		t.Fatalf("%d segments, start %d; want the active segment [45, 60) kept", l.NumSegments(), l.StartOffset())
	}
	if n, err := l.ApplyRetention(); err != nil || n != 0 {
		t.Fatalf("ApplyRetention on an expired active segment = %d, %v; want 0", n, err)
	}
	for s := int64(0); s < 3; s++ {
		for _, suf := range []string{segment.LogSuffix, segment.IndexSuffix, segment.TimeIndexSuffix} {
			if _, err := os.Stat(filepath.Join(l.Dir(), segment.FileName(s*15, suf))); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("deleted segment file %s: %v", segment.FileName(s*15, suf), err)
			}
		}
	}
	checkContents(t, l, all)
	all = append(all, appendOne(t, l, recordbatch.Build(5, 100, clock.Now().UnixMilli())))
	checkContents(t, l, all)

	reopenAll(t, l, cfg, func(t *testing.T, l *log.Log) {
		if l.StartOffset() != 45 {
			t.Fatalf("start offset %d after reopen, want 45", l.StartOffset())
		}
		wantOutOfRange(t, l, 44)
		checkContents(t, l, all)
	})
}

func TestRetentionMsMinusOneKeepsEverything(t *testing.T) {
	clock := newFakeClock(tsBase)
	cfg := quietConfig()
	cfg.Now = clock.Now
	cfg.RetentionMs = -1
	l := openLog(t, t.TempDir(), cfg)
	all := buildSegments(t, l, 3, 2, 1000)
	clock.Set(tsBase + 100*365*24*3600*1000)
	if n, err := l.ApplyRetention(); err != nil || n != 0 {
		t.Fatalf("ApplyRetention with retention.ms=-1 = %d, %v", n, err)
	}
	checkContents(t, l, all)
}

func TestRetentionByBytes(t *testing.T) {
	clock := newFakeClock(tsBase)
	cfg := quietConfig()
	cfg.Now = clock.Now
	l := openLog(t, t.TempDir(), cfg)
	all := buildSegments(t, l, 5, 3, 10)
	segSize := l.Size() / 5
	if l.Size() != 5*segSize || logFileBytes(t, l.Dir()) != l.Size() {
		t.Fatalf("segments are not equal: log size %d, files %d", l.Size(), logFileBytes(t, l.Dir()))
	}

	// retention.bytes is the least that stays: delete oldest segments while
	// what remains without them is still >= retention.bytes.
	c := l.Config()
	c.RetentionBytes = 2*segSize + segSize/2
	if err := l.SetConfig(c); err != nil {
		t.Fatal(err)
	}
	if n, err := l.ApplyRetention(); err != nil || n != 2 {
		t.Fatalf("ApplyRetention = %d, %v; want 2 (5 segments of %d bytes, retention.bytes %d)", n, err, segSize, c.RetentionBytes)
	}
	if l.StartOffset() != 30 || l.Size() != 3*segSize || logFileBytes(t, l.Dir()) != 3*segSize {
		t.Fatalf("start %d size %d files %d; want start 30, 3 segments", l.StartOffset(), l.Size(), logFileBytes(t, l.Dir()))
	}
	c.RetentionBytes = 3 * segSize // exactly what is left: nothing to delete
	l.SetConfig(c)
	if n, err := l.ApplyRetention(); err != nil || n != 0 {
		t.Fatalf("ApplyRetention at exactly retention.bytes = %d, %v; want 0", n, err)
	}
	c.RetentionBytes = 0
	l.SetConfig(c)
	if n, err := l.ApplyRetention(); err != nil || n != 2 {
		t.Fatalf("ApplyRetention with retention.bytes=0 = %d, %v; want every sealed segment (2)", n, err)
	}
	if l.NumSegments() != 1 || l.StartOffset() != 60 || l.Size() != segSize {
		t.Fatalf("%d segments, start %d; want the active segment kept", l.NumSegments(), l.StartOffset())
	}
	checkContents(t, l, all)
	reopenAll(t, l, cfg, func(t *testing.T, l *log.Log) {
		if l.StartOffset() != 60 {
			t.Fatalf("start %d after reopen, want 60", l.StartOffset())
		}
		checkContents(t, l, all)
	})
}

func TestReadViewSurvivesRetention(t *testing.T) {
	cfg := quietConfig()
	cfg.RetentionBytes = 0
	l := openLog(t, t.TempDir(), cfg)
	buildSegments(t, l, 2, 3, 10)
	view, err := l.Read(0, 1<<20)
	if err != nil || len(view.Data) == 0 {
		t.Fatalf("read: %d bytes, %v", len(view.Data), err)
	}
	before := bytes.Clone(view.Data)
	if n, err := l.ApplyRetention(); err != nil || n != 1 {
		t.Fatalf("ApplyRetention = %d, %v", n, err)
	}
	if segmentExists(t, l.Dir(), 0) {
		t.Fatal("segment 0 still on disk after retention")
	}
	if !bytes.Equal(view.Data, before) {
		t.Fatal("a view of a deleted segment changed before Release")
	}
	if _, _, err := recordbatch.ValidateAll(view.Data); err != nil {
		t.Fatalf("view of a deleted segment: %v", err)
	}
	view.Release()
	wantOutOfRange(t, l, 0)
}

func TestDeleteRecordsBefore(t *testing.T) {
	cfg := quietConfig()
	l := openLog(t, t.TempDir(), cfg)
	// Segments [0, 20), [20, 40), [40, 60) of 5-record batches.
	all := buildSegments(t, l, 3, 4, 1000)

	low, err := l.DeleteRecordsBefore(27) // inside the batch [25, 30)
	if err != nil || low != 27 {
		t.Fatalf("DeleteRecordsBefore(27) = %d, %v", low, err)
	}
	if l.StartOffset() != 27 || l.NumSegments() != 2 || segmentExists(t, l.Dir(), 0) || !segmentExists(t, l.Dir(), 20) {
		t.Fatalf("start %d, %d segments; want start 27 and only segment 0 deleted", l.StartOffset(), l.NumSegments())
	}
	for _, off := range []int64{0, 19, 20, 26} {
		wantOutOfRange(t, l, off)
	}
	b, err := l.Read(27, 1)
	if err != nil || b.BaseOffset != 25 {
		t.Fatalf("Read(27) = batch at %d, %v; want the batch [25, 30)", b.BaseOffset, err)
	}
	b.Release()
	if off, _, err := l.OffsetForTimestamp(0); err != nil || off != 27 {
		t.Fatalf("OffsetForTimestamp(0) = %d, %v; want the log start offset 27", off, err)
	}
	checkContents(t, l, all)

	// Not moving backwards, and bounded by the log end.
	if low, err := l.DeleteRecordsBefore(10); err != nil || low != 27 {
		t.Fatalf("DeleteRecordsBefore(10) = %d, %v; want a no-op returning 27", low, err)
	}
	if _, err := l.DeleteRecordsBefore(61); !errors.Is(err, log.ErrOffsetOutOfRange) {
		t.Fatalf("DeleteRecordsBefore(61) past the end = %v, want ErrOffsetOutOfRange", err)
	}
	if _, err := l.DeleteRecordsBefore(-1); !errors.Is(err, log.ErrOffsetOutOfRange) {
		t.Fatalf("DeleteRecordsBefore(-1) = %v, want ErrOffsetOutOfRange", err)
	}

	t.Run("reopen", func(t *testing.T) {
		// Persisted before DeleteRecordsBefore returns: a crash right now keeps it.
		crashed := crashCopy(t, l.Dir())
		l2 := openLog(t, crashed, cfg)
		if l2.StartOffset() != 27 {
			t.Fatalf("start %d after kill -9, want 27", l2.StartOffset())
		}
		checkContents(t, l2, all)
	})

	// Up to a segment base, then to the log end: the active segment stays.
	if low, err := l.DeleteRecordsBefore(40); err != nil || low != 40 || l.NumSegments() != 1 || segmentExists(t, l.Dir(), 20) {
		t.Fatalf("DeleteRecordsBefore(40) = %d, %v, %d segments", low, err, l.NumSegments())
	}
	if low, err := l.DeleteRecordsBefore(60); err != nil || low != 60 || l.NumSegments() != 1 {
		t.Fatalf("DeleteRecordsBefore(60) = %d, %v, %d segments", low, err, l.NumSegments())
	}
	wantOutOfRange(t, l, 59)
	if b, err := l.Read(60, 100); err != nil || len(b.Data) != 0 {
		t.Fatalf("Read at the end = %d bytes, %v", len(b.Data), err)
	}
	all = append(all, appendOne(t, l, recordbatch.Build(5, 100, tsBase)))
	checkContents(t, l, all)
	reopenAll(t, l, cfg, func(t *testing.T, l *log.Log) {
		if t.Name() == "TestDeleteRecordsBefore/no-checkpoint" {
			// Documented: without a checkpoint the log starts at its first segment.
			if l.StartOffset() != 40 {
				t.Fatalf("start %d without a checkpoint, want the first segment's base 40", l.StartOffset())
			}
			return
		}
		if l.StartOffset() != 60 {
			t.Fatalf("start %d after reopen, want 60", l.StartOffset())
		}
		checkContents(t, l, all)
	})
}

func TestTruncateActiveSegment(t *testing.T) {
	cfg := quietConfig()
	l := openLog(t, t.TempDir(), cfg)
	all := appendRecords(t, l, 10, 5, tsBase, 10) // [0, 50) in one segment
	sizeAt := func(n int) int64 {
		var s int64
		for _, b := range all[:n] {
			s += int64(len(b.data))
		}
		return s
	}

	if end, err := l.Truncate(33); err != nil || end != 30 {
		t.Fatalf("Truncate(33) inside [30, 35) = %d, %v; want 30", end, err)
	}
	if l.Size() != sizeAt(6) || logFileBytes(t, l.Dir()) != sizeAt(6) {
		t.Fatalf("size %d, file %d; want %d", l.Size(), logFileBytes(t, l.Dir()), sizeAt(6))
	}
	if end, err := l.Truncate(25); err != nil || end != 25 {
		t.Fatalf("Truncate(25) = %d, %v", end, err)
	}
	all = all[:5]
	checkContents(t, l, all)
	wantOutOfRange(t, l, 26)
	if end, err := l.Truncate(100); err != nil || end != 25 {
		t.Fatalf("Truncate past the end = %d, %v; want a no-op", end, err)
	}
	if _, err := l.Truncate(-1); !errors.Is(err, log.ErrOffsetOutOfRange) {
		t.Fatalf("Truncate(-1) = %v", err)
	}
	all = append(all, appendRecords(t, l, 3, 2, tsBase+1000, 10)...)
	if all[5].base != 25 {
		t.Fatalf("append after truncation at %d, want 25", all[5].base)
	}
	checkContents(t, l, all)
	reopenAll(t, l, cfg, func(t *testing.T, l *log.Log) {
		checkContents(t, l, all)
		more := append(append([]storedBatch(nil), all...), appendOne(t, l, recordbatch.Build(1, 10, tsBase)))
		checkContents(t, l, more)
	})
}

func TestTruncateIntoSealedSegment(t *testing.T) {
	cfg := quietConfig()
	l := openLog(t, t.TempDir(), cfg)
	all := buildSegments(t, l, 3, 4, 1000) // [0, 20), [20, 40), [40, 60)

	if end, err := l.Truncate(30); err != nil || end != 30 {
		t.Fatalf("Truncate(30) = %d, %v", end, err)
	}
	if l.NumSegments() != 2 || segmentExists(t, l.Dir(), 40) {
		t.Fatalf("%d segments, segment 40 exists %v; want it removed", l.NumSegments(), segmentExists(t, l.Dir(), 40))
	}
	all = all[:6]
	checkContents(t, l, all)
	// The truncated segment is active again: appends go into it.
	all = append(all, appendRecords(t, l, 2, 5, tsBase+5000, 10)...)
	if all[6].base != 30 || l.NumSegments() != 2 {
		t.Fatalf("append after truncation at %d with %d segments; want 30 in segment 20", all[6].base, l.NumSegments())
	}
	checkContents(t, l, all)

	// To a segment's base: that segment goes whole.
	if end, err := l.Truncate(20); err != nil || end != 20 || l.NumSegments() != 1 || segmentExists(t, l.Dir(), 20) {
		t.Fatalf("Truncate(20) = %d, %v, %d segments", end, err, l.NumSegments())
	}
	all = all[:4]
	checkContents(t, l, all)
	all = append(all, appendRecords(t, l, 2, 5, tsBase+9000, 10)...)
	if all[4].base != 20 {
		t.Fatalf("append after Truncate(20) at %d", all[4].base)
	}
	if err := l.Roll(); err != nil {
		t.Fatal(err)
	}
	all = append(all, appendRecords(t, l, 1, 5, tsBase+9500, 10)...)
	checkContents(t, l, all)
	reopenAll(t, l, cfg, func(t *testing.T, l *log.Log) {
		if l.NumSegments() != 2 {
			t.Errorf("%d segments after reopen, want 2", l.NumSegments())
		}
		checkContents(t, l, all)
	})
}

func TestTruncateToZeroAndBelowStart(t *testing.T) {
	cfg := quietConfig()
	l := openLog(t, t.TempDir(), cfg)
	buildSegments(t, l, 3, 4, 1000)

	if end, err := l.Truncate(0); err != nil || end != 0 {
		t.Fatalf("Truncate(0) = %d, %v", end, err)
	}
	if l.StartOffset() != 0 || l.NextOffset() != 0 || l.NumSegments() != 1 || l.Size() != 0 {
		t.Fatalf("after Truncate(0): [%d, %d), %d segments, %d bytes", l.StartOffset(), l.NextOffset(), l.NumSegments(), l.Size())
	}
	all := buildSegments(t, l, 3, 4, 1000)
	if all[0].base != 0 {
		t.Fatal("log did not restart at 0")
	}

	if _, err := l.DeleteRecordsBefore(27); err != nil {
		t.Fatal(err)
	}
	// At or below the log start offset: the log restarts empty there.
	if end, err := l.Truncate(15); err != nil || end != 15 {
		t.Fatalf("Truncate(15) below start 27 = %d, %v", end, err)
	}
	if l.StartOffset() != 15 || l.NextOffset() != 15 || l.NumSegments() != 1 {
		t.Fatalf("after Truncate(15): [%d, %d), %d segments", l.StartOffset(), l.NextOffset(), l.NumSegments())
	}
	for _, base := range []int64{0, 20, 40} {
		if segmentExists(t, l.Dir(), base) {
			t.Errorf("segment %d survived a full truncation", base)
		}
	}
	if b, err := l.Read(15, 100); err != nil || len(b.Data) != 0 {
		t.Fatalf("Read(15) on the empty log = %d bytes, %v", len(b.Data), err)
	}
	wantOutOfRange(t, l, 14)
	all = appendRecords(t, l, 3, 5, tsBase, 10)
	if all[0].base != 15 {
		t.Fatalf("first append after Truncate(15) at %d", all[0].base)
	}
	reopenAll(t, l, cfg, func(t *testing.T, l *log.Log) {
		if l.StartOffset() != 15 {
			t.Fatalf("start %d after reopen, want 15", l.StartOffset())
		}
		checkContents(t, l, all)
	})
}

func TestSegmentMsRoll(t *testing.T) {
	clock := newFakeClock(tsBase)
	cfg := quietConfig()
	cfg.Now = clock.Now
	cfg.SegmentMs = 1000
	l := openLog(t, t.TempDir(), cfg)
	// segment.ms counts from the segment's first batch timestamp to the
	// incoming batch's; a segment rolls once that is more than segment.ms.
	steps := []struct {
		ts   int64
		segs int
	}{
		{tsBase, 1},
		{tsBase + 999, 1},
		{tsBase + 1000, 1},
		{tsBase + 1001, 2},
		{tsBase + 1500, 2},
		{tsBase + 2001, 2},
		{tsBase + 2002, 3},
	}
	var all []storedBatch
	for _, s := range steps {
		clock.Set(s.ts)
		all = append(all, appendOne(t, l, recordbatch.Build(1, 10, s.ts)))
		if l.NumSegments() != s.segs {
			t.Fatalf("after a batch at +%d ms: %d segments, want %d", s.ts-tsBase, l.NumSegments(), s.segs)
		}
	}
	checkContents(t, l, all)
}

func TestLogAppendTime(t *testing.T) {
	const appendTs = tsBase + 123_456
	clock := newFakeClock(appendTs)
	cfg := quietConfig()
	cfg.Now = clock.Now
	cfg.MessageTimestampType = log.TimestampTypeLogAppend
	l := openLog(t, t.TempDir(), cfg)
	in := recordbatch.Build(3, 50, 1000) // producer timestamps far in the past
	in = append(in, recordbatch.Build(2, 50, 5000)...)
	if _, err := l.Append(in); err != nil {
		t.Fatal(err)
	}
	got := readAll(t, l)
	if len(got) != 2 {
		t.Fatalf("%d batches", len(got))
	}
	for i, b := range got {
		h, err := recordbatch.Validate(b.data)
		if err != nil {
			t.Fatalf("batch %d: CRC no longer valid after LogAppendTime stamping: %v", i, err)
		}
		if !h.LogAppendTime() || h.MaxTimestamp != appendTs {
			t.Fatalf("batch %d: LogAppendTime bit %v, MaxTimestamp %d; want set and %d", i, h.LogAppendTime(), h.MaxTimestamp, int64(appendTs))
		}
	}
	if ts, off, err := l.MaxTimestamp(); err != nil || ts != appendTs || off != 0 {
		t.Fatalf("MaxTimestamp = %d at %d, %v", ts, off, err)
	}
	if off, ts, err := l.OffsetForTimestamp(2000); err != nil || off != 0 || ts != appendTs {
		t.Fatalf("OffsetForTimestamp(2000) = %d (ts %d), %v; want 0 by append time", off, ts, err)
	}
	// Retention counts from the append time, not the producer's time.
	l.Roll()
	c := l.Config()
	c.RetentionMs = 1000
	l.SetConfig(c)
	if n, err := l.ApplyRetention(); err != nil || n != 0 {
		t.Fatalf("retention deleted %d segments (%v) stamped just now", n, err)
	}
}

func TestMaxMessageBytes(t *testing.T) {
	cfg := quietConfig()
	cfg.MaxMessageBytes = 2048
	l := openLog(t, t.TempDir(), cfg)
	big := recordbatch.BuildSized(4096, tsBase)
	if _, err := l.Append(big); !errors.Is(err, log.ErrMessageTooLarge) {
		t.Fatalf("4 KiB batch with max.message.bytes 2048: %v, want ErrMessageTooLarge", err)
	}
	both := append(recordbatch.Build(1, 10, tsBase), big...)
	if _, err := l.Append(both); !errors.Is(err, log.ErrMessageTooLarge) {
		t.Fatalf("small + too-large batch: %v, want ErrMessageTooLarge", err)
	}
	if l.NextOffset() != 0 || l.Size() != 0 {
		t.Fatalf("rejected appends wrote: next %d size %d", l.NextOffset(), l.Size())
	}
	exact := recordbatch.BuildSized(2048, tsBase)
	if len(exact) > 2048 {
		t.Fatalf("BuildSized(2048) made %d bytes", len(exact))
	}
	var all []storedBatch
	all = append(all, appendOne(t, l, exact))
	// The limit is per batch, not per append.
	two := append(recordbatch.BuildSized(1500, tsBase), recordbatch.BuildSized(1500, tsBase)...)
	if _, err := l.Append(two); err != nil {
		t.Fatalf("two 1500-byte batches in one append: %v", err)
	}
	if got := readAll(t, l); len(got) != 3 || !bytes.Equal(got[0].data, all[0].data) {
		t.Fatalf("read back %d batches", len(got))
	}
}

func TestAppendCorruptInputAppendsNothing(t *testing.T) {
	l := openLog(t, t.TempDir(), quietConfig())
	all := appendRecords(t, l, 2, 3, tsBase, 10)
	good := func() []byte { return recordbatch.Build(4, 100, tsBase) }
	flip := func(pos int) []byte {
		b := good()
		b[pos] ^= 0x01
		return b
	}
	cases := []struct {
		name string
		in   []byte
	}{
		{"empty", nil},
		{"record byte flipped", flip(recordbatch.HeaderSize + 10)},
		{"max timestamp flipped", flip(recordbatch.MaxTimestampPos + 7)},
		{"bad magic", flip(recordbatch.MagicPos)},
		{"torn batch", good()[:200]},
		{"header only", good()[:recordbatch.HeaderSize]},
		{"garbage", bytes.Repeat([]byte{0x5a}, 300)},
		{"good then corrupt", append(good(), flip(recordbatch.HeaderSize+1)...)},
		{"good then torn", append(good(), good()[:100]...)},
		{"good then zeros", append(good(), make([]byte, 64)...)},
	}
	for _, c := range cases {
		next, size := l.NextOffset(), l.Size()
		if _, err := l.Append(c.in); !errors.Is(err, log.ErrCorruptBatch) {
			t.Errorf("%s: %v, want ErrCorruptBatch", c.name, err)
		}
		if l.NextOffset() != next || l.Size() != size {
			t.Fatalf("%s: rejected append moved the log: next %d→%d size %d→%d", c.name, next, l.NextOffset(), size, l.Size())
		}
	}
	all = append(all, appendOne(t, l, good()))
	checkContents(t, l, all)
}

func TestOffsetForTimestamp(t *testing.T) {
	cfg := quietConfig()
	cfg.IndexIntervalBytes = 1 // an index entry per batch, so lookups use the time index
	l := openLog(t, t.TempDir(), cfg)
	// Three segments; batch i has records at ts_i and ts_i+1 (its max), with
	// one batch out of order and the log's largest timestamp in the middle.
	ts := []int64{1000, 2000, 3000, 2500, 9000, 4000, 5000, 6000, 7000}
	for i, t0 := range ts {
		appendOne(t, l, recordbatch.Build(2, 20, t0))
		if i == 2 || i == 5 {
			if err := l.Roll(); err != nil {
				t.Fatal(err)
			}
		}
	}
	check := func(t *testing.T, l *log.Log) {
		// Kafka's answer: the first record (not batch) with timestamp >= q,
		// and that record's timestamp. Batch i holds offsets 2i (ts_i) and
		// 2i+1 (ts_i+1); the records are uncompressed, so they are read.
		cases := []struct {
			q       int64
			off, ts int64
		}{
			{0, 0, 1000},
			{1001, 1, 1001},
			{1002, 2, 2000},     // batch 1 at offset 2
			{2600, 4, 3000},     // batch 2 (3000) comes before batch 3 (2500) in offset order
			{3002, 8, 9000},     // first record >= 3002 is the 9000 one at offset 8
			{5500, 8, 9000},     //
			{9001, 9, 9001},     // the second record of that batch
			{9002, -1, -1},      // nothing that late
			{-1 << 62, 0, 1000}, // before everything
		}
		for _, c := range cases {
			off, ts, err := l.OffsetForTimestamp(c.q)
			if err != nil || off != c.off || ts != c.ts {
				t.Errorf("OffsetForTimestamp(%d) = %d (ts %d), %v; want %d (ts %d)", c.q, off, ts, err, c.off, c.ts)
			}
		}
		// ListOffsets MAX_TIMESTAMP: the record holding the largest timestamp.
		if maxTs, off, err := l.MaxTimestamp(); err != nil || maxTs != 9001 || off != 9 {
			t.Errorf("MaxTimestamp = %d at %d, %v; want 9001 at 9", maxTs, off, err)
		}
	}
	check(t, l)
	reopenAll(t, l, cfg, check)

	empty := openLog(t, t.TempDir(), cfg)
	if ts, off, err := empty.MaxTimestamp(); err != nil || ts != -1 || off != -1 {
		t.Fatalf("MaxTimestamp on an empty log = %d, %d, %v", ts, off, err)
	}
	if off, ts, err := empty.OffsetForTimestamp(0); err != nil || off != -1 || ts != -1 {
		t.Fatalf("OffsetForTimestamp on an empty log = %d, %d, %v", off, ts, err)
	}
}

func TestRollOnFullIndex(t *testing.T) {
	cfg := quietConfig()
	cfg.SegmentIndexBytes = 4 * 12 // the smallest allowed: 4 time index entries, one reserved
	cfg.IndexIntervalBytes = 0     // an index entry for every batch
	l := openLog(t, t.TempDir(), cfg)
	all := appendRecords(t, l, 40, 2, tsBase, 10)
	if l.NumSegments() < 5 {
		t.Fatalf("%d segments: a full index did not roll", l.NumSegments())
	}
	checkContents(t, l, all)
	for _, b := range all {
		// The batch's last record holds its max timestamp.
		h := b.header()
		if off, _, err := l.OffsetForTimestamp(h.MaxTimestamp); err != nil || off != h.LastOffset() {
			t.Fatalf("OffsetForTimestamp(%d) = %d, %v; want %d", h.MaxTimestamp, off, err, h.LastOffset())
		}
	}
	reopenAll(t, l, cfg, func(t *testing.T, l *log.Log) {
		checkContents(t, l, all)
		more := append(append([]storedBatch(nil), all...), appendRecords(t, l, 10, 2, tsBase+1000, 10)...)
		checkContents(t, l, more)
	})
}
