package log

import (
	"fmt"
	"runtime"
	"testing"

	"github.com/tributary-io/tributary/recordbatch"
)

// fillProducers applies batches batches of 10 records for each of n
// producers, as a partition's appends would: one append a millisecond,
// each batch's max timestamp up to a second behind (client clocks), and
// returns the log end.
func fillProducers(t *producerTable, n, batches int) int64 {
	h := recordbatch.Header{LastOffsetDelta: 9, ProducerEpoch: 0}
	off := int64(0)
	for j := range batches {
		for pid := range n {
			now := 1_700_000_000_000 + off/10
			h.ProducerID, h.BaseOffset, h.BaseSequence = int64(pid)*7+1_000_000, off, int32(j*10)
			h.MaxTimestamp = now - int64(pid%1000)
			t.apply(&h, now)
			off += 10
		}
	}
	return off
}

func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// BenchmarkProducerState: what idempotent producers cost a partition, in
// heap (the producer table) and in producer-snapshot bytes, with one batch
// cached per producer (a flood of short-lived producers) and with the full
// five; without a limit (Kafka's behaviour) and under the default
// max.producers.per.partition. The per-producer figures divide by the
// producers that appended, the totals are the partition's. Run with
// -benchtime=1x: each iteration appends for 100,000 producers.
func BenchmarkProducerState(b *testing.B) {
	const n = 100_000
	for _, limit := range []int{0, DefaultMaxProducersPerPartition} {
		for _, batches := range []int{1, maxProducerBatches} {
			b.Run(fmt.Sprintf("producers=%d/limit=%d/batches=%d", n, limit, batches), func(b *testing.B) {
				b.ReportAllocs()
				var heap, snap float64
				for range b.N {
					before := heapInUse()
					t := producerTable{m: map[int64]*producerEntry{}, limit: limit}
					end := fillProducers(&t, n, batches)
					heap = float64(heapInUse() - before)
					snap = float64(len(encodeProducerSnapshot(end, t.m)))
					runtime.KeepAlive(t.m)
				}
				b.ReportMetric(heap/n, "heap-B/producer")
				b.ReportMetric(snap/n, "snapshot-B/producer")
				b.ReportMetric(heap/(1<<20), "heap-MiB")
				b.ReportMetric(snap/(1<<20), "snapshot-MiB")
			})
		}
	}
}
