package wire

import "github.com/twmb/franz-go/pkg/kmsg"

// Fetch response versions, as kmsg v1.15.1 encodes them (it knows up to
// v18). Each constant is the first version with the change:
//
//	v1   ThrottleMillis
//	v2-3 no body change (MessageSet v1 inside RecordBatches)
//	v4   LastStableOffset, AbortedTransactions (KIP-98 transactions);
//	     RecordBatches hold RecordBatch (magic 2) from here on
//	v5   LogStartOffset (KIP-107)
//	v6   no body change
//	v7   top-level ErrorCode and SessionID (KIP-227 fetch sessions)
//	v8-10 no body change
//	v11  PreferredReadReplica (KIP-392)
//	v12  flexible (KIP-482): compact lengths, tag sections; partition tags
//	     DivergingEpoch (0), CurrentLeader (1), SnapshotID (2)
//	v13  TopicID replaces the topic name (KIP-516)
//	v14-18 no body change; v16 documents the top-level NodeEndpoints tag,
//	     which kmsg calls Brokers and emits at any flexible version
const (
	versionThrottle         = 1
	versionLastStable       = 4
	versionLogStart         = 5
	versionSession          = 7
	versionPreferredReplica = 11
	versionFlexible         = 12
	versionTopicID          = 13
)

// Tag numbers of the tagged fields.
const (
	tagDivergingEpoch = 0 // partition
	tagCurrentLeader  = 1 // partition
	tagSnapshotID     = 2 // partition
	tagBrokers        = 0 // response (Kafka's NodeEndpoints)
)

// unsetTagged is the default of every int field in the partition's tagged
// structs; a struct still at its defaults, with no unknown tags, is omitted.
const unsetTagged = -1

// A Splice says that Data belongs at offset At of the dst it was made for:
// the bytes on the wire are dst[:At], Data, dst[At:]. Data is never copied;
// it must stay valid and unchanged until the write completes.
type Splice struct {
	At   int
	Data []byte
}

// AppendFetchResponse appends the body of r (what r.AppendTo appends: no size
// prefix, no response header) at version r.Version to dst, byte for byte as
// kmsg encodes it, except that each partition's RecordBatches are not
// copied: their length prefix is written to dst and, when non-empty, a
// Splice for them is appended to splices. It returns the extended dst and
// splices; splice offsets are absolute offsets into the returned dst.
//
// Neither slice is reallocated if it has room; r must not be nil and is
// not modified.
func AppendFetchResponse(dst []byte, r *kmsg.FetchResponse, splices []Splice) ([]byte, []Splice) {
	version := r.Version
	flexible := version >= versionFlexible

	if version >= versionThrottle {
		dst = appendInt32(dst, r.ThrottleMillis)
	}
	if version >= versionSession {
		dst = appendInt16(dst, r.ErrorCode)
		dst = appendInt32(dst, r.SessionID)
	}
	dst = appendArrayLen(dst, len(r.Topics), flexible)
	for i := range r.Topics {
		t := &r.Topics[i]
		// kmsg writes the name only for versions 0 to 12: a negative
		// version has neither the name nor the ID.
		if version >= 0 && version < versionTopicID {
			dst = appendString(dst, t.Topic, flexible)
		}
		if version >= versionTopicID {
			dst = append(dst, t.TopicID[:]...)
		}
		dst = appendArrayLen(dst, len(t.Partitions), flexible)
		for j := range t.Partitions {
			dst, splices = appendPartition(dst, &t.Partitions[j], version, splices)
		}
		if flexible {
			dst = appendTagsWithCount(dst, &t.UnknownTags)
		}
	}
	if flexible {
		dst = appendResponseTags(dst, r)
	}
	return dst, splices
}

func appendPartition(dst []byte, p *kmsg.FetchResponseTopicPartition, version int16, splices []Splice) ([]byte, []Splice) {
	flexible := version >= versionFlexible

	dst = appendInt32(dst, p.Partition)
	dst = appendInt16(dst, p.ErrorCode)
	dst = appendInt64(dst, p.HighWatermark)
	if version >= versionLastStable {
		dst = appendInt64(dst, p.LastStableOffset)
	}
	if version >= versionLogStart {
		dst = appendInt64(dst, p.LogStartOffset)
	}
	if version >= versionLastStable {
		// nil (not requested, or read_uncommitted) and empty differ on
		// the wire: null versus a zero-length array.
		txns := p.AbortedTransactions
		dst = appendNullableArrayLen(dst, len(txns), txns == nil, flexible)
		for k := range txns {
			dst = appendInt64(dst, txns[k].ProducerID)
			dst = appendInt64(dst, txns[k].FirstOffset)
			if flexible {
				dst = appendTagsWithCount(dst, &txns[k].UnknownTags)
			}
		}
	}
	if version >= versionPreferredReplica {
		dst = appendInt32(dst, p.PreferredReadReplica)
	}

	// The record bytes themselves: prefix here, bytes by reference.
	dst = appendNullableBytesLen(dst, p.RecordBatches, flexible)
	if len(p.RecordBatches) > 0 {
		splices = append(splices, Splice{At: len(dst), Data: p.RecordBatches})
	}

	if flexible {
		dst = appendPartitionTags(dst, p)
	}
	return dst, splices
}

// appendPartitionTags writes the partition's tag section: the known tagged
// fields that are not at their defaults, in tag order, then unknown tags.
func appendPartitionTags(dst []byte, p *kmsg.FetchResponseTopicPartition) []byte {
	de, cl, sn := &p.DivergingEpoch, &p.CurrentLeader, &p.SnapshotID
	hasDE := de.Epoch != unsetTagged || de.EndOffset != unsetTagged || de.UnknownTags.Len() > 0
	hasCL := cl.LeaderID != unsetTagged || cl.LeaderEpoch != unsetTagged || cl.UnknownTags.Len() > 0
	hasSn := sn.EndOffset != unsetTagged || sn.Epoch != unsetTagged || sn.UnknownTags.Len() > 0

	n := p.UnknownTags.Len()
	for _, has := range [...]bool{hasDE, hasCL, hasSn} {
		if has {
			n++
		}
	}
	dst = appendUvarint(dst, uint32(n))

	var at int
	if hasDE {
		dst = appendUvarint(dst, tagDivergingEpoch)
		dst, at = beginSized(dst)
		dst = appendInt32(dst, de.Epoch)
		dst = appendInt64(dst, de.EndOffset)
		dst = appendTagsWithCount(dst, &de.UnknownTags)
		dst = endSized(dst, at)
	}
	if hasCL {
		dst = appendUvarint(dst, tagCurrentLeader)
		dst, at = beginSized(dst)
		dst = appendInt32(dst, cl.LeaderID)
		dst = appendInt32(dst, cl.LeaderEpoch)
		dst = appendTagsWithCount(dst, &cl.UnknownTags)
		dst = endSized(dst, at)
	}
	if hasSn {
		dst = appendUvarint(dst, tagSnapshotID)
		dst, at = beginSized(dst)
		dst = appendInt64(dst, sn.EndOffset)
		dst = appendInt32(dst, sn.Epoch)
		dst = appendTagsWithCount(dst, &sn.UnknownTags)
		dst = endSized(dst, at)
	}
	return p.UnknownTags.AppendEach(dst)
}

// appendResponseTags writes the top-level tag section: Brokers when there
// are any, then unknown tags.
func appendResponseTags(dst []byte, r *kmsg.FetchResponse) []byte {
	n := r.UnknownTags.Len()
	if len(r.Brokers) > 0 {
		n++
	}
	dst = appendUvarint(dst, uint32(n))
	if len(r.Brokers) > 0 {
		var at int
		dst = appendUvarint(dst, tagBrokers)
		dst, at = beginSized(dst)
		dst = appendArrayLen(dst, len(r.Brokers), true)
		for i := range r.Brokers {
			b := &r.Brokers[i]
			dst = appendInt32(dst, b.NodeID)
			dst = appendString(dst, b.Host, true)
			dst = appendInt32(dst, b.Port)
			dst = appendNullableString(dst, b.Rack, true)
			dst = appendTagsWithCount(dst, &b.UnknownTags)
		}
		dst = endSized(dst, at)
	}
	return r.UnknownTags.AppendEach(dst)
}
