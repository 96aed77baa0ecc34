package server

// Malformed and hostile input over raw TCP: every case either closes the
// offending connection (a frame the broker cannot trust) or answers with a
// per-partition error (a well-formed request carrying a bad batch), and in
// both cases nothing is stored, other connections keep working and a fresh
// client still produces and consumes.

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	tlog "github.com/tributary-io/tributary/log"
	"github.com/tributary-io/tributary/recordbatch"
)

// Bounds of the raw-connection helpers.
const (
	// probeIOTimeout bounds every write and every wait for a response or a
	// close on a raw connection.
	probeIOTimeout = 10 * time.Second
	// probeMaxResponse bounds a response frame read by the helpers.
	probeMaxResponse = 64 << 20
	// probeClientID is the client id of every request the helpers format.
	probeClientID = "badinput"
)

// probeConn is a plain TCP connection to the broker for hand-made frames.
type probeConn struct {
	t    testing.TB // the test that fails when the connection misbehaves
	nc   *net.TCPConn
	corr *int32 // last correlation id used, shared by copies from on
}

func dialProbe(t testing.TB, addr string) *probeConn {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, probeIOTimeout)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	c := &probeConn{t: t, nc: nc.(*net.TCPConn), corr: new(int32)}
	t.Cleanup(func() { nc.Close() })
	return c
}

// on returns c reporting to t, for a connection opened by a parent test
// and used in a subtest.
func (c *probeConn) on(t testing.TB) *probeConn {
	cc := *c
	cc.t = t
	return &cc
}

// send writes b. A write error is only logged: the broker may already have
// closed the connection on an earlier byte, and the caller's read decides.
func (c *probeConn) send(b []byte) {
	c.t.Helper()
	c.nc.SetWriteDeadline(time.Now().Add(probeIOTimeout))
	if _, err := c.nc.Write(b); err != nil {
		c.t.Logf("write %d bytes: %v", len(b), err)
	}
}

// nextCorr returns a fresh correlation id.
func (c *probeConn) nextCorr() int32 {
	*c.corr++
	return *c.corr
}

// probeRequest is req with its size prefix and request header, as a
// client sends it.
func probeRequest(req kmsg.Request, corr int32) []byte {
	return kmsg.NewRequestFormatter(kmsg.FormatterClientID(probeClientID)).AppendRequest(nil, req, corr)
}

// probeHeader encodes a request header by hand, for keys and versions
// kmsg does not know: key, version, correlation id, client id, and the
// empty tag buffer of flexible versions when flexible.
func probeHeader(key, version int16, corr int32, flexible bool) []byte {
	b := kbin.AppendInt16(nil, key)
	b = kbin.AppendInt16(b, version)
	b = kbin.AppendInt32(b, corr)
	b = kbin.AppendString(b, probeClientID)
	if flexible {
		b = append(b, 0)
	}
	return b
}

// probeFrame returns parts joined behind their total length.
func probeFrame(parts ...[]byte) []byte {
	var body []byte
	for _, p := range parts {
		body = append(body, p...)
	}
	return append(binary.BigEndian.AppendUint32(nil, uint32(len(body))), body...)
}

// readFrame reads one response frame and checks its correlation id; it
// returns what follows the correlation id.
func (c *probeConn) readFrame(corr int32) []byte {
	c.t.Helper()
	c.nc.SetReadDeadline(time.Now().Add(probeIOTimeout))
	var size [4]byte
	if _, err := io.ReadFull(c.nc, size[:]); err != nil {
		c.t.Fatalf("read response size (correlation id %d): %v", corr, err)
	}
	n := int32(binary.BigEndian.Uint32(size[:]))
	if n < 4 || n > probeMaxResponse {
		c.t.Fatalf("response size %d out of range", n)
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(c.nc, b); err != nil {
		c.t.Fatalf("read %d-byte response: %v", n, err)
	}
	if got := int32(binary.BigEndian.Uint32(b)); got != corr {
		c.t.Fatalf("response correlation id %d, want %d", got, corr)
	}
	return b[4:]
}

// roundTrip sends req and decodes its response.
func (c *probeConn) roundTrip(req kmsg.Request) kmsg.Response {
	c.t.Helper()
	corr := c.nextCorr()
	c.send(probeRequest(req, corr))
	body := c.readFrame(corr)
	resp := req.ResponseKind()
	resp.SetVersion(req.GetVersion())
	if resp.IsFlexible() && req.Key() != apiVersionsKey {
		// Response header v1: tagged fields after the correlation id.
		r := kbin.Reader{Src: body}
		kmsg.SkipTags(&r)
		if !r.Ok() {
			c.t.Fatalf("%s: bad response header tags", kmsg.NameForKey(req.Key()))
		}
		body = r.Src
	}
	if err := resp.ReadFrom(body); err != nil {
		c.t.Fatalf("decode %s v%d response: %v", kmsg.NameForKey(req.Key()), req.GetVersion(), err)
	}
	return resp
}

// apiVersions checks that the connection still answers a request.
func (c *probeConn) apiVersions() *kmsg.ApiVersionsResponse {
	c.t.Helper()
	req := kmsg.NewPtrApiVersionsRequest()
	req.Version = 3
	req.ClientSoftwareName = "tributary-test"
	req.ClientSoftwareVersion = "1"
	resp := c.roundTrip(req).(*kmsg.ApiVersionsResponse)
	if resp.ErrorCode != 0 || len(resp.ApiKeys) == 0 {
		c.t.Fatalf("ApiVersions: error %d with %d keys", resp.ErrorCode, len(resp.ApiKeys))
	}
	return resp
}

// expectClosed waits for the broker to close the connection without
// answering: a read must end in EOF or a reset, with no byte read.
func (c *probeConn) expectClosed() {
	c.t.Helper()
	c.nc.SetReadDeadline(time.Now().Add(probeIOTimeout))
	got, err := io.ReadAll(c.nc)
	var ne net.Error
	switch {
	case errors.As(err, &ne) && ne.Timeout():
		c.t.Fatalf("connection still open %v after the bad input (read %d bytes)", probeIOTimeout, len(got))
	case len(got) > 0:
		c.t.Fatalf("broker answered %d bytes (% x...) instead of closing the connection", len(got), got[:min(len(got), 16)])
	}
	// err == nil is EOF; anything else (a reset) is a close too.
}

// probeEnds returns the next offset of every partition of topic.
func probeEnds(t testing.TB, b *testBroker, topic string) []int64 {
	t.Helper()
	tp, ok := b.mgr.Topic(topic)
	if !ok {
		t.Fatalf("topic %q missing", topic)
	}
	ends := make([]int64, len(tp.Partitions))
	for i, l := range tp.Partitions {
		ends[i] = l.NextOffset()
	}
	return ends
}

func probeCheckEnds(t testing.TB, b *testBroker, topic string, want []int64) {
	t.Helper()
	if got := probeEnds(t, b, topic); !slices.Equal(got, want) {
		t.Fatalf("log end offsets of %q changed: %v, want %v", topic, got, want)
	}
}

// probeHealthy produces one record to partition 0 of topic with a fresh
// franz-go client and reads it back with another.
func probeHealthy(t *testing.T, b *testBroker, topic string) {
	t.Helper()
	ctx := testContext(t)
	prod, err := kgo.NewClient(kgo.SeedBrokers(b.addr), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	value := fmt.Sprintf("healthy-%s-%d", t.Name(), time.Now().UnixNano())
	rec := &kgo.Record{Topic: topic, Partition: 0, Value: []byte(value)}
	if err := prod.ProduceSync(ctx, rec).FirstErr(); err != nil {
		t.Fatalf("fresh client cannot produce after bad input: %v", err)
	}
	cons, err := kgo.NewClient(kgo.SeedBrokers(b.addr),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().At(rec.Offset)}}),
		kgo.FetchMaxWait(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	got := consumeN(t, cons, 1)
	if got[0].Offset != rec.Offset || string(got[0].Value) != value {
		t.Fatalf("fresh client read offset %d %q, want offset %d %q", got[0].Offset, got[0].Value, rec.Offset, value)
	}
}

// probeBatch is a valid uncompressed batch of n records with current
// timestamps (old ones could meet retention).
func probeBatch(n, valueSize int) []byte {
	return recordbatch.Build(n, valueSize, time.Now().UnixMilli())
}

// probeProduce asks to append one records blob per partition, in order,
// to topic.
func probeProduce(version int16, topic string, records ...[]byte) *kmsg.ProduceRequest {
	req := kmsg.NewPtrProduceRequest()
	req.Version = version
	req.Acks = -1
	req.TimeoutMillis = 5000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	for p, r := range records {
		rp := kmsg.NewProduceRequestTopicPartition()
		rp.Partition = int32(p)
		rp.Records = r
		rt.Partitions = append(rt.Partitions, rp)
	}
	req.Topics = append(req.Topics, rt)
	return req
}

const probeTopic = "bad-input"

func startProbeBroker(t *testing.T, opts ...brokerOpt) *testBroker {
	t.Helper()
	b := startBroker(t, opts...)
	if _, err := b.mgr.CreateTopic(probeTopic, 2, nil); err != nil {
		t.Fatalf("create topic: %v", err)
	}
	// Something stored already, so "nothing appended" is checked against a
	// non-empty log.
	pre := probeProduce(7, probeTopic, probeBatch(3, 10), probeBatch(2, 10))
	c := dialProbe(t, b.addr)
	resp := c.roundTrip(pre).(*kmsg.ProduceResponse)
	for _, p := range resp.Topics[0].Partitions {
		if p.ErrorCode != 0 {
			t.Fatalf("seed produce to partition %d: %v", p.Partition, kerr.ErrorForCode(p.ErrorCode))
		}
	}
	probeCheckEnds(t, b, probeTopic, []int64{3, 2})
	return b
}

// TestBadInputClosesConnection sends frames the broker cannot trust. Each
// must close that connection without an answer, leave the logs untouched,
// leave an unrelated connection working and let a fresh client produce.
func TestBadInputClosesConnection(t *testing.T) {
	b := startProbeBroker(t)
	bystander := dialProbe(t, b.addr)
	bystander.apiVersions()

	produceV7 := func() []byte {
		return probeRequest(probeProduce(7, probeTopic, probeBatch(1, 10)), 1)
	}
	// A Produce v7 body with no topics ends in the topic array count:
	// transactional id (null), acks, timeout, count.
	noTopicsV7 := func() []byte {
		r := probeProduce(7, probeTopic)
		r.Topics = nil
		return r.AppendTo(nil)
	}

	cases := []struct {
		name string
		send func(c *probeConn)
	}{
		{"http request", func(c *probeConn) {
			// "GET " read as a size is ~1.1 GB.
			c.send([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
		}},
		{"garbage bytes", func(c *probeConn) {
			c.send([]byte{0xde, 0xad, 0xbe, 0xef, 0x01, 0x02, 0x03, 0x04, 0xff, 0xff, 0xff, 0xff, 0x00})
		}},
		{"size 2GiB", func(c *probeConn) {
			c.send(binary.BigEndian.AppendUint32(nil, 0x7fffffff))
			c.send(make([]byte, 64))
		}},
		{"size just over socket.request.max.bytes", func(c *probeConn) {
			c.send(binary.BigEndian.AppendUint32(nil, DefaultSocketRequestMaxBytes+1))
			c.send(make([]byte, 64))
		}},
		{"size -1", func(c *probeConn) {
			c.send([]byte{0xff, 0xff, 0xff, 0xff, 0, 18, 0, 0})
		}},
		{"size min int32", func(c *probeConn) {
			c.send([]byte{0x80, 0, 0, 0, 0, 18, 0, 0})
		}},
		{"size 0", func(c *probeConn) {
			c.send([]byte{0, 0, 0, 0})
			c.send(probeRequest(kmsg.NewPtrApiVersionsRequest(), 2))
		}},
		{"size below header", func(c *probeConn) {
			// 9 bytes: one short of key, version, correlation id, client id length.
			c.send(probeFrame([]byte{0, 18, 0, 0, 0, 0, 0, 1, 0}))
		}},
		{"client id past frame end", func(c *probeConn) {
			h := probeHeader(apiVersionsKey, 0, 1, false)[:8]
			c.send(probeFrame(h, []byte{0, 50, 'a', 'b'}))
		}},
		{"truncated frame then EOF", func(c *probeConn) {
			c.send(binary.BigEndian.AppendUint32(nil, 100))
			c.send(produceV7()[4:14])
			c.nc.CloseWrite()
		}},
		{"unknown api key 9999", func(c *probeConn) {
			c.send(probeFrame(probeHeader(9999, 0, 1, false)))
		}},
		{"negative api key", func(c *probeConn) {
			c.send(probeFrame(probeHeader(-1, 0, 1, false)))
		}},
		{"api key kmsg knows but broker does not serve", func(c *probeConn) {
			// EndTxn (26): transactions are not served.
			req := kmsg.NewPtrEndTxnRequest()
			req.TransactionalID = "t"
			c.send(probeRequest(req, 1))
		}},
		{"produce v99", func(c *probeConn) {
			b := produceV7()
			binary.BigEndian.PutUint16(b[6:], 99)
			c.send(b)
		}},
		{"produce v2 (message sets)", func(c *probeConn) {
			b := produceV7()
			binary.BigEndian.PutUint16(b[6:], 2)
			c.send(b)
		}},
		{"produce negative version", func(c *probeConn) {
			b := produceV7()
			binary.BigEndian.PutUint16(b[6:], 0xffff)
			c.send(b)
		}},
		{"produce topic count 2^31-1", func(c *probeConn) {
			body := noTopicsV7()
			binary.BigEndian.PutUint32(body[len(body)-4:], 0x7fffffff)
			c.send(probeFrame(probeHeader(0, 7, 1, false), body, []byte{0, 1, 'x'}))
		}},
		{"produce topic name longer than frame", func(c *probeConn) {
			body := noTopicsV7()
			binary.BigEndian.PutUint32(body[len(body)-4:], 1)
			body = append(body, 0x7f, 0xff, 'b', 'a', 'd')
			c.send(probeFrame(probeHeader(0, 7, 1, false), body))
		}},
		{"produce partition count 2^31-1", func(c *probeConn) {
			body := noTopicsV7()
			binary.BigEndian.PutUint32(body[len(body)-4:], 1)
			body = kbin.AppendString(body, probeTopic)
			body = kbin.AppendInt32(body, 0x7fffffff)
			body = kbin.AppendInt32(body, 0)
			c.send(probeFrame(probeHeader(0, 7, 1, false), body))
		}},
		{"produce records longer than frame", func(c *probeConn) {
			full := probeProduce(7, probeTopic, probeBatch(5, 100)).AppendTo(nil)
			// Cut inside the records: their length says more than is left.
			c.send(probeFrame(probeHeader(0, 7, 1, false), full[:len(full)-200]))
		}},
		{"produce v9 compact topic count huge", func(c *probeConn) {
			// transactional id null (compact: 0), acks -1, timeout,
			// topics: uvarint 2^31-1 meaning 2^31-2 entries.
			body := []byte{0, 0xff, 0xff, 0, 0, 0x13, 0x88, 0xff, 0xff, 0xff, 0xff, 0x07, 0}
			c.send(probeFrame(probeHeader(0, 9, 1, true), body))
		}},
		{"produce v9 uvarint overflow", func(c *probeConn) {
			body := []byte{0, 0xff, 0xff, 0, 0, 0x13, 0x88}
			body = append(body, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01)
			c.send(probeFrame(probeHeader(0, 9, 1, true), body))
		}},
		{"produce v9 header tags cut short", func(c *probeConn) {
			h := probeHeader(0, 9, 1, false)
			// One tag announced, with a length past the end.
			c.send(probeFrame(h, []byte{1, 0, 0x7f}))
		}},
		{"metadata topic count 2^31-1", func(c *probeConn) {
			c.send(probeFrame(probeHeader(3, 1, 1, false), []byte{0x7f, 0xff, 0xff, 0xff, 0, 1, 'x'}))
		}},
		{"fetch v4 topics cut short", func(c *probeConn) {
			req := kmsg.NewPtrFetchRequest()
			req.Version = 4
			rt := kmsg.NewFetchRequestTopic()
			rt.Topic = probeTopic
			rt.Partitions = []kmsg.FetchRequestTopicPartition{kmsg.NewFetchRequestTopicPartition()}
			req.Topics = append(req.Topics, rt)
			body := req.AppendTo(nil)
			c.send(probeFrame(probeHeader(1, 4, 1, false), body[:len(body)-6]))
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := probeEnds(t, b, probeTopic)
			c := dialProbe(t, b.addr)
			tc.send(c)
			c.expectClosed()
			probeCheckEnds(t, b, probeTopic, before)
			bystander.on(t).apiVersions()
			probeHealthy(t, b, probeTopic)
		})
	}
}

// TestBadInputStalledFrame: a client that sends part of a frame and then
// nothing is cut off after connections.max.idle.ms instead of holding a
// connection (and its buffer) forever.
func TestBadInputStalledFrame(t *testing.T) {
	const idle = 300 * time.Millisecond
	b := startProbeBroker(t, func(c *Config) { c.ConnectionsMaxIdle = idle })
	before := probeEnds(t, b, probeTopic)
	c := dialProbe(t, b.addr)
	frame := probeRequest(probeProduce(7, probeTopic, probeBatch(1, 10)), 1)
	start := time.Now()
	c.send(frame[:14])
	c.expectClosed()
	if waited := time.Since(start); waited < idle/2 {
		t.Fatalf("closed after %v, before connections.max.idle.ms=%v", waited, idle)
	}
	probeCheckEnds(t, b, probeTopic, before)
	probeHealthy(t, b, probeTopic)
}

// TestBadInputApiVersionsUnknownVersion: an ApiVersions request of a
// version the broker does not know gets a v0 response with
// UNSUPPORTED_VERSION and the broker's ranges, and the connection stays
// open for the client's retry.
func TestBadInputApiVersionsUnknownVersion(t *testing.T) {
	b := startProbeBroker(t)
	for _, v := range []int16{5, 99, 0x7fff} {
		t.Run(fmt.Sprintf("v%d", v), func(t *testing.T) {
			c := dialProbe(t, b.addr)
			corr := c.nextCorr()
			// A future version's body is unknown: send v3's, flexible.
			body := []byte{5, 'x', 'y', 'z', 'w', 2, '1', 0}
			c.send(probeFrame(probeHeader(apiVersionsKey, v, corr, true), body))
			resp := kmsg.NewPtrApiVersionsResponse()
			resp.Version = 0
			if err := resp.ReadFrom(c.readFrame(corr)); err != nil {
				t.Fatalf("decode v0 ApiVersions response: %v", err)
			}
			if resp.ErrorCode != kerr.UnsupportedVersion.Code {
				t.Fatalf("error code %d, want UNSUPPORTED_VERSION (%d)", resp.ErrorCode, kerr.UnsupportedVersion.Code)
			}
			want := map[int16]bool{0: true, 1: true, 2: true, 3: true, apiVersionsKey: true}
			for _, k := range resp.ApiKeys {
				a := lookupAPI(k.ApiKey)
				if a == nil || a.min != k.MinVersion || a.max != k.MaxVersion {
					t.Errorf("advertised key %d v%d-%d does not match the served table", k.ApiKey, k.MinVersion, k.MaxVersion)
				}
				delete(want, k.ApiKey)
			}
			if len(want) > 0 {
				t.Errorf("keys missing from the ranges: %v", want)
			}
			c.apiVersions() // the retry on the same connection
		})
	}
}

// TestBadInputProduceBatches sends well-formed Produce requests whose
// batch in partition 0 is bad, next to a good batch in partition 1. The bad
// partition gets its error code and stores nothing, the good one is
// appended, and the connection stays open.
func TestBadInputProduceBatches(t *testing.T) {
	b := startProbeBroker(t)
	flip := func(pos int) func() []byte {
		return func() []byte {
			batch := probeBatch(4, 20)
			batch[pos] ^= 0x40
			return batch
		}
	}
	cases := []struct {
		name  string
		batch func() []byte
		want  *kerr.Error
	}{
		{"probeFlip byte in a record", flip(recordbatch.HeaderSize + 5), kerr.CorruptMessage},
		{"probeFlip byte in the last record", func() []byte {
			batch := probeBatch(4, 20)
			batch[len(batch)-2] ^= 0x01
			return batch
		}, kerr.CorruptMessage},
		{"probeFlip attributes", flip(recordbatch.AttributesPos + 1), kerr.CorruptMessage},
		{"probeFlip crc", flip(recordbatch.CRCPos), kerr.CorruptMessage},
		{"probeFlip max timestamp", flip(recordbatch.MaxTimestampPos + 7), kerr.CorruptMessage},
		{"magic 1", func() []byte {
			batch := probeBatch(4, 20)
			batch[recordbatch.MagicPos] = 1
			return batch
		}, kerr.CorruptMessage},
		{"batch length past the records", func() []byte {
			batch := probeBatch(4, 20)
			return batch[:len(batch)-10]
		}, kerr.CorruptMessage},
		{"shorter than a batch header", func() []byte {
			return probeBatch(4, 20)[:recordbatch.HeaderSize-1]
		}, kerr.CorruptMessage},
		// The header is consistent and the CRC right, but the records
		// are not what it announces. Kafka walks the records of a
		// client's batch and answers INVALID_RECORD.
		{"record count above the records", recount(5, 4), kerr.InvalidRecord},
		{"record count below the records", recount(3, 2), kerr.InvalidRecord},
		{"offset delta gap", recount(4, 5), kerr.InvalidRecord},
		{"larger than max.message.bytes", func() []byte {
			return probeBatch(2, tlog.DefaultMaxMessageBytes/2+10)
		}, kerr.MessageTooLarge},
		{"two batches", func() []byte {
			return append(probeBatch(2, 10), probeBatch(3, 10)...)
		}, kerr.InvalidRecord},
	}
	for _, tc := range cases {
		for _, version := range []int16{3, 7, 9, 12} {
			t.Run(fmt.Sprintf("%s/v%d", tc.name, version), func(t *testing.T) {
				before := probeEnds(t, b, probeTopic)
				c := dialProbe(t, b.addr)
				resp := c.roundTrip(probeProduce(version, probeTopic, tc.batch(), probeBatch(2, 10))).(*kmsg.ProduceResponse)
				if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 2 {
					t.Fatalf("response has %d topics, want 1 with 2 partitions", len(resp.Topics))
				}
				ps := resp.Topics[0].Partitions
				if ps[0].Partition != 0 || ps[0].ErrorCode != tc.want.Code {
					t.Errorf("partition %d: error %v, want %v", ps[0].Partition, kerr.ErrorForCode(ps[0].ErrorCode), tc.want)
				}
				if ps[1].Partition != 1 || ps[1].ErrorCode != 0 || ps[1].BaseOffset != before[1] {
					t.Errorf("good partition %d: error %v base offset %d, want no error at %d",
						ps[1].Partition, kerr.ErrorForCode(ps[1].ErrorCode), ps[1].BaseOffset, before[1])
				}
				probeCheckEnds(t, b, probeTopic, []int64{before[0], before[1] + 2})
				c.apiVersions() // still open
				probeHealthy(t, b, probeTopic)
			})
		}
	}
}

// TestBadInputProduceTargets: requests naming what does not exist or
// asking the impossible get per-partition errors, not a close.
func TestBadInputProduceTargets(t *testing.T) {
	b := startProbeBroker(t, func(c *Config) { c.AutoCreateTopics = false })
	before := probeEnds(t, b, probeTopic)
	c := dialProbe(t, b.addr)

	unknown := c.roundTrip(probeProduce(7, "no-such-topic", probeBatch(1, 10))).(*kmsg.ProduceResponse)
	if code := unknown.Topics[0].Partitions[0].ErrorCode; code != kerr.UnknownTopicOrPartition.Code {
		t.Errorf("unknown topic: %v, want UNKNOWN_TOPIC_OR_PARTITION", kerr.ErrorForCode(code))
	}
	if _, ok := b.mgr.Topic("no-such-topic"); ok {
		t.Errorf("produce created a topic with auto.create.topics.enable=false")
	}

	req := probeProduce(7, probeTopic, probeBatch(1, 10))
	req.Topics[0].Partitions[0].Partition = 7
	if code := c.roundTrip(req).(*kmsg.ProduceResponse).Topics[0].Partitions[0].ErrorCode; code != kerr.UnknownTopicOrPartition.Code {
		t.Errorf("partition 7 of a 2-partition topic: %v, want UNKNOWN_TOPIC_OR_PARTITION", kerr.ErrorForCode(code))
	}

	req = probeProduce(7, probeTopic, probeBatch(1, 10))
	req.Acks = 2
	if code := c.roundTrip(req).(*kmsg.ProduceResponse).Topics[0].Partitions[0].ErrorCode; code != kerr.InvalidRequiredAcks.Code {
		t.Errorf("acks=2: %v, want INVALID_REQUIRED_ACKS", kerr.ErrorForCode(code))
	}

	req = probeProduce(13, probeTopic, probeBatch(1, 10))
	req.Topics[0].Topic = ""
	req.Topics[0].TopicID = [16]byte{1, 2, 3}
	if code := c.roundTrip(req).(*kmsg.ProduceResponse).Topics[0].Partitions[0].ErrorCode; code != kerr.UnknownTopicID.Code {
		t.Errorf("v13 unknown topic id: %v, want UNKNOWN_TOPIC_ID", kerr.ErrorForCode(code))
	}

	probeCheckEnds(t, b, probeTopic, before)
	c.apiVersions()

	// acks=0 has no response to carry the error: the broker closes the
	// connection so the producer notices, and stores nothing.
	req = probeProduce(7, probeTopic, probeFlip(probeBatch(3, 10), recordbatch.HeaderSize+3))
	req.Acks = 0
	c.send(probeRequest(req, c.nextCorr()))
	c.expectClosed()
	probeCheckEnds(t, b, probeTopic, before)
	probeHealthy(t, b, probeTopic)
}

// recount returns a valid 4-record batch rewritten to claim count records
// and lastOffsetDelta delta, with its CRC recomputed.
func recount(count, delta int32) func() []byte {
	return func() []byte {
		batch := probeBatch(4, 20)
		binary.BigEndian.PutUint32(batch[recordbatch.RecordCountPos:], uint32(count))
		binary.BigEndian.PutUint32(batch[recordbatch.LastOffsetDeltaPos:], uint32(delta))
		recordbatch.SetCRC(batch)
		return batch
	}
}

func probeFlip(batch []byte, pos int) []byte {
	batch[pos] ^= 0x40
	return batch
}

// TestBadInputAllocationBounded: a request whose array counts are as large
// as its frame allows must not make the broker allocate much more than the
// frame. kmsg only checks a count against the bytes left times a minimal
// element size (2 bytes for a topic) and then allocates every element
// struct (tens of bytes each) before decoding any, so without a guard in
// the broker a frame of socket.request.max.bytes (100 MiB) costs gigabytes
// of heap, once per connection.
func TestBadInputAllocationBounded(t *testing.T) {
	b := startProbeBroker(t)
	// frameSize is over maxNonProduceRequestBytes: every API but Produce
	// is refused before anything is allocated for the frame. Produce is
	// decoded by kmsg, which allocates an array's elements (tens of bytes
	// each) for a count bounded only by the bytes left, so a lying Produce
	// costs a bounded multiple of its frame (documented in config.go; the
	// request budget bounds how many such frames are in memory at once).
	const frameSize = 4 << 20
	cases := []struct {
		name    string
		key     int16
		version int16
		prefix  []byte // body fields before the huge array count
		minElem int    // the element size kmsg assumes when checking the count
		// maxAmplification bounds the bytes allocated while handling the
		// frame, as a multiple of its size (the race detector doubles it).
		maxAmplification uint64
	}{
		// transactional id null, acks -1, timeout, then topics.
		{"produce v7 topics", 0, 7, []byte{0xff, 0xff, 0xff, 0xff, 0, 0, 0x13, 0x88}, 2, 80},
		// replica id, max wait, min bytes, max bytes, isolation, then topics.
		{"fetch v4 topics", 1, 4, []byte{0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0x10, 0, 0, 0}, 2, 1},
		{"metadata v1 topics", 3, 1, nil, 2, 1},
		// replica id, isolation level, then topics.
		{"list offsets v2 topics", 2, 2, []byte{0xff, 0xff, 0xff, 0xff, 0}, 3, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := probeEnds(t, b, probeTopic)
			hdr := probeHeader(tc.key, tc.version, 1, false)
			rest := frameSize - 4 - len(hdr) - len(tc.prefix) - 4
			body := append(bytes.Clone(tc.prefix), binary.BigEndian.AppendUint32(nil, uint32(rest/tc.minElem))...)
			tail := make([]byte, rest)
			// The last element's string runs past the end, so decoding
			// fails after the arrays were allocated whatever the API.
			binary.BigEndian.PutUint16(tail[len(tail)-2:], 0x7fff)
			frame := probeFrame(hdr, body, tail)

			var m0, m1 runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&m0)
			c := dialProbe(t, b.addr)
			c.send(frame)
			c.expectClosed()
			runtime.ReadMemStats(&m1)
			t.Logf("%s: %d MiB allocated for a %d MiB frame", tc.name, (m1.TotalAlloc-m0.TotalAlloc)>>20, len(frame)>>20)
			if alloc := m1.TotalAlloc - m0.TotalAlloc; alloc > tc.maxAmplification*uint64(len(frame)) {
				t.Errorf("a %d MiB frame made the process allocate %d MiB (over %dx)", len(frame)>>20, alloc>>20, tc.maxAmplification)
			}
			probeCheckEnds(t, b, probeTopic, before)
		})
	}
	probeHealthy(t, b, probeTopic)
}

// TestBadInputManyConnections: a burst of bad connections, closed by the
// broker as they come, leaves it serving.
func TestBadInputManyConnections(t *testing.T) {
	b := startProbeBroker(t)
	before := probeEnds(t, b, probeTopic)
	const n = 64
	conns := make([]*probeConn, n)
	for i := range conns {
		conns[i] = dialProbe(t, b.addr)
		conns[i].send(binary.BigEndian.AppendUint32(nil, uint32(0x7fff0000+i)))
	}
	for _, c := range conns {
		c.expectClosed()
	}
	probeCheckEnds(t, b, probeTopic, before)
	probeHealthy(t, b, probeTopic)
}
