package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tributary-io/tributary/cluster"
	"github.com/tributary-io/tributary/server"
)

// TestClusterRebalanceExecuteMovesReplicasToAJoinedBrokerUnderLoad: a
// topic of rf 3 on three brokers takes acks=all records from an
// idempotent producer the whole time; a fourth broker joins and cluster
// rebalance --execute moves to it the replicas the plan names while the
// producer runs, and ends with every replica count within one of the
// others and every partition's preferred replica leading; then cluster
// decommission 2 --execute leaves broker 2 without a replica. Every
// acknowledged record is read back once, in order, from the partitions'
// new leaders (and nothing else but, at the end, a record in flight when
// the producer stopped).
func TestClusterRebalanceExecuteMovesReplicasToAJoinedBrokerUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three etcd members")
	}
	c := startCLICluster(t)
	adm := c.admin()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	const partitions = 6
	if _, err := adm.CreateTopic(ctx, partitions, 3, nil, "events"); err != nil {
		t.Fatal(err)
	}

	// The producer: one record at a time per partition, so the acked
	// values of a partition are its order.
	pctx, stopProducing := context.WithCancel(ctx)
	var mu sync.Mutex
	acked := map[int32][]string{}
	inFlight := map[int32]string{}
	var produceErr error
	var wg sync.WaitGroup
	prod, err := kgo.NewClient(kgo.SeedBrokers(c.nodes[1].addr), kgo.DefaultProduceTopic("events"),
		kgo.RequiredAcks(kgo.AllISRAcks()), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	for p := range int32(partitions) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; pctx.Err() == nil; i++ {
				v := fmt.Sprintf("%d-%d", p, i)
				err := prod.ProduceSync(pctx, &kgo.Record{Partition: p, Value: []byte(v)}).FirstErr()
				mu.Lock()
				switch {
				case err == nil:
					acked[p] = append(acked[p], v)
				case errors.Is(err, context.Canceled):
					// Stopped with this one in flight: it may or may
					// not have been written.
					inFlight[p] = v
				default:
					produceErr = fmt.Errorf("partition %d record %d: %w", p, i, err)
				}
				mu.Unlock()
				if err != nil {
					return
				}
				time.Sleep(5 * time.Millisecond)
			}
		}()
	}
	count := func() int {
		mu.Lock()
		defer mu.Unlock()
		n := 0
		for _, vs := range acked {
			n += len(vs)
		}
		return n
	}
	waitMore := func(than int) {
		t.Helper()
		for deadline := time.Now().Add(30 * time.Second); count() < than+50; time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("the producer stalled at %d records", count())
			}
		}
	}
	waitMore(0)

	c.join(4)
	r := c.must(t, "cluster", "rebalance", "--execute", "--timeout", "2m", "--topic", "events")
	if !strings.Contains(r.stdout, "reassignment(s) done") || !strings.Contains(r.stdout, "submitted") {
		t.Errorf("rebalance --execute output:\n%s", r.stdout)
	}
	waitMore(count())
	a := c.assignmentOf(t)
	loads := cluster.Loads([]int32{1, 2, 3, 4}, a)
	for _, l := range loads {
		if l.Replicas < 4 || l.Replicas > 5 {
			t.Errorf("after the rebalance, broker %d holds %d replicas, want 4 or 5 (18 over 4): %v", l.Broker, l.Replicas, a)
		}
	}
	md, err := adm.Metadata(ctx, "events")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range md.Topics["events"].Partitions.Sorted() {
		if p.Leader != p.Replicas[0] {
			t.Errorf("events-%d: led by %d after the rebalance, its preferred replica is %d", p.Partition, p.Leader, p.Replicas[0])
		}
	}
	// Planned again, nothing moves.
	r = c.must(t, "cluster", "rebalance", "--topic", "events")
	if !strings.Contains(r.stdout, "nothing to move") {
		t.Errorf("a second plan proposes moves:\n%s", r.stdout)
	}

	r = c.must(t, "cluster", "decommission", "2", "--execute", "--timeout", "2m")
	if !strings.Contains(r.stdout, "broker 2 holds no replica: stop it now") {
		t.Errorf("decommission --execute output:\n%s", r.stdout)
	}
	waitMore(count())
	for tp, rs := range c.assignmentOf(t) {
		if slices.Contains(rs, 2) {
			t.Errorf("%v still has a replica on broker 2: %v", tp, rs)
		}
	}

	stopProducing()
	wg.Wait()
	if produceErr != nil {
		t.Fatalf("an acks=all produce failed while partitions moved: %v", produceErr)
	}
	cons, err := kgo.NewClient(kgo.SeedBrokers(c.nodes[1].addr), kgo.ConsumeTopics("events"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchIsolationLevel(kgo.ReadUncommitted()))
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	// Read each partition to its end.
	ends, err := adm.ListEndOffsets(ctx, "events")
	if err != nil {
		t.Fatal(err)
	}
	read := map[int32][]string{}
	next := map[int32]int64{}
	want := count()
	for done := false; !done; {
		fs := cons.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("read %v, want up to %v", next, ends)
		}
		fs.EachRecord(func(rec *kgo.Record) {
			read[rec.Partition] = append(read[rec.Partition], string(rec.Value))
			next[rec.Partition] = rec.Offset + 1
		})
		done = true
		ends.Each(func(o kadm.ListedOffset) {
			if next[o.Partition] < o.Offset {
				done = false
			}
		})
	}
	for p := range int32(partitions) {
		if v, ok := inFlight[p]; ok && len(read[p]) == len(acked[p])+1 && read[p][len(read[p])-1] == v {
			read[p] = read[p][:len(acked[p])]
		}
		if !slices.Equal(read[p], acked[p]) {
			t.Errorf("partition %d: read %d records, acknowledged %d; first difference at %s", p, len(read[p]), len(acked[p]), firstDiff(read[p], acked[p]))
		}
	}
	t.Logf("%d records acknowledged while replicas moved", want)
}

func firstDiff(a, b []string) string {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return strconv.Itoa(i) + ": " + a[i] + " / " + b[i]
		}
	}
	return strconv.Itoa(min(len(a), len(b)))
}

// TestClusterRebalanceRefusesToPlanWhileAPartitionIsBeingReassigned: a
// partition whose move is held back by a replication throttle (broker
// 4's follower.replication.throttled.rate) shows the
// union of its old and new replicas in Metadata; rebalance and
// decommission refuse to plan from that, naming it, and plan again once
// the move is cancelled.
func TestClusterRebalanceRefusesToPlanWhileAPartitionIsBeingReassigned(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three etcd members")
	}
	c := startCLICluster(t, func(id int32, cc *server.ClusterConfig) {
		if id == 4 {
			cc.FollowerReplicationThrottledRate = 32 << 10
			cc.ReplicaFetchMaxBytes = 16 << 10
		}
	})
	adm := c.admin()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// Created on brokers 1-3, before broker 4 joins: its copy of slow-0
	// is the one the throttle holds back.
	resp, err := adm.CreateTopic(ctx, 2, 3, map[string]*string{"follower.replication.throttled.replicas": kadm.StringPtr("0:4")}, "slow")
	if err != nil || resp.Err != nil {
		t.Fatalf("create: %v %v", err, resp.Err)
	}
	c.join(4)
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.nodes[1].addr), kgo.DefaultProduceTopic("slow"),
		kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerBatchCompression(kgo.NoCompression()),
		kgo.ProducerBatchMaxBytes(8<<10)) // batches below a fetch's size, so a fetch is what the throttle sees
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	// 1 MiB the throttle lets broker 4 copy at 32 KiB/s: half a minute.
	var rs []*kgo.Record
	for range 1024 {
		rs = append(rs, &kgo.Record{Partition: 0, Value: make([]byte, 1000)})
	}
	if err := cl.ProduceSync(ctx, rs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	var req kadm.AlterPartitionAssignmentsReq
	a := c.assignmentOf(t)
	target := append(slices.Clone(a[cluster.TopicPartition{Topic: "slow", Partition: 0}][:2]), 4)
	req.Assign("slow", 0, target)
	if res, err := adm.AlterPartitionAssignments(ctx, req); err != nil || res["slow"][0].Err != nil {
		t.Fatalf("reassign: %v %+v", err, res)
	}
	for _, args := range [][]string{{"cluster", "rebalance"}, {"cluster", "decommission", "1"}, {"cluster", "rebalance", "--execute"}} {
		r := c.run(t, args...)
		if r.code != 1 {
			t.Fatalf("tributary %s while slow-0 moves: exit %d\n%s%s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
		}
		checkOneLineError(t, r.stderr, "1 partition(s) are being reassigned (slow-0 first)")
	}
	var cancelReq kadm.AlterPartitionAssignmentsReq
	cancelReq.CancelAssign("slow", 0)
	if res, err := adm.AlterPartitionAssignments(ctx, cancelReq); err != nil || res["slow"][0].Err != nil {
		t.Fatalf("cancel: %v %+v", err, res)
	}
	c.must(t, "cluster", "rebalance")
}
