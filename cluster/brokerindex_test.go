package cluster

import (
	"fmt"
	"log/slog"
	"math/rand/v2"
	"testing"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// withoutChanges is s as a store that keeps no changes would publish it:
// the controller must then visit every partition.
func withoutChanges(s *Snapshot) *Snapshot {
	c := *s
	c.Changes = nil
	return &c
}

// TestOnChangeVisitingChangedPartitionsDecidesAsAFullScan runs random
// metadata changes (brokers fenced, registered again, partitions given
// new leaders, ISRs and replicas) through the watch's apply and checks
// that the controller's decisions, which visit only the partitions
// written since the previous Snapshot and those naming a broker that
// came or went, equal those of a scan of every partition.
func TestOnChangeVisitingChangedPartitionsDecidesAsAFullScan(t *testing.T) {
	quiet := slog.New(slog.DiscardHandler)
	// Twelve brokers, so that most changes involve brokers of fewer
	// than half of the partitions: the ones decided from the index.
	const brokers = 12
	for _, policy := range []Policy{{}, {UncleanLeaderElection: true}} {
		s := benchStore()
		snap := s.build(1, benchMetadata(s, 1000, brokers))
		rng := rand.New(rand.NewPCG(3, 4))
		indexed := NewController(ControllerConfig{NodeID: 1, Policy: policy, Logger: quiet, Seed: 1})
		scan := NewController(ControllerConfig{NodeID: 1, Policy: policy, Logger: quiet, Seed: 1})
		epoch := int64(100)
		decided := 0
		for step := range 100 {
			rev := snap.Revision + 1
			var evs []*clientv3.Event
			for range rng.IntN(3) {
				n := int32(1 + rng.IntN(brokers))
				key := []byte(s.prefix + brokerKey(n))
				if rng.IntN(3) == 0 {
					evs = append(evs, &clientv3.Event{Type: mvccpb.DELETE, Kv: &mvccpb.KeyValue{Key: key, ModRevision: rev}})
					continue
				}
				epoch++
				evs = append(evs, &clientv3.Event{Type: mvccpb.PUT, Kv: &mvccpb.KeyValue{Key: key, ModRevision: rev,
					Value: []byte(encodeBroker(Broker{NodeID: n, Incarnation: epoch - int64(rng.IntN(2))}))}})
			}
			var states []PartitionState
			for range rng.IntN(20) {
				p := rng.IntN(1000)
				st, _ := snap.Partition(fmt.Sprintf("topic-%d", p/100), int32(p%100))
				st = st.Clone()
				st.Replicas = nil
				for _, n := range rng.Perm(brokers)[:3] {
					st.Replicas = append(st.Replicas, int32(n+1))
				}
				st.ISR = st.Replicas[:1+rng.IntN(3)]
				st.Leader = st.ISR[rng.IntN(len(st.ISR))]
				if rng.IntN(5) == 0 {
					st.Leader = NoLeader
				}
				st.LeaderEpoch++
				st.PartitionEpoch++
				states = append(states, st)
			}
			evs = append(evs, partitionPuts(s, rev, states...)...)
			next := s.apply(snap, rev, evs)
			got := indexed.onChange(snap, next)
			want := scan.onChange(withoutChanges(snap), withoutChanges(next))
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("policy %+v, step %d: visiting the changed partitions decides\n%v\na full scan\n%v", policy, step, got, want)
			}
			decided += len(want)
			snap = next
		}
		if decided == 0 {
			t.Fatalf("policy %+v: no step decided anything: the comparison proves nothing", policy)
		}
	}
}
