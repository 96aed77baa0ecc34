package main

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
)

func init() { rootCmd.AddCommand(newGroupCmd()) }

// newGroupCmd is `tributary group`, the kafka-consumer-groups of tributary.
func newGroupCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "group",
		Short: "List, describe, reset the offsets of and delete consumer groups",
		Example: `  tributary group list
  tributary group describe readers
  tributary group reset-offsets readers --topic events --to-earliest --execute
  tributary group delete readers`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return cmd.Help() },
	}
	cmd.AddCommand(newGroupListCmd(), newGroupDescribeCmd(), newGroupResetOffsetsCmd(), newGroupDeleteCmd())
	return cmd
}

// groupStates are the group states Kafka names, which --state accepts.
// Tributary's groups are classic groups: they are never Assigning or
// Reconciling, but another Kafka broker's may be.
var groupStates = []string{"Empty", "PreparingRebalance", "CompletingRebalance", "Stable", "Dead", "Assigning", "Reconciling"}

// groupListing is one row of `group list`.
type groupListing struct {
	Group        string `json:"group"`
	State        string `json:"state"`
	ProtocolType string `json:"protocol_type"`
	Members      int    `json:"members"`
}

func newGroupListCmd() *cobra.Command {
	var (
		states []string
		output outputFormat
	)
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List consumer groups with their state and member count",
		Example: `  tributary group list
  tributary group list --state Stable,Empty
  tributary group list --output json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			filter, err := parseGroupStates(states)
			if err != nil {
				return usageError{fmt.Errorf("group list: %w", err)}
			}
			return withAdmin(cmd, func(ctx context.Context, adm *kadm.Client) error {
				listed, err := adm.ListGroups(ctx, filter...)
				if err != nil {
					return fmt.Errorf("group list: %w", err)
				}
				list := []groupListing{}
				for _, g := range listed.Sorted() {
					list = append(list, groupListing{Group: g.Group, State: g.State, ProtocolType: g.ProtocolType})
				}
				// ListGroups has no member counts; one DescribeGroups of
				// the listed groups has them.
				if len(list) > 0 {
					described, err := adm.DescribeGroups(ctx, listed.Groups()...)
					if err != nil {
						return fmt.Errorf("group list: %w", err)
					}
					kept := list[:0]
					for _, l := range list {
						d, ok := described[l.Group]
						if ok && groupMissing(d) {
							continue // deleted since it was listed
						}
						if ok && d.Err == nil {
							l.Members = len(d.Members)
						}
						kept = append(kept, l)
					}
					list = kept
				}
				w := cmd.OutOrStdout()
				if output == "json" {
					return writeJSON(w, list)
				}
				rows := make([][]string, 0, len(list))
				for _, g := range list {
					rows = append(rows, []string{g.Group, g.State, orDash(g.ProtocolType), strconv.Itoa(g.Members)})
				}
				return printTable(w, []string{"GROUP", "STATE", "PROTOCOL-TYPE", "MEMBERS"}, rows)
			})
		},
	}
	cmd.Flags().StringSliceVar(&states, "state", nil, "only groups in these states, comma-separated: "+strings.Join(groupStates, ", "))
	addOutputFlag(cmd, &output)
	return cmd
}

// parseGroupStates checks --state values against Kafka's state names,
// case-insensitively as Kafka's tool does, and returns them spelled as
// Kafka spells them.
func parseGroupStates(in []string) ([]string, error) {
	var out []string
	for _, s := range in {
		s = strings.TrimSpace(s)
		i := slicesIndexFold(groupStates, s)
		if i < 0 {
			return nil, usageError{fmt.Errorf("--state %q: want one of %s", s, strings.Join(groupStates, ", "))}
		}
		out = append(out, groupStates[i])
	}
	return out, nil
}

func slicesIndexFold(list []string, s string) int {
	for i, x := range list {
		if strings.EqualFold(x, s) {
			return i
		}
	}
	return -1
}

func newGroupDeleteCmd() *cobra.Command {
	var topics []string
	cmd := &cobra.Command{
		Use:     "delete GROUP...",
		Aliases: []string{"rm"},
		Short:   "Delete inactive consumer groups, or only their offsets of some topics",
		Long: `Delete consumer groups and their committed offsets. Only a group without
members (state Empty) can be deleted; one with members fails with
NON_EMPTY_GROUP.

With --topic, only the group's committed offsets of those topics (or of the
partitions named as TOPIC:P,P...) are deleted, and the group stays. A group
with members keeps the offsets of topics it is subscribed to
(GROUP_SUBSCRIBED_TO_TOPIC).`,
		Example: `  tributary group delete readers
  tributary group delete readers audit-replay
  tributary group delete readers --topic old-events
  tributary group delete readers --topic events:0,1`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, groups []string) error {
			if len(topics) > 0 {
				if len(groups) != 1 {
					return usageError{errors.New("group delete: --topic deletes offsets of one group at a time")}
				}
				specs, err := parseTopicSpecs(topics)
				if err != nil {
					return usageError{fmt.Errorf("group delete: %w", err)}
				}
				return withAdmin(cmd, func(ctx context.Context, adm *kadm.Client) error {
					return deleteGroupOffsets(ctx, cmd, adm, groups[0], specs)
				})
			}
			return withAdmin(cmd, func(ctx context.Context, adm *kadm.Client) error {
				resps, err := adm.DeleteGroups(ctx, groups...)
				if err != nil {
					return fmt.Errorf("group delete: %w", err)
				}
				var rows [][]string
				var firstErr error
				for _, g := range groups {
					r, ok := resps[g]
					switch {
					case !ok:
						err = errors.New("no answer from the broker")
					case errors.Is(r.Err, kerr.NonEmptyGroup):
						err = fmt.Errorf("%w: it has active members; stop them first", kafkaErr(r.Err, r.ErrMessage))
					case errors.Is(r.Err, kerr.GroupIDNotFound):
						err = fmt.Errorf("%w: consumer group %q does not exist", r.Err, g)
					default:
						err = kafkaErr(r.Err, r.ErrMessage)
					}
					if err != nil {
						if firstErr == nil {
							firstErr = fmt.Errorf("group delete %s: %w", g, err)
						}
						continue
					}
					rows = append(rows, []string{g, "deleted"})
				}
				if len(rows) > 0 {
					if err := printTable(cmd.OutOrStdout(), []string{"GROUP", "STATUS"}, rows); err != nil {
						return err
					}
				}
				return firstErr
			})
		},
	}
	cmd.Flags().StringArrayVarP(&topics, "topic", "t", nil, "delete only the group's offsets of this topic, or TOPIC:P,P... for some partitions (repeatable)")
	return cmd
}

// deleteGroupOffsets is `group delete GROUP --topic ...` (OffsetDelete).
func deleteGroupOffsets(ctx context.Context, cmd *cobra.Command, adm *kadm.Client, group string, specs []topicSpec) error {
	set, err := resolveTopicSpecs(ctx, adm, specs)
	if err != nil {
		return fmt.Errorf("group delete %s: %w", group, err)
	}
	resps, err := adm.DeleteOffsets(ctx, group, set)
	if err != nil {
		if errors.Is(err, kerr.GroupIDNotFound) {
			err = fmt.Errorf("%w: consumer group %q does not exist", err, group)
		}
		return fmt.Errorf("group delete %s: %w", group, err)
	}
	var rows [][]string
	var firstErr error
	for _, tp := range sortedTopicPartitions(set) {
		status := "deleted"
		err, ok := resps.Lookup(tp.topic, tp.partition)
		if !ok {
			err = errors.New("no answer from the broker")
		}
		if err != nil {
			status = "failed"
			var ke *kerr.Error
			if errors.As(err, &ke) {
				status = ke.Message
			}
			if firstErr == nil {
				firstErr = fmt.Errorf("group delete %s: offsets of %s/%d: %w", group, tp.topic, tp.partition, err)
			}
		}
		rows = append(rows, []string{tp.topic, strconv.Itoa(int(tp.partition)), status})
	}
	if err := printTable(cmd.OutOrStdout(), []string{"TOPIC", "PARTITION", "STATUS"}, rows); err != nil {
		return err
	}
	return firstErr
}

// topicSpec is one --topic: a topic, and the partitions named after a
// colon (nil: every partition of the topic).
type topicSpec struct {
	topic      string
	partitions []int32
}

// parseTopicSpecs reads --topic values, TOPIC or TOPIC:P,P... as Kafka's
// consumer-groups tool takes them (Kafka topic names have no colon).
func parseTopicSpecs(in []string) ([]topicSpec, error) {
	var out []topicSpec
	for _, s := range in {
		name, parts, hasParts := strings.Cut(s, ":")
		if strings.TrimSpace(name) == "" {
			return nil, usageError{fmt.Errorf("--topic %q: want TOPIC or TOPIC:P[,P]", s)}
		}
		spec := topicSpec{topic: name}
		if hasParts {
			for _, p := range strings.Split(parts, ",") {
				n, err := strconv.ParseInt(strings.TrimSpace(p), 10, 32)
				if err != nil || n < 0 {
					return nil, usageError{fmt.Errorf("--topic %q: partition %q: want a partition number", s, p)}
				}
				spec.partitions = append(spec.partitions, int32(n))
			}
		}
		out = append(out, spec)
	}
	return out, nil
}

// resolveTopicSpecs turns --topic specs into partitions, checking with the
// broker's metadata that every topic and named partition exists.
func resolveTopicSpecs(ctx context.Context, adm *kadm.Client, specs []topicSpec) (kadm.TopicsSet, error) {
	names := make([]string, 0, len(specs))
	for _, s := range specs {
		names = append(names, s.topic)
	}
	details, err := adm.ListTopics(ctx, names...)
	if err != nil {
		return nil, err
	}
	set := make(kadm.TopicsSet)
	for _, s := range specs {
		d, ok := details[s.topic]
		if !ok {
			return nil, fmt.Errorf("topic %s: %w", s.topic, kerr.UnknownTopicOrPartition)
		}
		if d.Err != nil {
			return nil, fmt.Errorf("topic %s: %w", s.topic, d.Err)
		}
		if s.partitions == nil {
			for p := range d.Partitions {
				set.Add(s.topic, p)
			}
			continue
		}
		for _, p := range s.partitions {
			if _, ok := d.Partitions[p]; !ok {
				return nil, fmt.Errorf("topic %s has no partition %d (it has %d): %w", s.topic, p, len(d.Partitions), kerr.UnknownTopicOrPartition)
			}
			set.Add(s.topic, p)
		}
	}
	return set, nil
}

// topicPartition is one partition of a topic, as the group commands sort
// and print them.
type topicPartition struct {
	topic     string
	partition int32
}

func sortedTopicPartitions(s kadm.TopicsSet) []topicPartition {
	var out []topicPartition
	s.Each(func(t string, p int32) { out = append(out, topicPartition{t, p}) })
	sort.Slice(out, func(i, j int) bool {
		if out[i].topic != out[j].topic {
			return out[i].topic < out[j].topic
		}
		return out[i].partition < out[j].partition
	})
	return out
}

// groupMissing tells a group the coordinator does not know: DescribeGroups
// v6+ answers GROUP_ID_NOT_FOUND, older versions state Dead and no error.
func groupMissing(d kadm.DescribedGroup) bool {
	return errors.Is(d.Err, kerr.GroupIDNotFound) || d.Err == nil && d.State == "Dead"
}

// errGroupNotFound is Kafka's tool's message for a group that is not there.
func errGroupNotFound(group string) error {
	return fmt.Errorf("consumer group %q does not exist", group)
}

// orDash prints an empty value as "-" in a table.
func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// offsetCell prints an offset or lag that may be unknown (nil) in a table.
func offsetCell(o *int64) string {
	if o == nil {
		return "-"
	}
	return strconv.FormatInt(*o, 10)
}
