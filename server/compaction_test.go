package server

import (
	"errors"
	"fmt"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestCompactionEndToEnd: a topic created with cleanup.policy=compact
// through kadm keeps, once the cleaner has run, only the latest record of
// each key, as a franz-go consumer reading from the start sees it; and it
// refuses records without a key with INVALID_RECORD.
func TestCompactionEndToEnd(t *testing.T) {
	tests := []struct {
		name  string
		codec kgo.CompressionCodec
	}{
		{"uncompressed", kgo.NoCompression()},
		{"zstd", kgo.ZstdCompression()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := startBroker(t, noAutoCreate)
			ctx := testContext(t)
			const topic = "compacted"
			resp, err := b.admin().CreateTopic(ctx, 1, 1, map[string]*string{
				"cleanup.policy": kadm.StringPtr("compact"),
				"segment.bytes":  kadm.StringPtr("2048"),
			}, topic)
			if err != nil || resp.Err != nil {
				t.Fatalf("create topic: %v %v", err, resp.Err)
			}
			cl := b.client(kgo.DefaultProduceTopic(topic), kgo.ProducerBatchCompression(tt.codec),
				kgo.ProducerLinger(0), kgo.RecordRetries(1))
			const keys, rounds = 7, 40
			latest := map[string]string{}
			for r := range rounds {
				for k := range keys {
					key, value := fmt.Sprintf("key-%d", k), fmt.Sprintf("value-%d-%d", k, r)
					if err := cl.ProduceSync(ctx, &kgo.Record{Key: []byte(key), Value: []byte(value)}).FirstErr(); err != nil {
						t.Fatalf("produce: %v", err)
					}
					latest[key] = value
				}
			}

			// Seal everything, then clean.
			l, ok := b.mgr.Partition(topic, 0)
			if !ok {
				t.Fatal("no partition")
			}
			end := l.NextOffset()
			if err := l.Roll(); err != nil {
				t.Fatal(err)
			}
			b.mgr.RunCompaction()
			if l.NextOffset() != end {
				t.Fatalf("log end %d after compaction, want %d", l.NextOffset(), end)
			}

			consumer := b.client(kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
			got := map[string]string{}
			var n int
			lastOffset := int64(-1)
			for lastOffset < end-1 {
				fs := consumer.PollFetches(ctx)
				if err := fs.Err0(); err != nil {
					t.Fatalf("fetch: %v", err)
				}
				fs.EachRecord(func(r *kgo.Record) {
					n++
					if _, dup := got[string(r.Key)]; dup {
						t.Errorf("key %q read twice (offset %d)", r.Key, r.Offset)
					}
					got[string(r.Key)] = string(r.Value)
					lastOffset = r.Offset
				})
			}
			if n != keys || len(got) != keys {
				t.Fatalf("read %d records, %d keys; want %d", n, len(got), keys)
			}
			for k, v := range latest {
				if got[k] != v {
					t.Errorf("%s = %q, want %q", k, got[k], v)
				}
			}

			// No key: refused, nothing appended.
			err = cl.ProduceSync(ctx, &kgo.Record{Value: []byte("keyless")}).FirstErr()
			if !errors.Is(err, kerr.InvalidRecord) {
				t.Fatalf("produce without a key: %v, want INVALID_RECORD", err)
			}
			if l.NextOffset() != end {
				t.Fatalf("refused record moved the log end to %d", l.NextOffset())
			}
		})
	}
}
