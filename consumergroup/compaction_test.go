package consumergroup

import (
	"testing"
	"time"
)

// TestConstantCommittingStaysSmall: 100,000 commits of one group to a few
// partitions leave __consumer_offsets small once the cleaner ran, and the
// latest commits survive compaction and a restart.
func TestConstantCommittingStaysSmall(t *testing.T) {
	if testing.Short() {
		t.Skip("commits 100,000 offsets")
	}
	cfg := testConfig()
	cfg.OffsetsTopicSegmentBytes = 64 << 10
	tc := startCoord(t, t.TempDir(), cfg)
	tc.topic("t", 4)
	joins := tc.joinAll("g", 1, time.Minute)
	tc.syncAll("g", joins)
	j := joins[0]
	const commits = 100_000
	for i := 0; i < commits; i++ {
		r := commitOne("g", j.MemberID, j.Generation, "t", int32(i%4), int64(i))
		if errs, err := tc.c.Commit(r); err != nil || errs[0] != nil {
			t.Fatalf("commit %d: %v %v", i, errs, err)
		}
	}
	log := tc.offsetsLog("g")
	before := log.Size()
	tc.mgr.RunCompaction()
	after := log.Size()
	t.Logf("__consumer_offsets partition: %d bytes, %d segments after %d commits; %d bytes after compaction", before, log.NumSegments(), commits, after)
	// What is left: the active segment (up to segment.bytes) and one
	// small cleaned segment holding the latest record per key.
	if limit := cfg.OffsetsTopicSegmentBytes + 16<<10; after > limit {
		t.Fatalf("%d bytes after compaction, want at most %d", after, limit)
	}
	if before < 10*after {
		t.Fatalf("compaction shrank %d to %d bytes only", before, after)
	}
	tc = tc.restart()
	got, err := tc.c.FetchOffsets("g", nil)
	if err != nil {
		t.Fatal(err)
	}
	for p := int32(0); p < 4; p++ {
		if want := int64(commits - 4 + int(p)); got[TopicPartition{"t", p}].Offset != want {
			t.Fatalf("partition %d: offset %d after compaction and restart, want %d", p, got[TopicPartition{"t", p}].Offset, want)
		}
	}
	if d, _ := tc.c.DescribeGroup("g"); d.Generation != j.Generation || len(d.Members) != 1 {
		t.Fatalf("group metadata lost by compaction: %+v", d)
	}
}
