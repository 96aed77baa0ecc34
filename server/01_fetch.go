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
// Fetch sessions are declined: the response carries session id 0, which
// tells the client to send full fetches (Kafka's answer when its session
// cache is full). A request that names a session id gets
// FETCH_SESSION_ID_NOT_FOUND and the client starts over without one.
//
// Record bytes are views of the segment mappings, written to the socket
// with writev after the framing (package wire); they are released once
// written. The response holds at most MaxBytes (capped by fetch.max.bytes)
// and each partition at most its PartitionMaxBytes, except that the first
// batch of the first partition with data is always returned whole, so a
// batch larger than the limits still makes progress (KIP-74).
//
// Long poll: with less than MinBytes available the request waits up to
// MaxWaitMillis, woken by appends to any partition it asked for.

import (
	"reflect"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	tlog "github.com/tributary-io/tributary/log"
	"github.com/tributary-io/tributary/recordbatch"
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
	end   int64 // the log end offset the last pass reported
	ready bool  // has an error to report: answers without waiting
}

func handleFetch(c *conn, h *reqHeader, req *kmsg.FetchRequest) (kmsg.Response, error) {
	s := c.s
	resp := req.ResponseKind().(*kmsg.FetchResponse)
	resp.SessionID = 0
	// A session id, or an epoch other than 0 (start one) or -1 (none),
	// refers to a session this broker never created.
	if req.SessionID != 0 || req.Version >= 7 && req.SessionEpoch != 0 && req.SessionEpoch != -1 {
		resp.ErrorCode = kerr.FetchSessionIDNotFound.Code
		s.metrics.errorCode(h.key, resp.ErrorCode)
		return resp, nil
	}
	maxBytes := int(req.MaxBytes)
	if maxBytes <= 0 || maxBytes > s.cfg.FetchMaxBytes {
		maxBytes = s.cfg.FetchMaxBytes
	}

	var parts []fetchPart
	resp.Topics = make([]kmsg.FetchResponseTopic, len(req.Topics))
	for i := range req.Topics {
		rt := &req.Topics[i]
		st := &resp.Topics[i]
		st.Topic, st.TopicID = rt.Topic, rt.TopicID
		t, tm, unknown := s.requestTopic(req.Version >= 13, rt.Topic, rt.TopicID)
		st.Partitions = make([]kmsg.FetchResponseTopicPartition, len(rt.Partitions))
		for j := range rt.Partitions {
			rp := &rt.Partitions[j]
			sp := &st.Partitions[j]
			*sp = kmsg.NewFetchResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.RecordBatches = noRecords
			fp := fetchPart{tm: tm, rp: rp, sp: sp}
			if fp.l, sp.ErrorCode = partitionOf(t, unknown, rp.Partition); sp.ErrorCode == 0 {
				sp.ErrorCode = checkLeaderEpoch(rp.CurrentLeaderEpoch)
			}
			if fp.ready = sp.ErrorCode != 0; fp.ready {
				markUnknownOffsets(sp)
			}
			parts = append(parts, fp)
		}
	}

	deadline := time.Now().Add(time.Duration(max(req.MaxWaitMillis, 0)) * time.Millisecond)
	for {
		total, anyReady := c.fetchPass(parts, maxBytes)
		if total >= int(req.MinBytes) || anyReady || !time.Now().Before(deadline) || s.isClosing() {
			break
		}
		// Not enough yet: give the views back and wait for an append to
		// any partition, then read again.
		c.releaseViews()
		if !waitForAppend(s, parts, deadline) {
			c.fetchPass(parts, maxBytes)
			break
		}
	}
	for i := range parts {
		p := &parts[i]
		s.metrics.errorCode(h.key, p.sp.ErrorCode)
		if n := len(p.sp.RecordBatches); n > 0 && p.tm != nil {
			p.tm.bytesOut.Add(float64(n))
			p.tm.recordsOut.Add(float64(countRecords(p.sp.RecordBatches)))
		}
	}
	return resp, nil
}

// maxWaitLogs bounds the channels one long poll selects on; a fetch of more
// distinct partitions than this polls instead (reflect.Select allows at
// most 65536 cases, and a request can name that many).
const maxWaitLogs = 1024

// pollInterval is how often such a fetch checks its partitions.
const pollInterval = 10 * time.Millisecond

// waitForAppend blocks until a partition of parts grows past the end the
// last pass saw (true), or the deadline passes or the broker shuts down
// (false). Each channel is taken before its log's end is compared, so an
// append in between is never missed.
func waitForAppend(s *Server, parts []fetchPart, deadline time.Time) bool {
	seen := make(map[*tlog.Log]struct{}, min(len(parts), maxWaitLogs+1))
	var cases []reflect.SelectCase
	for i := range parts {
		p := &parts[i]
		if p.l == nil || p.ready {
			continue
		}
		if _, dup := seen[p.l]; dup {
			continue
		}
		seen[p.l] = struct{}{}
		if len(seen) > maxWaitLogs {
			cases = nil
			break
		}
		ch := p.l.AppendNotify()
		if p.l.NextOffset() > p.end {
			return true
		}
		cases = append(cases, reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(ch)})
	}
	wait := time.Until(deadline)
	if cases == nil && len(seen) > maxWaitLogs {
		wait = min(wait, pollInterval)
	}
	timer := time.NewTimer(wait)
	defer timer.Stop()
	cases = append(cases,
		reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(timer.C)},
		reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(s.closing)})
	chosen, _, _ := reflect.Select(cases)
	switch {
	case chosen < len(cases)-2:
		return true
	case chosen == len(cases)-2 && len(seen) > maxWaitLogs:
		return time.Now().Before(deadline) // polling: look again
	}
	return false
}

// fetchPass reads every partition once, filling the response with views
// (kept in c.views until written). It returns the bytes gathered and
// whether some partition has an error to report at once.
func (c *conn) fetchPass(parts []fetchPart, maxBytes int) (total int, anyReady bool) {
	for i := range parts {
		p := &parts[i]
		if p.ready {
			anyReady = true
			continue
		}
		sp, l := p.sp, p.l
		sp.RecordBatches = noRecords
		budget := min(int(p.rp.PartitionMaxBytes), maxBytes-total)
		var b tlog.Batches
		var err error
		if budget > 0 || total == 0 {
			b, err = l.Read(p.rp.FetchOffset, max(budget, 1))
		}
		// Loaded after the read: every offset Read returned is below the
		// end it saw, so the high watermark reported is never below the
		// records sent with it.
		p.end = l.NextOffset()
		sp.HighWatermark = p.end
		sp.LastStableOffset = p.end // no transactions: everything is stable
		sp.LogStartOffset = l.StartOffset()
		if err != nil {
			sp.ErrorCode = errorCode(err)
			markUnknownOffsets(sp)
			p.ready = true
			anyReady = true
			continue
		}
		if len(b.Data) == 0 {
			b.Release()
			continue
		}
		if total > 0 && len(b.Data) > budget {
			// Only the first partition with data may exceed the limits
			// (with its first batch); this one waits for the next fetch.
			b.Release()
			continue
		}
		c.views = append(c.views, b)
		sp.RecordBatches = b.Data
		total += len(b.Data)
	}
	return total, anyReady
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
