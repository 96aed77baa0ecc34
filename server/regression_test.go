package server

// Review tests: each one demonstrates a defect found in review and fails
// until it is fixed.

import (
	"encoding/binary"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/tributary-io/tributary/recordbatch"
)

// roundTripWithin sends req on a fresh connection and waits up to timeout
// for its response; it reports whether one arrived.
func roundTripWithin(t *testing.T, addr string, req kmsg.Request, timeout time.Duration) (kmsg.Response, bool) {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	frame := kmsg.NewRequestFormatter(kmsg.FormatterClientID("review")).AppendRequest(nil, req, 1)
	nc.SetDeadline(time.Now().Add(timeout))
	if _, err := nc.Write(frame); err != nil {
		t.Fatalf("write: %v", err)
	}
	var size [4]byte
	if _, err := io.ReadFull(nc, size[:]); err != nil {
		return nil, false
	}
	body := make([]byte, binary.BigEndian.Uint32(size[:]))
	if _, err := io.ReadFull(nc, body); err != nil {
		return nil, false
	}
	resp := req.ResponseKind()
	resp.SetVersion(req.GetVersion())
	body = body[4:]
	if resp.IsFlexible() && req.Key() != apiVersionsKey {
		body = body[1:]
	}
	if err := resp.ReadFrom(body); err != nil {
		t.Fatalf("decode: %v", err)
	}
	return resp, true
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// TestFetchBelowMinBytesSleeps: a long poll that has some data but less
// than MinBytes sleeps until an append or MaxWait. It used to compare the
// log end with the request's fetch offset, always behind when data exists,
// and re-read every partition in a tight loop for the whole MaxWait.
func TestFetchBelowMinBytesSleeps(t *testing.T) {
	b := startBroker(t)
	b.appendBatches("spin", 1, 10)
	c := b.raw()
	req := fetchReq(12, "spin", [16]byte{}, 0, 1<<20)
	req.MinBytes = 1 << 20
	req.MaxWaitMillis = 1000
	time.Sleep(100 * time.Millisecond) // let startup settle
	cpu0, wall0 := cpuTime(), time.Now()
	p := c.do(req).(*kmsg.FetchResponse).Topics[0].Partitions[0]
	cpu, wall := cpuTime()-cpu0, time.Since(wall0)
	if len(p.RecordBatches) == 0 {
		t.Fatalf("no records returned")
	}
	t.Logf("long poll of %v used %v of CPU", wall, cpu)
	if cpu > wall/3 {
		t.Errorf("a waiting fetch used %v of CPU over %v: it busy-loops instead of waiting for an append", cpu, wall)
	}
}

// TestFetchOfManyPartitionsKeepsBrokerUp: a long poll used to select on one
// channel per requested partition, and reflect.Select panics above 65536
// cases, which killed the broker process. A Fetch v4 naming one existing partition
// 65600 times is ~1 MiB, under the 2 MiB non-Produce cap. The broker runs
// in a child process so the crash does not take the test binary down.
func TestFetchOfManyPartitionsKeepsBrokerUp(t *testing.T) {
	if os.Getenv("TRIBUTARY_TEST_FETCH_CHILD") == "1" {
		b := startBroker(t)
		if _, err := b.mgr.CreateTopic("many", 1, nil); err != nil {
			t.Fatal(err)
		}
		req := kmsg.NewPtrFetchRequest()
		req.Version = 4
		req.MaxWaitMillis = 500
		req.MinBytes = 1
		req.MaxBytes = 1 << 20
		rt := kmsg.NewFetchRequestTopic()
		rt.Topic = "many"
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.PartitionMaxBytes = 1 << 10
		for range 65600 {
			rt.Partitions = append(rt.Partitions, rp)
		}
		req.Topics = append(req.Topics, rt)
		if _, ok := roundTripWithin(t, b.addr, req, 10*time.Second); !ok {
			t.Fatal("no response")
		}
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestFetchOfManyPartitionsKeepsBrokerUp$", "-test.count=1")
	cmd.Env = append(os.Environ(), "TRIBUTARY_TEST_FETCH_CHILD=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		msg := string(out)
		if i := strings.Index(msg, "panic:"); i >= 0 {
			msg = msg[i:min(len(msg), i+300)]
		}
		t.Fatalf("broker process died on a 1 MiB Fetch naming a partition 65600 times: %v\n%s", err, msg)
	}
}

// TestStalledRequestBodyBlocksNobody: three connections that each send only
// a 100 MiB Produce size prefix and stall do not make other clients wait.
// The frame's size used to be taken from queued.max.request.bytes before the
// body arrived, so they exhausted it and every other request, even an
// 18-byte ApiVersions, waited behind them for connections.max.idle.ms.
func TestStalledRequestBodyBlocksNobody(t *testing.T) {
	b := startBroker(t)
	for range 3 {
		nc, err := net.Dial("tcp", b.addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { nc.Close() })
		hdr := binary.BigEndian.AppendUint32(nil, DefaultSocketRequestMaxBytes)
		hdr = binary.BigEndian.AppendUint16(hdr, produceKey)
		if _, err := nc.Write(hdr); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(200 * time.Millisecond)
	req := kmsg.NewPtrApiVersionsRequest()
	req.Version = 0
	if _, ok := roundTripWithin(t, b.addr, req, 3*time.Second); !ok {
		t.Errorf("ApiVersions from an unrelated client not answered within 3s: three 6-byte stalled frames hold the whole request budget")
	}
	// Unblock the broker so Close does not wait for the idle timeout.
	b.srv.Close()
}

// TestLongPollReleasesRequestBudget: a Fetch long poll gives its frame's
// share of queued.max.request.bytes back once decoded, as Kafka releases a
// request's buffer when the fetch is parked; it used to hold it for all of
// MaxWaitMillis (client-chosen), so 128 connections sending 2 MiB fetches
// could stop the broker reading anything else. Shown with a 1 KiB budget
// and one ~1 KiB fetch.
func TestLongPollReleasesRequestBudget(t *testing.T) {
	b := startBroker(t, func(c *Config) {
		c.SocketRequestMaxBytes = 1024
		c.QueuedMaxRequestBytes = 1024
	})
	if _, err := b.mgr.CreateTopic("lp", 1, nil); err != nil {
		t.Fatal(err)
	}
	fetch := kmsg.NewPtrFetchRequest()
	fetch.Version = 4
	fetch.MaxWaitMillis = 5000
	fetch.MinBytes = 1
	fetch.MaxBytes = 1 << 20
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic = "lp"
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.PartitionMaxBytes = 1 << 10
	for range 61 {
		rt.Partitions = append(rt.Partitions, rp)
	}
	fetch.Topics = append(fetch.Topics, rt)
	frame := kmsg.NewRequestFormatter(kmsg.FormatterClientID("review")).AppendRequest(nil, fetch, 1)
	if len(frame)-4 > 1024 || len(frame)-4 < 900 {
		t.Fatalf("fetch frame is %d bytes; adjust the partition count", len(frame)-4)
	}
	nc, err := net.Dial("tcp", b.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if _, err := nc.Write(frame); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	// A 200-byte Metadata request from another client.
	md := kmsg.NewPtrMetadataRequest()
	md.Version = 1
	for _, n := range []string{strings.Repeat("a", 100), strings.Repeat("b", 100)} {
		mt := kmsg.NewMetadataRequestTopic()
		mt.Topic = kmsg.StringPtr(n)
		md.Topics = append(md.Topics, mt)
	}
	start := time.Now()
	_, ok := roundTripWithin(t, b.addr, md, 3*time.Second)
	if !ok || time.Since(start) > 2*time.Second {
		t.Errorf("Metadata from another client waited %v (answered: %v) behind an idle long poll holding the request budget", time.Since(start), ok)
	}
}

// TestFetchNeverReturnsRecordsPastHighWatermark: Kafka never returns
// records at or past the high watermark it reports (read_committed clients
// treat records at or past the LSO as not yet stable). The high watermark
// used to be loaded before the read, so an append landing in between was
// returned with a high watermark below its offsets.
func TestFetchNeverReturnsRecordsPastHighWatermark(t *testing.T) {
	b := startBroker(t)
	b.appendBatches("hw", 1, 10)
	l, _ := b.mgr.Partition("hw", 0)
	var stop atomic.Bool
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for !stop.Load() {
			if _, err := l.Append(recordbatch.Build(1, 10, time.Now().UnixMilli())); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	defer func() { stop.Store(true); wg.Wait() }()
	c := b.raw()
	deadline := time.Now().Add(10 * time.Second)
	for n := 0; time.Now().Before(deadline); n++ {
		off := l.NextOffset()
		p := c.do(fetchReq(4, "hw", [16]byte{}, off, 1<<20)).(*kmsg.FetchResponse).Topics[0].Partitions[0]
		if p.ErrorCode != 0 {
			continue
		}
		recs := p.RecordBatches
		for len(recs) >= recordbatch.HeaderSize {
			h, err := recordbatch.ParseHeader(recs)
			if err != nil || h.Size() > len(recs) {
				break
			}
			if last := h.BaseOffset + int64(h.LastOffsetDelta); last >= p.HighWatermark {
				t.Fatalf("after %d fetches: batch ending at offset %d returned with high watermark %d", n, last, p.HighWatermark)
			}
			recs = recs[h.Size():]
		}
	}
}

// TestUserTopicWithUnderscoresIsNotInternal: Kafka's IsInternal is true only
// for its own internal topics (__consumer_offsets, __transaction_state); a
// user topic named "__events" is not, or kadm.ListTopics and the Java
// AdminClient's listTopics() would hide it. Metadata used to mark every
// "__" name internal.
func TestUserTopicWithUnderscoresIsNotInternal(t *testing.T) {
	b := startBroker(t)
	adm := b.admin()
	ctx := testContext(t)
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, "__events"); err != nil {
		t.Fatalf("create __events: %v", err)
	}
	td, err := adm.ListTopics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !td.Has("__events") {
		t.Errorf("user topic __events missing from ListTopics: Metadata reports it IsInternal")
	}
}

// TestFetchSessionEpochWithoutSession: a sessionless fetch (id 0) with an
// epoch other than 0 or -1 names a session that does not exist.
func TestFetchSessionEpochWithoutSession(t *testing.T) {
	b := startBroker(t)
	b.appendBatches("ep", 1, 10)
	req := fetchReq(12, "ep", [16]byte{}, 0, 1<<20)
	req.SessionEpoch = 3
	if resp := b.raw().do(req).(*kmsg.FetchResponse); resp.ErrorCode != kerr.FetchSessionIDNotFound.Code {
		t.Errorf("session id 0 epoch 3: error %d, want FETCH_SESSION_ID_NOT_FOUND", resp.ErrorCode)
	}
}

// TestMetadataRefusesBadAndInternalNames: an invalid name gets
// INVALID_TOPIC_EXCEPTION with or without auto-creation, and Metadata does
// not auto-create Kafka's internal topics (their owner creates them).
func TestMetadataRefusesBadAndInternalNames(t *testing.T) {
	for _, auto := range []bool{true, false} {
		b := startBroker(t, func(c *Config) { c.AutoCreateTopics = auto })
		req := kmsg.NewPtrMetadataRequest()
		req.Version = 12
		req.AllowAutoTopicCreation = true
		for _, n := range []string{"bad/name", "__consumer_offsets"} {
			rt := kmsg.NewMetadataRequestTopic()
			rt.Topic = kmsg.StringPtr(n)
			req.Topics = append(req.Topics, rt)
		}
		got := b.raw().do(req).(*kmsg.MetadataResponse).Topics
		if got[0].ErrorCode != kerr.InvalidTopicException.Code {
			t.Errorf("auto=%v: invalid name: error %d", auto, got[0].ErrorCode)
		}
		if _, ok := b.mgr.Topic("__consumer_offsets"); ok || got[1].ErrorCode == 0 {
			t.Errorf("auto=%v: __consumer_offsets was auto-created (error %d)", auto, got[1].ErrorCode)
		}
	}
}

// TestInitProducerIDEmptyTransactionalID: "" is a malformed id, not "none".
func TestInitProducerIDEmptyTransactionalID(t *testing.T) {
	b := startBroker(t)
	req := kmsg.NewPtrInitProducerIDRequest()
	req.Version = 4
	req.TransactionalID = kmsg.StringPtr("")
	if resp := b.raw().do(req).(*kmsg.InitProducerIDResponse); resp.ErrorCode != kerr.InvalidRequest.Code {
		t.Errorf("empty transactional id: error %d, want INVALID_REQUEST", resp.ErrorCode)
	}
}
