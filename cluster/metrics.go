package cluster

// The names of the metrics Kafka operators alert on in a cluster (issue
// 14 item 8), fixed here, below every package that exports them (the
// controller, replica, server), so that each registers the same name with
// the same labels and the dashboard and alerts can be written against
// them. Each is Kafka's metric of the same meaning, under the tributary_
// prefix, as a Prometheus name: counters end in _total, gauges do not.
// Nothing registers them yet; a single broker never will (its /metrics
// stays as it is).

// Metric is one metric's name, kind, labels and help text.
type Metric struct {
	Name   string
	Kind   MetricKind
	Labels []string
	Help   string
}

// MetricKind is a Prometheus metric type.
type MetricKind string

// The kinds used here.
const (
	Gauge   MetricKind = "gauge"
	Counter MetricKind = "counter"
)

// Metric names.
const (
	// MetricUnderReplicatedPartitions: partitions this broker leads whose
	// ISR is smaller than their replica set (Kafka's
	// UnderReplicatedPartitions). Alert when above 0 for long.
	MetricUnderReplicatedPartitions = "tributary_cluster_under_replicated_partitions"
	// MetricUnderMinISRPartitions: partitions this broker leads whose ISR
	// is below min.insync.replicas, so acks=all produces fail with
	// NOT_ENOUGH_REPLICAS (Kafka's UnderMinIsrPartitionCount).
	MetricUnderMinISRPartitions = "tributary_cluster_under_min_isr_partitions"
	// MetricAtMinISRPartitions: partitions this broker leads whose ISR is
	// exactly min.insync.replicas: one more loss stops acks=all writes
	// (Kafka's AtMinIsrPartitionCount).
	MetricAtMinISRPartitions = "tributary_cluster_at_min_isr_partitions"
	// MetricOfflinePartitions: partitions without a leader, as the
	// active controller sees them; 0 on every other broker (Kafka's
	// OfflinePartitionsCount).
	MetricOfflinePartitions = "tributary_cluster_offline_partitions"
	// MetricActiveController: 1 on the broker that is the active
	// controller, 0 elsewhere; summed over the cluster it must be 1
	// (Kafka's ActiveControllerCount).
	MetricActiveController = "tributary_cluster_active_controller"
	// MetricLeaderPartitions: partitions this broker leads (Kafka's
	// LeaderCount); with MetricPartitions, the leader balance per broker.
	MetricLeaderPartitions = "tributary_cluster_leader_partitions"
	// MetricPartitions: partition replicas on this broker (Kafka's
	// PartitionCount).
	MetricPartitions = "tributary_cluster_partitions"
	// MetricBrokers: registered brokers by state, active or fenced, as
	// the active controller sees them (Kafka's ActiveBrokerCount and
	// FencedBrokerCount).
	MetricBrokers = "tributary_cluster_brokers"
	// MetricISRShrinks and MetricISRExpands: ISR changes this broker made
	// as a leader (Kafka's IsrShrinksPerSec and IsrExpandsPerSec, as
	// counters).
	MetricISRShrinks = "tributary_cluster_isr_shrinks_total"
	MetricISRExpands = "tributary_cluster_isr_expands_total"
	// MetricLeaderElections: leaders this broker's controllers elected
	// (as the active controller, or for an ElectLeaders it served), by
	// kind, clean (from the ISR) or unclean (Kafka's
	// LeaderElectionRateAndTimeMs and UncleanLeaderElectionsPerSec).
	MetricLeaderElections = "tributary_cluster_leader_elections_total"
	// MetricReplicaMaxLag: the largest lag, in records, of this broker's
	// follower replicas behind their leaders (Kafka's replica fetcher
	// MaxLag). Per partition lag is not exported: 30,000 partitions would
	// be 30,000 series.
	MetricReplicaMaxLag = "tributary_replica_max_lag_records"
	// MetricReplicaFetchRequests and MetricReplicaFetchErrors: replica
	// fetches this broker sent as a follower, and those that failed, by
	// error (Kafka's FetcherStats and fetch failure rate).
	MetricReplicaFetchRequests = "tributary_replica_fetch_requests_total"
	MetricReplicaFetchErrors   = "tributary_replica_fetch_errors_total"
	// MetricReplicaFetchRestarts: replica fetches this broker ended
	// before their answer to fetch partitions just added to their leader
	// (each a dial and a full fetch); a failover's burst of them is
	// coalesced. No Kafka equivalent.
	MetricReplicaFetchRestarts = "tributary_replica_fetch_restarts_total"
	// MetricFastFences: registrations of other brokers this broker ended
	// because their process was gone (a watch connection ended and the
	// registered inter-broker address refused connections), ahead of
	// their lease (fastfence.go). No Kafka equivalent. Each is logged.
	MetricFastFences = "tributary_cluster_fast_fences_total"
	// MetricPreferredReplicaImbalance: partitions not led by their
	// preferred replica (the first of their assignment), offline ones
	// included, as the active controller sees them; 0 on every other
	// broker (Kafka's PreferredReplicaImbalanceCount). Leader balancing
	// (auto.leader.rebalance.enable) brings it back down.
	MetricPreferredReplicaImbalance = "tributary_cluster_preferred_replica_imbalance"
	// MetricReassigningPartitions: partitions being reassigned (KIP-455),
	// as the active controller sees them; 0 on every other broker
	// (Kafka's ReassigningPartitions).
	MetricReassigningPartitions = "tributary_cluster_reassigning_partitions"
	// MetricReplicationThrottledBytes: bytes of throttled replication
	// traffic this broker moved, by direction: sent as a leader to
	// throttled followers, or fetched as a throttled follower (Kafka's
	// LeaderReplication and FollowerReplication byte-rate, as counters).
	MetricReplicationThrottledBytes = "tributary_replication_throttled_bytes_total"

	// The embedded etcd member of a voter (embed.go); no other broker
	// exports them. MetricQuorumLeaderChanges: raft leaders the member
	// learned of since it started, the first included (etcd's
	// leader_changes_seen; KRaft's NumberOfElections). Besides the
	// elections that follow a voter's death it counts a follower that
	// heard nothing from its leader for an election timeout (a leader
	// too slow for controller.quorum.election.timeout.ms) and a
	// leadership handed over before a defragmentation. Alert when it
	// rises without broker restarts.
	MetricQuorumLeaderChanges = "tributary_cluster_quorum_leader_changes_total"
	// MetricQuorumLeader: 1 on the voter whose member leads the raft, 0
	// on the others; summed over the voters it is 1 (KRaft's
	// current-state leader).
	MetricQuorumLeader = "tributary_cluster_quorum_leader"
	// MetricQuorumDBSize and MetricQuorumDBSizeInUse: the member's
	// backend file and what its data uses of it; the difference is free
	// pages a defragmentation gives back (etcd's db_total_size_in_bytes
	// and db_total_size_in_use_in_bytes). MetricQuorumDBQuota: the size
	// at which etcd takes no more writes (NOSPACE alarm).
	MetricQuorumDBSize      = "tributary_cluster_quorum_db_size_bytes"
	MetricQuorumDBSizeInUse = "tributary_cluster_quorum_db_size_in_use_bytes"
	MetricQuorumDBQuota     = "tributary_cluster_quorum_db_quota_bytes"
	// MetricQuorumDefrags: the member's online defragmentations
	// (defrag.go). No Kafka equivalent. Each is logged.
	MetricQuorumDefrags = "tributary_cluster_quorum_defrags_total"
)

// QuorumMetrics are the metrics of Metrics only a voter's embedded
// member exports.
var QuorumMetrics = []string{
	MetricQuorumLeaderChanges, MetricQuorumLeader, MetricQuorumDBSize,
	MetricQuorumDBSizeInUse, MetricQuorumDBQuota, MetricQuorumDefrags,
}

// Label names and values.
const (
	LabelState = "state" // MetricBrokers: StateActive or StateFenced
	LabelKind  = "kind"  // MetricLeaderElections: KindClean or KindUnclean
	LabelError = "error" // MetricReplicaFetchErrors: Kafka's error name, or "network"
	// LabelDirection: MetricReplicationThrottledBytes, DirectionLeader or
	// DirectionFollower.
	LabelDirection = "direction"

	DirectionLeader   = "leader"
	DirectionFollower = "follower"

	StateActive = "active"
	StateFenced = "fenced"
	KindClean   = "clean"
	KindUnclean = "unclean"
)

// Metrics lists every cluster metric: what the dashboard row and the
// alerts may use.
var Metrics = []Metric{
	{MetricUnderReplicatedPartitions, Gauge, nil, "Partitions this broker leads whose ISR is smaller than their replica set."},
	{MetricUnderMinISRPartitions, Gauge, nil, "Partitions this broker leads whose ISR is below min.insync.replicas (acks=all produces fail)."},
	{MetricAtMinISRPartitions, Gauge, nil, "Partitions this broker leads whose ISR is exactly min.insync.replicas."},
	{MetricOfflinePartitions, Gauge, nil, "Partitions without a leader, as the active controller sees them (0 on other brokers)."},
	{MetricActiveController, Gauge, nil, "1 on the active controller, 0 on every other broker."},
	{MetricLeaderPartitions, Gauge, nil, "Partitions this broker leads."},
	{MetricPartitions, Gauge, nil, "Partition replicas on this broker."},
	{MetricBrokers, Gauge, []string{LabelState}, "Registered brokers by state (active, fenced), as the active controller sees them."},
	{MetricISRShrinks, Counter, nil, "ISR shrinks this broker made as a leader."},
	{MetricISRExpands, Counter, nil, "ISR expansions this broker made as a leader."},
	{MetricLeaderElections, Counter, []string{LabelKind}, "Leaders this broker's controllers elected, clean (from the ISR) or unclean (outside it, losing what only the ISR held)."},
	{MetricReplicaMaxLag, Gauge, nil, "Largest lag in records of this broker's follower replicas behind their leaders."},
	{MetricReplicaFetchRequests, Counter, nil, "Replica fetches this broker sent as a follower."},
	{MetricReplicaFetchErrors, Counter, []string{LabelError}, "Replica fetches this broker sent as a follower that failed, by error."},
	{MetricReplicaFetchRestarts, Counter, nil, "Replica fetches this broker ended before their answer to fetch partitions just added."},
	{MetricFastFences, Counter, nil, "Registrations of other brokers this broker ended because their process was gone, ahead of their lease."},
	{MetricPreferredReplicaImbalance, Gauge, nil, "Partitions not led by their preferred replica, as the active controller sees them (0 on other brokers)."},
	{MetricReassigningPartitions, Gauge, nil, "Partitions being reassigned, as the active controller sees them (0 on other brokers)."},
	{MetricReplicationThrottledBytes, Counter, []string{LabelDirection}, "Bytes of throttled replication traffic this broker moved, as a leader or as a follower."},
	{MetricQuorumLeaderChanges, Counter, nil, "Metadata quorum (etcd raft) leaders this voter's member learned of since it started, the first included."},
	{MetricQuorumLeader, Gauge, nil, "1 on the voter whose etcd member leads the metadata quorum's raft, 0 on the other voters."},
	{MetricQuorumDBSize, Gauge, nil, "Size of this voter's etcd backend file, free pages included."},
	{MetricQuorumDBSizeInUse, Gauge, nil, "Bytes of this voter's etcd backend file its data uses."},
	{MetricQuorumDBQuota, Gauge, nil, "Size of the etcd backend file at which the metadata quorum takes no more writes."},
	{MetricQuorumDefrags, Counter, nil, "Online defragmentations of this voter's etcd backend file."},
}
