package log

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/tributary-io/tributary/index"
	"github.com/tributary-io/tributary/recordbatch"
	"github.com/tributary-io/tributary/segment"
)

// Offline inspection of a data dir and its partitions, for tools (tributary
// inspect --verify). Nothing here takes the data dir's lock, opens a file
// for writing or removes leftovers as Open does, so it may run on a data dir
// a broker holds. What Open would repair is reported instead: damage as a
// Problem, harmless leftovers as a warning.

// ErrMissing is wrapped by a Problem naming a file or directory the data
// dir's metadata says should exist.
var ErrMissing = errors.New("log: missing")

// PartitionDir is one partition directory of a data dir.
type PartitionDir struct {
	Topic     string
	Partition int
	Dir       string
	// Config is the topic's config: DefaultConfig with the topic's
	// overrides. The broker's own defaults are not in the data dir.
	Config Config
}

// DataDir is what a data dir's topic metadata lists.
type DataDir struct {
	Partitions []PartitionDir    // sorted by topic, then partition
	Problems   []segment.Problem // unreadable metadata, missing partition dirs
	Warnings   []segment.Problem // directories no topic claims
}

// ListPartitions reads the topic metadata of the data dir dataDir and lists
// its partition directories. The error is for a dir that is not a data dir.
func ListPartitions(dataDir string) (DataDir, error) {
	var dd DataDir
	metaPath := filepath.Join(dataDir, metaDir, topicsDir)
	metas, err := os.ReadDir(metaPath)
	if err != nil {
		return dd, fmt.Errorf("log: %s is not a data dir: %w", dataDir, err)
	}
	claimed := map[string]bool{metaDir: true}
	sparse := map[string]bool{} // topics whose metadata lists the hosted partitions
	for _, e := range metas {
		if !strings.HasSuffix(e.Name(), topicMetaSuffix) {
			continue
		}
		path := filepath.Join(metaPath, e.Name())
		tm, err := readTopicMeta(path)
		if err != nil {
			dd.Problems = append(dd.Problems, segment.Problem{Path: path, Position: -1, Offset: -1, Err: err})
			continue
		}
		cfg, err := DefaultConfig().With(tm.Configs)
		if err != nil {
			dd.Warnings = append(dd.Warnings, segment.Problem{Path: path, Position: -1, Offset: -1, Err: err})
			cfg = DefaultConfig()
		}
		if tm.sparse() {
			sparse[tm.Name] = true
		}
		for _, hp := range tm.hostedPartitions() {
			p := int(hp)
			name := tm.Name + "-" + strconv.Itoa(p)
			claimed[name] = true
			dir := filepath.Join(dataDir, name)
			if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
				dd.Problems = append(dd.Problems, segment.Problem{Path: dir, Position: -1, Offset: -1,
					Err: fmt.Errorf("%w: partition %d of topic %s has no directory", ErrMissing, p, tm.Name)})
				continue
			}
			dd.Partitions = append(dd.Partitions, PartitionDir{Topic: tm.Name, Partition: p, Dir: dir, Config: cfg})
		}
	}
	ents, err := os.ReadDir(dataDir)
	if err != nil {
		return dd, fmt.Errorf("log: read data dir %s: %w", dataDir, err)
	}
	for _, e := range ents {
		if !e.IsDir() || claimed[e.Name()] {
			continue
		}
		if topic, _, ok := partitionDirName(e.Name()); ok && sparse[topic] {
			dd.Warnings = append(dd.Warnings, segment.Problem{Path: filepath.Join(dataDir, e.Name()), Position: -1, Offset: -1,
				Err: errors.New("log: a partition its topic's metadata does not host (a removal a crash interrupted); deleted at the next start, not inspected")})
			continue
		}
		dd.Warnings = append(dd.Warnings, segment.Problem{Path: filepath.Join(dataDir, e.Name()), Position: -1, Offset: -1,
			Err: errors.New("log: no topic claims this directory (a deleted topic's leftover?); not inspected")})
	}
	sort.Slice(dd.Partitions, func(i, j int) bool {
		a, b := dd.Partitions[i], dd.Partitions[j]
		return a.Topic < b.Topic || a.Topic == b.Topic && a.Partition < b.Partition
	})
	return dd, nil
}

// VerifyOptions configures VerifyPartition.
type VerifyOptions struct {
	// IndexIntervalBytes is the index.interval.bytes the segments were
	// written with (0: the default), see segment.VerifyOptions.
	IndexIntervalBytes int
	// Segment, when not nil, restricts the checks to the segment with
	// this base offset (the partition's checkpoints still decide what it
	// is allowed to contain).
	Segment *int64
	// Batch, if set, is called for every batch, see
	// segment.VerifyOptions.Batch; segmentPath names its .log file.
	Batch func(segmentPath string, h *recordbatch.Header, pos int64, batch []byte, problem error) error
}

// RecoveryCheckpoint is a decoded recovery-checkpoint file.
type RecoveryCheckpoint struct {
	CleanShutdown  bool
	IndexFormat    uint32
	RecoveryOffset int64 // log end offset known to be on stable storage
	LogStartOffset int64
}

// ProducerSnapshot summarises a decoded producer-snapshot file.
type ProducerSnapshot struct {
	Offset    int64 // the log end offset it covers
	Producers int
}

// PartitionReport is what VerifyPartition found in a partition directory.
type PartitionReport struct {
	Dir      string
	Segments []segment.VerifyResult
	// LogStartOffset and LogEndOffset are the offsets Open would start
	// the log with (when every segment was verified).
	LogStartOffset, LogEndOffset int64
	Checkpoint                   *RecoveryCheckpoint // nil when absent or unreadable
	CleanedOffset                int64               // from the cleaner checkpoint; -1: never compacted
	ProducerSnapshot             *ProducerSnapshot   // nil when absent or unreadable
	Problems                     []segment.Problem
	// Lost are the offset ranges the next open will find lost and report
	// (left as gaps): the damaged part of a segment, up to the next
	// segment, and gaps between segments that no log cleaner left.
	// KnownLost are the gaps an earlier recovery already reported (the
	// lost-offsets file), which are no damage any more.
	Lost      []LostRange
	KnownLost []OffsetRange
	// Warnings are what Open tidies up without loss: leftovers of an
	// interrupted cleaner swap or roll (a segment left unsealed by an
	// unclean shutdown: ErrUnsealed), index files without a segment.
	Warnings []segment.Problem
}

// Damaged reports whether any problem was found.
func (r *PartitionReport) Damaged() bool { return len(r.Problems) > 0 }

// VerifyPartition checks the partition directory dir offline: every
// segment with segment.Verify (with the gaps its cleaner checkpoint
// allows), that segments follow one another, and that the checkpoint
// files are readable and agree with the log. A segment whose seal an
// unclean shutdown interrupted gets warnings, not problems, for what the
// seal would have done (ErrUnsealed). The error is for a dir that
// cannot be read at all, or one Batch returned.
func VerifyPartition(dir string, opts VerifyOptions) (PartitionReport, error) {
	r := PartitionReport{Dir: dir, CleanedOffset: -1}
	problem := func(path string, err error) {
		r.Problems = append(r.Problems, segment.Problem{Path: path, Position: -1, Offset: -1, Err: err})
	}
	warn := func(path string, err error) {
		r.Warnings = append(r.Warnings, segment.Problem{Path: path, Position: -1, Offset: -1, Err: err})
	}

	// A partition of a Manager's data dir: its clean-shutdown marker, not
	// the partition's checkpoint, says whether the last stop was clean,
	// and a clean stop writes no checkpoint the next open does not need.
	managed, markerThere := false, false
	if parent := filepath.Dir(dir); isDir(filepath.Join(parent, metaDir, topicsDir)) {
		managed = true
		_, err := os.Stat(filepath.Join(parent, CleanShutdownFile))
		markerThere = err == nil
	}

	ckptPath := filepath.Join(dir, CheckpointFile)
	if b, err := os.ReadFile(ckptPath); err == nil {
		if c, err := decodeCheckpoint(b); err != nil {
			problem(ckptPath, err)
		} else {
			r.Checkpoint = &RecoveryCheckpoint{CleanShutdown: c.clean, IndexFormat: c.indexFormat,
				RecoveryOffset: c.recoveryOffset, LogStartOffset: c.logStartOffset}
		}
	} else if errors.Is(err, os.ErrNotExist) {
		if !markerThere {
			warn(ckptPath, errors.New("log: no recovery checkpoint: the next open scans every segment"))
		}
	} else {
		return r, fmt.Errorf("log: read checkpoint: %w", err)
	}

	compactedBefore := int64(0)
	cleanerPath := filepath.Join(dir, CleanerCheckpointFile)
	if b, err := os.ReadFile(cleanerPath); err == nil {
		if off, err := decodeCleanerCheckpoint(b); err != nil {
			problem(cleanerPath, err)
			compactedBefore = math.MaxInt64 // as Open does: gaps may be anywhere
		} else {
			r.CleanedOffset, compactedBefore = off, off
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return r, fmt.Errorf("log: read cleaner checkpoint: %w", err)
	}

	snapPath := filepath.Join(dir, ProducerSnapshotFile)
	if b, err := os.ReadFile(snapPath); err == nil {
		if s, err := decodeProducerSnapshot(b); err != nil {
			problem(snapPath, err)
		} else {
			r.ProducerSnapshot = &ProducerSnapshot{Offset: s.offset, Producers: len(s.producers)}
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return r, fmt.Errorf("log: read producer snapshot: %w", err)
	}

	// What says the broker died: an unclean checkpoint, or, in a
	// Manager's data dir, the missing clean-shutdown marker (a partition
	// untouched since a clean start keeps a clean checkpoint while the
	// broker runs, and a new one has none yet).
	unclean := r.Checkpoint != nil && !r.Checkpoint.CleanShutdown
	if managed && !markerThere {
		unclean = true
	}

	bases, err := inspectSegmentFiles(dir, warn)
	if err != nil {
		return r, err
	}
	for i, base := range bases {
		if opts.Segment != nil && base != *opts.Segment {
			continue
		}
		so := segment.VerifyOptions{
			CompactedBefore:    compactedBefore,
			IndexIntervalBytes: opts.IndexIntervalBytes,
			Active:             i == len(bases)-1,
		}
		if !so.Active {
			so.NextSegment = bases[i+1]
		} else if c := r.Checkpoint; c != nil && c.RecoveryOffset > base {
			// As Open does: the recovery point vouches for the last
			// segment's last batch when it ends there.
			so.NextSegment = c.RecoveryOffset
		}
		if opts.Batch != nil {
			path := filepath.Join(dir, segment.FileName(base, segment.LogSuffix))
			so.Batch = func(h *recordbatch.Header, pos int64, batch []byte, problem error) error {
				return opts.Batch(path, h, pos, batch, problem)
			}
		}
		res, err := segment.Verify(dir, base, so)
		if err != nil {
			return r, err
		}
		if unclean && !so.Active && len(res.Problems) > 0 {
			unsealed, err := splitUnsealed(dir, so, &res)
			if err != nil {
				return r, err
			}
			r.Warnings = append(r.Warnings, unsealed...)
		}
		r.Problems = append(r.Problems, res.Problems...)
		r.Segments = append(r.Segments, res)
	}
	if opts.Segment != nil {
		if len(r.Segments) == 0 {
			return r, fmt.Errorf("log: no segment %s in %s", segment.FileName(*opts.Segment, segment.LogSuffix), dir)
		}
		return r, nil
	}

	if err := r.findLost(dir, compactedBefore); err != nil {
		return r, err
	}

	if n := len(r.Segments); n > 0 {
		r.LogStartOffset, r.LogEndOffset = r.Segments[0].BaseOffset, r.Segments[n-1].NextOffset
	} else if r.Checkpoint != nil {
		r.LogStartOffset, r.LogEndOffset = r.Checkpoint.LogStartOffset, r.Checkpoint.LogStartOffset
	}
	if c := r.Checkpoint; c != nil {
		if c.LogStartOffset > r.LogStartOffset {
			r.LogStartOffset = min(c.LogStartOffset, r.LogEndOffset)
		}
		if c.IndexFormat != indexFormatVersion {
			warn(ckptPath, fmt.Errorf("log: index format %d, this version writes %d: the next open rebuilds the indexes", c.IndexFormat, indexFormatVersion))
		}
	}
	if s := r.ProducerSnapshot; s != nil && s.Offset > r.LogEndOffset {
		warn(snapPath, fmt.Errorf("log: producer snapshot covers offsets up to %d, past the log end %d; the next open rebuilds it", s.Offset, r.LogEndOffset))
	}
	return r, nil
}

// A broker killed while rolling, after the new segment's file was created
// and before the old segment was sealed (or midway through sealing it),
// leaves a segment that is no longer the last one yet still looks active:
// its index files keep their preallocated zero-filled tails, and its time
// index may lack the closing entry. Open repairs that without touching a
// batch, whichever side of the recovery checkpoint the segment lies: past
// it, Recover CRC-scans the segment and rebuilds its indexes; before it,
// the sanity check of Load finds the tail's zero entries out of order and
// falls back to Recover (a preallocated index has room for at least four
// entries, so a tail always follows a real entry or holds two). When the
// checkpoint says the log was
// not closed cleanly, VerifyPartition reports exactly these leftovers as
// warnings. After a clean shutdown every segment but the last was sealed,
// so there they remain problems; so they do when the checkpoint is missing
// or unreadable, which cannot tell a crash from damage.

// ErrUnsealed is wrapped by the warnings about a segment an unclean
// shutdown left unsealed, which the next open repairs.
var ErrUnsealed = errors.New("log: not closed cleanly: segment left unsealed, the next open rebuilds its indexes")

// indexTail reports whether the index file of the segment at base in dir
// with suffix is longer than its used entries: preallocated, never trimmed.
func indexTail(dir string, base int64, suffix string, entrySize, used int) bool {
	fi, err := os.Stat(filepath.Join(dir, segment.FileName(base, suffix)))
	return err == nil && fi.Size()/int64(entrySize) > int64(used)
}

// problemKey identifies a Problem across two Verify runs of a segment.
type problemKey struct {
	path             string
	position, offset int64
	msg              string
}

func keyOf(p *segment.Problem) problemKey {
	return problemKey{p.Path, p.Position, p.Offset, p.Err.Error()}
}

// splitUnsealed takes the leftovers of an unfinished seal out of the
// problems of the sealed segment res and returns them as warnings. It
// verifies the segment again as the active segment it was until the broker
// died (segment.VerifyOptions.Active): what that run reports too stays a
// problem, and so does an index entry past the segment's last batch (a
// Problem with an Offset), which no crash leaves since a batch is written
// before its index entry. The rest are about an index file as a whole, and
// are leftovers only in the numbers an unfinished seal leaves: one in a
// .index with a zero-filled tail (the tail), two at most in a .timeindex
// with one (the tail and the missing closing entry, which is written
// before the trims). Anything else (an offset index lacking its last entry,
// a closing entry missing from a trimmed time index) is damage, and then
// nothing moves.
func splitUnsealed(dir string, so segment.VerifyOptions, res *segment.VerifyResult) ([]segment.Problem, error) {
	allowed := map[string]int{}
	if indexTail(dir, res.BaseOffset, segment.IndexSuffix, index.OffsetEntrySize, res.IndexEntries) {
		allowed[filepath.Join(dir, segment.FileName(res.BaseOffset, segment.IndexSuffix))] = 1
	}
	if indexTail(dir, res.BaseOffset, segment.TimeIndexSuffix, index.TimeEntrySize, res.TimeIndexEntries) {
		allowed[filepath.Join(dir, segment.FileName(res.BaseOffset, segment.TimeIndexSuffix))] = 2
	}
	if len(allowed) == 0 {
		return nil, nil
	}
	so.Active, so.Batch = true, nil
	active, err := segment.Verify(dir, res.BaseOffset, so)
	if err != nil {
		return nil, err
	}
	both := map[problemKey]int{}
	for i := range active.Problems {
		both[keyOf(&active.Problems[i])]++
	}
	var problems, warnings []segment.Problem
	for _, p := range res.Problems {
		k := keyOf(&p)
		switch {
		case both[k] > 0:
			both[k]--
			problems = append(problems, p)
		case p.Offset >= 0:
			problems = append(problems, p)
		default:
			if allowed[p.Path]--; allowed[p.Path] < 0 {
				return nil, nil
			}
			p.Err = fmt.Errorf("%w: %v", ErrUnsealed, p.Err)
			warnings = append(warnings, p)
		}
	}
	for _, n := range both {
		if n > 0 {
			return nil, nil // a problem the active run words differently
		}
	}
	res.Problems = problems
	return warnings, nil
}

// inspectSegmentFiles returns the base offsets of the .log files in dir,
// sorted, and warns about the leftovers listSegments and completeSwaps
// would remove or finish.
func inspectSegmentFiles(dir string, warn func(string, error)) ([]int64, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("log: read %s: %w", dir, err)
	}
	logs, bases := segmentLogs(ents)
	for _, e := range ents {
		name, path := e.Name(), filepath.Join(dir, e.Name())
		switch {
		case strings.HasSuffix(name, segment.CleanedSuffix):
			warn(path, errors.New("log: uncommitted cleaner output; the next open removes it"))
		case strings.HasSuffix(name, segment.SwapSuffix):
			warn(path, errors.New("log: committed cleaner swap not yet finished; the next open completes it"))
		case strings.HasSuffix(name, ".tmp"):
			warn(path, errors.New("log: temporary file of an interrupted write; the next open removes it"))
		default:
			if base, suf, ok := segment.ParseFileName(name); ok && suf != segment.LogSuffix && !logs[base] {
				warn(path, errors.New("log: index without its .log; the next open removes it"))
			}
		}
	}
	sort.Slice(bases, func(i, j int) bool { return bases[i] < bases[j] })
	return bases, nil
}

// findLost works out, from the verified segments, what the next open
// keeps and what it leaves as gaps (see recover.go): each segment keeps
// its intact prefix; a gap after it is lost if the segment was damaged or
// the cleaner did not leave it; a damaged last segment loses, as a gap,
// the flushed offsets past its intact prefix (up to the checkpoint's
// recovery point). Ranges the lost-offsets file holds are known.
func (r *PartitionReport) findLost(dir string, compactedBefore int64) error {
	lostPath := filepath.Join(dir, LostOffsetsFile)
	known, ok, err := readLostOffsets(dir)
	if err != nil {
		return err
	}
	if !ok {
		r.Problems = append(r.Problems, segment.Problem{Path: lostPath, Position: -1, Offset: -1,
			Err: fmt.Errorf("%w: the next open reports its ranges again", errBadLostOffsets)})
	}
	var gaps []LostRange
	end, damage := int64(-1), ""
	for i := range r.Segments {
		s := &r.Segments[i]
		last := i == len(r.Segments)-1
		if end >= 0 && s.BaseOffset < end {
			r.Problems = append(r.Problems, segment.Problem{Path: s.Path, Position: 0, Offset: s.BaseOffset,
				Err: fmt.Errorf("%w: segment starts at offset %d, the previous one ends at %d (overlap); the next open keeps only its batches from offset %d on",
					segment.ErrOffsetOrder, s.BaseOffset, end, end)})
			end = max(end, s.NextOffset)
			continue
		}
		if s.Size == 0 && !last {
			r.Warnings = append(r.Warnings, segment.Problem{Path: s.Path, Position: -1, Offset: s.BaseOffset,
				Err: errors.New("log: stray empty segment; the next open removes it")})
			continue
		}
		for j, k := range s.Kept {
			cut := j < len(s.Kept)-1 || k.To < s.Size
			lastRun := last && j == len(s.Kept)-1
			if k.To == k.From && !(lastRun && (end < 0 || k.Base > end)) {
				// Nothing kept: the run goes.
				if cut {
					if end < 0 {
						end = k.Base
					}
					if damage == "" {
						damage = fmt.Sprintf("segment %s is damaged from byte %d (offset %d) on", filepath.Base(s.Path), k.To, k.Next)
					}
				}
				continue
			}
			if end >= 0 && k.Base > end {
				cause := damage
				if cause == "" && k.Base > compactedBefore {
					cause = fmt.Sprintf("no segment holds these offsets (a segment file before %s is missing)", filepath.Base(s.Path))
				}
				if cause != "" {
					gaps = append(gaps, LostRange{OffsetRange{end, k.Base}, cause})
				}
			}
			end, damage = k.Next, ""
			if cut {
				damage = fmt.Sprintf("segment %s is damaged from byte %d (offset %d) on", filepath.Base(s.Path), k.To, k.Next)
			}
		}
	}
	if c := r.Checkpoint; c != nil && end < 0 && c.RecoveryOffset > c.LogStartOffset {
		// No segment at all: the flushed offsets from the log start on
		// are lost (see loadSegments).
		end, damage = c.LogStartOffset, "every segment file of the partition is missing"
	}
	if c := r.Checkpoint; c != nil && end >= 0 && c.RecoveryOffset > end {
		cause := damage
		if cause == "" {
			cause = fmt.Sprintf("the log ends at offset %d but offsets up to %d were flushed", end, c.RecoveryOffset)
		}
		gaps = append(gaps, LostRange{OffsetRange{end, c.RecoveryOffset}, cause})
	}
	for _, g := range gaps {
		if c := r.Checkpoint; c != nil {
			// Below the log start offset: deleted records, not lost.
			g.From = min(max(g.From, c.LogStartOffset), g.To)
		}
		if g.From == g.To {
			continue
		}
		for _, k := range known {
			if k.From < g.To && k.To > g.From {
				r.KnownLost = append(r.KnownLost, OffsetRange{max(k.From, g.From), min(k.To, g.To)})
			}
		}
		for _, n := range subtractRanges(g.OffsetRange, known) {
			r.Lost = append(r.Lost, LostRange{n, g.Cause})
			r.Problems = append(r.Problems, segment.Problem{Path: dir, Position: -1, Offset: n.From,
				Err: fmt.Errorf("%w: offsets %v (%d) are lost: %s; the next open leaves them as a gap and reports them", ErrMissing, n, n.Len(), g.Cause)})
		}
	}
	return nil
}

func isDir(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.IsDir()
}
