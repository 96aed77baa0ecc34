package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
)

// resetOptions are the flags of `group reset-offsets`.
type resetOptions struct {
	topics    []string
	allTopics bool

	toEarliest, toLatest bool
	toOffset             int64
	toDatetime           string
	toTimestamp          int64
	shiftBy              int64

	execute, dryRun bool
	output          outputFormat
}

// resetTargets are the --to-* flags (and --shift-by), of which a reset
// takes exactly one.
var resetTargets = []string{"to-earliest", "to-latest", "to-offset", "to-datetime", "to-timestamp", "shift-by"}

// offsetReset is one partition of a reset plan.
type offsetReset struct {
	Topic         string `json:"topic"`
	Partition     int32  `json:"partition"`
	CurrentOffset *int64 `json:"current_offset"` // nil: nothing committed
	NewOffset     int64  `json:"new_offset"`
}

// resetPlan is what `group reset-offsets` prints: the plan, and whether it
// was committed.
type resetPlan struct {
	Group    string        `json:"group"`
	Executed bool          `json:"executed"`
	Offsets  []offsetReset `json:"offsets"`
}

func newGroupResetOffsetsCmd() *cobra.Command {
	o := &resetOptions{}
	cmd := &cobra.Command{
		Use:   "reset-offsets GROUP (--topic TOPIC[:P,P...]... | --all-topics) --to-...",
		Short: "Move an inactive group's committed offsets (a dry run unless --execute)",
		Long: `Move the committed offsets of a consumer group, so that its consumers
resume elsewhere: --to-earliest (the log start), --to-latest (the log end),
--to-offset N, --to-datetime (the first record at or after an RFC 3339
time; the log end if there is none), --to-timestamp (the same, in Unix
milliseconds) or --shift-by N (N after, or -N before, the committed offset).
--to-offset and --shift-by are clamped to the partition's log start and end
offsets, with a warning, as Kafka's tool does.

The partitions are those of --topic (every partition, or TOPIC:P,P...) or,
with --all-topics, every partition the group has committed an offset for.

Without --execute this is a dry run: it prints the plan (the current and
the new offset of each partition) and commits nothing. As in Kafka, offsets
can only be reset while the group is inactive (Empty, or not yet known):
stop its consumers first.`,
		Example: `  tributary group reset-offsets readers --topic events --to-earliest
  tributary group reset-offsets readers --topic events --to-earliest --execute
  tributary group reset-offsets readers --all-topics --to-datetime 2026-11-27T08:00:00Z --execute
  tributary group reset-offsets readers --topic events:0,2 --shift-by -100 --execute
  tributary group reset-offsets readers --topic events --to-offset 1500 --output json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return o.run(cmd, args[0])
		},
	}
	f := cmd.Flags()
	f.StringArrayVarP(&o.topics, "topic", "t", nil, "reset this topic's partitions, or TOPIC:P,P... for some (repeatable)")
	f.BoolVar(&o.allTopics, "all-topics", false, "reset every partition the group has committed an offset for")
	f.BoolVar(&o.toEarliest, "to-earliest", false, "to the log start offset")
	f.BoolVar(&o.toLatest, "to-latest", false, "to the log end offset")
	f.Int64Var(&o.toOffset, "to-offset", 0, "to this offset (clamped to the log start and end)")
	f.StringVar(&o.toDatetime, "to-datetime", "", "to the first record at or after this time, RFC 3339 (2006-01-02T15:04:05Z) or Kafka's 2006-01-02T15:04:05.000 in local time")
	f.Int64Var(&o.toTimestamp, "to-timestamp", 0, "to the first record at or after this time in Unix milliseconds")
	f.Int64Var(&o.shiftBy, "shift-by", 0, "by N from the committed offset, -N to go back (clamped to the log start and end)")
	f.BoolVar(&o.execute, "execute", false, "commit the new offsets (without it, only print them)")
	f.BoolVar(&o.dryRun, "dry-run", false, "only print the new offsets (the default)")
	addOutputFlag(cmd, &o.output)
	return cmd
}

func (o *resetOptions) run(cmd *cobra.Command, group string) error {
	usage := func(format string, a ...any) error {
		return usageError{fmt.Errorf("group reset-offsets: "+format, a...)}
	}
	var given []string
	for _, name := range resetTargets {
		if cmd.Flags().Changed(name) {
			given = append(given, "--"+name)
		}
	}
	want := "--" + strings.Join(resetTargets, ", --")
	switch {
	case len(given) == 0:
		return usage("say where to: one of %s", want)
	case len(given) > 1:
		return usage("%s exclude each other: give one of %s", strings.Join(given, " and "), want)
	case len(o.topics) == 0 && !o.allTopics:
		return usage("say which partitions: --topic TOPIC[:P,P...] or --all-topics")
	case len(o.topics) > 0 && o.allTopics:
		return usage("--topic and --all-topics exclude each other")
	case o.execute && o.dryRun:
		return usage("--execute and --dry-run exclude each other")
	case given[0] == "--to-earliest" && !o.toEarliest, given[0] == "--to-latest" && !o.toLatest:
		return usage("%s=false: give one of %s", given[0], want)
	case given[0] == "--to-offset" && o.toOffset < 0:
		return usage("--to-offset %d: want an offset, at least 0", o.toOffset)
	case given[0] == "--to-timestamp" && o.toTimestamp < 0:
		return usage("--to-timestamp %d: want Unix milliseconds, at least 0", o.toTimestamp)
	}
	specs, err := parseTopicSpecs(o.topics)
	if err != nil {
		return usage("%w", err)
	}
	afterMilli := o.toTimestamp
	if given[0] == "--to-datetime" {
		t, err := parseResetDatetime(o.toDatetime)
		if err != nil {
			return usage("%w", err)
		}
		afterMilli = t.UnixMilli()
	}
	return withAdmin(cmd, func(ctx context.Context, adm *kadm.Client) error {
		plan, err := o.plan(ctx, cmd.ErrOrStderr(), adm, group, specs, given[0], afterMilli)
		if err != nil {
			return fmt.Errorf("group reset-offsets %s: %w", group, err)
		}
		if o.execute {
			if err := commitResetPlan(ctx, adm, plan); err != nil {
				return fmt.Errorf("group reset-offsets %s: %w", group, err)
			}
			plan.Executed = true
		}
		w := cmd.OutOrStdout()
		if o.output == "json" {
			if err := writeJSON(w, plan); err != nil {
				return err
			}
		} else {
			rows := make([][]string, 0, len(plan.Offsets))
			for _, r := range plan.Offsets {
				rows = append(rows, []string{r.Topic, strconv.Itoa(int(r.Partition)), offsetCell(r.CurrentOffset), strconv.FormatInt(r.NewOffset, 10)})
			}
			if err := printTable(w, []string{"TOPIC", "PARTITION", "CURRENT-OFFSET", "NEW-OFFSET"}, rows); err != nil {
				return err
			}
		}
		if !o.execute {
			fmt.Fprintln(cmd.ErrOrStderr(), "dry run: nothing was committed; add --execute to commit these offsets")
		} else {
			fmt.Fprintln(cmd.ErrOrStderr(), committedSummary(plan))
		}
		return nil
	})
}

// committedSummary says what --execute committed: "committed the
// NEW-OFFSET of 3 partitions for group readers: events 0,1; logs 2; its
// consumers resume there".
func committedSummary(plan resetPlan) string {
	var topics []string
	parts := map[string][]string{}
	for _, r := range plan.Offsets {
		if _, ok := parts[r.Topic]; !ok {
			topics = append(topics, r.Topic)
		}
		parts[r.Topic] = append(parts[r.Topic], strconv.Itoa(int(r.Partition)))
	}
	list := make([]string, len(topics))
	for i, t := range topics {
		list[i] = t + " " + strings.Join(parts[t], ",")
	}
	noun := "partitions"
	if len(plan.Offsets) == 1 {
		noun = "partition"
	}
	return fmt.Sprintf("committed the NEW-OFFSET of %d %s for group %s: %s; its consumers resume there", len(plan.Offsets), noun, plan.Group, strings.Join(list, "; "))
}

// parseResetDatetime reads --to-datetime: RFC 3339, or the zone-less
// 2006-01-02T15:04:05[.000] of Kafka's tool, taken in local time as
// Kafka takes it.
func parseResetDatetime(s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	if t, err := time.ParseInLocation("2006-01-02T15:04:05.999999999", s, time.Local); err == nil {
		return t, nil
	}
	return time.Time{}, usageError{fmt.Errorf("--to-datetime %q: want RFC 3339 (2006-01-02T15:04:05Z or with an offset: 2006-01-02T15:04:05+02:00)", s)}
}

// plan checks that the group is inactive and works out the new offset of
// every partition to reset. target is the --to-* flag given.
func (o *resetOptions) plan(ctx context.Context, warn io.Writer, adm *kadm.Client, group string, specs []topicSpec, target string, afterMilli int64) (resetPlan, error) {
	plan := resetPlan{Group: group, Offsets: []offsetReset{}}
	described, err := adm.DescribeGroups(ctx, group)
	if err != nil {
		return plan, err
	}
	d, ok := described[group]
	switch {
	case !ok:
		return plan, errors.New("no answer from the broker")
	case groupMissing(d):
		// Not known yet: committing creates it, as in Kafka.
	case d.Err != nil:
		return plan, kafkaErr(d.Err, d.ErrMessage)
	case d.State != "Empty":
		return plan, fmt.Errorf("assignments can only be reset if the group is inactive, but its state is %s with %d member(s): stop its consumers first", d.State, len(d.Members))
	}
	commits, err := adm.FetchOffsets(ctx, group)
	if err != nil {
		return plan, fmt.Errorf("committed offsets: %w", err)
	}
	committed := make(kadm.TopicsSet)
	commits.Each(func(c kadm.OffsetResponse) {
		if c.Err == nil && c.At >= 0 {
			committed.Add(c.Topic, c.Partition)
		}
	})
	var set kadm.TopicsSet
	if o.allTopics {
		if len(committed) == 0 {
			return plan, fmt.Errorf("the group has no committed offsets for --all-topics to reset: name the topics with --topic")
		}
		// Offsets can outlive their topic: such partitions are left
		// alone (no offset can be listed or committed for them).
		details, err := adm.ListTopics(ctx, committed.Topics()...)
		if err != nil {
			return plan, err
		}
		for _, topic := range committed.Topics() {
			if d, ok := details[topic]; !ok || errors.Is(d.Err, kerr.UnknownTopicOrPartition) {
				fmt.Fprintf(warn, "warning: skipping topic %s: the group has offsets of it, but it does not exist\n", topic)
				delete(committed, topic)
			}
		}
		if len(committed) == 0 {
			return plan, fmt.Errorf("none of the topics the group has offsets of exists: nothing to reset")
		}
		set = committed
	} else if set, err = resolveTopicSpecs(ctx, adm, specs); err != nil {
		return plan, err
	}
	topics := set.Topics()
	starts, err := adm.ListStartOffsets(ctx, topics...)
	if err != nil {
		return plan, fmt.Errorf("log start offsets: %w", err)
	}
	ends, err := adm.ListEndOffsets(ctx, topics...)
	if err != nil {
		return plan, fmt.Errorf("log end offsets: %w", err)
	}
	var byTime kadm.ListedOffsets
	if target == "--to-datetime" || target == "--to-timestamp" {
		// A partition with no record at or after the time lists its log
		// end offset (kadm asks again for the end when the broker finds
		// none), so the group waits for new records, as in Kafka.
		if byTime, err = adm.ListOffsetsAfterMilli(ctx, afterMilli, topics...); err != nil {
			return plan, fmt.Errorf("offsets by time: %w", err)
		}
	}
	for _, tp := range sortedTopicPartitions(set) {
		start, err := listedOffset(starts, tp)
		if err != nil {
			return plan, fmt.Errorf("log start offset of %s/%d: %w", tp.topic, tp.partition, err)
		}
		end, err := listedOffset(ends, tp)
		if err != nil {
			return plan, fmt.Errorf("log end offset of %s/%d: %w", tp.topic, tp.partition, err)
		}
		r := offsetReset{Topic: tp.topic, Partition: tp.partition}
		if c, ok := commits.Lookup(tp.topic, tp.partition); ok && c.Err == nil && c.At >= 0 {
			r.CurrentOffset = &c.At
		}
		var want int64
		switch target {
		case "--to-earliest":
			r.NewOffset = start
		case "--to-latest":
			r.NewOffset = end
		case "--to-datetime", "--to-timestamp":
			at, err := listedOffset(byTime, tp)
			if err != nil {
				return plan, fmt.Errorf("offset by time of %s/%d: %w", tp.topic, tp.partition, err)
			}
			r.NewOffset = min(max(at, start), end)
		case "--to-offset":
			want = o.toOffset
		case "--shift-by":
			if r.CurrentOffset == nil {
				return plan, fmt.Errorf("cannot shift %s/%d: the group has no committed offset for it", tp.topic, tp.partition)
			}
			want = *r.CurrentOffset + o.shiftBy
		}
		if target == "--to-offset" || target == "--shift-by" {
			switch {
			case want < start:
				fmt.Fprintf(warn, "warning: %s/%d: new offset %d is before the log start offset %d: using %d\n", tp.topic, tp.partition, want, start, start)
				r.NewOffset = start
			case want > end:
				fmt.Fprintf(warn, "warning: %s/%d: new offset %d is past the log end offset %d: using %d\n", tp.topic, tp.partition, want, end, end)
				r.NewOffset = end
			default:
				r.NewOffset = want
			}
		}
		plan.Offsets = append(plan.Offsets, r)
	}
	return plan, nil
}

// listedOffset is a partition's offset from a ListOffsets answer.
func listedOffset(l kadm.ListedOffsets, tp topicPartition) (int64, error) {
	o, ok := l.Lookup(tp.topic, tp.partition)
	if !ok {
		// A topic that is gone lists as partition -1 with its error.
		if gone, ok := l.Lookup(tp.topic, -1); ok && gone.Err != nil {
			return 0, gone.Err
		}
		return 0, errors.New("no answer from the broker")
	}
	if o.Err != nil {
		return 0, o.Err
	}
	if o.Offset < 0 {
		return 0, fmt.Errorf("the broker listed offset %d", o.Offset)
	}
	return o.Offset, nil
}

// commitResetPlan commits the plan's offsets as a simple (generation -1)
// commit, which the coordinator takes only while the group is empty: a
// consumer that joined since the plan was made fails the commit rather
// than having its offsets moved under it.
func commitResetPlan(ctx context.Context, adm *kadm.Client, plan resetPlan) error {
	offsets := make(kadm.Offsets)
	for _, r := range plan.Offsets {
		offsets.Add(kadm.Offset{Topic: r.Topic, Partition: r.Partition, At: r.NewOffset, LeaderEpoch: -1})
	}
	resps, err := adm.CommitOffsets(ctx, plan.Group, offsets)
	if err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	for _, r := range resps.Sorted() {
		if r.Err == nil {
			continue
		}
		if errors.Is(r.Err, kerr.UnknownMemberID) || errors.Is(r.Err, kerr.IllegalGeneration) || errors.Is(r.Err, kerr.RebalanceInProgress) {
			return fmt.Errorf("commit %s/%d: %w: a consumer joined the group since it was found inactive", r.Topic, r.Partition, r.Err)
		}
		return fmt.Errorf("commit %s/%d: %w", r.Topic, r.Partition, r.Err)
	}
	return nil
}
