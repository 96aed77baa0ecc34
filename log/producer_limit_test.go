package log_test

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/tributary-io/tributary/log"
)

func producerIDs(l *log.Log) []int64 {
	var ids []int64
	for _, p := range l.Producers() {
		ids = append(ids, p.ProducerID)
	}
	return ids
}

// TestMaxProducersPerPartitionEvictsLongestIdle: past
// max.producers.per.partition a new producer evicts the producer whose
// last append is the oldest; the evicted one is answered as an expired
// one (UNKNOWN_PRODUCER_ID, or a fresh start at sequence 0), and the
// limit holds across a restart, also when it was lowered.
func TestMaxProducersPerPartitionEvictsLongestIdle(t *testing.T) {
	if got := log.DefaultConfig().MaxProducersPerPartition; got != log.DefaultMaxProducersPerPartition || got <= 0 {
		t.Fatalf("default max.producers.per.partition %d", got)
	}
	cfg := quietConfig()
	for _, bad := range []string{"-1", "many"} {
		if _, err := cfg.With(map[string]string{log.ConfigMaxProducersPerPartition: bad}); !errors.Is(err, log.ErrInvalidConfig) {
			t.Errorf("max.producers.per.partition=%s: %v, want ErrInvalidConfig", bad, err)
		}
	}
	clock := newFakeClock(tsBase)
	cfg.Now = clock.Now
	cfg, err := cfg.With(map[string]string{log.ConfigMaxProducersPerPartition: "3"})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	l := openLog(t, dir, cfg)
	at := func(ms int64, steps ...seqStep) {
		t.Helper()
		clock.Set(tsBase + ms)
		runSteps(t, l, steps)
	}
	at(0, ok(pb{1, 0, 0, 2, false}))
	at(1, ok(pb{2, 0, 0, 2, false}))
	at(2, ok(pb{3, 0, 0, 2, false}))
	at(3, ok(pb{1, 0, 2, 2, false})) // 1 appends again: 2 is now the longest idle
	at(4, ok(pb{4, 0, 0, 2, false}))
	if got := producerIDs(l); !reflect.DeepEqual(got, []int64{1, 3, 4}) {
		t.Fatalf("producers after a fourth one: %v, want [1 3 4] (2 evicted)", got)
	}
	at(5, fails(log.ErrUnknownProducerID, pb{2, 0, 2, 1, false}))
	at(6, ok(pb{2, 0, 0, 1, false})) // a fresh start evicts 3
	if got := producerIDs(l); !reflect.DeepEqual(got, []int64{1, 2, 4}) {
		t.Fatalf("producers after 2 started again: %v, want [1 2 4]", got)
	}
	if n := l.ProducersEvicted(); n != 2 {
		t.Fatalf("ProducersEvicted %d, want 2", n)
	}
	retry := runSteps(t, l, []seqStep{ok(pb{4, 0, 2, 1, false})})
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}

	l = openLog(t, dir, cfg)
	if got := producerIDs(l); !reflect.DeepEqual(got, []int64{1, 2, 4}) {
		t.Fatalf("producers after reopen: %v, want [1 2 4]", got)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	lower, err := cfg.With(map[string]string{log.ConfigMaxProducersPerPartition: "2"})
	if err != nil {
		t.Fatal(err)
	}
	l = openLog(t, dir, lower)
	if got := producerIDs(l); !reflect.DeepEqual(got, []int64{2, 4}) {
		t.Fatalf("producers after reopen under a limit of 2: %v, want [2 4] (1 the longest idle)", got)
	}
	// 4 still recognises a retry of its last batch.
	info, err := l.AppendBatches(pidBatch(pb{4, 0, 2, 1, false}))
	if err != nil || !info.Duplicate || info.BaseOffset != retry[len(retry)-1].base {
		t.Fatalf("retry after the restarts: %+v %v, want a duplicate at %d", info, err, retry[len(retry)-1].base)
	}
}

// TestProducerFloodStaysUnderLimit: a flood of short-lived producers
// (one batch each) never takes a partition's producer state past its
// limit, the newest producer is always known, and a rebuild from the log
// alone (no snapshot) keeps to the limit too.
func TestProducerFloodStaysUnderLimit(t *testing.T) {
	const limit, flood = 200, 2000
	cfg := quietConfig()
	cfg.MaxProducersPerPartition = limit
	clock := newFakeClock(tsBase)
	cfg.Now = clock.Now
	dir := t.TempDir()
	l := openLog(t, dir, cfg)
	for pid := int64(1); pid <= flood; pid++ {
		clock.Set(tsBase + pid)
		if _, err := l.AppendBatches(pidBatch(pb{pid, 0, 0, 1, false})); err != nil {
			t.Fatal(err)
		}
		ps := l.Producers()
		if len(ps) > limit || ps[len(ps)-1].ProducerID != pid {
			t.Fatalf("after producer %d: %d producers, last %d; want at most %d, the last %d",
				pid, len(ps), ps[len(ps)-1].ProducerID, limit, pid)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(dir, log.ProducerSnapshotFile)); err != nil {
		t.Fatal(err)
	}
	l = openLog(t, dir, cfg)
	ps := l.Producers()
	if len(ps) > limit || len(ps) == 0 || ps[len(ps)-1].ProducerID != flood {
		t.Fatalf("rebuilt from the log: %d producers (want 1..%d), last %+v", len(ps), limit, ps[len(ps)-1])
	}
}
