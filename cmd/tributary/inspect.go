package main

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/tributary-io/tributary/log"
	"github.com/tributary-io/tributary/recordbatch"
	"github.com/tributary-io/tributary/segment"
)

// inspect reads a data dir, a partition dir or one segment file offline,
// as Kafka's kafka-dump-log does: it opens every file read-only, takes no
// lock and writes nothing, so it is safe on a data dir a running broker
// holds. Checking is done by log.VerifyPartition and segment.Verify; this
// file only chooses what to read and prints it.

func init() { rootCmd.AddCommand(newInspectCmd()) }

// Output formats of --output.
const (
	outputText = "text"
	outputJSON = "json"
)

// Kinds of path inspect accepts.
const (
	kindDataDir   = "data-dir"
	kindPartition = "partition"
	kindSegment   = "segment"
)

// tableFlushRows bounds how many rows of a batch listing are held to line
// them up: a segment can hold millions of batches.
const tableFlushRows = 4096

type inspectOptions struct {
	verify        bool
	records       bool
	batches       bool
	output        string
	indexInterval int
}

func newInspectCmd() *cobra.Command {
	var o inspectOptions
	cmd := &cobra.Command{
		Use:   "inspect <data-dir | partition-dir | segment.log>",
		Short: "Read a data dir, partition or segment offline: batches, records, --verify",
		Long: `Inspect reads a data dir, a partition directory (<topic>-<partition>) or a
single segment file (<base offset>.log) offline, as kafka-dump-log does. It
opens every file read-only and takes no lock, so it is safe on the data dir of
a running broker.

A segment file or partition dir lists its batches (position, base and last
offset, record count, first and max timestamp, codec, size, producer id,
epoch and base sequence, flags); a partition dir adds a table of its segments
and its checkpoints; a data dir prints a table of its partitions (--batches
lists their batches too). --records decodes every record, compressed ones
included.

--verify checks every batch's framing and CRC-32C and that its records
decode, that offsets are contiguous (gaps are allowed only below the cleaner
checkpoint of a compacted log), that segments follow one another (a gap an
earlier start reported as lost, in the lost-offsets file, is printed, not
counted as damage; any other gap, and what a damaged segment loses up to
the next segment, is printed with its exact offset range), the
.index and .timeindex entries against the batches they name, that the
checkpoints are readable and the log reaches the recovery checkpoint, and
reports a torn tail. Every problem is printed with its file and position or
offset; the exit status is 1 when there is any, 0 otherwise. What the
broker's next start repairs without losing a batch is printed as a warning
and does not count: after a crash, a segment whose roll was cut short
(indexes untrimmed, no closing time index entry), or the leftovers of an
interrupted log cleaner swap.
Without --verify the problems met while listing are printed too, but do not
change the exit status.

The offset index is checked for missing entries against the topic's
index.interval.bytes; if the broker runs with another default, pass it
with --index-interval-bytes.`,
		Example: `  tributary inspect ./data --verify
  tributary inspect ./data/events-0
  tributary inspect ./data/events-0/00000000000000000000.log --records
  tributary inspect ./data --batches --output json`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usageError{fmt.Errorf("inspect takes one path (a data dir, partition dir or segment file), got %d", len(args))}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.output != outputText && o.output != outputJSON {
				return usageError{fmt.Errorf("inspect: --output %q: want %s or %s", o.output, outputText, outputJSON)}
			}
			return runInspect(cmd.OutOrStdout(), args[0], o)
		},
	}
	f := cmd.Flags()
	f.BoolVar(&o.verify, "verify", false, "check CRCs, offsets, indexes and checkpoints; exit 1 on any damage")
	f.BoolVar(&o.records, "records", false, "decode and print every record (implies --batches)")
	f.BoolVar(&o.batches, "batches", false, "list the batches of every partition of a data dir (always on for a partition dir or segment without --verify)")
	f.StringVar(&o.output, "output", outputText, "output format: text or json")
	f.IntVar(&o.indexInterval, "index-interval-bytes", 0, "index.interval.bytes the segments were written with (default: the topic's config)")
	return cmd
}

// inspectTarget is what a path names: the partitions to read and, for a
// segment file, which segment.
type inspectTarget struct {
	kind       string
	partitions []log.PartitionDir
	segment    *int64
	// problems and warnings of the data dir itself (its topic metadata).
	problems, warnings []segment.Problem
}

func resolveTarget(path string) (inspectTarget, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return inspectTarget{}, fmt.Errorf("inspect: %w", err)
	}
	if !fi.IsDir() {
		base, suf, ok := segment.ParseFileName(filepath.Base(path))
		if !ok || suf != segment.LogSuffix {
			return inspectTarget{}, fmt.Errorf("inspect: %s is not a segment file (<20-digit base offset>.log), a partition dir or a data dir", path)
		}
		dir := filepath.Dir(path)
		return inspectTarget{kind: kindSegment, partitions: []log.PartitionDir{partitionOf(dir)}, segment: &base}, nil
	}
	if _, err := os.Stat(filepath.Join(path, "meta")); err == nil {
		dd, err := log.ListPartitions(path)
		if err != nil {
			return inspectTarget{}, fmt.Errorf("inspect: %w", err)
		}
		return inspectTarget{kind: kindDataDir, partitions: dd.Partitions, problems: dd.Problems, warnings: dd.Warnings}, nil
	}
	ents, err := os.ReadDir(path)
	if err != nil {
		return inspectTarget{}, fmt.Errorf("inspect: %w", err)
	}
	for _, e := range ents {
		_, suf, ok := segment.ParseFileName(e.Name())
		if ok && suf == segment.LogSuffix || e.Name() == log.CheckpointFile {
			return inspectTarget{kind: kindPartition, partitions: []log.PartitionDir{partitionOf(path)}}, nil
		}
	}
	return inspectTarget{}, fmt.Errorf("inspect: %s is not a data dir, a partition dir or a segment file", path)
}

// partitionOf describes the partition dir dir, with its topic's config
// when dir sits in a data dir that knows it.
func partitionOf(dir string) log.PartitionDir {
	pd := log.PartitionDir{Partition: -1, Dir: dir, Config: log.DefaultConfig()}
	name := filepath.Base(dir)
	if i := strings.LastIndexByte(name, '-'); i > 0 {
		if p, err := strconv.Atoi(name[i+1:]); err == nil && p >= 0 {
			pd.Topic, pd.Partition = name[:i], p
		}
	}
	if dd, err := log.ListPartitions(filepath.Dir(dir)); err == nil {
		for _, p := range dd.Partitions {
			if filepath.Base(p.Dir) == name {
				pd.Config = p.Config
			}
		}
	}
	return pd
}

// The JSON document --output json prints. Timestamps are milliseconds
// since the epoch, -1 when absent, as Kafka's tools print them.
type (
	inspectReport struct {
		Path       string          `json:"path"`
		Kind       string          `json:"kind"`
		Partitions []partitionJSON `json:"partitions"`
		Problems   []problemJSON   `json:"problems"`
		Warnings   []problemJSON   `json:"warnings"`
		Damaged    bool            `json:"damaged"`
	}
	partitionJSON struct {
		Topic              string          `json:"topic"`
		Partition          int             `json:"partition"`
		Dir                string          `json:"dir"`
		LogStartOffset     *int64          `json:"log_start_offset,omitempty"` // not for one segment
		LogEndOffset       *int64          `json:"log_end_offset,omitempty"`
		Segments           int             `json:"segment_count"`
		Batches            int64           `json:"batch_count"`
		Records            int64           `json:"record_count"`
		Bytes              int64           `json:"bytes"`
		RecoveryCheckpoint *checkpointJSON `json:"recovery_checkpoint"`
		CleanedOffset      int64           `json:"cleaned_offset"` // -1: never compacted
		ProducerSnapshot   *snapshotJSON   `json:"producer_snapshot"`
		SegmentList        []segmentJSON   `json:"segments"`
		// LostOffsets are ranges the next start finds lost (left as
		// gaps, reported); KnownLostOffsets are gaps an earlier start
		// already reported.
		LostOffsets      []lostJSON  `json:"lost_offsets"`
		KnownLostOffsets []rangeJSON `json:"known_lost_offsets"`
	}
	rangeJSON struct {
		From int64 `json:"from"` // first offset of the range
		To   int64 `json:"to"`   // offset after the range
	}
	lostJSON struct {
		rangeJSON
		Cause string `json:"cause"`
	}
	segmentJSON struct {
		File             string      `json:"file"`
		BaseOffset       int64       `json:"base_offset"`
		FirstOffset      int64       `json:"first_offset"`
		NextOffset       int64       `json:"next_offset"`
		Batches          int64       `json:"batch_count"`
		Records          int64       `json:"record_count"`
		Bytes            int64       `json:"bytes"`
		ValidBytes       int64       `json:"valid_bytes"`
		MaxTimestamp     int64       `json:"max_timestamp"`
		IndexEntries     int         `json:"index_entries"`
		TimeIndexEntries int         `json:"time_index_entries"`
		BatchList        []batchJSON `json:"batches,omitempty"`
	}
	batchJSON struct {
		Position             int64        `json:"position"`
		BaseOffset           int64        `json:"base_offset"`
		LastOffset           int64        `json:"last_offset"`
		RecordCount          int32        `json:"record_count"`
		FirstTimestamp       int64        `json:"first_timestamp"`
		MaxTimestamp         int64        `json:"max_timestamp"`
		TimestampType        string       `json:"timestamp_type"`
		Codec                string       `json:"codec"`
		Size                 int          `json:"size"`
		CRC                  uint32       `json:"crc"`
		PartitionLeaderEpoch int32        `json:"partition_leader_epoch"`
		ProducerID           int64        `json:"producer_id"`
		ProducerEpoch        int16        `json:"producer_epoch"`
		BaseSequence         int32        `json:"base_sequence"`
		Transactional        bool         `json:"transactional"`
		Control              bool         `json:"control"`
		Problem              string       `json:"problem,omitempty"`
		Records              []recordJSON `json:"records,omitempty"`
	}
	recordJSON struct {
		Offset    int64        `json:"offset"`
		Timestamp int64        `json:"timestamp"`
		Key       jsonBytes    `json:"key"`
		Value     jsonBytes    `json:"value"`
		Headers   []headerJSON `json:"headers,omitempty"`
	}
	headerJSON struct {
		Key   string    `json:"key"`
		Value jsonBytes `json:"value"`
	}
	checkpointJSON struct {
		RecoveryOffset int64  `json:"recovery_offset"`
		LogStartOffset int64  `json:"log_start_offset"`
		CleanShutdown  bool   `json:"clean_shutdown"`
		IndexFormat    uint32 `json:"index_format"`
	}
	snapshotJSON struct {
		Offset    int64 `json:"offset"`
		Producers int   `json:"producers"`
	}
	problemJSON struct {
		File     string `json:"file"`
		Position int64  `json:"position"` // -1: the file as a whole
		Offset   int64  `json:"offset"`   // -1: none
		Error    string `json:"error"`
	}
)

// jsonBytes is a key, value or header value in JSON: null when null, a
// string when it is UTF-8, else {"base64": "..."}.
type jsonBytes []byte

func (b jsonBytes) MarshalJSON() ([]byte, error) {
	switch {
	case b == nil:
		return []byte("null"), nil
	case utf8.Valid(b):
		return json.Marshal(string(b))
	}
	return json.Marshal(map[string]string{"base64": base64.StdEncoding.EncodeToString(b)})
}

func toProblemJSON(ps []segment.Problem) []problemJSON {
	out := make([]problemJSON, 0, len(ps))
	for _, p := range ps {
		out = append(out, problemJSON{File: p.Path, Position: p.Position, Offset: p.Offset, Error: p.Err.Error()})
	}
	return out
}

// inspector runs one inspect command.
type inspector struct {
	o      inspectOptions
	target inspectTarget
	w      *errWriter
	// showBatches says whether batches are listed.
	showBatches bool
	decode      bool // records are decoded (printed, or checked by --verify)

	// Text output: the segment whose batches are being listed, and its table.
	curSegment string
	table      *tableStream
	// JSON output: the batches of each segment, by path.
	batchLists map[string][]batchJSON

	problems []segment.Problem // of records that do not decode
}

func runInspect(out io.Writer, path string, o inspectOptions) error {
	t, err := resolveTarget(path)
	if err != nil {
		return err
	}
	in := &inspector{o: o, target: t, w: &errWriter{w: bufio.NewWriter(out)}, batchLists: map[string][]batchJSON{}}
	in.showBatches = o.batches || o.records || t.kind != kindDataDir && !o.verify
	in.decode = o.records || o.verify
	rep := inspectReport{Path: path, Kind: t.kind, Partitions: []partitionJSON{}, Problems: toProblemJSON(t.problems), Warnings: toProblemJSON(t.warnings)}
	problems := len(t.problems)
	var reports []log.PartitionReport
	for _, pd := range t.partitions {
		interval := max(pd.Config.IndexIntervalBytes, 1)
		if o.indexInterval > 0 {
			interval = o.indexInterval
		}
		r, err := log.VerifyPartition(pd.Dir, log.VerifyOptions{IndexIntervalBytes: interval, Segment: t.segment, Batch: in.batch})
		if err != nil {
			return fmt.Errorf("inspect: %w", err)
		}
		in.endSegment()
		r.Problems = append(r.Problems, in.problems...)
		in.problems = nil
		problems += len(r.Problems)
		reports = append(reports, r)
		rep.Partitions = append(rep.Partitions, in.partitionJSON(pd, &r))
		rep.Problems = append(rep.Problems, toProblemJSON(r.Problems)...)
		rep.Warnings = append(rep.Warnings, toProblemJSON(r.Warnings)...)
	}
	rep.Damaged = problems > 0

	if o.output == outputJSON {
		enc := json.NewEncoder(in.w)
		enc.SetIndent("", "  ")
		enc.Encode(rep)
	} else {
		in.printSummary(reports, &rep)
	}
	if err := in.w.flush(); err != nil {
		return fmt.Errorf("inspect: write output: %w", err)
	}
	if o.verify && rep.Damaged {
		first := rep.Problems[0]
		return fmt.Errorf("inspect: %d problem(s) found in %s; first: %s", problems, path, problemLine(first))
	}
	return nil
}

// batch is the log.VerifyOptions.Batch callback: it lists the batch and
// decodes its records.
func (in *inspector) batch(segPath string, h *recordbatch.Header, pos int64, batch []byte, problem error) error {
	var recs []recordbatch.Record
	if in.decode {
		err := recordbatch.Records(batch, recordbatch.DefaultDecompressLimit, func(r recordbatch.Record) error {
			if in.o.records {
				recs = append(recs, r)
			}
			return nil
		})
		if err != nil {
			var be *recordbatch.Error
			if errors.As(err, &be) { // its "at byte 0" is the batch's start: the Problem has the position
				err = fmt.Errorf("%w: %s", be.Err, be.Reason)
			}
			err = fmt.Errorf("records do not decode: %w", err)
			in.problems = append(in.problems, segment.Problem{Path: segPath, Position: pos, Offset: h.BaseOffset, Err: err})
			problem = errors.Join(problem, err)
		}
	}
	if !in.showBatches {
		return in.w.err
	}
	if in.o.output == outputJSON {
		in.batchLists[segPath] = append(in.batchLists[segPath], in.batchJSON(h, pos, problem, recs))
		return nil
	}
	if segPath != in.curSegment {
		in.endSegment()
		in.curSegment = segPath
		fmt.Fprintf(in.w, "segment %s\n", segPath)
		if !in.o.records {
			// Each chunk of rows is lined up on its own, so every column
			// is as wide as its widest possible value: a file position or
			// batch size (uint32), an offset of this segment, a timestamp,
			// the longest codec name.
			offsetWidth := len(strconv.FormatInt(h.BaseOffset+math.MaxUint32, 10))
			if base, _, ok := segment.ParseFileName(filepath.Base(segPath)); ok {
				offsetWidth = len(strconv.FormatInt(base+math.MaxUint32, 10))
			}
			tsWidth := len(formatTimestamp(0))
			in.table = &tableStream{w: in.w,
				header: []string{"POSITION", "BASE_OFFSET", "LAST_OFFSET", "RECORDS", "FIRST_TIMESTAMP",
					"MAX_TIMESTAMP", "CODEC", "SIZE", "PRODUCER_ID", "PRODUCER_EPOCH", "BASE_SEQUENCE", "FLAGS"},
				minWidths: []int{maxUint32Width, offsetWidth, offsetWidth, 0, tsWidth, tsWidth, len("snappy"), maxUint32Width}}
		}
	}
	if in.table != nil {
		in.table.row(strconv.FormatInt(pos, 10), strconv.FormatInt(h.BaseOffset, 10), strconv.FormatInt(h.LastOffset(), 10),
			strconv.Itoa(int(h.RecordCount)), formatTimestamp(h.BaseTimestamp), formatTimestamp(h.MaxTimestamp),
			h.Codec().String(), strconv.Itoa(h.Size()), strconv.FormatInt(h.ProducerID, 10),
			strconv.Itoa(int(h.ProducerEpoch)), strconv.Itoa(int(h.BaseSequence)), batchFlags(h, problem))
		return in.w.err
	}
	// --records: one line per batch, then one per record, in the
	// key=value style of kafka-dump-log (records do not fit a table).
	fmt.Fprintf(in.w, "batch position=%d base_offset=%d last_offset=%d records=%d first_timestamp=%s max_timestamp=%s codec=%s size=%d producer_id=%d producer_epoch=%d base_sequence=%d flags=%s\n",
		pos, h.BaseOffset, h.LastOffset(), h.RecordCount, formatTimestamp(h.BaseTimestamp), formatTimestamp(h.MaxTimestamp),
		h.Codec(), h.Size(), h.ProducerID, h.ProducerEpoch, h.BaseSequence, batchFlags(h, problem))
	for _, r := range recs {
		fmt.Fprintf(in.w, "  offset=%d timestamp=%s key=%s value=%s", r.Offset, formatTimestamp(r.Timestamp), formatBytes(r.Key), formatBytes(r.Value))
		if len(r.Headers) > 0 {
			hs := make([]string, len(r.Headers))
			for i, hd := range r.Headers {
				hs[i] = strconv.Quote(hd.Key) + ":" + formatBytes(hd.Value)
			}
			fmt.Fprintf(in.w, " headers={%s}", strings.Join(hs, ","))
		}
		fmt.Fprintln(in.w)
	}
	return in.w.err
}

// endSegment finishes the batch table of the segment being listed.
func (in *inspector) endSegment() {
	if in.curSegment == "" {
		return
	}
	if in.table != nil {
		in.table.flush()
		in.table = nil
	}
	fmt.Fprintln(in.w)
	in.curSegment = ""
}

func (in *inspector) batchJSON(h *recordbatch.Header, pos int64, problem error, recs []recordbatch.Record) batchJSON {
	b := batchJSON{
		Position: pos, BaseOffset: h.BaseOffset, LastOffset: h.LastOffset(), RecordCount: h.RecordCount,
		FirstTimestamp: h.BaseTimestamp, MaxTimestamp: h.MaxTimestamp, TimestampType: "CreateTime",
		Codec: h.Codec().String(), Size: h.Size(), CRC: h.CRC, PartitionLeaderEpoch: h.PartitionLeaderEpoch,
		ProducerID: h.ProducerID, ProducerEpoch: h.ProducerEpoch, BaseSequence: h.BaseSequence,
		Transactional: h.Transactional(), Control: h.Control(),
	}
	if h.LogAppendTime() {
		b.TimestampType = "LogAppendTime"
	}
	if problem != nil {
		b.Problem = problem.Error()
	}
	// Copies: the records may alias the segment's mapping, which goes
	// when its Verify returns.
	for _, r := range recs {
		rj := recordJSON{Offset: r.Offset, Timestamp: r.Timestamp, Key: bytes.Clone(r.Key), Value: bytes.Clone(r.Value)}
		for _, hd := range r.Headers {
			rj.Headers = append(rj.Headers, headerJSON{Key: hd.Key, Value: bytes.Clone(hd.Value)})
		}
		b.Records = append(b.Records, rj)
	}
	return b
}

func (in *inspector) partitionJSON(pd log.PartitionDir, r *log.PartitionReport) partitionJSON {
	p := partitionJSON{
		Topic: pd.Topic, Partition: pd.Partition, Dir: pd.Dir, Segments: len(r.Segments),
		CleanedOffset: r.CleanedOffset, SegmentList: []segmentJSON{},
		LostOffsets: []lostJSON{}, KnownLostOffsets: []rangeJSON{},
	}
	for _, l := range r.Lost {
		p.LostOffsets = append(p.LostOffsets, lostJSON{rangeJSON{l.From, l.To}, l.Cause})
	}
	for _, k := range r.KnownLost {
		p.KnownLostOffsets = append(p.KnownLostOffsets, rangeJSON{k.From, k.To})
	}
	if in.target.segment == nil {
		p.LogStartOffset, p.LogEndOffset = &r.LogStartOffset, &r.LogEndOffset
	}
	if c := r.Checkpoint; c != nil {
		p.RecoveryCheckpoint = &checkpointJSON{RecoveryOffset: c.RecoveryOffset, LogStartOffset: c.LogStartOffset,
			CleanShutdown: c.CleanShutdown, IndexFormat: c.IndexFormat}
	}
	if s := r.ProducerSnapshot; s != nil {
		p.ProducerSnapshot = &snapshotJSON{Offset: s.Offset, Producers: s.Producers}
	}
	for _, s := range r.Segments {
		p.Batches += s.Batches
		p.Records += s.Records
		p.Bytes += s.Size
		p.SegmentList = append(p.SegmentList, segmentJSON{
			File: s.Path, BaseOffset: s.BaseOffset, FirstOffset: s.FirstOffset, NextOffset: s.NextOffset,
			Batches: s.Batches, Records: s.Records, Bytes: s.Size, ValidBytes: s.ValidBytes, MaxTimestamp: s.MaxTimestamp,
			IndexEntries: s.IndexEntries, TimeIndexEntries: s.TimeIndexEntries, BatchList: in.batchLists[s.Path],
		})
		delete(in.batchLists, s.Path)
	}
	return p
}

// printSummary prints the text output after the batch listings: the
// partition or segment table, the checkpoints, problems and the verdict.
func (in *inspector) printSummary(reports []log.PartitionReport, rep *inspectReport) {
	w := in.w
	switch in.target.kind {
	case kindDataDir:
		rows := make([][]string, 0, len(rep.Partitions))
		for _, p := range rep.Partitions {
			rows = append(rows, []string{fmt.Sprintf("%s-%d", p.Topic, p.Partition), strconv.Itoa(p.Segments),
				strconv.FormatInt(p.Batches, 10), strconv.FormatInt(p.Records, 10), strconv.FormatInt(p.Bytes, 10),
				strconv.FormatInt(*p.LogStartOffset, 10), strconv.FormatInt(*p.LogEndOffset, 10)})
		}
		printTable(w, []string{"PARTITION", "SEGMENTS", "BATCHES", "RECORDS", "BYTES", "LOG_START", "LOG_END"}, rows)
	case kindPartition:
		r := &reports[0]
		var rows [][]string
		for _, s := range r.Segments {
			first, last := "-", "-"
			if s.FirstOffset >= 0 {
				first, last = strconv.FormatInt(s.FirstOffset, 10), strconv.FormatInt(s.NextOffset-1, 10)
			}
			rows = append(rows, []string{filepath.Base(s.Path), strconv.FormatInt(s.Batches, 10), strconv.FormatInt(s.Records, 10),
				strconv.FormatInt(s.Size, 10), first, last, formatTimestamp(s.MaxTimestamp),
				strconv.Itoa(s.IndexEntries), strconv.Itoa(s.TimeIndexEntries)})
		}
		printTable(w, []string{"SEGMENT", "BATCHES", "RECORDS", "BYTES", "FIRST_OFFSET", "LAST_OFFSET", "MAX_TIMESTAMP", "INDEX_ENTRIES", "TIMEINDEX_ENTRIES"}, rows)
		fmt.Fprintf(w, "\nlog start offset %d, log end offset %d\n", r.LogStartOffset, r.LogEndOffset)
		if c := r.Checkpoint; c != nil {
			shutdown := "open or crashed"
			if c.CleanShutdown {
				shutdown = "clean shutdown"
			}
			fmt.Fprintf(w, "recovery checkpoint: offset %d, log start offset %d, %s\n", c.RecoveryOffset, c.LogStartOffset, shutdown)
		}
		if r.CleanedOffset >= 0 {
			fmt.Fprintf(w, "cleaner checkpoint: cleaned below offset %d\n", r.CleanedOffset)
		}
		if s := r.ProducerSnapshot; s != nil {
			fmt.Fprintf(w, "producer snapshot: %d producers at offset %d\n", s.Producers, s.Offset)
		}
	}
	for _, p := range rep.Partitions {
		for _, l := range p.LostOffsets {
			fmt.Fprintf(w, "\n%s-%d: offsets [%d, %d) (%d) are lost: %s; the next start leaves them as a gap and reports them\n",
				p.Topic, p.Partition, l.From, l.To, l.To-l.From, l.Cause)
		}
		for _, k := range p.KnownLostOffsets {
			fmt.Fprintf(w, "\n%s-%d: offsets [%d, %d) (%d) were lost to damage and reported by an earlier start; they are a gap in the log\n",
				p.Topic, p.Partition, k.From, k.To, k.To-k.From)
		}
	}
	if len(rep.Warnings) > 0 {
		fmt.Fprintf(w, "\nwarnings:\n")
		for _, p := range rep.Warnings {
			fmt.Fprintf(w, "  %s\n", problemLine(p))
		}
	}
	if len(rep.Problems) > 0 {
		fmt.Fprintf(w, "\nproblems:\n")
		for _, p := range rep.Problems {
			fmt.Fprintf(w, "  %s\n", problemLine(p))
		}
	}
	if in.o.verify && !rep.Damaged {
		var segs, batches, recs int64
		for _, p := range rep.Partitions {
			segs += int64(p.Segments)
			batches += p.Batches
			recs += p.Records
		}
		fmt.Fprintf(w, "\nverified %d partition(s), %d segment(s), %d batches, %d records: no damage found\n",
			len(rep.Partitions), segs, batches, recs)
	}
}

func problemLine(p problemJSON) string {
	s := p.File
	if p.Position >= 0 {
		s += fmt.Sprintf(": position %d", p.Position)
	}
	if p.Offset >= 0 {
		s += fmt.Sprintf(": offset %d", p.Offset)
	}
	return s + ": " + p.Error
}

func batchFlags(h *recordbatch.Header, problem error) string {
	var f []string
	if h.Transactional() {
		f = append(f, "transactional")
	}
	if h.Control() {
		f = append(f, "control")
	}
	if h.LogAppendTime() {
		f = append(f, "log-append-time")
	}
	if problem != nil {
		f = append(f, "DAMAGED")
	}
	if len(f) == 0 {
		return "-"
	}
	return strings.Join(f, ",")
}

// formatTimestamp prints milliseconds since the epoch as UTC RFC 3339, and
// a missing timestamp (negative) as "-".
func formatTimestamp(ms int64) string {
	if ms < 0 {
		return "-"
	}
	return time.UnixMilli(ms).UTC().Format("2006-01-02T15:04:05.000Z07:00")
}

// formatBytes prints a key or value: null, a quoted string when it is
// printable UTF-8, else 0x and hex.
func formatBytes(b []byte) string {
	if b == nil {
		return "null"
	}
	if utf8.Valid(b) {
		printable := true
		for _, r := range string(b) {
			if !unicode.IsPrint(r) && r != '\t' && r != '\n' && r != '\r' {
				printable = false
				break
			}
		}
		if printable {
			return strconv.Quote(string(b))
		}
	}
	return fmt.Sprintf("0x%x", b)
}

// maxUint32Width is the width of the largest file position or batch size.
var maxUint32Width = len(strconv.FormatUint(math.MaxUint32, 10))

// tableStream prints rows that line up as printTable does, holding at most
// tableFlushRows rows at a time. The tabwriter sizes each chunk's columns
// on its own, and only the first chunk has the header: every cell but the
// last column's is padded to the width of its header and minWidths, so
// that the chunks line up with the header and with one another.
type tableStream struct {
	w         io.Writer
	header    []string
	minWidths []int // per column; missing or 0: the header's width
	tw        *tabwriter.Writer
	rows      int
}

func (t *tableStream) pad(cells []string) string {
	padded := make([]string, len(cells))
	for i, c := range cells {
		width := utf8.RuneCountInString(t.header[i])
		if i < len(t.minWidths) {
			width = max(width, t.minWidths[i])
		}
		if n := utf8.RuneCountInString(c); n < width && i < len(cells)-1 {
			c += strings.Repeat(" ", width-n)
		}
		padded[i] = c
	}
	return strings.Join(padded, "\t")
}

func (t *tableStream) row(cells ...string) {
	if t.tw == nil {
		t.tw = tabwriter.NewWriter(t.w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(t.tw, t.pad(t.header))
	}
	fmt.Fprintln(t.tw, t.pad(cells))
	if t.rows++; t.rows%tableFlushRows == 0 {
		t.tw.Flush()
	}
}

func (t *tableStream) flush() {
	if t.tw != nil {
		t.tw.Flush()
	}
}

// errWriter remembers the first write error, so a closed pipe stops the
// listing instead of going on reading a data dir nobody reads the output of.
type errWriter struct {
	w   *bufio.Writer
	err error
}

func (e *errWriter) Write(p []byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	n, err := e.w.Write(p)
	e.err = err
	return n, err
}

func (e *errWriter) flush() error {
	if e.err == nil {
		e.err = e.w.Flush()
	}
	return e.err
}
