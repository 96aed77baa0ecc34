package server

import (
	"fmt"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tributary-io/tributary/recordbatch"
)

var codecs = []struct {
	name  string
	kgo   kgo.CompressionCodec
	codec recordbatch.Codec
}{
	{"none", kgo.NoCompression(), recordbatch.CodecNone},
	{"gzip", kgo.GzipCompression(), recordbatch.CodecGzip},
	{"snappy", kgo.SnappyCompression(), recordbatch.CodecSnappy},
	{"lz4", kgo.Lz4Compression(), recordbatch.CodecLZ4},
	{"zstd", kgo.ZstdCompression(), recordbatch.CodecZstd},
}

// produceRecords produces n compressible records in one batch.
func produceRecords(t *testing.T, cl *kgo.Client, topic string, n int) {
	t.Helper()
	recs := make([]*kgo.Record, n)
	for i := range recs {
		recs[i] = &kgo.Record{Topic: topic, Key: []byte(fmt.Sprintf("key-%d", i)),
			Value:   []byte(fmt.Sprintf(`{"id":%d,"payload":"the same words again and again and again"}`, i)),
			Headers: []kgo.RecordHeader{{Key: "h", Value: []byte(fmt.Sprint(i))}}}
	}
	if err := cl.ProduceSync(testContext(t), recs...).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
}

func checkRecords(t *testing.T, recs []*kgo.Record) {
	t.Helper()
	for i, r := range recs {
		if r.Offset != int64(i) || string(r.Key) != fmt.Sprintf("key-%d", i) || len(r.Headers) != 1 || string(r.Headers[0].Value) != fmt.Sprint(i) {
			t.Fatalf("record %d: offset %d key %q headers %v", i, r.Offset, r.Key, r.Headers)
		}
	}
}

// TestCodecsPassThrough: with compression.type=producer every codec franz-go
// writes is stored as sent and read back intact.
func TestCodecsPassThrough(t *testing.T) {
	b := startBroker(t)
	for _, c := range codecs {
		t.Run(c.name, func(t *testing.T) {
			topic := "pass-" + c.name
			prod := b.client(kgo.ProducerBatchCompression(c.kgo), kgo.AllowAutoTopicCreation())
			produceRecords(t, prod, topic, 200)
			checkStoredCodec(t, b, topic, 0, c.codec)
			cons := b.client(kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
			checkRecords(t, consumeN(t, cons, 200))
		})
	}
}

// TestTopicCompressionType: a topic's compression.type re-encodes batches of
// any other codec, keeping keys, values, headers and offsets.
func TestTopicCompressionType(t *testing.T) {
	b := startBroker(t)
	adm := b.admin()
	for _, target := range []string{"zstd", "uncompressed", "lz4"} {
		for _, from := range codecs {
			t.Run(target+"/from="+from.name, func(t *testing.T) {
				topic := "ct-" + target + "-" + from.name
				resp, err := adm.CreateTopic(testContext(t), 1, 1, map[string]*string{"compression.type": kadm.StringPtr(target)}, topic)
				if err != nil || resp.Err != nil {
					t.Fatalf("create: %v %v", err, resp.Err)
				}
				prod := b.client(kgo.ProducerBatchCompression(from.kgo))
				produceRecords(t, prod, topic, 100)
				want, _ := topicCodec(target)
				checkStoredCodec(t, b, topic, 0, want)
				cons := b.client(kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
				checkRecords(t, consumeN(t, cons, 100))
			})
		}
	}
}
