package testbroker

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tributary-io/tributary/server"
)

func TestStartServesKafkaWithTheSettingsGiven(t *testing.T) {
	configured := false
	b := Start(t, func(c *server.Config) { configured = true })
	if !configured {
		t.Fatal("configure was not called")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr), kgo.DefaultProduceTopic("t"), kgo.AllowAutoTopicCreation())
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	r := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("v")})
	if err := r.FirstErr(); err != nil {
		t.Fatal(err)
	}
	l, ok := b.Logs.Partition("t", 0)
	if !ok || l.HighWatermark() != 1 {
		t.Fatalf("the broker's logs do not hold the record produced (found %v)", ok)
	}
}
