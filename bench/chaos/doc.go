// Package chaos is the crash-loop harness: it runs the real `tributary
// serve` binary as a child process under produce and consume load, kills it
// with SIGKILL again and again, restarts it on the same data dir and port,
// and then proves that nothing acknowledged was lost or duplicated. It kills
// consumer-group members with SIGKILL too, and proves that their
// partitions resume from the last committed offset.
//
// # Running it
//
//	go test -run TestCrashLoop -v ./bench/chaos                       # 3 cycles, part of make test
//	make chaos                                                        # 20 cycles
//	go test -run TestCrashLoop -v ./bench/chaos -args -chaos.cycles=50 -chaos.modes=roll -chaos.keep
//
// Flags (after -args): -chaos.cycles (broker kills, default 3),
// -chaos.load (mean time under load between kills, default 3s),
// -chaos.modes (kill modes, comma-separated, default all), -chaos.seed
// (the harness's random choices; timing stays the machine's), -chaos.bin
// (test this binary instead of building ./cmd/tributary) and -chaos.keep
// (keep the work dir, which a failed run always keeps: the data dir,
// broker.log with every incarnation's log, and members.log with every
// member event and what the harness did, timed). The test prints one
// summary line:
//
//	chaos: OK: cycles=3 acked=10922 lost=0 duplicated=0 max_recovery=78ms | ...
//
// It is skipped with -short. The binary is built once per test binary
// (go build ./cmd/tributary, without -race: the broker under test is the
// one operators run); the test and its consumer children run with -race
// under make test.
//
// # The workload
//
// Two topics. chaos-main (6 partitions, flush.messages=1 so every append
// is fsynced, segment.bytes 256 KiB) takes keyed records from two
// idempotent franz-go producers (acks=all) and is consumed by a group of
// three members, each a child process (the test binary re-run; see
// ConsumerMain) that processes records, commits every 300 ms and before
// a revocation, and reports each record it processed and each commit it
// tried, got acknowledged, got refused or got no answer for.
// chaos-retention (2 partitions, segment.bytes 16 KiB, retention.bytes
// 64 KiB) takes a third producer, rolls a segment every ~130 records, and
// has its oldest segments deleted all the time, by both paths that delete
// segments: the broker's own retention, checked every 100 ms
// (log.retention.check.interval.ms), and the harness's DeleteRecords,
// which moves the log start offset up between checks. Each record's value names its producer and a sequence number
// never reused, so a record found twice, out of order or nowhere is told
// apart from every other. Producers keep going across broker deaths: the
// client retries for up to a minute; a record that still fails is not
// produced again (the next one has a new sequence number).
//
// # A cycle
//
// Load runs for a random time (-chaos.load ± 50%); on the way a random
// member is killed with SIGKILL (it never leaves the group nor commits its
// last records) and a new one started. Then the broker is killed with
// SIGKILL at a moment chosen by the cycle's mode, in turn:
//
//   - append: a burst of produces, then the kill as soon as a chaos-main
//     segment file grows: between the write and its fsync, or in it,
//     before the acknowledgement.
//   - roll: the kill as soon as a new chaos-retention segment file
//     appears, in the middle of the roll.
//   - delete: DeleteRecords down to the last 50 records of each
//     chaos-retention partition, then the kill as soon as a segment file
//     disappears, in the middle of the deletion.
//
// Every other cycle one more member is killed while the broker is down.
// Right after the kill, before the restart, the segment files are read
// offline (every CRC-valid batch) to note where each record is and which
// records were on disk without an acknowledgement yet (their producers
// retry them after the restart). After a pause of up to 300 ms the broker
// is restarted; its recovery time, from process start to the first
// Metadata answer, is logged. A broker that does not answer within a
// minute fails the test.
//
// # What it proves
//
// After the last cycle the load stops, the group catches up (a group that
// does not within a minute is "stuck") and the members leave; both topics
// are read back from their log start with a fresh franz-go consumer; the
// broker is stopped with SIGTERM (it must exit 0); and the data dir is
// read offline with log.ListPartitions and log.VerifyPartition, every
// partition including __consumer_offsets, which must report no problem.
// Then, on both the online and the offline reading, which must be equal:
//
//   - offsets are contiguous from the log start to the log end offset;
//   - every record in the log is one a producer produced, and is there
//     once (a retried batch appended twice is a duplicate);
//   - every acknowledged record is at the partition and offset its
//     acknowledgement named (unless deleted below the log start, on
//     chaos-retention only); each producer's records in a partition are in
//     the order it produced them, and its acknowledgements name increasing
//     offsets;
//   - every record that was in a CRC-valid batch on disk right after a
//     kill is at the same place in the end: recovery never drops or moves
//     a fully written batch;
//
// and, from the members' reports replayed in the order they arrived:
//
//   - every acknowledged record of chaos-main was processed at least once,
//     and every record processed is the record the log holds there;
//   - when a member starts on a partition, it starts at the partition's
//     last acknowledged commit, or at a later commit sent since whose
//     answer was lost (the broker may have died after storing it); at 0
//     before any commit. Nothing skipped, no rewind below a commit;
//   - within one assignment offsets follow one another;
//   - a record is processed again only if no commit at or past it had been
//     acknowledged before: redelivery only of what a member processed after
//     its last commit;
//   - acknowledged commits of a partition never go backwards.
//
// A record whose produce failed may or may not be in the log, but at most
// once. Every broken guarantee is a violation, listed by kind with
// examples, and fails the test.
//
// The checks are internal/clustertest's Check, the cluster harness's
// checker (history.go): the producers' and the members' reports are its
// history, the online and the offline reading two replicas of one node
// (Divergent where they differ), and the segment files read after each
// kill earlier readings of it (Rewritten where the final log moved or
// dropped one of their records); chaos-retention is a Retention topic.
// The violations are the checker's kinds, plus what only the harness
// sees: a broker that did not restart or shut down cleanly, damage the
// offline verification found, a group stuck, a member's bad output.
package chaos
