package server

import (
	"encoding/binary"
	"errors"
	"io"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// pipelineConn is a raw connection that sends requests without waiting
// for their answers, as a producer with several requests in flight does,
// and reads the answers apart.
type pipelineConn struct {
	t    *testing.T
	nc   net.Conn
	corr int32
	sent []kmsg.Request // by correlation ID - 1
}

func dialPipeline(t *testing.T, addr string) *pipelineConn {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	return &pipelineConn{t: t, nc: nc}
}

// send writes req and returns its correlation ID.
func (c *pipelineConn) send(req kmsg.Request) int32 {
	c.t.Helper()
	c.corr++
	frame := kmsg.NewRequestFormatter(kmsg.FormatterClientID("pipeline")).AppendRequest(nil, req, c.corr)
	c.nc.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.nc.Write(frame); err != nil {
		c.t.Fatalf("write %T: %v", req, err)
	}
	c.sent = append(c.sent, req)
	return c.corr
}

// expectNoAnswer fails the test if an answer arrives within wait.
func (c *pipelineConn) expectNoAnswer(wait time.Duration) {
	c.t.Helper()
	c.nc.SetReadDeadline(time.Now().Add(wait))
	var b [1]byte
	_, err := c.nc.Read(b[:])
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return
	}
	if err != nil {
		c.t.Fatalf("read: %v", err)
	}
	c.t.Fatal("answered while an ISR member is not fetching")
}

// next reads the next answer and decodes it as the answer of the request
// its correlation ID names.
func (c *pipelineConn) next() (int32, kmsg.Response) {
	c.t.Helper()
	c.nc.SetReadDeadline(time.Now().Add(20 * time.Second))
	var size [4]byte
	if _, err := io.ReadFull(c.nc, size[:]); err != nil {
		c.t.Fatalf("read an answer: %v", err)
	}
	body := make([]byte, binary.BigEndian.Uint32(size[:]))
	if _, err := io.ReadFull(c.nc, body); err != nil {
		c.t.Fatalf("read an answer: %v", err)
	}
	corr := int32(binary.BigEndian.Uint32(body))
	if corr < 1 || int(corr) > len(c.sent) {
		c.t.Fatalf("answer to correlation ID %d, sent %d requests", corr, len(c.sent))
	}
	req := c.sent[corr-1]
	body = body[4:]
	resp := req.ResponseKind()
	resp.SetVersion(req.GetVersion())
	if resp.IsFlexible() && req.Key() != apiVersionsKey {
		body = body[1:]
	}
	if err := resp.ReadFrom(body); err != nil {
		c.t.Fatalf("decode the answer to %d (%T): %v", corr, resp, err)
	}
	return corr, resp
}

// A producer's acks=all requests in flight on one connection are all
// appended while the first waits for a follower, and answered in the
// order sent once it is back: a produce answered without waiting (acks=1)
// and a request of another API queue behind them.
func TestClusterPipelinedAcksAllProducesAppendWhileEarlierOnesWaitAndAnswerInOrder(t *testing.T) {
	const topic = "pipeline"
	n1, n2, n3 := startThreeNodesWithTopic(t, topic)
	st := partitionState(topic, 1, 1, 1, 2, 3)
	ld := n1.lead(st, 2)
	n2.follow(st, n1)
	n3.follow(st, n1)
	waitFor(t, "both followers' first fetch", func() bool {
		fs := ld.Followers()
		return len(fs) == 2 && fs[0].LogEndOffset == 0 && fs[1].LogEndOffset == 0
	})
	// Follower 3 stops fetching: acks=all produces wait.
	n3.rm.Stop(st.TP())
	l1 := n1.log(topic)

	pc := dialPipeline(t, n1.b.addr)
	a := probeProduce(9, topic, probeBatch(3, 10))
	a.TimeoutMillis = 30000
	b := probeProduce(9, topic, probeBatch(2, 10))
	b.TimeoutMillis = 30000
	c := probeProduce(9, topic, probeBatch(1, 10))
	c.Acks = 1
	md := kmsg.NewPtrMetadataRequest()
	md.Version = 9
	for _, req := range []kmsg.Request{a, b, c, md} {
		pc.send(req)
	}
	waitFor(t, "every produce appended while the first waits", func() bool { return l1.NextOffset() == 6 })
	pc.expectNoAnswer(200 * time.Millisecond)

	n3.follow(st, n1)
	wantBase := []int64{0, 3, 5}
	for i := range 4 {
		corr, resp := pc.next()
		if corr != int32(i+1) {
			t.Fatalf("answer %d has correlation ID %d, want %d (answers out of order)", i+1, corr, i+1)
		}
		if i == 3 {
			if _, ok := resp.(*kmsg.MetadataResponse); !ok {
				t.Fatalf("answer 4 is %T", resp)
			}
			continue
		}
		p := resp.(*kmsg.ProduceResponse).Topics[0].Partitions[0]
		if p.ErrorCode != 0 || p.BaseOffset != wantBase[i] {
			t.Fatalf("produce %d: error %d, base offset %d; want 0 and %d", i+1, p.ErrorCode, p.BaseOffset, wantBase[i])
		}
	}
	if hw := l1.HighWatermark(); hw < 5 {
		t.Fatalf("acks=all produces answered with the high watermark at %d", hw)
	}
}

// A client that goes away with acks=all produces waiting leaves no
// goroutine of its connection behind once they are committed, and every
// produce it sent before is appended.
func TestClusterPipelinedProducesOfAClosedConnectionEnd(t *testing.T) {
	const topic = "pipeclose"
	n1 := startClusterNode(t, 1, replicaTestConfig(), clusterHooks{})
	n2 := startClusterNode(t, 2, replicaTestConfig(), clusterHooks{})
	for _, n := range []*clusterNode{n1, n2} {
		n.createTopic(topic)
	}
	st := partitionState(topic, 1, 1, 1, 2)
	ld := n1.lead(st, 2)
	n2.follow(st, n1)
	waitFor(t, "the follower's first fetch", func() bool { return ld.Followers()[0].LogEndOffset == 0 })
	n2.rm.Stop(st.TP())
	l1 := n1.log(topic)

	pc := dialPipeline(t, n1.b.addr)
	for range 3 {
		req := probeProduce(9, topic, probeBatch(2, 10))
		req.TimeoutMillis = 30000
		pc.send(req)
	}
	waitFor(t, "the three produces appended", func() bool { return l1.NextOffset() == 6 })
	if !pipelineRunning() {
		t.Fatal("no goroutine answers the waiting produces")
	}
	pc.nc.Close()
	n2.follow(st, n1)
	waitFor(t, "the connection's goroutines to end", func() bool { return !pipelineRunning() })
}

// pipelineRunning reports whether a produce pipeline's goroutine runs.
func pipelineRunning() bool {
	buf := make([]byte, 1<<20)
	return strings.Contains(string(buf[:runtime.Stack(buf, true)]), "respondCommitted")
}
