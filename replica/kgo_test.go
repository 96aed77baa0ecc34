package replica

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestKgoRequesterReachesBrokerByID(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(2), kfake.Ports(0, 0), kfake.SeedTopics(1, "t"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	prod, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.DefaultProduceTopic("t"))
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	if err := prod.ProduceSync(ctx, &kgo.Record{Value: []byte("v")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	leader := int32(-1)
	if m, err := kmsg.NewPtrMetadataRequest().RequestWith(ctx, prod); err != nil {
		t.Fatal(err)
	} else {
		leader = m.Topics[0].Partitions[0].Leader
	}

	// Seeded with one broker's address only, it finds the leader by ID.
	r, err := NewKgoRequester(leader, kgo.SeedBrokers(c.ListenAddrs()[0]))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	req := kmsg.NewPtrListOffsetsRequest()
	rt := kmsg.NewListOffsetsRequestTopic()
	rt.Topic = "t"
	rp := kmsg.NewListOffsetsRequestTopicPartition()
	rp.Timestamp = -1
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := r.Request(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	lo := resp.(*kmsg.ListOffsetsResponse)
	if got := lo.Topics[0].Partitions[0]; got.ErrorCode != 0 || got.Offset != 1 {
		t.Fatalf("leader %d answered error %d offset %d, want offset 1", leader, got.ErrorCode, got.Offset)
	}

	// A closed client's requester fails cleanly.
	r.Close()
	if _, err := r.Request(ctx, req); err == nil {
		t.Fatal("request through a closed client succeeded")
	}
}
