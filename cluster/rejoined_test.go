package cluster

import "testing"

// TestReconcileFencesAReplicaThatRegisteredAfterItsISRWasWritten: a
// broker whose registration (its broker epoch, an etcd revision) is newer
// than a partition's last write holds its ISR place from a previous
// incarnation, whose unflushed tail a power loss may have taken. A new
// controller's first Reconcile (the restarted broker was the controller,
// so no controller saw it go) must take it out of the ISR and away from
// the leadership; the last member left leads again, under a new leader
// epoch, so that its partition is written after its registration.
func TestReconcileFencesAReplicaThatRegisteredAfterItsISRWasWritten(t *testing.T) {
	const restartedEpoch = 500 // after every part's Version (100+p)
	for _, tc := range []struct {
		name string
		p    PartitionState
		want []PartitionState
	}{
		{
			name: "restarted leader loses the leadership to the first ISR member",
			p:    part(0, ids(2, 1, 3), ids(2, 1, 3), 2),
			want: []PartitionState{after(0, ids(2, 1, 3), ids(1, 3), 1, startLE+1, startPE+1)},
		},
		{
			name: "restarted follower leaves the ISR",
			p:    part(0, ids(1, 2, 3), ids(1, 2, 3), 1),
			want: []PartitionState{after(0, ids(1, 2, 3), ids(1, 3), 1, startLE, startPE+1)},
		},
		{
			name: "restarted broker outside the ISR changes nothing",
			p:    part(0, ids(1, 2, 3), ids(1, 3), 1),
		},
		{
			name: "restarted last ISR member leads again under a new leader epoch",
			p:    part(0, ids(2, 1, 3), ids(2), 2),
			want: []PartitionState{after(0, ids(2, 1, 3), ids(2), 2, startLE+1, startPE+1)},
		},
		{
			name: "restarted last ISR member of an offline partition is elected",
			p:    part(0, ids(2, 1, 3), ids(2), NoLeader),
			want: []PartitionState{after(0, ids(2, 1, 3), ids(2), 2, startLE+1, startPE+1)},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := snap(ids(1, 2, 3), nil, tc.p)
			s.Brokers[2] = Broker{NodeID: 2, Epoch: restartedEpoch}
			sameStates(t, newStates(t, Reconcile(s, Policy{})), tc.want)
		})
	}
}

func TestReconcileKeepsAReplicaRegisteredBeforeItsISRWasWritten(t *testing.T) {
	p := part(0, ids(2, 1, 3), ids(2, 1, 3), 2)
	s := snap(ids(1, 2, 3), nil, p)
	s.Brokers[2] = Broker{NodeID: 2, Epoch: p.Version - 1}
	if got := Reconcile(s, Policy{}); len(got) != 0 {
		t.Fatalf("a broker registered before the partition's last write was fenced: %+v", got)
	}
}
