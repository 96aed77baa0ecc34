// Package replica is the replication engine: the leader side of the
// partitions this broker leads and the follower fetchers of the partitions
// it follows, as Kafka's replication protocol specifies (KIP-101, KIP-279,
// KIP-320, KIP-966's strict min ISR). The server owns one Manager and
// calls it from Produce (acks=all), from Fetch (fetches with a replica ID)
// and on every metadata change.
//
// # Leader side
//
// A Leader tracks, per follower, the log end offset its last fetch
// reported and when it was last caught up: a fetch at or past the
// leader's log end at that moment counts as caught up now, and one at or
// past the leader's log end at the follower's previous fetch counts as
// caught up as of that previous fetch. The high watermark is the lowest
// log end offset over the ISR (with any proposed and not yet committed
// members), and does not move while the committed ISR is smaller than
// min.insync.replicas. A follower that has not been caught up for
// replica.lag.time.max.ms leaves the ISR; a replica whose log end reaches
// the high watermark (and the start of this leader's epoch) joins it.
// Both are proposals to the caller, who makes them a compare-and-swap of
// the partition's state in the cluster metadata and hands the committed
// state back; one proposal is in flight at a time. The Manager's checks
// hand the proposals of many partitions over in batches (Config.AlterISRs),
// each one metadata transaction, as Kafka's AlterPartition carries many.
//
// A produce appends through the Leader (Append), which checks that it
// still leads, and for acks=all min.insync.replicas, under its append
// lock held shared, and writes to the log under that same hold; a
// step-down (Stop) and a new leader epoch or ISR (UpdateState) take the
// lock exclusively, as Kafka's leaderIsrUpdateLock. So nothing is appended
// as leader once Stop returns, and a batch carries the epoch it was
// checked at.
//
// acks=all produces register a waiter ordered by offset; an advance of the
// high watermark completes the prefix it passes; a step-down fails them
// all with ErrNotLeaderOrFollower at once. No goroutine is spent per
// waiter besides the caller's own.
//
// The low watermark is the lowest log start offset over the leader and
// its live followers, each as its last fetch reported it (the follower
// moves its own up to the leader's, which fetch answers carry). A
// DeleteRecords waits for it to reach the offset asked for
// (WaitLowWatermark), as Kafka's DelayedDeleteRecords.
//
// A follower's fetch carries the epoch of its last fetched batch; if the
// leader's log ends that epoch before the fetch offset, the answer is a
// DivergingEpoch and no records, and the follower truncates.
//
// # Follower side
//
// One fetcher goroutine per leader broker fetches every partition this
// broker follows from it, with Fetch v12 or later (LastFetchedEpoch and
// DivergingEpoch): truncation on a new leader epoch is driven by the
// DivergingEpoch answers alone, never by the high watermark, so no
// OffsetForLeaderEpoch round is needed before fetching. The fetcher
// keeps only the fetch protocol's rules on records (a last batch cut at
// the size limit is left for the next fetch; an epoch newer than the
// leader's is refused); the batches themselves are validated by the log,
// in Log.AppendAsFollower (log.ValidateBatches, the one rule every writer
// goes through: each batch's header and CRC-32C, the records being the
// ones the leader read), and a response it refuses is refused whole
// (ErrCorruptFetch). A compacted leader's offset gaps are copied as they
// are. The follower's high watermark is the leader's, capped at its own
// log end, and its log start offset follows the leader's up
// (MaybeIncrementLogStartOffset). OFFSET_OUT_OF_RANGE is resolved with
// ListOffsets to the leader: a leader end below the follower's (only
// after an unclean election) truncates to it; a leader start past the
// follower's end restarts the log there (TruncateFullyAndStartAt).
//
// A fetcher reaches its leader through a Conn: one TCP connection to the
// leader's inter-broker listener (its TLS and SASL), requests encoded and
// answers decoded by kmsg at the versions ApiVersions agreed, one at a
// time in the fetcher's goroutine (no goroutine hops per fetch). A fetch
// answer is read into one buffer per connection, reused by the next
// fetch (kept up to 32 MiB: about replica.fetch.response.max.bytes per
// leader followed), and its record bytes are views of that buffer until
// the fetcher, which appends them first (the log copies them into its
// segment), sends the next fetch.
//
// # Locking
//
// Leader.mu guards a Leader's state; the Log's own locks are taken under
// it (the Log never calls back). Leader.appendMu is taken before mu: held
// shared across an append's leadership check and its write to the Log
// (Append's appendFn, which must not call back into the Leader),
// exclusively by Stop and UpdateState. A fetcher's mu guards its partition set;
// each followed partition's mu is held while its response is applied to
// the log, so that once Stop returns the fetcher no longer touches that
// log. Order: fetcher.mu before a partition's mu; Manager.mu before
// fetcher.mu (a partition is added to a fetcher under Manager.mu, so that
// a fetcher left with nothing is closed and dropped from the Manager's
// map atomically with the count that says so).
//
// Manager.mu guards maps only: it is never held across a log write, a
// Leader's Stop or UpdateState (which wait for appends in flight) or a
// fetcher's Remove (which waits for a response being applied), so that
// a role change does not hold up the produces and fetches that look a
// Leader up. Role changes (BecomeLeader, BecomeFollower, Stop) of one
// partition are serialised by a claim on it in the Manager; those of
// different partitions run concurrently, which the server uses to take
// over thousands of partitions at once. Within one role change the order
// is kept: a Leader is stopped, waiting for its appends in flight, before
// its partition is added to a fetcher, and removed from its fetcher before
// a new Leader opens the log.
//
// # The leader epoch and durability
//
// Becoming a partition's leader at a new epoch writes the epoch, and the
// offset it starts at, to the log's leader-epoch checkpoint before the
// Leader is published in the Manager: until then the partition has no
// Leader here, a produce is answered NOT_LEADER_OR_FOLLOWER (and
// retried) and a follower's fetch is not answered from this log. The
// file is replaced without fsync (package log, "leader-epoch-checkpoint"):
// the log makes it durable before any recovery checkpoint that stops
// recovery from relearning the epoch from the batches' PartitionLeaderEpoch,
// so after a crash the epoch cache holds the epoch of every batch the log
// still has, and a follower never truncates against an epoch the leader's
// data does not back. A takeover of thousands of partitions therefore
// waits for no disk flush; the checkpoint pass makes their files durable
// with one syncfs.
package replica
