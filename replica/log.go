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
	// epochs: the first at or past NextOffset(), offsets increasing, with
	// the gaps of a compacted leader's log. It validates them
	// (log.ValidateBatches as WriterLeader: header and CRC); records that do not check
	// out or do not continue the log are refused whole with an error
	// wrapping log.ErrCorruptBatch, log.ErrInvalidRecord,
	// log.ErrMessageTooLarge or log.ErrUnexpectedAppendOffset.
	AppendAsFollower(batches []byte) (log.AppendInfo, error)
	// Truncate removes every batch whose last offset is >= offset (and
	// cuts the epoch cache there); at or below StartOffset() it empties
	// the log and restarts it at offset; at or past NextOffset() it
	// removes only the epochs that begin at NextOffset() (begun as
	// leader, nothing appended). It returns the new end.
	Truncate(offset int64) (int64, error)
	// TruncateFullyAndStartAt empties the log and restarts it at offset,
	// which may lie past its end (Kafka's truncateFullyAndStartAt): a
	// follower whose log ends below the leader's log start offset.
	// Start, end and high watermark become offset; the epoch cache and
	// the producer state are emptied.
	TruncateFullyAndStartAt(offset int64) error
	// MaybeIncrementLogStartOffset moves the log start offset up to
	// offset (never down, never past the high watermark), as a follower
	// follows its leader's.
	MaybeIncrementLogStartOffset(offset int64) error
	// Read returns whole batches from the one containing offset.
	Read(offset int64, maxBytes int) (log.Batches, error)
	// NextOffset is the log end offset.
	NextOffset() int64
	// StartOffset is the log start offset.
	StartOffset() int64
}
