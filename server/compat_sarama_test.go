package server

// Compatibility with IBM/sarama: its SyncProducer and PartitionConsumer at
// an old protocol level, a current one and the newest it knows, with every
// compression codec and with the idempotent producer.

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/tributary-io/tributary/recordbatch"
)

// compatRecords is how many records each compatibility case produces.
const compatRecords = 50

// compatKey and compatValue are record i's key and value in every
// compatibility test; values are long and repetitive enough that every
// codec really compresses them.
func compatKey(i int) string { return fmt.Sprintf("key-%03d", i) }

func compatValue(i int) string {
	return fmt.Sprintf("value-%03d:%s", i, strings.Repeat("tributary ", 20))
}

// storedBatches reads partition p of topic straight from the log and
// returns the header of every stored batch, in order, checking each CRC.
func storedBatches(t testing.TB, b *testBroker, topic string, p int32) []recordbatch.Header {
	t.Helper()
	l, ok := b.mgr.Partition(topic, p)
	if !ok {
		t.Fatalf("partition %s/%d missing", topic, p)
	}
	var hs []recordbatch.Header
	for off := l.StartOffset(); off < l.NextOffset(); {
		bs, err := l.Read(off, 64<<20)
		if err != nil {
			t.Fatalf("read %s/%d at %d: %v", topic, p, off, err)
		}
		data := bs.Data
		if len(data) == 0 {
			bs.Release()
			t.Fatalf("read %s/%d at %d: nothing before the end %d", topic, p, off, l.NextOffset())
		}
		for len(data) > 0 {
			h, err := recordbatch.Validate(data)
			if err != nil {
				bs.Release()
				t.Fatalf("stored batch of %s/%d near %d: %v", topic, p, off, err)
			}
			hs = append(hs, h)
			off = h.NextOffset()
			data = data[h.Size():]
		}
		bs.Release()
	}
	return hs
}

// storedCodecs is the codec of every stored batch of the partition: the
// broker stores what the producer sent, so a compressed produce must be
// stored compressed.
func storedCodecs(t testing.TB, b *testBroker, topic string, p int32) []recordbatch.Codec {
	t.Helper()
	var codecs []recordbatch.Codec
	for _, h := range storedBatches(t, b, topic, p) {
		codecs = append(codecs, h.Codec())
	}
	return codecs
}

// checkStoredCodec fails unless every batch of the partition has codec want.
func checkStoredCodec(t testing.TB, b *testBroker, topic string, p int32, want recordbatch.Codec) {
	t.Helper()
	codecs := storedCodecs(t, b, topic, p)
	if len(codecs) == 0 {
		t.Fatalf("%s/%d: no batches stored", topic, p)
	}
	for i, c := range codecs {
		if c != want {
			t.Fatalf("%s/%d: stored batch %d has codec %v, want %v (all: %v)", topic, p, i, c, want, codecs)
		}
	}
}

func TestSaramaCompat(t *testing.T) {
	b := startBroker(t)
	cases := []struct {
		name       string
		version    sarama.KafkaVersion
		codec      sarama.CompressionCodec
		idempotent bool
		stored     recordbatch.Codec
	}{
		{"2.1.0/none", sarama.V2_1_0_0, sarama.CompressionNone, false, recordbatch.CodecNone},
		{"2.1.0/gzip", sarama.V2_1_0_0, sarama.CompressionGZIP, false, recordbatch.CodecGzip},
		{"3.6.0/none", sarama.V3_6_0_0, sarama.CompressionNone, false, recordbatch.CodecNone},
		{"3.6.0/gzip", sarama.V3_6_0_0, sarama.CompressionGZIP, false, recordbatch.CodecGzip},
		{"3.6.0/snappy", sarama.V3_6_0_0, sarama.CompressionSnappy, false, recordbatch.CodecSnappy},
		{"3.6.0/lz4", sarama.V3_6_0_0, sarama.CompressionLZ4, false, recordbatch.CodecLZ4},
		{"3.6.0/zstd", sarama.V3_6_0_0, sarama.CompressionZSTD, false, recordbatch.CodecZstd},
		{"3.6.0/idempotent", sarama.V3_6_0_0, sarama.CompressionNone, true, recordbatch.CodecNone},
		{"newest/none", sarama.MaxVersion, sarama.CompressionNone, false, recordbatch.CodecNone},
		{"newest/zstd", sarama.MaxVersion, sarama.CompressionZSTD, false, recordbatch.CodecZstd},
		{"newest/idempotent-lz4", sarama.MaxVersion, sarama.CompressionLZ4, true, recordbatch.CodecLZ4},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			topic := fmt.Sprintf("sarama-%d", i)
			cfg := sarama.NewConfig()
			cfg.ClientID = "tributary-compat"
			cfg.Version = tc.version
			cfg.Net.DialTimeout = 5 * time.Second
			cfg.Net.ReadTimeout = 10 * time.Second
			cfg.Net.WriteTimeout = 10 * time.Second
			cfg.Metadata.Retry.Backoff = 50 * time.Millisecond
			cfg.Producer.Return.Successes = true
			cfg.Producer.RequiredAcks = sarama.WaitForAll
			cfg.Producer.Partitioner = sarama.NewManualPartitioner
			cfg.Producer.Compression = tc.codec
			// One request for all records, so compression has a batch to work on.
			cfg.Producer.Flush.Messages = compatRecords
			cfg.Producer.Flush.Frequency = 20 * time.Millisecond
			if tc.idempotent {
				cfg.Producer.Idempotent = true
				cfg.Net.MaxOpenRequests = 1
			}
			cfg.Consumer.Return.Errors = true
			cfg.Consumer.MaxWaitTime = 100 * time.Millisecond

			prod, err := sarama.NewSyncProducer([]string{b.addr}, cfg)
			if err != nil {
				t.Fatalf("sync producer: %v", err)
			}
			defer prod.Close()
			base := time.UnixMilli(time.Now().UnixMilli())
			msgs := make([]*sarama.ProducerMessage, compatRecords)
			for i := range msgs {
				msgs[i] = &sarama.ProducerMessage{
					Topic:     topic,
					Partition: 0,
					Key:       sarama.StringEncoder(compatKey(i)),
					Value:     sarama.StringEncoder(compatValue(i)),
					Headers: []sarama.RecordHeader{
						{Key: []byte("i"), Value: []byte(fmt.Sprint(i))},
						{Key: []byte("empty"), Value: []byte{}},
					},
					Timestamp: base.Add(time.Duration(i) * time.Millisecond),
				}
			}
			if err := prod.SendMessages(msgs); err != nil {
				t.Fatalf("send: %v", err)
			}
			for i, m := range msgs {
				if m.Partition != 0 || m.Offset != int64(i) {
					t.Fatalf("message %d acknowledged at %d/%d, want 0/%d", i, m.Partition, m.Offset, i)
				}
			}
			checkStoredCodec(t, b, topic, 0, tc.stored)
			if tc.idempotent {
				// The batches carry the producer id the broker handed
				// out, and sequences that follow the offsets.
				for _, h := range storedBatches(t, b, topic, 0) {
					if h.ProducerID < 0 || h.ProducerEpoch < 0 || int64(h.BaseSequence) != h.BaseOffset {
						t.Fatalf("idempotent batch at %d: producer %d epoch %d sequence %d", h.BaseOffset, h.ProducerID, h.ProducerEpoch, h.BaseSequence)
					}
				}
			}

			cons, err := sarama.NewConsumer([]string{b.addr}, cfg)
			if err != nil {
				t.Fatalf("consumer: %v", err)
			}
			defer cons.Close()
			pc, err := cons.ConsumePartition(topic, 0, sarama.OffsetOldest)
			if err != nil {
				t.Fatalf("consume partition: %v", err)
			}
			defer pc.Close()
			timeout := time.After(30 * time.Second)
			for i := 0; i < compatRecords; i++ {
				var m *sarama.ConsumerMessage
				select {
				case m = <-pc.Messages():
				case err := <-pc.Errors():
					t.Fatalf("consume after %d messages: %v", i, err)
				case <-timeout:
					t.Fatalf("consumed %d of %d messages before the timeout", i, compatRecords)
				}
				checkSaramaMessage(t, m, i, base)
			}
			if hwm := pc.HighWaterMarkOffset(); hwm != compatRecords {
				t.Errorf("high watermark %d, want %d", hwm, compatRecords)
			}
		})
	}
}

func checkSaramaMessage(t *testing.T, m *sarama.ConsumerMessage, i int, base time.Time) {
	t.Helper()
	if m.Offset != int64(i) || string(m.Key) != compatKey(i) || string(m.Value) != compatValue(i) {
		t.Fatalf("message %d: offset %d key %q value %.20q..., want offset %d key %q value %.20q...",
			i, m.Offset, m.Key, m.Value, i, compatKey(i), compatValue(i))
	}
	if want := base.Add(time.Duration(i) * time.Millisecond); !m.Timestamp.Equal(want) {
		t.Fatalf("message %d: timestamp %v, want %v", i, m.Timestamp, want)
	}
	var hs []string
	for _, h := range m.Headers {
		hs = append(hs, string(h.Key)+"="+string(h.Value))
	}
	if want := []string{"i=" + fmt.Sprint(i), "empty="}; !slices.Equal(hs, want) {
		t.Fatalf("message %d: headers %q, want %q", i, hs, want)
	}
}
