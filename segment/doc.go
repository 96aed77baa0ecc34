// Package segment owns one segment of a partition's log: a .log file of Kafka
// RecordBatch v2 bytes, stored verbatim as producers sent them (only the base
// offset field is rewritten), plus its sparse offset and time indexes.
//
// # Files
//
// A segment is named by the offset of its first batch, zero-padded to 20 digits:
//
//	00000000000000368769.log        record batches, back to back
//	00000000000000368769.index      sparse offset index   (package index)
//	00000000000000368769.timeindex  sparse time index     (package index)
//
// The .log file has no header and no framing of its own: Kafka's batch header
// already carries a length and a CRC-32C, so the file is a sequence of
//
//	+-----------------+-------------------+---------------------------------+
//	| baseOffset  i64 | batchLength   i32 | leaderEpoch, magic=2, crc, ...  |
//	+-----------------+-------------------+---------------------------------+
//	|<-------- 12 bytes (LogOverhead) --->|<------- batchLength bytes ----->|
//	                                             CRC-32C covers attributes..end
//
// Batches are contiguous in offset: batch i+1's base offset is batch i's last
// offset + 1, and the first batch's base offset is the segment's base offset.
// The one exception is a segment the log cleaner rewrote (package log's
// compaction), or one a follower wrote with AppendWithGaps from a cleaned
// leader's batches: its batches only increase, with gaps where emptied
// batches were dropped, and may start above the segment's base offset. Recover and
// Load accept such gaps only below Config.CompactedBefore and treat any
// other gap as corruption. The cleaner writes such a segment with a Builder
// under temporary .cleaned names (see clean.go), which the log renames.
// Recovery (recover.go) cuts a segment at its first batch that fails;
// RecoverWith first hands the caller the valid batches found past the
// damage (salvageScope: vouched for, their chain holding to the end of the
// file; in the last segment not inside a torn tail), which package log
// keeps as a segment of their own at their own base offset, leaving the
// damaged offsets as a gap between segments.
// The format version is recordbatch magic 2; a segment with any other magic is
// corrupt from that batch on.
//
// # Writing: write(2) under a read-only mapping
//
// Appends go through pwrite(2) on the file; readers see the bytes through a
// read-only shared mapping of the same file (Linux's page cache is unified, so
// a completed pwrite is visible through the mapping at once). We chose this over
// writing into a writable mapping of a preallocated file because:
//
//   - a store into a mapped page whose block cannot be allocated (disk full,
//     quota) kills the process with SIGBUS, while pwrite returns ENOSPC, which we
//     turn into ErrDiskFull for the producer;
//   - no preallocated tail of zeros has to be trimmed, told apart from data
//     after a crash, or reserved on disk for every partition.
//
// The mapping is reserved larger than the file (the address space is free) and
// grown by mapping again when an append would pass its end. Readers only ever
// touch bytes below the published size, which is below the end of the file, so
// they never fault on a page past EOF. Old mappings stay mapped until the
// segment's last reference is released, except that ShrinkMapping, called
// when the segment is sealed and unread, trades them for one mapping of the
// segment's exact size, so sealed segments do not hold address space
// reserved for growth.
//
// A failed or short write is rolled back with ftruncate to the last published
// size, so nothing half-written ever stays in the file or becomes visible. If
// the rollback itself fails the segment is poisoned: every later Append returns
// the same sticky error until the log is reopened and recovered.
//
// # Concurrency and lifetime
//
// One writer at a time (the caller, package log, serialises Append, Seal,
// TruncateTo and Recover) and any number of concurrent readers. The writer
// publishes an append by storing the new size after the bytes and the index
// entries are in place; readers load the size once and read below it.
//
// A segment is reference counted. Its owner (the log) holds one reference;
// every reader Acquires one before taking views of the mapping and Releases it
// when done with them. Close and Delete drop the owner's reference; the files
// are unmapped and closed when the count reaches zero, so a reader holding a
// view of a segment that retention deletes keeps valid bytes (Delete unlinks
// the files at once; the mapping keeps the inode alive).
//
// # File descriptors
//
// Only the active segment holds a file descriptor: its .log's, for pwrite.
// Indexes hold none (see package index). A sealed segment closes its .log's
// descriptor at the first Sync that flushed all of it (one opened read-only,
// already flushed, at Open): it is read through its mapping only, and
// ShrinkMapping opens the file again for the moment it maps it. So a broker
// needs about one descriptor per partition, whatever its number of
// segments. An active segment not being written can give up its
// descriptor too (ReleaseIdle, which package log's bounded set of open
// files calls): the next write opens it again, and a Sync flushes the
// bytes written before by a descriptor opened for the moment; both check
// that the path still names the segment's inode (dev and inode number
// taken at open), or fail with ErrReplaced. A sealed segment is parked
// only once synced. Running out of descriptors or mappings is reported as
// ErrFileLimit or ErrMapLimit, a full disk as ErrDiskFull.
//
// # Parked segments and the Cache
//
// Mappings are bounded too: a sealed, flushed segment that no reader holds
// can be parked (Park): its .log's and both indexes' mappings go, and the
// next Acquire maps them again (read-only, at the segment's exact size),
// so that a broker with many partitions of many segments stays under
// vm.max_map_count. A Cache of a given capacity parks the least recently
// read segments (clock order) as others are mapped, and when its owner
// has flushed sealed segments (Trim): a segment is added when sealed,
// before it can be parked. Park only takes a
// segment whose reference count is exactly its owner's, swapping it for a
// large negative value while it unmaps (Acquire waits for it, then maps
// the segment again), so a view a reader holds is never unmapped under it.
package segment
