package log_test

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tributary-io/tributary/log"
	"github.com/tributary-io/tributary/recordbatch"
	"github.com/tributary-io/tributary/segment"
)

// crashCopyTree copies a live data dir, as a restart after kill -9 finds it.
func crashCopyTree(t *testing.T, dir string) string {
	t.Helper()
	dst := t.TempDir()
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		copyFile(t, path, filepath.Join(dst, rel))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

// TestManagerCleanShutdownMarker: a Manager's clean stop leaves the data
// dir's clean-shutdown marker, and the next open trusts it (nothing
// scanned) and removes it at once; after a crash there is no marker, and
// every partition is recovered, also one untouched since the clean open
// whose own checkpoint still says clean.
func TestManagerCleanShutdownMarker(t *testing.T) {
	dir := t.TempDir()
	opts := quietOptions()
	m, err := log.OpenManager(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	topic, err := m.CreateTopic("events", 3, nil)
	if err != nil {
		t.Fatal(err)
	}
	acked := map[int][]storedBatch{}
	for p := range 2 {
		acked[p] = appendRecords(t, topic.Partitions[p], 3, 2, tsBase, 1)
	}
	// Partition 1's log start moves past its first batch.
	if _, err := topic.Partitions[1].DeleteRecordsBefore(2); err != nil {
		t.Fatal(err)
	}
	acked[1] = acked[1][1:]
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	marker := filepath.Join(dir, log.CleanShutdownFile)
	if _, err := os.Stat(marker); err != nil {
		t.Fatalf("no clean shutdown marker after Close: %v", err)
	}
	// A small log without producers gets no snapshot file (its headers
	// are read at the next open instead). Only a log whose start offset
	// is not its first segment's base needs a checkpoint file after a
	// clean stop: the marker says every partition is clean to its end.
	for p := range 3 {
		pd := filepath.Join(dir, "events-"+string(rune('0'+p)))
		if _, err := os.Stat(filepath.Join(pd, log.ProducerSnapshotFile)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("partition %d: producer snapshot of a small log without producers: %v", p, err)
		}
		_, err := os.Stat(filepath.Join(pd, log.CheckpointFile))
		if p == 1 && err != nil {
			t.Errorf("partition %d: no checkpoint after a clean stop with a moved log start: %v", p, err)
		}
		if p != 1 && !errors.Is(err, os.ErrNotExist) {
			t.Errorf("partition %d: a clean stop wrote a checkpoint the next open does not need: %v", p, err)
		}
	}

	m, err = log.OpenManager(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { m.Close() }()
	if _, err := os.Stat(marker); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("marker still there while the Manager runs: %v", err)
	}
	topic, _ = m.Topic("events")
	for p, l := range topic.Partitions {
		if !l.Recovery().Clean {
			t.Errorf("partition %d: open after a clean stop was not clean: %+v", p, l.Recovery())
		}
		checkContents(t, l, acked[p])
	}
	if got := topic.Partitions[1].StartOffset(); got != 2 {
		t.Errorf("partition 1: log start offset %d after a clean stop, want 2", got)
	}
	acked[0] = append(acked[0], appendOne(t, topic.Partitions[0], recordbatch.Build(1, 100, tsBase+10)))

	// kill -9 now, with a torn batch at the end of partition 0.
	crashed := crashCopyTree(t, dir)
	os.Remove(filepath.Join(crashed, ".lock"))
	torn := filepath.Join(crashed, "events-0", segment.FileName(0, segment.LogSuffix))
	f, err := os.OpenFile(torn, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.Write(recordbatch.Build(5, 100, tsBase)[:70])
	f.Close()

	c, err := log.OpenManager(crashed, opts)
	if err != nil {
		t.Fatal(err)
	}
	ct, _ := c.Topic("events")
	for p, l := range ct.Partitions {
		if l.Recovery().Clean {
			t.Errorf("partition %d: open after a crash was clean: %+v", p, l.Recovery())
		}
		checkContents(t, l, acked[p])
	}
	if got := ct.Partitions[0].Recovery().TruncatedBytes; got != 70 {
		t.Errorf("recovery cut %d bytes of the torn batch, want 70", got)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	// Recovered, stopped cleanly: clean again.
	c, err = log.OpenManager(crashed, opts)
	if err != nil {
		t.Fatal(err)
	}
	ct, _ = c.Topic("events")
	for p, l := range ct.Partitions {
		if !l.Recovery().Clean {
			t.Errorf("partition %d: open after recovery and a clean stop was not clean", p)
		}
		checkContents(t, l, acked[p])
	}
	c.Close()
}

// fdsUnder counts this process's file descriptors open on files in dir.
func fdsUnder(t *testing.T, dir string) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("no /proc/self/fd: %v", err)
	}
	n := 0
	for _, e := range ents {
		if target, err := os.Readlink(filepath.Join("/proc/self/fd", e.Name())); err == nil && filepath.Dir(target) == dir {
			n++
		}
	}
	return n
}

// TestManagerFlushesRolledSegments: with Kafka's default flush settings
// (never), a rolled segment is still flushed soon after the roll, as Kafka
// does: its file descriptor is released (a partition holds one, its active
// segment's, however many segments it has) and the recovery point moves
// past it.
func TestManagerFlushesRolledSegments(t *testing.T) {
	opts := quietOptions()
	opts.FlushSchedulerInterval = 10 * time.Millisecond
	m := openManager(t, t.TempDir(), opts)
	topic, err := m.CreateTopic("events", 1, map[string]string{log.ConfigSegmentBytes: "16384"})
	if err != nil {
		t.Fatal(err)
	}
	l := topic.Partitions[0]
	acked := appendRecords(t, l, 200, 5, tsBase, 1)
	if l.NumSegments() < 4 {
		t.Fatalf("%d segments, want several", l.NumSegments())
	}
	deadline := time.Now().Add(5 * time.Second)
	for fdsUnder(t, l.Dir()) > 1 || l.FlushedOffset() == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d segments hold %d descriptors, flushed offset %d, 5 s after the rolls; want 1 and past the sealed segments",
				l.NumSegments(), fdsUnder(t, l.Dir()), l.FlushedOffset())
		}
		time.Sleep(10 * time.Millisecond)
	}
	checkContents(t, l, acked)
}

// mappingsUnder counts this process's memory mappings of files in dir's
// subdirectories.
func mappingsUnder(t *testing.T, dir string) int {
	t.Helper()
	b, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		t.Skipf("no /proc/self/maps: %v", err)
	}
	n := 0
	for _, line := range strings.Split(string(b), "\n") {
		if i := strings.IndexByte(line, '/'); i >= 0 && strings.HasPrefix(line[i:], dir+"/") {
			n++
		}
	}
	return n
}

// TestManagerBoundsMappedSegments: with MappedSegments=4, a data dir of
// 3 partitions of 8 or so segments each keeps at most 4 sealed segments
// mapped (plus each active segment), after a restart and while every
// batch of every segment is read, in any order.
func TestManagerBoundsMappedSegments(t *testing.T) {
	dir := t.TempDir()
	opts := quietOptions()
	opts.MappedSegments = 4
	opts.FlushSchedulerInterval = 10 * time.Millisecond
	m, err := log.OpenManager(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	topic, err := m.CreateTopic("events", 3, map[string]string{log.ConfigSegmentBytes: "16384"})
	if err != nil {
		t.Fatal(err)
	}
	acked := map[int][]storedBatch{}
	for p, l := range topic.Partitions {
		acked[p] = appendRecords(t, l, 200, 5, tsBase, 1)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	m = openManager(t, dir, opts)
	topic, _ = m.Topic("events")
	// Active segments: three mappings each (the .log and both indexes).
	limit := 3*opts.MappedSegments + 3*len(topic.Partitions)
	if n := mappingsUnder(t, dir); n > limit {
		t.Errorf("after the restart: %d mappings, want at most %d", n, limit)
	}
	for round := range 2 {
		for p := len(topic.Partitions) - 1; p >= 0; p-- {
			checkContents(t, topic.Partitions[p], acked[p])
			if n := mappingsUnder(t, dir); n > limit {
				t.Errorf("round %d, partition %d read: %d mappings, want at most %d", round, p, n, limit)
			}
		}
	}
}

// TestCompactedSegmentsJoinTheMappedSegmentCache: the segments the log
// cleaner swaps in are bounded by MappedSegments as any other sealed
// segment, not mapped for good.
func TestCompactedSegmentsJoinTheMappedSegmentCache(t *testing.T) {
	dir := t.TempDir()
	opts := quietOptions()
	opts.MappedSegments = 1
	opts.CleanerBackoff = 1 << 40
	opts.FlushSchedulerInterval = 10 * time.Millisecond
	m := openManager(t, dir, opts)
	topic, err := m.CreateTopic("keyed", 3, map[string]string{
		"cleanup.policy": "compact", "segment.bytes": "4096", "segment.index.bytes": "4096",
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range topic.Partitions {
		for i := range 800 {
			// Each key twice: the cleaner removes the first half and
			// swaps cleaned segments in for every sealed one.
			appendKeyed(t, l, recordbatch.CodecNone, nil, []rec{{ts: tsBase + int64(i),
				key: fmt.Appendf(nil, "key-%d", i%400), value: fmt.Appendf(nil, "value-%d", i)}})
		}
		if err := l.Sync(); err != nil {
			t.Fatal(err)
		}
	}
	for _, l := range topic.Partitions {
		st, err := l.Compact()
		if err != nil {
			t.Fatal(err)
		}
		if st.SegmentsCleaned == 0 || st.RecordsRemoved == 0 {
			t.Fatalf("nothing cleaned: %+v", st)
		}
		if l.NumSegments() < 4 {
			t.Fatalf("%d segments after cleaning: too few to tell", l.NumSegments())
		}
	}
	// Every record of every partition read (the cache parks as segments
	// are mapped again); active segments: three mappings each.
	limit := 3*opts.MappedSegments + 3*len(topic.Partitions)
	for _, l := range topic.Partitions {
		if got := len(readRecords(t, l)); got < 400 {
			t.Fatalf("%d records after cleaning 400 keys, want at least 400", got)
		}
	}
	if n := mappingsUnder(t, dir); n > limit {
		t.Errorf("after cleaning and reading: %d mappings, want at most %d", n, limit)
	}
}

// TestCleanStopOfSmallIdempotentLogsWritesNoProducerSnapshot: a small log
// whose idempotent producer's batches are all still in it gets no producer
// snapshot file at a clean stop (the next open rebuilds the producer from
// the batch headers, and a retry of its last batch is still a duplicate);
// one whose log start moved past some of them gets its snapshot.
func TestCleanStopOfSmallIdempotentLogsWritesNoProducerSnapshot(t *testing.T) {
	dir := t.TempDir()
	opts := quietOptions()
	m, err := log.OpenManager(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	topic, err := m.CreateTopic("idem", 2, nil)
	if err != nil {
		t.Fatal(err)
	}
	var last []byte // partition 0's last batch, for the retry
	for p, l := range topic.Partitions {
		seq := int32(0)
		for i := range 3 {
			b, err := recordbatch.Encode(nil, recordbatch.BatchOptions{Idempotent: true, ProducerID: 7, BaseSequence: seq},
				[]recordbatch.Record{{Timestamp: tsBase + int64(i), Value: []byte("v")}})
			if err != nil {
				t.Fatal(err)
			}
			if p == 0 {
				last = bytes.Clone(b)
			}
			if _, err := l.AppendBatches(b); err != nil {
				t.Fatal(err)
			}
			seq++
		}
	}
	if _, err := topic.Partitions[1].DeleteRecordsBefore(1); err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	for p, want := range []bool{false, true} {
		_, err := os.Stat(filepath.Join(dir, "idem-"+strconv.Itoa(p), log.ProducerSnapshotFile))
		if got := err == nil; got != want {
			t.Errorf("partition %d: producer snapshot written %v, want %v (%v)", p, got, want, err)
		}
	}
	m = openManager(t, dir, opts)
	topic, _ = m.Topic("idem")
	for p, l := range topic.Partitions {
		if !l.Recovery().Clean {
			t.Errorf("partition %d: open after a clean stop was not clean", p)
		}
	}
	info, err := topic.Partitions[0].AppendBatches(last)
	if err != nil || !info.Duplicate || info.BaseOffset != 2 {
		t.Fatalf("retry of the last batch after the restart: %+v, %v; want a duplicate at offset 2", info, err)
	}
}
