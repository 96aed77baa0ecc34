package replica

import "github.com/tributary-io/tributary/log"

// Log is what replication needs of one partition's log. *log.Log satisfies
// it (issue 14's contract names the methods); tests use an in-memory fake.
type Log interface {
	// HighWatermark is the offset below which records are committed.
	HighWatermark() int64
	// SetReplicated(true) makes the high watermark move only by
	// SetHighWatermark.
	SetReplicated(on bool)
	// SetHighWatermark moves the high watermark forward, clamped to
	// [StartOffset(), NextOffset()]; it reports whether it moved.
	SetHighWatermark(off int64) (advanced bool)
	// LeaderEpoch is the latest epoch in the leader-epoch cache, -1 if none.
	LeaderEpoch() int32
	// BecomeLeader stamps later appends with epoch and records
	// (epoch, NextOffset()) in the epoch cache if epoch is new.
	BecomeLeader(epoch int32) error
	// EndOffsetForEpoch is the OffsetForLeaderEpoch answer: the largest
	// epoch <= epoch and the start offset of the epoch after it
	// (NextOffset() for the latest); (-1, -1) if unknown.
	EndOffsetForEpoch(epoch int32) (leaderEpoch int32, endOffset int64)
	// AppendAsFollower appends batches with the leader's offsets and
	// epochs; the first must start at NextOffset().
	AppendAsFollower(batches []byte) (log.AppendInfo, error)
	// Truncate removes every batch whose last offset is >= offset (and
	// cuts the epoch cache there); at or below StartOffset() it empties
	// the log and restarts it at offset. It returns the new end.
	Truncate(offset int64) (int64, error)
	// Read returns whole batches from the one containing offset.
	Read(offset int64, maxBytes int) (log.Batches, error)
	// NextOffset is the log end offset.
	NextOffset() int64
	// StartOffset is the log start offset.
	StartOffset() int64
}

// FullTruncater is implemented by a log that can drop all its data and
// restart empty at an offset past its end (Kafka's truncateFullyAndStartAt).
// A follower needs it when the leader's log start offset moved past the
// follower's log end (retention on the leader while the follower was
// away); Log.Truncate cannot do it, since it does nothing at or past the
// end. A log without it leaves such a partition stalled with
// ErrBehindLeaderStart.
type FullTruncater interface {
	TruncateFullyAndStartAt(offset int64) error
}
