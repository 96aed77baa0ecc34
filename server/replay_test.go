package server

import (
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestReplayFromOffsetAndTimestamp: consumers start at an exact offset or at
// the first record at or after a timestamp, for plain and compressed
// batches, and ListOffsets answers earliest, latest, by time and max time.
func TestReplayFromOffsetAndTimestamp(t *testing.T) {
	b := startBroker(t)
	base := time.Now().Add(-time.Hour).Truncate(time.Millisecond)
	for _, c := range codecs {
		t.Run(c.name, func(t *testing.T) {
			topic := "replay-" + c.name
			prod := b.client(kgo.ProducerBatchCompression(c.kgo), kgo.AllowAutoTopicCreation())
			// 10 batches of 10 records, record i stamped base + i seconds.
			for batch := range 10 {
				recs := make([]*kgo.Record, 10)
				for j := range recs {
					i := batch*10 + j
					recs[j] = &kgo.Record{Topic: topic, Value: []byte(fmt.Sprint(i)), Timestamp: base.Add(time.Duration(i) * time.Second)}
				}
				if err := prod.ProduceSync(testContext(t), recs...).FirstErr(); err != nil {
					t.Fatal(err)
				}
			}
			first := func(off kgo.Offset) *kgo.Record {
				cons := b.client(kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(off))
				return consumeN(t, cons, 1)[0]
			}
			if r := first(kgo.NewOffset().At(37)); r.Offset != 37 || string(r.Value) != "37" {
				t.Errorf("from offset 37: got offset %d value %q", r.Offset, r.Value)
			}
			// 42.5 s after base: the first record at or after is 43,
			// in the middle of a batch.
			if r := first(kgo.NewOffset().AfterMilli(base.Add(42500 * time.Millisecond).UnixMilli())); r.Offset != 43 {
				t.Errorf("from timestamp base+42.5s: got offset %d, want 43", r.Offset)
			}

			c := b.raw()
			for _, tc := range []struct {
				ts, wantOffset, wantTs int64
			}{
				{listEarliest, 0, -1},
				{listLatest, 100, -1},
				{listMaxTimestamp, 99, base.Add(99 * time.Second).UnixMilli()},
				{base.Add(55 * time.Second).UnixMilli(), 55, base.Add(55 * time.Second).UnixMilli()},
				{base.Add(time.Hour).UnixMilli(), -1, -1},
			} {
				req := kmsg.NewPtrListOffsetsRequest()
				req.Version = 7
				rt := kmsg.NewListOffsetsRequestTopic()
				rt.Topic = topic
				rp := kmsg.NewListOffsetsRequestTopicPartition()
				rp.Timestamp = tc.ts
				rt.Partitions = append(rt.Partitions, rp)
				req.Topics = append(req.Topics, rt)
				p := c.do(req).(*kmsg.ListOffsetsResponse).Topics[0].Partitions[0]
				// MAX_TIMESTAMP answers with the batch holding the max.
				if tc.ts == listMaxTimestamp {
					if p.ErrorCode != 0 || p.Timestamp != tc.wantTs || p.Offset < 90 || p.Offset > 99 {
						t.Errorf("max timestamp: error %d offset %d ts %d", p.ErrorCode, p.Offset, p.Timestamp)
					}
					continue
				}
				if p.ErrorCode != 0 || p.Offset != tc.wantOffset || p.Timestamp != tc.wantTs {
					t.Errorf("ListOffsets(%d): error %d offset %d ts %d, want offset %d ts %d", tc.ts, p.ErrorCode, p.Offset, p.Timestamp, tc.wantOffset, tc.wantTs)
				}
			}
		})
	}
}
