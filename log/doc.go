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
//	  meta/topics/<topic>.json        topic id, partition count, config overrides
//	  <topic>-<partition>/
//	    00000000000000000000.log      see package segment
//	    00000000000000000000.index
//	    00000000000000000000.timeindex
//	    recovery-checkpoint           see below
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
// # Guarantees
//
//   - Offsets are contiguous and never reused: Append assigns them by
//     rewriting each batch's base offset in place (not covered by the CRC).
//   - An appended batch is readable at once and survives kill -9 (it is in the
//     page cache). With flush.messages=1 Append returns only after fsync, and
//     concurrent appenders share one fsync (group commit).
//   - Recovery truncates only a torn or corrupt tail and never drops a
//     fully-written, valid batch that precedes it.
//
// # Concurrency and lock order
//
// One writer at a time and any number of readers. writeMu serialises every
// change (Append, roll, Truncate, DeleteRecordsBefore, retention, Close);
// segMu guards the segment list and is taken after writeMu; readers take only
// segMu.RLock, long enough to find a segment and Acquire a reference. syncMu
// serialises fsyncs and is never held while taking writeMu. Published
// positions (nextOffset, startOffset) are atomics stored after the data they
// cover.
package log
