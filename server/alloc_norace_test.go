//go:build !race

// The race detector's instrumentation allocates, so allocation counts are
// only meaningful without it.

package server

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/tributary-io/tributary/recordbatch"
)

// TestNoPerRecordAllocations: the broker's allocations per Produce and per
// Fetch request do not grow with the number of records in the batch.
func TestNoPerRecordAllocations(t *testing.T) {
	b := startBroker(t)
	if _, err := b.mgr.CreateTopic("alloc", 1, nil); err != nil {
		t.Fatal(err)
	}
	c := b.raw()
	c.nc.SetDeadline(time.Now().Add(time.Minute))
	buf := make([]byte, 8<<20)
	formatter := kmsg.NewRequestFormatter()

	measure := func(records int) (produce, fetch float64) {
		batch := recordbatch.Build(records, 100, time.Now().UnixMilli())
		pframe := formatter.AppendRequest(nil, produceReq(11, "alloc", batch), 1)
		produce = testing.AllocsPerRun(50, func() {
			c.exchange(pframe, buf)
		})
		l, _ := b.mgr.Partition("alloc", 0)
		freq := fetchReq(12, "alloc", [16]byte{}, l.NextOffset()-int64(records), 8<<20)
		fframe := formatter.AppendRequest(nil, freq, 2)
		fetch = testing.AllocsPerRun(50, func() {
			if resp := c.exchange(fframe, buf); len(resp) < len(batch) {
				t.Fatalf("fetch returned %d bytes, want at least %d", len(resp), len(batch))
			}
		})
		return produce, fetch
	}
	measure(10) // warm pools
	p1, f1 := measure(1)
	p1000, f1000 := measure(1000)
	t.Logf("allocs per request: produce %.0f (1 record) %.0f (1000 records); fetch %.0f / %.0f", p1, p1000, f1, f1000)
	// A few allocations of slack for pool refills; a per-record cost would
	// show up as about a thousand.
	if p1000 > p1+5 {
		t.Errorf("produce allocates per record: %.0f allocs for 1 record, %.0f for 1000", p1, p1000)
	}
	if f1000 > f1+5 {
		t.Errorf("fetch allocates per record: %.0f allocs for 1 record, %.0f for 1000", f1, f1000)
	}
}
