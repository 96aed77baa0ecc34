package faultproxy_test

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tributary-io/tributary/internal/faultproxy"
	"github.com/tributary-io/tributary/internal/testbroker"
)

// TestProxyStallsAProduceUnderDropAndHealCompletesIt drives a real
// broker through the proxy with an idempotent acks=all producer: a
// produce made during the partition neither succeeds nor fails, and
// completes once after Heal.
func TestProxyStallsAProduceUnderDropAndHealCompletesIt(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a broker")
	}
	p, err := faultproxy.New("127.0.0.1:0", testbroker.Start(t).Addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	// Every connection the client opens, to the seed or to an advertised
	// address, goes through the proxy.
	var d net.Dialer
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(p.Addr()),
		kgo.Dialer(func(ctx context.Context, network, _ string) (net.Conn, error) {
			return d.DialContext(ctx, network, p.Addr())
		}),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.DefaultProduceTopic("t"),
	)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, err := kadm.NewClient(cl).CreateTopic(ctx, 1, 1, nil, "t"); err != nil {
		t.Fatal(err)
	}
	if err := cl.ProduceSync(ctx, kgo.StringRecord("before")).FirstErr(); err != nil {
		t.Fatalf("produce before the fault: %v", err)
	}

	p.Drop()
	done := make(chan error, 1)
	go func() { done <- cl.ProduceSync(ctx, kgo.StringRecord("during")).FirstErr() }()
	select {
	case err := <-done:
		t.Fatalf("a produce under Drop ended (err %v); want it held", err)
	case <-time.After(500 * time.Millisecond):
	}
	p.Heal()
	if err := <-done; err != nil {
		t.Fatalf("the held produce after Heal: %v", err)
	}

	ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, "t")
	if err != nil {
		t.Fatal(err)
	}
	if o, _ := ends.Lookup("t", 0); o.Offset != 2 {
		t.Errorf("end offset %d after one record before and one held by the fault, want 2", o.Offset)
	}
}
