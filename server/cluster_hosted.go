package server

// Which partitions a cluster broker hosts. As in Kafka, a broker holds a
// log (directory, segments, mappings, file descriptor) only for the
// partitions whose assignment (replicas) includes it; it knows every
// topic whole, so that it answers for any partition: Metadata from the
// cluster snapshot, and NOT_LEADER_OR_FOLLOWER for a partition it hosts
// no replica of (partitionOf).
//
// A replica is created as soon as a snapshot assigns it here. It is
// deleted only when all of these hold, so that no metadata blip can cost
// a replica its data:
//
//   - this broker is registered and live in the snapshot (a fenced
//     broker's view may be stale);
//   - the topic is in the snapshot with the local topic's ID (a deleted
//     topic goes through DeleteTopic, a recreated one is replaced whole);
//   - the partition's state is in the snapshot with a non-empty
//     assignment that excludes this broker;
//   - that has been so in every snapshot applied for replicaRemoveGrace,
//     so a reassignment reverted at once keeps the replica.
//
// Its fetcher or leader state is stopped first (reconciler.stop, which
// also hands a __consumer_offsets partition's groups back), then
// log.Manager.RemovePartitions unlists it durably and deletes its
// directory; a removal is logged with the assignment that caused it.

import (
	"time"

	"github.com/tributary-io/tributary/cluster"
	tlog "github.com/tributary-io/tributary/log"
)

// replicaRemoveGrace is how long a hosted partition must stay unassigned
// from this broker, in every snapshot applied meanwhile, before its log
// is deleted.
const replicaRemoveGrace = time.Second

// hostedHere lists the partitions of t that s assigns to self, ascending,
// never nil (a topic with none here is known with no log).
func hostedHere(s *cluster.Snapshot, t cluster.Topic, self int32) []int32 {
	out := []int32{}
	for p := range t.Partitions {
		if st, ok := s.Partition(t.Name, p); ok && st.IsReplica(self) {
			out = append(out, p)
		}
	}
	return out
}

// hostsAll reports whether lt has a log of every partition of hosted.
func hostsAll(lt *tlog.Topic, hosted []int32) bool {
	for _, p := range hosted {
		if lt.PartitionLog(p) == nil {
			return false
		}
	}
	return true
}

// removeUnassigned deletes the local logs of lt's partitions that s, and
// every snapshot applied for replicaRemoveGrace before it, no longer
// assigns to this broker; false while one waits out its grace (the
// reconciler then comes back), or if a removal failed. Caller holds r.mu
// and has checked that lt has t's ID.
func (r *reconciler) removeUnassigned(s *cluster.Snapshot, t cluster.Topic, lt *tlog.Topic) bool {
	self := r.n.self
	now := time.Now()
	ok := true
	var remove []int32
	for i, l := range lt.Partitions {
		p := int32(i)
		if l == nil {
			continue
		}
		tp := cluster.TopicPartition{Topic: t.Name, Partition: p}
		st, known := s.Partition(t.Name, p)
		if !known || len(st.Replicas) == 0 || st.IsReplica(self) || !s.Live(self) || p >= t.Partitions {
			delete(r.unassigned, tp)
			continue
		}
		since, seen := r.unassigned[tp]
		if !seen {
			r.unassigned[tp] = now
			r.log.Info("server: a local replica is no longer assigned here; it is deleted unless reassigned within the grace",
				"topic", t.Name, "partition", p, "replicas", st.Replicas, "grace", replicaRemoveGrace)
			ok = false
			continue
		}
		if now.Sub(since) < replicaRemoveGrace {
			ok = false
			continue
		}
		r.stop(tp)
		remove = append(remove, p)
	}
	if len(remove) == 0 {
		return ok
	}
	if err := r.n.s.mgr.RemovePartitions(t.Name, remove); err != nil {
		r.log.Warn("server: delete local replicas no longer assigned here", "topic", t.Name, "partitions", remove, "err", err)
		return false
	}
	for _, p := range remove {
		delete(r.unassigned, cluster.TopicPartition{Topic: t.Name, Partition: p})
	}
	r.log.Info("server: deleted local replicas no longer assigned here", "topic", t.Name, "partitions", remove)
	return ok
}
