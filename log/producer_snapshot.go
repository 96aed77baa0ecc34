package log

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/tributary-io/tributary/internal/framedfile"
	"github.com/tributary-io/tributary/recordbatch"
)

// The producer snapshot: the producer table as of an offset, so that Open
// scans only the batch headers after it. See the package comment for the
// layout.
const (
	// ProducerSnapshotFile is the per-partition producer snapshot's name.
	ProducerSnapshotFile = "producer-snapshot"

	// maxProducerSnapshotPayload bounds what Open reads: far more than
	// any partition's producers at the limit, with all their batches.
	maxProducerSnapshotPayload = 1 << 30
)

// producerSnapshotFormat frames producer-snapshot. Reader rule: read N
// and N-1.
var producerSnapshotFormat = framedfile.Format{
	Name: "producer snapshot", Magic: "TRPS", Version: 2, LegacyVersion: 1,
	MaxPayload: maxProducerSnapshotPayload,
}

var errBadProducerSnapshot = errors.New("log: unreadable producer snapshot")

// snapshotMark identifies the producer snapshot on disk. Guarded by ckptMu.
type snapshotMark struct {
	written bool   // the file holds the table at offset and version below
	offset  int64  // the log end offset it covers
	version uint64 // producerTable.version it was taken at
	// pending: written by a checkpoint pass whose syncfs has not
	// returned yet, so not known durable (see ckptpass.go): a write that
	// must be durable (before segments are deleted) writes it again.
	pending bool
}

// producerSnapshot is a decoded producer snapshot: the state of every
// producer with a batch below offset.
type producerSnapshot struct {
	offset    int64
	producers map[int64]*producerEntry
}

// readProducerSnapshot reads the producer snapshot in dir. present says
// whether there was a file; ok whether it could be decoded.
func readProducerSnapshot(dir string) (s producerSnapshot, present, ok bool, err error) {
	p, v, present, ok, err := readFramed(filepath.Join(dir, ProducerSnapshotFile), producerSnapshotFormat)
	if !ok || err != nil {
		return producerSnapshot{}, present, false, err
	}
	s, err = parseProducerSnapshot(p, v)
	if err != nil {
		return producerSnapshot{}, true, false, nil
	}
	return s, true, true, nil
}

// saveProducerSnapshot writes the producer table and the log end offset
// it covers, read together under pidMu, unless the file on disk already
// holds them. With mustReplace it always writes, and if that fails it
// removes the file: the file on disk may then describe batches the log no
// longer has (after a truncation), and no snapshot, which costs a full scan
// at the next Open, is always correct. Without mustReplace a failed write
// leaves the previous snapshot, which is still valid, in place.
func (l *Log) saveProducerSnapshot(mustReplace bool) error {
	l.ckptMu.Lock()
	defer l.ckptMu.Unlock()
	l.pidMu.Lock()
	end := l.nextOffset.Load()
	version := l.producers.version
	if !mustReplace && l.lastSnap == (snapshotMark{written: true, offset: end, version: version}) {
		l.pidMu.Unlock()
		return nil
	}
	data := encodeProducerSnapshot(end, l.producers.m)
	l.pidMu.Unlock()
	path := filepath.Join(l.dir, ProducerSnapshotFile)
	l.fileGen++
	observeSync(syncOpReplace, path)
	err := producerSnapshotFormat.WriteFrame(path, data)
	if err == nil {
		l.lastSnap = snapshotMark{written: true, offset: end, version: version}
		return nil
	}
	l.lastSnap = snapshotMark{}
	if !mustReplace {
		return err
	}
	if rerr := os.Remove(path); rerr != nil && !errors.Is(rerr, os.ErrNotExist) {
		return fmt.Errorf("log: replace producer snapshot: %w (and removing it: %w)", err, rerr)
	}
	if serr := syncDir(l.dir); serr != nil {
		return fmt.Errorf("log: replace producer snapshot: %w (and removing it: %w)", err, serr)
	}
	l.cfg.Load().logger().Warn("log: could not write the producer snapshot; removed the old one", "dir", l.dir, "err", err)
	return nil
}

// loadProducers builds the producer table at Open: from the snapshot when
// it is readable and does not reach past the log end, then from the batch
// headers after it (or from the log start without one). A snapshot that
// reaches past the log end (the tail it covered was lost or truncated) is
// replaced at once, before appends could carry the log end past it again
// and make it look valid. Caller is Open: nothing else runs yet.
func (l *Log) loadProducers() error {
	cfg := l.cfg.Load()
	next := l.nextOffset.Load()
	snap, present, ok, err := readProducerSnapshot(l.dir)
	if err != nil {
		return err
	}
	from := int64(0)
	l.producers.reset(map[int64]*producerEntry{})
	usable := ok && snap.offset <= next
	for _, lost := range l.recoveryInfo.Lost {
		// The snapshot describes batches that recovery just lost.
		usable = usable && snap.offset <= lost.From
	}
	if usable {
		l.producers.reset(snap.producers)
		from = snap.offset
	} else if present {
		cfg.logger().Warn("log: ignoring the producer snapshot, rebuilding producer state from the log",
			"dir", l.dir, "readable", ok, "snapshot_offset", snap.offset, "log_end_offset", next)
	}
	l.scanProducers(from, cfg)
	if l.producers.limit > 0 {
		// A snapshot written under a higher limit.
		l.producers.evictTo(l.producers.limit)
	}
	if usable && from == next {
		l.lastSnap = snapshotMark{written: true, offset: next, version: l.producers.version}
	}
	if present && !usable {
		return l.saveProducerSnapshot(true)
	}
	return nil
}

// scanProducers applies the sequenced batches at or after offset from to
// the producer table, reading only batch headers. A batch's append time
// is not in the log: its max timestamp stands in for it (as Kafka does), or
// now when it has none or it lies in the future. Caller holds writeMu and
// pidMu (or is Open) and keeps the segment list still.
func (l *Log) scanProducers(from int64, cfg *Config) {
	now := cfg.now().UnixMilli()
	l.producers.limit = cfg.MaxProducersPerPartition
	for _, seg := range l.segs {
		if seg.NextOffset() <= from {
			continue
		}
		err := seg.Batches(max(from, seg.BaseOffset()), func(h *recordbatch.Header, _ int64, _ []byte) bool {
			if h.BaseOffset >= from && sequenced(h) && h.BaseSequence >= 0 && h.ProducerEpoch >= 0 {
				at := h.MaxTimestamp
				if at < 0 || at > now {
					at = now
				}
				l.producers.apply(h, at)
			}
			return true
		})
		if err != nil {
			// Reads fail at the same place; the producers of the batches
			// after it in this segment may be unknown or behind.
			cfg.logger().Warn("log: producer state scan stopped early in a segment", "dir", l.dir,
				"segment", seg.Path(), "err", err)
		}
	}
}

// truncateProducers brings the producer table in line with a log just
// truncated to end. A producer keeps its cached batches below end: they
// are its state at the cut, even when retention already deleted them from
// the log (a rebuild from the log would forget such a producer). Only a
// producer all of whose cached batches were cut (an epoch bump in the cut
// region resets the cache) is rebuilt from the batches still in the log.
// Caller holds writeMu, segMu and pidMu.
func (l *Log) truncateProducers(end int64, cfg *Config) {
	old := l.producers.m
	next := make(map[int64]*producerEntry, len(old))
	var lost []int64
	for pid, e := range old {
		// The cached batches are in offset order: those kept are a prefix.
		k := 0
		for k < int(e.n) && e.batch(k).lastOffset() < end {
			k++
		}
		if k > 0 {
			e.n = uint8(k)
			next[pid] = e
		} else {
			lost = append(lost, pid)
		}
	}
	if len(lost) > 0 {
		l.producers.reset(map[int64]*producerEntry{})
		l.scanProducers(0, cfg)
		for _, pid := range lost {
			if e, ok := l.producers.m[pid]; ok {
				next[pid] = e
			}
		}
	}
	l.producers.reset(next)
	l.producers.version++
}
