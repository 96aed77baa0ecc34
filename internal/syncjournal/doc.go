// Package syncjournal is the seam through which the broker fsyncs files
// and directories, so that a test build can tell what is durable.
//
// Every fsync, fdatasync, msync and syncfs of the broker's data dir goes
// through Sync, Fsync, Msynced or FS. Built without the tag powerloss
// (the production binary), each is the bare system call and nothing else:
// no lookup, no allocation, no journal. Built with -tags powerloss and
// run with TRIBUTARY_TEST_POWERLOSS_JOURNAL set, each also appends what
// the call made durable to that journal, before it returns to its caller,
// so that a test harness can kill the broker with SIGKILL and then drop
// every write the page cache would have lost in a power loss
// (internal/clustertest's PowerLoss).
//
// # The journal
//
// One JSON object per line (Record), appended with O_APPEND by a single
// write each, in the order the syncs returned:
//
//	{"op":"F","path":"t-0/00000000000000000000.log","ino":1234,"size":4096}
//	{"op":"M","path":"t-0/00000000000000000000.index","ino":1235,"size":64}
//	{"op":"D","path":"t-0","ino":1233,"entries":{"00000000000000000000.log":1234}}
//
// The operations:
//
//   - F: an fsync of a regular file. Its first Size bytes, and its size
//     Size, are durable. Size is read before the fsync starts: bytes
//     appended while it runs may or may not be durable, so they are
//     counted as lost.
//   - M: a sync of a mapped file (an index) whose first Size bytes (its
//     entries) are durable, followed by zeros up to its durable size; the
//     file's size is durable at least up to Size. The last F or M of a
//     file says what is durable of it.
//   - D: an fsync of a directory: its entries (name to inode), read
//     before the fsync, are durable. A syncfs is journaled as an F for
//     every regular file and a D for every directory under the root.
//
// Path is relative to TRIBUTARY_TEST_POWERLOSS_ROOT (the broker's data
// dir), with forward slashes; syncs of anything outside the root are not
// journaled. Files are named by inode (Ino) as well as by path, because a
// file synced under a temporary name is later renamed.
//
// A sync that fails is not journaled. The journal itself is never
// fsynced: the harness kills the process, not the machine, so the
// journal's page cache survives. A kill in the middle of a write leaves a
// torn last line, which Parse ignores (that sync never returned).
package syncjournal
