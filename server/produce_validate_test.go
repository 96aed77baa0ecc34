package server

// A compressed batch a consumer could not read is refused on produce, on
// every topic, and never blocks the consumers of its partition; a request
// naming one partition twice is read as Kafka reads it.

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/tributary-io/tributary/recordbatch"
)

// craftedRecords encodes records with the given offset deltas, each with a
// key (so that compacted topics take them) and value.
func craftedRecords(deltas []int32, value []byte) []byte {
	var recs []byte
	for i, d := range deltas {
		r := kmsg.Record{OffsetDelta: d, Key: fmt.Appendf(nil, "key-%d", i), Value: value}
		r.Length = int32(len(r.AppendTo(nil)) - 1) // without its own 1-byte length
		recs = r.AppendTo(recs)
	}
	return recs
}

func seq(n int) []int32 {
	d := make([]int32, n)
	for i := range d {
		d[i] = int32(i)
	}
	return d
}

// craftedBatch puts a records section, flagged with codec c, under a header
// claiming count records, with a valid CRC: a producer's bug, not damage.
func craftedBatch(c recordbatch.Codec, recs []byte, count int32) []byte {
	now := time.Now().UnixMilli()
	b := kmsg.RecordBatch{Magic: 2, Attributes: int16(c), LastOffsetDelta: count - 1, FirstTimestamp: now, MaxTimestamp: now,
		ProducerID: -1, ProducerEpoch: -1, FirstSequence: -1, NumRecords: count, Records: recs}
	b.Length = int32(len(b.AppendTo(nil)) - recordbatch.LogOverhead)
	out := b.AppendTo(nil)
	recordbatch.SetCRC(out)
	return out
}

func compressed(t testing.TB, c recordbatch.Codec, recs []byte) []byte {
	t.Helper()
	out, err := recordbatch.Compress(c, nil, recs)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// zstdBomb is a records section of one record whose value is size zero
// bytes, zstd-compressed as a stream (so never held whole here).
func zstdBomb(t testing.TB, size int) []byte {
	t.Helper()
	var out bytes.Buffer
	w, err := zstd.NewWriter(&out)
	if err != nil {
		t.Fatal(err)
	}
	body := []byte{0}                   // attributes
	body = binary.AppendVarint(body, 0) // timestampDelta
	body = binary.AppendVarint(body, 0) // offsetDelta
	body = binary.AppendVarint(body, 1) // key length
	body = append(body, 'k')            // key
	body = binary.AppendVarint(body, int64(size))
	head := binary.AppendVarint(nil, int64(len(body)+size+1)) // + the empty headers count
	zeros := make([]byte, 1<<20)
	write := func(b []byte) {
		if _, err := w.Write(b); err != nil {
			t.Fatal(err)
		}
	}
	write(head)
	write(body)
	for left := size; left > 0; left -= len(zeros) {
		write(zeros[:min(left, len(zeros))])
	}
	write(binary.AppendVarint(nil, 0)) // no headers
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// TestProduceRefusesUnreadableCompressedBatches sends, over a real socket,
// Produce requests whose compressed batch no consumer could read, on a
// delete-policy and a compacted topic: each is refused with Kafka's error
// code and nothing is stored, and a real consumer then reads every record
// of the partition, produced before and after, without stalling.
func TestProduceRefusesUnreadableCompressedBatches(t *testing.T) {
	b := startBroker(t)
	value := bytes.Repeat([]byte("value "), 30)
	good := craftedRecords(seq(3), value)
	cases := []struct {
		name  string
		batch func(t *testing.T) []byte
		want  *kerr.Error
	}{
		{"gzip flag, payload not gzip", func(t *testing.T) []byte {
			return craftedBatch(recordbatch.CodecGzip, good, 3)
		}, kerr.InvalidRecord},
		{"zstd flag, payload not zstd", func(t *testing.T) []byte {
			return craftedBatch(recordbatch.CodecZstd, good, 3)
		}, kerr.InvalidRecord},
		{"gzip: header says 3 records, 10 inside", func(t *testing.T) []byte {
			return craftedBatch(recordbatch.CodecGzip, compressed(t, recordbatch.CodecGzip, craftedRecords(seq(10), value)), 3)
		}, kerr.InvalidRecord},
		{"zstd: header says 3 records, 10 inside", func(t *testing.T) []byte {
			return craftedBatch(recordbatch.CodecZstd, compressed(t, recordbatch.CodecZstd, craftedRecords(seq(10), value)), 3)
		}, kerr.InvalidRecord},
		{"lz4: header says 10 records, 3 inside", func(t *testing.T) []byte {
			return craftedBatch(recordbatch.CodecLZ4, compressed(t, recordbatch.CodecLZ4, good), 10)
		}, kerr.InvalidRecord},
		{"snappy: offset delta gap", func(t *testing.T) []byte {
			return craftedBatch(recordbatch.CodecSnappy, compressed(t, recordbatch.CodecSnappy, craftedRecords([]int32{0, 1, 3}, value)), 3)
		}, kerr.InvalidRecord},
		{"gzip: stream cut short", func(t *testing.T) []byte {
			z := compressed(t, recordbatch.CodecGzip, good)
			return craftedBatch(recordbatch.CodecGzip, z[:len(z)-6], 3)
		}, kerr.InvalidRecord},
		{"zstd: damaged on the way", func(t *testing.T) []byte {
			batch := craftedBatch(recordbatch.CodecZstd, compressed(t, recordbatch.CodecZstd, good), 3)
			batch[len(batch)-3] ^= 0x10
			return batch
		}, kerr.CorruptMessage},
		{"zstd: decompression bomb", func(t *testing.T) []byte {
			return craftedBatch(recordbatch.CodecZstd, zstdBomb(t, maxDecompressedBytes+1), 1)
		}, kerr.MessageTooLarge},
	}
	for _, policy := range []string{"delete", "compact"} {
		topic := "unreadable-" + policy
		if _, err := b.mgr.CreateTopic(topic, 1, map[string]string{"cleanup.policy": policy}); err != nil {
			t.Fatal(err)
		}
		prod := b.client(kgo.ProducerBatchCompression(kgo.GzipCompression()), kgo.DefaultProduceTopic(topic))
		produced := 0
		produceGood := func(t *testing.T) {
			t.Helper()
			rec := &kgo.Record{Key: fmt.Appendf(nil, "good-%d", produced), Value: value}
			if err := prod.ProduceSync(testContext(t), rec).FirstErr(); err != nil {
				t.Fatalf("good produce: %v", err)
			}
			produced++
		}
		for _, tc := range cases {
			t.Run(policy+"/"+tc.name, func(t *testing.T) {
				produceGood(t)
				before := probeEnds(t, b, topic)
				c := dialProbe(t, b.addr)
				resp := c.roundTrip(probeProduce(9, topic, tc.batch(t))).(*kmsg.ProduceResponse)
				if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
					t.Fatalf("response has %d topics, want 1 with 1 partition", len(resp.Topics))
				}
				p := resp.Topics[0].Partitions[0]
				if p.ErrorCode != tc.want.Code {
					t.Errorf("error %v (%v), want %v", kerr.ErrorForCode(p.ErrorCode), p.ErrorMessage, tc.want)
				}
				if p.ErrorMessage == nil || *p.ErrorMessage == "" {
					t.Errorf("no error message")
				}
				probeCheckEnds(t, b, topic, before)
				produceGood(t)
				// A real consumer reads the partition from its start:
				// every good record, none stuck behind the refused batch.
				cons := b.client(kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().AtStart()}}),
					kgo.FetchMaxWait(100*time.Millisecond))
				got := consumeN(t, cons, produced)
				for i, r := range got {
					if r.Offset != int64(i) || string(r.Key) != fmt.Sprintf("good-%d", i) {
						t.Fatalf("record %d: offset %d key %q", i, r.Offset, r.Key)
					}
				}
			})
		}
	}
}

// TestProduceAcceptsCompressedBatchesOfEveryClientCodec: the batches
// franz-go writes with each codec, and our own encodings of them (xerial
// snappy as the Java client frames it), pass the produce check and read
// back intact.
func TestProduceAcceptsCompressedBatchesOfEveryClientCodec(t *testing.T) {
	b := startBroker(t)
	for _, c := range codecs {
		t.Run(c.name, func(t *testing.T) {
			topic := "accepted-" + c.name
			prod := b.client(kgo.ProducerBatchCompression(c.kgo), kgo.AllowAutoTopicCreation())
			produceRecords(t, prod, topic, 300)
			checkStoredCodec(t, b, topic, 0, c.codec)
			// The same kind of records in our encoding of the codec
			// (xerial snappy as the Java client frames it).
			batch := craftedBatch(c.codec, compressed(t, c.codec, craftedRecords(seq(5), []byte("ours"))), 5)
			resp := dialProbe(t, b.addr).roundTrip(probeProduce(9, topic, batch)).(*kmsg.ProduceResponse)
			if code := resp.Topics[0].Partitions[0].ErrorCode; code != 0 {
				t.Fatalf("our %v encoding: %v", c.codec, kerr.ErrorForCode(code))
			}
			cons := b.client(kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
			got := consumeN(t, cons, 305)
			checkRecords(t, got[:300])
			for i, r := range got[300:305] {
				if r.Offset != int64(300+i) || string(r.Key) != fmt.Sprintf("key-%d", i) || string(r.Value) != "ours" {
					t.Errorf("record %d: offset %d key %q value %q", 300+i, r.Offset, r.Key, r.Value)
				}
			}
		})
	}
}

// TestProduceSamePartitionTwiceKeepsTheLastEntry: a request naming one
// partition twice, in one topic entry or in two entries for the topic, is
// read as Kafka reads it: only the last entry's batch is appended, and the
// response names the partition (and the topic) once.
func TestProduceSamePartitionTwiceKeepsTheLastEntry(t *testing.T) {
	b := startProbeBroker(t)
	first := probeBatch(2, 11)  // 2 records of 11-byte values
	second := probeBatch(3, 22) // 3 records of 22-byte values
	cases := []struct {
		name    string
		version int16
		request func() *kmsg.ProduceRequest
	}{
		{"one topic entry", 9, func() *kmsg.ProduceRequest {
			req := probeProduce(9, probeTopic, first, probeBatch(1, 5))
			rp := kmsg.NewProduceRequestTopicPartition()
			rp.Partition, rp.Records = 0, second
			req.Topics[0].Partitions = append(req.Topics[0].Partitions, rp)
			return req
		}},
		{"two topic entries", 7, func() *kmsg.ProduceRequest {
			req := probeProduce(7, probeTopic, first, probeBatch(1, 5))
			again := probeProduce(7, probeTopic, second)
			req.Topics = append(req.Topics, again.Topics[0])
			return req
		}},
		{"forty entries in one topic", 9, func() *kmsg.ProduceRequest {
			// Past the pairwise look-up: duplicates found with a map.
			req := probeProduce(9, probeTopic)
			for i := range 40 {
				rp := kmsg.NewProduceRequestTopicPartition()
				rp.Partition, rp.Records = int32(i%2), first
				if i >= 38 {
					rp.Records = [][]byte{second, probeBatch(1, 5)}[i%2]
				}
				req.Topics[0].Partitions = append(req.Topics[0].Partitions, rp)
			}
			return req
		}},
		{"two topic entries by id", 13, func() *kmsg.ProduceRequest {
			tp, _ := b.mgr.Topic(probeTopic)
			req := probeProduce(13, "", first, probeBatch(1, 5))
			again := probeProduce(13, "", second)
			req.Topics = append(req.Topics, again.Topics[0])
			for i := range req.Topics {
				req.Topics[i].TopicID = tp.ID
			}
			return req
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := probeEnds(t, b, probeTopic)
			resp := dialProbe(t, b.addr).roundTrip(tc.request()).(*kmsg.ProduceResponse)
			if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 2 {
				t.Fatalf("response: %d topics (%+v), want one with partitions 0 and 1 once each", len(resp.Topics), resp.Topics)
			}
			for i, p := range resp.Topics[0].Partitions {
				if p.Partition != int32(i) || p.ErrorCode != 0 || p.BaseOffset != before[i] {
					t.Errorf("partition entry %d: partition %d error %v base offset %d, want partition %d at %d",
						i, p.Partition, kerr.ErrorForCode(p.ErrorCode), p.BaseOffset, i, before[i])
				}
			}
			// The second entry's 3 records, not the first's 2, nor both.
			probeCheckEnds(t, b, probeTopic, []int64{before[0] + 3, before[1] + 1})
			cons := b.client(kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{probeTopic: {0: kgo.NewOffset().At(before[0])}}),
				kgo.FetchMaxWait(100*time.Millisecond))
			for _, r := range consumeN(t, cons, 3) {
				if len(r.Value) != 22 {
					t.Errorf("offset %d: %d-byte value, want the second entry's 22", r.Offset, len(r.Value))
				}
			}
		})
	}
}
