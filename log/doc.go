// Package log owns one partition's log — an ordered list of segments with
// roll, retention, flush, recovery and truncation — and the Manager of a data
// directory holding the partitions of its topics that it hosts (every one on a
// single broker; a broker of a cluster hosts its replicas only).
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
//	  meta/topics/<topic id>.json     name, topic id, partition count, hosted partitions,
//	                                  config overrides (named by id: a 249-character name
//	                                  would not fit NAME_MAX; format in topicmeta.go)
//	  meta/producer-ids               producer ID block reservation, see below
//	  <hex>.deleting/                 a partition being deleted; removed at open
//	  <topic>-<partition>/            one per hosted partition: every partition on a single
//	                                  broker, a cluster broker's replicas only (hosted.go)
//	    00000000000000000000.log      see package segment
//	    00000000000000000000.index
//	    00000000000000000000.timeindex
//	    recovery-checkpoint           see below
//	    leader-epoch-checkpoint       leader epoch cache, see below
//	    producer-snapshot             idempotent producers' state, see below
//	    cleaner-checkpoint            compacted logs only, see below
//	    lost-offsets                  offset gaps left by damage, see below
//	    <base>.log.cleaned, .swap     a cleaner swap in progress, see below
//	    truncate-intent               a truncation in progress, see below
//
// # Small files
//
// recovery-checkpoint, lost-offsets, cleaner-checkpoint, producer-snapshot,
// leader-epoch-checkpoint and meta/producer-ids are framed by package internal/framedfile (magic,
// version, length, CRC-32C over header and payload; see its doc for the
// bytes) and replaced atomically (temp file, fsync, rename, fsync dir),
// but for the Manager's checkpoint pass and close (see "Checkpoint pass"
// and "Clean shutdown of a data dir") and the leader epoch checkpoint
// (overwritten in place without fsync, see there).
// Each is at version 2; version 1 was the frame without the reserved and
// length word, and is still read (the rule: read N and N-1, write N). Its
// payloads below are those of version 2; a version-1 payload is the same
// but for a reserved u16 = 0 first (none for the recovery checkpoint,
// whose payload is unchanged; the producer snapshot's also changed its
// fields, see there). All integers are big-endian. A file that does not
// decode is treated as said below for each, never as a value.
//
// # recovery-checkpoint
//
// Magic "TRCK", a 22-byte payload, or 30 bytes with a high watermark:
//
//	 0        2          6                 14               22              30
//	+--------+----------+-----------------+----------------+---------------+
//	| flags  | index    | recovery offset | log start      | high          |
//	| u16    | format   | i64             | offset i64     | watermark i64 |
//	+--------+----------+-----------------+----------------+---------------+
//	                                                         only with bit 1
//
// flags bit 0 = clean shutdown; bit 1 = a high watermark follows; other
// bits must be 0. The high watermark is recorded for a replicated log
// (SetReplicated, see hw.go) and for a log opened with one recorded,
// until SetReplicated(false): an unreplicated log's file is what it always
// was, byte for byte, and is rewritten no more often. At Open it is
// clamped to the recovered [log start, log end] (a tail lost to a crash
// takes the high watermark down with it: HW <= LEO), and SetReplicated(true)
// starts from it; a file without one starts a replicated log's high
// watermark at the log end (data written by an unreplicated broker was
// all committed). The high watermark is an optional field of version 2,
// not a version 3: framedfile reads N and N-1, and a version 3 would stop
// reading version-1 files (the legacy frame); a release that predates
// the field refuses bit 1 (unknown flag), so it treats the file as
// unreadable and scans, never misreads it. The recovery offset
// is the log end offset known to be on stable storage: recovery CRC-scans
// only the segments holding offsets at or past it. After a clean shutdown
// (flag set, index format equal to index.FormatVersion; for a Manager's
// partition the data dir's clean-shutdown marker too, or the marker alone
// when a clean stop left no file) nothing is scanned. A file that cannot be read is treated as absent, which costs a
// full scan and forgets a DeleteRecords log start offset beyond the first
// segment, but never loses a batch. It is the one file overwritten in
// place when the disk has no room for a temp file (framedfile's
// OverwriteWhenFull): Open must mark the log open before taking writes,
// also on a full disk.
//
// # leader-epoch-checkpoint
//
// The leader epoch cache (epoch.go): for each leader epoch the log holds
// data of, the offset where it begins, as Kafka's file of that name.
// Magic "TRLE", version 1; the payload is a u32 count n (at most 65536),
// then n entries, each epoch i32 and start offset i64, both >= 0 and
// strictly increasing. Rewritten at each change: BecomeLeader with a new
// epoch, an append (leader or follower) whose batch carries a newer
// PartitionLeaderEpoch, truncation (entries at or past the new end go,
// and a failed write poisons the log as the producer snapshot's does),
// and a move of the log start (retention, DeleteRecords: entries below it
// go but the one covering it, moved up to it; a failed write is retried
// by Checkpoint, and Open trims the same way). At Open the batches that
// recovery scans (those past the recovery offset, after an unclean stop)
// teach it their PartitionLeaderEpoch, and entries past the recovered log
// end go.
//
// The file is overwritten in place (one pwrite, then a cut if it
// shrank) without fsync, so that a takeover of thousands of partitions,
// and a follower's append of a new epoch's first batch, wait for no disk
// flush and create no file. A crash midway leaves at worst a frame that
// fails its CRC, an unreadable file. The rule that makes this safe: the file is made durable before any recovery checkpoint is
// written (syncEpochs: an fsync of the file and the directory, or the
// syncfs of the Manager's checkpoint pass), and recovery relearns every
// epoch that begins at or past the recovery offset from the batches'
// PartitionLeaderEpoch. An epoch's entry exists before the log's flushed
// offset can pass its start (BecomeLeader records the log end, a
// follower learns a batch's epoch before it appends it), so every entry
// below the recovery offset on disk is in a durable file, and after a
// power loss the cache holds every epoch of the data the log still has:
// it never claims less than a follower's truncation relies on. What a
// power loss can take back is an entry of an epoch with no data yet (its
// start is the log end, what the epoch before it ends at anyway) or one
// whose batches it also took; a torn file is rebuilt from the batch
// headers. Kafka
// (KAFKA-15046) kept the fsync when an epoch is assigned and dropped it
// for truncations, whose stale entries loading trims; here both go
// without, the recovery checkpoint carrying the ordering. Absent: empty (a data dir from before epochs were kept; a
// single broker's Manager then makes each partition lead at epoch 0 from
// its log start, and a cache of just that is not written on an
// unreplicated log, so a single broker creates no such file; a
// replicated log writes it, since a replica must know its epochs after a
// restart). Unreadable: rebuilt from every batch
// header of the log.
//
// # Damage and offset gaps
//
// Recovery repairs each segment on its own (recover.go): a segment is cut
// at its first bad batch, and the valid batches after the damage are kept
// as a segment of their own (named by their first base offset); later
// segments whose batches verify are kept; a segment that overlaps the one
// before keeps only its batches past that one's end. What damage took
// away, and a missing segment file, is left as an offset gap between
// segments, which Read skips as it skips the cleaner's gaps. Offsets
// below the recovery checkpoint's offset were on stable storage and are
// never given out again: when such a tail is lost the log goes on in a
// new segment at the checkpoint's offset.
//
// The last segment is repaired by the same rule as a sealed one, on
// either side of the recovery checkpoint: the checkpoint is written only
// now and then, so after kill -9 it lags the batches flush.messages=1
// fsynced and acknowledged. Only its torn tail is cut and its offsets
// given out again, as Kafka does: damage that runs to the end of the
// file, that is a batch that follows the log but whose length runs past
// the end of the file (a write a crash cut short; nothing inside it is
// looked at, its records may hold anything, batches included), or damage
// after which no batch is found. Damage followed by valid batches is not
// a torn tail, and nothing below the recovery point is: it was on stable
// storage before the crash.
//
// Past damage the log resumes (segment.RecoverOptions, one rule for
// every segment) at a whole, CRC-valid batch whose base offset, which no
// CRC covers, something vouches for: a valid batch right after it that
// follows it, the intact header of the batch before it, or, for a last
// batch, the next segment's base offset (in the last segment: the
// recovery point) beginning where it ends. The scan follows the damaged
// batches' framing first, so nothing inside a batch whose length is
// intact is taken; and the chain from the resumed batch must hold to the
// end of the file, every batch found past a later break going on from
// where it got, so that a batch stored in the records of a batch whose
// length was damaged, found by the byte-by-byte scan, is not taken when
// the log's real batches after it contradict its offsets. After power
// loss without flush.messages, pages that never reached the disk read as
// zeros (or old bytes) in the middle of the file: the valid batches after
// such a hole are intact and are kept when vouched for; their offsets
// were given out, so the hole is a gap, not reused.
//
// What is not kept: a last batch of the last segment past the recovery
// point that only its damaged predecessor's header could vouch for (the
// damage hit that header's length, base offset or offset delta); and a
// batch past the recovery point whose length field was damaged so that
// it runs past the end of the file, which reads as a torn tail. Both cost acknowledged batches
// after a one-byte fault in a few bytes of one header. Likewise, in any
// segment, a length field damaged so that its batch now ends exactly
// where a later batch begins makes the batches in between part of the
// damaged one: the scan follows a damaged batch's framing before it tries
// every byte, so that a batch stored inside a record is never taken for a
// real one, and here the framing still leads somewhere valid.
//
// We do not record the flushed offset on each group-commit fsync (for
// example by advancing the recovery checkpoint without fsyncing it),
// although after kill -9 it would vouch for that last batch and tell a
// flushed tail from a torn one exactly. A write per fsync on the produce
// path (a rename and directory entry for the framed checkpoint, or a
// second file to keep consistent with it) buys that only for the narrow
// case above, only after a process crash (after power loss an unsynced
// record may be stale, so the rule above must stand on its own anyway),
// and ties recovery to the append path's timing; the checkpoint stays
// periodic and recovery relies on what the bytes themselves prove.

// # lost-offsets
//
// The gaps recovery reported, so that each is logged (at ERROR) and
// counted once; absent when there are none. A small file (see above),
// magic "TRLO"; the payload is a u32 count n, then n ranges, each from i64
// and to i64: the offsets [from, to), sorted, not touching. Each open
// rewrites it with the gaps still in the log (those below the log start
// go); at most 4096 ranges, the lowest forgotten first. An unreadable file
// counts as empty, which reports its gaps again.
//
// # Checkpoint pass
//
// Every CheckpointInterval (log.flush.offset.checkpoint.interval.ms) the
// Manager writes each partition's recovery checkpoint and producer
// snapshot that changed (ckptpass.go). Kafka keeps one file per data dir
// for all partitions' recovery points; here each partition keeps its own
// files, unchanged in format, and the pass makes all of them durable with
// at most two syncfs(2) of the data dir's file system instead of two
// fsyncs per changed file:
//
//  1. for each partition, without fsync: a producer snapshot of
//     unchanged size is overwritten in place; one of a new size, and a
//     checkpoint without a file of its size yet, go to a temp file;
//  2. one syncfs makes the temp files durable, and every leader epoch
//     file replaced since the last pass (see leader-epoch-checkpoint);
//  3. under each log's ckptMu: the temp files are renamed over their
//     files, unless a truncation or a close wrote the file meanwhile
//     (theirs is newer; a generation count tells), and a checkpoint whose
//     file exists is overwritten in place (a pwrite of a few dozen bytes
//     within one sector) with the log's current values, its epoch file
//     synced first if it changed since step 2;
//  4. one syncfs makes all of it durable.
//
// A crash anywhere leaves each file old, new or, for an in-place
// snapshot or a renamed file after a power loss, unreadable: an older
// recovery checkpoint only scans more, an unreadable snapshot rebuilds
// the producers from the batch headers. A file the pass wrote counts as
// durable only once step 4 returned: until then a write that must be
// durable (the producer snapshot before segments are deleted, Sync's
// checkpoint) writes it again itself. A pass with nothing changed syncs
// nothing. Without syncfs (not Linux) each log's Checkpoint runs as
// before, its files replaced atomically with fsyncs.
//
// # Clean shutdown of a data dir
//
// A Manager opens, creates and closes partitions with a bounded pool of
// workers (Options.IOWorkers), so that ten thousand partitions stop and
// start in seconds. Close, for each log on the pool: it stops taking
// writes and seals its active segment; an fsync of each segment holding
// data past the last flush (and of the active segment if the seal
// changed its indexes), of the partition directory if a segment file
// came or went since it was last synced, and of the leader epoch file if
// it was replaced since; then its producer snapshot (not for a log under
// 1 MiB without a snapshot file whose producers' batches are all still
// in it: the next open rebuilds them from the batch headers) and its
// clean checkpoint (recovery offset = log end), each in place and
// fsynced, with the directory when the file is new, and only if it
// changed; no checkpoint file is created for a log that has none and
// starts at its first segment (creating a file in each of ten thousand
// new partitions was most of a stop's time). A log untouched since its
// last flush costs no fsync. Then the data dir is fsynced (the entries of
// partitions created since the start) and the empty file
// clean-shutdown is written and fsynced with the directory (a close
// makes durable what the broker wrote, and only that: a syncfs(2) would
// flush every dirty page of the file system, another process's too, and
// on a disk shared with a writer of gigabytes a stop waited tens of
// seconds for bytes the broker never wrote). OpenManager removes the
// marker durably before it serves anything. With the marker there
// every partition is clean, with or without a checkpoint file, whatever
// the file's clean flag says (while the broker runs, a partition
// untouched since the clean start keeps its clean checkpoint: rewriting
// ten thousand of them at every start would cost two fsyncs each; the
// file is rewritten once its offsets change). Without the marker (a crash, or a close that failed anywhere)
// every partition recovers from its recovery offset; the recovered logs are
// then made durable by one syncfs, not an fsync each, and their recovery
// offsets advance at the next checkpoint. A partition directory of a
// Manager must therefore be opened through the Manager (a bare Open of it
// after a crash could trust a stale clean flag). Where syncfs is missing
// (not Linux) each recovered log is flushed with its own fsyncs.
//
// A partition holds at most one file descriptor, its active segment's: a
// sealed segment closes its own once flushed, and the Manager flushes a
// rolled segment within FlushSchedulerInterval of the roll, as Kafka does
// (one whose data a flush covered while it was active too: that flush
// could not close its descriptor).
// At most Options.OpenFiles active segments (by default half of
// RLIMIT_NOFILE) hold theirs: admitting one more makes the least recently
// written partition not being written give its descriptor up (a clock,
// files.go), so partitions alone never exhaust the file limit. Its next
// append opens the file again (a write to a partition in the set costs
// nothing more); an append not yet flushed stays in the page cache and its
// fsync (flush.ms, flush.messages, close) goes through a descriptor opened
// by path, on the same inode (see package segment). At
// most Options.MappedSegments sealed segments stay memory-mapped; the
// least recently read are parked and mapped again when read (see package
// segment). A segment rolled is parked only once flushed, so the flush
// that covers newly sealed segments trims the cache again (syncTo).
// Mappings therefore follow data, never leadership changes: a partition's
// active segment maps its .log (once), its .timeindex from its first
// batch and its .index from its first entry, so a broker holds at most
// 3 x partitions + 3 x MappedSegments of them (plus segments readers
// still hold), which vm.max_map_count (65,530 by default) must allow:
// about 17,000 partitions with the default MappedSegments.
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
// # Validation
//
// A batch's validity is one rule, ValidateBatches (validate.go), by
// writer: a client's produce (WriterProducer: one batch, no control or
// transactional batch, CRC, records read whole and matching the header,
// max.message.bytes, keys in a compacted log, producer fields), the
// broker's own batches (WriterBroker, what AppendBatches checks: CRC,
// max.message.bytes, keys, producer fields), and a follower's append of
// its leader's batches (WriterLeader: header and CRC only, offset gaps of
// cleaned batches allowed; the leader read the records and applied the
// size and key rules, and the CRC shows the bytes are the ones it
// read). A follower's append then checks the batches' offsets: at or
// past the log end, increasing, gaps allowed (see cleaner-checkpoint). The produce path runs it before AppendProduced, holding one of
// the server's decompression slots; AppendProduced then checks only the
// header again.
//
// # Truncation
//
// Truncate (replication's cut of a diverged tail) never waits for
// readers, and readers never see bytes change under a view. Under
// writeMu (and syncMu, so no fsync holds a reference meanwhile) it:
//
//  1. writes truncate-intent: magic "TRTI", version 2, a 9-byte
//     payload, the offset truncated to (i64 >= 0) and the mode (u8: 0
//     Truncate, 1 TruncateFullyAndStartAt), framed and replaced
//     atomically as the small files above (version 1, still read, was
//     the offset alone, mode 0);
//  2. drops the segments wholly at or past the offset from the list
//     (under segMu) and deletes them, last first: views of them keep
//     their unlinked files;
//  3. cuts the segment that keeps batches below it, which becomes the
//     active one: in place (ftruncate; a sealed one opened writable
//     again) when only the log holds it, checked under segMu, under
//     which readers take their references; otherwise by a copy of its
//     kept batches to <base>.log.tmp, fsynced, its index files removed
//     and the copy renamed over <base>.log, then opened with rebuilt
//     indexes and swapped in under segMu: the views keep the old inode,
//     unchanged, through their mapping until released;
//  4. fsyncs the active segment and the directory, publishes the new end
//     and producer state, writes the producer snapshot and the recovery
//     checkpoint (afterTruncate);
//  5. removes truncate-intent and fsyncs the directory.
//
// A failure anywhere after step 1 poisons the log (ErrStorage). Open
// finds a truncate-intent left by a crash (or a poisoned log) and, after
// loading the segments (recovering from no later than its offset, so
// that a checkpoint vouching for cut offsets does not make them a gap),
// runs the truncation again: whatever step the crash stopped at, the log
// holds the truncated state, every kept batch included. A crash before
// step 1 leaves the old log.
//
// TruncateFullyAndStartAt (a follower whose log ends below its leader's
// log start) takes the same steps with mode 1: step 2 deletes every
// segment and creates an empty one at the offset, which may lie past
// the old end; step 4 also empties the producer state and the leader
// epoch cache and sets the high watermark to the offset. Open, finding a
// mode-1 intent, deletes the segment files unread (nothing in them is
// kept, so nothing is recovered or reported lost) and starts the log at
// the intent's offset before completing it. An unreadable intent is dropped with a
// warning: the log then holds a prefix of the old one that contains
// every kept batch.
//
// # cleaner-checkpoint
//
// Magic "TRCL", an 8-byte payload: the cleaned offset, an i64 >= 0.
//
// The cleaned offset is the offset below which the log may hold the
// offset gaps of a cleaned log: recovery accepts gaps below it (in
// segment files and between segments) and treats any other gap as
// corruption. Two writers move it, only up, each before the gaps it
// covers are written:
//
//   - the cleaner, to the base offset of the first segment it has not
//     rewritten, before a pass changes any segment;
//   - a follower copying a compacted leader's log (AppendAsFollower),
//     whose batches keep the leader's offsets and so the gaps the
//     leader's cleaner left: an append with a gap (a batch starting past
//     where the log or the batch before it ends) first moves it to the
//     append's end, so that every batch after a gap starts below it.
//     Appends without a gap (every append of an uncompacted topic) never
//     touch it. An append that fails after the mark moved leaves it
//     above the log end, which only means a gap there would be taken for
//     a cleaned one.
//
// Truncation moves it down to the new log end (nothing past the end is
// cleaned any more). The dirty ratio is the share of sealed bytes in
// segments at or past it: on a follower, segments it copied with gaps
// count as cleaned (the leader cleaned them), so its own cleaner waits
// for later data. Absent: the log was never cleaned nor copied with
// gaps. Unreadable: gaps are accepted everywhere while loading (never cut
// a cleaned log), then it is rewritten with the active segment's base
// offset.
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
// producer.id.expiration.ms after its last append (by ApplyRetention), as
// in Kafka. Unlike Kafka, a partition also keeps at most
// max.producers.per.partition producers (default 10,000): a new producer
// past it evicts the producer whose last append is the oldest (the table
// keeps its producers in a list by last append, so this costs constant
// time), which is then answered as an expired one. So a flood of
// short-lived producers costs a partition at most ~1 MiB of heap and
// ~100 KiB of snapshot; one producer costs ~100 bytes of heap with one
// batch cached, ~200 with five (BenchmarkProducerState).
//
// # producer-snapshot
//
// The producer state as of a log end offset, written by Checkpoint and
// Close when it changed, before segments are deleted (retention,
// DeleteRecords) or cleaned (compaction: replay after a crash starts at
// the snapshot's offset, so it must not precede batches that are gone),
// and at once after a Truncate. Magic "TRPS". The version-2 payload is a
// fixed header, then varints (uvarint: unsigned LEB128 as
// encoding/binary writes it; varint: zigzag-signed), each in its shortest
// form (a longer one is refused, so a snapshot that decodes encodes back
// to the same bytes):
//
//	header, 12 bytes:
//	 0                8           12
//	+----------------+-----------+
//	| offset         | producers |
//	| i64            | u32 = n   |
//	+----------------+-----------+
//	then n producers, by increasing producer ID, each:
//	  producer ID        uvarint: the first's own; then the gap after
//	                     the previous one (ID - previous - 1)
//	  last append        varint Unix ms: the first's own; then the
//	                     difference to the previous producer's
//	  epoch              uvarint, 0..32767
//	  batches b          1 byte, 1..5
//	  then its b latest batches, oldest first, each:
//	    base offset      uvarint: the first's distance below offset
//	                     (offset - base); then the gap after the
//	                     previous batch's last offset (base - last - 1)
//	    last offset delta  uvarint, 0..2^31-1 (also its sequence span)
//	    base sequence    uvarint, 0..2^31-1
//	    max timestamp    varint: the difference to the last append
//
// Version 1 (still read) had fixed-width fields, a reserved u16 = 0 before
// the header, and 20 bytes a producer (ID i64, epoch i16, batches u16,
// last append i64) plus 24 a batch (base offset i64, last offset delta
// i32, base sequence i32, max timestamp i64): 44 bytes for a producer with
// one batch, about 11 in version 2 (BenchmarkProducerState).
//
// offset is the log end offset the state covers: every batch below it is
// in the state, none at or past it. Open loads the snapshot if its offset
// is at most the recovered log end and no range recovery just lost lies
// below it, then applies the batch headers (not the records) from that
// offset to the end; without a usable snapshot it rebuilds from the log
// start. A snapshot past the log end (its tail was
// lost or truncated) is replaced at Open, before appends could make it
// look valid again. An unreadable file costs a scan of the whole log's
// batch headers.
//
// # meta/producer-ids
//
// Magic "TRPI", an 8-byte payload: the next producer ID, an i64 >= 0.
// IDs are reserved in blocks of 1000, the file replaced before any ID of
// a block is handed out: every ID below next may have been handed out,
// and a restart resumes at next. An unreadable file makes allocation
// resume at the current Unix time in microseconds (see producerid.go).
//
// A broker of a cluster (Options.ProducerIDBlocks) neither reads nor
// writes the file: its IDs come from blocks the cluster hands out
// (KIP-730), fetched the first time one is needed and again, in the
// background, once a tenth of the current block is left
// (producerid_blocks.go). IDs a data dir alone vouched for could be
// handed out again by another broker, and a producer given one would
// have its first batch taken for a retry of the other's.
//
// # Guarantees
//
//   - Offsets increase and are never reused: Append assigns them
//     contiguously by rewriting each batch's base offset in place (not
//     covered by the CRC); gaps come only from the cleaner (a follower's
//     copy of a cleaned leader's log included) and from damage.
//   - An appended batch is readable at once and survives kill -9 (it is in the
//     page cache). With flush.messages=1 Append returns only after fsync, and
//     concurrent appenders share one fsync (group commit).
//   - Recovery drops only damaged bytes and the torn tail of the last
//     segment: every fully written, valid batch whose offset something
//     vouches for survives, past damage too and in the last segment too,
//     and so does every later segment whose batches verify. Offsets lost
//     to damage stay a gap, reported once; an offset a surviving batch
//     holds is never given out again.
//   - A retried batch of an idempotent producer is never appended twice,
//     across restarts and kill -9 included: the producer state always
//     describes exactly the batches below the log end.
//   - Manager.AllocateProducerID never returns an ID twice for a data dir;
//     with Options.ProducerIDBlocks, never one another Manager got from
//     the same blocks' source (as long as the source never hands out a
//     block twice).
//   - A Manager opens exactly the partitions its topics' metadata lists
//     as hosted: a partition whose removal (RemovePartitions) or creation
//     a crash interrupted is deleted at the next open, never served with
//     half its files (hosted.go).
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
// serialises fsyncs and is never held while taking writeMu; Truncate and
// Close take it after writeMu, before the others. ckptMu
// serialises checkpoint and producer snapshot writes and is taken after
// writeMu. pidMu guards the producer state with writeMu (changes hold both,
// reads either) and is taken last; a change of producer state and the
// nextOffset it goes with are published under one pidMu section, so the
// snapshot reads a consistent pair. Published positions (nextOffset,
// startOffset) are atomics stored after the data they cover. Order:
// cleanMu, writeMu, segMu, ckptMu, pidMu; syncMu apart. The cleaner
// checkpoint is written under ckptMu. The epoch cache's epochs.mu is
// taken after writeMu (its changes hold both, and the file is written
// under both) and after ckptMu (syncEpochs reads the file's generation
// under it, never holding it across an fsync); hwMu (hw.go) after writeMu and epochs.mu. The long-polling
// readers' watchMu (watch.go) comes after all of them and nothing is
// taken under it.
package log
