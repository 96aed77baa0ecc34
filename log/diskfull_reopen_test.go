package log_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/tributary-io/tributary/log"
	"github.com/tributary-io/tributary/recordbatch"
)

// TestDiskFullReopen: a log closed on a full disk opens again while the
// disk is still completely full (Close gives back the unused preallocated
// index space of its active segment; here the ballast takes it), serves
// every batch, refuses appends with ErrDiskFull, survives another close
// and open in that state, and appends at its end once space is back, with
// nothing on disk that verification or recovery objects to. Before, Open
// failed: the active segment's trimmed indexes could not be preallocated
// again, nor the checkpoint's temp file written, so a broker whose disk
// had filled up could not start to serve what it held.
func TestDiskFullReopen(t *testing.T) {
	for _, tc := range []struct {
		name    string
		batches int  // appended before the disk fills up
		roll    bool // then roll: the active segment is empty
	}{
		{"active segment with batches", 40, false},
		{"empty active segment", 40, true},
		{"empty log", 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mnt := mountTmpfs(t, "4m")
			cfg := diskFullConfig()
			// Indexes of 64 KiB: a trimmed one keeps far less.
			cfg.IndexIntervalBytes = 64
			dir := filepath.Join(mnt, "events-0")
			l := openLog(t, dir, cfg)
			var acked []storedBatch
			for i := range tc.batches { // 40: a full segment and part of a second
				acked = append(acked, appendOne(t, l, recordbatch.BuildSized(16<<10, tsBase+int64(i))))
			}
			if tc.roll {
				if err := l.Roll(); err != nil {
					t.Fatal(err)
				}
			}
			ballasts := []string{filepath.Join(mnt, "ballast"), filepath.Join(mnt, "ballast-2")}
			fillDisk(t, ballasts[0])
			// No room for the clean checkpoint's temp file: it is
			// overwritten in place, and the next open is clean.
			if err := l.Close(); err != nil {
				t.Fatalf("close on a full disk: %v", err)
			}
			fillDisk(t, ballasts[1])

			next := l.NextOffset()
			for round := range 2 {
				l = openLog(t, dir, cfg)
				if round == 0 && !l.Recovery().Clean {
					t.Errorf("reopen after a close on a full disk was not clean: %+v", l.Recovery())
				}
				checkContents(t, l, acked)
				for i := range 3 {
					if _, err := l.Append(recordbatch.BuildSized(16<<10, tsBase)); !errors.Is(err, log.ErrDiskFull) {
						t.Fatalf("round %d: append %d on a full disk: %v, want ErrDiskFull", round, i, err)
					}
					if l.NextOffset() != next {
						t.Fatalf("round %d: failed append moved the log end %d → %d", round, next, l.NextOffset())
					}
				}
				if err := l.Close(); err != nil {
					t.Fatalf("round %d: close on a full disk: %v", round, err)
				}
			}

			l = openLog(t, dir, cfg)
			for _, b := range ballasts {
				if err := os.Remove(b); err != nil {
					t.Fatal(err)
				}
			}
			acked = append(acked, appendOne(t, l, recordbatch.BuildSized(16<<10, tsBase+100)))
			if acked[len(acked)-1].base != next {
				t.Fatalf("append after freeing space at %d, want %d", acked[len(acked)-1].base, next)
			}
			acked = append(acked, appendOne(t, l, recordbatch.Build(3, 10, tsBase+101)))
			checkContents(t, l, acked)
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			r, err := log.VerifyPartition(dir, log.VerifyOptions{IndexIntervalBytes: cfg.IndexIntervalBytes})
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range append(r.Problems, r.Warnings...) {
				t.Errorf("verify: %v", p)
			}
			l = openLog(t, dir, cfg)
			checkContents(t, l, acked)
			acked = append(acked, appendOne(t, l, recordbatch.BuildSized(16<<10, tsBase+102)))
			reopenAll(t, l, cfg, func(t *testing.T, l *log.Log) {
				checkContents(t, l, acked)
			})
		})
	}
}
