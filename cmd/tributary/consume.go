package main

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/signal"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

func init() { rootCmd.AddCommand(newConsumeCmd()) }

// consumePollWait bounds one poll, so that the loop notices this often
// that every partition it reads has reached its end.
const consumePollWait = time.Second

// consumeOptions are the flags of `tributary consume`.
type consumeOptions struct {
	topic     string
	partition int32
	offset    string
	timestamp string
	group     string
	format    string
	template  string
	separator string
	max       int64
	follow    bool

	printKey, printOffset, printPartition, printTimestamp, printHeaders bool
}

func newConsumeCmd() *cobra.Command {
	o := &consumeOptions{}
	cmd := &cobra.Command{
		Use:   "consume --topic TOPIC [flags]",
		Short: "Print a topic's records, from an offset or a time, or as a group member",
		Long: `Print a topic's records to stdout, one per line. Every partition (or only
--partition) is read from --offset (earliest, latest, an offset N, or -N for
N before the end) or from the first record at or after --timestamp. Without
--follow consume stops at the end offsets it saw when it started, as kcat -e
does; with it, it waits for new records until interrupted.

--format text prints the value, preceded by the fields asked for with
--print-* and --separator, or whatever --template says, with kcat's tokens:
%t topic, %p partition, %o offset, %T timestamp (ms), %k key, %s value,
%h headers (name=value,...), %K key length, %S value length, %% and the
escapes \n \t \\. --format json prints one JSON object a line (topic,
partition, offset, timestamp, key, value, headers); if a key, value or header
value is not UTF-8, all three are base64 and "encoding" is "base64".

--group consumes as a member of a consumer group: partitions are assigned by
the group, reading starts at the committed offsets (--offset earliest or
latest where none is committed) and the offsets of printed records are
committed.

Short flags mean what they mean to kcat: -b brokers, -t topic, -p
partition, -o offset, -f format (--template), -c count (--max), -G group.`,
		Example: `  tributary consume --topic events
  tributary consume -t events -o -10 --print-key --print-offset
  tributary consume -t events -p 2 -o 1500 -c 10
  tributary consume -t events --timestamp 2024-05-01T12:00:00Z --format json
  tributary consume -t events -f 'p%p@%o %k=%s\n' --follow
  tributary consume -b 127.0.0.1:9092 -t events -G audit --follow`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return o.run(cmd)
		},
	}
	f := cmd.Flags()
	f.StringVarP(&o.topic, "topic", "t", "", "topic to consume (required)")
	f.Int32VarP(&o.partition, "partition", "p", -1, "only this partition (-1: all)")
	f.StringVarP(&o.offset, "offset", "o", "earliest", "where to start in each partition: earliest, latest, N, or -N (N before the end)")
	f.StringVar(&o.timestamp, "timestamp", "", "start at the first record at or after this time: Unix milliseconds or RFC 3339")
	f.StringVarP(&o.group, "group", "G", "", "consume as a member of this consumer group, committing what is printed")
	f.StringVar(&o.format, "format", "text", "output format: text or json")
	f.StringVarP(&o.template, "template", "f", "", "text format of a record with kcat's tokens (%t %p %o %T %k %s %h %K %S), as kcat -f; overrides --print-*")
	f.StringVar(&o.separator, "separator", "\t", "separator between the --print-* fields and the value")
	f.BoolVar(&o.printKey, "print-key", false, "print the key before the value")
	f.BoolVar(&o.printOffset, "print-offset", false, "print the offset")
	f.BoolVar(&o.printPartition, "print-partition", false, "print the partition")
	f.BoolVar(&o.printTimestamp, "print-timestamp", false, "print the timestamp (Unix ms)")
	f.BoolVar(&o.printHeaders, "print-headers", false, "print the headers as name=value,...")
	f.Int64VarP(&o.max, "max", "c", 0, "stop after this many records (0: no limit), as kcat -c")
	f.BoolVar(&o.follow, "follow", false, "keep waiting for new records instead of stopping at the end (kcat without -e)")
	cmd.MarkFlagRequired("topic")
	return cmd
}

// recordWriter prints one record.
type recordWriter func(w *bufio.Writer, r *kgo.Record) error

func (o *consumeOptions) writer() (recordWriter, error) {
	switch o.format {
	case "json":
		return writeRecordJSON, nil
	case "text":
	default:
		return nil, usageError{fmt.Errorf("--format %q: want text or json", o.format)}
	}
	tmpl := o.template
	if tmpl == "" {
		var fields []string
		for _, f := range []struct {
			on    bool
			token string
		}{{o.printTimestamp, "%T"}, {o.printPartition, "%p"}, {o.printOffset, "%o"}, {o.printHeaders, "%h"}, {o.printKey, "%k"}} {
			if f.on {
				fields = append(fields, f.token)
			}
		}
		sep := strings.ReplaceAll(o.separator, "%", "%%")
		tmpl = strings.Join(append(fields, "%s"), sep) + "\n"
	}
	return compileTemplate(tmpl)
}

// compileTemplate turns a kcat-style format into a recordWriter.
func compileTemplate(tmpl string) (recordWriter, error) {
	type part func(w *bufio.Writer, r *kgo.Record)
	var parts []part
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			s := lit.String()
			parts = append(parts, func(w *bufio.Writer, _ *kgo.Record) { w.WriteString(s) })
			lit.Reset()
		}
	}
	for i := 0; i < len(tmpl); i++ {
		c := tmpl[i]
		if (c != '%' && c != '\\') || i+1 == len(tmpl) {
			lit.WriteByte(c)
			continue
		}
		i++
		if c == '\\' {
			switch tmpl[i] {
			case 'n':
				lit.WriteByte('\n')
			case 't':
				lit.WriteByte('\t')
			case 'r':
				lit.WriteByte('\r')
			case '\\':
				lit.WriteByte('\\')
			default:
				lit.WriteByte('\\')
				lit.WriteByte(tmpl[i])
			}
			continue
		}
		var p part
		switch tmpl[i] {
		case '%':
			lit.WriteByte('%')
			continue
		case 't':
			p = func(w *bufio.Writer, r *kgo.Record) { w.WriteString(r.Topic) }
		case 'p':
			p = func(w *bufio.Writer, r *kgo.Record) { w.WriteString(strconv.Itoa(int(r.Partition))) }
		case 'o':
			p = func(w *bufio.Writer, r *kgo.Record) { w.WriteString(strconv.FormatInt(r.Offset, 10)) }
		case 'T':
			p = func(w *bufio.Writer, r *kgo.Record) { w.WriteString(strconv.FormatInt(r.Timestamp.UnixMilli(), 10)) }
		case 'k':
			p = func(w *bufio.Writer, r *kgo.Record) { w.Write(r.Key) }
		case 's':
			p = func(w *bufio.Writer, r *kgo.Record) { w.Write(r.Value) }
		case 'K':
			p = func(w *bufio.Writer, r *kgo.Record) { w.WriteString(strconv.Itoa(len(r.Key))) }
		case 'S':
			p = func(w *bufio.Writer, r *kgo.Record) { w.WriteString(strconv.Itoa(len(r.Value))) }
		case 'h':
			p = func(w *bufio.Writer, r *kgo.Record) {
				for j, h := range r.Headers {
					if j > 0 {
						w.WriteByte(',')
					}
					w.WriteString(h.Key)
					w.WriteByte('=')
					w.Write(h.Value)
				}
			}
		default:
			return nil, usageError{fmt.Errorf("--template: unknown token %%%c (want one of %%t %%p %%o %%T %%k %%s %%h %%K %%S %%%%)", tmpl[i])}
		}
		flush()
		parts = append(parts, p)
	}
	flush()
	return func(w *bufio.Writer, r *kgo.Record) error {
		for _, p := range parts {
			p(w, r)
		}
		return nil
	}, nil
}

// jsonRecord is a record in --format json.
type jsonRecord struct {
	Topic     string       `json:"topic"`
	Partition int32        `json:"partition"`
	Offset    int64        `json:"offset"`
	Timestamp int64        `json:"timestamp"`
	Key       *string      `json:"key"`
	Value     *string      `json:"value"`
	Headers   []jsonHeader `json:"headers"`
	Encoding  string       `json:"encoding,omitempty"`
}

type jsonHeader struct {
	Key   string  `json:"key"`
	Value *string `json:"value"`
}

func writeRecordJSON(w *bufio.Writer, r *kgo.Record) error {
	text := utf8.Valid(r.Key) && utf8.Valid(r.Value)
	for _, h := range r.Headers {
		text = text && utf8.Valid(h.Value)
	}
	enc := func(b []byte) *string {
		if b == nil {
			return nil
		}
		s := string(b)
		if !text {
			s = base64.StdEncoding.EncodeToString(b)
		}
		return &s
	}
	jr := jsonRecord{
		Topic: r.Topic, Partition: r.Partition, Offset: r.Offset, Timestamp: r.Timestamp.UnixMilli(),
		Key: enc(r.Key), Value: enc(r.Value), Headers: make([]jsonHeader, 0, len(r.Headers)),
	}
	for _, h := range r.Headers {
		jr.Headers = append(jr.Headers, jsonHeader{Key: h.Key, Value: enc(h.Value)})
	}
	if !text {
		jr.Encoding = "base64"
	}
	b, err := json.Marshal(jr)
	if err != nil {
		return err
	}
	w.Write(b)
	return w.WriteByte('\n')
}

// parseTimestamp reads --timestamp: Unix milliseconds or RFC 3339.
func parseTimestamp(s string) (int64, error) {
	if ms, err := strconv.ParseInt(s, 10, 64); err == nil {
		return ms, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return 0, usageError{fmt.Errorf("--timestamp %q: want Unix milliseconds or RFC 3339 (2006-01-02T15:04:05Z)", s)}
	}
	return t.UnixMilli(), nil
}

// startOffset resolves --offset for one partition whose log spans
// [start, end).
func startOffset(spec string, start, end int64) (int64, error) {
	switch spec {
	case "earliest", "beginning", "oldest":
		return start, nil
	case "latest", "end", "newest":
		return end, nil
	}
	n, err := strconv.ParseInt(spec, 10, 64)
	if err != nil {
		return 0, usageError{fmt.Errorf("--offset %q: want earliest, latest, N or -N", spec)}
	}
	if n < 0 {
		n = end + n
	}
	return max(start, min(n, end)), nil
}

func (o *consumeOptions) run(cmd *cobra.Command) error {
	write, err := o.writer()
	if err != nil {
		return fmt.Errorf("consume: %w", err)
	}
	// A bad --offset is a bad command line, found before any broker is asked.
	if _, err := startOffset(o.offset, 0, 0); err != nil {
		return fmt.Errorf("consume: %w", err)
	}
	var afterMilli int64 = -1
	if o.timestamp != "" {
		if cmd.Flags().Changed("offset") {
			return usageError{fmt.Errorf("consume: --offset and --timestamp exclude each other")}
		}
		if afterMilli, err = parseTimestamp(o.timestamp); err != nil {
			return fmt.Errorf("consume: %w", err)
		}
	}
	if o.group != "" && (o.partition >= 0 || o.timestamp != "" || (o.offset != "earliest" && o.offset != "latest")) {
		return usageError{fmt.Errorf("consume: --group reads from the committed offsets: --partition, --timestamp and --offset N do not apply (--offset earliest or latest choose where a partition without one starts)")}
	}
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	// Where each partition starts, and where it ends for a run without
	// --follow, from the offsets at the start.
	pos, end, err := o.plan(cmd, ctx, afterMilli)
	if err != nil {
		return fmt.Errorf("consume: %w", err)
	}
	opts := []kgo.Opt{kgo.FetchMaxWait(time.Second)}
	// pos and the group's assignment are shared with kgo's rebalance
	// callbacks, which run on the client's own goroutines.
	var mu sync.Mutex
	// A group member stops at the end of the partitions the group gives
	// it, as kcat -G -e does: the others belong to other members, and
	// where it starts in its own is the group's committed offset at the
	// time of the assignment, not the one plan saw (another member may
	// commit in between, or give the partition up with a final commit).
	var assigned map[int32]bool // nil until the first assignment
	if o.group != "" {
		reset := kgo.NewOffset().AtStart()
		if o.offset == "latest" {
			reset = kgo.NewOffset().AtEnd()
		}
		// Where a partition without a committed offset starts.
		resetPos := maps.Clone(pos)
		onAssigned := func(ctx context.Context, cl *kgo.Client, added map[string][]int32) {
			var committed kadm.OffsetResponses
			var err error
			if len(added[o.topic]) > 0 {
				actx, cancel := context.WithTimeout(ctx, adminTimeout)
				committed, err = kadm.NewClient(cl).FetchOffsetsForTopics(actx, o.group, o.topic)
				cancel()
			}
			mu.Lock()
			defer mu.Unlock()
			if assigned == nil {
				assigned = map[int32]bool{}
			}
			for _, p := range added[o.topic] {
				assigned[p] = true
				// If the lookup failed, pos keeps what plan found.
				c, ok := committed.Lookup(o.topic, p)
				switch {
				case ok && c.Err == nil && c.At >= 0:
					pos[p] = c.At
				case err == nil:
					pos[p] = resetPos[p]
				}
			}
		}
		onRevoked := func(_ context.Context, _ *kgo.Client, gone map[string][]int32) {
			mu.Lock()
			defer mu.Unlock()
			for _, p := range gone[o.topic] {
				delete(assigned, p)
			}
		}
		opts = append(opts, kgo.ConsumerGroup(o.group), kgo.ConsumeTopics(o.topic), kgo.ConsumeResetOffset(reset), kgo.AutoCommitMarks(),
			kgo.OnPartitionsAssigned(onAssigned), kgo.OnPartitionsRevoked(onRevoked), kgo.OnPartitionsLost(onRevoked))
	} else {
		offsets := map[int32]kgo.Offset{}
		for p, at := range pos {
			offsets[p] = kgo.NewOffset().At(at)
		}
		// A log start that moved past our offset (retention) resumes at the new start.
		opts = append(opts, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{o.topic: offsets}), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	}
	cl, err := newClient(cmd, opts...)
	if err != nil {
		return fmt.Errorf("consume: %w", err)
	}
	defer cl.Close()

	// done and allDone are called with mu held.
	done := func(p int32) bool {
		if o.follow {
			return false
		}
		if o.group != "" && !assigned[p] {
			return true // another member's (or nobody's yet)
		}
		return pos[p] >= end[p]
	}
	allDone := func() bool {
		if o.group != "" && assigned == nil && !o.follow {
			return false // not yet a member
		}
		for p := range pos {
			if !done(p) {
				return false
			}
		}
		return true
	}
	out := bufio.NewWriterSize(cmd.OutOrStdout(), 64<<10)
	var n int64
	for {
		mu.Lock()
		stop := allDone() || (o.max > 0 && n >= o.max)
		mu.Unlock()
		if stop {
			break
		}
		// A bounded poll: kgo returns nothing for a partition already at
		// its end, so an unbounded one would never let the loop see that
		// its partitions are done (or reassigned).
		pctx, cancel := context.WithTimeout(ctx, consumePollWait)
		fs := cl.PollFetches(pctx)
		cancel()
		if ctx.Err() != nil || fs.IsClientClosed() {
			break
		}
		var fetchErr error
		fs.EachError(func(t string, p int32, err error) {
			if fetchErr == nil && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
				fetchErr = fmt.Errorf("%s[%d]: %w", t, p, err)
			}
		})
		if fetchErr != nil {
			out.Flush()
			return fmt.Errorf("consume: %w", fetchErr)
		}
		mu.Lock()
		fs.EachRecord(func(r *kgo.Record) {
			if done(r.Partition) || (o.max > 0 && n >= o.max) {
				return
			}
			write(out, r)
			n++
			pos[r.Partition] = r.Offset + 1
			if o.group != "" {
				cl.MarkCommitRecords(r)
			}
		})
		mu.Unlock()
		if err := out.Flush(); err != nil {
			return fmt.Errorf("consume: %w", err)
		}
	}
	if o.group != "" {
		cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := cl.CommitMarkedOffsets(cctx)
		cancel()
		if err != nil {
			return fmt.Errorf("consume: commit: %w", err)
		}
	}
	return out.Flush()
}

// plan finds the partitions to read, where each starts and the end offset
// of each when the command started.
func (o *consumeOptions) plan(cmd *cobra.Command, ctx context.Context, afterMilli int64) (pos, end map[int32]int64, err error) {
	cl, err := newClient(cmd)
	if err != nil {
		return nil, nil, err
	}
	defer cl.Close()
	actx, cancel := context.WithTimeout(ctx, adminTimeout)
	defer cancel()
	adm := kadm.NewClient(cl)
	details, err := adm.ListTopics(actx, o.topic)
	if err != nil {
		return nil, nil, err
	}
	d, ok := details[o.topic]
	if !ok {
		return nil, nil, fmt.Errorf("topic %q: %w", o.topic, kerr.UnknownTopicOrPartition)
	}
	if d.Err != nil {
		return nil, nil, fmt.Errorf("topic %q: %w", o.topic, d.Err)
	}
	var parts []int32
	for p := range d.Partitions {
		if o.partition < 0 || p == o.partition {
			parts = append(parts, p)
		}
	}
	if len(parts) == 0 {
		return nil, nil, fmt.Errorf("topic %q has no partition %d (it has %d)", o.topic, o.partition, len(d.Partitions))
	}
	sort.Slice(parts, func(i, j int) bool { return parts[i] < parts[j] })
	starts, err := adm.ListStartOffsets(actx, o.topic)
	if err != nil {
		return nil, nil, err
	}
	ends, err := adm.ListEndOffsets(actx, o.topic)
	if err != nil {
		return nil, nil, err
	}
	var after kadm.ListedOffsets
	if afterMilli >= 0 {
		if after, err = adm.ListOffsetsAfterMilli(actx, afterMilli, o.topic); err != nil {
			return nil, nil, err
		}
	}
	var committed kadm.OffsetResponses
	if o.group != "" {
		if committed, err = adm.FetchOffsetsForTopics(actx, o.group, o.topic); err != nil {
			return nil, nil, err
		}
	}
	pos, end = map[int32]int64{}, map[int32]int64{}
	for _, p := range parts {
		s, ok1 := starts.Lookup(o.topic, p)
		e, ok2 := ends.Lookup(o.topic, p)
		if !ok1 || !ok2 || s.Err != nil || e.Err != nil {
			return nil, nil, fmt.Errorf("%s[%d]: no offsets: %v", o.topic, p, errors.Join(s.Err, e.Err))
		}
		end[p] = e.Offset
		switch {
		case afterMilli >= 0:
			pos[p] = e.Offset
			if a, ok := after.Lookup(o.topic, p); ok && a.Err == nil && a.Offset >= 0 {
				pos[p] = a.Offset
			}
		case o.group != "":
			pos[p], _ = startOffset(o.offset, s.Offset, e.Offset)
			if c, ok := committed.Lookup(o.topic, p); ok && c.Err == nil && c.At >= 0 {
				pos[p] = c.At
			}
		default:
			if pos[p], err = startOffset(o.offset, s.Offset, e.Offset); err != nil {
				return nil, nil, err
			}
		}
	}
	return pos, end, nil
}
