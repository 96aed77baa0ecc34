package segment

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime/debug"

	"github.com/edsrzf/mmap-go"

	"github.com/tributary-io/tributary/index"
	"github.com/tributary-io/tributary/recordbatch"
)

// Verify checks a segment's three files offline, for tools (tributary
// inspect --verify). Unlike Recover and Load it opens every file read-only,
// takes no lock and writes nothing, so it may run on a data dir a broker
// holds; and unlike them it checks the whole .log, not only past the
// recovery checkpoint, and goes on past a damaged batch whenever the
// framing still says where the next one starts, so that it reports every
// problem rather than the first.

// Errors a Problem wraps besides recordbatch.ErrCorrupt (framing, CRC),
// recordbatch.ErrTruncated (a torn tail) and index.ErrCorrupt (an index
// entry that does not match the log).
var (
	// ErrOffsetOrder: a batch does not start where the previous one ended
	// (nor in a gap the log cleaner may leave below CompactedBefore).
	ErrOffsetOrder = errors.New("segment: offsets out of order")
	// ErrFileMissing: an index file of a non-empty segment is missing.
	ErrFileMissing = errors.New("segment: file missing")
)

// Problem is one piece of damage Verify found.
type Problem struct {
	Path     string // the damaged file
	Position int64  // byte position in Path where the damage is, -1 for the file as a whole
	Offset   int64  // the record offset involved, -1 when none
	Err      error
}

func (p *Problem) Error() string {
	s := p.Path
	if p.Position >= 0 {
		s += fmt.Sprintf(": position %d", p.Position)
	}
	if p.Offset >= 0 {
		s += fmt.Sprintf(": offset %d", p.Offset)
	}
	return s + ": " + p.Err.Error()
}

func (p *Problem) Unwrap() error { return p.Err }

// VerifyOptions tell Verify what the log around the segment allows.
type VerifyOptions struct {
	// CompactedBefore is Config.CompactedBefore: offset gaps are allowed
	// below it.
	CompactedBefore int64
	// IndexIntervalBytes is the index.interval.bytes the segment was
	// written with (0: DefaultIndexIntervalBytes). The offset index must
	// have an entry at least every that many bytes; when its own entries
	// show a wider spacing (the setting was larger then), that is used.
	IndexIntervalBytes int
	// Active says the segment is the log's last one: its indexes may carry
	// a preallocated zero-filled tail, it has no closing time index entry,
	// and a broker may be appending to it while Verify reads.
	Active bool
	// Batch, if set, is called for every batch whose header parses, in
	// file order, with its bytes (valid until Verify returns) and the
	// CRC or offset problem found in it, if any. An error from Batch
	// stops Verify and is returned.
	Batch func(h *recordbatch.Header, pos int64, batch []byte, problem error) error
	// NextSegment is the base offset of the segment after this one; for
	// the last one (Active), the recovery point (0: none). A recovery
	// keeps the valid batches past damage below the next segment, and in
	// the last segment wherever they go, cutting only a torn tail (see
	// RecoverOptions and VerifyResult.Kept).
	NextSegment int64
}

// VerifyResult says what Verify found.
type VerifyResult struct {
	Path        string // the .log file
	BaseOffset  int64
	FirstOffset int64 // base offset of the first batch, -1 when there is none
	NextOffset  int64 // offset after the last batch; BaseOffset when there is none
	// Size is the .log file's size; ValidBytes the length of the prefix
	// made of whole batches (the point a recovery would truncate to, if
	// no batch in it had a CRC or offset problem).
	Size, ValidBytes int64
	// Kept is what a recovery keeps of the segment: its intact prefix
	// (whole, CRC-valid batches whose offsets follow one another) and
	// each run of valid batches it resumes at past damage, as a segment
	// of its own. One range, To == Size, when
	// the segment is not damaged.
	Kept         []KeptRange
	Batches      int64
	Records      int64 // the sum of the batches' record counts
	MaxTimestamp int64 // -1 when no batch has a timestamp
	// IndexEntries and TimeIndexEntries count the entries in use, without
	// a preallocated tail.
	IndexEntries, TimeIndexEntries int
	Problems                       []Problem
}

// Verify reads the segment at baseOffset in dir and checks every batch's
// framing and CRC-32C, that offsets follow one another, and both indexes
// against the batches: each offset index entry must point at the start of
// the batch with its offset, entries must increase and be no sparser than
// the index interval, each time index entry must name the last offset of a
// batch whose max timestamp it holds, and a sealed segment's time index
// must end with the segment's max timestamp. The error is for a segment
// that cannot be read at all; damage goes into Problems.
func Verify(dir string, baseOffset int64, opts VerifyOptions) (res VerifyResult, err error) {
	logPath := filepath.Join(dir, FileName(baseOffset, LogSuffix))
	res = VerifyResult{Path: logPath, BaseOffset: baseOffset, FirstOffset: -1, NextOffset: baseOffset, MaxTimestamp: -1}
	f, err := os.Open(logPath)
	if err != nil {
		return res, &Error{Path: logPath, Op: "verify", Offset: -1, Err: err}
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return res, &Error{Path: logPath, Op: "verify", Offset: -1, Err: err}
	}
	res.Size = fi.Size()
	if res.Size > math.MaxUint32 {
		return res, &Error{Path: logPath, Op: "verify", Offset: -1, Err: fmt.Errorf("file of %d bytes is larger than any segment", res.Size)}
	}
	var v []byte
	if res.Size > 0 {
		mm, err := mmap.MapRegion(f, int(res.Size), mmap.RDONLY, 0, 0)
		if err != nil {
			return res, &Error{Path: logPath, Op: "verify: mmap", Offset: -1, Err: err}
		}
		defer mm.Unmap()
		v = mm
	}
	// A broker cutting the file back (a rolled-back append) while we read
	// it would fault past its new end: make that an error, not a crash.
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			if _, ok := r.(interface{ Addr() uintptr }); ok {
				err = &Error{Path: logPath, Op: "verify", Offset: -1, Err: fmt.Errorf("file shrank while being read: %v", r)}
				return
			}
			panic(r)
		}
	}()
	vr := verifier{dir: dir, base: baseOffset, opts: opts, res: &res, log: v}
	if opts.IndexIntervalBytes <= 0 {
		vr.opts.IndexIntervalBytes = DefaultIndexIntervalBytes
	}
	if err := vr.run(); err != nil {
		return res, err
	}
	return res, nil
}

// batchEnd is what the index checks need of a batch.
type batchEnd struct {
	pos, base, last, maxTs int64
}

// verifier is one Verify call's state.
type verifier struct {
	dir  string
	base int64
	opts VerifyOptions
	res  *VerifyResult
	log  []byte

	offs  []offsetEntry // offset index entries in use
	times []timeEntry   // time index entries in use
	oi    int           // next offset entry to match
	ti    int           // next time entry to match
	// runMaxTs is the largest batch max timestamp so far, as the segment's
	// indexBatch tracks it.
	runMaxTs int64
	// lastEntryPos is the position of the last matched offset entry (0
	// before the first), and implied the smallest index interval that
	// explains the spacing of the entries seen so far.
	lastEntryPos, implied int64
	prevStart             int64 // start of the previous batch, -1 before the first
	// lastStart and prevLastStart are the starts of the last two batches.
	lastStart, prevLastStart int64
	noIndex                  bool // the offset index file is missing (reported once)
}

type offsetEntry struct {
	i        int
	rel, pos uint32
}

type timeEntry struct {
	i   int
	ts  int64
	rel uint32
}

func (vr *verifier) problem(path string, pos, offset int64, err error) {
	vr.res.Problems = append(vr.res.Problems, Problem{Path: path, Position: pos, Offset: offset, Err: err})
}

func (vr *verifier) path(suffix string) string {
	return filepath.Join(vr.dir, FileName(vr.base, suffix))
}

func (vr *verifier) run() error {
	if err := vr.readIndexes(); err != nil {
		return err
	}
	res := vr.res
	logPath := res.Path
	vr.runMaxTs, vr.prevStart, vr.lastStart, vr.prevLastStart = -1, -1, -1, -1
	next := vr.base
	p := int64(0)
	for p < int64(len(vr.log)) {
		h, err := recordbatch.ParseHeader(vr.log[p:])
		if err != nil {
			err = positionless(err)
			left := int64(len(vr.log)) - p
			if errors.Is(err, recordbatch.ErrTruncated) {
				err = fmt.Errorf("torn tail: the last %d bytes do not hold a whole batch: %w", left, err)
			} else {
				err = fmt.Errorf("unreadable batch; the %d bytes from here on cannot be checked: %w", left, err)
			}
			vr.problem(logPath, p, next, err)
			break
		}
		var batchErr error
		if _, err := recordbatch.Validate(vr.log[p:]); err != nil {
			err = positionless(err)
			batchErr = err
			vr.problem(logPath, p, h.BaseOffset, err)
		}
		if !(h.BaseOffset == next || h.BaseOffset > next && h.BaseOffset < vr.opts.CompactedBefore) {
			what := "a gap"
			if h.BaseOffset < next {
				what = "an overlap"
			}
			err := fmt.Errorf("%w: batch has base offset %d, want %d (%s)", ErrOffsetOrder, h.BaseOffset, next, what)
			batchErr = errors.Join(batchErr, err)
			vr.problem(logPath, p, h.BaseOffset, err)
		} else if h.LastOffset()-vr.base > math.MaxUint32 {
			err := fmt.Errorf("%w: last offset %d is too far past the segment's base offset for the index", ErrOffsetOrder, h.LastOffset())
			batchErr = errors.Join(batchErr, err)
			vr.problem(logPath, p, h.BaseOffset, err)
		}
		if vr.opts.Batch != nil {
			if err := vr.opts.Batch(&h, p, vr.log[p:p+int64(h.Size())], batchErr); err != nil {
				return err
			}
		}
		if res.FirstOffset < 0 {
			res.FirstOffset = h.BaseOffset
		}
		res.Batches++
		res.Records += int64(h.RecordCount)
		res.MaxTimestamp = max(res.MaxTimestamp, h.MaxTimestamp)
		vr.matchIndexes(batchEnd{pos: p, base: h.BaseOffset, last: h.LastOffset(), maxTs: h.MaxTimestamp})
		next = max(next, h.NextOffset())
		p += int64(h.Size())
	}
	res.ValidBytes = p
	res.NextOffset = next
	res.Kept = []KeptRange{{Base: vr.base, Next: next, From: 0, To: p, FirstBatch: res.FirstOffset}}
	for _, pr := range res.Problems {
		if pr.Path == logPath {
			// Damaged: work out what a recovery keeps (a second scan,
			// only of a damaged segment).
			res.Kept = keptRanges(vr.log, vr.base, vr.opts.CompactedBefore, vr.opts.NextSegment, vr.opts.Active)
			break
		}
	}
	vr.finishIndexes()
	return nil
}

// readIndexes loads the entries in use of both indexes, reporting files that
// are missing, not a whole number of entries long, untrimmed, or whose
// entries do not increase.
func (vr *verifier) readIndexes() error {
	offPath, timePath := vr.path(IndexSuffix), vr.path(TimeIndexSuffix)
	for _, f := range []struct {
		path string
		size int64
	}{{offPath, index.OffsetEntrySize}, {timePath, index.TimeEntrySize}} {
		fi, err := os.Stat(f.path)
		if errors.Is(err, os.ErrNotExist) {
			vr.noIndex = vr.noIndex || f.path == offPath
			if vr.res.Size > 0 {
				vr.problem(f.path, -1, -1, fmt.Errorf("%w: the segment's %d bytes have no index", ErrFileMissing, vr.res.Size))
			}
			continue
		}
		if err != nil {
			return &Error{Path: f.path, Op: "verify", Offset: -1, Err: err}
		}
		if fi.Size()%f.size != 0 {
			vr.problem(f.path, fi.Size()-fi.Size()%f.size, -1, fmt.Errorf("%w: truncated: file size %d is not a multiple of the %d-byte entry",
				index.ErrCorrupt, fi.Size(), f.size))
		}
	}

	if x, err := index.OpenOffsetIndex(offPath, vr.base, 0, false); err == nil {
		n := x.Entries()
		used := n
		for used > 0 {
			if rel, pos := x.Entry(used - 1); rel != 0 || pos != 0 {
				break
			}
			used--
		}
		vr.slack(offPath, used, n, index.OffsetEntrySize)
		for i := range used {
			rel, pos := x.Entry(i)
			if k := len(vr.offs); k > 0 && (rel <= vr.offs[k-1].rel || pos <= vr.offs[k-1].pos) {
				vr.problem(offPath, int64(i)*index.OffsetEntrySize, vr.base+int64(rel), fmt.Errorf("%w: entry %d (%d→%d) does not follow entry %d (%d→%d)",
					index.ErrCorrupt, i, rel, pos, vr.offs[k-1].i, vr.offs[k-1].rel, vr.offs[k-1].pos))
				continue
			}
			vr.offs = append(vr.offs, offsetEntry{i: i, rel: rel, pos: pos})
		}
		vr.res.IndexEntries = used
		x.Close()
	} else if !errors.Is(err, os.ErrNotExist) {
		return err
	}

	if x, err := index.OpenTimeIndex(timePath, vr.base, 0, false); err == nil {
		n := x.Entries()
		used := n
		for used > 0 {
			if ts, rel := x.Entry(used - 1); ts != 0 || rel != 0 {
				break
			}
			used--
		}
		if used == 0 && n == 1 && !vr.opts.Active {
			// A trimmed file holding one real entry: timestamp 0 at the
			// base offset. (An active segment's may be the slot its
			// closing entry has reserved, still zero.)
			used = 1
		}
		vr.slack(timePath, used, n, index.TimeEntrySize)
		for i := range used {
			ts, rel := x.Entry(i)
			if k := len(vr.times); k > 0 && (ts <= vr.times[k-1].ts || rel < vr.times[k-1].rel) {
				vr.problem(timePath, int64(i)*index.TimeEntrySize, vr.base+int64(rel), fmt.Errorf("%w: entry %d (%d→%d) does not follow entry %d (%d→%d)",
					index.ErrCorrupt, i, ts, rel, vr.times[k-1].i, vr.times[k-1].ts, vr.times[k-1].rel))
				continue
			}
			vr.times = append(vr.times, timeEntry{i: i, ts: ts, rel: rel})
		}
		vr.res.TimeIndexEntries = used
		x.Close()
	} else if !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// slack reports a zero-filled tail after the used entries of a sealed
// segment's index: only the active segment's index is preallocated (a
// sealed one is trimmed when the log rolls, or rebuilt by recovery).
func (vr *verifier) slack(path string, used, n, entrySize int) {
	if used < n && !vr.opts.Active {
		vr.problem(path, int64(used*entrySize), -1, fmt.Errorf("%w: %d zero-filled entries after the last entry: an index of a sealed segment that was never trimmed",
			index.ErrCorrupt, n-used))
	}
}

// matchIndexes checks the index entries up to the batch b, which comes
// next in the file.
func (vr *verifier) matchIndexes(b batchEnd) {
	offPath, timePath := vr.path(IndexSuffix), vr.path(TimeIndexSuffix)
	for ; vr.oi < len(vr.offs); vr.oi++ {
		e := vr.offs[vr.oi]
		if int64(e.pos) > b.pos {
			break
		}
		want := vr.base + int64(e.rel)
		if int64(e.pos) < b.pos {
			vr.problem(offPath, int64(e.i)*index.OffsetEntrySize, want, fmt.Errorf("%w: entry %d (%d→%d) points inside a batch, not at one's start",
				index.ErrCorrupt, e.i, e.rel, e.pos))
			continue
		}
		if want != b.base {
			vr.problem(offPath, int64(e.i)*index.OffsetEntrySize, want, fmt.Errorf("%w: entry %d (%d→%d) names offset %d, the batch at position %d has base offset %d",
				index.ErrCorrupt, e.i, e.rel, e.pos, want, b.pos, b.base))
		}
		// The entry was added at the first batch at least an interval past
		// the previous one, so the interval exceeds the distance from the
		// previous entry to the batch before this one.
		if vr.prevStart >= 0 {
			vr.implied = max(vr.implied, vr.prevStart-vr.lastEntryPos+1)
		}
		vr.lastEntryPos = b.pos
	}
	if b.maxTs > vr.runMaxTs {
		vr.runMaxTs = b.maxTs
	}
	for ; vr.ti < len(vr.times); vr.ti++ {
		e := vr.times[vr.ti]
		want := vr.base + int64(e.rel)
		if want > b.last {
			break
		}
		switch {
		case want < b.last:
			vr.problem(timePath, int64(e.i)*index.TimeEntrySize, want, fmt.Errorf("%w: entry %d (%d→%d) names offset %d, which is not the last offset of a batch",
				index.ErrCorrupt, e.i, e.ts, e.rel, want))
		case e.ts != b.maxTs || e.ts != vr.runMaxTs:
			vr.problem(timePath, int64(e.i)*index.TimeEntrySize, want, fmt.Errorf("%w: entry %d (%d→%d) has timestamp %d, the batch ending at offset %d has max timestamp %d (segment max so far %d)",
				index.ErrCorrupt, e.i, e.ts, e.rel, e.ts, want, b.maxTs, vr.runMaxTs))
		}
	}
	vr.prevStart = b.pos
	vr.prevLastStart, vr.lastStart = vr.lastStart, b.pos
}

// checkSpacing reports a batch starting a whole index interval past the
// last offset index entry, which the segment would have indexed: the index
// lacks its last entries (truncated, or cut short). Only the tail can be
// checked: a wider gap between two entries is a larger interval, not a
// missing entry. The active segment's last batch may still be having its
// entry written.
func (vr *verifier) checkSpacing() {
	end := vr.lastStart
	if vr.opts.Active {
		end = vr.prevLastStart
	}
	interval := max(int64(vr.opts.IndexIntervalBytes), vr.implied)
	if vr.noIndex || end < 0 || end-vr.lastEntryPos < interval {
		return
	}
	// Without an entry past the first batch to show the spacing the
	// segment was written with, a segment written before index.interval.bytes was lowered
	// looks the same as a cut index: say so, so that the operator can
	// tell the two apart.
	hint := ""
	if vr.implied == 0 {
		hint = " (unless the segment was written with a larger index.interval.bytes)"
	}
	vr.problem(vr.path(IndexSuffix), int64(vr.res.IndexEntries)*index.OffsetEntrySize, -1,
		fmt.Errorf("%w: entries missing: the index ends with position %d, but the log has a batch at position %d, more than the index interval of %d bytes further%s",
			index.ErrCorrupt, vr.lastEntryPos, end, interval, hint))
}

// finishIndexes reports the entries left unmatched after the last batch,
// and a sealed segment's missing closing time index entry.
func (vr *verifier) finishIndexes() {
	offPath, timePath := vr.path(IndexSuffix), vr.path(TimeIndexSuffix)
	vr.checkSpacing()
	for _, e := range vr.offs[vr.oi:] {
		if vr.opts.Active && int64(e.pos) >= vr.res.Size {
			continue // a batch appended after Verify sized the file
		}
		vr.problem(offPath, int64(e.i)*index.OffsetEntrySize, vr.base+int64(e.rel), fmt.Errorf("%w: entry %d (%d→%d) points past the last batch, which ends at position %d",
			index.ErrCorrupt, e.i, e.rel, e.pos, vr.res.ValidBytes))
	}
	for _, e := range vr.times[vr.ti:] {
		if vr.opts.Active && vr.base+int64(e.rel) >= vr.res.NextOffset {
			continue // a batch appended after Verify sized the file
		}
		vr.problem(timePath, int64(e.i)*index.TimeEntrySize, vr.base+int64(e.rel), fmt.Errorf("%w: entry %d (%d→%d) names an offset past the segment's last batch",
			index.ErrCorrupt, e.i, e.ts, e.rel))
	}
	if !vr.opts.Active && vr.res.MaxTimestamp >= 0 {
		if n := len(vr.times); n == 0 || vr.times[n-1].ts != vr.res.MaxTimestamp {
			vr.problem(timePath, int64(vr.res.TimeIndexEntries)*index.TimeEntrySize, -1, fmt.Errorf("%w: the sealed segment's max timestamp %d has no entry (the closing entry written at roll)",
				index.ErrCorrupt, vr.res.MaxTimestamp))
		}
	}
}

// positionless drops the "at byte 0" a recordbatch error gives the
// position of the batch in the slice it was handed: a Problem carries the
// batch's position in the file instead.
func positionless(err error) error {
	var be *recordbatch.Error
	if errors.As(err, &be) {
		return fmt.Errorf("%w: %s", be.Err, be.Reason)
	}
	return err
}
