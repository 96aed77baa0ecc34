package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
	"go.etcd.io/etcd/server/v3/etcdserver"
	"go.uber.org/zap"
)

// startAllWith starts every member at once, each with its config as
// change leaves it.
func (q *testQuorum) startAllWith(change func(i int, c *EmbedConfig)) {
	q.t.Helper()
	errs := make(chan error, len(q.members))
	for i := range q.members {
		c := q.config(i)
		change(i, &c)
		go func() {
			m, err := StartEmbedded(context.Background(), c)
			q.members[i] = m
			errs <- err
		}()
	}
	for range q.members {
		if err := <-errs; err != nil {
			q.t.Fatal(err)
		}
	}
}

// testClient is a client of every member of q.
func (q *testQuorum) testClient() *clientv3.Client {
	q.t.Helper()
	cli, err := clientv3.New(clientv3.Config{Endpoints: q.endpoints(), DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		q.t.Fatal(err)
	}
	q.t.Cleanup(func() { _ = cli.Close() })
	return cli
}

// churn writes rounds versions of n keys of size bytes each, deletes
// them and compacts every revision away: the members' files keep their
// size, with little of it in use.
func churn(t *testing.T, cli *clientv3.Client, n, size, rounds int) {
	t.Helper()
	ctx := context.Background()
	val := strings.Repeat("x", size)
	for r := range rounds {
		for k := range n {
			if _, err := cli.Put(ctx, fmt.Sprintf("/churn/%d", k), val[r:]); err != nil {
				t.Fatal(err)
			}
		}
	}
	resp, err := cli.Delete(ctx, "/churn/", clientv3.WithPrefix())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Compact(ctx, resp.Header.Revision, clientv3.WithCompactPhysical()); err != nil {
		t.Fatal(err)
	}
}

// TestEmbeddedDefragShrinksEachMemberOneAtATime: after churn and a
// compaction leave every member's file mostly free, each member
// defragments its own, one member at a time across the quorum, the raft
// leader only once it handed its leadership away (which the members count
// as a leader change).
func TestEmbeddedDefragShrinksEachMemberOneAtATime(t *testing.T) {
	q := newTestQuorum(t, 3)
	var active, most atomic.Int32
	var leaderDefragged atomic.Bool
	q.startAllWith(func(i int, c *EmbedConfig) {
		// The defragmenter's put-offs and defragmentations too.
		c.Logger = slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
		c.defrag = defragPolicy{
			check: 20 * time.Millisecond, minSize: 2 << 20, settle: 200 * time.Millisecond,
			minInterval: time.Hour, lockTTL: 5,
			defragment: func(s *etcdserver.EtcdServer) error {
				n := active.Add(1)
				defer active.Add(-1)
				for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
				}
				if s.Leader() == s.MemberID() {
					leaderDefragged.Store(true)
				}
				// A window wide enough for a second member to
				// start while this one runs, were they not
				// serialized.
				time.Sleep(100 * time.Millisecond)
				return s.Defragment()
			},
		}
	})
	before := make([]MemberStats, 3)
	for i, m := range q.members {
		before[i] = m.Stats()
		if before[i].Defrags != 0 {
			t.Fatalf("member %d defragmented a new file", i)
		}
	}
	churn(t, q.testClient(), 200, 16<<10, 4)
	grown := make([]int64, 3)
	deadline := time.Now().Add(2 * time.Minute)
	for i, m := range q.members {
		// Every member compacts at its own pace (the compaction is
		// applied by each).
		for st := m.Stats(); st.DBSize < 4<<20 && st.Defrags == 0; st = m.Stats() {
			if time.Now().After(deadline) {
				t.Fatalf("member %d's file stayed at %d bytes after the churn", i, st.DBSize)
			}
			time.Sleep(10 * time.Millisecond)
		}
		grown[i] = m.Stats().DBSize
	}
	for i, m := range q.members {
		for m.Stats().Defrags == 0 {
			if time.Now().After(deadline) {
				t.Fatalf("member %d did not defragment: %+v", i, m.Stats())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	for i, m := range q.members {
		st := m.Stats()
		t.Logf("member %d: %+v (file was %d before the churn, %d after)", i, st, before[i].DBSize, grown[i])
		if st.Defrags != 1 {
			t.Errorf("member %d defragmented %d times, want 1 (minInterval)", i, st.Defrags)
		}
		if st.DBSize >= 2<<20 {
			t.Errorf("member %d's file is still %d bytes after its defragmentation", i, st.DBSize)
		}
		if st.LeaderChanges < 2 {
			t.Errorf("member %d saw %d leaders: the first, and the one the leader handed over to before defragmenting", i, st.LeaderChanges)
		}
	}
	if n := most.Load(); n != 1 {
		t.Errorf("%d members defragmented at once, want 1", n)
	}
	if leaderDefragged.Load() {
		t.Error("the raft leader defragmented without handing its leadership away")
	}
}

// TestEmbeddedDefragPutOffByLockOrDownVoter: a member whose file is due
// does not defragment while another member holds the quorum's lock, nor
// while another voter does not answer.
func TestEmbeddedDefragPutOffByLockOrDownVoter(t *testing.T) {
	q := newTestQuorum(t, 3)
	q.startAllWith(func(i int, c *EmbedConfig) { c.defrag = defragPolicy{off: true} })
	// Due whatever the file: any size, any share in use.
	p := defragPolicy{minSize: 1, maxInUse: 2, settle: time.Millisecond, lockTTL: 5}.withDefaults()
	follower := -1
	for i, m := range q.members {
		if m.etcd.Server.Leader() != m.etcd.Server.MemberID() {
			follower = i
		}
	}
	m := q.members[follower]
	cli, err := m.quorumClient()
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	log := testLogger(t)
	ctx := context.Background()

	other := q.testClient()
	sess, err := concurrency.NewSession(other, concurrency.WithTTL(5))
	if err != nil {
		t.Fatal(err)
	}
	mu := concurrency.NewMutex(sess, defragLockKey)
	if err := mu.Lock(ctx); err != nil {
		t.Fatal(err)
	}
	if err := m.defragOnce(ctx, cli, p, log); !errors.Is(err, errDefragSkipped) || !strings.Contains(err.Error(), "lock") {
		t.Fatalf("defragOnce with the lock held elsewhere: %v, want it put off", err)
	}
	if err := sess.Close(); err != nil {
		t.Fatal(err)
	}

	down := (follower + 1) % 3
	q.members[down].stopping.Store(true)
	q.members[down].etcd.Server.HardStop()
	q.stop(down)
	if err := m.defragOnce(ctx, cli, p, log); !errors.Is(err, errDefragSkipped) || !strings.Contains(err.Error(), "does not answer") {
		t.Fatalf("defragOnce with voter %d down: %v, want it put off", down+1, err)
	}
	if n := m.Stats().Defrags; n != 0 {
		t.Fatalf("member defragmented %d times, want 0", n)
	}
}
