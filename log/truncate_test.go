package log_test

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/tributary-io/tributary/log"
	"github.com/tributary-io/tributary/recordbatch"
)

// truncateCase is a log of three segments, [0, 20), [20, 40) and [40, 60)
// (4 batches of 5 records each), truncated to cut, with a reader holding a
// view read at held (or none when held < 0) across the Truncate.
type truncateCase struct {
	name string
	cut  int64
	held int64
}

var truncateCases = []truncateCase{
	{"active in place", 50, -1},
	{"active held", 50, 45},
	{"active held below the cut", 50, 40},
	{"sealed reactivated in place", 30, -1},
	{"sealed reactivated held", 30, 35},
	{"sealed held and later segment held", 30, 55},
	{"to a segment base held", 20, 25},
	{"below start held", 0, 5},
}

// TestTruncateReturnsWhileReadersHoldViews: Truncate never waits for a
// view; the view's bytes stay as they were, readable, until released,
// and the log holds exactly the kept batches, before and after a reopen.
func TestTruncateReturnsWhileReadersHoldViews(t *testing.T) {
	for _, tc := range truncateCases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := quietConfig()
			l := openLog(t, t.TempDir(), cfg)
			all := buildSegments(t, l, 3, 4, 1000)
			var view log.Batches
			var held []byte
			if tc.held >= 0 {
				var err error
				if view, err = l.Read(tc.held, 1<<20); err != nil || len(view.Data) == 0 {
					t.Fatalf("read at %d: %d bytes, %v", tc.held, len(view.Data), err)
				}
				held = bytes.Clone(view.Data)
			}
			var steps []string
			log.SetSwapHook(l, func(s string) error { steps = append(steps, s); return nil })
			// Called on this goroutine: a Truncate that waited for the
			// view would never return (or fail after its timeout).
			end, err := l.Truncate(tc.cut)
			if err != nil || end != tc.cut {
				t.Fatalf("Truncate(%d) = %d, %v", tc.cut, end, err)
			}
			copied := slices.Contains(steps, "truncate: copied")
			if want := tc.held >= 0 && tc.cut%20 != 0 && tc.held/20 == tc.cut/20; copied != want {
				t.Errorf("kept segment copied: %v, want %v (only when a view holds it); steps %q", copied, want, steps)
			}
			if tc.held >= 0 {
				if !bytes.Equal(view.Data, held) {
					t.Fatal("the held view's bytes changed under Truncate")
				}
				for p := 0; p < len(view.Data); {
					h, err := recordbatch.Validate(view.Data[p:])
					if err != nil {
						t.Fatalf("held view after Truncate: batch %d bytes in: %v", p, err)
					}
					p += h.Size()
				}
			}
			kept := keptBatches(all, tc.cut)
			checkContents(t, l, kept)
			kept = append(kept, appendRecords(t, l, 2, 5, tsBase+9000, 10)...)
			if kept[len(kept)-1].base != tc.cut+5 {
				t.Fatalf("append after Truncate(%d) at %d", tc.cut, kept[len(kept)-1].base)
			}
			checkContents(t, l, kept)
			if tc.held >= 0 {
				if !bytes.Equal(view.Data, held) {
					t.Fatal("the held view's bytes changed after appends past the cut")
				}
				view.Release()
			}
			for _, name := range []string{log.TruncateIntentFile, "00000000000000000020.log.tmp", "00000000000000000040.log.tmp"} {
				if _, err := os.Stat(filepath.Join(l.Dir(), name)); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("%s left behind: %v", name, err)
				}
			}
			reopenAll(t, l, cfg, func(t *testing.T, l *log.Log) { checkContents(t, l, kept) })
		})
	}
}

// keptBatches is what a truncation to cut keeps of all.
func keptBatches(all []storedBatch, cut int64) []storedBatch {
	var kept []storedBatch
	for _, b := range all {
		if b.next() <= cut {
			kept = append(kept, b)
		}
	}
	return kept
}

// TestTruncateCrashAtEveryStep stops a Truncate at each of its steps, as a
// crash would (the files as they are then), and opens a copy of the
// directory: it holds the truncated log, never the old one mixed with it,
// and no kept batch is missing. The stopped Truncate poisons the live log.
func TestTruncateCrashAtEveryStep(t *testing.T) {
	steps := []string{"truncate: intent", "truncate: copied", "truncate: renamed", "truncate: cut", "truncate: checkpointed"}
	for _, tc := range truncateCases {
		for _, step := range steps {
			copied := tc.held >= 0 && tc.cut%20 != 0 && tc.held/20 == tc.cut/20 // the kept segment is held
			if (step == "truncate: copied" || step == "truncate: renamed") && !copied {
				continue
			}
			t.Run(tc.name+"/"+step, func(t *testing.T) {
				cfg := quietConfig()
				l := openLog(t, t.TempDir(), cfg)
				all := buildSegments(t, l, 3, 4, 1000)
				if tc.held >= 0 {
					view, err := l.Read(tc.held, 1<<20)
					if err != nil {
						t.Fatal(err)
					}
					defer view.Release()
				}
				var crashed string
				log.SetSwapHook(l, func(s string) error {
					if s == step && crashed == "" {
						crashed = crashCopy(t, l.Dir())
						return errors.New("crash")
					}
					return nil
				})
				if _, err := l.Truncate(tc.cut); !errors.Is(err, log.ErrStorage) || crashed == "" {
					t.Fatalf("Truncate stopped at %q: %v, want ErrStorage", step, err)
				}
				if _, err := l.Append(recordbatch.Build(1, 10, tsBase)); !errors.Is(err, log.ErrStorage) {
					t.Fatalf("append after a failed Truncate: %v, want ErrStorage", err)
				}
				r := openLog(t, crashed, cfg)
				kept := keptBatches(all, tc.cut)
				checkContents(t, r, kept)
				if _, err := os.Stat(filepath.Join(crashed, log.TruncateIntentFile)); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("truncate intent left after the reopen completed it: %v", err)
				}
				kept = append(kept, appendRecords(t, r, 1, 5, tsBase+9000, 10)...)
				reopenAll(t, r, cfg, func(t *testing.T, l *log.Log) { checkContents(t, l, kept) })
			})
		}
	}
}

// TestTruncateFailurePoisons: a cut that fails part way (ftruncate
// refused) leaves the log refusing writes; a reopen completes the
// truncation.
func TestTruncateFailurePoisons(t *testing.T) {
	l, fs, cfg := faultyLog(t, nil)
	all := appendRecords(t, l, 10, 5, tsBase, 10)
	fs.set(writeOK, nil, syscall.EIO)
	if _, err := l.Truncate(25); !errors.Is(err, log.ErrStorage) {
		t.Fatalf("Truncate with ftruncate failing: %v, want ErrStorage", err)
	}
	for _, op := range []func() error{
		func() error { _, err := l.Append(recordbatch.Build(1, 10, tsBase)); return err },
		func() error { _, err := l.Truncate(10); return err },
		func() error { _, err := l.DeleteRecordsBefore(5); return err },
	} {
		if err := op(); !errors.Is(err, log.ErrStorage) {
			t.Fatalf("write after a failed Truncate: %v, want ErrStorage", err)
		}
	}
	fs.set(writeOK, nil, nil)
	dir := l.Dir()
	l.Close()
	r := openLog(t, dir, cfg)
	checkContents(t, r, keptBatches(all, 25))
}

// TestTruncateConcurrentWithAppendsAndReads runs appends, reads that hold
// their views a while and check them, and truncations at once (for
// -race): every view stays intact until released and the log reopens to
// what it held.
func TestTruncateConcurrentWithAppendsAndReads(t *testing.T) {
	cfg := quietConfig()
	cfg.SegmentBytes = 8 << 10 // rolls, so truncations reach sealed segments
	l := openLog(t, t.TempDir(), cfg)
	appendRecords(t, l, 20, 5, tsBase, 10)

	var stop atomic.Bool
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	fail := func(err error) {
		select {
		case errs <- err:
		default:
		}
		stop.Store(true)
	}
	wg.Go(func() { // appender
		for i := 0; !stop.Load() && i < 1000; i++ {
			if _, err := l.Append(recordbatch.Build(5, 100, tsBase+int64(i))); err != nil {
				fail(err)
				return
			}
		}
		stop.Store(true)
	})
	for r := range 2 {
		wg.Go(func() { // readers
			rng := rand.New(rand.NewPCG(uint64(r), 1))
			var held []log.Batches
			var copies [][]byte
			for !stop.Load() {
				start, end := l.StartOffset(), l.NextOffset()
				if end <= start {
					runtime.Gosched()
					continue
				}
				b, err := l.Read(start+rng.Int64N(end-start), 4<<10)
				if errors.Is(err, log.ErrOffsetOutOfRange) {
					continue // truncated meanwhile
				}
				if err != nil {
					fail(err)
					return
				}
				held = append(held, b)
				copies = append(copies, bytes.Clone(b.Data))
				if len(held) > 8 {
					for i := range held {
						if !bytes.Equal(held[i].Data, copies[i]) {
							fail(errors.New("a held view changed"))
						}
						held[i].Release()
					}
					held, copies = held[:0], copies[:0]
				}
			}
			for i := range held {
				held[i].Release()
			}
		})
	}
	wg.Go(func() { // truncator
		rng := rand.New(rand.NewPCG(9, 9))
		for n := 0; !stop.Load() && n < 20; {
			end := l.NextOffset()
			if end < 100 {
				runtime.Gosched()
				continue
			}
			if _, err := l.Truncate(end - 1 - rng.Int64N(min(end, 200))); err != nil {
				fail(err)
				return
			}
			n++
		}
	})
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	want := readAll(t, l)
	reopenAll(t, l, cfg, func(t *testing.T, l *log.Log) { checkContents(t, l, want) })
}

// TestTruncateHeldViewSurvivesParking: under a Manager, which parks the
// least recently read sealed segments, the view of a sealed segment that
// a truncation replaced stays mapped while more segments are parked.
func TestTruncateHeldViewSurvivesParking(t *testing.T) {
	cfg := quietConfig()
	opts := log.Options{Defaults: &cfg, MappedSegments: 1}
	m, err := log.OpenManager(t.TempDir(), opts)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	tp, err := m.CreateTopic("t", 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	l := tp.Partitions[0]
	all := buildSegments(t, l, 3, 4, 1000)
	if err := l.Sync(); err != nil {
		t.Fatal(err)
	}
	view, err := l.Read(25, 1<<20) // sealed segment 20
	if err != nil || len(view.Data) == 0 {
		t.Fatalf("read: %d bytes, %v", len(view.Data), err)
	}
	defer view.Release()
	held := bytes.Clone(view.Data)
	if end, err := l.Truncate(30); err != nil || end != 30 {
		t.Fatalf("Truncate(30) = %d, %v", end, err)
	}
	kept := keptBatches(all, 30)
	for i := range 4 { // rolls: the cache parks every sealed segment it may
		kept = append(kept, appendRecords(t, l, 4, 5, tsBase+int64(5000+i*100), 10)...)
		if err := l.Sync(); err != nil {
			t.Fatal(err)
		}
		if err := l.Roll(); err != nil {
			t.Fatal(err)
		}
		checkContents(t, l, kept)
	}
	if !bytes.Equal(view.Data, held) { // faults if it was unmapped
		t.Fatal("the held view changed")
	}
}

// TestOpenDropsUnreadableTruncateIntent: an intent whose offset cannot be
// read is dropped, and the log kept as it is (every batch it held).
func TestOpenDropsUnreadableTruncateIntent(t *testing.T) {
	cfg := quietConfig()
	dir := t.TempDir()
	l := openLog(t, dir, cfg)
	all := buildSegments(t, l, 2, 4, 1000)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, log.TruncateIntentFile)
	if err := os.WriteFile(path, []byte("TRTI garbage"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := openLog(t, dir, cfg)
	checkContents(t, r, all)
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("unreadable truncate intent kept: %v", err)
	}
}

// TestTruncateAtTheEndDropsAnEpochBegunThere: a replica that became
// leader of an epoch and appended nothing in it, then follows a leader
// that never had that epoch, is told to truncate at its log end (Kafka's
// truncateTo case): no batch goes, but the epoch does, durably, so that
// its next fetch names the last epoch it holds records of. An epoch with
// records below the cut stays.
func TestTruncateAtTheEndDropsAnEpochBegunThere(t *testing.T) {
	tests := []struct {
		name        string
		appendInTwo bool  // append a batch after BecomeLeader(2)
		cut         int64 // at or past the log end
		want        []log.EpochEntry
	}{
		{"an epoch begun at the end goes", false, 4, []log.EpochEntry{{Epoch: 0, StartOffset: 0}, {Epoch: 1, StartOffset: 2}}},
		{"past the end too", false, 9, []log.EpochEntry{{Epoch: 0, StartOffset: 0}, {Epoch: 1, StartOffset: 2}}},
		{"an epoch with records stays", true, 6, []log.EpochEntry{{Epoch: 0, StartOffset: 0}, {Epoch: 1, StartOffset: 2}, {Epoch: 2, StartOffset: 4}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := quietConfig()
			l := openLog(t, t.TempDir(), cfg)
			l.SetReplicated(true)
			for _, e := range []int32{0, 1} {
				if err := l.BecomeLeader(e); err != nil {
					t.Fatal(err)
				}
				appendRecords(t, l, 1, 2, tsBase, 10)
			}
			if err := l.BecomeLeader(2); err != nil { // at 4
				t.Fatal(err)
			}
			if tt.appendInTwo {
				appendRecords(t, l, 1, 2, tsBase, 10)
			}
			end := l.NextOffset()
			if got, err := l.Truncate(tt.cut); err != nil || got != end {
				t.Fatalf("Truncate(%d) = %d, %v; want %d, nil", tt.cut, got, err, end)
			}
			check := func(t *testing.T, l *log.Log) {
				t.Helper()
				if got := l.LeaderEpochEntries(); !slices.Equal(got, tt.want) {
					t.Fatalf("epochs %v, want %v", got, tt.want)
				}
				if l.NextOffset() != end {
					t.Fatalf("log end %d, want %d", l.NextOffset(), end)
				}
			}
			check(t, l)
			reopenAll(t, l, cfg, check)
		})
	}
}
