package cluster

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// BenchmarkPlanRebalance plans the spread of topics of rf 3 placed over
// six brokers onto eight (two joined), by partition count in the
// cluster.
func BenchmarkPlanRebalance(b *testing.B) {
	for _, n := range []int32{1000, 10000} {
		b.Run(fmt.Sprintf("partitions=%d", n), func(b *testing.B) {
			var parts []PartitionState
			for ti := range n / 100 {
				a, err := PlaceReplicas(brokersOf(6), 100, 3, rand.New(rand.NewPCG(uint64(ti), 1)))
				if err != nil {
					b.Fatal(err)
				}
				parts = append(parts, partsOf(fmt.Sprintf("t%d", ti), a...)...)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := PlanRebalance(brokersOf(8), parts); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
