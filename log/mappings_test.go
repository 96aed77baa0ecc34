package log_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tributary-io/tributary/log"
	"github.com/tributary-io/tributary/recordbatch"
	"github.com/tributary-io/tributary/segment"
)

// How many memory mappings a broker holds, and what makes them grow. A
// partition's active segment maps its .log once (address space reserved
// for a whole segment), its .timeindex from its first batch and its
// .index from its first entry, after index.interval.bytes of batches: one
// to three mappings, whatever the partition's leadership does. Sealed
// segments add three each, at most Options.MappedSegments of them (the
// segment Cache parks the others). vm.max_map_count (65,530 by default)
// must hold 3 x partitions + 3 x MappedSegments.

// mappedFiles counts this process's memory mappings of files under dir
// by suffix (".log", ".index", ".timeindex"); the mappings of deleted
// files count under "deleted" too.
func mappedFiles(t *testing.T, dir string) map[string]int {
	t.Helper()
	b, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		t.Skipf("no /proc/self/maps: %v", err)
	}
	by := map[string]int{}
	for _, line := range strings.Split(string(b), "\n") {
		i := strings.IndexByte(line, '/')
		if i < 0 || !strings.HasPrefix(line[i:], dir+"/") {
			continue
		}
		path, deleted := strings.CutSuffix(line[i:], " (deleted)")
		by[filepath.Ext(path)]++
		if deleted {
			by["deleted"]++
		}
	}
	return by
}

func total(by map[string]int) int {
	return by[segment.LogSuffix] + by[segment.IndexSuffix] + by[segment.TimeIndexSuffix]
}

// TestPartitionMappingsFollowDataNotLeadershipChanges: a partition maps
// one file per kind of data it holds (its .log always, its .timeindex
// once it has a batch, its .index once it has an index entry), and what
// a failover does to a broker's replica (new leader epochs, a follower's
// truncation at its log end, a full truncation to its end while empty,
// its descriptor given up and taken again, a restart, a crash) adds none.
// This is what the 10,000-partition failover benchmark saw: 1, then 2,
// then 3 mappings a partition as its round-robin load reached every
// partition with a first batch, then past index.interval.bytes.
func TestPartitionMappingsFollowDataNotLeadershipChanges(t *testing.T) {
	const partitions = 12
	dir := t.TempDir()
	opts := quietOptions()
	d := log.DefaultConfig() // Kafka's index.interval.bytes, as a broker runs
	d.Logger = opts.Logger
	opts.Defaults = &d
	opts.OpenFiles = 4 // most partitions give their descriptor up and take it again
	m := openManager(t, dir, opts)
	topic, err := m.CreateTopic("t", partitions, nil)
	if err != nil {
		t.Fatal(err)
	}
	logs := topic.Partitions
	for _, l := range logs {
		l.SetReplicated(true)
	}
	want := func(stage string, perLog, perTime, perIndex int) {
		t.Helper()
		got := mappedFiles(t, dir)
		w := map[string]int{segment.LogSuffix: perLog * partitions, segment.TimeIndexSuffix: perTime * partitions,
			segment.IndexSuffix: perIndex * partitions}
		for _, suf := range []string{segment.LogSuffix, segment.TimeIndexSuffix, segment.IndexSuffix} {
			if got[suf] != w[suf] {
				t.Errorf("%s: %d mappings of %s files, want %d (%d partitions): %v", stage, got[suf], suf, w[suf], partitions, got)
			}
		}
	}
	epoch := int32(0)
	// failovers moves leadership k times: each partition becomes leader
	// under a new epoch, then follower (truncating at its log end, which
	// drops the epoch it led without data); with restart, every third
	// then restarts empty at its log end, as a follower whose leader's
	// log start passed it does (which drops its data: only while empty).
	failovers := func(k int, restart bool) {
		t.Helper()
		for range k {
			epoch++
			for i, l := range logs {
				if err := l.BecomeLeader(epoch); err != nil {
					t.Fatal(err)
				}
				if _, err := l.Truncate(l.NextOffset()); err != nil {
					t.Fatal(err)
				}
				if restart && i%3 == 0 {
					if err := l.TruncateFullyAndStartAt(l.NextOffset()); err != nil {
						t.Fatal(err)
					}
				}
			}
		}
	}
	appendEach := func(n int) {
		t.Helper()
		for _, l := range logs {
			for range n {
				b := recordbatch.Build(1, 100, time.Now().UnixMilli())
				recordbatch.SetBaseOffset(b, l.NextOffset())
				recordbatch.SetPartitionLeaderEpoch(b, epoch)
				if _, err := l.AppendAsFollower(b); err != nil {
					t.Fatal(err)
				}
			}
		}
	}

	want("created", 1, 0, 0)
	failovers(5, true)
	want("empty, after 5 leadership moves", 1, 0, 0)

	appendEach(1)
	want("one batch each", 1, 1, 0)
	failovers(5, false)
	want("one batch each, after 5 more leadership moves", 1, 1, 0)

	// One batch of one 100-byte record is under 200 bytes: 30 of them
	// pass index.interval.bytes (4096), and the next batch gets the
	// first offset index entry.
	appendEach(30)
	want("past index.interval.bytes", 1, 1, 1)
	failovers(5, false)
	want("past index.interval.bytes, after 5 more leadership moves", 1, 1, 1)

	crash := t.TempDir()
	copyTree(t, dir, crash)
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	for _, restart := range []struct{ dir, what string }{{dir, "restarted"}, {crash, "restarted after a crash"}} {
		dir = restart.dir // where want counts
		m = openManager(t, dir, opts)
		topic, _ = m.Topic("t")
		logs = topic.Partitions
		want(restart.what, 1, 1, 1)
		failovers(5, false)
		want(restart.what+", after 5 more leadership moves", 1, 1, 1)
		if err := m.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// TestManagerMappingsStayBoundedThroughTruncations: partitions that keep
// taking data and cutting it back again, as replicas whose leadership
// moves do (follower truncation into sealed segments, by copy while a
// reader holds the segment; full truncation; reads that map parked
// segments again), hold at most three mappings per partition plus three
// per MappedSegments after every round, and none of a deleted file once
// their readers let go: nothing accumulates round after round.
func TestManagerMappingsStayBoundedThroughTruncations(t *testing.T) {
	const partitions, mapped, rounds = 12, 6, 6
	dir := t.TempDir()
	opts := quietOptions()
	opts.OpenFiles = 4
	opts.MappedSegments = mapped
	opts.FlushSchedulerInterval = time.Hour // the test flushes
	m := openManager(t, dir, opts)
	topic, err := m.CreateTopic("t", partitions, map[string]string{log.ConfigSegmentBytes: "8192"})
	if err != nil {
		t.Fatal(err)
	}
	logs := topic.Partitions
	now := time.Now().UnixMilli() // within retention.ms
	ends := make([]int64, partitions)
	for i, l := range logs {
		l.SetReplicated(true)
		if err := l.BecomeLeader(0); err != nil {
			t.Fatal(err)
		}
		appendRecords(t, l, 40, 5, now, 1)
		ends[i] = l.NextOffset()
	}
	limit := 3*partitions + 3*mapped
	for round := 1; round <= rounds; round++ {
		for i, l := range logs {
			if err := l.BecomeLeader(int32(round)); err != nil {
				t.Fatal(err)
			}
			appendRecords(t, l, 40, 5, now, 1) // several segments past ends[i]
			var held log.Batches
			if i%2 == 0 {
				// A reader of the segment the truncation keeps: it is
				// cut by a copy, and the reader keeps the old file.
				if held, err = l.Read(ends[i]-1, 1); err != nil {
					t.Fatal(err)
				}
			}
			if i%4 == 1 {
				if err := l.TruncateFullyAndStartAt(l.NextOffset()); err != nil {
					t.Fatal(err)
				}
				appendRecords(t, l, 40, 5, now, 1)
			} else if _, err := l.Truncate(ends[i]); err != nil {
				t.Fatal(err)
			}
			held.Release()
			ends[i] = l.NextOffset()
		}
		for _, l := range logs {
			if err := l.Sync(); err != nil {
				t.Fatal(err)
			}
			readAll(t, l) // maps parked segments again, through the cache
		}
		got := mappedFiles(t, dir)
		if n := total(got); n > limit || got["deleted"] > 0 {
			t.Errorf("round %d: %d mappings (%d of deleted files), want at most %d (%d partitions, MappedSegments %d) and none deleted: %v",
				round, n, got["deleted"], limit, partitions, mapped, got)
		}
	}
}

// TestManagerParksRolledSegmentsOnceFlushed: the segments a burst of
// rolls seals before any flush cannot be parked when the cache takes
// them (they still hold their descriptors); the flush that covers them
// (Sync here, the Manager's flush of rolled segments alike: both go
// through syncTo) parks them, so the broker keeps no more than
// MappedSegments sealed segments mapped, not every segment rolled since
// the cache last took one.
func TestManagerParksRolledSegmentsOnceFlushed(t *testing.T) {
	const partitions, mapped = 3, 4
	dir := t.TempDir()
	opts := quietOptions()
	opts.MappedSegments = mapped
	opts.FlushSchedulerInterval = time.Hour // nothing flushes during the burst
	m := openManager(t, dir, opts)
	topic, err := m.CreateTopic("t", partitions, map[string]string{log.ConfigSegmentBytes: "16384"})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UnixMilli()
	for _, l := range topic.Partitions {
		appendRecords(t, l, 200, 5, now, 1)
		if l.NumSegments() <= mapped {
			t.Fatalf("%d segments, want more than MappedSegments %d", l.NumSegments(), mapped)
		}
	}
	limit := 3*partitions + 3*mapped
	for _, l := range topic.Partitions {
		if err := l.Sync(); err != nil {
			t.Fatal(err)
		}
	}
	if got := mappedFiles(t, dir); total(got) > limit {
		t.Errorf("after every partition's Sync: %d mappings, want at most %d: %v", total(got), limit, got)
	}
}
