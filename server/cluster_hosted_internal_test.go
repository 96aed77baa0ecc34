package server

import (
	"io"
	"log/slog"
	"slices"
	"testing"

	"github.com/tributary-io/tributary/cluster"
	tlog "github.com/tributary-io/tributary/log"
)

// TestReplicaRemovalNeedsAStableUnassignment pins the safety rule of
// removeUnassigned: a hosted partition's log is deleted only when the
// snapshot has the partition with an assignment that excludes this live
// broker, and has had it so for replicaRemoveGrace; a state that is
// missing or empty, a snapshot in which this broker is not live, or a
// reassignment back within the grace keeps it.
func TestReplicaRemovalNeedsAStableUnassignment(t *testing.T) {
	const self = 1
	id := [16]byte{7, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}
	snapshot := func(live bool, p1 *cluster.PartitionState) *cluster.Snapshot {
		s := &cluster.Snapshot{
			Brokers:    map[int32]cluster.Broker{2: {NodeID: 2}, 3: {NodeID: 3}},
			Topics:     map[string]cluster.Topic{"t": {Name: "t", ID: id, Partitions: 2}},
			Partitions: cluster.PartitionMap{},
		}
		if live {
			s.Brokers[self] = cluster.Broker{NodeID: self}
		}
		s.Partitions = s.Partitions.With(cluster.PartitionState{Topic: "t", Partition: 0, Replicas: []int32{self, 2}, Leader: self})
		if p1 != nil {
			s.Partitions = s.Partitions.With(*p1)
		}
		return s
	}
	elsewhere := &cluster.PartitionState{Topic: "t", Partition: 1, Replicas: []int32{2, 3}, Leader: 2}
	here := &cluster.PartitionState{Topic: "t", Partition: 1, Replicas: []int32{3, self}, Leader: 3}
	empty := &cluster.PartitionState{Topic: "t", Partition: 1, Leader: cluster.NoLeader}
	for _, tc := range []struct {
		name  string
		steps []*cluster.Snapshot // each applied after the grace of the one before
		gone  bool                // partition 1's log deleted at the end
	}{
		{"unassigned for the grace", []*cluster.Snapshot{snapshot(true, elsewhere), snapshot(true, elsewhere)}, true},
		{"unassigned once only", []*cluster.Snapshot{snapshot(true, elsewhere)}, false},
		{"reassigned back within the grace", []*cluster.Snapshot{snapshot(true, elsewhere), snapshot(true, here), snapshot(true, elsewhere)}, false},
		{"state missing", []*cluster.Snapshot{snapshot(true, nil), snapshot(true, nil)}, false},
		{"empty assignment", []*cluster.Snapshot{snapshot(true, empty), snapshot(true, empty)}, false},
		{"this broker not live", []*cluster.Snapshot{snapshot(false, elsewhere), snapshot(false, elsewhere)}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mgr, err := tlog.OpenManager(t.TempDir(), tlog.Options{ReplicatedLeadership: true, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
			if err != nil {
				t.Fatal(err)
			}
			defer mgr.Close()
			if _, err := mgr.CreateTopicHosting("t", id, 2, []int32{0, 1}, nil); err != nil {
				t.Fatal(err)
			}
			r := newReconciler(&brokerNode{s: &Server{mgr: mgr}, self: self, log: slog.New(slog.NewTextHandler(io.Discard, nil))})
			for _, s := range tc.steps {
				// The grace of every earlier sighting has passed.
				for tp, since := range r.unassigned {
					r.unassigned[tp] = since.Add(-2 * replicaRemoveGrace)
				}
				lt, _ := mgr.Topic("t")
				r.mu.Lock()
				r.removeUnassigned(s, s.Topics["t"], lt)
				r.mu.Unlock()
			}
			lt, _ := mgr.Topic("t")
			want := []int32{0, 1}
			if tc.gone {
				want = []int32{0}
			}
			if got := lt.Hosted(); !slices.Equal(got, want) {
				t.Fatalf("hosted %v after the snapshots, want %v", got, want)
			}
		})
	}
}
