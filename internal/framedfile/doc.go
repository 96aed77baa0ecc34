// Package framedfile is the one codec for Tributary's small on-disk files
// (checkpoints, snapshots, reservations, credential stores): a magic
// number, a version, a length, a CRC-32C and a payload, replaced
// atomically. It owns the framing only; each file's payload is encoded and
// decoded by the package that owns the file, which documents it next to
// its code. It imports only the standard library, so any package may use
// it.
//
// # Byte layout
//
// All integers big-endian:
//
//	 0       4         6          8            12                  12+n
//	+-------+---------+----------+------------+-------- ... -------+--------+
//	| magic | version | reserved | length n   | payload            | crc32c |
//	| 4 B   | u16     | u16 = 0  | u32        | n bytes            | u32    |
//	+-------+---------+----------+------------+-------- ... -------+--------+
//
// The CRC-32C (Castagnoli) covers every byte before it: header and
// payload. A file is exactly 16+n bytes; anything shorter or longer, a
// reserved field other than 0, a wrong magic, a version the reader does
// not read or a CRC mismatch makes the whole file unreadable (ErrCorrupt
// or ErrVersion): there is no partial read, and callers decide what an
// unreadable file costs (a full recovery scan, a rebuild from the log).
//
// # Versions and compatibility
//
// The version is the file's own format version (one Format per kind of
// file), bumped when its payload or framing changes. The rule: a reader of
// version N reads N and N-1, and writes N. So a broker can be upgraded
// over a data dir written by the previous release and downgraded again by
// one release as long as the newer release has not yet rewritten the file.
//
// The formats that predate this package (package log's recovery
// checkpoint, lost-offsets, cleaner checkpoint, producer snapshot and
// meta/producer-ids, all at version 1) used a frame without the
// reserved/length word:
//
//	 0       4         6                      len-4
//	+-------+---------+------- ... ----------+--------+
//	| magic | version | body                 | crc32c |
//	| 4 B   | u16 = 1 |                      | u32    |
//	+-------+---------+------- ... ----------+--------+
//
// with the CRC-32C over every byte before it. Format.LegacyVersion names
// such a version: a file at that version is read with this frame and its
// body (bytes 6..len-4) returned as the payload, for the owner to decode
// as that version; it is never written.
//
// # Atomic replace
//
// Write replaces a file as a whole: it writes path.tmp, fsyncs it, renames
// it over path and fsyncs the directory, so a crash leaves the old file or
// the new one, never a mix. A leftover path.tmp is garbage that the next
// Write truncates (and that owners may delete at startup). With the
// OverwriteWhenFull option, a disk or quota that is full (ENOSPC, EDQUOT)
// when the temp file is written makes Write overwrite the existing file in
// place instead, in the blocks it already has: used where a file must
// change for the broker to start on a full disk (the recovery checkpoint's
// "not clean" mark). A torn overwrite fails the CRC, which readers treat as
// an unreadable file, never as a wrong value.
package framedfile
