package wire_test

import (
	"fmt"
	"testing"

	"github.com/tributary-io/tributary/server/wire"
)

// BenchmarkAppendFetchResponse measures the framing of a v18 Fetch response
// whose partitions each carry one record view, against kmsg's AppendTo,
// which copies the record bytes into its buffer. Both reuse their buffers,
// as a connection's writer does; bytes/s counts the whole response.
func BenchmarkAppendFetchResponse(b *testing.B) {
	for _, size := range []struct {
		partitions int
		records    int
		name       string
	}{
		{10, 1 << 20, "1MiB"},
		{100, 16 << 10, "16KiB"},
		{1000, 1 << 10, "1KiB"},
	} {
		// One topic, and a distinct view per partition, as the segment
		// mappings give.
		r := fixedResponse(maxVersion, 1, size.partitions, nil)
		for i := range r.Topics[0].Partitions {
			p := &r.Topics[0].Partitions[i]
			p.RecordBatches = make([]byte, size.records)
			p.RecordBatches[0] = byte(i)
		}
		dst, splices := wire.AppendFetchResponse(nil, r, nil)
		bufs := wire.Buffers(dst, splices, nil)
		total := int64(wire.Size(dst, splices))

		name := fmt.Sprintf("partitions=%d/records=%s", size.partitions, size.name)
		b.Run(name+"/impl=wire", func(b *testing.B) {
			b.SetBytes(total)
			b.ReportAllocs()
			for b.Loop() {
				dst, splices = wire.AppendFetchResponse(dst[:0], r, splices[:0])
				bufs = wire.Buffers(dst, splices, bufs[:0])
			}
		})
		b.Run(name+"/impl=kmsg", func(b *testing.B) {
			out := make([]byte, 0, total)
			b.SetBytes(total)
			b.ReportAllocs()
			for b.Loop() {
				out = r.AppendTo(out[:0])
			}
		})
	}
}
