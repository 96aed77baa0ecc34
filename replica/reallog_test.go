package replica

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/tributary-io/tributary/log"
	"github.com/tributary-io/tributary/recordbatch"
)

// Replication between real partition logs (package log), through the
// in-process leader node.

func realConfig() log.Config {
	c := log.DefaultConfig()
	c.SegmentIndexBytes = 16 << 10
	c.Logger = slog.New(slog.DiscardHandler)
	return c
}

// openRealLog opens the partition log in dir and closes it when the test
// ends.
func openRealLog(t *testing.T, dir string, cfg log.Config) *log.Log {
	t.Helper()
	l, err := log.Open(dir, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// logBatches is every batch of l from its log start, gaps skipped.
func logBatches(t *testing.T, l Log) [][]byte {
	t.Helper()
	var out [][]byte
	for off := l.StartOffset(); off < l.NextOffset(); {
		b, err := l.Read(off, 1<<20)
		if err != nil {
			t.Fatalf("read at %d: %v", off, err)
		}
		if len(b.Data) == 0 {
			b.Release()
			break
		}
		for p := 0; p < len(b.Data); {
			h, err := recordbatch.ParseHeader(b.Data[p:])
			if err != nil {
				b.Release()
				t.Fatalf("read at %d: %v", off, err)
			}
			out = append(out, bytes.Clone(b.Data[p:p+h.Size()]))
			off, p = h.NextOffset(), p+h.Size()
		}
		b.Release()
	}
	return out
}

// sameRealLogs reports whether the follower holds the leader's batches,
// byte for byte, from the follower's log start, and ends where it ends.
func sameRealLogs(t *testing.T, leader, follower Log) func() bool {
	return func() bool {
		if follower.NextOffset() != leader.NextOffset() {
			return false
		}
		want := logBatches(t, leader)
		start := follower.StartOffset()
		want = slices.DeleteFunc(want, func(b []byte) bool { return hdr(b).NextOffset() <= start })
		return slices.EqualFunc(logBatches(t, follower), want, bytes.Equal)
	}
}

// keyed is a batch of n records with keys key-<k>, k from first.
func keyed(t *testing.T, first, n int) []byte {
	t.Helper()
	recs := make([]recordbatch.Record, n)
	for i := range recs {
		recs[i] = recordbatch.Record{Offset: int64(i), Timestamp: 1000, Key: fmt.Appendf(nil, "key-%d", first+i), Value: []byte("value")}
	}
	b, err := recordbatch.Encode(nil, recordbatch.BatchOptions{}, recs)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestRealFollowerBelowLeaderStartRestartsThere: a follower whose log
// ends below the leader's log start (the leader deleted records while it
// was away) gets OFFSET_OUT_OF_RANGE, restarts its log empty at the
// leader's start (TruncateFullyAndStartAt) and copies the rest; its log
// survives a restart as it is.
func TestRealFollowerBelowLeaderStartRestartsThere(t *testing.T) {
	node := newLeaderNode((&kmsg.FetchRequest{}).MaxVersion())
	ll := openRealLog(t, t.TempDir(), realConfig())
	for i := range 10 {
		if _, err := ll.Append(recordbatch.Build(2, 8, int64(1000+i))); err != nil {
			t.Fatal(err)
		}
	}
	// The follower copied the first 3 batches, then went away.
	fdir := t.TempDir()
	fl := openRealLog(t, fdir, realConfig())
	for _, b := range logBatches(t, ll)[:3] {
		if _, err := fl.AppendAsFollower(b); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := ll.DeleteRecordsBefore(13); err != nil {
		t.Fatal(err)
	}
	st := leaderState(1)
	ld := startLeader(t, node, ll, st, 1)
	for range 2 {
		if _, err := ll.Append(recordbatch.Build(2, 8, 2000)); err != nil {
			t.Fatal(err)
		}
		ld.Appended()
	}
	m := newFollowerManager(t, 2)
	if err := m.BecomeFollower(fl, st, node); err != nil {
		t.Fatal(err)
	}
	eventually(t, "follower to restart at the leader's start and copy the rest", sameRealLogs(t, ll, fl))
	if s := fl.StartOffset(); s != 13 {
		t.Fatalf("follower starts at %d, want 13", s)
	}
	if got := fl.LeaderEpochEntries(); len(got) != 1 || got[0].Epoch != 1 {
		t.Fatalf("follower's epochs %v, want epoch 1 only (the old log's are gone)", got)
	}
	m.Close()
	if err := fl.Close(); err != nil {
		t.Fatal(err)
	}
	r := openRealLog(t, fdir, realConfig())
	if ri := r.Recovery(); len(ri.Lost) != 0 {
		t.Fatalf("reopened follower lost %v", ri.Lost)
	}
	if !sameRealLogs(t, ll, r)() || r.StartOffset() != 13 {
		t.Fatalf("reopened follower [%d, %d) differs from the leader's log", r.StartOffset(), r.NextOffset())
	}
}

// TestRealFollowerCopiesCompactedLeaderAndItsLogStart: a follower copies
// a compacted leader's log with its offset gaps, through the fetcher and
// the log's validation, then follows the leader's log start up after a
// DeleteRecords; after a restart its log is the leader's, no gap
// reported lost.
func TestRealFollowerCopiesCompactedLeaderAndItsLogStart(t *testing.T) {
	node := newLeaderNode((&kmsg.FetchRequest{}).MaxVersion())
	cfg := realConfig()
	cfg.CleanupPolicy = log.CleanupPolicyCompact
	cfg.SegmentBytes = 4 << 10
	ll := openRealLog(t, t.TempDir(), cfg)
	// Led at epoch 0 first, as a single broker's Manager does, so the
	// leader's epoch cache knows the epoch its first batches carry.
	if err := ll.BecomeLeader(0); err != nil {
		t.Fatal(err)
	}
	for i := range 200 {
		// Keys 0-29 are rewritten over and over, 30 and up are not.
		first := i % 30
		if i%4 == 0 {
			first = 30 + i
		}
		if _, err := ll.Append(keyed(t, first, 1+i%3)); err != nil {
			t.Fatal(err)
		}
	}
	if err := ll.Roll(); err != nil {
		t.Fatal(err)
	}
	if _, err := ll.Compact(); err != nil {
		t.Fatal(err)
	}
	st := leaderState(1)
	ld := startLeader(t, node, ll, st, 1)
	if _, err := ll.Append(keyed(t, 1000, 2)); err != nil {
		t.Fatal(err)
	}
	ld.Appended()
	gaps, prev := 0, int64(0)
	for _, b := range logBatches(t, ll) {
		if h := hdr(b); h.BaseOffset > prev {
			gaps++
		}
		prev = hdr(b).NextOffset()
	}
	if gaps < 5 {
		t.Fatalf("the compacted leader has %d gaps, want some", gaps)
	}

	fcfg := cfg
	fcfg.SegmentBytes = 1500 // its own segment boundaries
	fdir := t.TempDir()
	fl := openRealLog(t, fdir, fcfg)
	m := newFollowerManager(t, 2)
	if err := m.BecomeFollower(fl, st, node); err != nil {
		t.Fatal(err)
	}
	eventually(t, "follower to copy the compacted log", sameRealLogs(t, ll, fl))
	eventually(t, "leader's high watermark to reach its end", func() bool { return ll.HighWatermark() == ll.NextOffset() })
	start := ll.HighWatermark() - 3
	if _, err := ll.DeleteRecordsBefore(start); err != nil {
		t.Fatal(err)
	}
	eventually(t, "follower to follow the leader's log start", func() bool { return fl.StartOffset() == start })
	if b, err := fl.Read(start-1, 1<<20); !errors.Is(err, log.ErrOffsetOutOfRange) {
		b.Release()
		t.Fatalf("follower read below its log start %d: %v, want ErrOffsetOutOfRange", start, err)
	}
	m.Close()
	if err := fl.Close(); err != nil {
		t.Fatal(err)
	}
	r := openRealLog(t, fdir, fcfg)
	if ri := r.Recovery(); len(ri.Lost) != 0 || len(ri.Gaps) != 0 {
		t.Fatalf("reopened follower reported lost offsets %v, gaps %v", ri.Lost, ri.Gaps)
	}
	if !sameRealLogs(t, ll, r)() || r.StartOffset() != start {
		t.Fatalf("reopened follower [%d, %d) differs from the leader's log", r.StartOffset(), r.NextOffset())
	}
}
