package replica_test

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/tributary-io/tributary/internal/testbroker"
	"github.com/tributary-io/tributary/replica"
)

func TestKgoRequesterReachesBrokerByID(t *testing.T) {
	addr := testbroker.Start(t).Addr
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	prod, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.DefaultProduceTopic("t"), kgo.AllowAutoTopicCreation())
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	if err := prod.ProduceSync(ctx, &kgo.Record{Value: []byte("v")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	m, err := kmsg.NewPtrMetadataRequest().RequestWith(ctx, prod)
	if err != nil {
		t.Fatal(err)
	}
	leader := m.Topics[0].Partitions[0].Leader

	// Seeded with an address only, it finds the broker by the node ID
	// the broker's metadata gives it.
	r, err := replica.NewKgoRequester(leader, kgo.SeedBrokers(addr))
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

	// A node the cluster does not have fails cleanly.
	other, err := replica.NewKgoRequester(leader+7, kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if _, err := other.Request(ctx, req); err == nil {
		t.Fatalf("request to unknown node %d succeeded", leader+7)
	}

	// A closed client's requester fails cleanly.
	r.Close()
	if _, err := r.Request(ctx, req); err == nil {
		t.Fatal("request through a closed client succeeded")
	}
}
