package log

import (
	"errors"
	"fmt"

	"github.com/tributary-io/tributary/recordbatch"
)

// ErrUnexpectedAppendOffset: a follower's append does not begin at the
// log end offset, or its batches' offsets do not increase (Kafka's
// UnexpectedAppendOffsetException): the follower must truncate or fetch
// from its log end.
var ErrUnexpectedAppendOffset = errors.New("log: follower append does not continue the log")

// AppendAsFollower is a follower's append of batches fetched from its
// leader: each keeps the leader's base offset, PartitionLeaderEpoch and
// timestamps, so the follower's log is a copy of the leader's. The first
// batch must start at or past NextOffset() and each later one at or past
// where the one before ends (ErrUnexpectedAppendOffset otherwise): a
// compacted leader's log has offset gaps where its cleaner removed
// batches, and they are copied as they are. Before a batch that follows
// a gap is written, the cleaned offset (the cleaner checkpoint) is moved
// up to the end of the append, durably, so that recovery takes the gap
// for a cleaned one, not for damage (see the package comment). Batches
// are validated by ValidateBatches as WriterLeader (structure and CRC;
// records not decompressed nor read, no size or key rule, as Kafka's
// follower: the leader read them). The epoch cache learns each epoch newer than its latest at its batch's base
// offset, and the idempotent producers' state is updated as on the leader
// (without checking sequences: the leader did), so that this log dedups a
// producer's retries once it leads. Nothing is appended on an error.
func (l *Log) AppendAsFollower(batches []byte) (AppendInfo, error) {
	cfg := l.cfg.Load()
	if len(batches) == 0 {
		return AppendInfo{}, fmt.Errorf("%w: empty append", ErrCorruptBatch)
	}
	v, err := validateBatches(batches, cfg, WriterLeader, recordbatch.DefaultDecompressLimit, false)
	if err != nil {
		return AppendInfo{}, err
	}
	records, withPID := v.Records, v.WithPID

	l.writeMu.Lock()
	if err := l.writable(); err != nil {
		l.writeMu.Unlock()
		return AppendInfo{}, err
	}
	base := l.nextOffset.Load()
	next, gap, firstMaxTs, lastMaxTs, err := followerOffsets(batches, base)
	if err != nil {
		l.writeMu.Unlock()
		return AppendInfo{}, fmt.Errorf("%w (log %s)", err, l.dir)
	}
	if gap && l.cleanedOffset.Load() < next {
		// The batch after each gap starts below next: recovery accepts
		// it once the mark is durable, so the mark goes first.
		if err := l.storeCleanedOffset(next, true); err != nil {
			l.writeMu.Unlock()
			return AppendInfo{}, l.limitErr(fmt.Errorf("log: follower append to %s: cleaned offset for its gaps: %w", l.dir, err))
		}
	}
	if err := l.learnEpochs(batches); err != nil {
		l.writeMu.Unlock()
		return AppendInfo{}, err
	}
	if err := l.maybeRoll(cfg, len(batches), next-1, firstMaxTs); err != nil {
		l.writeMu.Unlock()
		return AppendInfo{}, err
	}
	if l.files != nil {
		if !l.fileHeld {
			l.files.admit(l)
		} else if !l.fileUsed.Load() {
			l.fileUsed.Store(true)
		}
	}
	act := l.active()
	wasEmpty := act.Size() == 0
	if gap {
		err = act.AppendWithGaps(batches) // the cleaned offset, written above, covers them
	} else {
		err = act.Append(batches)
	}
	if err != nil {
		l.writeMu.Unlock()
		return AppendInfo{}, l.appendErr(err)
	}
	if wasEmpty {
		l.rollBaseTs = rollBase(firstMaxTs, cfg)
	}
	if err := l.publishAppend(batches, next, records, withPID, lastMaxTs, cfg); err != nil {
		return AppendInfo{}, err
	}
	first, _ := recordbatch.ParseHeader(batches) // validated
	return AppendInfo{BaseOffset: first.BaseOffset, LastOffset: next - 1, LogAppendTime: noTimestamp}, nil
}

// followerOffsets checks that validated batches continue a log ending at
// base, with offset gaps or without, and returns the offset after them,
// whether a batch starts past where the log or the batch before ends (a
// gap), and the first and largest max timestamps.
func followerOffsets(b []byte, base int64) (next int64, gap bool, firstMaxTs, maxTs int64, err error) {
	next, firstMaxTs, maxTs = base, -1, -1
	for p := 0; p < len(b); {
		h, _ := recordbatch.ParseHeader(b[p:]) // validated
		switch {
		case p == 0 && h.BaseOffset < base:
			return 0, false, 0, 0, fmt.Errorf("%w: first batch at offset %d, below the log end offset %d", ErrUnexpectedAppendOffset, h.BaseOffset, base)
		case h.BaseOffset < next:
			return 0, false, 0, 0, fmt.Errorf("%w: batch at offset %d overlaps one ending at %d", ErrUnexpectedAppendOffset, h.BaseOffset, next)
		case h.NextOffset() <= h.BaseOffset:
			return 0, false, 0, 0, fmt.Errorf("%w: batch at offset %d with %d offsets wraps past the largest offset", ErrUnexpectedAppendOffset, h.BaseOffset, int64(h.LastOffsetDelta)+1)
		}
		gap = gap || h.BaseOffset > next
		if p == 0 {
			firstMaxTs = h.MaxTimestamp
		}
		maxTs = max(maxTs, h.MaxTimestamp)
		next = h.NextOffset()
		p += h.Size()
	}
	return next, gap, firstMaxTs, maxTs, nil
}
