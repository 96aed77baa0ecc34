package cluster

import (
	"fmt"
	"log/slog"
	"math/rand/v2"
	"testing"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// benchStore is an EtcdStore without a client: enough to build and
// apply Snapshots from key-values, as the watch goroutine does.
func benchStore() *EtcdStore {
	return &EtcdStore{prefix: "/tributary/bench/", clusterID: "bench"}
}

// benchMetadata is the key-values of brokers brokers and partitions
// partitions of replication factor 3 spread over them, in topics of 100
// partitions (the failover benchmark's layout), all at revision 1.
func benchMetadata(s *EtcdStore, partitions int, brokers int32) []*mvccpb.KeyValue {
	kv := func(key, value string) *mvccpb.KeyValue {
		return &mvccpb.KeyValue{Key: []byte(s.prefix + key), Value: []byte(value), CreateRevision: 1, ModRevision: 1}
	}
	var kvs []*mvccpb.KeyValue
	for n := int32(1); n <= brokers; n++ {
		kvs = append(kvs, kv(brokerKey(n), encodeBroker(Broker{NodeID: n})))
	}
	for t := 0; t*100 < partitions; t++ {
		name := fmt.Sprintf("topic-%d", t)
		count := int32(min(100, partitions-t*100))
		kvs = append(kvs, kv(topicKey(name), encodeTopic(Topic{Name: name, ID: [16]byte{byte(t), byte(t >> 8), 1}, Partitions: count})))
		for p := range count {
			r := []int32{1 + p%brokers, 1 + (p+1)%brokers, 1 + (p+2)%brokers}
			kvs = append(kvs, kv(partitionKey(name, p), encodePartition(PartitionState{
				Topic: name, Partition: p, Replicas: r, ISR: r, Leader: r[0], LeaderEpoch: 1, PartitionEpoch: 1})))
		}
	}
	return kvs
}

// partitionPuts is the watch events putting states at revision rev.
func partitionPuts(s *EtcdStore, rev int64, states ...PartitionState) []*clientv3.Event {
	evs := make([]*clientv3.Event, 0, len(states))
	for _, st := range states {
		evs = append(evs, &clientv3.Event{Type: mvccpb.PUT, Kv: &mvccpb.KeyValue{
			Key: []byte(s.prefix + partitionKey(st.Topic, st.Partition)), Value: []byte(encodePartition(st)), ModRevision: rev}})
	}
	return evs
}

// BenchmarkSnapshotApply is the watch's cost of one group of watch
// responses: changed partitions (a failover's leader elections and ISR
// changes) applied to a Snapshot of partitions partitions.
func BenchmarkSnapshotApply(b *testing.B) {
	for _, partitions := range []int{1000, 10000} {
		for _, changed := range []int{1, 64} {
			b.Run(fmt.Sprintf("partitions=%d/changed=%d", partitions, changed), func(b *testing.B) {
				s := benchStore()
				snap := s.build(1, benchMetadata(s, partitions, 3))
				rng := rand.New(rand.NewPCG(1, 2))
				// Pre-encoded changes, so the loop measures the apply.
				const batches = 64
				evs := make([][]*clientv3.Event, batches)
				for i := range evs {
					for range changed {
						p := rng.IntN(partitions)
						st, ok := snap.Partition(fmt.Sprintf("topic-%d", p/100), int32(p%100))
						if !ok {
							b.Fatalf("partition %d missing", p)
						}
						st.Leader, st.ISR, st.LeaderEpoch = st.Replicas[1], st.Replicas[1:], st.LeaderEpoch+1
						evs[i] = append(evs[i], &clientv3.Event{Type: mvccpb.PUT, Kv: &mvccpb.KeyValue{
							Key: []byte(s.prefix + partitionKey(st.Topic, st.Partition)), Value: []byte(encodePartition(st))}})
					}
				}
				b.ReportAllocs()
				b.ResetTimer()
				for i := 0; b.Loop(); i++ {
					rev := snap.Revision + 1
					for _, ev := range evs[i%batches] {
						ev.Kv.ModRevision = rev
					}
					snap = s.apply(snap, rev, evs[i%batches])
				}
			})
		}
	}
}

// BenchmarkControllerOnChange is the active controller's cost of one
// metadata change at 10,000 partitions: 64 partitions' ISRs changed
// (changed=64) and, with broker, broker 3 also registered again.
// scan=all is the decision made by visiting every partition (a store
// that keeps no changes), the baseline; scan=changed visits only the
// partitions written since and those naming broker 3.
func BenchmarkControllerOnChange(b *testing.B) {
	for _, broker := range []bool{false, true} {
		for _, scan := range []string{"all", "changed"} {
			b.Run(fmt.Sprintf("broker=%v/scan=%s", broker, scan), func(b *testing.B) {
				s := benchStore()
				base := s.build(1, benchMetadata(s, 10000, 3))
				rng := rand.New(rand.NewPCG(1, 2))
				var states []PartitionState
				for range 64 {
					p := rng.IntN(10000)
					st, _ := base.Partition(fmt.Sprintf("topic-%d", p/100), int32(p%100))
					st.ISR, st.PartitionEpoch = st.Replicas[:2], st.PartitionEpoch+1
					states = append(states, st)
				}
				evs := partitionPuts(s, 2, states...)
				if broker {
					evs = append(evs, &clientv3.Event{Type: mvccpb.PUT, Kv: &mvccpb.KeyValue{
						Key: []byte(s.prefix + brokerKey(3)), Value: []byte(encodeBroker(Broker{NodeID: 3})), ModRevision: 2}})
				}
				next := s.apply(base, 2, evs)
				prev := base
				if scan == "all" {
					prev, next = withoutChanges(base), withoutChanges(next)
				}
				c := NewController(ControllerConfig{NodeID: 1, Logger: slog.New(slog.DiscardHandler), Seed: 1})
				c.byBroker.advance(prev) // as after the change before
				b.ReportAllocs()
				for b.Loop() {
					c.onChange(prev, next)
				}
			})
		}
	}
}

// BenchmarkControllerFenceDecision is the active controller's decision
// after broker 3 of three was fenced at 10,000 partitions of replication
// factor 3 (a third of them to elect, every ISR to shrink): the time
// from the fence seen to the first transaction that can be sent.
func BenchmarkControllerFenceDecision(b *testing.B) {
	s := benchStore()
	prev := s.build(1, benchMetadata(s, 10000, 3))
	next := s.apply(prev, 2, []*clientv3.Event{{Type: mvccpb.DELETE, Kv: &mvccpb.KeyValue{
		Key: []byte(s.prefix + brokerKey(3)), ModRevision: 2}}})
	c := NewController(ControllerConfig{NodeID: 1, Logger: slog.New(slog.DiscardHandler), Seed: 1})
	c.byBroker.advance(prev)
	b.ReportAllocs()
	for b.Loop() {
		ups := c.onChange(prev, next)
		if len(ups) != 10000 {
			b.Fatalf("%d updates, want 10000", len(ups))
		}
		_ = electionsFirst(ups)
	}
}
