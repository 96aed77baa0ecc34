package log

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/tributary-io/tributary/recordbatch"
	"github.com/tributary-io/tributary/segment"
)

var (
	// ErrOffsetOutOfRange: the offset is below the log start offset or past
	// the log end offset (Kafka's OFFSET_OUT_OF_RANGE).
	ErrOffsetOutOfRange = errors.New("log: offset out of range")
	// ErrCorruptBatch: a batch failed validation (Kafka's CORRUPT_MESSAGE).
	ErrCorruptBatch = errors.New("log: corrupt record batch")
	// ErrMessageTooLarge: a batch is larger than max.message.bytes
	// (Kafka's MESSAGE_TOO_LARGE).
	ErrMessageTooLarge = errors.New("log: record batch larger than max.message.bytes")
	// ErrDiskFull: no space left for an append or a new segment
	// (Kafka's KAFKA_STORAGE_ERROR). Nothing of the failed append remains.
	ErrDiskFull = errors.New("log: no space left on device")
	// ErrMissingKey: a record without a key was produced to a compacted
	// topic, whose cleaner could never tell which of its values is the
	// latest (Kafka's INVALID_RECORD). Nothing of the append is written.
	ErrMissingKey = errors.New("log: compacted topic cannot accept message without key")
	// ErrClosed: the log has been closed.
	ErrClosed = errors.New("log: closed")
	// ErrStorage: an earlier fsync or rollback failed and the log refuses
	// further writes until it is reopened and recovered (sticky).
	ErrStorage = errors.New("log: storage failure, log is read-only until reopened")
)

// Log is one partition's log. See the package comment for its guarantees
// and locking.
type Log struct {
	dir string

	cfg atomic.Pointer[Config] // replaced whole by SetConfig

	// cleanMu serialises compaction passes (Compact); taken before writeMu,
	// which a pass holds only to swap a cleaned segment in.
	cleanMu sync.Mutex
	// cleanedOffset is the cleaner checkpoint: the cleaner may have
	// rewritten every segment below it, leaving offset gaps there.
	cleanedOffset atomic.Int64
	// cleanUnfinished: a compaction pass advanced cleanedOffset (which it
	// must do before it rewrites anything) and then failed or stopped, so
	// the range below it is not all clean: the next pass runs whatever
	// the dirty ratio says (a pass that failed on a full disk would
	// otherwise count as done just when space needs reclaiming).
	cleanUnfinished atomic.Bool
	// swapHook, set by tests before any compaction, stops a swap at a step.
	swapHook func(step string) error

	writeMu sync.Mutex // serialises writers; guards the fields below it
	// rollBaseTs is the timestamp segment.ms counts from for the active
	// segment: its first batch's max timestamp, or when it was opened.
	rollBaseTs int64
	closed     bool

	// pidMu guards producers together with writeMu: changes hold both
	// (writeMu first), reads hold either. Taken after writeMu and ckptMu.
	pidMu     sync.Mutex
	producers producerTable
	// evictedLogged is producers.evicted as last logged. Guarded by writeMu.
	evictedLogged int64

	isClosed atomic.Bool // closed, readable without writeMu

	segMu sync.RWMutex       // guards segs; taken after writeMu
	segs  []*segment.Segment // by base offset; the last one is active

	nextOffset  atomic.Int64 // log end offset; stored after the data is in the segment
	startOffset atomic.Int64 // log start offset

	syncMu        sync.Mutex   // one fsync at a time (group commit)
	flushedOffset atomic.Int64 // every offset below is on stable storage
	unflushed     atomic.Int64 // records appended since the last fsync
	lastFlush     atomic.Int64 // monotonic nanos (sinceStart) of the last fsync: a wall-clock step must not stop flush.ms
	dirDirty      atomic.Bool  // a segment file was created since the last dir fsync
	sealedEnd     atomic.Int64 // end of the last segment rolled: the Manager flushes up to it (flushDue)
	// sealedSynced is sealedEnd as a flush found it: every segment below
	// it was fsynced once sealed, which closes its descriptor and lets it
	// be parked. It trails flushedOffset when a flush covered a segment
	// while it was active and the segment was rolled without a write
	// since (its data durable, its descriptor still open). Written under
	// syncMu.
	sealedSynced atomic.Int64

	sticky atomic.Pointer[error] // set once by a failed fsync or rollback

	// managed: opened by a Manager, whose clean-shutdown marker says
	// whether the last stop was clean (see scale.go). Set by open.
	managed bool
	// segCache is the Manager's bound on mapped sealed segments (nil for
	// a bare Open: nothing is parked). Set by open.
	segCache *segment.Cache
	// files is the Manager's bound on open active segments (nil: none).
	// Set by open. fileHeld says the log is in it (the active segment
	// holds its descriptor, or its next write opens it): guarded by
	// writeMu. fileSlot is its place there, guarded by files.mu; fileUsed
	// is the clock's reference bit, set by every append.
	files    *fileCache
	fileHeld bool
	fileSlot int
	fileUsed atomic.Bool

	ckptMu      sync.Mutex // serialises checkpoint and producer snapshot writes; guards the fields to lastSnap
	lastCkpt    checkpoint
	lastCkptSet bool
	// lastCkptPending: lastCkpt was written by a checkpoint pass whose
	// syncfs has not returned yet, so it is not known durable (see
	// ckptpass.go).
	lastCkptPending bool
	// ckptViaTmp: the file is not the size of the frame a pass would
	// overwrite in place (a version-1 file, say): the next pass replaces
	// it through a temp file.
	ckptViaTmp bool
	// fileGen counts the writes of the recovery checkpoint and the
	// producer snapshot made outside a checkpoint pass: a pass renames
	// the temp files it wrote only if none happened meanwhile.
	fileGen  uint64
	lastSnap snapshotMark // the producer snapshot on disk

	watchers     watchList  // long-polling readers, see watch.go
	hws          hwState    // the high watermark, see hw.go
	epochs       epochCache // the leader epoch cache, see epoch.go
	recoveryInfo RecoveryInfo
}

// RecoveryInfo says what Open had to do.
type RecoveryInfo struct {
	Clean          bool // opened after a clean shutdown: nothing scanned
	Segments       int
	BytesScanned   int64
	TruncatedBytes int64
	Duration       time.Duration
	// Lost are the offset ranges this Open found missing for the first
	// time (damaged batches cut, a segment file gone): each is logged at
	// ERROR once and left as a gap. LostOffsets is their total length.
	Lost        []LostRange
	LostOffsets int64
	// Gaps are all the ranges recovery ever reported lost that are still
	// gaps in the log (those of Lost included), as the lost-offsets
	// file records them.
	Gaps []OffsetRange
}

// Batches is the result of Read: whole record batches as one view of a
// segment's mapping. The bytes stay valid until Release, even if retention
// deletes the segment meanwhile. Do not write to Data.
type Batches struct {
	Data       []byte // whole batches, back to back; empty at the log end
	BaseOffset int64  // base offset of the first batch in Data
	seg        *segment.Segment
}

// Release gives back the reference Read took. Safe to call on an empty
// result and more than once.
func (b *Batches) Release() {
	if b.seg != nil {
		b.seg.Release()
		b.seg = nil
	}
}

// Dir is the partition's directory.
func (l *Log) Dir() string { return l.dir }

// Config returns the log's current configuration.
func (l *Log) Config() Config { return *l.cfg.Load() }

// SetConfig replaces the configuration; it applies to later appends, rolls
// and retention runs.
func (l *Log) SetConfig(c Config) error {
	if err := c.Validate(); err != nil {
		return err
	}
	l.cfg.Store(&c)
	return nil
}

// StartOffset is the log start offset: the first offset a reader may ask for.
func (l *Log) StartOffset() int64 { return l.startOffset.Load() }

// NextOffset is the log end offset: the offset the next appended record gets.
func (l *Log) NextOffset() int64 { return l.nextOffset.Load() }

// FlushedOffset is the offset below which everything is on stable storage.
func (l *Log) FlushedOffset() int64 { return l.flushedOffset.Load() }

// Recovery reports what Open did to bring the log back.
func (l *Log) Recovery() RecoveryInfo { return l.recoveryInfo }

// Size is the total size of the log's segment files in bytes.
func (l *Log) Size() int64 {
	l.segMu.RLock()
	defer l.segMu.RUnlock()
	var n int64
	for _, s := range l.segs {
		n += s.Size()
	}
	return n
}

// NumSegments is the number of segments, the active one included.
func (l *Log) NumSegments() int {
	l.segMu.RLock()
	defer l.segMu.RUnlock()
	return len(l.segs)
}

func (l *Log) stickyErr() error {
	if p := l.sticky.Load(); p != nil {
		return *p
	}
	return nil
}

func (l *Log) poison(err error) error {
	wrapped := fmt.Errorf("%w: %w", ErrStorage, err)
	l.sticky.CompareAndSwap(nil, &wrapped)
	return l.stickyErr()
}

// writable reports why the log takes no writes: closed, or poisoned by an
// earlier storage failure. Caller holds writeMu.
func (l *Log) writable() error {
	if l.closed {
		return ErrClosed
	}
	return l.stickyErr()
}

// segConfig is the config of the log's segments: recovery accepts offset
// gaps below the cleaner checkpoint.
func (l *Log) segConfig(cfg *Config) segment.Config {
	sc := cfg.segmentConfig(l.cleanedOffset.Load())
	sc.Cache = l.segCache
	return sc
}

// active returns the active segment. Caller holds writeMu.
func (l *Log) active() *segment.Segment {
	return l.segs[len(l.segs)-1]
}

// Append validates every batch in batches (header, CRC-32C, max.message.bytes,
// idempotent producers' sequences), assigns offsets by rewriting each base
// offset in place, and appends them with one write. It returns the base
// offset of the first batch, or for a retried batch of an idempotent
// producer the base offset it was first appended at (AppendBatches tells
// the two apart). The caller's buffer is modified (offsets, and timestamps
// under LogAppendTime) and may be reused once Append returns.
//
// With flush.messages=1 Append returns after the batches are on stable
// storage; appends running concurrently share one fsync.
func (l *Log) Append(batches []byte) (int64, error) {
	info, err := l.AppendBatches(batches)
	return info.BaseOffset, err
}

// AppendBatches is Append reporting what it did. Batches with a producer ID
// are checked against the producer's state atomically with the append, and
// the append is refused whole if one of them fails: ErrInvalidProducerEpoch
// for an epoch older than the producer's, ErrOutOfOrderSequence for a
// sequence that does not follow its last one, ErrUnknownProducerID for a
// sequence other than 0 from a producer without state. A single batch equal
// (same epoch and sequence range) to one of the producer's last 5 batches
// is a retry: nothing is appended and the result carries the original
// offsets with Duplicate set.
func (l *Log) AppendBatches(batches []byte) (AppendInfo, error) {
	return l.appendBatches(batches, false)
}

// AppendProduced is AppendBatches for one batch of a client's produce
// request that the caller has just checked whole with
// ValidateBatches(batch, WriterProducer, ...), as the produce path must:
// the batch's bytes are then read for the CRC and records once, not
// twice. Only its header is checked again here (the rules of
// WriterProducer but the CRC, records and keys), so anything else
// appended must go through AppendBatches.
func (l *Log) AppendProduced(batch []byte) (AppendInfo, error) {
	// One batch only: a second one would not have been checked.
	if h, err := recordbatch.ParseHeader(batch); err == nil && h.Size() != len(batch) {
		return AppendInfo{}, fmt.Errorf("%w: AppendProduced of %d bytes holding a %d-byte batch and more", ErrCorruptBatch, len(batch), h.Size())
	}
	return l.appendBatches(batch, true)
}

func (l *Log) appendBatches(batches []byte, checked bool) (AppendInfo, error) {
	cfg := l.cfg.Load()
	w := WriterBroker
	if checked {
		w = WriterProducer
	}
	v, err := validateBatches(batches, cfg, w, recordbatch.DefaultDecompressLimit, checked)
	if err != nil {
		return AppendInfo{}, err
	}
	records, withPID := v.Records, v.WithPID

	l.writeMu.Lock()
	if err := l.writable(); err != nil {
		l.writeMu.Unlock()
		return AppendInfo{}, err
	}
	if withPID {
		orig, dup, err := l.checkProducers(batches)
		if err != nil {
			l.writeMu.Unlock()
			return AppendInfo{}, err
		}
		if dup {
			l.writeMu.Unlock()
			return l.duplicate(orig, cfg)
		}
	}
	epoch := l.epochs.stamp.Load()
	if epoch >= 0 && epoch != l.epochs.latest.Load() {
		// The first append of this leader's epoch since truncation cut it.
		if err := l.leaderEpochAt(epoch); err != nil {
			l.writeMu.Unlock()
			return AppendInfo{}, err
		}
	}
	base := l.nextOffset.Load()
	next, firstMaxTs, appendTime := assignOffsets(batches, base, epoch, cfg)
	if err := l.maybeRoll(cfg, len(batches), next-1, firstMaxTs); err != nil {
		l.writeMu.Unlock()
		return AppendInfo{}, err
	}
	if l.files != nil {
		if !l.fileHeld {
			l.files.admit(l) // its descriptor was taken: the append reopens it
		} else if !l.fileUsed.Load() {
			l.fileUsed.Store(true)
		}
	}
	act := l.active()
	wasEmpty := act.Size() == 0
	if err := act.Append(batches); err != nil {
		l.writeMu.Unlock()
		return AppendInfo{}, l.appendErr(err)
	}
	if wasEmpty {
		l.rollBaseTs = rollBase(firstMaxTs, cfg)
	}
	// appendTime is noTimestamp (-1) unless LogAppendTime: publishAppend
	// then reads the clock for the producers' state.
	if err := l.publishAppend(batches, next, records, withPID, appendTime, cfg); err != nil {
		return AppendInfo{}, err
	}
	return AppendInfo{BaseOffset: base, LastOffset: next - 1, LogAppendTime: appendTime}, nil
}

// publishAppend makes an append that is in the segment visible: the
// producers' state and the end offset together, then the readers and
// waiters (with the high watermark on a replicated log), then the fsync
// flush.messages asks for. The one place every append path (leader and
// follower) publishes through. now is the producers' last-seen time, or
// -1 (or a time in the future) for the clock's. Caller holds writeMu,
// which it releases.
func (l *Log) publishAppend(batches []byte, next, records int64, withPID bool, now int64, cfg *Config) error {
	if withPID {
		if t := cfg.now().UnixMilli(); now < 0 || now > t {
			now = t
		}
		// Published with the end offset: see producerTable.
		l.pidMu.Lock()
		l.producers.limit = cfg.MaxProducersPerPartition
		l.producers.applyAll(batches, now)
		l.nextOffset.Store(next)
		l.pidMu.Unlock()
	} else {
		l.nextOffset.Store(next)
	}
	pending := l.unflushed.Add(records)
	replicated := l.hws.replicated.Load()
	if replicated {
		l.appendedReplicated(next, int64(len(batches))) // readers hear of it with the high watermark
	}
	l.writeMu.Unlock()
	if !replicated {
		l.appended(int64(len(batches)))
	} else {
		l.appendedEnd(int64(len(batches)))
	}
	if pending >= cfg.FlushMessages {
		return l.syncTo(next)
	}
	return nil
}

// duplicate answers a retried batch with the original's offsets. With
// flush.messages=1 the original's append may still be waiting for its
// fsync; the retry waits for it too.
func (l *Log) duplicate(orig producerBatch, cfg *Config) (AppendInfo, error) {
	if cfg.FlushMessages == 1 {
		if err := l.syncTo(orig.lastOffset() + 1); err != nil {
			return AppendInfo{}, err
		}
	}
	info := AppendInfo{BaseOffset: orig.baseOffset, LastOffset: orig.lastOffset(), Duplicate: true, LogAppendTime: noTimestamp}
	if cfg.MessageTimestampType == TimestampTypeLogAppend {
		info.LogAppendTime = orig.maxTimestamp
	}
	return info, nil
}

func rollBase(firstMaxTs int64, cfg *Config) int64 {
	if firstMaxTs >= 0 {
		return firstMaxTs
	}
	return cfg.now().UnixMilli()
}

func (l *Log) appendErr(err error) error {
	// A full disk or an exhausted limit: a clean error, named in the log.
	err = l.limitErr(err)
	var se *segment.Error
	if errors.As(err, &se) && se.Op != "append" {
		// The rollback failed: the segment is poisoned, and so is the log.
		return l.poison(err)
	}
	return err
}

// assignOffsets rewrites base offsets from base on (and timestamps under
// LogAppendTime, and the partition leader epoch unless epoch < 0) and
// returns the next offset, the first batch's max timestamp and the
// LogAppendTime stamped (-1 under CreateTime).
func assignOffsets(b []byte, base int64, epoch int32, cfg *Config) (next, firstMaxTs, appendTime int64) {
	next = base
	firstMaxTs = -1
	appendTime = noTimestamp
	logAppend := cfg.MessageTimestampType == TimestampTypeLogAppend
	if logAppend {
		appendTime = cfg.now().UnixMilli()
	}
	for p := 0; p < len(b); {
		batch := b[p:]
		h, _ := recordbatch.ParseHeader(batch) // validated
		recordbatch.SetBaseOffset(batch, next)
		if epoch >= 0 {
			recordbatch.SetPartitionLeaderEpoch(batch, epoch)
		}
		if logAppend {
			recordbatch.SetLogAppendTime(batch[:h.Size()], appendTime)
			h.MaxTimestamp = appendTime
		}
		if p == 0 {
			firstMaxTs = h.MaxTimestamp
		}
		next += int64(h.LastOffsetDelta) + 1
		p += h.Size()
	}
	return next, firstMaxTs, appendTime
}

// maybeRoll starts a new segment when the active one is full by size, age,
// index room or uint32 range. Caller holds writeMu.
func (l *Log) maybeRoll(cfg *Config, bytes int, lastOffset, maxTs int64) error {
	act := l.active()
	size := act.Size()
	if size == 0 {
		if act.IndexFull() {
			return l.replaceEmptyActive(cfg)
		}
		return nil
	}
	ts := maxTs
	if ts < 0 {
		ts = cfg.now().UnixMilli()
	}
	if size+int64(bytes) <= cfg.SegmentBytes && act.Fits(bytes, lastOffset) && !act.IndexFull() &&
		ts-l.rollBaseTs <= cfg.SegmentMs {
		return nil
	}
	return l.roll(cfg)
}

// roll creates a new active segment at the log end offset and seals the old
// one. If the new segment cannot be created (disk full), the old one stays
// active and nothing changes. Caller holds writeMu.
func (l *Log) roll(cfg *Config) error {
	next := l.nextOffset.Load()
	seg, err := segment.Create(l.dir, next, l.segConfig(cfg))
	if err != nil {
		return l.limitErr(fmt.Errorf("log: roll %s at offset %d: %w", l.dir, next, err))
	}
	if err := l.active().Seal(); err != nil {
		seg.Delete()
		return fmt.Errorf("log: roll %s at offset %d: %w", l.dir, next, err)
	}
	l.dirDirty.Store(true)
	sealed := l.active()
	l.segMu.Lock()
	l.segs = append(l.segs, seg)
	l.shrinkSealed(cfg)
	l.segMu.Unlock()
	l.sealedEnd.Store(next)
	if l.segCache != nil {
		// Parked once flushed and unread, when the cache is full.
		l.segCache.Add(sealed)
	}
	l.rollBaseTs = cfg.now().UnixMilli()
	return nil
}

// replaceEmptyActive gives an empty active segment whose indexes have no
// room (reopened after segment.index.bytes shrank) fresh ones, by
// creating the segment anew at the same base offset, before anything is
// appended to it: a batch in it could then not be indexed, nor the segment
// sealed with its closing time index entry. While the disk stays full the
// append fails with ErrDiskFull, and is retried here by the next one.
// Caller holds writeMu.
func (l *Log) replaceEmptyActive(cfg *Config) error {
	old := l.active()
	// Create reuses the empty .log and replaces the index files.
	seg, err := segment.Create(l.dir, old.BaseOffset(), l.segConfig(cfg))
	if err != nil {
		// When it fails it removes all three: put empty ones back, as
		// old's files were, so that the log still opens from them (its
		// only segment may be this one).
		for _, suf := range []string{segment.LogSuffix, segment.IndexSuffix, segment.TimeIndexSuffix} {
			if f, ferr := os.OpenFile(filepath.Join(l.dir, segment.FileName(old.BaseOffset(), suf)), os.O_RDWR|os.O_CREATE, 0o644); ferr == nil {
				f.Close()
			}
		}
		if errors.Is(err, segment.ErrDiskFull) {
			return fmt.Errorf("%w: new indexes for empty segment: %w", ErrDiskFull, err)
		}
		return fmt.Errorf("log: new indexes for empty segment %s at offset %d: %w", l.dir, old.BaseOffset(), err)
	}
	l.dirDirty.Store(true)
	l.segMu.Lock()
	l.segs[len(l.segs)-1] = seg
	l.segMu.Unlock()
	old.Close()
	return nil
}

// shrinkSealed gives back the address space that sealed segments reserved
// while they were active, for each one no reader holds a view of (none can
// take one meanwhile: Acquire happens under segMu). A segment busy now (a
// reader, or an fsync in flight, as is usual with flush.messages=1) is
// shrunk at a later roll or retention run. Caller holds writeMu and segMu.
func (l *Log) shrinkSealed(cfg *Config) {
	for _, s := range l.segs[:len(l.segs)-1] {
		if s.Oversized() && s.Refs() == 1 {
			if err := s.ShrinkMapping(); err != nil {
				cfg.logger().Warn("log: could not shrink a sealed segment's mapping", "segment", s.Path(), "err", err)
			}
		}
	}
}

// Roll forces a new segment (tools and tests); a no-op on an empty segment.
func (l *Log) Roll() error {
	l.writeMu.Lock()
	defer l.writeMu.Unlock()
	if err := l.writable(); err != nil {
		return err
	}
	if l.active().Size() == 0 {
		return nil
	}
	return l.roll(l.cfg.Load())
}

// Read returns whole batches starting with the one containing offset, as many
// as fit in maxBytes (the first one always, whole), from one segment, as a
// view of its mapping. At the log end it returns an empty result. Below the
// log start offset or past the end it returns ErrOffsetOutOfRange. The
// caller must Release the result.
func (l *Log) Read(offset int64, maxBytes int) (Batches, error) {
	// One load of the end: batches appended after it are left out, so the
	// reader never sees data past the log end offset it could observe.
	end := l.nextOffset.Load()
	return l.readBefore(offset, maxBytes, end, end)
}

// readBefore is Read of the batches before end, for an offset checked
// against next, the log end offset loaded once by the caller (end <= next).
func (l *Log) readBefore(offset int64, maxBytes int, end, next int64) (Batches, error) {
	if offset < l.startOffset.Load() || offset > next {
		return Batches{}, fmt.Errorf("%w: offset %d, log has [%d, %d)", ErrOffsetOutOfRange, offset, l.startOffset.Load(), next)
	}
	if offset >= end {
		return Batches{}, nil
	}
	l.segMu.RLock()
	i := l.segmentIndex(offset)
	if i < 0 {
		l.segMu.RUnlock()
		if l.isClosed.Load() {
			return Batches{}, ErrClosed
		}
		return Batches{}, fmt.Errorf("%w: offset %d is below the first segment", ErrOffsetOutOfRange, offset)
	}
	// A segment may hold no batch at or past offset: offset is in a gap the
	// cleaner left at its end. The answer is then the next batch after it,
	// in a later segment.
	for range maxSegmentHops {
		if i >= len(l.segs) {
			break
		}
		seg := l.segs[i]
		if err := seg.AcquireErr(); err != nil {
			l.segMu.RUnlock()
			return Batches{}, l.acquireErr(err)
		}
		l.segMu.RUnlock()
		data, first, err := seg.ReadBefore(offset, maxBytes, end)
		if err != nil || len(data) > 0 {
			if err != nil {
				seg.Release()
				return Batches{}, fmt.Errorf("log: read %s: %w", l.dir, err)
			}
			return Batches{Data: data, BaseOffset: first, seg: seg}, nil
		}
		seg.Release()
		l.segMu.RLock()
		i = l.segmentAfter(seg)
	}
	l.segMu.RUnlock()
	return Batches{}, nil
}

// acquireErr is the error of a reader whose segment.AcquireErr failed:
// ErrClosed (only a closed log lists segments it no longer owns), or why a
// parked segment could not be mapped again.
func (l *Log) acquireErr(err error) error {
	if errors.Is(err, segment.ErrClosed) {
		return ErrClosed
	}
	return l.limitErr(fmt.Errorf("log: read %s: %w", l.dir, err))
}

// maxSegmentHops bounds the segments one Read or OffsetForTimestamp walks
// through (far more than a log has, even while the cleaner reshapes it).
const maxSegmentHops = 1 << 20

// segmentAfter returns the index of the segment to look at after seg, in
// the current list, which may have changed since seg was taken from it
// (retention, a cleaner swap): the one after seg if seg is still listed;
// otherwise the one now covering seg's base offset (seg's replacement,
// which must be looked at again), or the first one. Caller holds segMu.
func (l *Log) segmentAfter(seg *segment.Segment) int {
	i := l.segmentIndex(seg.BaseOffset())
	switch {
	case i < 0:
		return 0
	case l.segs[i] == seg:
		return i + 1
	}
	return i
}

// segmentIndex returns the index of the segment that may hold offset: the
// last one whose base offset is <= offset, or -1. Caller holds segMu.
func (l *Log) segmentIndex(offset int64) int {
	lo, hi := 0, len(l.segs)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if l.segs[m].BaseOffset() <= offset {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo - 1
}

// OffsetForTimestamp returns the offset and timestamp of the first record,
// at or after the log start offset, whose timestamp is >= ts (Kafka's
// ListOffsets answer), or -1, -1 when there is none. Compressed batches are
// decompressed to find the record; one that cannot be is answered with its
// base offset and max timestamp.
func (l *Log) OffsetForTimestamp(ts int64) (offset, timestamp int64, err error) {
	start := l.startOffset.Load()
	l.segMu.RLock()
	for i, hops := 0, 0; i < len(l.segs) && hops < maxSegmentHops; hops++ {
		seg := l.segs[i]
		if seg.NextOffset() <= start || seg.MaxTimestamp() < ts {
			i++
			continue
		}
		if err := seg.AcquireErr(); err != nil {
			l.segMu.RUnlock()
			return -1, -1, l.acquireErr(err)
		}
		l.segMu.RUnlock()
		off, bts, ok, err := seg.FindOffsetByTimestamp(ts, start)
		seg.Release()
		if err != nil {
			return -1, -1, fmt.Errorf("log: offset for timestamp %d in %s: %w", ts, l.dir, err)
		}
		if ok {
			return off, bts, nil
		}
		l.segMu.RLock()
		i = l.segmentAfter(seg)
	}
	l.segMu.RUnlock()
	return -1, -1, nil
}

// MaxTimestamp returns the largest timestamp in the log and the base offset
// of the batch holding it (ListOffsets' MAX_TIMESTAMP), or -1, -1 if empty.
func (l *Log) MaxTimestamp() (timestamp, offset int64, err error) {
	l.segMu.RLock()
	best, bestSeg := int64(-1), -1
	for i, s := range l.segs {
		if s.Size() > 0 && s.MaxTimestamp() > best {
			best, bestSeg = s.MaxTimestamp(), i
		}
	}
	if bestSeg < 0 {
		l.segMu.RUnlock()
		return -1, -1, nil
	}
	seg := l.segs[bestSeg]
	if err := seg.AcquireErr(); err != nil {
		l.segMu.RUnlock()
		return -1, -1, l.acquireErr(err)
	}
	l.segMu.RUnlock()
	defer seg.Release()
	off, ts, ok, err := seg.FindOffsetByTimestamp(best, seg.BaseOffset())
	if err != nil || !ok {
		return -1, -1, err
	}
	return ts, off, nil
}

// Sync writes everything appended so far to stable storage and records it
// in the recovery checkpoint.
func (l *Log) Sync() error {
	if l.isClosed.Load() {
		return ErrClosed
	}
	if err := l.syncTo(l.nextOffset.Load()); err != nil {
		return err
	}
	return l.Checkpoint()
}

// syncTo returns once every offset below target is on stable storage. The
// caller that finds nobody syncing becomes the syncer and fsyncs for all
// appends made so far, so concurrent callers share one fsync.
func (l *Log) syncTo(target int64) error {
	sealedFlushed, err := l.flushTo(target)
	if sealedFlushed && l.segCache != nil {
		// The segments sealed since the last flush have just given up
		// their descriptors, so they can be parked now; the cache took
		// them at the roll, when they could not be, and would keep them
		// mapped past its capacity until its next Add.
		l.segCache.Trim()
	}
	return err
}

// flushTo is syncTo's flush. It also reports whether the flush covered
// segments sealed since the last one: they have given up their file
// descriptors and may be parked now.
func (l *Log) flushTo(target int64) (sealedFlushed bool, err error) {
	l.syncMu.Lock()
	defer l.syncMu.Unlock()
	if err := l.stickyErr(); err != nil {
		return false, err
	}
	// Read before the segments are: every segment ending at or below it
	// is sealed by then, so its Sync below closes its descriptor.
	sealedAt := l.sealedEnd.Load()
	prevSealed := l.sealedSynced.Load()
	if l.flushedOffset.Load() >= target && prevSealed >= sealedAt {
		return false, nil
	}
	pending := l.unflushed.Load()
	end := l.nextOffset.Load()
	flushed := l.flushedOffset.Load()
	// A segment flushed while active and rolled since holds no unflushed
	// data but must be synced once sealed (see sealedSynced).
	from := min(flushed, l.sealedSynced.Load())

	// Hold references to every segment with unflushed data.
	var buf [4]*segment.Segment
	segs := buf[:0]
	l.segMu.RLock()
	for _, s := range l.segs {
		// A segment that cannot be acquired was closed with the log (a
		// flush racing Close or topic deletion): nothing left to flush.
		if s.NextOffset() > from && !s.Parked() && s.Acquire() {
			segs = append(segs, s)
		}
	}
	l.segMu.RUnlock()
	start := time.Now()
	if len(segs) > 0 {
		observeSync(syncOpFlush, l.dir)
	}
	for _, s := range segs {
		if err == nil {
			err = s.Sync()
		}
		s.Release()
	}
	if err == nil && l.dirDirty.Swap(false) {
		if err = syncDir(l.dir); err != nil {
			l.dirDirty.Store(true)
		}
	}
	if obs := l.cfg.Load().FlushObserver; obs != nil {
		obs(time.Since(start), err)
	}
	if err != nil {
		// An fsync error may have dropped dirty pages: nothing after the
		// last good flush can be trusted any more (fsyncgate).
		return false, l.poison(fmt.Errorf("log: fsync %s: %w", l.dir, err))
	}
	l.flushedOffset.Store(end)
	l.sealedSynced.Store(max(l.sealedSynced.Load(), min(sealedAt, end)))
	l.unflushed.Add(-pending)
	l.lastFlush.Store(sinceStart())
	return min(sealedAt, end) > prevSealed, nil
}

// Checkpoint writes the recovery checkpoint (flushed offset and log start
// offset) and the producer snapshot, each if it changed. The Manager calls
// it periodically.
func (l *Log) Checkpoint() error {
	if err := l.checkpointRecovery(); err != nil {
		return err
	}
	if err := l.saveEpochsIfDirty(); err != nil {
		return err
	}
	return l.saveProducerSnapshot(false)
}

// checkpointRecovery writes the recovery checkpoint alone, if it changed.
func (l *Log) checkpointRecovery() error {
	if l.isClosed.Load() {
		// Close wrote the clean checkpoint; overwriting it would cost a
		// full recovery scan at the next open.
		return ErrClosed
	}
	return l.writeCheckpoint(false)
}

func (l *Log) writeCheckpoint(clean bool) error {
	l.ckptMu.Lock()
	defer l.ckptMu.Unlock()
	c := l.currentCheckpoint(clean)
	if !l.lastCkptPending && l.checkpointUnchanged(c) {
		return nil
	}
	// The epochs the new recovery offset stops recovery from relearning
	// must be durable first (see syncEpochs).
	if err := l.syncEpochs(); err != nil {
		return err
	}
	l.fileGen++
	if err := writeCheckpoint(l.dir, c); err != nil {
		return err
	}
	l.lastCkpt, l.lastCkptSet, l.lastCkptPending, l.ckptViaTmp = c, true, false, false
	return nil
}

// currentCheckpoint is the recovery checkpoint the log's state calls for.
// Caller holds ckptMu.
func (l *Log) currentCheckpoint(clean bool) checkpoint {
	c := checkpoint{
		clean:          clean,
		indexFormat:    indexFormatVersion,
		recoveryOffset: l.flushedOffset.Load(),
		logStartOffset: l.startOffset.Load(),
	}
	l.recordHighWatermark(&c)
	return c
}

// checkpointUnchanged reports whether the file written last already says
// c. Caller holds ckptMu.
func (l *Log) checkpointUnchanged(c checkpoint) bool {
	if !l.lastCkptSet {
		return false
	}
	if c == l.lastCkpt {
		return true
	}
	// A Manager's log: only the clean flag differs, and it counts only
	// with the data dir's clean-shutdown marker, which is gone while the
	// log is open. (An untouched partition keeps a clean file.)
	last := l.lastCkpt
	last.clean = c.clean
	return l.managed && !c.clean && c == last
}

// unflushedSince reports when the log was last flushed, and whether anything
// appended since is still unflushed (the Manager's flush.ms check).
func (l *Log) unflushedSince() (time.Time, bool) {
	if l.flushedOffset.Load() >= l.nextOffset.Load() {
		return time.Time{}, false
	}
	return processStart.Add(time.Duration(l.lastFlush.Load())), true
}

// processStart anchors lastFlush on the monotonic clock: times derived
// from it by Add keep a monotonic reading, so flush.ms's now.Sub(since)
// ignores wall-clock steps (a clock stepped back an hour would otherwise
// stop flush.ms fsyncs for that hour).
var processStart = time.Now()

// sinceStart is the monotonic time since processStart, in nanoseconds.
func sinceStart() int64 { return int64(time.Since(processStart)) }

// Close flushes the log, trims the active segment's indexes, writes the
// producer snapshot and a clean checkpoint and drops the log's references to its segments. Views held by
// readers stay valid until released.
func (l *Log) Close() error {
	l.writeMu.Lock()
	defer l.writeMu.Unlock()
	if !l.markClosed() {
		return nil
	}
	defer l.wakeWatchers()
	var errs []error
	if err := l.syncTo(l.nextOffset.Load()); err != nil {
		errs = append(errs, err)
	}
	sealErr := l.active().Seal()
	if sealErr != nil {
		errs = append(errs, sealErr)
	}
	// A failed snapshot write leaves the previous one, still valid: it
	// costs a longer scan at the next open, not a clean shutdown.
	snapErr := l.saveProducerSnapshot(false)
	if len(errs) == 0 {
		// Seal trimmed the indexes: make that durable before calling it clean.
		if err := l.active().Sync(); err != nil {
			errs = append(errs, err)
		} else if err := l.writeCheckpoint(true); err != nil {
			errs = append(errs, err)
		}
	}
	if snapErr != nil && isNoSpace(snapErr) {
		// On a full disk the snapshot's temp file has no room: the
		// previous snapshot stays, valid, and the close is still clean.
		l.cfg.Load().logger().Warn("log: no space for the producer snapshot at close; keeping the previous one",
			"dir", l.dir, "err", snapErr)
		snapErr = nil
	}
	if snapErr != nil {
		errs = append(errs, snapErr)
	}
	l.files.remove(l)
	l.segMu.Lock()
	for _, s := range l.segs {
		s.Close()
	}
	l.segMu.Unlock()
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("log: close %s: %w", l.dir, err)
	}
	return nil
}

// removeAll deletes the log's directory after closing it (topic deletion).
// Nothing is flushed first: the files are about to go.
func (l *Log) removeAll() error {
	if err := l.closeUnsynced(); err != nil {
		l.cfg.Load().logger().Warn("log: close before delete", "dir", l.dir, "err", err)
	}
	return removeDir(l.dir)
}

// isNoSpace reports a full disk or quota.
func isNoSpace(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT)
}

// markClosed marks the log closed, under writeMu, and reports whether this
// call did it (false: it was closed already). Readers see isClosed at once;
// the caller wakes the watchers once it has sealed what it closes.
func (l *Log) markClosed() bool {
	if l.closed {
		return false
	}
	l.closed = true
	l.isClosed.Store(true)
	return true
}
