package replica

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestFollowerAppliesOnlyRecordsThatCheckOut(t *testing.T) {
	good := leaderBatches(6, fuzzEpoch, 2, 3)
	bad := slices.Clone(good)
	bad[len(bad)-1] ^= 0xff
	tests := []struct {
		name    string
		records []byte
		hw      int64
		wantEnd int64 // log end after
		wantHW  int64
		wantErr error
	}{
		{"whole batches are appended", good, 11, 11, 11, nil},
		{"hw is capped at the log end", good[:len(good)-7], 11, 8, 8, nil},
		{"a cut last batch is left for the next fetch", good[:len(good)-7], 7, 8, 7, nil},
		{"a bad CRC refuses everything", bad, 11, 6, 3, ErrCorruptFetch},
		{"a batch not at the log end is refused", leaderBatches(4, fuzzEpoch, 2), 11, 6, 3, ErrCorruptFetch},
		{"a gap left by compaction is appended", append(leaderBatches(6, fuzzEpoch, 2), leaderBatches(10, fuzzEpoch, 1)...), 11, 11, 11, nil},
		{"overlapping batches are refused", append(leaderBatches(6, fuzzEpoch, 2), leaderBatches(7, fuzzEpoch, 1)...), 11, 6, 3, ErrCorruptFetch},
		{"an epoch past the leader's is refused", leaderBatches(6, fuzzEpoch+1, 2), 11, 6, 3, ErrCorruptFetch},
		{"a cut first batch is refused", good[:20], 11, 6, 3, ErrCorruptFetch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fe, l, s := fuzzFollower()
			rp := kmsg.NewFetchResponseTopicPartition()
			rp.HighWatermark = tt.hw
			rp.RecordBatches = tt.records
			_, err := fe.handlePartition(context.Background(), s, &rp)
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
				t.Fatalf("err %v, want %v", err, tt.wantErr)
			}
			if l.bad != nil {
				t.Fatalf("log handed bad batches: %v", l.bad)
			}
			if end, hw := l.NextOffset(), l.HighWatermark(); end != tt.wantEnd || hw != tt.wantHW {
				t.Fatalf("log end %d hw %d, want %d and %d", end, hw, tt.wantEnd, tt.wantHW)
			}
		})
	}
}

func TestFollowerRefusesDivergenceThatCutsNothing(t *testing.T) {
	fe, l, s := fuzzFollower()
	rp := kmsg.NewFetchResponseTopicPartition()
	// Epoch 1 ends at 6 here too: an answer that moves nothing would
	// make the follower ask again for ever.
	rp.DivergingEpoch.Epoch, rp.DivergingEpoch.EndOffset = 1, 9
	if _, err := fe.handlePartition(context.Background(), s, &rp); !errors.Is(err, ErrCorruptFetch) {
		t.Fatalf("err %v, want ErrCorruptFetch", err)
	}
	if l.NextOffset() != 6 || l.truncateCount() != 0 {
		t.Fatalf("log end %d after %d truncations, want 6 and none", l.NextOffset(), l.truncateCount())
	}
}
