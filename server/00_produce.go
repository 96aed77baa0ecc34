package server

// Produce, versions 3-13.
//
//	v3   RecordBatch v2 only, one batch per partition, transactional id
//	v5   log start offset in the response
//	v8   per-record errors and an error message in the response
//	v9   flexible
//	v10-v12  no wire change (KIP-951 leader hints, KIP-890 txn v2)
//	v13  topics named by ID (KIP-516)
//
// v0-v2 carry the old MessageSet format, which Tributary does not store;
// Kafka 4 dropped them too.
//
// The record bytes are the slice kmsg cut out of the request frame: they are
// validated, get their offsets written in place by log.Append and are copied
// once, into the segment. Every batch is read before it is acknowledged
// (log.ValidateBatches): an uncompressed one in place, a compressed
// one decompressed as a stream, holding one of the server's decompression
// slots, so that no batch a consumer cannot read is ever stored. acks=0
// sends no response; as in Kafka, an acks=0 request that fails closes the
// connection so the producer notices. A request naming one partition twice
// is read as Kafka reads it: the last entry wins (lastEntryPerPartition).
// With an authorizer, each topic needs Write (TOPIC_AUTHORIZATION_FAILED
// on its partitions otherwise).
//
// In a cluster, an acks=all produce is answered once its records are
// committed, from the connection's pipeline (produce_pipeline.go): the
// connection reads and appends the next produce meanwhile, and answers
// stay in request order.

import (
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/valyala/bytebufferpool"

	"github.com/tributary-io/tributary/auth"
	tlog "github.com/tributary-io/tributary/log"
	"github.com/tributary-io/tributary/recordbatch"
	"github.com/tributary-io/tributary/replica"
)

const produceKey = 0

func init() { register(produceKey, 3, 13, handleProduce) }

// maxDecompressedBytes bounds the records of one batch decompressed on
// produce, to check them or to re-encode them for compression.type:
// socket.request.max.bytes's default, the most an uncompressed request
// could have carried. With one such batch at a time per core, at most
// GOMAXPROCS decompressions run and hold memory at once, however many
// producers send compression bombs.
const maxDecompressedBytes = DefaultSocketRequestMaxBytes

// recompressSlot waits for one of the server's decompression slots; ok is
// false when the broker shuts down first.
func (s *Server) recompressSlot() (release func(), ok bool) {
	select {
	case s.recompressSlots <- struct{}{}:
		return func() { <-s.recompressSlots }, true
	case <-s.closing:
		return nil, false
	}
}

// topicCodec is the codec a compression.type asks for; false for
// "producer", which keeps whatever the producer sent.
func topicCodec(compressionType string) (recordbatch.Codec, bool) {
	switch compressionType {
	case "uncompressed":
		return recordbatch.CodecNone, true
	case "gzip":
		return recordbatch.CodecGzip, true
	case "snappy":
		return recordbatch.CodecSnappy, true
	case "lz4":
		return recordbatch.CodecLZ4, true
	case "zstd":
		return recordbatch.CodecZstd, true
	}
	return 0, false
}

func handleProduce(c *conn, h *reqHeader, req *kmsg.ProduceRequest) (kmsg.Response, error) {
	s := c.s
	resp := req.ResponseKind().(*kmsg.ProduceResponse)
	if hasDuplicatePartitions(req) {
		req.Topics = lastEntryPerPartition(req)
	}
	acksOK := req.Acks == 0 || req.Acks == 1 || req.Acks == -1
	failed := 0
	var waits []commitWait // acks=all partitions of a broker in a cluster
	resp.Topics = make([]kmsg.ProduceResponseTopic, len(req.Topics))
	for i := range req.Topics {
		rt := &req.Topics[i]
		st := &resp.Topics[i]
		st.Topic, st.TopicID = rt.Topic, rt.TopicID
		t, tm, unknown := c.authorizedTopic(h.key, auth.OpWrite, req.Version >= 13, rt.Topic, rt.TopicID)
		if t != nil && kafkaInternalTopic(t.Name) {
			// Only the broker writes its internal topics: a client's
			// records there would corrupt the coordinator's state.
			t, unknown = nil, kerr.InvalidTopicException.Code
		}
		st.Partitions = make([]kmsg.ProduceResponseTopicPartition, len(rt.Partitions))
		for j := range rt.Partitions {
			rp := &rt.Partitions[j]
			sp := &st.Partitions[j]
			*sp = kmsg.NewProduceResponseTopicPartition()
			sp.Partition = rp.Partition
			l, code := partitionOf(t, unknown, rp.Partition)
			switch {
			case code != 0:
				sp.ErrorCode = code
				if s.replicas != nil && (code == kerr.NotLeaderForPartition.Code ||
					code == kerr.UnknownTopicOrPartition.Code && req.Version < 13) {
					// No replica here of a partition the cluster has.
					c.notLeaderProduce(resp, topicName(t, rt.Topic), sp)
				}
			case !acksOK:
				sp.ErrorCode = kerr.InvalidRequiredAcks.Code
			default:
				var ld *replica.Leader
				if s.replicas != nil {
					if ld = c.produceLeader(resp, t.Name, sp); ld == nil {
						break
					}
				}
				last := s.produceTo(l, ld, req.Acks == -1, rp.Records, sp, tm)
				if sp.ErrorCode != 0 && failureCarriesLogStart(sp.ErrorCode) {
					sp.LogStartOffset = l.StartOffset()
				}
				if ld != nil {
					switch {
					case sp.ErrorCode == kerr.NotLeaderForPartition.Code:
						c.hintProduce(resp, t.Name, sp) // leadership moved before the append
					case sp.ErrorCode == 0 && req.Acks == -1:
						waits = append(waits, commitWait{ld: ld, last: last, sp: sp})
					}
				}
			}
			if sp.ErrorCode != 0 {
				failed++
				s.metrics.errorCode(h.key, sp.ErrorCode)
			}
		}
	}
	if len(waits) > 0 {
		// Answered once the records are committed, by the connection's
		// pipeline, which meanwhile reads and appends the next produce
		// (produce_pipeline.go).
		c.awaitCommit(waits, req.TimeoutMillis)
	}
	if req.Acks == 0 {
		if failed > 0 {
			return nil, fmt.Errorf("server: acks=0 produce failed for %d partitions; closing so the producer refreshes metadata", failed)
		}
		return nil, nil
	}
	return resp, nil
}

// produceTarget is what names a partition in a produce request: a topic
// by name (v3-v12) or by ID (v13), and its partition number.
type produceTarget struct {
	topic     string
	topicID   [16]byte
	partition int32
}

func targetOf(version int16, rt *kmsg.ProduceRequestTopic, partition int32) produceTarget {
	if version >= 13 {
		return produceTarget{topicID: rt.TopicID, partition: partition}
	}
	return produceTarget{topic: rt.Topic, partition: partition}
}

// smallProduceRequest is the number of partitions up to which duplicates
// are looked for pairwise, without allocating.
const smallProduceRequest = 32

// hasDuplicatePartitions reports whether req names one partition more than
// once, in one topic entry or in two entries for the same topic.
func hasDuplicatePartitions(req *kmsg.ProduceRequest) bool {
	n := 0
	for i := range req.Topics {
		n += len(req.Topics[i].Partitions)
	}
	if n <= 1 {
		return false
	}
	if n <= smallProduceRequest {
		var seen [smallProduceRequest]produceTarget
		k := 0
		for i := range req.Topics {
			rt := &req.Topics[i]
			for j := range rt.Partitions {
				t := targetOf(req.Version, rt, rt.Partitions[j].Partition)
				for _, s := range seen[:k] {
					if s == t {
						return true
					}
				}
				seen[k] = t
				k++
			}
		}
		return false
	}
	seen := make(map[produceTarget]struct{}, n)
	for i := range req.Topics {
		rt := &req.Topics[i]
		for j := range rt.Partitions {
			t := targetOf(req.Version, rt, rt.Partitions[j].Partition)
			if _, dup := seen[t]; dup {
				return true
			}
			seen[t] = struct{}{}
		}
	}
	return false
}

// lastEntryPerPartition is req's topics with each partition named once, as
// Kafka reads a produce request: KafkaApis collects its partitions in a
// map keyed by topic and partition, so when one is named twice the last
// entry's records are the ones appended, the earlier ones are dropped
// unread, and the response has one entry per partition and per topic.
// Each partition keeps the place of its first entry.
func lastEntryPerPartition(req *kmsg.ProduceRequest) []kmsg.ProduceRequestTopic {
	type topicKey struct {
		name string
		id   [16]byte
	}
	topicAt := map[topicKey]int{}
	partitionAt := map[produceTarget]int{}
	var out []kmsg.ProduceRequestTopic
	for i := range req.Topics {
		rt := &req.Topics[i]
		t0 := targetOf(req.Version, rt, 0)
		tk := topicKey{t0.topic, t0.topicID}
		ti, ok := topicAt[tk]
		if !ok {
			ti = len(out)
			topicAt[tk] = ti
			ot := kmsg.NewProduceRequestTopic()
			ot.Topic, ot.TopicID = rt.Topic, rt.TopicID
			out = append(out, ot)
		}
		for j := range rt.Partitions {
			t := targetOf(req.Version, rt, rt.Partitions[j].Partition)
			if pj, dup := partitionAt[t]; dup {
				out[ti].Partitions[pj] = rt.Partitions[j]
				continue
			}
			partitionAt[t] = len(out[ti].Partitions)
			out[ti].Partitions = append(out[ti].Partitions, rt.Partitions[j])
		}
	}
	return out
}

// produceTo appends one partition's records and fills in its response.
// It returns the last offset of the records (of the original batch, for a
// retried one), meaningful when sp has no error. In a cluster ld is the
// partition's leader, which appends them (Leader.Append: leadership and,
// for acksAll, min.insync.replicas checked under its append lock, then
// the high watermark moved); nil on a single broker.
func (s *Server) produceTo(l *tlog.Log, ld *replica.Leader, acksAll bool, records []byte, sp *kmsg.ProduceResponseTopicPartition, tm *topicMetrics) (lastOffset int64) {
	// The header alone decides whether the check decompresses (and
	// whether compression.type re-encodes); ValidateBatches checks it
	// again with the rest.
	h, err := recordbatch.ParseHeader(records)
	if err != nil {
		sp.ErrorCode = kerr.CorruptMessage.Code
		sp.ErrorMessage = errorMessage(fmt.Errorf("server: produce: %w", err))
		return -1
	}
	want, recompress := topicCodec(l.Config().CompressionType)
	recompress = recompress && h.Codec() != want
	var release func()
	if h.Codec() != recordbatch.CodecNone || recompress {
		// Decompressing is CPU-bound and may hold up to
		// maxDecompressedBytes: a slot per core bounds both across
		// connections. A re-encoded batch lives in a buffer until it is
		// appended, so re-encoding holds its slot until then.
		var ok bool
		if release, ok = s.recompressSlot(); !ok {
			sp.ErrorCode = kerr.NotLeaderForPartition.Code // shutting down: retry elsewhere
			return -1
		}
	}
	// The log's one rule for a producer's batch (exactly one batch, not a
	// control or transactional one, CRC, records read whole,
	// max.message.bytes, keys of a compacted topic, producer fields): no
	// batch a consumer cannot read is ever stored.
	_, err = l.ValidateBatches(records, tlog.WriterProducer, maxDecompressedBytes)
	if release != nil && (!recompress || err != nil) {
		release()
	}
	if err != nil {
		sp.ErrorCode = errorCode(err)
		sp.ErrorMessage = errorMessage(fmt.Errorf("server: produce: %w", err))
		return -1
	}
	recompressed := false
	if recompress {
		// compression.type differs from the producer's codec: store the
		// batch re-encoded, as Kafka does.
		defer release()
		buf := bytebufferpool.Get()
		defer bytebufferpool.Put(buf)
		out, err := recordbatch.Recompress(buf.B[:0], records, want, maxDecompressedBytes)
		if err != nil {
			sp.ErrorCode = produceErrorCode(err)
			sp.ErrorMessage = errorMessage(fmt.Errorf("server: produce: re-encoding for compression.type: %w", err))
			return -1
		}
		buf.B = out
		records, recompressed = out, true
	}
	appendTo := l.AppendProduced // checked whole above
	if recompressed {
		appendTo = l.AppendBatches // re-encoded here: the log checks it all
	}
	var info tlog.AppendInfo
	if ld != nil {
		info, err = ld.Append(appendTo, records, acksAll)
	} else {
		info, err = appendTo(records)
	}
	if err != nil {
		sp.ErrorCode = errorCode(err)
		sp.ErrorMessage = errorMessage(err)
		return -1
	}
	sp.BaseOffset = info.BaseOffset
	sp.LogAppendTime = info.LogAppendTime
	sp.LogStartOffset = l.StartOffset()
	if info.Duplicate {
		// A retry of a batch already stored: answered with the original
		// offsets, counted once.
		return info.LastOffset
	}
	tm.bytesIn.Add(float64(len(records)))
	tm.recordsIn.Add(float64(h.LastOffsetDelta) + 1)
	return info.LastOffset
}

// failureCarriesLogStart reports whether a produce error answer carries
// the partition's log start offset, as Kafka's ReplicaManager fills it in:
// for every failure of the append itself (OUT_OF_ORDER_SEQUENCE_NUMBER,
// UNKNOWN_PRODUCER_ID, INVALID_PRODUCER_EPOCH, INVALID_RECORD, ...), but
// not for the request-level refusals it answers before or around the log
// (unknown or internal topic, acks, damaged or too large batches, storage
// errors, shutting down), which keep -1. A producer told
// UNKNOWN_PRODUCER_ID compares it with its last acknowledged offset
// (KIP-360): at or past it, retention took the producer's state, and the
// producer may safely start a new sequence.
func failureCarriesLogStart(code int16) bool {
	switch code {
	case kerr.UnknownTopicOrPartition.Code, kerr.InvalidTopicException.Code, kerr.InvalidRequiredAcks.Code,
		kerr.NotLeaderForPartition.Code, kerr.MessageTooLarge.Code, kerr.RecordListTooLarge.Code,
		kerr.CorruptMessage.Code, kerr.KafkaStorageError.Code:
		return false
	}
	return true
}

// produceErrorCode is the Kafka error for a batch, valid to the log, that
// cannot be re-encoded for compression.type: MESSAGE_TOO_LARGE for records
// that decompress past maxDecompressedBytes, INVALID_RECORD for records
// that disagree with their header (not retriable: the producer built them
// so), CORRUPT_MESSAGE for anything else.
func produceErrorCode(err error) int16 {
	switch {
	case errors.Is(err, recordbatch.ErrTooLarge):
		return kerr.MessageTooLarge.Code
	case errors.Is(err, recordbatch.ErrInvalidRecords):
		return kerr.InvalidRecord.Code
	}
	return kerr.CorruptMessage.Code
}
