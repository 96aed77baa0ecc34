package server

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/tributary-io/tributary/cluster"
)

// fastFenceSessionTimeout is a lease far longer than any wait of these
// tests: a leader replaced within them was fenced ahead of its lease.
const fastFenceSessionTimeout = 60 * time.Second

// startFastFenceCluster starts a test cluster whose brokers hold leases
// of fastFenceSessionTimeout, with fast fencing on or off.
func startFastFenceCluster(t *testing.T, fast bool) *testCluster {
	t.Helper()
	tc := startTestClusterWith(t, func(_ *clusterTestNode, cfg *Config) {
		cfg.Cluster.Config.SessionTimeout = fastFenceSessionTimeout
		cfg.Cluster.Config.FastFencing = fast
	})
	// Runs before the cluster's own cleanup: the last node's
	// deregistration, without a quorum, would wait out the long lease;
	// the test is over, so leave the leases to etcd.
	t.Cleanup(func() {
		for _, n := range tc.nodes {
			if n.srv != nil {
				n.srv.node.crash.Store(true)
			}
		}
	})
	return tc
}

// fastFenceKill is a broker of a fast-fence test stopped as a killed
// process stops.
type fastFenceKill struct {
	t         *testing.T
	killed    *clusterTestNode
	survivors []*clusterTestNode
	start     time.Time     // when the stop began
	stopped   chan struct{} // closed once the stop has ended
}

// killForFastFence stops killed with no controlled shutdown and its lease
// left to lapse, in the background: the stop runs while the survivors are
// asked (its listeners close first, then it waits for its connections to
// end). The test waits for it to end before the cluster is stopped.
func killForFastFence(t *testing.T, tc *testCluster, killed *clusterTestNode) *fastFenceKill {
	t.Helper()
	k := &fastFenceKill{t: t, killed: killed, stopped: make(chan struct{})}
	for _, n := range tc.nodes {
		if n != killed {
			k.survivors = append(k.survivors, n)
		}
	}
	killed.srv.node.crash.Store(true)
	k.start = time.Now()
	go func() {
		defer close(k.stopped)
		killed.stop(true)
	}()
	t.Cleanup(func() { <-k.stopped }) // before the cluster's cleanup, registered earlier
	return k
}

// outlivesItsDeath pins what a cluster without fast fencing does once the
// killed broker has stopped: 3 s later a survivor's metadata still shows
// the dead broker as role (kept reports it), its lease not lapsed. The
// dead broker's registration is then ended, as the fencer would end it,
// so that the survivors take over and the cluster stops cleanly.
func (k *fastFenceKill) outlivesItsDeath(ctx context.Context, role string, kept func(*kmsg.MetadataResponse) bool) {
	t := k.t
	t.Helper()
	<-k.stopped
	time.Sleep(3 * time.Second)
	mctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	m, err := k.survivors[0].metadata(mctx)
	cancel()
	if err != nil {
		t.Fatal(err)
	}
	if !kept(m) {
		t.Fatalf("without fast fencing the dead %s %d was replaced before its lease lapsed: %s", role, k.killed.id, describeMetadata(m))
	}
	node := k.survivors[0].srv.node
	if ended, err := node.store.EndRegistration(ctx, k.killed.id, node.snapshot().Brokers[k.killed.id].Epoch); err != nil || !ended {
		t.Fatalf("end the dead %s's registration: %v, %v", role, ended, err)
	}
}

// eachFencing runs test as two subtests: with fast fencing, and with the
// lease only.
func eachFencing(t *testing.T, test func(t *testing.T, fast bool)) {
	for _, c := range []struct {
		name string
		fast bool
	}{{"fast fencing", true}, {"lease only", false}} {
		t.Run(c.name, func(t *testing.T) { test(t, c.fast) })
	}
}

// TestKilledLeaderIsReplacedAheadOfItsLease: the leader's broker dies
// (listeners and etcd member closed, no controlled shutdown, its lease
// left to lapse as a killed process leaves it): with fast fencing a
// survivor's Metadata names another ISR member as leader, the dead broker
// out of the ISR, long before the lease could lapse, and one survivor
// counts the fencing; without it the dead broker stays leader.
func TestKilledLeaderIsReplacedAheadOfItsLease(t *testing.T) {
	eachFencing(t, func(t *testing.T, fast bool) {
		tc := startFastFenceCluster(t, fast)
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		adm := kadm.NewClient(mustClient(t, tc.node(1).addr))
		if _, err := adm.CreateTopic(ctx, 1, 3, nil, "ff"); err != nil {
			t.Fatal(err)
		}
		m := tc.waitFor(tc.node(1), "ff led with a whole ISR", func(m *kmsg.MetadataResponse) bool {
			tp, ok := topicOf(m, "ff")
			return ok && len(tp.Partitions) == 1 && tp.Partitions[0].Leader >= 1 && len(tp.Partitions[0].ISR) == 3
		})
		tp, _ := topicOf(m, "ff")
		before := tp.Partitions[0]
		k := killForFastFence(t, tc, tc.node(before.Leader))
		killed, survivors, start := k.killed, k.survivors, k.start
		if !fast {
			k.outlivesItsDeath(ctx, "leader", func(m *kmsg.MetadataResponse) bool {
				tp, _ := topicOf(m, "ff")
				return tp.Partitions[0].Leader == killed.id
			})
		}
		for _, n := range survivors {
			m := tc.waitFor(n, "ff led by another ISR member", func(m *kmsg.MetadataResponse) bool {
				tp, ok := topicOf(m, "ff")
				if !ok {
					return false
				}
				p := tp.Partitions[0]
				return p.Leader >= 1 && p.Leader != killed.id && p.LeaderEpoch > before.LeaderEpoch &&
					slices.Contains(before.ISR, p.Leader) && !slices.Contains(p.ISR, killed.id)
			})
			tp, _ := topicOf(m, "ff")
			p := tp.Partitions[0]
			t.Logf("node %d: leader %d epoch %d ISR %v offline %v, %v after node %d (leader at epoch %d) began to stop",
				n.id, p.Leader, p.LeaderEpoch, p.ISR, p.OfflineReplicas, time.Since(start), killed.id, before.LeaderEpoch)
			if len(p.ISR) != 2 || !slices.Contains(p.OfflineReplicas, killed.id) {
				t.Errorf("node %d: ISR %v offline %v, want the two survivors in sync and %d offline", n.id, p.ISR, p.OfflineReplicas, killed.id)
			}
		}
		var want float64
		if fast {
			want = 1
		}
		deadline := time.Now().Add(10 * time.Second)
		for {
			var fences float64
			for _, n := range survivors {
				fences += gatheredCluster(t, n.srv.Registry())[cluster.MetricFastFences]
			}
			if fences == want {
				break
			}
			if fences > want || time.Now().After(deadline) {
				t.Fatalf("%s summed over the survivors = %v, want %v", cluster.MetricFastFences, fences, want)
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
}

// TestKilledControllerIsReplacedAheadOfItsLease: the active controller's
// broker dies (no controlled shutdown, no resignation: its term and its
// registration ride one lease, left to lapse as a killed process leaves
// it). With fast fencing another broker is the controller, has moved
// every partition the dead one led to a survivor at a new leader epoch
// with the dead broker out of the ISR, and takes an acks=all produce to
// each, long before the lease could lapse. Without it, the dead broker is
// still the controller and still leads them seconds later; once its
// registration is ended (as the fencer ends it) the successor does the
// same.
func TestKilledControllerIsReplacedAheadOfItsLease(t *testing.T) {
	eachFencing(t, func(t *testing.T, fast bool) {
		tc := startFastFenceCluster(t, fast)
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		const topic, partitions = "fc", 6
		adm := kadm.NewClient(mustClient(t, tc.node(1).addr))
		if _, err := adm.CreateTopic(ctx, partitions, 3, nil, topic); err != nil {
			t.Fatal(err)
		}
		m := tc.waitFor(tc.node(1), "fc led with whole ISRs", func(m *kmsg.MetadataResponse) bool {
			tp, ok := topicOf(m, topic)
			if !ok || len(tp.Partitions) != partitions || m.ControllerID < 1 {
				return false
			}
			for _, p := range tp.Partitions {
				if p.Leader < 1 || len(p.ISR) != 3 {
					return false
				}
			}
			return true
		})
		ctl := m.ControllerID
		tp, _ := topicOf(m, topic)
		led := map[int32]int32{} // partition -> leader epoch, of those the controller leads
		for _, p := range tp.Partitions {
			if p.Leader == ctl {
				led[p.Partition] = p.LeaderEpoch
			}
		}
		if len(led) == 0 {
			t.Fatalf("controller %d leads no partition of %s: %s", ctl, topic, describeMetadata(m))
		}
		// replaced: a survivor is the controller and has moved every
		// partition the dead one led.
		replaced := func(m *kmsg.MetadataResponse) bool {
			tp, ok := topicOf(m, topic)
			if !ok || m.ControllerID < 1 || m.ControllerID == ctl {
				return false
			}
			for _, p := range tp.Partitions {
				if epoch, was := led[p.Partition]; was &&
					(p.Leader < 1 || p.Leader == ctl || p.LeaderEpoch <= epoch || slices.Contains(p.ISR, ctl)) {
					return false
				}
			}
			return true
		}

		k := killForFastFence(t, tc, tc.node(ctl))
		survivors, start := k.survivors, k.start
		if !fast {
			k.outlivesItsDeath(ctx, "controller", func(m *kmsg.MetadataResponse) bool {
				return m.ControllerID == ctl && !replaced(m)
			})
		}
		for _, n := range survivors {
			m := tc.waitFor(n, "another controller and every partition the dead one led moved", replaced)
			t.Logf("node %d: controller %d, %v after controller %d began to stop", n.id, m.ControllerID, time.Since(start), ctl)
		}
		prod := mustClient(t, survivors[0].addr, kgo.SeedBrokers(survivors[0].addr, survivors[1].addr),
			kgo.RequiredAcks(kgo.AllISRAcks()), kgo.RecordPartitioner(kgo.ManualPartitioner()))
		for p := range led {
			pctx, cancel := context.WithTimeout(ctx, 15*time.Second)
			err := prod.ProduceSync(pctx, &kgo.Record{Topic: topic, Partition: p, Value: []byte("after the controller died")}).FirstErr()
			cancel()
			if err != nil {
				t.Fatalf("acks=all produce to %s/%d after controller %d died: %v", topic, p, ctl, err)
			}
		}
	})
}
