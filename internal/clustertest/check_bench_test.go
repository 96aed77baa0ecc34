package clustertest

import (
	"fmt"
	"testing"
)

// synthRun is a clean run of n records over parts partitions of topic
// "t", acknowledged, on replicas identical replicas, polled once by a
// direct consumer.
func synthRun(n int, parts int32, replicas int) ([]Event, []Replica) {
	h := make([]Event, 0, 3*n+int(parts))
	logs := map[TopicPartition]*PartitionLog{}
	for p := range parts {
		tp := TopicPartition{"t", p}
		logs[tp] = &PartitionLog{}
		h = append(h, Event{Kind: EvAssign, Client: 100, TP: tp, Offset: 0})
	}
	for s := range int64(n) {
		tp := TopicPartition{"t", int32(s % int64(parts))}
		id := ID{1, s}
		pl := logs[tp]
		off := pl.End
		pl.Records = append(pl.Records, LogRecord{Offset: off, ID: id, OK: true})
		pl.End++
		h = append(h,
			Event{Kind: EvSend, Client: 1, TP: tp, Offset: -1, ID: id},
			Event{Kind: EvAck, Client: 1, TP: tp, Offset: off, ID: id},
			Event{Kind: EvPoll, Client: 100, TP: tp, Offset: off, ID: id, OK: true})
	}
	reps := make([]Replica, replicas)
	for i := range reps {
		reps[i] = Replica{Node: i + 1, Logs: logs}
	}
	return h, reps
}

// BenchmarkCheck shows the checker's cost per event staying flat as the
// history grows ten- and a hundredfold: it is linear.
func BenchmarkCheck(b *testing.B) {
	for _, n := range []int{1_000, 10_000, 100_000} {
		b.Run(fmt.Sprintf("records=%d/replicas=3", n), func(b *testing.B) {
			h, reps := synthRun(n, 6, 3)
			b.SetBytes(int64(n * DefaultValueSize))
			b.ReportAllocs()
			for b.Loop() {
				if res := Check(h, reps, CheckOptions{ConsumedAll: true}); !res.OK() {
					b.Fatal(res.Report())
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(len(h)), "ns/event")
		})
	}
}
