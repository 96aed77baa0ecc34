package cluster

import (
	"context"
	"errors"
	"slices"
	"sync/atomic"
)

// NoLeader is PartitionState.Leader of a partition that has no leader: its
// ISR is all gone and unclean leader election is off, so it is offline
// until an ISR member returns.
const NoLeader int32 = -1

// Sentinel errors callers branch on.
var (
	// ErrConflict is a compare-and-swap that lost: the key changed since
	// the version the caller read. Re-read and decide again.
	ErrConflict = errors.New("cluster: metadata changed concurrently")
	// ErrTopicExists is CreateTopic of a name that is taken.
	ErrTopicExists = errors.New("cluster: topic already exists")
	// ErrUnknownTopic is an operation on a topic the metadata does not hold.
	ErrUnknownTopic = errors.New("cluster: unknown topic")
	// ErrNotEnoughBrokers is a placement that asks for more replicas than
	// there are live (unfenced) brokers: INVALID_REPLICATION_FACTOR.
	ErrNotEnoughBrokers = errors.New("cluster: replication factor larger than the live broker count")
	// ErrFenced is a write by a broker whose registration lapsed or a
	// leader whose epoch is stale.
	ErrFenced = errors.New("cluster: fenced")
)

// Endpoint is one advertised listener of a broker, as Metadata and
// DescribeCluster publish it.
type Endpoint struct {
	Listener         string `json:"listener"`          // listener name, e.g. PLAINTEXT, SASL_SSL, INTERNAL
	SecurityProtocol string `json:"security_protocol"` // PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL
	Host             string `json:"host"`
	Port             int32  `json:"port"`
}

// Broker is a registered broker. A broker is live while its registration
// key exists (it is bound to an etcd lease the broker keeps alive); a
// broker whose lease lapsed is fenced: it is absent from Snapshot.Brokers,
// leaves every ISR and cannot be elected.
type Broker struct {
	NodeID    int32      `json:"node_id"`
	Rack      string     `json:"rack,omitempty"`
	Endpoints []Endpoint `json:"endpoints"`
	// Epoch is the broker epoch (KIP-380): it grows with every
	// registration, so requests from a previous incarnation are told apart.
	Epoch int64 `json:"epoch"`
	// Incarnation is the broker epoch of the first registration of the
	// broker's process: a registration after a lapsed lease keeps it
	// (the process, and every record it holds, is the same), a restart
	// starts a new one. Kafka's broker epoch changes only on a restart,
	// which is what KIP-966's rule for a broker back from an unclean
	// shutdown needs (PartitionState.WrittenBefore); ours changes on every
	// lease, so that rule reads Incarnation.
	Incarnation int64 `json:"incarnation"`
}

// IncarnationEpoch is b.Incarnation, or b.Epoch when it is not set (a
// registration is then its process's first).
func (b Broker) IncarnationEpoch() int64 {
	if b.Incarnation > 0 {
		return b.Incarnation
	}
	return b.Epoch
}

// Endpoint returns b's endpoint on listener, if it has one.
func (b Broker) Endpoint(listener string) (Endpoint, bool) {
	for _, e := range b.Endpoints {
		if e.Listener == listener {
			return e, true
		}
	}
	return Endpoint{}, false
}

// Topic is a topic's cluster-wide identity and configuration. Its
// partitions' states are separate keys, each changed on its own.
type Topic struct {
	Name       string            `json:"name"`
	ID         [16]byte          `json:"id"`
	Partitions int32             `json:"partitions"`
	Configs    map[string]string `json:"configs,omitempty"` // topic-level overrides, Kafka's names
}

// TopicPartition names one partition.
type TopicPartition struct {
	Topic     string
	Partition int32
}

// PartitionState is one partition's replica assignment and leadership, the
// unit every leadership and ISR change swaps atomically.
type PartitionState struct {
	Topic     string  `json:"topic"`
	Partition int32   `json:"partition"`
	Replicas  []int32 `json:"replicas"` // assignment, preferred leader first
	ISR       []int32 `json:"isr"`      // in-sync replicas, a subset of Replicas
	Leader    int32   `json:"leader"`   // NoLeader when offline
	// LeaderEpoch grows on every leader change (and only then): the
	// fencing token clients and followers send back.
	LeaderEpoch int32 `json:"leader_epoch"`
	// PartitionEpoch grows on every change of this state (Kafka's
	// partition epoch): leader, ISR or replicas.
	PartitionEpoch int32 `json:"partition_epoch"`
	// TargetReplicas, AddingReplicas and RemovingReplicas describe a
	// reassignment in progress (KIP-455, Kafka's PartitionRegistration),
	// all empty when none is (reassign.go): Replicas is then the union of
	// the replicas before it and TargetReplicas (those before first, then
	// AddingReplicas in target order), AddingReplicas the target replicas
	// that were not replicas, RemovingReplicas the replicas the target
	// leaves out.
	TargetReplicas   []int32 `json:"target_replicas,omitempty"`
	AddingReplicas   []int32 `json:"adding_replicas,omitempty"`
	RemovingReplicas []int32 `json:"removing_replicas,omitempty"`
	// Version is the store's version of the key this state was read
	// from (etcd's ModRevision): the compare-and-swap token. Not stored.
	Version int64 `json:"-"`
}

// TP returns the partition's name.
func (p PartitionState) TP() TopicPartition {
	return TopicPartition{Topic: p.Topic, Partition: p.Partition}
}

// InISR reports whether node is an in-sync replica.
func (p PartitionState) InISR(node int32) bool { return slices.Contains(p.ISR, node) }

// IsReplica reports whether node is assigned a replica.
func (p PartitionState) IsReplica(node int32) bool { return slices.Contains(p.Replicas, node) }

// Clone returns a copy that shares no slices with p.
func (p PartitionState) Clone() PartitionState {
	p.Replicas = slices.Clone(p.Replicas)
	p.ISR = slices.Clone(p.ISR)
	p.TargetReplicas = slices.Clone(p.TargetReplicas)
	p.AddingReplicas = slices.Clone(p.AddingReplicas)
	p.RemovingReplicas = slices.Clone(p.RemovingReplicas)
	return p
}

// Reassigning reports whether a reassignment of the partition is in
// progress.
func (p PartitionState) Reassigning() bool { return len(p.TargetReplicas) > 0 }

// Snapshot is an immutable copy of the cluster metadata at one store
// revision. Every broker answers Metadata, DescribeCluster and
// FindCoordinator from its latest Snapshot. Never modify one: build a new
// one.
type Snapshot struct {
	Revision   int64            // store revision it reflects
	ClusterID  string           // the cluster's ID
	Controller int32            // active controller's node ID, -1 if none
	Brokers    map[int32]Broker // live (registered, unfenced) brokers
	Topics     map[string]Topic // by name
	Partitions PartitionMap     // every partition of every topic
	// OrphanPartitions counts partition keys no topic shows (no topic of
	// their name, or numbered at or past its partition count) that no
	// creation in progress claims: left by a staged creation or growth
	// that did not finish (doc.go, Writes). They are never in Partitions;
	// the controller deletes them (OrphanCollector).
	OrphanPartitions int
	// Credentials are the SCRAM credentials of the cluster's users and
	// ACLs its ACL bindings by ID (auth_etcd.go). ACLRevision is the
	// store revision of the last change to ACLs (or of the load), so a
	// watcher rebuilds its ACL index only when the bindings changed.
	Credentials map[CredentialKey]ScramCredential
	ACLs        map[string]ACL
	ACLRevision int64
	// BrokerConfigs are the dynamic broker configs by BROKER resource
	// name: a node id, or "" for the cluster-wide defaults
	// (broker_configs.go); nil when none is set.
	BrokerConfigs map[string]map[string]string
	// Changes lists the partitions this Snapshot changed from the one
	// published before it, and links to the next Snapshot's (see
	// ChangedSince); nil when the store does not keep them.
	Changes *PartitionChanges
}

// PartitionChanges is what one published Snapshot changed in
// Partitions: the partitions put, deleted, shown or hidden. Each links to
// the next Snapshot's, so a reader that applied one Snapshot finds what
// every later one changed without comparing thousands of partitions.
// The chain breaks where the store reloaded the metadata whole.
type PartitionChanges struct {
	Partitions []TopicPartition
	next       atomic.Pointer[PartitionChanges]
}

// link makes n the changes after c.
func (c *PartitionChanges) link(n *PartitionChanges) { c.next.Store(n) }

// ChangedSince returns the partitions whose state changed (or that came
// or went) from snapshot from to snapshot to, a later one of the same
// store, possibly with repeats; false when the store cannot tell (a
// reload in between, or a store that keeps no changes): compare them
// whole then.
func ChangedSince(from, to *Snapshot) ([]TopicPartition, bool) {
	if from == nil || to == nil || from.Changes == nil || to.Changes == nil {
		return nil, false
	}
	var out []TopicPartition
	for c := from.Changes; c != to.Changes; {
		if c = c.next.Load(); c == nil {
			return nil, false
		}
		out = append(out, c.Partitions...)
	}
	return out, true
}

// Live reports whether node is a live, unfenced broker.
func (s *Snapshot) Live(node int32) bool {
	_, ok := s.Brokers[node]
	return ok
}

// Partition returns the state of topic's partition p.
func (s *Snapshot) Partition(topic string, p int32) (PartitionState, bool) {
	st, ok := s.Partitions.Get(TopicPartition{Topic: topic, Partition: p})
	return st, ok
}

// PartitionUpdate is one compare-and-swap of a partition's state: it
// applies only if the stored key is still at Old.Version.
type PartitionUpdate struct {
	Old PartitionState // as read; its Version is the CAS token
	New PartitionState
}

// Elects reports whether u gives the partition a new leader (not going
// offline).
func (u PartitionUpdate) Elects() bool {
	return u.New.Leader != NoLeader && u.New.Leader != u.Old.Leader
}

// Unclean reports whether u elects a leader that was not in the ISR: an
// unclean election, which loses whatever only the old ISR held.
func (u PartitionUpdate) Unclean() bool {
	return u.Elects() && !u.Old.InISR(u.New.Leader)
}

// Store is the cluster metadata as the controller, the brokers and the
// replication code use it. The etcd implementation is the real one; tests
// of pure decision logic may use an in-memory one.
type Store interface {
	// Snapshot returns the latest watched copy of the metadata. It never
	// blocks and never returns nil once the store is open.
	Snapshot() *Snapshot
	// Changed returns a channel that is closed at the next change after
	// the call (the next Snapshot with a higher Revision).
	Changed() <-chan struct{}
	// CreateTopic stores t and its partitions' initial states, seen by
	// every Snapshot all at once (in one transaction, or staged and
	// committed by the topic key: doc.go, Writes); ErrTopicExists if the
	// name is taken.
	CreateTopic(ctx context.Context, t Topic, parts []PartitionState) error
	// DeleteTopic removes t and its partitions; ErrUnknownTopic if absent.
	DeleteTopic(ctx context.Context, name string) error
	// UpdatePartitions applies every update in one transaction, or none of
	// them and ErrConflict if any partition's version moved.
	UpdatePartitions(ctx context.Context, updates []PartitionUpdate) error
}
