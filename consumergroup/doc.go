// Package consumergroup is the group coordinator: Kafka's classic consumer
// group protocol (JoinGroup, SyncGroup, Heartbeat, LeaveGroup) and the
// durable committed offsets that consumers use as their acknowledgements.
//
// # Guarantees
//
//   - A commit is acknowledged only after its records are appended to the
//     internal topic __consumer_offsets (the same log format as every topic,
//     so a commit is as durable as an acks=all produce); in a cluster, only
//     once the partition's in-sync replicas hold them (see below).
//   - At Start the coordinator replays __consumer_offsets: committed offsets
//     and each group's last generation (members, assignments) survive a
//     restart (in a cluster, LoadPartition replays the partitions this
//     broker comes to lead: they survive a failover). Members of a
//     reloaded group that do not heartbeat within their session timeout
//     are removed, as after a Kafka coordinator failover.
//   - A member whose session timeout passes without a heartbeat is removed
//     and the group rebalances; the members left take over its partitions
//     from the last committed offsets (at-least-once).
//   - Commits from a member outside the current generation are refused
//     (ILLEGAL_GENERATION / UNKNOWN_MEMBER_ID), except "simple" commits with
//     no member and generation -1 into an empty group, as Kafka allows.
//
// The coordinator is agnostic to assignors: the group leader (a client)
// computes the assignment, so range, roundrobin, sticky and
// cooperative-sticky all work unchanged.
//
// # State machine
//
// As Kafka's GroupCoordinator:
//
//	          join                  all known members rejoined       leader's SyncGroup
//	Empty ─────────────▶ PreparingRebalance ───────────────▶ CompletingRebalance ─────────▶ Stable
//	  ▲                    ▲   (or rebalance timeout; members      │                          │
//	  │ last member        │    that did not rejoin are removed)   │ join/leave/expiry        │ join of a new or changed
//	  │ leaves / expires   └───────────────────────────────────────┴──────────────────────────┘ member, leave, expiry
//	  └── (a rebalance that ends with no members)
//	Dead: deleted (DeleteGroups) or expired (offsets.retention.minutes); it is
//	removed from the coordinator and its records tombstoned.
//
// A static member (KIP-345) that did not rejoin is not removed at the
// rebalance timeout: it may be restarting, and keeps its place until its
// session timeout, as in Kafka.
//
// Every member of a new generation must send SyncGroup within the
// rebalance timeout, before or after the leader's (Kafka's pending-sync
// members): one that does not is removed and the group rebalances, so no
// partition stays assigned to a member that never took it.
//
// A new group waits group.initial.rebalance.delay.ms (extended, up to the
// rebalance timeout, while members keep arriving) before its first
// generation, so that a fleet of consumers starting together does not
// rebalance once per member.
//
// # Concurrency
//
// A group with members is owned by one goroutine (group.loop): every
// operation on it is a closure run there, so the state machine has no
// locks. Timers (rebalance, session expiry, initial delay) post closures to
// that loop and check a sequence number so that a timer that fired late
// does nothing. JoinGroup and SyncGroup answers that must wait for other
// members are buffered channels the loop sends to once; the caller waits
// on them with its context.
//
// An idle group (Empty, no members, no pending member ids, no timer due)
// parks: its loop returns, and the group is a small struct with its
// committed offsets (offsetTable: per topic, a sorted slice of 40-byte
// commits; topic names and metadata interned), so 100,000 groups of simple
// commits cost no goroutines and ~400 bytes each. An operation on a parked
// group runs in place, on the caller's goroutine, holding group.mu, which
// keeps the loop from starting meanwhile; if it leaves the group needing
// its loop (a member joined), it starts the loop before releasing mu. The
// loop parks only under group.mu with no operation on its way to it
// (group.refs, counted when an operation takes the loop's channel and
// uncounted when the loop receives it), so nothing sent is lost.
//
// Locks: group.mu, then Coordinator.life (read-held by operations run in
// place and by loop starts, so that Close, which write-locks it, waits for
// them), then Coordinator.mu, which guards only the map of groups and the
// partitions' ownership and is never held while waiting on a group. An
// append read-holds its partition's offsetsPartition.appendMu (taken
// after group.mu and life, never with Coordinator.mu).
//
// # In a cluster
//
// With Config.Cluster the coordinator of a group is the leader of its
// __consumer_offsets partition, as in Kafka, and the caller (the broker's
// reconciler of the cluster metadata) tells it which partitions it leads:
//
//	          LoadPartition(p, epoch)          replay done
//	Unowned ─────────────────────────▶ Loading ─────────────▶ Loaded
//	   ▲  NOT_COORDINATOR                COORDINATOR_LOAD_      │  served
//	   │                                 IN_PROGRESS            │
//	   └──────────────── UnloadPartition(p, epoch) ─────────────┘
//
// (a replay that fails leaves the partition Failed: COORDINATOR_NOT_AVAILABLE
// until the next LoadPartition). While Loading, FindCoordinator already
// names this broker (EnsureOffsetsTopic answers) and a heartbeat is
// answered blindly, as Kafka's coordinator does; a single broker's replay
// at Start is the same for every group. Each call carries the partition's leader
// epoch; one older than the last seen for the partition is stale and
// ignored, so a late notification never undoes a newer one. Unloading
// cancels the partition's context (a replay stops, writes waiting for their
// replicas give up), waits for the appends under way, stops each of its
// groups (members waiting in JoinGroup or SyncGroup are answered
// NOT_COORDINATOR, loops are waited for) and forgets them; nothing is
// written, the new leader replays the log.
//
// Every write to __consumer_offsets (a commit, a generation's assignment,
// tombstones) is appended to the local replica and then waits, with
// Config.WaitAppended, for the partition's high watermark to pass it (at
// most offsets.commit.timeout.ms). The group's state changes only after
// that: a commit whose replication failed is answered with Kafka's mapping
// of the append error (leadership moved: NOT_COORDINATOR; too few in-sync
// replicas, timeout: COORDINATOR_NOT_AVAILABLE, as Kafka 4's group
// coordinator maps a timed-out write) and OffsetFetch keeps showing the
// offset committed before it, as Kafka's pending offset commits.
//
// A commit and a leader's SyncGroup wait for their replicas off the
// group's owner (pending.go): the owner appends, in the group's order,
// and keeps the write among the group's pending writes; the request's own
// goroutine waits (the replica leader's registered waiters complete it as
// the high watermark advances: no goroutine is added per write) and then
// hands the outcome back to the owner, which applies it. Meanwhile the
// group answers heartbeats, OffsetFetch and its other members: a slow
// follower holds up only the requests that wrote. Writes take effect in
// append order: a write known replicated applies every pending write
// appended before it first (the high watermark passed them too), so two
// commits of a member land in the order they were made whichever answer
// reaches the group first; a write not replicated is dropped. A leader's
// assignment makes the generation Stable only if the group is still in
// that generation's CompletingRebalance when it is replicated, as in
// Kafka. The rare writes that change the group at once (DeleteGroups,
// OffsetDelete, expiry, a deleted topic's offsets, an emptied group's
// generation, a static member's replacement) wait on the owner, after
// the pending writes before them; the tombstones of DeleteGroups,
// OffsetDelete and a deleted topic cover the pending commits' partitions
// too. Other groups are never held.
//
// The topic is created through the cluster (Config.CreateOffsetsTopic),
// never in the local Manager: with fewer live brokers than
// offsets.topic.replication.factor FindCoordinator answers
// COORDINATOR_NOT_AVAILABLE (KIP-115).
//
// # On disk: __consumer_offsets
//
// Kafka's own record format, so Kafka tools read it unchanged. Each record's
// key and value are kmsg's encodings:
//
//	key   OffsetCommitKey    v1: group, topic, partition
//	value OffsetCommitValue  v3: offset, leader epoch, metadata, commit time
//	                         (v1 when the commit carried a retention time)
//	key   GroupMetadataKey   v2: group
//	value GroupMetadataValue v3: protocol type, generation, protocol, leader,
//	                         state timestamp, members with subscription and
//	                         assignment
//
// A null value is a tombstone: the offset was deleted or expired, or the
// group was deleted. The topic has offsets.topic.num.partitions partitions
// (Kafka's default 50) and a group's records all go to partition
// abs(javaHashCode(group)) % partitions, the partition Kafka would pick. The
// topic is compacted (cleanup.policy=compact): only the latest record per
// key survives, so constant committing does not grow it. Compatibility: the
// key and value versions above are Kafka's; readers accept every version kmsg
// decodes and skip record types (key versions) they do not know.
package consumergroup
