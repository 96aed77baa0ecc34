package server

// Leader epochs and the high watermark as clients see them: each
// partition's epoch (from its log's epoch cache) in Metadata, ListOffsets,
// OffsetForLeaderEpoch and the batches fetched, CurrentLeaderEpoch checked
// against it, and consumers served only what lies below the high
// watermark.

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestLeaderEpochPerPartition(t *testing.T) {
	b := startBroker(t)
	if _, err := b.mgr.CreateTopic("epochs", 2, nil); err != nil {
		t.Fatal(err)
	}
	cl := b.client(kgo.RecordPartitioner(kgo.ManualPartitioner()))
	produce := func(p int32, n int) {
		t.Helper()
		for range n {
			if err := cl.ProduceSync(testContext(t), &kgo.Record{Topic: "epochs", Partition: p, Value: []byte("v")}).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
	}
	produce(0, 2)
	produce(1, 3) // offsets 0-2 at epoch 0
	l1, _ := b.mgr.Partition("epochs", 1)
	if err := l1.BecomeLeader(4); err != nil { // as a failover to this broker would
		t.Fatal(err)
	}
	produce(1, 2) // offsets 3-4 at epoch 4
	// A new client: the producer's cached metadata predates epoch 4.
	adm := kadm.NewClient(b.client())
	ctx := testContext(t)

	md, err := adm.Metadata(ctx, "epochs")
	if err != nil {
		t.Fatal(err)
	}
	for p, want := range []int32{0, 4} {
		if got := md.Topics["epochs"].Partitions[int32(p)].LeaderEpoch; got != want {
			t.Errorf("Metadata: partition %d leader epoch %d, want %d", p, got, want)
		}
	}

	ends, err := adm.ListEndOffsets(ctx, "epochs")
	if err != nil {
		t.Fatal(err)
	}
	for p, want := range []kadm.ListedOffset{{Offset: 2, LeaderEpoch: 0}, {Offset: 5, LeaderEpoch: 4}} {
		got, _ := ends.Lookup("epochs", int32(p))
		if got.Err != nil || got.Offset != want.Offset || got.LeaderEpoch != want.LeaderEpoch {
			t.Errorf("ListOffsets latest of partition %d: offset %d epoch %d (%v), want %d epoch %d",
				p, got.Offset, got.LeaderEpoch, got.Err, want.Offset, want.LeaderEpoch)
		}
	}

	// OffsetForLeaderEpoch of partition 1, and CurrentLeaderEpoch fencing.
	tests := []struct {
		current, epoch int32
		code           int16
		wantEpoch      int32
		wantEnd        int64
	}{
		{-1, 0, 0, 0, 3},   // epoch 0 ends where epoch 4 begins
		{-1, 2, 0, 0, 3},   // between known epochs: the one below
		{-1, 4, 0, 4, 5},   // the latest ends at the log end
		{-1, 5, 0, -1, -1}, // newer than the latest
		{4, 4, 0, 4, 5},    // current epoch named: no fencing
		{3, 4, kerr.FencedLeaderEpoch.Code, -1, -1},
		{5, 4, kerr.UnknownLeaderEpoch.Code, -1, -1},
	}
	for _, tt := range tests {
		req := kmsg.NewPtrOffsetForLeaderEpochRequest()
		req.ReplicaID = -1
		rt := kmsg.NewOffsetForLeaderEpochRequestTopic()
		rt.Topic = "epochs"
		rp := kmsg.NewOffsetForLeaderEpochRequestTopicPartition()
		rp.Partition, rp.CurrentLeaderEpoch, rp.LeaderEpoch = 1, tt.current, tt.epoch
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		sp := resp.Topics[0].Partitions[0]
		if sp.ErrorCode != tt.code || sp.LeaderEpoch != tt.wantEpoch || sp.EndOffset != tt.wantEnd {
			t.Errorf("OffsetForLeaderEpoch(current %d, epoch %d) = code %d, (%d, %d); want code %d, (%d, %d)",
				tt.current, tt.epoch, sp.ErrorCode, sp.LeaderEpoch, sp.EndOffset, tt.code, tt.wantEpoch, tt.wantEnd)
		}
	}

	// ListOffsets with a stale CurrentLeaderEpoch is fenced.
	lreq := kmsg.NewPtrListOffsetsRequest()
	lreq.ReplicaID = -1
	lt := kmsg.NewListOffsetsRequestTopic()
	lt.Topic = "epochs"
	lp := kmsg.NewListOffsetsRequestTopicPartition()
	lp.Partition, lp.CurrentLeaderEpoch, lp.Timestamp = 1, 0, -1
	lt.Partitions = append(lt.Partitions, lp)
	lreq.Topics = append(lreq.Topics, lt)
	lresp, err := lreq.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	if code := lresp.Topics[0].Partitions[0].ErrorCode; code != kerr.FencedLeaderEpoch.Code {
		t.Errorf("ListOffsets with CurrentLeaderEpoch 0 on a partition at epoch 4: code %d, want FENCED_LEADER_EPOCH", code)
	}

	// The batches fetched carry the epoch they were appended in.
	consumer := b.client(kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{"epochs": {1: kgo.NewOffset().AtStart()}}))
	recs := consumeN(t, consumer, 5)
	for _, r := range recs {
		want := int32(0)
		if r.Offset >= 3 {
			want = 4
		}
		if r.LeaderEpoch != want {
			t.Errorf("record at offset %d: leader epoch %d, want %d", r.Offset, r.LeaderEpoch, want)
		}
	}
}

func TestConsumersReadUpToTheHighWatermark(t *testing.T) {
	b := startBroker(t)
	if _, err := b.mgr.CreateTopic("hw", 1, nil); err != nil {
		t.Fatal(err)
	}
	l, _ := b.mgr.Partition("hw", 0)
	l.SetReplicated(true)
	produceN(t, b.client(), "hw", 4) // one batch, offsets 0-3
	if l.HighWatermark() != 0 || l.NextOffset() != 4 {
		t.Fatalf("high watermark %d, log end %d; want 0, 4", l.HighWatermark(), l.NextOffset())
	}
	ctx := testContext(t)
	ends, err := kadm.NewClient(b.client()).ListEndOffsets(ctx, "hw")
	if err != nil {
		t.Fatal(err)
	}
	if o, _ := ends.Lookup("hw", 0); o.Offset != 0 {
		t.Fatalf("ListOffsets latest = %d, want the high watermark 0", o.Offset)
	}

	consumer := b.client(kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{"hw": {0: kgo.NewOffset().AtStart()}}),
		kgo.FetchMaxWait(5*time.Second))
	got := make(chan []*kgo.Record, 1)
	go func() {
		fs := consumer.PollFetches(ctx)
		got <- fs.Records()
	}()
	select {
	case recs := <-got:
		t.Fatalf("a consumer got %d records above the high watermark", len(recs))
	case <-time.After(300 * time.Millisecond):
	}
	// Committed: the long-polling fetch is woken and answered.
	start := time.Now()
	l.SetHighWatermark(4)
	recs := <-got
	if len(recs) != 4 {
		t.Fatalf("got %d records once committed, want 4", len(recs))
	}
	if waited := time.Since(start); waited > 4*time.Second {
		t.Fatalf("the fetch waited %v: not woken by the high watermark", waited)
	}
}
