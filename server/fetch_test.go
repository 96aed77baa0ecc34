package server

import (
	"encoding/binary"
	"io"
	"net"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/tributary-io/tributary/recordbatch"
)

// rawConn is a plain TCP connection speaking kmsg requests at the version
// set on each request, so tests control versions exactly.
type rawConn struct {
	t    testing.TB
	nc   net.Conn
	corr int32
}

func (b *testBroker) raw() *rawConn {
	b.t.Helper()
	nc, err := net.DialTimeout("tcp", b.addr, 5*time.Second)
	if err != nil {
		b.t.Fatal(err)
	}
	b.t.Cleanup(func() { nc.Close() })
	return &rawConn{t: b.t, nc: nc}
}

// do sends req at req.GetVersion() and decodes the response.
func (c *rawConn) do(req kmsg.Request) kmsg.Response {
	c.t.Helper()
	c.corr++
	frame := kmsg.NewRequestFormatter(kmsg.FormatterClientID("test")).AppendRequest(nil, req, c.corr)
	c.nc.SetDeadline(time.Now().Add(20 * time.Second))
	if _, err := c.nc.Write(frame); err != nil {
		c.t.Fatalf("write %T: %v", req, err)
	}
	var size [4]byte
	if _, err := io.ReadFull(c.nc, size[:]); err != nil {
		c.t.Fatalf("read %T response: %v", req, err)
	}
	body := make([]byte, binary.BigEndian.Uint32(size[:]))
	if _, err := io.ReadFull(c.nc, body); err != nil {
		c.t.Fatalf("read %T response: %v", req, err)
	}
	if got := int32(binary.BigEndian.Uint32(body)); got != c.corr {
		c.t.Fatalf("correlation id %d, want %d", got, c.corr)
	}
	body = body[4:]
	resp := req.ResponseKind()
	resp.SetVersion(req.GetVersion())
	if resp.IsFlexible() && req.Key() != apiVersionsKey {
		body = body[1:] // empty header tags
	}
	if err := resp.ReadFrom(body); err != nil {
		c.t.Fatalf("decode %T v%d: %v", resp, req.GetVersion(), err)
	}
	return resp
}

// exchange writes a pre-encoded request frame and reads the response into
// buf without decoding it, so the client side allocates nothing.
func (c *rawConn) exchange(frame []byte, buf []byte) []byte {
	if _, err := c.nc.Write(frame); err != nil {
		c.t.Fatal(err)
	}
	var size [4]byte
	if _, err := io.ReadFull(c.nc, size[:]); err != nil {
		c.t.Fatal(err)
	}
	n := int(binary.BigEndian.Uint32(size[:]))
	if cap(buf) < n {
		buf = make([]byte, n)
	}
	if _, err := io.ReadFull(c.nc, buf[:n]); err != nil {
		c.t.Fatal(err)
	}
	return buf[:n]
}

func fetchReq(version int16, topic string, id [16]byte, offset int64, partMax int32) *kmsg.FetchRequest {
	req := kmsg.NewPtrFetchRequest()
	req.Version = version
	req.MaxWaitMillis = 0
	req.MinBytes = 1
	req.MaxBytes = 50 << 20
	req.SessionEpoch = -1
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic, rt.TopicID = topic, id
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.FetchOffset = offset
	rp.PartitionMaxBytes = partMax
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	return req
}

// appendBatches appends n batches of 10 records of size bytes each straight
// to the log and returns the batches as stored.
func (b *testBroker) appendBatches(topic string, n, valueSize int) [][]byte {
	b.t.Helper()
	if _, ok := b.mgr.Topic(topic); !ok {
		if _, err := b.mgr.CreateTopic(topic, 1, nil); err != nil {
			b.t.Fatal(err)
		}
	}
	l, _ := b.mgr.Partition(topic, 0)
	var out [][]byte
	for range n {
		batch := recordbatch.Build(10, valueSize, time.Now().UnixMilli())
		if _, err := l.Append(batch); err != nil {
			b.t.Fatal(err)
		}
		out = append(out, batch)
	}
	return out
}

// TestFetchEveryVersion reads the same stored batches at every advertised
// Fetch version, by name and by topic ID, and gets the stored bytes back.
func TestFetchEveryVersion(t *testing.T) {
	b := startBroker(t)
	batches := b.appendBatches("fv", 3, 100)
	var want []byte
	for _, x := range batches {
		want = append(want, x...)
	}
	topic, _ := b.mgr.Topic("fv")
	c := b.raw()
	for v := apis[1].min; v <= apis[1].max; v++ {
		resp := c.do(fetchReq(v, "fv", topic.ID, 0, 1<<20)).(*kmsg.FetchResponse)
		p := resp.Topics[0].Partitions[0]
		if p.ErrorCode != 0 || string(p.RecordBatches) != string(want) || p.HighWatermark != 30 || p.LogStartOffset != 0 && v >= 5 {
			t.Fatalf("v%d: error %d, %d bytes (want %d), hw %d", v, p.ErrorCode, len(p.RecordBatches), len(want), p.HighWatermark)
		}
		// From the middle of the second batch: that whole batch comes first.
		p = c.do(fetchReq(v, "fv", topic.ID, 15, 1<<20)).(*kmsg.FetchResponse).Topics[0].Partitions[0]
		if string(p.RecordBatches) != string(want[len(batches[0]):]) {
			t.Fatalf("v%d from offset 15: %d bytes", v, len(p.RecordBatches))
		}
	}
}

// TestFetchLimits: a partition max smaller than one batch still returns the
// first batch whole (KIP-74), more batches only as they fit, and offsets
// outside the log give OFFSET_OUT_OF_RANGE with the log's bounds.
func TestFetchLimits(t *testing.T) {
	b := startBroker(t)
	batches := b.appendBatches("lim", 4, 1000)
	one := len(batches[0])
	c := b.raw()
	for _, tc := range []struct {
		partMax   int32
		wantBytes int
	}{
		{1, one},
		{int32(one), one},
		{int32(2*one + 1), 2 * one},
		{1 << 20, 4 * one},
	} {
		p := c.do(fetchReq(12, "lim", [16]byte{}, 0, tc.partMax)).(*kmsg.FetchResponse).Topics[0].Partitions[0]
		if len(p.RecordBatches) != tc.wantBytes {
			t.Errorf("partition max %d: %d bytes, want %d", tc.partMax, len(p.RecordBatches), tc.wantBytes)
		}
	}
	for _, off := range []int64{-1, 41, 1000} {
		p := c.do(fetchReq(12, "lim", [16]byte{}, off, 1<<20)).(*kmsg.FetchResponse).Topics[0].Partitions[0]
		// Kafka reports -1 offsets with an error: the client resets with
		// ListOffsets rather than trust them.
		if p.ErrorCode != kerr.OffsetOutOfRange.Code || p.HighWatermark != -1 || p.LogStartOffset != -1 {
			t.Errorf("offset %d: error %d hw %d start %d, want OFFSET_OUT_OF_RANGE and -1", off, p.ErrorCode, p.HighWatermark, p.LogStartOffset)
		}
	}
	// The log end is not out of range: it is where a consumer waits.
	if p := c.do(fetchReq(12, "lim", [16]byte{}, 40, 1<<20)).(*kmsg.FetchResponse).Topics[0].Partitions[0]; p.ErrorCode != 0 || len(p.RecordBatches) != 0 {
		t.Errorf("offset at the end: error %d, %d bytes", p.ErrorCode, len(p.RecordBatches))
	}
	unknown := c.do(fetchReq(12, "nope", [16]byte{}, 0, 1<<20)).(*kmsg.FetchResponse).Topics[0].Partitions[0]
	if unknown.ErrorCode != kerr.UnknownTopicOrPartition.Code {
		t.Errorf("unknown topic: error %d", unknown.ErrorCode)
	}
	byID := c.do(fetchReq(13, "", [16]byte{1}, 0, 1<<20)).(*kmsg.FetchResponse).Topics[0].Partitions[0]
	if byID.ErrorCode != kerr.UnknownTopicID.Code {
		t.Errorf("unknown topic id: error %d", byID.ErrorCode)
	}
}

// TestFetchLongPoll: a fetch at the log end waits up to MaxWait, and an
// append wakes it well before the deadline.
func TestFetchLongPoll(t *testing.T) {
	b := startBroker(t)
	b.appendBatches("lp", 1, 10)
	c := b.raw()
	req := fetchReq(12, "lp", [16]byte{}, 10, 1<<20)
	req.MaxWaitMillis = 300
	start := time.Now()
	if p := c.do(req).(*kmsg.FetchResponse).Topics[0].Partitions[0]; len(p.RecordBatches) != 0 {
		t.Fatalf("empty long poll returned %d bytes", len(p.RecordBatches))
	}
	if waited := time.Since(start); waited < 250*time.Millisecond {
		t.Errorf("long poll with no data returned after %v, want about MaxWait 300ms", waited)
	}

	req.MaxWaitMillis = 20000
	go func() {
		time.Sleep(100 * time.Millisecond)
		b.appendBatches("lp", 1, 10)
	}()
	start = time.Now()
	p := c.do(req).(*kmsg.FetchResponse).Topics[0].Partitions[0]
	if len(p.RecordBatches) == 0 || p.HighWatermark != 20 {
		t.Fatalf("woken fetch: %d bytes hw %d", len(p.RecordBatches), p.HighWatermark)
	}
	if waited := time.Since(start); waited > 10*time.Second {
		t.Errorf("append did not wake the long poll (returned after %v)", waited)
	}

	// MinBytes: one small batch is not enough, the deadline answers with it.
	req.Topics[0].Partitions[0].FetchOffset = 20
	req.MinBytes = 1 << 20
	req.MaxWaitMillis = 200
	go func() {
		time.Sleep(20 * time.Millisecond)
		b.appendBatches("lp", 1, 10)
	}()
	start = time.Now()
	p = c.do(req).(*kmsg.FetchResponse).Topics[0].Partitions[0]
	if len(p.RecordBatches) == 0 {
		t.Errorf("MinBytes not reached: the deadline should still return what there is")
	}
	if time.Since(start) < 150*time.Millisecond {
		t.Errorf("MinBytes not reached but answered after %v", time.Since(start))
	}
}

// TestFetchShutdownAnswersLongPolls: Close does not wait out a long poll.
func TestFetchShutdownAnswersLongPolls(t *testing.T) {
	b := startBroker(t)
	b.appendBatches("sd", 1, 10)
	cl := b.client(kgo.ConsumeTopics("sd"), kgo.ConsumeResetOffset(kgo.NewOffset().AtEnd()), kgo.FetchMaxWait(30*time.Second))
	go cl.PollFetches(testContext(t))
	time.Sleep(200 * time.Millisecond)
	start := time.Now()
	b.stop()
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Close waited %v for a 30s long poll", d)
	}
}
