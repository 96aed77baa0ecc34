package consumergroup

import (
	"fmt"
	"testing"
	"time"

	"github.com/tributary-io/tributary/recordbatch"
)

// BenchmarkCommit: one OffsetCommit of n partitions through the
// coordinator (checks, record encoding, append to __consumer_offsets),
// against the baseline of appending an equally sized batch to a log
// directly (what the commit cannot avoid).
func BenchmarkCommit(b *testing.B) {
	for _, n := range []int{1, 100} {
		b.Run(fmt.Sprintf("partitions=%d/coordinator", n), func(b *testing.B) {
			tc := startCoord(b, b.TempDir(), testConfig())
			tc.topic("t", n)
			j := tc.joinAll("g", 1, time.Minute)
			tc.syncAll("g", j)
			r := CommitRequest{Group: "g", MemberID: j[0].MemberID, Generation: j[0].Generation}
			for p := 0; p < n; p++ {
				r.Offsets = append(r.Offsets, CommitOffset{TopicPartition: TopicPartition{"t", int32(p)}, LeaderEpoch: -1})
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				for k := range r.Offsets {
					r.Offsets[k].Offset = int64(i)
				}
				if errs, err := tc.c.Commit(r); err != nil || errs[0] != nil {
					b.Fatal(errs, err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "commits/s")
		})
		b.Run(fmt.Sprintf("partitions=%d/log-append-baseline", n), func(b *testing.B) {
			tc := startCoord(b, b.TempDir(), testConfig())
			l := tc.offsetsLogCreate("g")
			// The same records a commit of n partitions writes.
			var recs []record
			for p := 0; p < n; p++ {
				om := OffsetAndMetadata{Offset: 1, LeaderEpoch: -1, ExpireTime: -1}
				recs = append(recs, offsetRecord(new([]byte), "g", TopicPartition{"t", int32(p)}, &om))
			}
			batch := encodeBatches(nil, recs, time.Now().UnixMilli())
			if _, err := recordbatch.Validate(batch); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := l.AppendBatches(batch); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "commits/s")
		})
	}
}

// BenchmarkRebalance: a 3-member group in which one member leaves; the
// time until the two others form the next generation and have their
// assignments (join, leader's sync, followers' sync), with members that
// rejoin as soon as they learn of it. The member then joins again,
// untimed, for the next round.
func BenchmarkRebalance(b *testing.B) {
	tc := startCoord(b, b.TempDir(), testConfig())
	joins := tc.joinAll("g", 3, time.Minute)
	tc.syncAll("g", joins)
	ids := []string{joins[0].MemberID, joins[1].MemberID, joins[2].MemberID}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := tc.c.Leave("g", []LeaveMember{{MemberID: ids[2]}}); err != nil {
			b.Fatal(err)
		}
		tc.syncAll("g", tc.rejoin("g", ids[:2], ""))
		b.StopTimer()
		next := tc.rejoin("g", ids[:2], "new")
		ids[2] = next[2].MemberID
		tc.syncAll("g", next)
		b.StartTimer()
	}
}

// BenchmarkSimpleCommit: a simple commit (generation -1, one partition)
// that creates its group, as kcat and the offset tools do, against one to
// a group that exists (the same append, no group made) in the same run.
func BenchmarkSimpleCommit(b *testing.B) {
	for _, fresh := range []bool{true, false} {
		name := "existing-group"
		if fresh {
			name = "new-group"
		}
		b.Run(name, func(b *testing.B) {
			tc := startCoord(b, b.TempDir(), testConfig())
			tc.topic("t", 1)
			r := CommitRequest{Group: "g", Generation: -1,
				Offsets: []CommitOffset{{TopicPartition: TopicPartition{"t", 0}, LeaderEpoch: -1}}}
			ids := make([]string, b.N)
			for i := range ids {
				ids[i] = fmt.Sprintf("group-%09d", i)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if fresh {
					r.Group = ids[i]
				}
				r.Offsets[0].Offset = int64(i)
				if errs, err := tc.c.Commit(r); err != nil || errs[0] != nil {
					b.Fatal(errs, err)
				}
			}
		})
	}
}
