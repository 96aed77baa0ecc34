package log_test

import (
	"bytes"
	"errors"
	"math"
	"testing"

	"github.com/tributary-io/tributary/log"
	"github.com/tributary-io/tributary/recordbatch"
)

// leaderBatch is a batch as a leader stored it: base offset and leader
// epoch set (neither covered by the CRC).
func leaderBatch(base int64, epoch int32, records int) []byte {
	b := recordbatch.Build(records, 20, tsBase)
	recordbatch.SetBaseOffset(b, base)
	recordbatch.SetPartitionLeaderEpoch(b, epoch)
	return b
}

func TestAppendAsFollowerKeepsLeaderOffsetsAndEpochs(t *testing.T) {
	dir := t.TempDir()
	cfg := quietConfig()
	l := openLog(t, dir, cfg)
	fetched := bytes.Join([][]byte{leaderBatch(0, 1, 2), leaderBatch(2, 1, 3), leaderBatch(5, 3, 1)}, nil)
	want := bytes.Clone(fetched)
	info, err := l.AppendAsFollower(fetched)
	if err != nil {
		t.Fatal(err)
	}
	if info.BaseOffset != 0 || info.LastOffset != 5 || l.NextOffset() != 6 {
		t.Fatalf("follower append: %+v, log end %d; want 0-5, end 6", info, l.NextOffset())
	}
	more := leaderBatch(6, 4, 3)
	if _, err := l.AppendAsFollower(more); err != nil {
		t.Fatal(err)
	}
	want = append(want, more...)
	var got []byte
	for _, b := range readAll(t, l) {
		got = append(got, b.data...)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("the follower's log differs from the leader's batches")
	}
	wantEpochs(t, l, log.EpochEntry{Epoch: 1, StartOffset: 0}, log.EpochEntry{Epoch: 3, StartOffset: 5}, log.EpochEntry{Epoch: 4, StartOffset: 6})
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	wantEpochs(t, openLog(t, dir, cfg), log.EpochEntry{Epoch: 1, StartOffset: 0}, log.EpochEntry{Epoch: 3, StartOffset: 5}, log.EpochEntry{Epoch: 4, StartOffset: 6})
}

func TestAppendAsFollowerRefusesWhatDoesNotContinueTheLog(t *testing.T) {
	corrupt := leaderBatch(2, 1, 1)
	corrupt[len(corrupt)-1] ^= 0xff
	tests := []struct {
		name    string
		batches []byte
		want    error
	}{
		{"first batch below the log end", leaderBatch(1, 1, 1), log.ErrUnexpectedAppendOffset},
		{"second batch overlaps the first", append(leaderBatch(2, 1, 2), leaderBatch(3, 1, 1)...), log.ErrUnexpectedAppendOffset},
		{"a gap, then a batch overlapping", bytes.Join([][]byte{leaderBatch(4, 1, 2), leaderBatch(5, 1, 1)}, nil), log.ErrUnexpectedAppendOffset},
		{"offsets wrap past the largest", leaderBatch(math.MaxInt64-1, 1, 3), log.ErrUnexpectedAppendOffset},
		{"bad CRC", corrupt, log.ErrCorruptBatch},
		{"empty", nil, log.ErrCorruptBatch},
		{"torn batch", leaderBatch(2, 1, 2)[:40], log.ErrCorruptBatch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := openLog(t, t.TempDir(), quietConfig())
			if _, err := l.AppendAsFollower(leaderBatch(0, 1, 2)); err != nil {
				t.Fatal(err)
			}
			if _, err := l.AppendAsFollower(tt.batches); !errors.Is(err, tt.want) {
				t.Fatalf("AppendAsFollower: %v, want %v", err, tt.want)
			}
			if l.NextOffset() != 2 || len(readAll(t, l)) != 1 {
				t.Fatalf("a refused follower append left the log at %d", l.NextOffset())
			}
			wantEpochs(t, l, log.EpochEntry{Epoch: 1, StartOffset: 0})
		})
	}
}

func TestFollowerThatBecomesLeaderDedupsRetries(t *testing.T) {
	l := openLog(t, t.TempDir(), quietConfig())
	// The leader's copy of producer 7's batches 0-1 and 2-4.
	first := pidBatch(pb{pid: 7, epoch: 0, seq: 0, n: 2})
	second := pidBatch(pb{pid: 7, epoch: 0, seq: 2, n: 3})
	recordbatch.SetBaseOffset(second, 2)
	for _, b := range [][]byte{first, second} {
		recordbatch.SetPartitionLeaderEpoch(b, 0)
		if _, err := l.AppendAsFollower(bytes.Clone(b)); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.BecomeLeader(1); err != nil {
		t.Fatal(err)
	}
	// The producer retries its second batch against the new leader.
	info, err := l.AppendBatches(pidBatch(pb{pid: 7, epoch: 0, seq: 2, n: 3}))
	if err != nil {
		t.Fatal(err)
	}
	if !info.Duplicate || info.BaseOffset != 2 || info.LastOffset != 4 {
		t.Fatalf("retry after failover: %+v, want a duplicate of 2-4", info)
	}
	info, err = l.AppendBatches(pidBatch(pb{pid: 7, epoch: 0, seq: 5, n: 1}))
	if err != nil || info.Duplicate || info.BaseOffset != 5 {
		t.Fatalf("next batch after failover: %+v, %v; want appended at 5", info, err)
	}
	if _, err := l.AppendBatches(pidBatch(pb{pid: 7, epoch: 0, seq: 9, n: 1})); !errors.Is(err, log.ErrOutOfOrderSequence) {
		t.Fatalf("sequence gap after failover: %v, want ErrOutOfOrderSequence", err)
	}
	wantEpochs(t, l, log.EpochEntry{Epoch: 0, StartOffset: 0}, log.EpochEntry{Epoch: 1, StartOffset: 5})
}
