package server

// Clients other than franz-go on a three-node cluster (issue 14, item 6):
// each produces with acks=all and its ordinary retry settings into an RF=3
// topic with min.insync.replicas=2, the partition's leader is stopped
// abruptly in the middle, the same client keeps producing, and then reads
// the partition from the start: every acknowledged record is there exactly
// once, in order, at its acknowledged offset.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	kafka "github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

const (
	// clusterCompatRecords is how many records each client gets
	// acknowledged before and again after the leader is stopped.
	clusterCompatRecords = 100
	// clusterCompatAttempts bounds the produce calls of one test.
	clusterCompatAttempts = 4 * clusterCompatRecords
	// clusterCompatTimeout bounds producing and consuming, each.
	clusterCompatTimeout = 60 * time.Second
)

func clusterCompatValue(i int) string { return fmt.Sprintf("record-%05d", i) }

// clusterCompatSetup starts a three-node cluster and creates topic with one
// partition, RF=3 and min.insync.replicas=2, waits until every node shows
// all three replicas in sync, and returns the cluster, every node's
// address and the partition's leader.
func clusterCompatSetup(t *testing.T, topic string) (*testCluster, []string, int32) {
	t.Helper()
	if testing.Short() {
		t.Skip("starts a three-node cluster (three etcd members); skipped under -short")
	}
	tc := startTestCluster(t)
	ctx := testContext(t)
	adm := kadm.NewClient(mustClient(t, tc.node(1).addr))
	resp, err := adm.CreateTopic(ctx, 1, 3, map[string]*string{"min.insync.replicas": kadm.StringPtr("2")}, topic)
	if err != nil || resp.Err != nil {
		t.Fatalf("create %s: %v %v", topic, err, resp.Err)
	}
	var leader int32
	for _, n := range tc.nodes {
		m := tc.waitFor(n, topic+" with three replicas in sync", func(m *kmsg.MetadataResponse) bool {
			tp, ok := topicOf(m, topic)
			return ok && len(tp.Partitions) == 1 && tp.Partitions[0].Leader >= 1 && len(tp.Partitions[0].ISR) == 3
		})
		tp, _ := topicOf(m, topic)
		leader = tp.Partitions[0].Leader
	}
	var seeds []string
	for _, n := range tc.nodes {
		seeds = append(seeds, n.addr)
	}
	return tc, seeds, leader
}

// clusterCompatAck is one acknowledged record: its index and offset.
type clusterCompatAck struct {
	i      int
	offset int64
}

// produceAcrossFailover calls produce for records 0, 1, ... until
// clusterCompatRecords are acknowledged, stops the leader abruptly, and
// goes on until as many more are acknowledged: the same client throughout.
// Failed produces are left unacknowledged (the client gave up on them
// after its own retries). It returns the acknowledged records in order.
func produceAcrossFailover(t *testing.T, tc *testCluster, leader int32, produce func(i int) (int64, error)) []clusterCompatAck {
	t.Helper()
	var acks []clusterCompatAck
	var failed []error
	deadline := time.Now().Add(clusterCompatTimeout)
	killed := false
	afterKill := 0
	for i := 0; i < clusterCompatAttempts && time.Now().Before(deadline); i++ {
		if !killed && len(acks) == clusterCompatRecords {
			tc.node(leader).stop(true)
			killed = true
		}
		off, err := produce(i)
		if err != nil {
			failed = append(failed, fmt.Errorf("record %d: %w", i, err))
			continue
		}
		acks = append(acks, clusterCompatAck{i, off})
		if killed {
			afterKill++
			if afterKill == clusterCompatRecords {
				break
			}
		}
	}
	if !killed || afterKill < clusterCompatRecords {
		t.Fatalf("%d records acknowledged, %d after node %d was stopped (want %d each); failures: %v",
			len(acks), afterKill, leader, clusterCompatRecords, errors.Join(failed...))
	}
	if len(failed) > 0 {
		t.Logf("%d produces failed around the failover (not acknowledged): first %v", len(failed), failed[0])
	}
	return acks
}

// checkAcksConsumed fails unless every acknowledged record is in got (the
// partition read from its start, value by offset order) exactly once, at
// its acknowledged offset, in the order it was acknowledged.
func checkAcksConsumed(t *testing.T, acks []clusterCompatAck, offsets []int64, values []string) {
	t.Helper()
	t.Logf("%d records acknowledged, %d read back", len(acks), len(offsets))
	at := map[string][]int64{}
	for k, v := range values {
		at[v] = append(at[v], offsets[k])
	}
	for k := 1; k < len(offsets); k++ {
		if offsets[k] <= offsets[k-1] {
			t.Fatalf("offsets out of order: %d after %d", offsets[k], offsets[k-1])
		}
	}
	for _, a := range acks {
		v := clusterCompatValue(a.i)
		if got := at[v]; len(got) != 1 || got[0] != a.offset {
			t.Errorf("record %d (acknowledged at %d) read at offsets %v, want exactly once at %d", a.i, a.offset, got, a.offset)
		}
	}
}

// lastAckOffset is the offset a consumer must reach.
func lastAckOffset(acks []clusterCompatAck) int64 { return acks[len(acks)-1].offset }

// TestClusterCompatSaramaFollowsLeaderFailover: sarama's idempotent
// SyncProducer (acks=all, its default retries) rides through the abrupt
// stop of the partition's leader, and its PartitionConsumer reads every
// acknowledged record once, in order, from the new leader.
func TestClusterCompatSaramaFollowsLeaderFailover(t *testing.T) {
	const topic = "sarama-failover"
	tc, seeds, leader := clusterCompatSetup(t, topic)

	cfg := sarama.NewConfig()
	cfg.ClientID = "tributary-cluster-compat"
	cfg.Version = sarama.V3_6_0_0
	cfg.Producer.Return.Successes = true
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Producer.Partitioner = sarama.NewManualPartitioner
	cfg.Producer.Idempotent = true
	cfg.Net.MaxOpenRequests = 1 // the idempotent producer requires it
	cfg.Consumer.Return.Errors = true

	prod, err := sarama.NewSyncProducer(seeds, cfg)
	if err != nil {
		t.Fatalf("sync producer: %v", err)
	}
	defer prod.Close()
	acks := produceAcrossFailover(t, tc, leader, func(i int) (int64, error) {
		_, off, err := prod.SendMessage(&sarama.ProducerMessage{Topic: topic, Partition: 0, Value: sarama.StringEncoder(clusterCompatValue(i))})
		return off, err
	})

	cons, err := sarama.NewConsumer(seeds, cfg)
	if err != nil {
		t.Fatalf("consumer: %v", err)
	}
	defer cons.Close()
	pc, err := cons.ConsumePartition(topic, 0, sarama.OffsetOldest)
	if err != nil {
		t.Fatalf("consume partition: %v", err)
	}
	defer pc.Close()
	var offsets []int64
	var values []string
	timeout := time.After(clusterCompatTimeout)
	for len(offsets) == 0 || offsets[len(offsets)-1] < lastAckOffset(acks) {
		select {
		case m := <-pc.Messages():
			offsets = append(offsets, m.Offset)
			values = append(values, string(m.Value))
		case err := <-pc.Errors():
			t.Fatalf("consume after %d messages: %v", len(offsets), err)
		case <-timeout:
			t.Fatalf("consumed %d messages, up to offset %v, before the timeout; want up to %d", len(offsets), offsets[max(len(offsets)-1, 0):], lastAckOffset(acks))
		}
	}
	checkAcksConsumed(t, acks, offsets, values)
}

// TestClusterCompatKafkaGoFollowsLeaderFailover: kafka-go's Writer
// (RequireAll, its default MaxAttempts) rides through the abrupt stop of
// the partition's leader, and its Reader reads every acknowledged record
// once, in order, from the new leader.
func TestClusterCompatKafkaGoFollowsLeaderFailover(t *testing.T) {
	const topic = "kafka-go-failover"
	tc, seeds, leader := clusterCompatSetup(t, topic)
	ctx, cancel := context.WithTimeout(context.Background(), 2*clusterCompatTimeout)
	defer cancel()

	transport := &kafka.Transport{}
	defer transport.CloseIdleConnections()
	// The Writer hands acknowledged messages, with their offsets, to
	// Completion before WriteMessages returns.
	var acked []kafka.Message
	w := &kafka.Writer{
		Addr:         kafka.TCP(seeds...),
		Topic:        topic,
		Balancer:     kafka.BalancerFunc(func(kafka.Message, ...int) int { return 0 }),
		RequiredAcks: kafka.RequireAll,
		BatchSize:    1,
		BatchTimeout: time.Millisecond,
		Transport:    transport,
		Completion: func(msgs []kafka.Message, err error) {
			if err == nil {
				acked = append(acked, msgs...)
			}
		},
	}
	defer w.Close()
	acks := produceAcrossFailover(t, tc, leader, func(i int) (int64, error) {
		acked = acked[:0]
		if err := w.WriteMessages(ctx, kafka.Message{Value: []byte(clusterCompatValue(i))}); err != nil {
			return 0, err
		}
		if len(acked) != 1 || string(acked[0].Value) != clusterCompatValue(i) {
			return 0, fmt.Errorf("completion saw %d messages", len(acked))
		}
		return acked[0].Offset, nil
	})

	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers:   seeds,
		Topic:     topic,
		Partition: 0,
		MinBytes:  1,
		MaxBytes:  10 << 20,
		MaxWait:   100 * time.Millisecond,
	})
	defer r.Close()
	if err := r.SetOffset(kafka.FirstOffset); err != nil {
		t.Fatalf("set offset: %v", err)
	}
	var offsets []int64
	var values []string
	for len(offsets) == 0 || offsets[len(offsets)-1] < lastAckOffset(acks) {
		if len(offsets) > 2*clusterCompatAttempts {
			t.Fatalf("read %d messages without reaching offset %d", len(offsets), lastAckOffset(acks))
		}
		m, err := r.ReadMessage(ctx)
		if err != nil {
			t.Fatalf("read after %d messages: %v", len(offsets), err)
		}
		offsets = append(offsets, m.Offset)
		values = append(values, string(m.Value))
	}
	checkAcksConsumed(t, acks, offsets, values)
}

// TestClusterCompatKcatFollowsLeaderFailover: one kcat (librdkafka)
// producer, idempotent with acks=all and librdkafka's default retries and
// timeouts, is fed half its records, the partition's leader is stopped
// abruptly once they are in, and the same process is fed the rest; it
// delivers all of them, and kcat reads every one once, in order.
func TestClusterCompatKcatFollowsLeaderFailover(t *testing.T) {
	kcat := kcatPath(t)
	const topic = "kcat-failover"
	tc, seeds, leader := clusterCompatSetup(t, topic)
	brokers := strings.Join(seeds, ",")
	ctx, cancel := context.WithTimeout(context.Background(), clusterCompatTimeout)
	defer cancel()

	cmd := exec.CommandContext(ctx, kcat, "-P", "-b", brokers, "-t", topic, "-p", "0",
		"-X", "acks=all", "-X", "enable.idempotence=true")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	cmd.WaitDelay = time.Second
	if err := cmd.Start(); err != nil {
		t.Fatalf("start kcat: %v", err)
	}
	write := func(from, to int) {
		for i := from; i < to; i++ {
			if _, err := fmt.Fprintln(stdin, clusterCompatValue(i)); err != nil {
				t.Fatalf("write record %d to kcat: %v (stderr %s)", i, err, stderr.String())
			}
		}
	}
	write(0, clusterCompatRecords)
	// Stop the leader once half of those are in (kcat reports no
	// per-record acknowledgement, the end offset does; kcat reads its
	// input in blocks, so the tail of what was written may wait for more).
	adm := kadm.NewClient(mustClient(t, seeds[0], kgo.SeedBrokers(seeds...)))
	for {
		ends, err := adm.ListEndOffsets(ctx, topic)
		if err == nil {
			if o, ok := ends.Lookup(topic, 0); ok && o.Err == nil && o.Offset >= clusterCompatRecords/2 {
				break
			}
		}
		if ctx.Err() != nil {
			t.Fatalf("first %d records not in before the timeout: %v (kcat stderr %s)", clusterCompatRecords/2, err, stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	tc.node(leader).stop(true)
	write(clusterCompatRecords, 2*clusterCompatRecords)
	stdin.Close()
	if err := cmd.Wait(); err != nil || strings.Contains(stderr.String(), "Delivery failed") {
		t.Fatalf("kcat producer: %v (context: %v)\nstderr:\n%s", err, ctx.Err(), stderr.String())
	}
	if stderr.Len() > 0 {
		t.Logf("kcat producer stderr:\n%s", stderr.String())
	}

	got := runKcatWithin(t, kcat, clusterCompatTimeout, "-C", "-q", "-b", brokers, "-t", topic, "-p", "0",
		"-o", "beginning", "-e", "-f", `%s\n`)
	var want strings.Builder
	for i := range 2 * clusterCompatRecords {
		fmt.Fprintln(&want, clusterCompatValue(i))
	}
	if got != want.String() {
		t.Fatalf("kcat consumed:\n%s\nwant every record once, in order:\n%s", head(got), head(want.String()))
	}
}

// runKcatWithin runs kcat with args for at most d and returns its output.
func runKcatWithin(t *testing.T, kcat string, d time.Duration, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	cmd := exec.CommandContext(ctx, kcat, args...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	cmd.WaitDelay = time.Second
	if err := cmd.Run(); err != nil {
		t.Fatalf("kcat %s: %v (context: %v)\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), err, ctx.Err(), head(out.String()), errOut.String())
	}
	return out.String()
}

// TestClusterCompatKafkajsFollowsLeaderFailover: kafkajs's idempotent
// producer (acks=all, its default retries), in one Node.js process,
// rides through the abrupt stop of the partition's leader between two
// halves of its sends, and its consumer reads every acknowledged record
// once, in order, at its acknowledged offset.
func TestClusterCompatKafkajsFollowsLeaderFailover(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a three-node cluster and Node.js; skipped under -short")
	}
	dir := kafkajsDir(t)
	copyFile(t, filepath.Join("testdata", "kafkajs", "failover.js"), filepath.Join(dir, "failover.js"))
	const topic, group = "kafkajs-failover", "kafkajs-failover-group"
	tc, seeds, leader := clusterCompatSetup(t, topic)
	// The offsets topic exists, with all three replicas, before a broker
	// goes away.
	findCoordinator(t, testContext(t), tc.node(1), group)

	arg, err := json.Marshal(map[string]any{"brokers": seeds, "topic": topic, "group": group,
		"records": clusterCompatRecords, "deadline_ms": (2 * clusterCompatTimeout).Milliseconds()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*clusterCompatTimeout+10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", filepath.Join(dir, "failover.js"), string(arg))
	cmd.Dir = dir
	cmd.WaitDelay = time.Second
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start node: %v", err)
	}
	var acks []clusterCompatAck
	var offsets []int64
	var values []string
	var fails []string
	done := false
	sc := bufio.NewScanner(stdout)
	for sc.Scan() && !done {
		f := strings.SplitN(sc.Text(), " ", 3)
		switch {
		case f[0] == "ack" && len(f) == 3:
			i, err1 := strconv.Atoi(f[1])
			off, err2 := strconv.ParseInt(f[2], 10, 64)
			if err1 != nil || err2 != nil {
				t.Fatalf("kafkajs line %q", sc.Text())
			}
			acks = append(acks, clusterCompatAck{i, off})
		case f[0] == "fail":
			fails = append(fails, sc.Text())
		case f[0] == "half":
			if len(acks) == 0 {
				t.Fatalf("kafkajs: nothing acknowledged before the failover: %v\nstderr:\n%s", fails, stderr.String())
			}
			tc.node(leader).stop(true)
			if _, err := fmt.Fprintln(stdin, "go"); err != nil {
				t.Fatal(err)
			}
		case f[0] == "rec" && len(f) == 3:
			off, err := strconv.ParseInt(f[1], 10, 64)
			if err != nil {
				t.Fatalf("kafkajs line %q", sc.Text())
			}
			offsets = append(offsets, off)
			values = append(values, f[2])
		case f[0] == "done":
			done = true
		}
	}
	stdin.Close()
	if err := cmd.Wait(); err != nil || !done {
		t.Fatalf("kafkajs: %v, done %v (context: %v)\nstderr:\n%s", err, done, ctx.Err(), stderr.String())
	}
	if len(fails) > 0 {
		t.Logf("%d kafkajs sends failed around the failover (not acknowledged): first %s", len(fails), fails[0])
	}
	afterKill := 0
	for _, a := range acks {
		if a.i >= clusterCompatRecords {
			afterKill++
		}
	}
	if afterKill == 0 {
		t.Fatalf("kafkajs: no send acknowledged after node %d was stopped: %v", leader, fails)
	}
	checkAcksConsumed(t, acks, offsets, values)
}
