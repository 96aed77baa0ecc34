package server

// Fetch, versions 4-18.
//
//	v4   RecordBatch v2, isolation level, last stable offset, aborted txns
//	v5   log start offset
//	v7   fetch sessions (KIP-227) and forgotten topics
//	v9   current leader epoch (KIP-320)
//	v11  rack id, preferred read replica (KIP-392)
//	v12  flexible; last fetched epoch, diverging epoch
//	v13  topics named by ID (KIP-516)
//	v15  replica state (KIP-903)
//	v16  node endpoints for leader hints (KIP-951)
//	v17  replica directory id (KIP-853)
//	v18  high watermark in the request (KIP-1166)
//
// Fetch sessions (KIP-227, v7+) are in fetch_sessions.go: a session's
// incremental fetch reads every partition of the session, as a full fetch
// of them would, and answers only those with something new.
//
// Record bytes are views of the segment mappings, written to the socket
// with writev after the framing (package wire); they are released once
// written. The response holds at most MaxBytes (capped by fetch.max.bytes)
// and each partition at most its PartitionMaxBytes, except that the first
// batch of the first partition with data is always returned whole, so a
// batch larger than the limits still makes progress (KIP-74).
//
// Long poll: with less than MinBytes available the request waits up to
// MaxWaitMillis on a log.Waiter registered on every partition it reads,
// which counts the bytes appended there from the fetch offset on (each
// partition up to its PartitionMaxBytes, as Kafka's DelayedFetch does) and
// wakes the request only once they make up MinBytes, or when a partition
// changes in a way it must answer (deleted, truncated, log start offset
// past the fetch offset) or the broker shuts down. A fetch whose response
// is already as full as MaxBytes allows answers without waiting.
//
// With an authorizer, each topic needs Read (TOPIC_AUTHORIZATION_FAILED
// on its partitions otherwise).
//
// In a cluster (replication.go) only the leader answers a partition
// (NOT_LEADER_OR_FOLLOWER with the CurrentLeader hint elsewhere). A fetch
// with a replica ID (ReplicaState's from v15) is a follower's: it needs
// ClusterAction, its position goes to the partition's replica.Leader,
// which may answer DivergingEpoch instead of records, and it reads up to
// the log end and long-polls on appends there, where a consumer reads up
// to the high watermark and long-polls on its rise. On a single broker a
// replica ID is ignored. A partition the metadata says this broker leads
// but whose leader state its reconciler has not opened yet (a topic just
// created: the followers' first fetches race the leader's reconciler) is
// held, within the request's MaxWait, until it is open, and answered
// then (awaitLeading), rather than with UNKNOWN_TOPIC_ID or
// NOT_LEADER_OR_FOLLOWER that would make a follower back off.

import (
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/tributary-io/tributary/auth"
	tlog "github.com/tributary-io/tributary/log"
	"github.com/tributary-io/tributary/recordbatch"
	"github.com/tributary-io/tributary/replica"
)

func init() { register(1, 4, 18, handleFetch) }

// noRecords is what a partition without data carries: empty, not null.
// Kafka always sends a length of 0 there, and librdkafka treats a null
// record set as a protocol error and never sees the partition's end.
var noRecords = []byte{}

// fetchPart is one requested partition resolved to its log.
type fetchPart struct {
	l     *tlog.Log
	tm    *topicMetrics
	rp    *kmsg.FetchRequestTopicPartition
	sp    *kmsg.FetchResponseTopicPartition
	from  int64 // l.AppendedBytes() before the last pass read l
	got   int   // bytes of l the last pass put in the response
	ready bool  // has an error to report: answers without waiting
	// replica: a follower's fetch, which reads up to the log end (not the
	// high watermark) and waits for appends to it.
	replica bool
	// throttle, on a follower's fetch the leader throttles
	// (cluster_throttle.go): nothing is read while it is in debt, and
	// what is sent is taken from it.
	throttle *replica.Throttle
}

func handleFetch(c *conn, h *reqHeader, req *kmsg.FetchRequest) (kmsg.Response, error) {
	s := c.s
	resp := req.ResponseKind().(*kmsg.FetchResponse)
	resp.SessionID = 0
	maxBytes := int(req.MaxBytes)
	if maxBytes <= 0 || maxBytes > s.cfg.FetchMaxBytes {
		maxBytes = s.cfg.FetchMaxBytes
	}

	follower := int32(-1) // the broker of a replica fetch; -1 for a consumer
	if s.replicas != nil {
		if follower = replicaID(req); follower >= 0 && !c.permits(auth.OpClusterAction, auth.ResourceCluster, auth.ClusterName) {
			resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
			s.metrics.errorCode(h.key, resp.ErrorCode)
			return resp, nil
		}
	}

	now := time.Now()
	// From here on req is what is read: for an incremental fetch, every
	// partition of its session.
	req, session := c.beginFetchSession(req, resp, now)
	if resp.ErrorCode != 0 {
		s.metrics.errorCode(h.key, resp.ErrorCode)
		return resp, nil
	}
	deadline := now.Add(time.Duration(max(req.MaxWaitMillis, 0)) * time.Millisecond)
	parts, notOpen := c.fetchParts(h, req, resp, follower)
	if notOpen {
		if hook := s.cfg.fetchNotOpen; hook != nil {
			hook(follower)
		}
		// A follower's fetch is resolved again even when nothing was
		// held: the reconciler may have opened a partition after
		// fetchParts found it not open and before awaitLeading looked,
		// and the stale answer would rest the partition. A consumer's
		// only after a hold: resolving it again counts and logs its
		// refused topics again, and a consumer answered
		// NOT_LEADER_OR_FOLLOWER refreshes its metadata and retries.
		if c.awaitLeading(req, follower, deadline) || follower >= 0 {
			resp.Brokers = nil // the leader hints are given again
			parts, _ = c.fetchParts(h, req, resp, follower)
		}
	}
	minBytes := int(req.MinBytes)
	for {
		total, answer := c.fetchPass(parts, maxBytes)
		if total >= minBytes || answer || !time.Now().Before(deadline) || s.isClosing() {
			break
		}
		// Not enough yet: give the views back, wait until enough bytes
		// were appended where the request reads, then read again.
		c.releaseViews()
		if !waitForBytes(s, parts, int64(minBytes-total), deadline) {
			c.fetchPass(parts, maxBytes)
			break
		}
	}
	for i := range parts {
		p := &parts[i]
		if p.throttle != nil {
			p.throttle.Record(len(p.sp.RecordBatches))
		}
		s.metrics.errorCode(h.key, p.sp.ErrorCode)
		if n := len(p.sp.RecordBatches); n > 0 && p.tm != nil {
			p.tm.bytesOut.Add(float64(n))
			p.tm.recordsOut.Add(float64(countRecords(p.sp.RecordBatches)))
		}
	}
	c.endFetchSession(req, resp, parts, session, follower, time.Now())
	s.metrics.errorCode(h.key, resp.ErrorCode)
	return resp, nil
}

// fetchParts resolves every partition req asks for to its log, filling
// resp's topics and the errors of the partitions it cannot read (they
// answer without waiting). notOpen reports, in a cluster, a partition
// answered as not known or not led here, which may be one this broker is
// about to lead (awaitLeading).
func (c *conn) fetchParts(h *reqHeader, req *kmsg.FetchRequest, resp *kmsg.FetchResponse, follower int32) (parts []fetchPart, notOpen bool) {
	s := c.s
	n := 0
	for i := range req.Topics {
		n += len(req.Topics[i].Partitions)
	}
	// The response's topics and partitions, and parts, live in c's
	// scratch, written before the next request is read.
	resp.Topics = slices.Grow(c.fetchTopics[:0], len(req.Topics))[:len(req.Topics)]
	respParts := slices.Grow(c.fetchRespParts[:0], n)[:n]
	parts = slices.Grow(c.fetchPartsBuf[:0], n)
	if n <= maxFetchScratch {
		c.fetchTopics, c.fetchRespParts, c.fetchPartsBuf = resp.Topics, respParts, parts
	}
	for i := range req.Topics {
		rt := &req.Topics[i]
		st := &resp.Topics[i]
		*st = kmsg.FetchResponseTopic{Topic: rt.Topic, TopicID: rt.TopicID, Partitions: respParts[:len(rt.Partitions):len(rt.Partitions)]}
		respParts = respParts[len(rt.Partitions):]
		var t *tlog.Topic
		var tm *topicMetrics
		var unknown int16
		if follower >= 0 {
			// A replica reads every topic with ClusterAction, as Kafka.
			t, tm, unknown = s.requestTopic(req.Version >= 13, rt.Topic, rt.TopicID)
		} else {
			t, tm, unknown = c.authorizedTopic(h.key, auth.OpRead, req.Version >= 13, rt.Topic, rt.TopicID)
		}
		for j := range rt.Partitions {
			rp := &rt.Partitions[j]
			sp := &st.Partitions[j]
			*sp = kmsg.NewFetchResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.RecordBatches = noRecords
			fp := fetchPart{tm: tm, rp: rp, sp: sp}
			if fp.l, sp.ErrorCode = partitionOf(t, unknown, rp.Partition); sp.ErrorCode == 0 {
				if s.replicas == nil {
					sp.ErrorCode = checkLeaderEpoch(fp.l, rp.CurrentLeaderEpoch)
				} else {
					c.clusterFetchPart(resp, t.Name, &fp, follower, replicaEpoch(req))
				}
			} else if s.replicas != nil && (sp.ErrorCode == kerr.NotLeaderForPartition.Code ||
				sp.ErrorCode == kerr.UnknownTopicOrPartition.Code && req.Version < 13) {
				// No replica here of a partition the cluster may have.
				c.notLeaderFetch(resp, topicName(t, rt.Topic), sp)
			}
			if sp.ErrorCode != 0 {
				fp.ready = true
				notOpen = notOpen || s.replicas != nil && notOpenCode(sp.ErrorCode)
				markUnknownOffsets(sp)
			}
			parts = append(parts, fp)
		}
	}
	return parts, notOpen
}

// maxFetchScratch bounds the partitions a connection keeps room for
// between fetches (fetchParts): a few hundred bytes each.
const maxFetchScratch = 20_000

// fetchWait is what one long poll waits with, pooled: a Waiter keeps the
// registrations it grew to for the next long poll that takes it.
type fetchWait struct {
	w     tlog.Waiter
	timer *time.Timer
}

var fetchWaits = sync.Pool{New: func() any { return new(fetchWait) }}

// longPollWakeups counts long polls woken to read again (tests check that
// appends short of MinBytes wake nobody).
var longPollWakeups atomic.Int64

// waitForBytes registers the request on each partition it reads and
// blocks until need bytes were appended there (true: read again), or the
// deadline passes or the broker shuts down (false). Every registration is
// removed before it returns.
func waitForBytes(s *Server, parts []fetchPart, need int64, deadline time.Time) bool {
	fw := fetchWaits.Get().(*fetchWait)
	defer fetchWaits.Put(fw)
	w := &fw.w
	w.Reset(need)
	defer w.Stop()
	for i := range parts {
		p := &parts[i]
		if p.l == nil || p.ready {
			continue
		}
		room := max(int64(p.rp.PartitionMaxBytes)-int64(p.got), 0)
		if p.replica {
			w.WatchEnd(p.l, p.rp.FetchOffset, p.from, room)
			continue
		}
		w.Watch(p.l, p.rp.FetchOffset, p.from, room)
	}
	wait := time.Until(deadline)
	if fw.timer == nil {
		fw.timer = time.NewTimer(wait)
	} else {
		fw.timer.Reset(wait)
	}
	defer fw.timer.Stop()
	select {
	case <-w.Ready():
		longPollWakeups.Add(1)
		return true
	case <-fw.timer.C:
	case <-s.closing:
	}
	return false
}

// fetchPass reads every partition once, filling the response with views
// (kept in c.views until written). It returns the bytes gathered and
// whether the request must be answered now whatever MinBytes says: a
// partition has an error to report, or the response is full (data was
// left out for lack of room under maxBytes, which no wait can change).
func (c *conn) fetchPass(parts []fetchPart, maxBytes int) (total int, answer bool) {
	for i := range parts {
		p := &parts[i]
		if p.ready {
			answer = true
			continue
		}
		sp, l := p.sp, p.l
		sp.RecordBatches = noRecords
		p.got = 0
		room := maxBytes - total
		roomBound := room < int(p.rp.PartitionMaxBytes) // the response's room, not the partition's limit, caps this read
		budget := min(int(p.rp.PartitionMaxBytes), room)
		var b tlog.Batches
		var err error
		var end int64 // where this read may reach
		throttled := p.throttle != nil && !p.throttle.Allow()
		if !p.replica {
			// Before the read: an append it misses is counted by the wait.
			p.from = l.AppendedBytes()
			if budget > 0 || total == 0 {
				// A consumer reads committed records only: up to the high
				// watermark (the log end on an unreplicated log).
				b, err = l.ReadTo(p.rp.FetchOffset, max(budget, 1), l.HighWatermark())
			}
			// Loaded after the read: every offset ReadTo returned is below
			// the high watermark it was given, which never goes down but by
			// truncation, so the one reported is never below the records
			// sent with it.
			end = l.HighWatermark()
		} else {
			// A follower reads up to the log end, and is told the
			// leader's high watermark.
			p.from = l.EndAppendedBytes()
			if (budget > 0 || total == 0) && !throttled {
				b, err = l.Read(p.rp.FetchOffset, max(budget, 1))
			}
			end = l.NextOffset()
		}
		hw := l.HighWatermark()
		sp.HighWatermark = hw
		sp.LastStableOffset = hw // no transactions: everything is stable
		sp.LogStartOffset = l.StartOffset()
		if err == nil && len(b.Data) == 0 && l.Closed() {
			err = tlog.ErrClosed // deleted under the request: wake-ups must end in an answer
		}
		if err != nil {
			sp.ErrorCode = errorCode(err)
			markUnknownOffsets(sp)
			p.ready = true
			answer = true
			continue
		}
		if len(b.Data) == 0 {
			b.Release()
			if roomBound && budget <= 0 && p.rp.FetchOffset < end {
				answer = true // no room left for data that is there
			}
			continue
		}
		if total > 0 && len(b.Data) > budget {
			// Only the first partition with data may exceed the limits
			// (with its first batch); this one waits for the next fetch.
			b.Release()
			answer = answer || roomBound
			continue
		}
		if roomBound && batchesEnd(b.Data) < end {
			answer = true // the rest of this partition does not fit
		}
		c.views = append(c.views, b)
		sp.RecordBatches = b.Data
		p.got = len(b.Data)
		total += p.got
	}
	return total, answer
}

// batchesEnd is the offset after the last of whole batches b (headers
// only), or -1 if b holds none.
func batchesEnd(b []byte) int64 {
	end := int64(-1)
	for len(b) >= recordbatch.HeaderSize {
		h, err := recordbatch.ParseHeader(b)
		if err != nil || h.Size() > len(b) {
			break
		}
		end = h.NextOffset()
		b = b[h.Size():]
	}
	return end
}

// markUnknownOffsets sets the offsets of a partition answered with an
// error to -1, as Kafka does: they describe nothing the client may use.
func markUnknownOffsets(sp *kmsg.FetchResponseTopicPartition) {
	sp.HighWatermark, sp.LastStableOffset, sp.LogStartOffset = -1, -1, -1
}

// countRecords sums the record counts of whole batches (headers only).
func countRecords(b []byte) int64 {
	var n int64
	for len(b) >= recordbatch.HeaderSize {
		h, err := recordbatch.ParseHeader(b)
		if err != nil || h.Size() > len(b) {
			break
		}
		n += int64(h.LastOffsetDelta) + 1
		b = b[h.Size():]
	}
	return n
}
