package server

import (
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// produceN produces n records with keys k<i> and values v<i> to topic and
// fails the test on any error.
func produceN(t *testing.T, cl *kgo.Client, topic string, n int) {
	t.Helper()
	ctx := testContext(t)
	recs := make([]*kgo.Record, n)
	for i := range recs {
		recs[i] = &kgo.Record{Topic: topic, Key: []byte(fmt.Sprintf("k%d", i)), Value: []byte(fmt.Sprintf("v%d", i))}
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
}

// consumeN reads n records and fails on timeout.
func consumeN(t *testing.T, cl *kgo.Client, n int) []*kgo.Record {
	t.Helper()
	ctx := testContext(t)
	var out []*kgo.Record
	for len(out) < n {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("consumed %d of %d records: %v", len(out), n, err)
		}
		fs.EachError(func(topic string, p int32, err error) {
			t.Fatalf("fetch %s/%d: %v", topic, p, err)
		})
		out = append(out, fs.Records()...)
	}
	return out
}

func TestProduceConsumeRoundtrip(t *testing.T) {
	b := startBroker(t)
	const n = 1000
	prod := b.client(kgo.AllowAutoTopicCreation())
	produceN(t, prod, "rt", n)

	cons := b.client(kgo.ConsumeTopics("rt"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(200*time.Millisecond))
	recs := consumeN(t, cons, n)
	for i, r := range recs {
		if want := fmt.Sprintf("v%d", i); string(r.Value) != want || r.Offset != int64(i) {
			t.Fatalf("record %d: offset %d value %q, want offset %d value %q", i, r.Offset, r.Value, i, want)
		}
	}
}

// TestAcksLevels: franz-go producing with acks=0, 1 and all stores every
// record; acks=0 gets no responses and still loses nothing on a healthy
// connection.
func TestAcksLevels(t *testing.T) {
	b := startBroker(t)
	for _, tc := range []struct {
		name string
		opts []kgo.Opt
	}{
		{"acks=0", []kgo.Opt{kgo.RequiredAcks(kgo.NoAck()), kgo.DisableIdempotentWrite()}},
		{"acks=1", []kgo.Opt{kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite()}},
		{"acks=all", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			topic := "acks-" + tc.name[5:]
			if _, err := b.mgr.CreateTopic(topic, 1, nil); err != nil {
				t.Fatal(err)
			}
			prod := b.client(tc.opts...)
			produceN(t, prod, topic, 500)
			cons := b.client(kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
			recs := consumeN(t, cons, 500)
			for i, r := range recs {
				if r.Offset != int64(i) || string(r.Value) != fmt.Sprintf("v%d", i) {
					t.Fatalf("record %d: offset %d value %q", i, r.Offset, r.Value)
				}
			}
		})
	}
}
