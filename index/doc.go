// Package index owns a segment's two sparse index files: the offset index
// (<base>.index) and the time index (<base>.timeindex). They have the same
// layout and meaning as Kafka's files of the same names.
//
// # Offset index
//
// The offset index maps a record offset to the byte position, in the
// segment's .log file, of the record batch that contains it. It is sparse: the
// segment adds one entry every index.interval.bytes of log, so a lookup yields
// the batch to start scanning from, not necessarily the batch itself.
//
// Each entry is OffsetEntrySize (8) bytes, big-endian, with no padding:
//
//	 0               4               8
//	+---------------+---------------+
//	| relOffset u32 | position  u32 |   entry 0
//	+---------------+---------------+
//	| relOffset u32 | position  u32 |   entry 1
//	+---------------+---------------+
//	|              ...              |
//
//	relOffset  record offset minus the segment's base offset
//	position   byte offset of the record batch in <base>.log
//
// Both columns are strictly increasing from one entry to the next.
//
// # Time index
//
// The time index maps a timestamp to the relative offset of the first record
// from which that timestamp can have been reached. Each entry is TimeEntrySize
// (12) bytes, big-endian:
//
//	 0                               8               12
//	+-------------------------------+---------------+
//	| timestamp                 i64 | relOffset u32 |   entry 0
//	+-------------------------------+---------------+
//	| timestamp                 i64 | relOffset u32 |   entry 1
//	+-------------------------------+---------------+
//	|                      ...                      |
//
//	timestamp  largest record timestamp (ms since the epoch) seen so far
//	relOffset  offset (minus base offset) of the record carrying it
//
// Timestamps are strictly increasing; relative offsets are non-decreasing.
//
// # Versioning and checksums
//
// Neither file has a header, a magic number or a CRC: indexes are derived
// data, rebuilt from the .log whenever they are missing or fail SanityCheck.
// The format version, FormatVersion, is recorded once per partition in its
// recovery checkpoint. The compatibility rule is: a reader of version N
// rebuilds the indexes of any other version (they are cheap to rebuild and
// never worth a migration path).
//
// # Files, mappings and the disk-full rule
//
// Every index is memory-mapped for the whole of its lifetime, at one size that
// never changes (there is no remap, so readers never see the mapping move).
// No file descriptor is kept: a mapping holds the file by itself, and the
// few operations that change the file (grow, trim, fsync of its size) open
// it by path for the moment they run, and do nothing if the path no longer
// names the inode first opened (the segment was deleted, or a new one was
// created at the same base offset). A broker with thousands of partitions
// therefore spends no descriptors on indexes.
//
// A writable index (the active segment's) maps its maximum size (maxBytes
// rounded down to a whole number of entries) as address space only, and
// allocates the file as it fills: when an entry would pass the end of the
// file, the file grows (first to the entries needed, then doubling, by
// steps of at most 256 KiB, always a whole number of entries, never past
// the maximum size) with fallocate,
// which allocates real blocks, and the block is then written with zeros by
// pwrite. An empty partition's index therefore takes no disk at all. The rule
// that keeps stores safe on a full disk:
//
//	nothing is ever stored through the mapping at or past the end of the
//	allocated file (allocated: every byte below it has a real block).
//
// Storing into a shared mapping over a hole, or past the end of the file,
// raises SIGBUS, whereas a failed fallocate is an ordinary error: ErrDiskFull,
// and the file is cut back to its old size. Where the file system does not
// support fallocate, the zeros alone allocate the blocks. A writer that must
// not fail half-way calls Reserve before it commits to anything: the
// segment reserves room for the entries an append may add (and the time
// index's closing entry) before it writes the batch, so a full disk fails
// the append cleanly and never leaves a batch without its entries, nor a
// segment that cannot be sealed.
//
// Trim shrinks the file to exactly the entries in use and makes the index
// read-only; the mapping is kept at its old size and now extends past the end
// of the file. That is safe because of this invariant: no code ever reads or
// writes a mapped byte at or past entries*entrySize, and after Trim nothing is
// written at all. A read-only index maps exactly the file's size (no mapping
// for an empty file) and has size/entrySize entries.
//
// A cleanly closed writable index is trimmed, so on reopen its entry count,
// fileSize/entrySize, is exact. An index that was open for writing when the
// broker crashed may have a zero-filled tail up to the end of its last block;
// reopening it counts those zeros as entries, SanityCheck then reports
// ErrCorrupt, and the caller rebuilds it from the log with Reset and Append.
// An index reopened writable on a disk that has filled up since keeps its
// entries and fails its next Append (or Reserve) with ErrDiskFull.
//
// Running out of file descriptors or memory mappings while opening, growing
// or mapping an index is reported as ErrFileLimit or ErrMapLimit, so that the
// broker can say which limit to raise.
//
// # Concurrency
//
// An index has one writer and any number of readers. Append, AppendFinal,
// TruncateTo, TruncateToPosition, Reset and Trim are writer operations and must
// be serialized by the caller (the segment's writer lock). Lookup, Entry,
// Entries, LastEntry, IsFull and SizeBytes may run concurrently with them and
// with each other, without locks: the writer stores an entry's bytes into the
// mapping first and then publishes it by atomically storing the new entry
// count; a reader loads the count once and reads only entries below it, so it
// never sees a half-written entry.
//
// Truncation is the exception: once TruncateTo or Reset has dropped entries,
// the next appends reuse their slots, so a reader that loaded the count before
// the truncation may observe a dropped entry, a new one, or a mix of the two.
// Callers that truncate while readers run must exclude those readers (log
// truncation is rare and already does so) or tolerate such a result.
//
// Sync may run concurrently with the writer. Close must not run concurrently
// with anything.
package index
