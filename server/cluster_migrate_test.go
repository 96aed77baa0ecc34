package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/tributary-io/tributary/auth"
	"github.com/tributary-io/tributary/cluster"
	"github.com/tributary-io/tributary/consumergroup"
	tlog "github.com/tributary-io/tributary/log"
)

// migrateSingleBroker is a single broker on 127.0.0.2 over dir: ANONYMOUS
// is a super user of its authorizer, so that the test's plaintext clients
// may do anything while the data dir still gets an ACL file.
type migrateSingleBroker struct {
	mgr  *tlog.Manager
	srv  *Server
	addr string
}

func startMigrateSingleBroker(t *testing.T, dir string) *migrateSingleBroker {
	t.Helper()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	mgr, err := tlog.OpenManager(dir, tlog.Options{Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	migrateAuthz(&cfg)
	srv, err := New(mgr, cfg, logger)
	if err != nil {
		mgr.Close()
		t.Fatal(err)
	}
	addr, err := srv.ListenOn(Listener{Name: DefaultListenerName, Protocol: auth.Plaintext, Addr: "127.0.0.2:0"})
	if err != nil {
		srv.Close()
		mgr.Close()
		t.Fatal(err)
	}
	return &migrateSingleBroker{mgr: mgr, srv: srv, addr: addr.String()}
}

func (b *migrateSingleBroker) stop(t *testing.T) {
	if err := b.srv.Close(); err != nil {
		t.Errorf("single broker close: %v", err)
	}
	if err := b.mgr.Close(); err != nil {
		t.Errorf("single broker manager close: %v", err)
	}
}

func migrateAuthz(cfg *Config) {
	cfg.Authorizer = auth.StandardAuthorizerClass
	cfg.SuperUsers = []string{"User:ANONYMOUS"}
}

// startMigratedCluster starts three voters at once, node 1 on dir1 and
// listening at addr1 (the single broker's address, so that its clients
// carry on), nodes 2 and 3 on empty data dirs.
func startMigratedCluster(t *testing.T, dir1, addr1 string) *testCluster {
	t.Helper()
	return startTestClusterPrepared(t, func(_ *clusterTestNode, cfg *Config) { migrateAuthz(cfg) }, func(n *clusterTestNode) {
		if n.id == 1 {
			n.dir = dir1
			n.listener = &Listener{Name: DefaultListenerName, Protocol: auth.Plaintext, Addr: addr1}
		}
	})
}

type producedAt struct {
	partition int32
	offset    int64
}

// produceNumbered produces n records to topic round-robin over its
// partitions through cl (whose partitioner must be kgo's manual one), synchronously, and records where each landed.
func produceNumbered(ctx context.Context, t *testing.T, cl *kgo.Client, topic, prefix string, n int, into map[producedAt]string) (producerID int64) {
	t.Helper()
	for i := range n {
		v := fmt.Sprintf("%s-%d", prefix, i)
		r := &kgo.Record{Topic: topic, Partition: int32(i % 3), Value: []byte(v)}
		if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatalf("produce %s to %s: %v", v, topic, err)
		}
		into[producedAt{r.Partition, r.Offset}] = v
		producerID = r.ProducerID
	}
	return producerID
}

// readAll reads every record of topic's partitions from offset 0 through
// a client seeded at addr until it holds want records.
func readAll(ctx context.Context, t *testing.T, addr, topic string, want int) map[producedAt]*kgo.Record {
	t.Helper()
	cl := mustClient(t, addr, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {
		0: kgo.NewOffset().At(0), 1: kgo.NewOffset().At(0), 2: kgo.NewOffset().At(0),
	}}), kgo.FetchMaxWait(200*time.Millisecond))
	got := map[producedAt]*kgo.Record{}
	for len(got) < want {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("read %d of %d records of %s: %v", len(got), want, topic, ctx.Err())
		}
		fs.EachError(func(_ string, _ int32, err error) { t.Logf("fetch %s: %v", topic, err) })
		fs.EachRecord(func(r *kgo.Record) {
			k := producedAt{r.Partition, r.Offset}
			if _, dup := got[k]; dup {
				t.Errorf("%s-%d offset %d read twice", topic, r.Partition, r.Offset)
			}
			got[k] = r
		})
	}
	return got
}

// TestClusterMigrationKeepsASingleBrokersDataAcrossNodesAndAFailover: a
// single broker's data dir, with two topics (one with a config
// override), records from an idempotent producer, a consumer group's
// committed offsets, a SCRAM user and an ACL, is prepared offline, then
// started as node 1 of a new three-node cluster. Its topics keep their
// topic IDs, configs and partition counts, led by node 1 at a leader
// epoch above the single broker's; the group's commits, the user and the
// ACL are the cluster's; the idempotent producer carries on across the
// restart with its producer ID, and a new producer gets an ID the single
// broker never handed out (else its first batches would be taken for the
// old producer's retries). After the replication factor is raised to 3
// with a reassignment and node 1 is stopped abruptly, every record is
// read at its offset from the new leaders and the group's commits are
// there. The migrated data dir refuses a second migration and a start as
// a single broker.
func TestClusterMigrationKeepsASingleBrokersDataAcrossNodesAndAFailover(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a three-node cluster")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	dir1 := t.TempDir()
	began := time.Now()
	step := func(what string) { t.Logf("%6.1fs %s", time.Since(began).Seconds(), what) }

	// The single broker's life.
	single := startMigrateSingleBroker(t, dir1)
	adm := kadm.NewClient(mustClient(t, single.addr))
	if _, err := adm.CreateTopic(ctx, 3, 1, nil, "events"); err != nil {
		t.Fatal(err)
	}
	retention := "86400000"
	if _, err := adm.CreateTopic(ctx, 3, 1, map[string]*string{"retention.ms": &retention}, "audit"); err != nil {
		t.Fatal(err)
	}
	topicIDs := map[string][16]byte{}
	for _, name := range []string{"events", "audit"} {
		lt, _ := single.mgr.Topic(name)
		topicIDs[name] = lt.ID
	}
	addUser(t, single.srv, "alice", "alice-secret")
	acl := allowAlice(auth.ResourceTopic, "events", auth.OpRead)
	if errs := single.srv.authz.Create([]auth.Binding{acl}); errs[0] != nil {
		t.Fatal(errs[0])
	}
	// One idempotent producer, kept across the migration: its address is
	// node 1's later.
	producer := mustClient(t, single.addr, kgo.RequiredAcks(kgo.AllISRAcks()), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	produced := map[producedAt]string{}
	oldPID := produceNumbered(ctx, t, producer, "events", "before", 30, produced)
	produceNumbered(ctx, t, producer, "audit", "audit", 6, map[producedAt]string{})
	// A group consumes and commits part of events.
	const group = "migrating-group"
	committed := kadm.Offsets{}
	for p := range int32(3) {
		committed.Add(kadm.Offset{Topic: "events", Partition: p, At: int64(4 + p), LeaderEpoch: -1})
	}
	if _, err := adm.CommitOffsets(ctx, group, committed); err != nil {
		t.Fatal(err)
	}
	epochsBefore := map[int32]int32{}
	for p := range int32(3) {
		l, _ := single.mgr.Partition("events", p)
		epochsBefore[p] = l.LeaderEpoch()
	}
	single.stop(t)
	step("single broker done")

	// The offline step, as `tributary cluster migrate` runs it.
	mgr, err := tlog.OpenManager(dir1, tlog.Options{})
	if err != nil {
		t.Fatal(err)
	}
	plan, err := PrepareClusterMigration(mgr, 1)
	if err != nil {
		mgr.Close()
		t.Fatal(err)
	}
	if _, err := PrepareClusterMigration(mgr, 1); !errors.Is(err, ErrClusterDataDir) {
		t.Errorf("a second preparation: %v, want ErrClusterDataDir", err)
	}
	if err := mgr.Close(); err != nil {
		t.Fatal(err)
	}
	if len(plan.Topics) != 3 || plan.Topics[0].Name != consumergroup.OffsetsTopic || plan.Topics[2].Name != "events" || plan.Topics[2].LogEnd != 30 || plan.ProducerIDsEnd <= oldPID {
		t.Fatalf("plan %+v (old producer id %d)", plan, oldPID)
	}

	tc := startMigratedCluster(t, dir1, single.addr)
	step("cluster started")
	n1, n2 := tc.node(1), tc.node(2)
	snap := n1.srv.node.store.Snapshot()
	for name, id := range topicIDs {
		ct, ok := snap.Topics[name]
		if !ok || ct.ID != id || ct.Partitions != 3 {
			t.Fatalf("topic %s in the cluster: %+v (present %v), want id %x and 3 partitions", name, ct, ok, id)
		}
	}
	if snap.Topics["audit"].Configs["retention.ms"] != retention {
		t.Errorf("audit's configs in the cluster: %v", snap.Topics["audit"].Configs)
	}
	for p := range int32(3) {
		st, _ := snap.Partition("events", p)
		if st.Leader != 1 || !sameSet(st.Replicas, []int32{1}) || !sameSet(st.ISR, []int32{1}) || st.LeaderEpoch <= epochsBefore[p] {
			t.Errorf("events-%d in the cluster: %+v, want led by 1 alone above epoch %d", p, st, epochsBefore[p])
		}
	}
	if _, ok := snap.Topics[consumergroup.OffsetsTopic]; !ok {
		t.Error("the offsets topic is not in the cluster")
	}
	if _, ok := snap.Credential("alice", auth.ScramSHA256.String()); !ok {
		t.Error("the single broker's SCRAM user is not in the cluster")
	}
	if _, ok := snap.ACLs[toClusterACL(acl).ID()]; !ok {
		t.Errorf("the single broker's ACL is not in the cluster: %v", snap.ACLs)
	}
	if m, err := readMigrateMarker(dir1); err != nil || m != nil {
		t.Errorf("marker after the migration: %+v, %v", m, err)
	}

	// The idempotent producer carries on, under its producer ID.
	if pid := produceNumbered(ctx, t, producer, "events", "after", 30, produced); pid != oldPID {
		t.Errorf("the producer's id moved from %d to %d", oldPID, pid)
	}
	// A new producer's ID is none the single broker gave out.
	fresh := mustClient(t, n2.addr, kgo.RequiredAcks(kgo.AllISRAcks()), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if pid := produceNumbered(ctx, t, fresh, "events", "fresh", 9, produced); pid < plan.ProducerIDsEnd {
		t.Errorf("a new producer got id %d, below %d, which the single broker may have handed out", pid, plan.ProducerIDsEnd)
	}

	// The group's commits are the cluster's.
	step("produced after")
	fetched, err := kadm.NewClient(mustClient(t, n2.addr)).FetchOffsets(ctx, group)
	if err != nil {
		t.Fatal(err)
	}
	for p := range int32(3) {
		if o, ok := fetched.Lookup("events", p); !ok || o.At != int64(4+p) {
			t.Errorf("group commit of events-%d after the migration: %+v, want %d", p, o, 4+p)
		}
	}

	// Replication factor 3 for every partition, the offsets topic's too.
	var req kadm.AlterPartitionAssignmentsReq
	for _, name := range []string{"events", "audit", consumergroup.OffsetsTopic} {
		for p := range snap.Topics[name].Partitions {
			req.Assign(name, p, []int32{1, 2, 3})
		}
	}
	res, err := kadm.NewClient(mustClient(t, n1.addr)).AlterPartitionAssignments(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if err := res.Error(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		s := n2.srv.node.store.Snapshot()
		done := true
		for _, st := range s.Partitions.All() {
			if st.Reassigning() || len(st.ISR) != 3 {
				done = false
				break
			}
		}
		if done {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("replication factor 3 not reached within 60 s")
		}
		time.Sleep(100 * time.Millisecond)
	}

	// Node 1, the only holder of the data until now, dies.
	step("RF 3 reached")
	n1.stop(true)
	tc.waitFor(n2, "every partition led by node 2 or 3", func(m *kmsg.MetadataResponse) bool {
		for _, mt := range m.Topics {
			for _, p := range mt.Partitions {
				if p.Leader != 2 && p.Leader != 3 {
					return false
				}
			}
		}
		return len(m.Topics) >= 3
	})
	got := readAll(ctx, t, n2.addr, "events", len(produced))
	step("failed over")
	for at, v := range produced {
		if r, ok := got[at]; !ok || string(r.Value) != v {
			t.Errorf("events-%d offset %d: want %q, read %v", at.partition, at.offset, v, r)
		}
	}
	if len(got) != len(produced) {
		t.Errorf("read %d records, produced %d", len(got), len(produced))
	}
	fetched, err = kadm.NewClient(mustClient(t, n2.addr)).FetchOffsets(ctx, group)
	if err != nil {
		t.Fatal(err)
	}
	for p := range int32(3) {
		if o, ok := fetched.Lookup("events", p); !ok || o.At != int64(4+p) {
			t.Errorf("group commit of events-%d after node 1 died: %+v, want %d", p, o, 4+p)
		}
	}
	// The group resumes from its commits.
	step("read all")
	consumer := mustClient(t, n2.addr, kgo.ConsumerGroup(group), kgo.ConsumeTopics("events"), kgo.FetchMaxWait(200*time.Millisecond))
	first := map[int32]int64{}
	for len(first) < 3 {
		fs := consumer.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("the group resumed on %d partitions (%v): %v", len(first), first, ctx.Err())
		}
		fs.EachError(func(_ string, p int32, err error) { t.Logf("group fetch events-%d: %v", p, err) })
		fs.EachRecord(func(r *kgo.Record) {
			if _, seen := first[r.Partition]; !seen {
				first[r.Partition] = r.Offset
			}
		})
	}
	for p, off := range first {
		if off != int64(4+p) {
			t.Errorf("the group resumed events-%d at %d, want its commit %d", p, off, 4+p)
		}
	}

	// The migrated data dir is a cluster member's for good.
	step("group resumed")
	mgr, err = tlog.OpenManager(dir1, tlog.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer mgr.Close()
	if _, err := PrepareClusterMigration(mgr, 1); !errors.Is(err, ErrClusterDataDir) {
		t.Errorf("a migration of the migrated data dir: %v, want ErrClusterDataDir", err)
	}
	if _, err := New(mgr, DefaultConfig(), nil); !errors.Is(err, ErrClusterDataDir) {
		t.Errorf("a single broker on the migrated data dir: %v, want ErrClusterDataDir", err)
	}
}

// TestClusterMigrationResumesAndRefusesTakenNames: a prepared data dir
// joining a cluster whose metadata holds one of its topic names under
// another topic ID fails to start, with the name, and keeps its topics
// and its marker; once that name is free, the next start carries on and
// registers what is missing, leaving a topic an earlier start registered
// under the same ID as it is (its leadership taken up again at a new
// epoch), and the marker goes.
func TestClusterMigrationResumesAndRefusesTakenNames(t *testing.T) {
	dir := t.TempDir()
	mgr, err := tlog.OpenManager(dir, tlog.Options{})
	if err != nil {
		t.Fatal(err)
	}
	a, err := mgr.CreateTopic("a", 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := mgr.CreateTopic("b", 2, map[string]string{"retention.ms": "60000"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := PrepareClusterMigration(mgr, 1); err != nil {
		t.Fatal(err)
	}
	if err := mgr.Close(); err != nil {
		t.Fatal(err)
	}

	eps := startTestEtcd(t)
	ctx := testContext(t)
	cli, err := clientv3.New(clientv3.Config{Endpoints: eps, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	if _, err := cli.Put(ctx, cluster.DefaultKeyRoot+"/"+clusterIDKey, "migrate-test"); err != nil {
		t.Fatal(err)
	}
	st, err := cluster.OpenEtcdStore(ctx, cluster.EtcdStoreConfig{ClusterID: "migrate-test", Client: cli})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	one := func(name string, id [16]byte, epoch int32) (cluster.Topic, []cluster.PartitionState) {
		return cluster.Topic{Name: name, ID: id, Partitions: 1},
			[]cluster.PartitionState{{Topic: name, Partition: 0, Replicas: []int32{1}, ISR: []int32{1}, Leader: 1, LeaderEpoch: epoch}}
	}
	other := [16]byte{0xee}
	if err := st.CreateTopic(ctx, cluster.Topic{Name: "b", ID: other, Partitions: 1}, []cluster.PartitionState{{Topic: "b", Replicas: []int32{1}, ISR: []int32{1}, Leader: 1}}); err != nil {
		t.Fatal(err)
	}

	u, _ := url.Parse(eps[0])
	tc := &testCluster{t: t}
	n := &clusterTestNode{t: t, id: 1, host: "127.0.0.1", dir: dir, store: "etcd://" + u.Host}
	err = tc.start(n)
	if err == nil || !strings.Contains(err.Error(), "already has topics of these names") || !strings.Contains(err.Error(), ": b;") {
		if err == nil {
			n.stop(false)
		}
		t.Fatalf("start with b taken: %v", err)
	}
	if m, err := readMigrateMarker(dir); err != nil || m == nil {
		t.Fatalf("marker after the refused start: %+v, %v", m, err)
	}

	// b is free again, and a was registered by an earlier start.
	if err := st.DeleteTopic(ctx, "b"); err != nil {
		t.Fatal(err)
	}
	ta, pa := one("a", a.ID, 7)
	if err := st.CreateTopic(ctx, ta, pa); err != nil {
		t.Fatal(err)
	}
	if err := tc.start(n); err != nil {
		t.Fatal(err)
	}
	defer n.stop(false)
	if m, err := readMigrateMarker(dir); err != nil || m != nil {
		t.Errorf("marker after the migration: %+v, %v", m, err)
	}
	snap := n.srv.node.store.Snapshot()
	if tb := snap.Topics["b"]; tb.ID != b.ID || tb.Partitions != 2 || tb.Configs["retention.ms"] != "60000" {
		t.Errorf("b in the cluster: %+v, want the local id %s, 2 partitions, its retention", tb, b.ID)
	}
	tc.waitFor(n, "a-0 led by node 1 again at a new epoch", func(m *kmsg.MetadataResponse) bool {
		ma, ok := topicOf(m, "a")
		return ok && len(ma.Partitions) == 1 && ma.Partitions[0].Leader == 1 && ma.Partitions[0].LeaderEpoch > 7
	})
}
