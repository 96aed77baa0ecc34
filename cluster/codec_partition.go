package cluster

// The partition value's fast paths. A failover at 10,000 partitions
// writes 10,000 partition values and every broker's watch decodes all of
// them: through encoding/json (reflection, and the value parsed twice,
// once for its version) that was about 5 µs a value, a broker's largest
// cost of applying the watch and, times three brokers, a quarter of the
// metadata work of a failover on the quorum's machines besides etcd's own
// (BenchmarkControllerFailoverWrites' CPU profile). The value's format is
// unchanged: version 1, as encodePartition has always written it, so
// nothing here touches the compatibility rule (codec_etcd.go).
//
// appendPartitionV1 writes byte for byte what encoding/json writes for a
// partitionV1; parsePartitionV1 reads exactly that form (encoding/json's
// field order, no spaces, version 1) and declines anything else, which
// decodePartition then hands to encoding/json: a value written by hand,
// by another tool or by a future version is read as before. Neither may
// ever differ from encoding/json on what it accepts
// (FuzzPartitionValue).

import (
	"slices"
	"strconv"
)

// safeTopicByte is whether encoding/json writes c as itself inside a
// string (Kafka topic names are [a-zA-Z0-9._-]; anything else takes the
// slow path, which escapes it as encoding/json does).
func safeTopicByte(c byte) bool {
	return c >= 0x20 && c < 0x7f && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&'
}

// appendPartitionV1 appends p's version-1 value, as
// json.Marshal(partitionV1) writes it, and reports whether it could (a
// topic name with a byte encoding/json escapes cannot).
func appendPartitionV1(b []byte, p PartitionState) ([]byte, bool) {
	for i := 0; i < len(p.Topic); i++ {
		if !safeTopicByte(p.Topic[i]) {
			return b, false
		}
	}
	b = append(b, `{"v":1,"topic":"`...)
	b = append(b, p.Topic...)
	b = append(b, `","partition":`...)
	b = strconv.AppendInt(b, int64(p.Partition), 10)
	b = appendInt32s(append(b, `,"replicas":`...), p.Replicas)
	b = appendInt32s(append(b, `,"isr":`...), p.ISR)
	b = strconv.AppendInt(append(b, `,"leader":`...), int64(p.Leader), 10)
	b = strconv.AppendInt(append(b, `,"leader_epoch":`...), int64(p.LeaderEpoch), 10)
	b = strconv.AppendInt(append(b, `,"partition_epoch":`...), int64(p.PartitionEpoch), 10)
	if len(p.TargetReplicas) > 0 {
		b = appendInt32s(append(b, `,"target_replicas":`...), p.TargetReplicas)
	}
	if len(p.AddingReplicas) > 0 {
		b = appendInt32s(append(b, `,"adding_replicas":`...), p.AddingReplicas)
	}
	if len(p.RemovingReplicas) > 0 {
		b = appendInt32s(append(b, `,"removing_replicas":`...), p.RemovingReplicas)
	}
	return append(b, '}'), true
}

// appendInt32s appends a JSON array of s ([] for nil, as nonNil makes
// the required lists).
func appendInt32s(b []byte, s []int32) []byte {
	b = append(b, '[')
	for i, n := range s {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendInt(b, int64(n), 10)
	}
	return append(b, ']')
}

// partitionParser reads one value of the form appendPartitionV1 writes.
type partitionParser struct {
	val []byte
	pos int
	ok  bool // false once anything did not match
}

// lit consumes s, exactly.
func (r *partitionParser) lit(s string) {
	if !r.ok || len(r.val)-r.pos < len(s) || string(r.val[r.pos:r.pos+len(s)]) != s {
		r.ok = false
		return
	}
	r.pos += len(s)
}

// peek reports whether s comes next, consuming it if so.
func (r *partitionParser) peek(s string) bool {
	if r.ok && len(r.val)-r.pos >= len(s) && string(r.val[r.pos:r.pos+len(s)]) == s {
		r.pos += len(s)
		return true
	}
	return false
}

// int32 reads -?(0|[1-9][0-9]*) within int32's range; "-0" and anything
// longer than int32's digits are declined (encoding/json takes "-0" as
// 0 and refuses the rest: the slow path says which).
func (r *partitionParser) int32() int32 {
	if !r.ok {
		return 0
	}
	neg := r.pos < len(r.val) && r.val[r.pos] == '-'
	if neg {
		r.pos++
	}
	start := r.pos
	var n int64
	for r.pos < len(r.val) && r.val[r.pos] >= '0' && r.val[r.pos] <= '9' && r.pos-start < 11 {
		n = n*10 + int64(r.val[r.pos]-'0')
		r.pos++
	}
	digits := r.pos - start
	switch {
	case digits == 0, digits > 10, digits > 1 && r.val[start] == '0', neg && n == 0:
		r.ok = false
		return 0
	}
	if neg {
		n = -n
	}
	if n < -1<<31 || n > 1<<31-1 {
		r.ok = false
		return 0
	}
	return int32(n)
}

// list reads a JSON array of int32s onto nums and returns where it
// starts and ends there.
func (r *partitionParser) list(nums *[]int32) (from, to int) {
	from = len(*nums)
	r.lit("[")
	if r.peek("]") {
		return from, from
	}
	for r.ok {
		*nums = append(*nums, r.int32())
		if r.peek("]") {
			break
		}
		r.lit(",")
	}
	return from, len(*nums)
}

// parsePartitionV1 reads val if it is in exactly the form
// appendPartitionV1 writes (so that appendPartitionV1 gives val back),
// with what json.Unmarshal would have read into a partitionV1 (replicas
// and isr non-nil even when empty, the reassignment lists nil when
// absent); ok is false for any other value.
func parsePartitionV1(val []byte) (p PartitionState, ok bool) {
	r := partitionParser{val: val, ok: true}
	r.lit(`{"v":1,"topic":"`)
	start := r.pos
	for r.ok && r.pos < len(val) && val[r.pos] != '"' {
		if !safeTopicByte(val[r.pos]) {
			return PartitionState{}, false
		}
		r.pos++
	}
	end := r.pos
	r.lit(`","partition":`)
	p.Partition = r.int32()
	// Every list of the value in one array: a state is read whole or
	// not at all, and one allocation backs all its lists.
	var buf [16]int32
	nums := buf[:0]
	r.lit(`,"replicas":`)
	rf, rt := r.list(&nums)
	r.lit(`,"isr":`)
	isf, ist := r.list(&nums)
	r.lit(`,"leader":`)
	p.Leader = r.int32()
	r.lit(`,"leader_epoch":`)
	p.LeaderEpoch = r.int32()
	r.lit(`,"partition_epoch":`)
	p.PartitionEpoch = r.int32()
	opt := [3][2]int{{-1, -1}, {-1, -1}, {-1, -1}}
	for i, name := range [3]string{`,"target_replicas":`, `,"adding_replicas":`, `,"removing_replicas":`} {
		if r.peek(name) {
			opt[i][0], opt[i][1] = r.list(&nums)
			// Written only when not empty (omitempty): an empty one
			// is not this form.
			r.ok = r.ok && opt[i][0] < opt[i][1]
		}
	}
	r.lit("}")
	if !r.ok || r.pos != len(val) {
		return PartitionState{}, false
	}
	p.Topic = string(val[start:end])
	all := slices.Clone(nums)
	if all == nil {
		all = []int32{}
	}
	// Full slice expressions: an append to one list must not write
	// into the next.
	p.Replicas, p.ISR = all[rf:rt:rt], all[isf:ist:ist]
	for i, dst := range [3]*[]int32{&p.TargetReplicas, &p.AddingReplicas, &p.RemovingReplicas} {
		if f, t := opt[i][0], opt[i][1]; f >= 0 {
			*dst = all[f:t:t]
		}
	}
	return p, true
}

// isPartitionKey is whether key is partitionKey(topic, p), without
// building it.
func isPartitionKey(key, topic string, p int32) bool {
	n := len(keyPartitions) + len(topic) + 1
	if len(key) <= n || key[:len(keyPartitions)] != keyPartitions ||
		key[len(keyPartitions):n-1] != topic || key[n-1] != '/' {
		return false
	}
	var digits [12]byte
	return key[n:] == string(strconv.AppendInt(digits[:0], int64(p), 10))
}
