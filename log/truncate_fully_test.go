package log_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/tributary-io/tributary/internal/framedfile"
	"github.com/tributary-io/tributary/log"
	"github.com/tributary-io/tributary/recordbatch"
)

// A follower's log of three segments, [0, 20), [20, 40) and [40, 60),
// with epochs 1 and 2, a producer's batches, and a high watermark at 50,
// restarted empty at start.
type fullTruncateCase struct {
	name  string
	start int64
	held  int64 // a reader's view across the truncation; < 0: none
}

var fullTruncateCases = []fullTruncateCase{
	{"past the log end", 500, -1},
	{"past the log end, a view held", 500, 45},
	{"at the log end", 60, -1},
	{"inside the log", 30, 5},
	{"at zero", 0, -1},
}

// fullTruncateLog builds the log of fullTruncateCase.
func fullTruncateLog(t *testing.T, cfg log.Config) *log.Log {
	t.Helper()
	l := openLog(t, t.TempDir(), cfg)
	l.SetReplicated(true)
	off := int64(0)
	for s := range 3 {
		for i := range 4 {
			var b []byte
			if s == 1 && i == 0 {
				b = pidBatch(pb{pid: 7, epoch: 0, seq: 0, n: 5})
			} else {
				b = recordbatch.Build(5, 20, tsBase)
			}
			recordbatch.SetBaseOffset(b, off)
			recordbatch.SetPartitionLeaderEpoch(b, int32(1+s/2))
			if _, err := l.AppendAsFollower(b); err != nil {
				t.Fatal(err)
			}
			off += 5
		}
		if s < 2 {
			if err := l.Roll(); err != nil {
				t.Fatal(err)
			}
		}
	}
	l.SetHighWatermark(50)
	return l
}

// wantRestartedAt checks a log restarted empty at start: bounds, high
// watermark, epochs, producers, no gap reported; and that a follower
// append at start, and a leader's append after it, go on from there.
func wantRestartedAt(t *testing.T, l *log.Log, start int64, replicated bool) {
	t.Helper()
	if l.StartOffset() != start || l.NextOffset() != start {
		t.Fatalf("log [%d, %d), want empty at %d", l.StartOffset(), l.NextOffset(), start)
	}
	l.SetReplicated(replicated)
	if hw := l.HighWatermark(); hw != start {
		t.Fatalf("high watermark %d, want %d", hw, start)
	}
	if e := l.LeaderEpoch(); e != -1 || len(l.LeaderEpochEntries()) != 0 {
		t.Fatalf("leader epoch cache %v (latest %d), want empty", l.LeaderEpochEntries(), e)
	}
	if ri := l.Recovery(); len(ri.Lost) != 0 || len(ri.Gaps) != 0 {
		t.Fatalf("recovery reported lost offsets %v, gaps %v", ri.Lost, ri.Gaps)
	}
	if len(readAll(t, l)) != 0 {
		t.Fatal("the restarted log holds batches")
	}
	if _, err := l.AppendAsFollower(leaderBatch(start, 3, 2)); err != nil {
		t.Fatalf("follower append at the new start: %v", err)
	}
	if err := l.BecomeLeader(4); err != nil {
		t.Fatal(err)
	}
	// Producer 7's state went with the log: its next sequence is unknown.
	if _, err := l.AppendBatches(pidBatch(pb{pid: 7, epoch: 0, seq: 1, n: 1})); !errors.Is(err, log.ErrUnknownProducerID) {
		t.Fatalf("producer of the old log continuing: %v, want ErrUnknownProducerID", err)
	}
	if _, err := l.AppendBatches(recordbatch.Build(1, 20, tsBase)); err != nil {
		t.Fatal(err)
	}
	wantEpochs(t, l, log.EpochEntry{Epoch: 3, StartOffset: start}, log.EpochEntry{Epoch: 4, StartOffset: start + 2})
}

func TestTruncateFullyAndStartAtRestartsTheLogEmpty(t *testing.T) {
	for _, tc := range fullTruncateCases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := quietConfig()
			l := fullTruncateLog(t, cfg)
			var view log.Batches
			var held []byte
			if tc.held >= 0 {
				var err error
				if view, err = l.Read(tc.held, 1<<20); err != nil {
					t.Fatal(err)
				}
				held = bytes.Clone(view.Data)
				defer view.Release()
			}
			if err := l.TruncateFullyAndStartAt(tc.start); err != nil {
				t.Fatal(err)
			}
			if tc.held >= 0 && !bytes.Equal(view.Data, held) {
				t.Fatal("a held view's bytes changed")
			}
			if l.NumSegments() != 1 {
				t.Fatalf("%d segments, want 1", l.NumSegments())
			}
			if _, err := os.Stat(filepath.Join(l.Dir(), log.TruncateIntentFile)); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("truncate intent left: %v", err)
			}
			wantOutOfRange(t, l, tc.start+100)
			if tc.start > 0 {
				wantOutOfRange(t, l, tc.start-1)
			}
			if l.StartOffset() != tc.start || l.NextOffset() != tc.start || l.HighWatermark() != tc.start {
				t.Fatalf("log [%d, %d) hw %d, want all %d", l.StartOffset(), l.NextOffset(), l.HighWatermark(), tc.start)
			}
			reopenAll(t, l, cfg, func(t *testing.T, r *log.Log) { wantRestartedAt(t, r, tc.start, true) })
		})
	}
}

// TestTruncateFullyAndStartAtCrashAtEveryStep stops the full truncation
// at each step as a crash would: the copy of the directory opens to the
// restarted log, with no offset reported lost, and the stopped log is
// poisoned.
func TestTruncateFullyAndStartAtCrashAtEveryStep(t *testing.T) {
	for _, tc := range fullTruncateCases {
		for _, step := range []string{"truncate: intent", "truncate: cut", "truncate: checkpointed"} {
			t.Run(tc.name+"/"+step, func(t *testing.T) {
				cfg := quietConfig()
				l := fullTruncateLog(t, cfg)
				var crashed string
				log.SetSwapHook(l, func(s string) error {
					if s == step && crashed == "" {
						crashed = crashCopy(t, l.Dir())
						return errors.New("crash")
					}
					return nil
				})
				if err := l.TruncateFullyAndStartAt(tc.start); !errors.Is(err, log.ErrStorage) || crashed == "" {
					t.Fatalf("stopped at %q: %v, want ErrStorage", step, err)
				}
				if _, err := l.AppendAsFollower(leaderBatch(tc.start, 3, 1)); !errors.Is(err, log.ErrStorage) {
					t.Fatalf("append after a failed truncation: %v, want ErrStorage", err)
				}
				r := openLog(t, crashed, cfg)
				if _, err := os.Stat(filepath.Join(crashed, log.TruncateIntentFile)); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("truncate intent left after the reopen completed it: %v", err)
				}
				wantRestartedAt(t, r, tc.start, true)
			})
		}
	}
}

func TestTruncateFullyAndStartAtRefusesNegativeOffset(t *testing.T) {
	l := openLog(t, t.TempDir(), quietConfig())
	all := appendRecords(t, l, 2, 5, tsBase, 10)
	if err := l.TruncateFullyAndStartAt(-1); !errors.Is(err, log.ErrOffsetOutOfRange) {
		t.Fatalf("TruncateFullyAndStartAt(-1): %v, want ErrOffsetOutOfRange", err)
	}
	checkContents(t, l, all)
}

// TestOpenCompletesTruncateIntentOfEitherVersion: Open reads a
// truncate-intent of version 1 (the offset alone: a Truncate) and of
// version 2 (offset and mode), completes what it records, and drops one
// with an unknown mode, keeping the log as it is.
func TestOpenCompletesTruncateIntentOfEitherVersion(t *testing.T) {
	payload := func(mode ...byte) []byte {
		return append(binary.BigEndian.AppendUint64(nil, 30), mode...)
	}
	tests := []struct {
		name      string
		version   uint16
		payload   []byte
		wantStart int64
		wantEnd   int64
	}{
		{"version 1: truncate", 1, payload(), 0, 30},
		{"version 2: truncate", 2, payload(0), 0, 30},
		{"version 2: truncate fully", 2, payload(1), 30, 30},
		{"version 2: unknown mode is dropped", 2, payload(7), 0, 60},
		{"version 1 with a mode is dropped", 1, payload(1), 0, 60},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := quietConfig()
			dir := t.TempDir()
			l := openLog(t, dir, cfg)
			all := buildSegments(t, l, 3, 4, 1000)
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			f := framedfile.Format{Name: "truncate intent", Magic: "TRTI", Version: tt.version}
			if err := os.WriteFile(filepath.Join(dir, log.TruncateIntentFile), f.Encode(tt.payload), 0o644); err != nil {
				t.Fatal(err)
			}
			r := openLog(t, dir, cfg)
			if r.StartOffset() != tt.wantStart || r.NextOffset() != tt.wantEnd {
				t.Fatalf("log [%d, %d), want [%d, %d)", r.StartOffset(), r.NextOffset(), tt.wantStart, tt.wantEnd)
			}
			checkContents(t, r, keptBatches(all, tt.wantEnd))
			if _, err := os.Stat(filepath.Join(dir, log.TruncateIntentFile)); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("truncate intent left: %v", err)
			}
		})
	}
}
