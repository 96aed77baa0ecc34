package cluster

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// jsonEncodePartition is the partition value as encoding/json writes it,
// the form every version-1 writer has used.
func jsonEncodePartition(p PartitionState) string {
	return mustJSON(partitionV1{
		V: FormatVersion, Topic: p.Topic, Partition: p.Partition,
		Replicas: nonNil(p.Replicas), ISR: nonNil(p.ISR),
		Leader: p.Leader, LeaderEpoch: p.LeaderEpoch, PartitionEpoch: p.PartitionEpoch,
		TargetReplicas: p.TargetReplicas, AddingReplicas: p.AddingReplicas, RemovingReplicas: p.RemovingReplicas,
	})
}

// randomPartitionStates is states of every shape a partition takes:
// offline (leader -1), empty and nil lists, reassignments, extreme
// numbers.
func randomPartitionStates(n int) []PartitionState {
	rng := rand.New(rand.NewPCG(7, 11))
	nums := []int32{0, 1, 2, 3, 1 << 30, -1, 1<<31 - 1, -1 << 31, 42}
	list := func(emptyNil bool) []int32 {
		switch rng.IntN(5) {
		case 0:
			if emptyNil {
				return nil
			}
			return []int32{}
		default:
			var l []int32
			for range 1 + rng.IntN(5) {
				l = append(l, nums[rng.IntN(len(nums))])
			}
			return l
		}
	}
	states := []PartitionState{
		{Topic: "t", Partition: 0, Replicas: []int32{1, 2, 3}, ISR: []int32{1, 2, 3}, Leader: 1},
		{Topic: "fo10000-48", Partition: 31, Replicas: []int32{2, 3, 1}, ISR: []int32{3, 1}, Leader: 3, LeaderEpoch: 4, PartitionEpoch: 9},
		{Topic: "off", Partition: 7, Replicas: []int32{1}, ISR: []int32{}, Leader: NoLeader, LeaderEpoch: 2, PartitionEpoch: 2},
		{Topic: "nil-lists", Partition: 1, Leader: NoLeader},
		{Topic: "move", Partition: 2, Replicas: []int32{1, 2, 3, 4}, ISR: []int32{1, 2, 3}, Leader: 1,
			TargetReplicas: []int32{2, 3, 4}, AddingReplicas: []int32{4}, RemovingReplicas: []int32{1}},
	}
	for len(states) < n {
		states = append(states, PartitionState{
			Topic: fmt.Sprintf("topic.%d_x-%d", rng.IntN(1000), rng.IntN(10)), Partition: nums[rng.IntN(len(nums))],
			Replicas: list(true), ISR: list(true), Leader: nums[rng.IntN(len(nums))],
			LeaderEpoch: nums[rng.IntN(len(nums))], PartitionEpoch: nums[rng.IntN(len(nums))],
			TargetReplicas: list(true), AddingReplicas: list(true), RemovingReplicas: list(true),
		})
	}
	return states
}

func TestPartitionValueIsWrittenAsEncodingJSONWritesIt(t *testing.T) {
	for _, p := range randomPartitionStates(500) {
		if got, want := encodePartition(p), jsonEncodePartition(p); got != want {
			t.Fatalf("encodePartition(%+v)\n got %s\nwant %s", p, got, want)
		}
	}
	// A name encoding/json escapes is written by encoding/json.
	p := PartitionState{Topic: `a<b>&"c\`, Replicas: []int32{1}, ISR: []int32{1}, Leader: 1}
	if _, ok := appendPartitionV1(nil, p); ok {
		t.Fatalf("appendPartitionV1 wrote topic %q itself", p.Topic)
	}
	if got, want := encodePartition(p), jsonEncodePartition(p); got != want {
		t.Fatalf("encodePartition(%q)\n got %s\nwant %s", p.Topic, got, want)
	}
}

func TestPartitionValueIsReadAsEncodingJSONReadsIt(t *testing.T) {
	for _, p := range randomPartitionStates(500) {
		val := []byte(jsonEncodePartition(p))
		key := partitionKey(p.Topic, p.Partition)
		if _, ok := parsePartitionV1(val); !ok {
			t.Fatalf("the fast path declined encoding/json's value %s", val)
		}
		got, err := decodePartition(key, val, 17)
		if err != nil {
			t.Fatal(err)
		}
		want, err := decodePartitionJSON(key, val, 17)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("decodePartition(%s)\n got %#v\nwant %#v", val, got, want)
		}
		if _, err := decodePartition(partitionKey(p.Topic, p.Partition+1), val, 17); err == nil {
			t.Fatalf("value %s accepted under another partition's key", val)
		}
		if _, err := decodePartition(partitionKey(p.Topic+"x", p.Partition), val, 17); err == nil {
			t.Fatalf("value %s accepted under another topic's key", val)
		}
	}
}

// Values in any other form than the one this code writes (by hand, by
// another tool, by a later version) are read by encoding/json, with its
// result or its error.
func TestPartitionValueInAnotherFormIsReadByEncodingJSON(t *testing.T) {
	canonical := `{"v":1,"topic":"t","partition":0,"replicas":[1,2],"isr":[1],"leader":1,"leader_epoch":3,"partition_epoch":4}`
	others := []string{
		`{"v":1, "topic":"t","partition":0,"replicas":[1,2],"isr":[1],"leader":1,"leader_epoch":3,"partition_epoch":4}`,
		`{"topic":"t","v":1,"partition":0,"replicas":[1,2],"isr":[1],"leader":1,"leader_epoch":3,"partition_epoch":4}`,
		`{"v":1,"topic":"t","partition":0,"replicas":[1,2],"isr":[1],"leader":1,"leader_epoch":3,"partition_epoch":4,"new_field":true}`,
		`{"v":1,"topic":"t","partition":0,"replicas":[1,2],"isr":[1],"leader":1,"leader_epoch":3,"partition_epoch":4} `,
		`{"v":1,"topic":"t","partition":-0,"replicas":[1,2],"isr":[1],"leader":1,"leader_epoch":3,"partition_epoch":4}`,
		`{"v":1,"topic":"\u0074","partition":0,"replicas":[1,2],"isr":[1],"leader":1,"leader_epoch":3,"partition_epoch":4}`,
		`{"v":1,"topic":"t","partition":0,"replicas":[1,2],"isr":null,"leader":1,"leader_epoch":3,"partition_epoch":4}`,
		`{"v":1,"topic":"t","partition":0,"replicas":[1,2],"isr":[1],"leader":1,"leader_epoch":3,"partition_epoch":4,"target_replicas":[]}`,
		`{"V":1,"topic":"t","partition":0,"replicas":[1,2],"isr":[1],"leader":1,"leader_epoch":3,"partition_epoch":4}`,
		// Errors, as encoding/json gives them.
		`{"v":2,"topic":"t","partition":0,"replicas":[1,2],"isr":[1],"leader":1,"leader_epoch":3,"partition_epoch":4}`,
		`{"v":1,"topic":"t","partition":0,"replicas":[1,2],"isr":[1],"leader":2147483648,"leader_epoch":3,"partition_epoch":4}`,
		`{"v":1,"topic":"t","partition":0,"replicas":[1,2],"isr":[1],"leader":01,"leader_epoch":3,"partition_epoch":4}`,
		`{"v":1,"topic":"t","partition":0,"replicas":[1,2],"isr":[1],"leader":1.5,"leader_epoch":3,"partition_epoch":4}`,
		`{"v":1,"topic":"t","partition":0,"replicas":[1,2],"isr":[1],"leader":1,"leader_epoch":3,"partition_epoch":4`,
		``,
	}
	if _, ok := parsePartitionV1([]byte(canonical)); !ok {
		t.Fatalf("the fast path declined %s", canonical)
	}
	key := partitionKey("t", 0)
	for _, val := range others {
		if p, ok := parsePartitionV1([]byte(val)); ok {
			t.Errorf("the fast path read %s as %+v", val, p)
		}
		got, gotErr := decodePartition(key, []byte(val), 5)
		want, wantErr := decodePartitionJSON(key, []byte(val), 5)
		if (gotErr == nil) != (wantErr == nil) || !reflect.DeepEqual(got, want) {
			t.Errorf("decodePartition(%s) = %+v, %v; encoding/json: %+v, %v", val, got, gotErr, want, wantErr)
		}
	}
}

// The lists of a decoded state share one array; growing one must not
// write into another.
func TestDecodedPartitionListsGrowApart(t *testing.T) {
	p := PartitionState{Topic: "t", Replicas: []int32{1, 2, 3}, ISR: []int32{1, 2}, Leader: 1,
		TargetReplicas: []int32{2, 3}, AddingReplicas: []int32{3}, RemovingReplicas: []int32{1}}
	got, err := decodePartition(partitionKey("t", 0), []byte(encodePartition(p)), 1)
	if err != nil {
		t.Fatal(err)
	}
	got.Replicas = append(got.Replicas, 9)
	got.ISR = append(got.ISR, 8)
	got.TargetReplicas = append(got.TargetReplicas, 7)
	got.AddingReplicas = append(got.AddingReplicas, 6)
	want := PartitionState{Topic: "t", Replicas: []int32{1, 2, 3, 9}, ISR: []int32{1, 2, 8}, Leader: 1,
		TargetReplicas: []int32{2, 3, 7}, AddingReplicas: []int32{3, 6}, RemovingReplicas: []int32{1}, Version: 1}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("after appends: %+v, want %+v", got, want)
	}
}

func TestIsPartitionKeyMatchesPartitionKeyOnly(t *testing.T) {
	for _, tc := range []struct {
		topic string
		p     int32
	}{{"t", 0}, {"t", 12}, {"a/b", 3}, {"t", -1}, {"t", 1<<31 - 1}, {"", 0}} {
		key := partitionKey(tc.topic, tc.p)
		if !isPartitionKey(key, tc.topic, tc.p) {
			t.Errorf("isPartitionKey(%q, %q, %d) = false", key, tc.topic, tc.p)
		}
		for _, other := range []string{key + "0", strings.TrimSuffix(key, "0"), "x" + key, keyTopics + tc.topic,
			partitionKey(tc.topic+"x", tc.p), partitionKey(tc.topic, tc.p+1)} {
			if other != key && isPartitionKey(other, tc.topic, tc.p) {
				t.Errorf("isPartitionKey(%q, %q, %d) = true", other, tc.topic, tc.p)
			}
		}
	}
}

// FuzzPartitionValue: whatever the fast path reads, encoding/json reads
// alike, and it is exactly what appendPartitionV1 writes.
func FuzzPartitionValue(f *testing.F) {
	for _, p := range randomPartitionStates(20) {
		f.Add([]byte(jsonEncodePartition(p)))
	}
	f.Add([]byte(`{"v":1,"topic":"t","partition":0,"replicas":[],"isr":[],"leader":-1,"leader_epoch":0,"partition_epoch":0}`))
	f.Fuzz(func(t *testing.T, val []byte) {
		p, ok := parsePartitionV1(val)
		if !ok {
			return
		}
		var v partitionV1
		if err := json.Unmarshal(val, &v); err != nil {
			t.Fatalf("fast path read %q, encoding/json refused it: %v", val, err)
		}
		want, err := decodePartitionJSON(partitionKey(v.Topic, v.Partition), val, 0)
		if err != nil {
			t.Fatalf("fast path read %q, decodeValue refused it: %v", val, err)
		}
		if !reflect.DeepEqual(p, want) {
			t.Fatalf("%q: fast path %#v, encoding/json %#v", val, p, want)
		}
		if back, ok := appendPartitionV1(nil, p); !ok || !slices.Equal(back, val) {
			t.Fatalf("%q read, %q written back", val, back)
		}
	})
}

// BenchmarkPartitionValue is one partition value written and read, as
// the controller writes and every broker's watch reads 10,000 of them
// in a failover: codec=fast is this package's, codec=json encoding/json's.
func BenchmarkPartitionValue(b *testing.B) {
	p := PartitionState{Topic: "fo10000-48", Partition: 31, Replicas: []int32{2, 3, 1}, ISR: []int32{3, 1}, Leader: 3, LeaderEpoch: 4, PartitionEpoch: 9}
	key, val := partitionKey(p.Topic, p.Partition), []byte(encodePartition(p))
	for _, codec := range []string{"fast", "json"} {
		enc, dec := encodePartition, decodePartition
		if codec == "json" {
			enc, dec = jsonEncodePartition, decodePartitionJSON
		}
		b.Run("encode/codec="+codec, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_ = enc(p)
			}
		})
		b.Run("decode/codec="+codec, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := dec(key, val, 1); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
