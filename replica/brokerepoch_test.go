package replica

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/tributary-io/tributary/cluster"
)

// epochRecorder records the broker epoch of every Fetch it is sent and
// fails it (the fetcher backs off and asks again).
type epochRecorder struct {
	mu     sync.Mutex
	epochs []int64
}

func (r *epochRecorder) Request(_ context.Context, req kmsg.Request) (kmsg.Response, error) {
	if f, ok := req.(*kmsg.FetchRequest); ok {
		r.mu.Lock()
		r.epochs = append(r.epochs, f.ReplicaState.Epoch)
		r.mu.Unlock()
	}
	return nil, errors.New("recorded")
}

func (r *epochRecorder) last() (int64, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.epochs) == 0 {
		return 0, false
	}
	return r.epochs[len(r.epochs)-1], true
}

// TestSetBrokerEpochReachesFetchersStartedAfter: a broker registered
// again (fenced, then a new epoch) fetches under its new epoch once its
// partitions are followed again.
func TestSetBrokerEpochReachesFetchersStartedAfter(t *testing.T) {
	m := newFollowerManager(t, 2) // broker epoch 7
	st := cluster.PartitionState{Topic: "t", Partition: 0, Replicas: []int32{1, 2}, ISR: []int32{1, 2}, Leader: 1}
	before := &epochRecorder{}
	if err := m.BecomeFollower(newFakeLog(), st, before); err != nil {
		t.Fatal(err)
	}
	eventually(t, "a fetch at epoch 7", func() bool { e, ok := before.last(); return ok && e == 7 })
	m.Stop(st.TP()) // fenced: every partition stops, and with them the fetcher
	m.SetBrokerEpoch(9)
	after := &epochRecorder{}
	if err := m.BecomeFollower(newFakeLog(), st, after); err != nil {
		t.Fatal(err)
	}
	eventually(t, "a fetch at epoch 9", func() bool { e, ok := after.last(); return ok && e == 9 })
}
