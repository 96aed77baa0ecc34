package log_test

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/tributary-io/tributary/log"
)

// allocateConcurrently calls AllocateProducerID n times from each of
// workers goroutines and returns every ID.
func allocateConcurrently(t *testing.T, m *log.Manager, workers, n int) []int64 {
	t.Helper()
	var (
		mu   sync.Mutex
		ids  []int64
		errs []error
		wg   sync.WaitGroup
	)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			mine := make([]int64, 0, n)
			for range n {
				id, err := m.AllocateProducerID()
				if err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
					return
				}
				mine = append(mine, id)
			}
			mu.Lock()
			ids = append(ids, mine...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	if len(errs) > 0 {
		t.Fatalf("AllocateProducerID: %v", errs[0])
	}
	return ids
}

// checkNewIDs asserts that ids are non-negative, unique, and all above
// every ID in seen, then adds them to seen and returns the new maximum.
func checkNewIDs(t *testing.T, ids []int64, seen map[int64]bool, prevMax int64) int64 {
	t.Helper()
	hi := prevMax
	for _, id := range ids {
		if id < 0 || seen[id] {
			t.Fatalf("producer id %d handed out twice (or negative)", id)
		}
		if id <= prevMax {
			t.Fatalf("producer id %d after a restart, not above the %d handed out before", id, prevMax)
		}
		seen[id] = true
		hi = max(hi, id)
	}
	return hi
}

func TestAllocateProducerIDUniqueAcrossRestarts(t *testing.T) {
	dir := t.TempDir()
	seen := map[int64]bool{}
	hi := int64(-1)
	for cycle := range 3 {
		m, err := log.OpenManager(dir, quietOptions())
		if err != nil {
			t.Fatal(err)
		}
		// 8×300 IDs: several block reservations raced for.
		hi = checkNewIDs(t, allocateConcurrently(t, m, 8, 300), seen, hi)
		if err := m.Close(); err != nil {
			t.Fatal(err)
		}
		if _, err := m.AllocateProducerID(); !errors.Is(err, log.ErrClosed) {
			t.Fatalf("cycle %d: AllocateProducerID after Close: %v, want ErrClosed", cycle, err)
		}
	}
	if len(seen) != 3*8*300 {
		t.Fatalf("%d distinct ids, want %d", len(seen), 3*8*300)
	}
}

// copyTree copies a data dir as a restart after kill -9 finds it (every
// written byte, the lock file aside).
func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		target := filepath.Join(dst, rel)
		switch {
		case d.IsDir():
			return os.MkdirAll(target, 0o755)
		case d.Type().IsRegular() && d.Name() != ".lock":
			copyFile(t, path, target)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestAllocateProducerIDAfterCrash(t *testing.T) {
	dir := t.TempDir()
	m := openManager(t, dir, quietOptions())
	seen := map[int64]bool{}
	hi := int64(-1)
	for i := range 3 {
		hi = checkNewIDs(t, allocateConcurrently(t, m, 4, 250+7*i), seen, hi)
		// kill -9 with the Manager running (no Close): the restarted copy
		// must hand out only IDs above every one handed out before.
		crashed := filepath.Join(t.TempDir(), "data")
		copyTree(t, dir, crashed)
		m2 := openManager(t, crashed, quietOptions())
		fork := map[int64]bool{}
		for id := range seen {
			fork[id] = true
		}
		checkNewIDs(t, allocateConcurrently(t, m2, 2, 10), fork, hi)
		if err := m2.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

func TestAllocateProducerIDDamagedOrLostReservation(t *testing.T) {
	dir := t.TempDir()
	m := openManager(t, dir, quietOptions())
	topic, err := m.CreateTopic("idem", 2, nil)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[int64]bool{}
	hi := checkNewIDs(t, allocateConcurrently(t, m, 1, 10), seen, -1)
	// A producer with an ID this dir never handed out (from before the
	// file existed) writes to partition 1.
	if _, err := topic.Partitions[1].AppendBatches(pidBatch(pb{5000, 0, 0, 1, false})); err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "meta", "producer-ids")
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	m = openManager(t, dir, quietOptions())
	hi = checkNewIDs(t, allocateConcurrently(t, m, 1, 10), seen, max(hi, 5000))
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	// Damage: the allocator resumes from the clock, far past every ID.
	if err := os.WriteFile(path, []byte("TRPI garbage garbage"), 0o644); err != nil {
		t.Fatal(err)
	}
	m = openManager(t, dir, quietOptions())
	checkNewIDs(t, allocateConcurrently(t, m, 1, 10), seen, hi)
}
