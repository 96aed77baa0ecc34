package log_test

import (
	"bytes"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/tributary-io/tributary/log"
	"github.com/tributary-io/tributary/recordbatch"
)

// compactedLeader is a leader's compacted log, with offset gaps between
// batches, inside batches and between segments, its batches stamped with
// epochs 1 and 2 and written by an idempotent producer; its last batch
// ends at the log end.
func compactedLeader(t *testing.T) *log.Log {
	t.Helper()
	clock := newFakeClock(tsBase)
	l := openLog(t, t.TempDir(), compactConfig(2<<10, clock))
	rng := rand.New(rand.NewPCG(14, 3))
	m := newCompactModel()
	for epoch := int32(1); epoch <= 2; epoch++ {
		if err := l.BecomeLeader(epoch); err != nil {
			t.Fatal(err)
		}
		randomWorkload(t, l, m, rng, clock, 150, 150, true)
		if err := l.Roll(); err != nil {
			t.Fatal(err)
		}
		if _, err := l.Compact(); err != nil {
			t.Fatal(err)
		}
	}
	appendKeyed(t, l, recordbatch.CodecNone, nil, []rec{{ts: clock.Now().UnixMilli(), key: []byte("last"), value: []byte("v")}})
	gaps := 0
	batches := readBatches(t, l)
	for i := 1; i < len(batches); i++ {
		if batches[i].base > batches[i-1].next() {
			gaps++
		}
	}
	if gaps < 5 {
		t.Fatalf("the leader's compacted log has %d gaps between its %d batches, want some", gaps, len(batches))
	}
	return l
}

// copyAsFollower appends the leader's batches from the follower's log end
// on, fetchBytes at a time, as a replica fetcher does, until it has
// copied upTo (at most the leader's log end).
func copyAsFollower(t *testing.T, leader, follower *log.Log, fetchBytes int, upTo int64) {
	t.Helper()
	for follower.NextOffset() < upTo {
		b, err := leader.Read(follower.NextOffset(), fetchBytes)
		if err != nil || len(b.Data) == 0 {
			t.Fatalf("leader read at %d: %d bytes, %v", follower.NextOffset(), len(b.Data), err)
		}
		fetched := bytes.Clone(b.Data)
		b.Release()
		if _, err := follower.AppendAsFollower(fetched); err != nil {
			t.Fatalf("follower append at %d: %v", follower.NextOffset(), err)
		}
	}
}

// wantCopyOf checks that follower holds the leader's batches byte for
// byte at the same offsets, the same log end and the same epochs, and
// that its recovery reported no offset lost.
func wantCopyOf(t *testing.T, leader, follower *log.Log) {
	t.Helper()
	if ri := follower.Recovery(); len(ri.Lost) != 0 || len(ri.Gaps) != 0 || ri.TruncatedBytes != 0 {
		t.Fatalf("recovery of the follower: lost %v, gaps %v, %d bytes truncated", ri.Lost, ri.Gaps, ri.TruncatedBytes)
	}
	if follower.NextOffset() != leader.NextOffset() {
		t.Fatalf("follower ends at %d, leader at %d", follower.NextOffset(), leader.NextOffset())
	}
	want, got := readBatches(t, leader), readBatches(t, follower)
	if len(got) != len(want) {
		t.Fatalf("follower holds %d batches, leader %d", len(got), len(want))
	}
	for i := range want {
		if got[i].base != want[i].base || !bytes.Equal(got[i].data, want[i].data) {
			t.Fatalf("batch %d: follower's at %d, leader's at %d, same bytes %v", i, got[i].base, want[i].base, bytes.Equal(got[i].data, want[i].data))
		}
	}
	// Each epoch begins, for the follower, at the first batch of it that
	// the cleaner left (the leader's own entry may lie in a gap before).
	var we []log.EpochEntry
	for _, b := range want {
		if h := b.header(); len(we) == 0 || h.PartitionLeaderEpoch > we[len(we)-1].Epoch {
			we = append(we, log.EpochEntry{Epoch: h.PartitionLeaderEpoch, StartOffset: h.BaseOffset})
		}
	}
	if ge := follower.LeaderEpochEntries(); !slices.Equal(we, ge) || len(ge) != 2 {
		t.Fatalf("follower's epochs %v, want %v", ge, we)
	}
}

// TestFollowerCopiesCompactedLeaderWithGaps: a follower copies a
// compacted leader's log, gaps included, with segments of its own size;
// after a clean restart, a kill -9 (with or without its recovery
// checkpoint, so that every gap is scanned) and a kill -9 in the middle
// of the copy, its log is the leader's and recovery reports no offset
// lost. Without the cleaned offset its appends moved, recovery would take
// the gaps for damage (the last case shows the test can tell).
func TestFollowerCopiesCompactedLeaderWithGaps(t *testing.T) {
	leader := compactedLeader(t)
	tests := []struct {
		name        string
		midCopy     bool // crash when half the leader is copied, then copy the rest
		crash       bool
		rm          []string // files removed from the crash copy
		wantDamaged bool
	}{
		{name: "clean restart"},
		{name: "kill -9", crash: true},
		{name: "kill -9 without the recovery checkpoint", crash: true, rm: []string{log.CheckpointFile}},
		{name: "kill -9 in the middle of the copy", crash: true, midCopy: true},
		{name: "without the cleaned offset gaps are damage", crash: true,
			rm: []string{log.CheckpointFile, log.CleanerCheckpointFile}, wantDamaged: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := compactConfig(700, newFakeClock(tsBase)) // its own segment boundaries
			follower := openLog(t, t.TempDir(), cfg)
			upTo := leader.NextOffset()
			if tt.midCopy {
				upTo = leader.NextOffset() / 2
			}
			copyAsFollower(t, leader, follower, 1500, upTo)
			if follower.NumSegments() < 4 && !tt.midCopy {
				t.Fatalf("follower has %d segments, want several", follower.NumSegments())
			}
			dir := follower.Dir()
			if tt.crash {
				dir = crashCopy(t, dir)
				for _, name := range tt.rm {
					if err := os.Remove(filepath.Join(dir, name)); err != nil {
						t.Fatal(err)
					}
				}
			} else if err := follower.Close(); err != nil {
				t.Fatal(err)
			}
			r := openLog(t, dir, cfg)
			if tt.wantDamaged {
				if ri := r.Recovery(); len(ri.Lost) == 0 && ri.TruncatedBytes == 0 {
					t.Fatal("recovery without the cleaned offset took no gap for damage: the test cannot tell")
				}
				return
			}
			if !tt.crash && !r.Recovery().Clean {
				t.Error("clean restart recovered")
			}
			copyAsFollower(t, leader, r, 1500, leader.NextOffset())
			wantCopyOf(t, leader, r)
		})
	}
}
