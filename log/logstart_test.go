package log_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/tributary-io/tributary/log"
	"github.com/tributary-io/tributary/recordbatch"
)

// TestMaybeIncrementLogStartOffsetFollowsTheLeader: a follower's log of
// three segments [0, 20), [20, 40), [40, 60) with epochs 1 (from 0) and 2
// (from 40), replicated with its high watermark at 50, moves its log
// start offset only up and never past the high watermark, deleting the
// segments wholly below it and trimming the epoch cache, and keeps it
// across restarts.
func TestMaybeIncrementLogStartOffsetFollowsTheLeader(t *testing.T) {
	tests := []struct {
		name      string
		from      int64 // log start offset before (DeleteRecordsBefore)
		offset    int64
		wantErr   error
		wantStart int64
		wantSegs  int
		wantEpoch []log.EpochEntry
	}{
		{"inside the first segment", 0, 7, nil, 7, 3, []log.EpochEntry{{Epoch: 1, StartOffset: 7}, {Epoch: 2, StartOffset: 40}}},
		{"at a segment base", 0, 20, nil, 20, 2, []log.EpochEntry{{Epoch: 1, StartOffset: 20}, {Epoch: 2, StartOffset: 40}}},
		{"into the next epoch", 0, 45, nil, 45, 1, []log.EpochEntry{{Epoch: 2, StartOffset: 45}}},
		{"up to the high watermark", 0, 50, nil, 50, 1, []log.EpochEntry{{Epoch: 2, StartOffset: 50}}},
		{"below the start: nothing moves", 25, 10, nil, 25, 2, []log.EpochEntry{{Epoch: 1, StartOffset: 25}, {Epoch: 2, StartOffset: 40}}},
		{"past the high watermark is refused", 0, 51, log.ErrOffsetOutOfRange, 0, 3, []log.EpochEntry{{Epoch: 1, StartOffset: 0}, {Epoch: 2, StartOffset: 40}}},
		{"negative is refused", 0, -1, log.ErrOffsetOutOfRange, 0, 3, []log.EpochEntry{{Epoch: 1, StartOffset: 0}, {Epoch: 2, StartOffset: 40}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := quietConfig()
			l := openLog(t, t.TempDir(), cfg)
			l.SetReplicated(true)
			var all []storedBatch
			for s := range 3 {
				for range 4 {
					b := recordbatch.Build(5, 20, tsBase)
					recordbatch.SetBaseOffset(b, l.NextOffset())
					recordbatch.SetPartitionLeaderEpoch(b, int32(1+s/2))
					if _, err := l.AppendAsFollower(b); err != nil {
						t.Fatal(err)
					}
					all = append(all, storedBatch{base: l.NextOffset() - 5, data: b})
				}
				if s < 2 {
					if err := l.Roll(); err != nil {
						t.Fatal(err)
					}
				}
			}
			if !l.SetHighWatermark(50) || l.HighWatermark() != 50 {
				t.Fatalf("high watermark %d, want 50", l.HighWatermark())
			}
			if tt.from > 0 {
				if _, err := l.DeleteRecordsBefore(tt.from); err != nil {
					t.Fatal(err)
				}
			}
			err := l.MaybeIncrementLogStartOffset(tt.offset)
			if !errors.Is(err, tt.wantErr) || tt.wantErr == nil && err != nil {
				t.Fatalf("MaybeIncrementLogStartOffset(%d): %v, want %v", tt.offset, err, tt.wantErr)
			}
			check := func(t *testing.T, l *log.Log) {
				t.Helper()
				wantStart := tt.wantStart
				if strings.HasSuffix(t.Name(), "no-checkpoint") {
					// Without the checkpoint the log starts at its first
					// segment (see the package comment).
					wantStart = tt.wantStart / 20 * 20
				}
				if l.StartOffset() != wantStart || l.NumSegments() != tt.wantSegs {
					t.Fatalf("log start %d with %d segments, want %d with %d", l.StartOffset(), l.NumSegments(), wantStart, tt.wantSegs)
				}
				if wantStart > 0 {
					wantOutOfRange(t, l, wantStart-1)
				}
				checkContents(t, l, all)
				if wantStart == tt.wantStart {
					wantEpochs(t, l, tt.wantEpoch...)
				}
			}
			check(t, l)
			reopenAll(t, l, cfg, check)
		})
	}
}
