package consumergroup

import (
	"cmp"
	"iter"
	"slices"
	"unique"
)

// offsetTable is a group's committed offsets, kept compact because an idle
// group is mostly this: one entry per topic, sorted by name, each with its
// partitions' commits sorted by partition. Topic names and commit metadata
// are interned (unique.Handle: one copy of each distinct string, shared by
// every group, freed with the last group that names it), so a commit costs
// 40 bytes plus its share of a slice, where a map entry with its own
// strings cost several hundred.
type offsetTable []topicOffsets

type topicOffsets struct {
	topic unique.Handle[string]
	parts []committed // sorted by partition
}

// committed is one partition's OffsetAndMetadata, compacted.
type committed struct {
	partition   int32
	leaderEpoch int32
	offset      int64
	commitTime  int64
	expireTime  int64
	metadata    unique.Handle[string] // the zero Handle for ""
}

func intern(s string) unique.Handle[string] {
	if s == "" {
		return unique.Handle[string]{}
	}
	return unique.Make(s)
}

func unintern(h unique.Handle[string]) string {
	if h == (unique.Handle[string]{}) {
		return ""
	}
	return h.Value()
}

func (c committed) offsetAndMetadata() OffsetAndMetadata {
	return OffsetAndMetadata{Offset: c.offset, LeaderEpoch: c.leaderEpoch, Metadata: unintern(c.metadata),
		CommitTime: c.commitTime, ExpireTime: c.expireTime}
}

// findTopic returns where topic is, or would go, in t.
func (t offsetTable) findTopic(topic string) (int, bool) {
	return slices.BinarySearchFunc(t, topic, func(e topicOffsets, name string) int {
		return cmp.Compare(e.topic.Value(), name)
	})
}

func findPartition(parts []committed, p int32) (int, bool) {
	return slices.BinarySearchFunc(parts, p, func(c committed, p int32) int { return cmp.Compare(c.partition, p) })
}

// get returns the commit of tp.
func (t offsetTable) get(tp TopicPartition) (OffsetAndMetadata, bool) {
	i, ok := t.findTopic(tp.Topic)
	if !ok {
		return OffsetAndMetadata{}, false
	}
	j, ok := findPartition(t[i].parts, tp.Partition)
	if !ok {
		return OffsetAndMetadata{}, false
	}
	return t[i].parts[j].offsetAndMetadata(), true
}

// set stores the commit of tp, replacing any earlier one.
func (t *offsetTable) set(tp TopicPartition, om OffsetAndMetadata) {
	c := committed{partition: tp.Partition, leaderEpoch: om.LeaderEpoch, offset: om.Offset,
		commitTime: om.CommitTime, expireTime: om.ExpireTime, metadata: intern(om.Metadata)}
	i, ok := t.findTopic(tp.Topic)
	if !ok {
		// A slice of exactly one: most groups commit one topic, and most
		// tables never grow past what they were first given.
		*t = slices.Insert(*t, i, topicOffsets{topic: unique.Make(tp.Topic), parts: []committed{c}})
		return
	}
	parts := &(*t)[i].parts
	if j, ok := findPartition(*parts, tp.Partition); ok {
		(*parts)[j] = c
	} else {
		*parts = slices.Insert(*parts, j, c)
	}
}

// delete drops the commit of tp; false when there was none.
func (t *offsetTable) delete(tp TopicPartition) bool {
	i, ok := t.findTopic(tp.Topic)
	if !ok {
		return false
	}
	parts := &(*t)[i].parts
	j, ok := findPartition(*parts, tp.Partition)
	if !ok {
		return false
	}
	*parts = slices.Delete(*parts, j, j+1)
	if len(*parts) == 0 {
		*t = slices.Delete(*t, i, i+1)
	}
	if len(*t) == 0 {
		*t = nil
	}
	return true
}

// len is the number of commits.
func (t offsetTable) len() int {
	n := 0
	for _, e := range t {
		n += len(e.parts)
	}
	return n
}

// all yields every commit in topic then partition order. The table must
// not change while it is iterated.
func (t offsetTable) all() iter.Seq2[TopicPartition, OffsetAndMetadata] {
	return func(yield func(TopicPartition, OffsetAndMetadata) bool) {
		for _, e := range t {
			topic := e.topic.Value()
			for _, c := range e.parts {
				if !yield(TopicPartition{Topic: topic, Partition: c.partition}, c.offsetAndMetadata()) {
					return
				}
			}
		}
	}
}

// lastCommit is the newest commit time of the table; 0 when empty.
func (t offsetTable) lastCommit() int64 {
	var last int64
	for _, e := range t {
		for _, c := range e.parts {
			last = max(last, c.commitTime)
		}
	}
	return last
}
