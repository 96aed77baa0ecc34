package wire_test

import (
	"math/rand"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// randFetchResponse builds a random FetchResponse at the given version. It
// fills every field, whether or not the version carries it, so the encoder
// is also checked for ignoring what a version lacks. Unknown tag keys never
// collide with the known tags of the same struct, so kmsg can decode the
// result back to what went in.
func randFetchResponse(rng *rand.Rand, version int16) *kmsg.FetchResponse {
	r := kmsg.NewPtrFetchResponse()
	r.Version = version
	r.ThrottleMillis = randInt32(rng)
	r.ErrorCode = randErrorCode(rng)
	r.SessionID = randInt32(rng)

	r.Topics = randSlice[kmsg.FetchResponseTopic](rng, 6)
	for i := range r.Topics {
		t := &r.Topics[i]
		t.Topic = randString(rng)
		if rng.Intn(4) > 0 {
			rng.Read(t.TopicID[:])
		}
		t.Partitions = randSlice[kmsg.FetchResponseTopicPartition](rng, 6)
		for j := range t.Partitions {
			t.Partitions[j] = randPartition(rng)
		}
		t.UnknownTags = randTags(rng, 0)
	}

	if rng.Intn(3) == 0 {
		r.Brokers = randSlice[kmsg.FetchResponseBroker](rng, 5)
		for i := range r.Brokers {
			b := &r.Brokers[i]
			b.NodeID = randInt32(rng)
			b.Host = randString(rng)
			b.Port = rng.Int31n(65536)
			if rng.Intn(2) == 0 {
				rack := randString(rng)
				b.Rack = &rack
			}
			b.UnknownTags = randTags(rng, 0)
		}
	}
	r.UnknownTags = randTags(rng, 1)
	return r
}

func randPartition(rng *rand.Rand) kmsg.FetchResponseTopicPartition {
	p := kmsg.NewFetchResponseTopicPartition()
	p.Partition = randInt32(rng)
	p.ErrorCode = randErrorCode(rng)
	p.HighWatermark = randInt64(rng)
	p.LastStableOffset = randInt64(rng)
	p.LogStartOffset = randInt64(rng)

	switch rng.Intn(4) {
	case 0: // nil: not read_committed
	case 1:
		p.AbortedTransactions = []kmsg.FetchResponseTopicPartitionAbortedTransaction{}
	default:
		p.AbortedTransactions = make([]kmsg.FetchResponseTopicPartitionAbortedTransaction, 1+rng.Intn(4))
		for k := range p.AbortedTransactions {
			a := &p.AbortedTransactions[k]
			a.ProducerID = randInt64(rng)
			a.FirstOffset = randInt64(rng)
			a.UnknownTags = randTags(rng, 0)
		}
	}

	if rng.Intn(2) == 0 {
		p.PreferredReadReplica = randInt32(rng)
	}
	p.RecordBatches = randBytes(rng)

	// Each tagged struct is left at its defaults (omitted), or has some
	// of its fields set; an all-default struct with unknown tags must
	// still be written.
	if rng.Intn(2) == 0 {
		if rng.Intn(3) > 0 {
			p.DivergingEpoch.Epoch = randInt32(rng)
		}
		if rng.Intn(3) > 0 {
			p.DivergingEpoch.EndOffset = randInt64(rng)
		}
		p.DivergingEpoch.UnknownTags = randTags(rng, 0)
	}
	if rng.Intn(2) == 0 {
		if rng.Intn(3) > 0 {
			p.CurrentLeader.LeaderID = randInt32(rng)
		}
		if rng.Intn(3) > 0 {
			p.CurrentLeader.LeaderEpoch = randInt32(rng)
		}
		p.CurrentLeader.UnknownTags = randTags(rng, 0)
	}
	if rng.Intn(2) == 0 {
		if rng.Intn(3) > 0 {
			p.SnapshotID.EndOffset = randInt64(rng)
		}
		if rng.Intn(3) > 0 {
			p.SnapshotID.Epoch = randInt32(rng)
		}
		p.SnapshotID.UnknownTags = randTags(rng, 0)
	}
	p.UnknownTags = randTags(rng, 3)
	return p
}

// randSlice returns nil, empty or up to max elements, all zero.
func randSlice[T any](rng *rand.Rand, max int) []T {
	switch rng.Intn(5) {
	case 0:
		return nil
	case 1:
		return []T{}
	default:
		return make([]T, 1+rng.Intn(max))
	}
}

// randTags occasionally returns unknown tags with keys from minKey up, some
// large enough to need a multi-byte size.
func randTags(rng *rand.Rand, minKey uint32) kmsg.Tags {
	var t kmsg.Tags
	if rng.Intn(8) != 0 {
		return t
	}
	for range 1 + rng.Intn(3) {
		key := minKey + uint32(rng.Intn(20))
		if rng.Intn(8) == 0 {
			key = minKey + 128 + uint32(rng.Intn(1<<20))
		}
		val := make([]byte, randLen(rng))
		rng.Read(val)
		t.Set(key, val)
	}
	return t
}

// randBytes returns nil, empty, or random record bytes whose lengths cross
// the uvarint width boundaries.
func randBytes(rng *rand.Rand) []byte {
	switch rng.Intn(5) {
	case 0:
		return nil
	case 1:
		return []byte{}
	}
	b := make([]byte, 1+randLen(rng))
	rng.Read(b)
	return b
}

func randString(rng *rand.Rand) string {
	b := make([]byte, randLen(rng))
	rng.Read(b)
	return string(b)
}

// randLen is usually short, sometimes past 127 and 16383 (the one- and
// two-byte uvarint limits).
func randLen(rng *rand.Rand) int {
	switch rng.Intn(16) {
	case 0:
		return 120 + rng.Intn(20)
	case 1:
		return 16380 + rng.Intn(8)
	default:
		return rng.Intn(24)
	}
}

func randErrorCode(rng *rand.Rand) int16 {
	if rng.Intn(2) == 0 {
		return 0
	}
	return int16(rng.Intn(130)) - 1
}

func randInt32(rng *rand.Rand) int32 {
	switch rng.Intn(4) {
	case 0:
		return -1
	case 1:
		return int32(rng.Uint32())
	default:
		return rng.Int31n(1000)
	}
}

func randInt64(rng *rand.Rand) int64 {
	switch rng.Intn(4) {
	case 0:
		return -1
	case 1:
		return int64(rng.Uint64())
	default:
		return rng.Int63n(1 << 40)
	}
}
