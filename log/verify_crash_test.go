package log_test

import (
	"encoding/binary"
	"errors"
	"hash/crc32"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tributary-io/tributary/index"
	"github.com/tributary-io/tributary/log"
	"github.com/tributary-io/tributary/recordbatch"
	"github.com/tributary-io/tributary/segment"
)

// killedMidRoll appends to a log in a new dir, with a small segment.bytes,
// until it rolls, and returns a copy of the dir taken inside that roll: what
// a restart finds after kill -9 there (every written byte, no clean
// checkpoint). The copy is taken when the roll opens the new segment's .log
// (Config.WrapFile is called then): after the new segment's file exists and
// before the old segment is sealed, so the old one still has preallocated,
// zero-filled index tails and no closing time index entry. With sync, every
// append is synced and checkpointed (as flush.messages=1 and a checkpoint
// would): the recovery point is then the old segment's end, so Open only
// sanity-checks it instead of CRC-scanning it. It returns the batches
// appended before the roll, every one of which the copy holds.
func killedMidRoll(t *testing.T, sync bool) (crashed string, batches []storedBatch) {
	t.Helper()
	dir, crashed := t.TempDir(), t.TempDir()
	armed, copied := false, false
	var copyErr error
	cfg := quietConfig()
	cfg.SegmentBytes = 4 << 10
	cfg.WrapFile = func(_ string, f *os.File) segment.File {
		if armed && !copied {
			// No t.Fatal here: the roll holds the log's locks.
			copied, copyErr = true, os.CopyFS(crashed, os.DirFS(dir))
		}
		return f
	}
	l := openLog(t, dir, cfg)
	armed = true
	for i := 0; l.NumSegments() == 1; i++ {
		if i == 1000 {
			t.Fatal("the log never rolled")
		}
		b := appendRecords(t, l, 1, 2, tsBase+int64(i)*10, 0)
		if l.NumSegments() == 1 {
			batches = append(batches, b...)
			if sync {
				if err := l.Sync(); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	if !copied || copyErr != nil {
		t.Fatalf("crash copy inside the roll: taken %v, %v", copied, copyErr)
	}
	return crashed, batches
}

// setCheckpointClean rewrites the recovery checkpoint in dir with its clean
// shutdown flag set (layout in the package comment): the same files, as if
// Close had written it.
func setCheckpointClean(t *testing.T, dir string) {
	t.Helper()
	path := filepath.Join(dir, log.CheckpointFile)
	b, err := os.ReadFile(path)
	if err != nil || len(b) != 38 {
		t.Fatalf("checkpoint: %d bytes, %v", len(b), err)
	}
	b[13] |= 1 // payload's flags (after the 12-byte frame header), bit 0: clean shutdown
	binary.BigEndian.PutUint32(b[34:], crc32.Checksum(b[:34], crc32.MakeTable(crc32.Castagnoli)))
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// copyDir copies the files of dir to a new directory.
func copyDir(t *testing.T, dir string) string {
	t.Helper()
	dst := t.TempDir()
	if err := os.CopyFS(dst, os.DirFS(dir)); err != nil {
		t.Fatal(err)
	}
	return dst
}

// wantUnsealed checks that segment 0's leftovers of the interrupted roll
// (both index tails and the missing closing time index entry) are what
// got: as warnings wrapping log.ErrUnsealed (unsealed true), or as the
// index.ErrCorrupt problems a sealed segment has (false).
func wantUnsealed(t *testing.T, got []segment.Problem, unsealed bool) {
	t.Helper()
	want := []struct{ suffix, text string }{
		{segment.IndexSuffix, "zero-filled entries after the last entry"},
		{segment.TimeIndexSuffix, "zero-filled entries after the last entry"},
		{segment.TimeIndexSuffix, "has no entry (the closing entry written at roll)"},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d, want the %d leftovers of the roll: %v", len(got), len(want), got)
	}
	for i, w := range want {
		p := &got[i]
		if filepath.Base(p.Path) != segment.FileName(0, w.suffix) || !strings.Contains(p.Error(), w.text) ||
			errors.Is(p, log.ErrUnsealed) != unsealed || errors.Is(p, index.ErrCorrupt) == unsealed {
			t.Errorf("%d: %v; want one about %s saying %q (unsealed %v)", i, p.Error(), w.suffix, w.text, unsealed)
		}
	}
}

// TestVerifyPartitionKilledMidRoll: a kill -9 in the middle of a roll
// leaves the old segment unsealed; Open reseals it without losing a batch,
// so VerifyPartition reports that as warnings, not damage, unless the
// checkpoint claims a clean shutdown.
func TestVerifyPartitionKilledMidRoll(t *testing.T) {
	for _, tt := range []struct {
		name string
		sync bool
	}{
		{"recovered segment", false}, // past the recovery point: Open CRC-scans it
		{"flushed segment", true},    // before it: Open's sanity check rejects the tails
	} {
		t.Run(tt.name, func(t *testing.T) {
			crashed, batches := killedMidRoll(t, tt.sync)
			end := batches[len(batches)-1].next()
			wantRecovery := int64(0)
			if tt.sync {
				wantRecovery = end
			}

			r := verifyPartition(t, crashed)
			if c := r.Checkpoint; c == nil || c.CleanShutdown || c.RecoveryOffset != wantRecovery {
				t.Fatalf("checkpoint %+v, want an unclean one at offset %d", c, wantRecovery)
			}
			if len(r.Segments) != 2 || r.Segments[1].BaseOffset != end || r.Segments[1].Size != 0 || r.LogEndOffset != end {
				t.Fatalf("segments %+v, want the rolled one and a new empty one at %d", r.Segments, end)
			}
			if len(r.Problems) != 0 {
				t.Errorf("problems: %v", r.Problems)
			}
			wantUnsealed(t, r.Warnings, true)
			size := r.Segments[0].Size

			// The same files behind a clean checkpoint: a clean shutdown
			// seals every segment, so these are damage.
			clean := copyDir(t, crashed)
			setCheckpointClean(t, clean)
			r = verifyPartition(t, clean)
			if len(r.Warnings) != 0 {
				t.Errorf("clean checkpoint: warnings: %v", r.Warnings)
			}
			wantUnsealed(t, r.Problems, false)

			// Without a checkpoint nothing says the broker died.
			noCkpt := copyDir(t, crashed)
			if err := os.Remove(filepath.Join(noCkpt, log.CheckpointFile)); err != nil {
				t.Fatal(err)
			}
			r = verifyPartition(t, noCkpt)
			wantUnsealed(t, r.Problems, false)

			// Open rebuilds the segment (CRC-scanning it: the sanity check
			// of a flushed one fails on its tails), keeping every batch.
			l, err := log.Open(crashed, quietConfig())
			if err != nil {
				t.Fatal(err)
			}
			if ri := l.Recovery(); ri.Clean || ri.BytesScanned != size || ri.TruncatedBytes != 0 {
				t.Errorf("Open of the crash copy: %+v, want segment 0's %d bytes scanned, none truncated", ri, size)
			}
			checkContents(t, l, batches)
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			r = verifyPartition(t, crashed)
			if len(r.Problems) != 0 || len(r.Warnings) != 0 {
				t.Errorf("after Open and Close: problems %v, warnings %v", r.Problems, r.Warnings)
			}
			if r.LogEndOffset != end || r.Checkpoint == nil || !r.Checkpoint.CleanShutdown {
				t.Errorf("after Open and Close: report %+v", r)
			}
		})
	}
}

// TestVerifyPartitionKilledMidRollDamage: damage in a segment left unsealed
// by a crash is still a problem; only the leftovers of the unfinished seal
// are forgiven.
func TestVerifyPartitionKilledMidRollDamage(t *testing.T) {
	// entry returns the bytes of a .index entry or, with ts >= 0, a
	// .timeindex entry.
	entry := func(rel, pos uint32, ts int64) []byte {
		if ts >= 0 {
			return binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint64(nil, uint64(ts)), rel)
		}
		return binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint32(nil, rel), pos)
	}
	tests := []struct {
		name string
		// edit damages segment 0, given what verifying it found.
		edit     func(t *testing.T, dir string, seg segment.VerifyResult)
		suffix   string // the file the problem names
		wantErr  error
		wantText string
		// noLeftovers: the damage is of a kind that makes the roll's
		// leftovers damage too (they stay problems, no warnings).
		noLeftovers bool
	}{
		{"offset index entry names another batch", func(t *testing.T, dir string, _ segment.VerifyResult) {
			patch(t, dir, segment.IndexSuffix, 0, func(b []byte) { b[3]++ }) // entry 0's relative offset
		}, segment.IndexSuffix, index.ErrCorrupt, "names offset", false},
		{"offset index entry points inside a batch", func(t *testing.T, dir string, _ segment.VerifyResult) {
			patch(t, dir, segment.IndexSuffix, 0, func(b []byte) { b[7]++ }) // entry 0's position
		}, segment.IndexSuffix, index.ErrCorrupt, "points inside a batch", false},
		{"garbage in the offset index tail", func(t *testing.T, dir string, seg segment.VerifyResult) {
			// An index grows ahead of its entries (doubling), so a crash
			// leaves a zero-filled tail of some length: make it long
			// enough to hold the garbage with zeros on both sides.
			path := filepath.Join(dir, segment.FileName(0, segment.IndexSuffix))
			if err := os.Truncate(path, int64(seg.IndexEntries+6)*index.OffsetEntrySize); err != nil {
				t.Fatal(err)
			}
			patch(t, dir, segment.IndexSuffix, int64(seg.IndexEntries+3)*index.OffsetEntrySize, func(b []byte) { b[0], b[5] = 0x5a, 0xa5 })
		}, segment.IndexSuffix, index.ErrCorrupt, "does not follow", false},
		{"offset index entry past the log", func(t *testing.T, dir string, seg segment.VerifyResult) {
			e := entry(uint32(seg.NextOffset+10), uint32(seg.Size+100), -1)
			patch(t, dir, segment.IndexSuffix, int64(seg.IndexEntries)*index.OffsetEntrySize, func(b []byte) { copy(b, e) })
		}, segment.IndexSuffix, index.ErrCorrupt, "points past the last batch", false},
		{"time index entry past the log", func(t *testing.T, dir string, seg segment.VerifyResult) {
			e := entry(uint32(seg.NextOffset+10), 0, seg.MaxTimestamp+1000)
			patch(t, dir, segment.TimeIndexSuffix, int64(seg.TimeIndexEntries)*index.TimeEntrySize, func(b []byte) { copy(b, e) })
		}, segment.TimeIndexSuffix, index.ErrCorrupt, "past the segment's last batch", false},
		{"CRC error", func(t *testing.T, dir string, _ segment.VerifyResult) {
			patch(t, dir, segment.LogSuffix, 100, func(b []byte) { b[0] ^= 0xff }) // a record of the first batch
		}, segment.LogSuffix, recordbatch.ErrCorrupt, "", false},
		{"offset index lacks its last entry", func(t *testing.T, dir string, seg segment.VerifyResult) {
			patch(t, dir, segment.IndexSuffix, int64(seg.IndexEntries-1)*index.OffsetEntrySize, func(b []byte) { clear(b[:index.OffsetEntrySize]) })
		}, segment.IndexSuffix, index.ErrCorrupt, "entries missing", true},
		{"closing entry missing from a trimmed time index", func(t *testing.T, dir string, seg segment.VerifyResult) {
			path := filepath.Join(dir, segment.FileName(0, segment.TimeIndexSuffix))
			if err := os.Truncate(path, int64(seg.TimeIndexEntries)*index.TimeEntrySize); err != nil {
				t.Fatal(err)
			}
		}, segment.TimeIndexSuffix, index.ErrCorrupt, "closing entry", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			crashed, _ := killedMidRoll(t, false)
			before := verifyPartition(t, crashed)
			tt.edit(t, crashed, before.Segments[0])
			r := verifyPartition(t, crashed)
			found := false
			for _, p := range r.Problems {
				found = found || filepath.Base(p.Path) == segment.FileName(0, tt.suffix) &&
					errors.Is(&p, tt.wantErr) && strings.Contains(p.Error(), tt.wantText)
			}
			if !found {
				t.Errorf("problems %v, want one in %s wrapping %v saying %q", r.Problems, tt.suffix, tt.wantErr, tt.wantText)
			}
			// The leftovers of the roll (the tails after the damage, the
			// closing entry) are still just that, unless the damage is of
			// a kind no crash leaves in a segment's index files.
			if want := 3; tt.noLeftovers && len(r.Warnings) != 0 || !tt.noLeftovers && len(r.Warnings) != want {
				t.Errorf("warnings %v, want the roll's %d leftovers (none: %v)", r.Warnings, want, tt.noLeftovers)
			}
			for _, w := range r.Warnings {
				if !errors.Is(&w, log.ErrUnsealed) {
					t.Errorf("unexpected warning %v", w.Error())
				}
			}
		})
	}
}

// patch edits the file of segment 0 with suffix in dir from byte at on.
func patch(t *testing.T, dir, suffix string, at int64, f func([]byte)) {
	t.Helper()
	path := filepath.Join(dir, segment.FileName(0, suffix))
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if at >= int64(len(b)) {
		t.Fatalf("%s: edit at %d, past its %d bytes", path, at, len(b))
	}
	f(b[at:])
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}
