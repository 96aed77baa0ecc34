// Package log owns one partition's log — an ordered list of segments with
// roll, retention, flush, recovery and truncation — and the Manager of a data
// directory holding every partition of every topic.
//
// It is usable embedded, without the server:
//
//	m, err := log.OpenManager("./data", log.Options{})
//	t, err := m.CreateTopic("events", 3, nil)
//	base, err := t.Partitions[0].Append(batches) // Kafka RecordBatch v2 bytes
//	b, err := t.Partitions[0].Read(base, 1<<20) // whole batches, a view of the mapping
//	defer b.Release()
//
// # Directory layout
//
//	<data-dir>/
//	  .lock                           flock: one process per data dir
//	  clean-shutdown                  empty; present only between a clean stop and the next start
//	  meta/topics/<topic>.json        topic id, partition count, config overrides
//	  meta/producer-ids               producer ID block reservation, see below
//	  <topic>-<partition>/
//	    00000000000000000000.log      see package segment
//	    00000000000000000000.index
//	    00000000000000000000.timeindex
//	    recovery-checkpoint           see below
//	    producer-snapshot             idempotent producers' state, see below
//	    cleaner-checkpoint            compacted logs only, see below
//	    <base>.log.cleaned, .swap     a cleaner swap in progress, see below
//
// # recovery-checkpoint
//
// A 32-byte file, replaced atomically (temp file, fsync, rename, fsync dir):
//
//	 0      4        6        8          12                20               28      32
//	+-------+--------+--------+----------+-----------------+----------------+-------+
//	| magic | version| flags  | index    | recovery offset | log start      | crc32c|
//	| "TRCK"| u16 =1 | u16    | format   | i64             | offset i64     | u32   |
//	+-------+--------+--------+----------+-----------------+----------------+-------+
//
// All integers big-endian. flags bit 0 = clean shutdown. The CRC-32C covers
// bytes 0..28. The recovery offset is the log end offset known to be on stable
// storage: recovery CRC-scans only the segments holding offsets at or past it.
// After a clean shutdown (flag set, index format equal to index.FormatVersion)
// nothing is scanned. Compatibility: a reader of version N reads N and N-1; a
// file it cannot read (other version, bad CRC, short) is treated as absent,
// which costs a full scan and forgets a DeleteRecords log start offset beyond
// the first segment, but never loses a batch.
//
// # Clean shutdown of a data dir
//
// A Manager opens, creates and closes partitions with a bounded pool of
// workers (Options.IOWorkers) and replaces per-partition fsyncs with
// syncfs(2) barriers on the data dir's file system, so that ten thousand
// partitions stop and start in seconds. Close: every log stops taking
// writes and seals its active segment, without fsync; one syncfs makes
// every byte durable; each log writes its producer snapshot and clean
// checkpoint (recovery offset = log end) by temp file and rename, without
// fsync; a second syncfs; then the empty file clean-shutdown is written and
// fsynced with the directory. OpenManager removes it durably before it
// serves anything. A partition's clean flag is trusted only when the marker
// was there: while the broker runs, a partition untouched since the clean
// start keeps its clean checkpoint (rewriting ten thousand of them at every
// start would cost two fsyncs each; the file is rewritten once its offsets
// change). Without the marker (a crash, or a close that failed anywhere)
// every partition recovers from its recovery offset; the recovered logs are
// then made durable by one syncfs, not an fsync each, and their recovery
// offsets advance at the next checkpoint. A partition directory of a
// Manager must therefore be opened through the Manager (a bare Open of it
// after a crash could trust a stale clean flag). Where syncfs is missing
// (not Linux) each log is closed and flushed with its own fsyncs.
//
// A partition holds one file descriptor, its active segment's: a sealed
// segment closes its own once flushed, and the Manager flushes a rolled
// segment within FlushSchedulerInterval of the roll, as Kafka does. At
// most Options.MappedSegments sealed segments stay memory-mapped; the
// least recently read are parked and mapped again when read (see package
// segment).
//
// # Log compaction (cleanup.policy=compact)
//
// Compact (run by the Manager's cleaner every CleanerBackoff for each log
// whose dirty ratio reaches min.cleanable.dirty.ratio, or whose oldest
// uncleaned record is older than max.compaction.lag.ms) keeps the latest
// record of each key, see compact.go. Keys are compared by the first 128
// bits of their SHA-256. Kept records stay in their batches at their
// offsets; emptied batches go, so a cleaned segment may start above its
// base offset and have gaps between batches, and a segment may end below
// the next one's base offset. Offsets are never reused: the active
// segment, never cleaned, carries the log end. Read of an offset in a gap
// returns the next batch after it, as Kafka does. Records without a key
// are refused by Append on a compacted log (ErrMissingKey).
//
// A cleaned segment replaces one or more consecutive sealed segments (the
// merge of those whose cleaned bytes fit in segment.bytes) under the first
// one's base offset b:
//
//  1. <b>.log.cleaned, <b>.index.cleaned and <b>.timeindex.cleaned are
//     written and fsynced (no lock held);
//  2. under writeMu: renamed to <b>.*.swap, the .log last, then the
//     directory fsynced: the commit point is the durable <b>.log.swap;
//  3. the other replaced segments' files are unlinked;
//  4. <b>.*.swap are renamed to their final names (replacing b's old
//     files), the directory fsynced, the new segment opened and swapped
//     into the segment list under segMu.
//
// Open undoes or completes an interrupted swap before loading segments:
// .cleaned files are removed (the old segments are intact); a <b>.log.swap
// replaces every segment whose base offset lies inside its offsets,
// (b, its next offset), and b's own files, and its indexes are rebuilt.
// Either way the log holds the old segments or the new one for each swap,
// never both for an offset and never less than every key's latest record.
// Readers holding views of a replaced segment keep them: its mapping keeps
// the unlinked inode alive until the last Release.
//
// # cleaner-checkpoint
//
// A 20-byte file, replaced atomically like the recovery checkpoint:
//
//	 0      4         6          8                16      20
//	+-------+---------+----------+----------------+-------+
//	| magic | version | reserved | cleaned offset | crc32c|
//	| "TRCL"| u16 =1  | u16 = 0  | i64            | u32   |
//	+-------+---------+----------+----------------+-------+
//
// The CRC-32C covers bytes 0..16. The cleaned offset is the base offset of
// the first segment the cleaner has not rewritten. It is written before a
// pass changes any segment, so recovery accepts offset gaps below it (in
// segment files and between segments) and treats any other gap as
// corruption, as before. The dirty ratio is the share of sealed bytes in
// segments at or past it. Absent: the log was never cleaned. Unreadable:
// gaps are accepted everywhere while loading (never cut a cleaned log),
// then it is rewritten with the active segment's base offset.
// Compatibility: a reader of version N reads N and N-1.
//
// # Idempotent producers
//
// Every batch with a producer ID (and not a control batch) is checked
// against its producer's state under writeMu, atomically with the append,
// as Kafka does for idempotent producers: a stale epoch is
// ErrInvalidProducerEpoch, a sequence gap ErrOutOfOrderSequence, a first
// sequence other than 0 from an unknown producer ErrUnknownProducerID, and a
// batch equal to one of the producer's last 5 is a retry answered with the
// original offsets without appending anything. Sequences are int32 and wrap
// from math.MaxInt32 to 0. A producer's state is dropped
// producer.id.expiration.ms after its last append (by ApplyRetention).
//
// # producer-snapshot
//
// The producer state as of a log end offset, written by Checkpoint and
// Close when it changed, before segments are deleted (retention,
// DeleteRecords: replay after a crash starts at the snapshot's offset, so
// it must not precede batches that are gone), and at once after a
// Truncate; replaced atomically like the checkpoint. All integers big-endian:
//
//	header, 20 bytes:
//	 0       4         6          8                16
//	+-------+---------+----------+----------------+-----------+
//	| magic | version | reserved | offset         | producers |
//	| "TRPS"| u16 = 1 | u16 = 0  | i64            | u32 = n   |
//	+-------+---------+----------+----------------+-----------+
//	then n producers, by increasing producer ID, each 20 bytes:
//	 0               8        10        12
//	+---------------+--------+---------+------------------+
//	| producer ID   | epoch  | batches | last append      |
//	| i64 >= 0      | i16    | u16 = b | i64 Unix ms      |
//	+---------------+--------+---------+------------------+
//	followed by its b (1..5) latest batches, oldest first, each 24 bytes:
//	 0               8                  12              16
//	+---------------+------------------+---------------+------------------+
//	| base offset   | last offset delta| base sequence | max timestamp    |
//	| i64           | i32              | i32           | i64              |
//	+---------------+------------------+---------------+------------------+
//	then a u32 CRC-32C of every byte before it.
//
// offset is the log end offset the state covers: every batch below it is
// in the state, none at or past it. Open loads the snapshot if its offset
// is at most the recovered log end, then applies the batch headers (not
// the records) from that offset to the end; without a usable snapshot it
// rebuilds from the log start. A snapshot past the log end (its tail was
// lost or truncated) is replaced at Open, before appends could make it
// look valid again. Compatibility: a reader of version N reads N and N-1;
// an unreadable file costs a scan of the whole log's batch headers.
//
// # meta/producer-ids
//
// A 20-byte file, replaced atomically, reserving producer IDs in blocks of
// 1000 before any of them is handed out:
//
//	 0      4         6          8                  16      20
//	+-------+---------+----------+------------------+-------+
//	| magic | version | reserved | next producer ID | crc32c|
//	| "TRPI"| u16 =1  | u16 = 0  | i64              | u32   |
//	+-------+---------+----------+------------------+-------+
//
// The CRC-32C covers bytes 0..16. Every ID below next may have been handed
// out; a restart resumes at next. Compatibility as above.
//
// # Guarantees
//
//   - Offsets are contiguous and never reused: Append assigns them by
//     rewriting each batch's base offset in place (not covered by the CRC).
//   - An appended batch is readable at once and survives kill -9 (it is in the
//     page cache). With flush.messages=1 Append returns only after fsync, and
//     concurrent appenders share one fsync (group commit).
//   - Recovery truncates only a torn or corrupt tail and never drops a
//     fully-written, valid batch that precedes it.
//   - A retried batch of an idempotent producer is never appended twice,
//     across restarts and kill -9 included: the producer state always
//     describes exactly the batches below the log end.
//   - Manager.AllocateProducerID never returns an ID twice for a data dir.
//
// # Concurrency and lock order
//
// One writer at a time and any number of readers. cleanMu serialises
// compaction passes and is taken first; a pass reads segments through
// references and takes writeMu only to swap a cleaned segment in. writeMu
// serialises every change (Append, roll, Truncate, DeleteRecordsBefore,
// retention, a cleaner swap, Close);
// segMu guards the segment list and is taken after writeMu; readers take only
// segMu.RLock, long enough to find a segment and Acquire a reference. syncMu
// serialises fsyncs and is never held while taking writeMu. ckptMu
// serialises checkpoint and producer snapshot writes and is taken after
// writeMu. pidMu guards the producer state with writeMu (changes hold both,
// reads either) and is taken last; a change of producer state and the
// nextOffset it goes with are published under one pidMu section, so the
// snapshot reads a consistent pair. Published positions (nextOffset,
// startOffset) are atomics stored after the data they cover. Order:
// cleanMu, writeMu, segMu, ckptMu, pidMu; syncMu apart. The cleaner
// checkpoint is written under ckptMu.
package log
