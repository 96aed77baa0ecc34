package server

import (
	"encoding/binary"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	tlog "github.com/tributary-io/tributary/log"
	"github.com/tributary-io/tributary/recordbatch"
)

// Long polls woken by bytes: a fetch waiting for MinBytes is woken only
// once the bytes appended where it reads make up MinBytes, or by a change
// it must answer; every wait leaves no registration behind.

// fetchResult is the answer to a fetch sent with startFetch.
type fetchResult struct {
	resp *kmsg.FetchResponse
	err  error
}

// startFetch sends req on c and reads its response in the background.
func (c *rawConn) startFetch(req *kmsg.FetchRequest) <-chan fetchResult {
	c.t.Helper()
	c.corr++
	corr := c.corr
	frame := kmsg.NewRequestFormatter(kmsg.FormatterClientID("test")).AppendRequest(nil, req, corr)
	c.nc.SetDeadline(time.Now().Add(60 * time.Second))
	if _, err := c.nc.Write(frame); err != nil {
		c.t.Fatalf("write fetch: %v", err)
	}
	out := make(chan fetchResult, 1)
	go func() {
		var size [4]byte
		if _, err := io.ReadFull(c.nc, size[:]); err != nil {
			out <- fetchResult{err: err}
			return
		}
		body := make([]byte, binary.BigEndian.Uint32(size[:]))
		if _, err := io.ReadFull(c.nc, body); err != nil {
			out <- fetchResult{err: err}
			return
		}
		if got := int32(binary.BigEndian.Uint32(body)); got != corr {
			out <- fetchResult{err: fmt.Errorf("correlation id %d, want %d", got, corr)}
			return
		}
		resp := req.ResponseKind().(*kmsg.FetchResponse)
		resp.SetVersion(req.GetVersion())
		body = body[4:]
		if resp.IsFlexible() {
			body = body[1:]
		}
		out <- fetchResult{resp: resp, err: resp.ReadFrom(body)}
	}()
	return out
}

// waitFor polls cond for up to 10 s (a registration made by another
// goroutine, a response on its way).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// answered reports whether the fetch has been answered, without waiting.
func answered(ch <-chan fetchResult) bool { return len(ch) > 0 }

func brokerLog(t *testing.T, b *testBroker, topic string, p int32) *tlog.Log {
	t.Helper()
	l, ok := b.mgr.Partition(topic, p)
	if !ok {
		t.Fatalf("no partition %s/%d", topic, p)
	}
	return l
}

func appendKiB(t *testing.T, l *tlog.Log) int {
	t.Helper()
	batch := recordbatch.BuildSized(1<<10, time.Now().UnixMilli())
	if _, err := l.Append(batch); err != nil {
		t.Fatal(err)
	}
	return len(batch)
}

func TestFetchLongPollsWokenOnlyOnceMinBytesIsAppended(t *testing.T) {
	// 50 consumers long-poll one partition with MinBytes = 64 KiB; 1 KiB
	// appends wake none of them until the 64th, which wakes each once.
	const polls, minBytes = 50, 64 << 10
	b := startBroker(t)
	if _, err := b.mgr.CreateTopic("hot", 1, nil); err != nil {
		t.Fatal(err)
	}
	l := brokerLog(t, b, "hot", 0)
	pending := make([]<-chan fetchResult, polls)
	for i := range pending {
		req := fetchReq(12, "hot", [16]byte{}, 0, 1<<20)
		req.MinBytes, req.MaxWaitMillis = minBytes, 30_000
		pending[i] = b.raw().startFetch(req)
	}
	waitFor(t, "every long poll to register", func() bool { return l.Waiting() == polls })

	before := longPollWakeups.Load()
	appended := 0
	for appended+1<<10 < minBytes {
		appended += appendKiB(t, l)
		if n := longPollWakeups.Load() - before; n != 0 {
			t.Fatalf("%d wake-ups after %d of %d bytes", n, appended, minBytes)
		}
	}
	for i, ch := range pending {
		if answered(ch) {
			t.Fatalf("poll %d answered with %d of %d bytes", i, appended, minBytes)
		}
	}
	appended += appendKiB(t, l)
	for i, ch := range pending {
		r := <-ch
		if r.err != nil {
			t.Fatalf("poll %d: %v", i, r.err)
		}
		if n := len(r.resp.Topics[0].Partitions[0].RecordBatches); n != appended {
			t.Errorf("poll %d got %d bytes, want the %d appended", i, n, appended)
		}
	}
	if n := longPollWakeups.Load() - before; n != polls {
		t.Errorf("%d wake-ups for %d long polls", n, polls)
	}
	if n := l.Waiting(); n != 0 {
		t.Errorf("%d registrations left after every poll was answered", n)
	}
}

func TestFetchMinBytesCountsTheBytesOfEveryPartitionItReads(t *testing.T) {
	b := startBroker(t)
	for _, topic := range []string{"mb", "other"} {
		if _, err := b.mgr.CreateTopic(topic, 2, nil); err != nil {
			t.Fatal(err)
		}
	}
	p0, p1, other := brokerLog(t, b, "mb", 0), brokerLog(t, b, "mb", 1), brokerLog(t, b, "other", 0)
	size := len(recordbatch.BuildSized(1<<10, 0))
	req := fetchReq(12, "mb", [16]byte{}, 0, 1<<20)
	second := req.Topics[0].Partitions[0]
	second.Partition = 1
	req.Topics[0].Partitions = append(req.Topics[0].Partitions, second)
	req.MinBytes, req.MaxWaitMillis = int32(3*size), 30_000
	ch := b.raw().startFetch(req)
	waitFor(t, "the poll to register on both partitions", func() bool { return p0.Waiting() == 1 && p1.Waiting() == 1 })

	before := longPollWakeups.Load()
	for _, l := range []*tlog.Log{p0, other, other, other, p1} {
		appendKiB(t, l)
	}
	if n := longPollWakeups.Load() - before; n != 0 || answered(ch) {
		t.Fatalf("woken %d times by 2 of 3 KiB (and appends elsewhere)", n)
	}
	appendKiB(t, p0)
	r := <-ch
	if r.err != nil {
		t.Fatal(r.err)
	}
	ps := r.resp.Topics[0].Partitions
	if len(ps[0].RecordBatches) != 2*size || len(ps[1].RecordBatches) != size {
		t.Errorf("answered with %d and %d bytes, want %d and %d", len(ps[0].RecordBatches), len(ps[1].RecordBatches), 2*size, size)
	}
	if n := longPollWakeups.Load() - before; n != 1 {
		t.Errorf("%d wake-ups, want 1", n)
	}
	if p0.Waiting()+p1.Waiting()+other.Waiting() != 0 {
		t.Error("registrations left after the answer")
	}
}

func TestFetchLongPollAnswersChangesOfItsPartitions(t *testing.T) {
	// A fetch waiting for more bytes than will come is answered at once,
	// well before its MaxWait of 30 s, when its partition changes under it.
	tests := []struct {
		name   string
		offset int64 // where the fetch reads; the log holds 1 batch of 10
		change func(t *testing.T, b *testBroker)
		code   int16
	}{
		{"topic deleted", 10, func(t *testing.T, b *testBroker) {
			if err := b.mgr.DeleteTopic("ch"); err != nil {
				t.Fatal(err)
			}
		}, kerr.NotLeaderForPartition.Code}, // as any read of a log closed under it
		{"records deleted past the fetch offset", 0, func(t *testing.T, b *testBroker) {
			if _, err := brokerLog(t, b, "ch", 0).DeleteRecordsBefore(10); err != nil {
				t.Fatal(err)
			}
		}, kerr.OffsetOutOfRange.Code},
		{"log truncated below the fetch offset", 10, func(t *testing.T, b *testBroker) {
			if _, err := brokerLog(t, b, "ch", 0).Truncate(0); err != nil {
				t.Fatal(err)
			}
		}, kerr.OffsetOutOfRange.Code},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := startBroker(t)
			b.appendBatches("ch", 1, 10)
			l := brokerLog(t, b, "ch", 0)
			req := fetchReq(12, "ch", [16]byte{}, tt.offset, 1<<20)
			req.MinBytes, req.MaxWaitMillis = 1<<20, 30_000
			ch := b.raw().startFetch(req)
			waitFor(t, "the poll to register", func() bool { return l.Waiting() == 1 })
			tt.change(t, b)
			select {
			case r := <-ch:
				if r.err != nil {
					t.Fatal(r.err)
				}
				if code := r.resp.Topics[0].Partitions[0].ErrorCode; code != tt.code {
					t.Errorf("error code %d, want %d", code, tt.code)
				}
			case <-time.After(15 * time.Second):
				t.Fatal("the change did not end the long poll")
			}
			if n := l.Waiting(); n != 0 {
				t.Errorf("%d registrations left", n)
			}
		})
	}
}

func TestFetchLongPollLeavesNoRegistrationAfterTimeoutOrClientGone(t *testing.T) {
	b := startBroker(t)
	b.appendBatches("gone", 1, 10)
	l := brokerLog(t, b, "gone", 0)
	req := fetchReq(12, "gone", [16]byte{}, 10, 1<<20)
	req.MinBytes, req.MaxWaitMillis = 1, 200

	// MaxWait runs out: answered empty, nothing left registered.
	r := <-b.raw().startFetch(req)
	if r.err != nil || len(r.resp.Topics[0].Partitions[0].RecordBatches) != 0 {
		t.Fatalf("timed-out poll: %v", r.err)
	}
	if n := l.Waiting(); n != 0 {
		t.Fatalf("%d registrations left after MaxWait", n)
	}

	// The client hangs up mid-poll: the registration goes when the
	// handler's wait ends.
	c := b.raw()
	req.MaxWaitMillis = 500
	c.startFetch(req)
	waitFor(t, "the poll to register", func() bool { return l.Waiting() == 1 })
	c.nc.Close()
	waitFor(t, "the registration of a closed connection to go", func() bool { return l.Waiting() == 0 })
}

func TestFetchResponseFullAnswersWithoutWaitingForMinBytes(t *testing.T) {
	// MinBytes above MaxBytes can never be met: once data is left out for
	// lack of room, the fetch answers instead of sleeping out MaxWait.
	b := startBroker(t)
	b.appendBatches("full", 5, 100)
	l := brokerLog(t, b, "full", 0)
	size := l.Size() / 5
	req := fetchReq(12, "full", [16]byte{}, 0, 1<<20)
	req.MaxBytes = int32(2*size + size/2)
	req.MinBytes, req.MaxWaitMillis = 1<<20, 30_000
	start := time.Now()
	r := <-b.raw().startFetch(req)
	if r.err != nil {
		t.Fatal(r.err)
	}
	if n := int64(len(r.resp.Topics[0].Partitions[0].RecordBatches)); n != 2*size {
		t.Errorf("answered with %d bytes, want the 2 batches (%d) that fit", n, 2*size)
	}
	if d := time.Since(start); d > 15*time.Second {
		t.Errorf("a full response waited %v", d)
	}
}

func TestFranzGoConsumerWithFetchMinBytes(t *testing.T) {
	// A franz-go consumer with FetchMinBytes gets nothing while less has
	// been produced, and everything once enough has, long before its
	// FetchMaxWait.
	const minBytes = 32 << 10
	b := startBroker(t)
	if _, err := b.mgr.CreateTopic("fmb", 1, nil); err != nil {
		t.Fatal(err)
	}
	l := brokerLog(t, b, "fmb", 0)
	prod := b.client(kgo.DefaultProduceTopic("fmb"), kgo.ProducerLinger(0),
		kgo.ProducerBatchCompression(kgo.NoCompression())) // bytes on the wire are bytes counted
	cons := b.client(kgo.ConsumeTopics("fmb"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMinBytes(minBytes), kgo.FetchMaxWait(60*time.Second))
	ctx := testContext(t)

	polled := make(chan kgo.Fetches, 1)
	go func() { polled <- cons.PollFetches(ctx) }()
	waitFor(t, "the consumer's long poll to register", func() bool { return l.Waiting() == 1 })

	value := make([]byte, 1<<10)
	produce := func(n int) {
		for range n {
			if err := prod.ProduceSync(ctx, &kgo.Record{Value: value}).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
	}
	before := longPollWakeups.Load()
	produce(8) // about 9 KiB of the 32
	if n := longPollWakeups.Load() - before; n != 0 {
		t.Fatalf("%d wake-ups with a quarter of MinBytes produced", n)
	}
	select {
	case fs := <-polled:
		t.Fatalf("poll returned %d records before MinBytes", fs.NumRecords())
	default:
	}
	produce(32)
	fs := <-polled
	if ctx.Err() != nil {
		t.Fatal("MinBytes reached but the poll waited out the test")
	}
	fs.EachError(func(topic string, p int32, err error) { t.Fatalf("fetch %s/%d: %v", topic, p, err) })
	if fs.NumRecords() < minBytes>>10*9/10 {
		t.Errorf("poll returned %d records, want about %d KiB of them", fs.NumRecords(), minBytes>>10)
	}
}
