package server

import (
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/tributary-io/tributary/recordbatch"
)

// idempotentBatch builds one batch of n records from producer pid at epoch
// and base sequence seq.
func idempotentBatch(n int, pid int64, epoch int16, seq int32) []byte {
	b := recordbatch.Build(n, 20, time.Now().UnixMilli())
	binary.BigEndian.PutUint64(b[recordbatch.ProducerIDPos:], uint64(pid))
	binary.BigEndian.PutUint16(b[recordbatch.ProducerEpochPos:], uint16(epoch))
	binary.BigEndian.PutUint32(b[recordbatch.BaseSequencePos:], uint32(seq))
	recordbatch.SetCRC(b)
	return b
}

// produceReq asks to append records to partition 0 of topic.
func produceReq(version int16, topic string, records []byte) *kmsg.ProduceRequest {
	return probeProduce(version, topic, records)
}

func (c *rawConn) produce(topic string, records []byte) kmsg.ProduceResponseTopicPartition {
	c.t.Helper()
	return c.do(produceReq(11, topic, records)).(*kmsg.ProduceResponse).Topics[0].Partitions[0]
}

func (c *rawConn) initProducerID() (int64, int16) {
	c.t.Helper()
	req := kmsg.NewPtrInitProducerIDRequest()
	req.Version = 4
	resp := c.do(req).(*kmsg.InitProducerIDResponse)
	if resp.ErrorCode != 0 {
		c.t.Fatalf("InitProducerId: error %d", resp.ErrorCode)
	}
	return resp.ProducerID, resp.ProducerEpoch
}

// TestIdempotentSequences drives the sequence rules over the wire: a retried
// batch gets its original offset and is stored once, a gap and a stale epoch
// are refused with Kafka's codes, a new epoch starts over at sequence 0.
func TestIdempotentSequences(t *testing.T) {
	b := startBroker(t)
	if _, err := b.mgr.CreateTopic("idem", 1, nil); err != nil {
		t.Fatal(err)
	}
	c := b.raw()
	pid, epoch := c.initProducerID()
	l, _ := b.mgr.Partition("idem", 0)

	first := idempotentBatch(5, pid, epoch, 0)
	if p := c.produce("idem", first); p.ErrorCode != 0 || p.BaseOffset != 0 {
		t.Fatalf("first batch: error %d base %d", p.ErrorCode, p.BaseOffset)
	}
	second := idempotentBatch(5, pid, epoch, 5)
	if p := c.produce("idem", second); p.ErrorCode != 0 || p.BaseOffset != 5 {
		t.Fatalf("second batch: error %d base %d", p.ErrorCode, p.BaseOffset)
	}
	for _, retry := range [][]byte{first, second, first} {
		if p := c.produce("idem", retry); p.ErrorCode != 0 || p.BaseOffset != int64(binary.BigEndian.Uint32(retry[recordbatch.BaseSequencePos:])) {
			t.Fatalf("retry: error %d base %d", p.ErrorCode, p.BaseOffset)
		}
	}
	if got := l.NextOffset(); got != 10 {
		t.Fatalf("retries were appended: log end %d, want 10", got)
	}
	for _, tc := range []struct {
		name  string
		batch []byte
		want  *kerr.Error
	}{
		{"gap", idempotentBatch(1, pid, epoch, 11), kerr.OutOfOrderSequenceNumber},
		{"unknown producer mid-stream", idempotentBatch(1, pid+1000, 0, 7), kerr.UnknownProducerID},
	} {
		if p := c.produce("idem", tc.batch); p.ErrorCode != tc.want.Code {
			t.Errorf("%s: error %d, want %s", tc.name, p.ErrorCode, tc.want.Message)
		}
	}
	if p := c.produce("idem", idempotentBatch(1, pid, epoch+1, 0)); p.ErrorCode != 0 || p.BaseOffset != 10 {
		t.Errorf("new epoch from sequence 0: error %d base %d", p.ErrorCode, p.BaseOffset)
	}
	// The old epoch is now fenced.
	if p := c.produce("idem", idempotentBatch(1, pid, epoch, 10)); p.ErrorCode != kerr.InvalidProducerEpoch.Code {
		t.Errorf("stale epoch: error %d, want INVALID_PRODUCER_EPOCH", p.ErrorCode)
	}
	if got := l.NextOffset(); got != 11 {
		t.Errorf("log end %d after refused batches, want 11", got)
	}

	// DescribeProducers reports the producer's latest state.
	dreq := kmsg.NewPtrDescribeProducersRequest()
	dt := kmsg.NewDescribeProducersRequestTopic()
	dt.Topic, dt.Partitions = "idem", []int32{0}
	dreq.Topics = append(dreq.Topics, dt)
	dp := c.do(dreq).(*kmsg.DescribeProducersResponse).Topics[0].Partitions[0]
	var found bool
	for _, ap := range dp.ActiveProducers {
		if ap.ProducerID == pid {
			found = ap.ProducerEpoch == int32(epoch+1) && ap.LastSequence == 0
		}
	}
	if dp.ErrorCode != 0 || !found {
		t.Errorf("DescribeProducers: error %d producers %+v", dp.ErrorCode, dp.ActiveProducers)
	}
}

// TestProducerIDsNeverReused: ids stay unique across restarts of the broker.
func TestProducerIDsNeverReused(t *testing.T) {
	dir := t.TempDir()
	seen := map[int64]bool{}
	for cycle := range 3 {
		b := startBrokerIn(t, dir)
		c := b.raw()
		for range 5 {
			id, epoch := c.initProducerID()
			if seen[id] || epoch != 0 {
				t.Fatalf("cycle %d: producer id %d epoch %d handed out again", cycle, id, epoch)
			}
			seen[id] = true
		}
		b.stop()
	}
	b := startBroker(t)
	req := kmsg.NewPtrInitProducerIDRequest()
	req.Version = 4
	req.TransactionalID = kmsg.StringPtr("txn")
	if resp := b.raw().do(req).(*kmsg.InitProducerIDResponse); resp.ErrorCode == 0 {
		t.Errorf("a transactional id was accepted without a transaction coordinator")
	}
}

// dropProxy forwards TCP between clients and the broker and, once, swallows
// the response to a Produce request and cuts that connection, so that the
// client must retry a batch the broker has already stored.
type dropProxy struct {
	ln      net.Listener
	target  string
	dropped atomic.Bool
	wg      sync.WaitGroup
}

func newDropProxy(t *testing.T) *dropProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &dropProxy{ln: ln}
	t.Cleanup(func() { ln.Close(); p.wg.Wait() })
	return p
}

func (p *dropProxy) serve() {
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			cc, err := p.ln.Accept()
			if err != nil {
				return
			}
			bc, err := net.Dial("tcp", p.target)
			if err != nil {
				cc.Close()
				continue
			}
			var produceCorr sync.Map // correlation ids of Produce requests
			p.wg.Add(2)
			go func() { // client -> broker, noting Produce correlation ids
				defer p.wg.Done()
				defer bc.Close()
				for {
					frame, err := readFrame(cc)
					if err != nil {
						return
					}
					if binary.BigEndian.Uint16(frame[4:]) == 0 {
						produceCorr.Store(binary.BigEndian.Uint32(frame[8:]), true)
					}
					if _, err := bc.Write(frame); err != nil {
						return
					}
				}
			}()
			go func() { // broker -> client, dropping the first Produce answer
				defer p.wg.Done()
				defer cc.Close()
				for {
					frame, err := readFrame(bc)
					if err != nil {
						return
					}
					if _, ok := produceCorr.Load(binary.BigEndian.Uint32(frame[4:])); ok && p.dropped.CompareAndSwap(false, true) {
						cc.Close()
						bc.Close()
						return
					}
					if _, err := cc.Write(frame); err != nil {
						return
					}
				}
			}()
		}
	}()
}

func readFrame(r io.Reader) ([]byte, error) {
	var size [4]byte
	if _, err := io.ReadFull(r, size[:]); err != nil {
		return nil, err
	}
	frame := make([]byte, 4+binary.BigEndian.Uint32(size[:]))
	copy(frame, size[:])
	_, err := io.ReadFull(r, frame[4:])
	return frame, err
}

// TestIdempotentRetryThroughLostResponse: franz-go's idempotent producer
// loses the answer to a Produce the broker has stored, retries it on a new
// connection, and every record ends up in the log exactly once.
func TestIdempotentRetryThroughLostResponse(t *testing.T) {
	proxy := newDropProxy(t)
	b := startBroker(t, func(c *Config) { c.Advertise = proxy.ln.Addr().String() })
	proxy.target = b.addr
	proxy.serve()
	if _, err := b.mgr.CreateTopic("retry", 1, nil); err != nil {
		t.Fatal(err)
	}
	cl := b.client(kgo.SeedBrokers(proxy.ln.Addr().String()), kgo.DefaultProduceTopic("retry"),
		kgo.RecordRetries(20), kgo.RetryBackoffFn(func(int) time.Duration { return 10 * time.Millisecond }))
	const n = 50
	for i := range n {
		if err := cl.ProduceSync(testContext(t), &kgo.Record{Value: []byte(fmt.Sprint(i))}).FirstErr(); err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
	}
	if !proxy.dropped.Load() {
		t.Fatal("the proxy never dropped a response: the test proved nothing")
	}
	l, _ := b.mgr.Partition("retry", 0)
	if got := l.NextOffset(); got != n {
		t.Fatalf("log end %d after %d acknowledged records: the retry was appended twice", got, n)
	}
	cons := b.client(kgo.ConsumeTopics("retry"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	for i, r := range consumeN(t, cons, n) {
		if string(r.Value) != fmt.Sprint(i) || r.Offset != int64(i) {
			t.Fatalf("record %d: offset %d value %q", i, r.Offset, r.Value)
		}
	}
}

// TestProducerStateSurvivesRestart: after a restart the broker still knows
// each producer's last batches: a retry sent across the restart is answered
// as a duplicate, the next sequence is accepted and a gap is refused.
func TestProducerStateSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	b := startBrokerIn(t, dir)
	if _, err := b.mgr.CreateTopic("state", 1, nil); err != nil {
		t.Fatal(err)
	}
	c := b.raw()
	pid, epoch := c.initProducerID()
	var last []byte
	for i := range 5 {
		last = idempotentBatch(2, pid, epoch, int32(2*i))
		if p := c.produce("state", last); p.ErrorCode != 0 {
			t.Fatalf("batch %d: error %d", i, p.ErrorCode)
		}
	}
	b.stop()

	b = startBrokerIn(t, dir)
	c = b.raw()
	if p := c.produce("state", last); p.ErrorCode != 0 || p.BaseOffset != 8 {
		t.Errorf("retry across the restart: error %d base %d, want the original offset 8", p.ErrorCode, p.BaseOffset)
	}
	if p := c.produce("state", idempotentBatch(1, pid, epoch, 12)); p.ErrorCode != kerr.OutOfOrderSequenceNumber.Code {
		t.Errorf("gap after the restart: error %d, want OUT_OF_ORDER_SEQUENCE_NUMBER", p.ErrorCode)
	}
	if p := c.produce("state", idempotentBatch(1, pid, epoch, 10)); p.ErrorCode != 0 || p.BaseOffset != 10 {
		t.Errorf("next sequence after the restart: error %d base %d", p.ErrorCode, p.BaseOffset)
	}
	if l, _ := b.mgr.Partition("state", 0); l.NextOffset() != 11 {
		t.Errorf("log end %d, want 11", l.NextOffset())
	}
}
