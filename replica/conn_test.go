package replica_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"runtime"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/tributary-io/tributary/cluster"
	"github.com/tributary-io/tributary/internal/testbroker"
	"github.com/tributary-io/tributary/internal/testnet"
	tlog "github.com/tributary-io/tributary/log"
	"github.com/tributary-io/tributary/recordbatch"
	"github.com/tributary-io/tributary/replica"
)

// startBrokerWithLogs starts a broker (testbroker.Start) and returns its
// address and its logs.
func startBrokerWithLogs(t testing.TB) (string, *tlog.Manager) {
	b := testbroker.Start(t)
	return b.Addr, b.Logs
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// fetchOf is a one-partition fetch of topic at offset, as the fetcher
// builds it (v13+ names the topic by ID).
func fetchOf(topic string, id [16]byte, offset int64, maxWait time.Duration) *kmsg.FetchRequest {
	req := kmsg.NewPtrFetchRequest()
	req.ReplicaID, req.ReplicaState.ID = -1, -1
	req.MaxWaitMillis = int32(maxWait / time.Millisecond)
	req.MinBytes, req.MaxBytes = 1, 1<<20
	req.SessionEpoch = -1
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic, rt.TopicID = topic, id
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.FetchOffset, rp.PartitionMaxBytes, rp.CurrentLeaderEpoch, rp.LastFetchedEpoch = offset, 1<<20, -1, -1
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	return req
}

// produceBatches writes n batches of distinct values to topic's partition
// 0, one ProduceSync each.
func produceBatches(t *testing.T, ctx context.Context, addr, topic string, n int) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	for i := range n {
		// Sizes vary so that a reused buffer holds a shorter answer
		// over a longer one's bytes.
		v := bytes.Repeat([]byte{byte('a' + i%26)}, 10+(i*37)%3000)
		if err := cl.ProduceSync(ctx, &kgo.Record{Value: v}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
}

// TestConnFetchesAtTheHighestCommonVersion: a Conn to a real broker learns
// its versions and fetches at v12 or later; the records are the ones
// produced, and the answer of a second fetch reuses the first's memory.
func TestConnFetchesAtTheHighestCommonVersion(t *testing.T) {
	addr, mgr := startBrokerWithLogs(t)
	tp, err := mgr.CreateTopic("t", 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := testCtx(t)
	produceBatches(t, ctx, addr, "t", 3)
	c := replica.NewConn(1, replica.ConnConfig{Addr: addr, ClientID: "test"})
	defer c.Close()
	req := fetchOf("t", tp.ID, 0, 0)
	resp, err := c.Fetch(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if req.Version < 12 || resp.Version != req.Version {
		t.Fatalf("fetch at request v%d, response v%d; want v12+", req.Version, resp.Version)
	}
	rp := resp.Topics[0].Partitions[0]
	if rp.ErrorCode != 0 || rp.HighWatermark != 3 {
		t.Fatalf("partition answer: error %d, high watermark %d", rp.ErrorCode, rp.HighWatermark)
	}
	if n, _, err := recordbatch.ValidateAll(rp.RecordBatches); err != nil || n != 3 {
		t.Fatalf("%d batches, %v; want 3 valid ones", n, err)
	}
	first := &rp.RecordBatches[0]

	resp, err = c.Fetch(ctx, fetchOf("t", tp.ID, 1, 0))
	if err != nil {
		t.Fatal(err)
	}
	rp = resp.Topics[0].Partitions[0]
	if n, _, err := recordbatch.ValidateAll(rp.RecordBatches); err != nil || n != 2 {
		t.Fatalf("second fetch: %d batches, %v; want 2 valid ones", n, err)
	}
	if &rp.RecordBatches[0] != first {
		t.Error("the second answer was read into new memory, not the first's")
	}

	// Other requests get answers of their own.
	md, err := c.Request(ctx, kmsg.NewPtrMetadataRequest())
	if err != nil {
		t.Fatal(err)
	}
	if len(md.(*kmsg.MetadataResponse).Brokers) != 1 {
		t.Fatalf("metadata: %+v", md)
	}
}

// TestConnDialsAgainAfterTheLeaderClosesTheConnection: a request in
// flight when the leader closes the connection fails; the next one dials
// again and is answered.
func TestConnDialsAgainAfterTheLeaderClosesTheConnection(t *testing.T) {
	addr, mgr := startBrokerWithLogs(t)
	tp, err := mgr.CreateTopic("t", 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	px := testnet.Forward(t, "127.0.0.1:0", addr)
	ctx := testCtx(t)
	c := replica.NewConn(1, replica.ConnConfig{Addr: px.Addr()})
	defer c.Close()
	if _, err := c.Fetch(ctx, fetchOf("t", tp.ID, 0, 0)); err != nil {
		t.Fatal(err)
	}
	// A long poll on an empty partition, cut by the leader.
	errc := make(chan error, 1)
	go func() {
		_, err := c.Fetch(ctx, fetchOf("t", tp.ID, 0, 10*time.Second))
		errc <- err
	}()
	for px.Accepted() < 1 {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond) // the fetch is waiting at the leader
	// The leader drops its followers' connections.
	px.Cut()
	select {
	case err := <-errc:
		if err == nil {
			t.Fatal("a fetch whose connection was closed succeeded")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a fetch whose connection was closed did not return")
	}
	resp, err := c.Fetch(ctx, fetchOf("t", tp.ID, 0, 0))
	if err != nil {
		t.Fatalf("fetch after the connection was closed: %v", err)
	}
	if code := resp.Topics[0].Partitions[0].ErrorCode; code != 0 {
		t.Fatalf("error %d", code)
	}
	if n := px.Accepted(); n != 2 {
		t.Fatalf("%d connections, want 2", n)
	}
}

// TestConnCloseAndContextEndARequestInFlight: a long poll returns at once
// when its context ends or the Conn is closed; a closed Conn refuses
// every later request.
func TestConnCloseAndContextEndARequestInFlight(t *testing.T) {
	addr, mgr := startBrokerWithLogs(t)
	tp, err := mgr.CreateTopic("t", 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	c := replica.NewConn(1, replica.ConnConfig{Addr: addr})
	long := fetchOf("t", tp.ID, 0, 20*time.Second)

	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	start := time.Now()
	if _, err := c.Fetch(ctx, long); !errors.Is(err, context.Canceled) {
		t.Fatalf("fetch whose context ended: %v, want context.Canceled", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("fetch whose context ended returned after %v", d)
	}

	time.AfterFunc(100*time.Millisecond, c.Close)
	start = time.Now()
	if _, err := c.Fetch(context.Background(), long); err == nil {
		t.Fatal("fetch through a Conn closed meanwhile succeeded")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("fetch through a Conn closed meanwhile returned after %v", d)
	}
	if _, err := c.Fetch(context.Background(), long); !errors.Is(err, replica.ErrConnClosed) {
		t.Fatalf("fetch through a closed Conn: %v, want ErrConnClosed", err)
	}
}

// TestConnRefusesAnUnreachableLeaderCleanly: nothing listens: an error,
// no hang.
func TestConnRefusesAnUnreachableLeaderCleanly(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	c := replica.NewConn(1, replica.ConnConfig{Addr: addr, DialTimeout: time.Second})
	defer c.Close()
	if _, err := c.Request(testCtx(t), kmsg.NewPtrMetadataRequest()); err == nil {
		t.Fatal("request to nothing succeeded")
	}
}

// TestFetcherOverConnCopiesTheLeaderWhileItsBufferIsReused: a fetcher
// fetching through a Conn (one response buffer, reused by every fetch)
// from a real broker while it takes batches of varying sizes ends with a
// log that holds the leader's batches byte for byte: no fetch's bytes
// were overwritten before they were appended. Run with -race.
func TestFetcherOverConnCopiesTheLeaderWhileItsBufferIsReused(t *testing.T) {
	addr, mgr := startBrokerWithLogs(t)
	tp, err := mgr.CreateTopic("t", 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	leaderLog, _ := mgr.Partition("t", 0)
	cfg := tlog.DefaultConfig()
	cfg.Logger = slog.New(slog.DiscardHandler)
	follower, err := tlog.Open(t.TempDir(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer follower.Close()

	c := replica.NewConn(1, replica.ConnConfig{Addr: addr})
	defer c.Close()
	f := replica.NewFetcher(1, c, replica.FetcherConfig{Self: 2, MaxWait: 20 * time.Millisecond,
		PartitionMaxBytes: 8 << 10, Logger: slog.New(slog.DiscardHandler)})
	defer f.Close()
	state := cluster.PartitionState{Topic: "t", Partition: 0, Leader: 1, LeaderEpoch: 0, Replicas: []int32{1, 2}, ISR: []int32{1, 2}}
	if err := f.Add(follower, state, tp.ID); err != nil {
		t.Fatal(err)
	}
	ctx := testCtx(t)
	const batches = 300
	produceBatches(t, ctx, addr, "t", batches)
	for follower.NextOffset() < batches {
		if ctx.Err() != nil {
			t.Fatalf("follower at %d of %d", follower.NextOffset(), batches)
		}
		time.Sleep(5 * time.Millisecond)
	}
	want, got := readAll(t, leaderLog), readAll(t, follower)
	if !bytes.Equal(got, want) {
		t.Fatalf("follower holds %d bytes that differ from the leader's %d", len(got), len(want))
	}
}

// readAll is every batch of l, concatenated.
func readAll(t *testing.T, l *tlog.Log) []byte {
	t.Helper()
	var out []byte
	for off := l.StartOffset(); off < l.NextOffset(); {
		b, err := l.Read(off, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		if len(b.Data) == 0 {
			b.Release()
			break
		}
		out = append(out, b.Data...)
		for p := 0; p < len(b.Data); {
			h, err := recordbatch.ParseHeader(b.Data[p:])
			if err != nil {
				t.Fatal(fmt.Errorf("at %d: %w", off, err))
			}
			off, p = h.NextOffset(), p+h.Size()
		}
		b.Release()
	}
	return out
}

// TestFetcherOverConnLeavesNoGoroutine: a fetcher long polling through a
// Conn, once closed with its Conn, leaves no goroutine behind, neither
// here nor at the leader (whose side of the connection ends once the long
// poll it was serving does: the broker does not watch a connection
// while it waits).
func TestFetcherOverConnLeavesNoGoroutine(t *testing.T) {
	addr, mgr := startBrokerWithLogs(t)
	tp, err := mgr.CreateTopic("t", 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg := tlog.DefaultConfig()
	cfg.Logger = slog.New(slog.DiscardHandler)
	follower, err := tlog.Open(t.TempDir(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer follower.Close()
	before := runtime.NumGoroutine()
	c := replica.NewConn(1, replica.ConnConfig{Addr: addr})
	f := replica.NewFetcher(1, c, replica.FetcherConfig{Self: 2, MaxWait: 3 * time.Second, Logger: slog.New(slog.DiscardHandler)})
	state := cluster.PartitionState{Topic: "t", Partition: 0, Leader: 1, Replicas: []int32{1, 2}, ISR: []int32{1, 2}}
	if err := f.Add(follower, state, tp.ID); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond) // the fetch long polls at the leader
	start := time.Now()
	f.Close()
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("closing a fetcher whose fetch long polls took %v", d)
	}
	c.Close()
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		buf := make([]byte, 1<<20)
		t.Fatalf("%d goroutines, %d before:\n%s", n, before, buf[:runtime.Stack(buf, true)])
	}
}

// TestConnDialsFromItsLocalAddr: a Conn given LocalAddr dials the leader
// from that address (inter.broker.source.bind.enable), not from the
// kernel's choice, which towards a loopback leader is 127.0.0.1.
func TestConnDialsFromItsLocalAddr(t *testing.T) {
	for _, tt := range []struct {
		local *net.TCPAddr
		want  string
	}{
		{&net.TCPAddr{IP: net.ParseIP("127.0.0.5")}, "127.0.0.5"},
		{nil, "127.0.0.1"},
	} {
		leader := testnet.ListenOnce(t, "127.0.0.3")
		c := replica.NewConn(1, replica.ConnConfig{Addr: leader.Addr(), LocalAddr: tt.local, DialTimeout: time.Second, IOTimeout: time.Second})
		if _, err := c.Request(testCtx(t), kmsg.NewPtrMetadataRequest()); err == nil {
			t.Error("a request answered by a closed connection succeeded")
		}
		c.Close()
		if got := leader.Source(); got != tt.want {
			t.Errorf("LocalAddr %v: dialed from %s, want %s", tt.local, got, tt.want)
		}
	}
}
