package server

// Pipelined acks=all produces (in a cluster only).
//
// A connection is served one request at a time, in order (conn.serve). An
// acks=all produce in a cluster is appended at once but answered only once
// every ISR member holds its records: a round trip of the followers'
// fetches. Had the connection waited for that before reading its next
// request, a producer with several requests in flight (five for Kafka's
// idempotent producers: kgo, the Java client, librdkafka) would have each
// of them appended only after the one before was committed, one
// replication round each, and its records would queue for several rounds
// at 10,000 records/s. Instead, the produce's answer waits in the
// connection's pipeline and the next produce is read and appended at once:
// the followers' next fetch carries both, so that a record waits for about
// one round, however many requests are in flight.
//
// What stays as it was: requests are read, and their records appended, in
// the order they were sent; answers are written in that order (a produce
// answered without waiting, once one waits ahead of it, queues behind it);
// any other request first waits until every produce ahead of it is
// answered, so only consecutive produces overlap (a client that mixes
// produces and fetches on one connection, as librdkafka does, is served as
// before). Each produce's timeout counts from its own append. At most
// maxPipelinedProduces answers wait; a client that sends more is read no
// further until the oldest is answered, as Kafka mutes a connection. On a
// single broker a produce has nothing to wait for and no pipeline is
// started.
//
// One goroutine per connection answers the pipeline (respondCommitted),
// started with its first waiting produce and stopped, and waited for, when
// a request other than a produce comes or the connection ends: while it
// runs it alone writes to the connection. The connection's response
// buffers pass between the two goroutines through the pipeline's channel
// and its end.

import (
	"context"
	"fmt"
	"runtime/debug"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// maxPipelinedProduces bounds the produce answers of one connection that
// wait for their records to be committed: kgo and the Java producer keep
// at most five requests in flight, and the bound keeps what a client that
// sends without reading can make the broker hold.
const maxPipelinedProduces = 8

// pendingProduce is a produce answer in the pipeline: written once its
// waits are over, after every answer queued before it.
type pendingProduce struct {
	hdr      reqHeader
	resp     kmsg.Response
	waits    []commitWait // empty: answered as soon as its turn comes
	deadline time.Time    // the request's timeout, counted from its append
	start    time.Time    // when the request began to be handled (its metric)
}

// producePipe is a connection's pipeline while it runs.
type producePipe struct {
	q    chan pendingProduce // closed by the reader to stop the responder
	done chan struct{}       // closed when the responder has returned
	// err is why the responder stopped writing (a failed write, a
	// panic); it discards what comes after. Written by the responder,
	// read by the reader once done is closed.
	err error
}

// awaitCommit is how handleProduce hands its acks=all partitions to the
// connection instead of waiting for them itself: handleFrame queues the
// answer (pipelineProduce).
func (c *conn) awaitCommit(waits []commitWait, timeoutMillis int32) {
	c.commitWaits = waits
	c.commitDeadline = time.Now().Add(time.Duration(max(timeoutMillis, 0)) * time.Millisecond)
}

// takeCommitWaits returns and clears what awaitCommit left.
func (c *conn) takeCommitWaits() ([]commitWait, time.Time) {
	w, d := c.commitWaits, c.commitDeadline
	c.commitWaits, c.commitDeadline = nil, time.Time{}
	return w, d
}

// pipelineProduce queues a produce's answer, starting the pipeline's
// responder if none runs. It blocks while maxPipelinedProduces answers
// wait. An error is the responder's: the connection must close.
func (c *conn) pipelineProduce(p pendingProduce) error {
	if c.pipe == nil {
		c.pipe = &producePipe{q: make(chan pendingProduce, maxPipelinedProduces), done: make(chan struct{})}
		go c.respondCommitted(c.pipe)
	}
	select {
	case c.pipe.q <- p:
		return nil
	case <-c.pipe.done:
		return c.drainProduces()
	}
}

// drainProduces waits until every queued produce is answered and the
// responder has returned; after it the reader may write again. It returns
// why the responder stopped early, if it did.
func (c *conn) drainProduces() error {
	pipe := c.pipe
	if pipe == nil {
		return nil
	}
	c.pipe = nil
	close(pipe.q)
	<-pipe.done
	return pipe.err
}

// respondCommitted answers the pipeline's produces in order, each once its
// waits are over, until the reader closes the queue. After a failed write
// (or a panic) it answers nothing more, closes the connection so that the
// reader stops, and discards the rest.
func (c *conn) respondCommitted(pipe *producePipe) {
	defer close(pipe.done)
	defer func() {
		if r := recover(); r != nil {
			c.s.metrics.badRequests.Inc()
			c.s.logger.Error("server: panic answering a produce; closing the connection",
				"remote", c.remote, "panic", r, "stack", string(debug.Stack()))
			pipe.err = fmt.Errorf("server: panic answering a produce: %v", r)
			c.nc.Close()
			for range pipe.q {
			}
		}
	}()
	for p := range pipe.q {
		if pipe.err != nil {
			continue
		}
		if len(p.waits) > 0 {
			c.s.waitCommittedUntil(p.waits, p.deadline)
			for i := range p.waits {
				if code := p.waits[i].sp.ErrorCode; code != 0 {
					c.s.metrics.errorCode(p.hdr.key, code)
				}
			}
		}
		c.s.metrics.request(p.hdr.key, time.Since(p.start))
		if err := c.respond(p.hdr, p.resp); err != nil {
			pipe.err = err
			c.nc.Close()
		}
	}
}

// waitCommittedUntil is waitCommitted with the request's deadline.
func (s *Server) waitCommittedUntil(waits []commitWait, deadline time.Time) {
	ctx, cancel := context.WithDeadline(s.ctx, deadline)
	defer cancel()
	s.waitCommittedCtx(ctx, waits)
}
