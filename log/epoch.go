package log

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/tributary-io/tributary/internal/framedfile"
	"github.com/tributary-io/tributary/internal/syncjournal"
	"github.com/tributary-io/tributary/recordbatch"
)

// The leader epoch cache (Kafka's LeaderEpochFileCache, KIP-101/279): for
// each leader epoch the partition's log holds data of, the offset where
// that epoch's data begins. Epochs and start offsets both strictly
// increase. It answers OffsetForLeaderEpoch (EndOffsetForEpoch), which a
// follower uses to find where its log diverges from the leader's.
//
// It changes when a leader takes over (BecomeLeader: the new epoch begins
// at the log end), when a follower appends a batch of an epoch it has not
// seen (AppendAsFollower), when recovery scans batches (each teaches the
// cache its PartitionLeaderEpoch), and with the log's bounds: truncation
// to an end drops the entries at or past it, and a log start offset that
// moves up (retention, DeleteRecords) drops the entries below it but the
// one covering it, whose start moves up to it.
//
// The cache lives in the leader-epoch-checkpoint file (see the package
// comment), overwritten in place at each change and not fsynced: the file
// is made durable before any recovery checkpoint is written (syncEpochs),
// by the Manager's checkpoint pass (one syncfs for every partition), or
// by the next durable write of the recovery checkpoint. Why that is
// enough is in the package comment ("leader-epoch-checkpoint").

const (
	// LeaderEpochCheckpointFile is the per-partition leader epoch cache.
	LeaderEpochCheckpointFile = "leader-epoch-checkpoint"
	// epochEntrySize is an entry's bytes: epoch i32, start offset i64.
	epochEntrySize = 12
	// maxEpochEntries bounds the entries a file may hold (one per
	// leadership change still in the log).
	maxEpochEntries = 1 << 16
)

// epochCkptFormat frames leader-epoch-checkpoint. Reader rule: read N and
// N-1 (version 1 is the first).
var epochCkptFormat = framedfile.Format{
	Name: "leader epoch checkpoint", Magic: "TRLE", Version: 1,
	MaxPayload: 4 + maxEpochEntries*epochEntrySize,
}

var (
	// ErrStaleLeaderEpoch: a leader epoch older than the partition's
	// latest (a fenced leader).
	ErrStaleLeaderEpoch = errors.New("log: leader epoch older than the partition's latest")
	errBadEpochCkpt     = errors.New("log: unreadable leader epoch checkpoint")
)

// EpochEntry is one entry of the leader epoch cache: the epoch's data
// begins at StartOffset.
type EpochEntry struct {
	Epoch       int32
	StartOffset int64
}

// epochCache is a Log's leader epoch cache.
type epochCache struct {
	// mu guards entries and onDisk; taken after writeMu (changes hold
	// both, except EndOffsetForEpoch's reads).
	mu      sync.Mutex
	entries []EpochEntry
	// onDisk: the file exists (read at Open or written since).
	onDisk bool
	// dirty: the file is behind entries (a write failed); Checkpoint
	// retries. Stored under mu; loaded without it.
	dirty atomic.Bool
	// unsynced: the file was replaced since it was last made durable
	// (replaceEpochs writes without fsync, see syncEpochs). Stored under
	// mu; loaded without it.
	unsynced atomic.Bool
	// gen counts the file's replacements, so that a sync can tell
	// whether the file it made durable is still the current one. Guarded
	// by mu.
	gen uint64

	latest atomic.Int32 // the last entry's epoch, -1 with none
	// stamp is the epoch that appends stamp in each batch (BecomeLeader),
	// -1 for none: batches are kept as produced. Stored under writeMu.
	stamp atomic.Int32
}

// assign records that epoch's data begins at start, if epoch is newer
// than the latest, dropping entries at or past start (an epoch that never
// got data). It reports whether entries changed.
func assignEpoch(entries []EpochEntry, epoch int32, start int64) ([]EpochEntry, bool) {
	if n := len(entries); n > 0 && epoch <= entries[n-1].Epoch {
		return entries, false
	}
	n := len(entries)
	for n > 0 && entries[n-1].StartOffset >= start {
		n--
	}
	return append(entries[:n], EpochEntry{epoch, start}), true
}

// truncateEpochsFromEnd drops the entries starting at or past end.
func truncateEpochsFromEnd(entries []EpochEntry, end int64) ([]EpochEntry, bool) {
	n := len(entries)
	for n > 0 && entries[n-1].StartOffset >= end {
		n--
	}
	return entries[:n], n != len(entries)
}

// truncateEpochsFromStart drops the entries wholly below start, keeping
// the one covering start, moved up to it.
func truncateEpochsFromStart(entries []EpochEntry, start int64) ([]EpochEntry, bool) {
	i := 0 // the last entry starting at or below start
	for i+1 < len(entries) && entries[i+1].StartOffset <= start {
		i++
	}
	if len(entries) == 0 || i == 0 && entries[0].StartOffset >= start {
		return entries, false
	}
	entries = append(entries[:0], entries[i:]...)
	entries[0].StartOffset = max(entries[0].StartOffset, start)
	return entries, true
}

// endOffsetForEpoch is Kafka's answer to OffsetForLeaderEpoch: the
// largest epoch <= requested and the start offset of the epoch after it
// (leo for the latest); (-1, -1) for an unknown epoch (-1, newer than the
// latest, or no entries); an epoch older than every entry gets itself and
// the first entry's start.
func endOffsetForEpoch(entries []EpochEntry, requested int32, leo int64) (int32, int64) {
	n := len(entries)
	switch {
	case requested == -1 || n == 0 || requested > entries[n-1].Epoch:
		return -1, -1
	case requested == entries[n-1].Epoch:
		return requested, leo
	}
	// The first entry with a higher epoch: one exists (requested < latest).
	h, _ := slices.BinarySearchFunc(entries, requested+1, func(e EpochEntry, t int32) int {
		return int(e.Epoch) - int(t)
	})
	if h == 0 {
		return requested, entries[0].StartOffset
	}
	return entries[h-1].Epoch, entries[h].StartOffset
}

func encodeEpochCheckpoint(entries []EpochEntry) []byte {
	b := epochCkptFormat.Start(4 + len(entries)*epochEntrySize)
	b = binary.BigEndian.AppendUint32(b, uint32(len(entries)))
	for _, e := range entries {
		b = binary.BigEndian.AppendUint32(b, uint32(e.Epoch))
		b = binary.BigEndian.AppendUint64(b, uint64(e.StartOffset))
	}
	return epochCkptFormat.Seal(b)
}

// decodeEpochCheckpoint decodes a whole leader-epoch-checkpoint file.
func decodeEpochCheckpoint(b []byte) ([]EpochEntry, error) {
	p, _, err := epochCkptFormat.Decode(b)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errBadEpochCkpt, err)
	}
	return parseEpochCheckpoint(p)
}

// parseEpochCheckpoint decodes the payload: u32 count, then the entries,
// epochs >= 0 and start offsets >= 0, both strictly increasing.
func parseEpochCheckpoint(p []byte) ([]EpochEntry, error) {
	if len(p) < 4 {
		return nil, fmt.Errorf("%w: %d-byte payload", errBadEpochCkpt, len(p))
	}
	n := binary.BigEndian.Uint32(p)
	if n > maxEpochEntries || uint64(len(p)) != 4+uint64(n)*epochEntrySize {
		return nil, fmt.Errorf("%w: %d entries in a %d-byte payload", errBadEpochCkpt, n, len(p))
	}
	entries := make([]EpochEntry, n)
	for i := range entries {
		q := p[4+i*epochEntrySize:]
		e := EpochEntry{int32(binary.BigEndian.Uint32(q)), int64(binary.BigEndian.Uint64(q[4:]))}
		if e.Epoch < 0 || e.StartOffset < 0 {
			return nil, fmt.Errorf("%w: entry %d is negative (epoch %d at %d)", errBadEpochCkpt, i, e.Epoch, e.StartOffset)
		}
		if i > 0 && (e.Epoch <= entries[i-1].Epoch || e.StartOffset <= entries[i-1].StartOffset) {
			return nil, fmt.Errorf("%w: entry %d (epoch %d at %d) does not follow epoch %d at %d", errBadEpochCkpt,
				i, e.Epoch, e.StartOffset, entries[i-1].Epoch, entries[i-1].StartOffset)
		}
		entries[i] = e
	}
	return entries, nil
}

// LeaderEpoch is the latest leader epoch in the partition's epoch cache;
// -1 if none.
func (l *Log) LeaderEpoch() int32 { return l.epochs.latest.Load() }

// LeaderEpochEntries returns a copy of the leader epoch cache, oldest
// first.
func (l *Log) LeaderEpochEntries() []EpochEntry {
	l.epochs.mu.Lock()
	defer l.epochs.mu.Unlock()
	return slices.Clone(l.epochs.entries)
}

// BecomeLeader makes appends from now on (Append, AppendBatches,
// AppendProduced) stamp PartitionLeaderEpoch=epoch in each batch header,
// and records in the leader epoch checkpoint that epoch begins at
// NextOffset(), if it is new (on a log whose cache is empty, at
// StartOffset(): data written before epochs were kept belongs to the
// first epoch the log knows, as a single broker's epoch 0 always did). An
// epoch lower than LeaderEpoch() is ErrStaleLeaderEpoch.
func (l *Log) BecomeLeader(epoch int32) error {
	if epoch < 0 {
		return fmt.Errorf("log: become leader of %s at epoch %d: epochs are >= 0", l.dir, epoch)
	}
	l.writeMu.Lock()
	defer l.writeMu.Unlock()
	if err := l.writable(); err != nil {
		return err
	}
	if err := l.leaderEpochAt(epoch); err != nil {
		return err
	}
	l.epochs.stamp.Store(epoch)
	return nil
}

// leaderEpochAt records that a leader's epoch begins at the log end (see
// BecomeLeader), unless the cache knows it already, and persists it; on
// failure nothing changes. Caller holds writeMu.
func (l *Log) leaderEpochAt(epoch int32) error {
	ec := &l.epochs
	if latest := ec.latest.Load(); epoch < latest {
		return fmt.Errorf("%w: epoch %d, partition %s is at %d", ErrStaleLeaderEpoch, epoch, l.dir, latest)
	} else if epoch == latest {
		return nil
	}
	ec.mu.Lock()
	defer ec.mu.Unlock()
	start := l.nextOffset.Load()
	if len(ec.entries) == 0 {
		start = l.startOffset.Load()
	}
	entries, _ := assignEpoch(slices.Clone(ec.entries), epoch, start)
	return l.replaceEpochs(entries)
}

// learnEpochs teaches the cache the PartitionLeaderEpoch of each of
// batches (whole, validated) that is newer than the latest, and persists
// the change; on failure nothing changes. Caller holds writeMu.
func (l *Log) learnEpochs(batches []byte) error {
	ec := &l.epochs
	latest := ec.latest.Load()
	var entries []EpochEntry
	for p := 0; p < len(batches); {
		h, _ := recordbatch.ParseHeader(batches[p:]) // validated
		if h.PartitionLeaderEpoch > latest {
			if entries == nil {
				ec.mu.Lock()
				entries = slices.Clone(ec.entries)
				ec.mu.Unlock()
			}
			entries, _ = assignEpoch(entries, h.PartitionLeaderEpoch, h.BaseOffset)
			latest = h.PartitionLeaderEpoch
		}
		p += h.Size()
	}
	if entries == nil {
		return nil
	}
	ec.mu.Lock()
	defer ec.mu.Unlock()
	return l.replaceEpochs(entries)
}

// replaceEpochs writes entries to the checkpoint file and, once that
// succeeded, makes them the cache. A cache that is empty, or holds only
// epoch 0 from the log start, is not written while no file exists: it is
// what a missing file and a single broker's BecomeLeader(0) rebuild, and
// ten thousand partitions need not each create a file for it. Caller
// holds writeMu and epochs.mu.
func (l *Log) replaceEpochs(entries []EpochEntry) error {
	ec := &l.epochs
	// A replicated log writes even the trivial cache: what a missing file
	// rebuilds is a single broker's epoch 0, not the epochs a replica had,
	// and a replica that restarts without its last epoch fetches without
	// it, so its leader cannot see that its tail diverged.
	if ec.onDisk || l.hws.replicated.Load() || !trivialEpochs(entries, l.startOffset.Load()) {
		// Overwritten in place, not fsynced (see syncEpochs): a takeover
		// of thousands of partitions and a follower's append of a new
		// epoch's first batch wait for no disk flush, and create no
		// file (a temp file and a rename in each partition cost more
		// than the fsyncs did).
		ec.gen++
		ec.unsynced.Store(true)
		err := overwriteUnsynced(filepath.Join(l.dir, LeaderEpochCheckpointFile), encodeEpochCheckpoint(entries))
		if err != nil {
			return l.limitErr(fmt.Errorf("log: write leader epoch checkpoint of %s: %w", l.dir, err))
		}
		ec.onDisk = true
	}
	ec.setEntries(entries)
	ec.dirty.Store(false)
	return nil
}

// trivialEpochs reports the cache a single broker's log has: nothing, or
// epoch 0 from the log start offset.
func trivialEpochs(entries []EpochEntry, start int64) bool {
	return len(entries) == 0 || len(entries) == 1 && entries[0] == EpochEntry{0, start}
}

// setEntries replaces the entries and publishes the latest epoch. Caller
// holds mu.
func (ec *epochCache) setEntries(entries []EpochEntry) {
	ec.entries = entries
	latest := int32(-1)
	if n := len(entries); n > 0 {
		latest = entries[n-1].Epoch
	}
	ec.latest.Store(latest)
}

// EndOffsetForEpoch is Kafka's OffsetForLeaderEpoch answer (KIP-101/279):
// the largest epoch <= epoch in the cache and the start offset of the
// epoch after it (NextOffset() for the latest); (-1, -1) if unknown.
func (l *Log) EndOffsetForEpoch(epoch int32) (leaderEpoch int32, endOffset int64) {
	l.epochs.mu.Lock()
	defer l.epochs.mu.Unlock()
	return endOffsetForEpoch(l.epochs.entries, epoch, l.nextOffset.Load())
}

// cutEpochs brings the cache in line with the log's bounds after a
// truncation or a move of the log start offset (end < 0: only the start
// moved). With must, a failed write is returned (truncation: the file
// would describe data that is gone); otherwise it is logged and retried
// by the next Checkpoint (entries below the log start are harmless: Open
// trims them). Caller holds writeMu.
func (l *Log) cutEpochs(end int64, must bool) error {
	ec := &l.epochs
	ec.mu.Lock()
	defer ec.mu.Unlock()
	entries, cutEnd := slices.Clone(ec.entries), false
	if end >= 0 {
		entries, cutEnd = truncateEpochsFromEnd(entries, end)
	}
	entries, cutStart := truncateEpochsFromStart(entries, l.startOffset.Load())
	if !cutEnd && !cutStart {
		return nil
	}
	err := l.replaceEpochs(entries)
	if err != nil && !must {
		l.cfg.Load().logger().Warn("log: could not trim the leader epoch checkpoint; retrying at the next checkpoint",
			"dir", l.dir, "err", err)
		ec.setEntries(entries)
		ec.dirty.Store(true)
		return nil
	}
	return err
}

// persistEpochs writes the cache of a log that has just become
// replicated when only its trivial form (epoch 0 from the log start) was
// kept in memory (see replaceEpochs). A failed write is retried by
// Checkpoint. Caller holds writeMu.
func (l *Log) persistEpochs() {
	ec := &l.epochs
	ec.mu.Lock()
	defer ec.mu.Unlock()
	if ec.onDisk || len(ec.entries) == 0 {
		return
	}
	if err := l.replaceEpochs(slices.Clone(ec.entries)); err != nil {
		l.cfg.Load().logger().Warn("log: could not write the leader epoch checkpoint; retrying at the next checkpoint",
			"dir", l.dir, "err", err)
		ec.dirty.Store(true)
	}
}

// saveEpochsIfDirty retries a failed write of the checkpoint file.
func (l *Log) saveEpochsIfDirty() error {
	if !l.epochs.dirty.Load() {
		return nil // the usual case: no lock taken
	}
	l.writeMu.Lock()
	defer l.writeMu.Unlock()
	ec := &l.epochs
	ec.mu.Lock()
	defer ec.mu.Unlock()
	if !ec.dirty.Load() || l.closed {
		return nil
	}
	return l.replaceEpochs(slices.Clone(ec.entries))
}

// loadEpochs builds the cache at Open: from the checkpoint file, then
// from the batches recovery scanned (those at or past recoverFrom, unless
// the shutdown was clean; every batch when the file is unreadable), each
// teaching the cache its PartitionLeaderEpoch; entries past the recovered
// log end go, and those below the log start but the one covering it. A
// missing file is an empty cache (a data dir from before epochs were
// kept). Caller is Open: nothing else runs yet.
func (l *Log) loadEpochs(clean bool, recoverFrom int64) error {
	ec := &l.epochs
	ec.stamp.Store(-1)
	p, _, present, ok, err := readFramed(filepath.Join(l.dir, LeaderEpochCheckpointFile), epochCkptFormat)
	if err != nil {
		return err
	}
	var entries []EpochEntry
	if ok {
		if entries, err = parseEpochCheckpoint(p); err != nil {
			ok = false
		}
	}
	ec.onDisk = present
	scanFrom := int64(-1)
	switch {
	case present && !ok:
		l.cfg.Load().logger().Warn("log: unreadable leader epoch checkpoint, rebuilding it from the batch headers", "dir", l.dir)
		entries, scanFrom = nil, 0
	case !clean:
		scanFrom = recoverFrom
	}
	changed := !ok && present
	wasEmpty := len(entries) == 0
	if scanFrom >= 0 {
		for _, seg := range l.segs {
			if seg.NextOffset() <= scanFrom {
				continue
			}
			err := seg.Batches(max(scanFrom, seg.BaseOffset()), func(h *recordbatch.Header, _ int64, _ []byte) bool {
				if h.PartitionLeaderEpoch >= 0 {
					var c bool
					entries, c = assignEpoch(entries, h.PartitionLeaderEpoch, h.BaseOffset)
					changed = changed || c
				}
				return true
			})
			if err != nil {
				l.cfg.Load().logger().Warn("log: leader epoch scan stopped early in a segment", "dir", l.dir,
					"segment", seg.Path(), "err", err)
			}
		}
	}
	if wasEmpty && len(entries) > 0 {
		// The log's data below the scan (unstamped, or of no epoch the
		// cache knew) belongs to the first epoch found, as BecomeLeader
		// has it on an empty cache: a single broker's crashed log comes
		// back as epoch 0 from its log start, and writes no file.
		entries[0].StartOffset = min(entries[0].StartOffset, l.startOffset.Load())
	}
	next := l.nextOffset.Load()
	n := len(entries)
	for n > 0 && entries[n-1].StartOffset > next {
		n-- // past the recovered end: that data is gone
	}
	changed = changed || n != len(entries)
	entries = entries[:n]
	entries, cut := truncateEpochsFromStart(entries, l.startOffset.Load())
	ec.mu.Lock()
	defer ec.mu.Unlock()
	if !changed && !cut {
		ec.setEntries(entries)
		return nil
	}
	return l.replaceEpochs(entries)
}

// syncEpochs makes the leader-epoch-checkpoint file durable if it was
// replaced since it last was. It must run before a recovery checkpoint is
// written (any write of it, durable or not: the kernel may write a page
// back at any time): recovery relearns from the batches only the epochs
// that begin at or past the recovery offset on disk, so every epoch
// beginning below it must be in a durable file first. An epoch's entry
// is in the cache before the log's flushed offset can pass the epoch's
// start (BecomeLeader records the log end; a follower learns a batch's
// epoch before appending it), so syncing after the recovery offset was
// read covers every entry it relies on. No lock is held across the
// fsyncs (the cache's writers hold writeMu): a replacement meanwhile
// leaves the flag set for the next sync. Caller holds ckptMu.
func (l *Log) syncEpochs() error {
	ec := &l.epochs
	if !ec.unsynced.Load() {
		return nil
	}
	ec.mu.Lock()
	gen := ec.gen
	ec.mu.Unlock()
	path := filepath.Join(l.dir, LeaderEpochCheckpointFile)
	observeSync(syncOpFsync, path)
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		// Replaced by nothing: a failed write removed its temp file and
		// left no file, which reads as an empty cache, rebuilt from the
		// batches.
		err = nil
	} else if err == nil {
		err = syncjournal.Sync(f)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err == nil {
		err = syncDir(l.dir)
	}
	if err != nil {
		return fmt.Errorf("log: sync leader epoch checkpoint of %s: %w", l.dir, err)
	}
	ec.mu.Lock()
	if ec.gen == gen {
		ec.unsynced.Store(false)
	}
	ec.mu.Unlock()
	return nil
}

// epochSyncMark is a log's epoch file generation before a file-system
// barrier (syncfs) that makes it durable.
type epochSyncMark struct {
	l   *Log
	gen uint64
}

// epochMarks returns the logs whose epoch file is not known durable, with
// their generations, to be passed to epochsSynced after a syncfs.
func epochMarks(logs []*Log) []epochSyncMark {
	var out []epochSyncMark
	for _, l := range logs {
		if !l.epochs.unsynced.Load() {
			continue
		}
		l.epochs.mu.Lock()
		out = append(out, epochSyncMark{l, l.epochs.gen})
		l.epochs.mu.Unlock()
	}
	return out
}

// epochsSynced records that a syncfs that began after epochMarks made the
// epoch files of marks durable: those not replaced since are synced.
func epochsSynced(marks []epochSyncMark) {
	for _, m := range marks {
		ec := &m.l.epochs
		ec.mu.Lock()
		if ec.gen == m.gen {
			ec.unsynced.Store(false)
		}
		ec.mu.Unlock()
	}
}
