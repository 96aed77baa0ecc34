package server

import (
	"encoding/binary"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/tributary-io/tributary/recordbatch"
)

// TestProduceErrorsCarryTheLogStartOffset: over a real socket, a produce
// that fails in the partition's log (a sequence gap, an unknown or fenced
// producer, records the broker refuses) is answered with the partition's
// log start offset, as Kafka's ReplicaManager answers it, so that a
// producer told UNKNOWN_PRODUCER_ID can tell whether retention took its
// state (KIP-360); what Kafka refuses before or around the log (an
// unknown or internal topic, bad acks, a damaged or too large batch)
// keeps -1, as in Kafka.
func TestProduceErrorsCarryTheLogStartOffset(t *testing.T) {
	b := startBroker(t, noAutoCreate)
	const topic = "lso"
	if _, err := b.mgr.CreateTopic(topic, 1, map[string]string{"max.message.bytes": "4096"}); err != nil {
		t.Fatal(err)
	}
	c := b.raw()
	now := time.Now().UnixMilli()
	if p := c.produce(topic, recordbatch.Build(5, 20, now)); p.ErrorCode != 0 {
		t.Fatalf("first batch: %v", kerr.ErrorForCode(p.ErrorCode))
	}
	var dr kadm.Offsets
	dr.Add(kadm.Offset{Topic: topic, Partition: 0, At: 3})
	if rs, err := b.admin().DeleteRecords(testContext(t), dr); err != nil || rs.Error() != nil {
		t.Fatalf("delete records: %v %v", err, rs.Error())
	}
	const logStart = 3
	pid, epoch := c.initProducerID()
	if p := c.produce(topic, idempotentBatch(2, pid, epoch, 0)); p.ErrorCode != 0 || p.LogStartOffset != logStart {
		t.Fatalf("idempotent batch: %v, log start %d", kerr.ErrorForCode(p.ErrorCode), p.LogStartOffset)
	}
	if p := c.produce(topic, idempotentBatch(1, pid, epoch+1, 0)); p.ErrorCode != 0 {
		t.Fatalf("new epoch: %v", kerr.ErrorForCode(p.ErrorCode))
	}

	control := recordbatch.Build(1, 20, now)
	binary.BigEndian.PutUint16(control[recordbatch.AttributesPos:], recordbatch.AttrControl)
	recordbatch.SetCRC(control)
	damaged := recordbatch.Build(1, 20, now)
	damaged[len(damaged)-1] ^= 0xff
	for _, tc := range []struct {
		name    string
		topic   string
		acks    int16
		records []byte
		want    *kerr.Error
		lso     int64
	}{
		{"sequence gap", topic, -1, idempotentBatch(1, pid, epoch+1, 7), kerr.OutOfOrderSequenceNumber, logStart},
		{"unknown producer mid-stream", topic, -1, idempotentBatch(1, pid+1000, 0, 7), kerr.UnknownProducerID, logStart},
		{"fenced epoch", topic, -1, idempotentBatch(1, pid, epoch, 2), kerr.InvalidProducerEpoch, logStart},
		{"control batch", topic, -1, control, kerr.InvalidRecord, logStart},
		{"damaged batch", topic, -1, damaged, kerr.CorruptMessage, -1},
		{"batch over max.message.bytes", topic, -1, recordbatch.Build(8, 1000, now), kerr.MessageTooLarge, -1},
		{"unknown topic", "no-such-topic", -1, recordbatch.Build(1, 20, now), kerr.UnknownTopicOrPartition, -1},
		{"acks 2", topic, 2, recordbatch.Build(1, 20, now), kerr.InvalidRequiredAcks, -1},
	} {
		req := produceReq(11, tc.topic, tc.records)
		req.Acks = tc.acks
		p := c.do(req).(*kmsg.ProduceResponse).Topics[0].Partitions[0]
		if p.ErrorCode != tc.want.Code || p.LogStartOffset != tc.lso {
			t.Errorf("%s: %v with log start offset %d, want %s with %d", tc.name, kerr.ErrorForCode(p.ErrorCode), p.LogStartOffset, tc.want.Message, tc.lso)
		}
	}
}
