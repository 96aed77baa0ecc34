package log

import (
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// TestManagerCloseSyncsOnlyThePartitionsItWrote: a Manager's close makes
// durable what it wrote since the last flush, partition by partition,
// and nothing else: no syncfs of the whole file system (which also waits
// for every other process's dirty pages), and no fsync in a partition
// untouched since the start. The next open finds every partition clean
// with every record.
func TestManagerCloseSyncsOnlyThePartitionsItWrote(t *testing.T) {
	dir := t.TempDir()
	m := closeTestManager(t, dir)
	const partitions = 24
	if _, err := m.CreateTopic("t", partitions, nil); err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil { // a clean start follows: nothing is dirty
		t.Fatal(err)
	}
	m = closeTestManager(t, dir)
	topic, _ := m.Topic("t")
	written := map[string]bool{}
	for _, p := range []int{2, 11, 17} {
		l := topic.Partitions[p]
		for seq := range 3 {
			if _, err := l.AppendBatches(idempotentBatch(t, int64(p+1), int32(seq))); err != nil {
				t.Fatal(err)
			}
		}
		if l.FlushedOffset() == l.NextOffset() {
			t.Fatalf("partition %d: flushed at once; the test needs unflushed appends", p)
		}
		written[filepath.Join(dir, fmt.Sprintf("t-%d", p))] = true
	}

	var mu sync.Mutex
	var ops []string
	f := func(op, path string) {
		mu.Lock()
		defer mu.Unlock()
		ops = append(ops, op+" "+path)
	}
	prev := syncObserver.Swap(&f)
	defer syncObserver.Store(prev)
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	syncObserver.Store(prev)
	touched := map[string]bool{}
	for _, o := range ops {
		op, path, _ := strings.Cut(o, " ")
		if op == syncOpSyncFS {
			t.Errorf("close ran syncfs on %s: it waits for every dirty page of the file system", path)
			continue
		}
		pdir := filepath.Dir(path)
		if op == syncOpFlush {
			pdir = path
		}
		if !written[pdir] {
			t.Errorf("close synced %s in a partition untouched since the start", path)
		}
		touched[pdir] = true
	}
	for pdir := range written {
		if !touched[pdir] {
			t.Errorf("close flushed nothing in %s, which had unflushed appends", pdir)
		}
	}

	m = closeTestManager(t, dir)
	topic, _ = m.Topic("t")
	for p, l := range topic.Partitions {
		if !l.Recovery().Clean {
			t.Errorf("partition %d: recovered after a clean close: %+v", p, l.Recovery())
		}
		want := int64(0)
		if written[filepath.Join(dir, fmt.Sprintf("t-%d", p))] {
			want = 3
		}
		if l.NextOffset() != want {
			t.Errorf("partition %d: log end %d after the reopen, want %d", p, l.NextOffset(), want)
		}
	}
}

// closeTestManager is a quiet Manager with Kafka's flush defaults:
// appends stay in the page cache.
func closeTestManager(t *testing.T, dir string) *Manager {
	t.Helper()
	return quietTestManager(t, dir, DefaultFlushMessages)
}
