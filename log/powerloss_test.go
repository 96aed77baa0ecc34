package log_test

import (
	"bytes"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tributary-io/tributary/log"
	"github.com/tributary-io/tributary/recordbatch"
	"github.com/tributary-io/tributary/segment"
)

// Power loss, unlike kill -9, also loses whatever the page cache held that
// was not fsynced. These tests simulate it: a wrapper around every segment
// file remembers how much of the file the last successful fsync covered;
// at a random moment the "power goes off" (every later write and fsync
// fails, as if the machine were gone); the directory is copied, and in the
// copy each .log keeps its fsynced bytes plus a random part of the rest (a
// disk persists unsynced pages in any order, or not at all), sometimes
// followed by garbage. Recovery must then keep every acknowledged batch:
// with flush.messages=1 every Append that returned, otherwise every batch
// below the NextOffset seen before a Sync that returned.

// powerFS tracks fsynced sizes and cuts the power.
type powerFS struct {
	mu     sync.Mutex
	off    bool
	synced map[string]int64 // .log path -> bytes covered by the last good fsync
}

var errPowerOff = os.NewSyscallError("pwrite", syscall.EIO)

func (p *powerFS) wrap(path string, f *os.File) segment.File {
	return &powerFile{fs: p, path: path, f: f}
}

func (p *powerFS) cut() map[string]int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.off = true
	out := make(map[string]int64, len(p.synced))
	for k, v := range p.synced {
		out[k] = v
	}
	return out
}

type powerFile struct {
	fs   *powerFS
	path string
	f    *os.File
}

func (w *powerFile) WriteAt(b []byte, off int64) (int, error) {
	w.fs.mu.Lock()
	defer w.fs.mu.Unlock()
	if w.fs.off {
		return 0, errPowerOff
	}
	return w.f.WriteAt(b, off)
}

func (w *powerFile) Truncate(size int64) error {
	w.fs.mu.Lock()
	defer w.fs.mu.Unlock()
	if w.fs.off {
		return errPowerOff
	}
	if err := w.f.Truncate(size); err != nil {
		return err
	}
	if w.fs.synced[w.path] > size {
		w.fs.synced[w.path] = size
	}
	return nil
}

func (w *powerFile) Sync() error {
	// The size before the fsync is what it certainly covers; a write racing
	// with it may or may not be, so it does not count.
	fi, err := w.f.Stat()
	if err != nil {
		return err
	}
	w.fs.mu.Lock()
	off := w.fs.off
	w.fs.mu.Unlock()
	if off {
		return errPowerOff
	}
	if err := w.f.Sync(); err != nil {
		return err
	}
	w.fs.mu.Lock()
	defer w.fs.mu.Unlock()
	if w.fs.off {
		return errPowerOff // the power went while the fsync ran: not acknowledged
	}
	if fi.Size() > w.fs.synced[w.path] {
		w.fs.synced[w.path] = fi.Size()
	}
	return nil
}

// loseUnsynced applies the power loss to a copied data dir: each .log keeps
// its fsynced bytes, a random part of the unsynced rest, and sometimes
// garbage after that.
func loseUnsynced(t *testing.T, orig, copyDir string, synced map[string]int64, rng *rand.Rand) {
	t.Helper()
	ents, err := os.ReadDir(copyDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if _, suf, ok := segment.ParseFileName(e.Name()); !ok || suf != segment.LogSuffix {
			continue
		}
		path := filepath.Join(copyDir, e.Name())
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		keep := synced[filepath.Join(orig, e.Name())]
		unsynced := fi.Size() - keep
		if unsynced <= 0 {
			// Nothing was written after the last fsync: the file, size
			// included, is on disk as it is.
			continue
		}
		keep += rng.Int64N(unsynced + 1)
		if err := os.Truncate(path, keep); err != nil {
			t.Fatal(err)
		}
		if rng.IntN(2) == 0 {
			garbage := make([]byte, 1+rng.IntN(3000))
			for i := range garbage {
				garbage[i] = byte(rng.Uint32())
			}
			f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
			if err != nil {
				t.Fatal(err)
			}
			f.Write(garbage)
			f.Close()
		}
	}
}

func TestPowerLossKeepsAcknowledged(t *testing.T) {
	rounds := 12
	if testing.Short() {
		rounds = 3
	}
	for round := range rounds {
		flushEvery := round%2 == 0 // flush.messages=1, else explicit Sync
		rng := rand.New(rand.NewPCG(uint64(round), 42))
		dir := t.TempDir()
		pfs := &powerFS{synced: map[string]int64{}}
		cfg := quietConfig()
		cfg.SegmentBytes = 48 << 10 // rolls, so acked data spans segments
		cfg.WrapFile = pfs.wrap
		if flushEvery {
			cfg.FlushMessages = 1
		}
		l, err := log.Open(dir, cfg)
		if err != nil {
			t.Fatal(err)
		}

		var (
			mu        sync.Mutex
			acked     []storedBatch
			syncedEnd int64 // every offset below was covered by a Sync that returned
			wg        sync.WaitGroup
		)
		stop := make(chan struct{})
		for w := range 4 {
			wg.Add(1)
			wrng := rand.New(rand.NewPCG(uint64(round), uint64(w)))
			go func() {
				defer wg.Done()
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					b := recordbatch.Build(1+(w+i)%7, 50+wrng.IntN(400), int64(i))
					base, err := l.Append(b)
					if err != nil {
						return // the power is off (or the log poisoned by it)
					}
					mu.Lock()
					acked = append(acked, storedBatch{base: base, data: bytes.Clone(b)})
					mu.Unlock()
				}
			}()
		}
		if !flushEvery {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					select {
					case <-stop:
						return
					case <-time.After(time.Millisecond):
					}
					end := l.NextOffset()
					if err := l.Sync(); err != nil {
						return
					}
					mu.Lock()
					syncedEnd = max(syncedEnd, end)
					mu.Unlock()
				}
			}()
		}
		time.Sleep(time.Duration(5+rng.IntN(60)) * time.Millisecond)
		synced := pfs.cut()
		close(stop)
		wg.Wait()

		crashed := crashCopy(t, dir)
		l.Close() // fails to flush (no power); the copy is what matters
		loseUnsynced(t, dir, crashed, synced, rng)

		r, err := log.Open(crashed, quietConfig())
		if err != nil {
			t.Fatalf("round %d: open after power loss: %v", round, err)
		}
		// Every batch validates; the only gaps are those recovery
		// reported (unflushed tails of sealed segments, whose later
		// segments survived).
		got, gaps := readWithGaps(t, r)
		for _, g := range gaps {
			if !slices.ContainsFunc(r.Recovery().Gaps, func(k log.OffsetRange) bool { return k.From <= g.From && g.To <= k.To }) {
				t.Fatalf("round %d: reading skips %v, a gap recovery did not report (%v)", round, g, r.Recovery().Gaps)
			}
		}
		byBase := make(map[int64][]byte, len(got))
		for _, b := range got {
			byBase[b.base] = b.data
		}
		sort.Slice(acked, func(i, j int) bool { return acked[i].base < acked[j].base })
		mustKeep := 0
		for _, b := range acked {
			if !flushEvery && b.next() > syncedEnd {
				continue // appended after the last Sync that returned: may be lost
			}
			mustKeep++
			if !bytes.Equal(byBase[b.base], b.data) {
				r.Close()
				t.Fatalf("round %d (flush.messages=1: %v): acknowledged batch at %d lost or changed after power loss "+
					"(log now [%d, %d), %d batches survived)", round, flushEvery, b.base, r.StartOffset(), r.NextOffset(), len(got))
			}
		}
		if mustKeep == 0 {
			t.Logf("round %d: nothing was acknowledged before the power went", round)
		}
		t.Logf("round %d (flush.messages=1: %v): %d acknowledged, %d batches survived, log end %d",
			round, flushEvery, mustKeep, len(got), r.NextOffset())
		// The recovered log takes appends and survives another restart.
		next := r.NextOffset()
		if _, err := r.Append(recordbatch.Build(1, 10, 0)); err != nil {
			t.Fatalf("append after recovery: %v", err)
		}
		if err := r.Close(); err != nil {
			t.Fatal(err)
		}
		r2, err := log.Open(crashed, quietConfig())
		if err != nil {
			t.Fatal(err)
		}
		if r2.NextOffset() != next+1 {
			t.Fatalf("reopen after recovery: end %d, want %d", r2.NextOffset(), next+1)
		}
		r2.Close()
	}
}
