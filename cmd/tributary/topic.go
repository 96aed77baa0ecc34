package main

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { rootCmd.AddCommand(newTopicCmd()) }

// newTopicCmd is `tributary topic`, the kafka-topics of tributary.
func newTopicCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "topic",
		Short: "Create, list, describe, alter and delete topics",
		Example: `  tributary topic create events --partitions 3 --config retention.ms=86400000
  tributary topic list
  tributary topic describe events
  tributary topic alter events --partitions 6 --delete-config retention.ms
  tributary topic delete events`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return cmd.Help() },
	}
	cmd.AddCommand(newTopicCreateCmd(), newTopicListCmd(), newTopicDescribeCmd(), newTopicAlterCmd(), newTopicDeleteCmd())
	return cmd
}

func newTopicCreateCmd() *cobra.Command {
	var (
		partitions  int32
		replication int16
		configs     []string
		ifNotExists bool
		output      outputFormat
	)
	cmd := &cobra.Command{
		Use:   "create TOPIC...",
		Short: "Create topics",
		Example: `  tributary topic create events
  tributary topic create events --partitions 3 --config cleanup.policy=compact --config segment.bytes=1048576
  tributary topic create events --if-not-exists`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, topics []string) error {
			// The broker judges the replication factor: a single broker
			// holds one replica, a cluster as many as it has brokers.
			if replication == 0 || replication < -1 {
				return usageError{fmt.Errorf("topic create: --replication-factor %d: want at least 1 (or -1 for the broker's default.replication.factor)", replication)}
			}
			if partitions == 0 || partitions < -1 {
				return usageError{fmt.Errorf("topic create: --partitions %d: want at least 1 (or -1 for the broker's num.partitions)", partitions)}
			}
			cfg, err := parseConfigs("config", configs)
			if err != nil {
				return fmt.Errorf("topic create: %w", err)
			}
			return withAdmin(cmd, func(ctx context.Context, adm *kadm.Client) error {
				resps, err := adm.CreateTopics(ctx, partitions, replication, cfg, topics...)
				if err != nil {
					return fmt.Errorf("topic create: %w", err)
				}
				type created struct {
					Topic      string `json:"topic"`
					ID         string `json:"id,omitempty"`
					Partitions int32  `json:"partitions"`
					Status     string `json:"status"`
				}
				var out []created
				var rows [][]string
				var firstErr error
				for _, t := range topics {
					r := resps[t]
					c := created{Topic: t, Partitions: r.NumPartitions, Status: "created"}
					switch {
					case ifNotExists && errors.Is(r.Err, kerr.TopicAlreadyExists):
						c.Status = "exists"
						c.Partitions = 0
					case errors.Is(r.Err, kerr.InvalidReplicationFactor):
						if firstErr == nil {
							firstErr = fmt.Errorf("topic create %s: --replication-factor %d: %w", t, replication, kafkaErr(r.Err, r.ErrMessage))
						}
						continue
					case r.Err != nil:
						if firstErr == nil {
							firstErr = fmt.Errorf("topic create %s: %w", t, kafkaErr(r.Err, r.ErrMessage))
						}
						continue
					default:
						c.ID = topicID(r.ID)
					}
					out = append(out, c)
					parts := strconv.Itoa(int(c.Partitions))
					if c.Status == "exists" {
						parts = "-"
					}
					rows = append(rows, []string{t, parts, c.Status})
				}
				w := cmd.OutOrStdout()
				if output == "json" {
					if err := writeJSON(w, out); err != nil {
						return err
					}
				} else if len(rows) > 0 {
					if err := printTable(w, []string{"TOPIC", "PARTITIONS", "STATUS"}, rows); err != nil {
						return err
					}
				}
				return firstErr
			})
		},
	}
	f := cmd.Flags()
	f.Int32Var(&partitions, "partitions", -1, "number of partitions (-1: the broker's num.partitions)")
	f.Int16VarP(&replication, "replication-factor", "r", -1, "replicas per partition (-1: the broker's default.replication.factor); a single broker holds one, a cluster at most its broker count")
	f.StringArrayVar(&configs, "config", nil, "topic config as name=value, Kafka's names (repeatable)")
	f.BoolVar(&ifNotExists, "if-not-exists", false, "succeed if the topic already exists")
	addOutputFlag(cmd, &output)
	return cmd
}

// topicSummary is one row of `topic list`.
type topicSummary struct {
	Topic      string `json:"topic"`
	ID         string `json:"id"`
	Partitions int    `json:"partitions"`
	Internal   bool   `json:"internal"`
}

func newTopicListCmd() *cobra.Command {
	var (
		internal bool
		output   outputFormat
	)
	cmd := &cobra.Command{
		Use:     "list [TOPIC...]",
		Aliases: []string{"ls"},
		Short:   "List topics and their partition counts",
		Example: `  tributary topic list
  tributary topic list --internal --output json`,
		RunE: func(cmd *cobra.Command, topics []string) error {
			return withAdmin(cmd, func(ctx context.Context, adm *kadm.Client) error {
				details, err := adm.ListTopicsWithInternal(ctx, topics...)
				if err != nil {
					return fmt.Errorf("topic list: %w", err)
				}
				if err := details.Error(); err != nil {
					return fmt.Errorf("topic list: %w", err)
				}
				list := []topicSummary{}
				for _, d := range details.Sorted() {
					if d.IsInternal && !internal && len(topics) == 0 {
						continue
					}
					list = append(list, topicSummary{Topic: d.Topic, ID: topicID(d.ID), Partitions: len(d.Partitions), Internal: d.IsInternal})
				}
				w := cmd.OutOrStdout()
				if output == "json" {
					return writeJSON(w, list)
				}
				header := []string{"TOPIC", "PARTITIONS"}
				if internal {
					header = append(header, "INTERNAL")
				}
				rows := make([][]string, 0, len(list))
				for _, t := range list {
					row := []string{t.Topic, strconv.Itoa(t.Partitions)}
					if internal {
						row = append(row, strconv.FormatBool(t.Internal))
					}
					rows = append(rows, row)
				}
				return printTable(w, header, rows)
			})
		},
	}
	cmd.Flags().BoolVarP(&internal, "internal", "i", false, "include internal topics (__consumer_offsets) and an INTERNAL column")
	addOutputFlag(cmd, &output)
	return cmd
}

// topicDescription is `topic describe` of one topic.
type topicDescription struct {
	Topic      string                 `json:"topic"`
	ID         string                 `json:"id"`
	Internal   bool                   `json:"internal"`
	Configs    []topicConfig          `json:"configs"`
	Partitions []partitionDescription `json:"partitions"`
}

type topicConfig struct {
	Name   string `json:"name"`
	Value  string `json:"value"`
	Source string `json:"source"`
}

type partitionDescription struct {
	Partition   int32 `json:"partition"`
	Leader      int32 `json:"leader"` // -1: offline
	LeaderEpoch int32 `json:"leader_epoch"`
	// Replicas, ISR and OfflineReplicas are Metadata's: the assignment
	// (preferred leader first), the in-sync replicas, and the replicas
	// on brokers that are down.
	Replicas        []int32 `json:"replicas"`
	ISR             []int32 `json:"isr"`
	OfflineReplicas []int32 `json:"offline_replicas"`
	LogStartOffset  int64   `json:"log_start_offset"`
	EndOffset       int64   `json:"end_offset"`
	SizeBytes       int64   `json:"size_bytes"`
}

func newTopicDescribeCmd() *cobra.Command {
	var (
		all    bool
		output outputFormat
	)
	cmd := &cobra.Command{
		Use:   "describe [TOPIC...]",
		Short: "Show a topic's ID, configs and per partition its leader, replicas, ISR, offsets and size",
		Long: `Show a topic's ID, the configs set on it (--all-configs: every config with
its source), and for each partition its leader and leader epoch, its
replicas (preferred leader first), in-sync replicas and offline replicas,
log start offset, end offset (the high watermark) and size on disk. A
partition without a leader shows LEADER none. Without a topic, every topic.`,
		Example: `  tributary topic describe events
  tributary topic describe events --all-configs
  tributary topic describe --output json`,
		RunE: func(cmd *cobra.Command, topics []string) error {
			return withAdmin(cmd, func(ctx context.Context, adm *kadm.Client) error {
				descs, err := describeTopics(ctx, adm, topics, all)
				if err != nil {
					return fmt.Errorf("topic describe: %w", err)
				}
				w := cmd.OutOrStdout()
				if output == "json" {
					return writeJSON(w, descs)
				}
				for i, d := range descs {
					if i > 0 {
						fmt.Fprintln(w)
					}
					if err := printTopicDescription(w, d); err != nil {
						return err
					}
				}
				return nil
			})
		},
	}
	cmd.Flags().BoolVarP(&all, "all-configs", "a", false, "show every config with its source, not only those set on the topic")
	addOutputFlag(cmd, &output)
	return cmd
}

// describeTopics gathers metadata, configs, offsets and log dir sizes.
func describeTopics(ctx context.Context, adm *kadm.Client, topics []string, allConfigs bool) ([]topicDescription, error) {
	details, err := adm.ListTopics(ctx, topics...)
	if err != nil {
		return nil, err
	}
	for _, t := range topics {
		if d, ok := details[t]; !ok {
			return nil, fmt.Errorf("%s: %w", t, kerr.UnknownTopicOrPartition)
		} else if d.Err != nil {
			return nil, fmt.Errorf("%s: %w", t, d.Err)
		}
	}
	names := details.Names()
	sort.Strings(names)
	if len(names) == 0 {
		return []topicDescription{}, nil
	}
	configs, err := adm.DescribeTopicConfigs(ctx, names...)
	if err != nil {
		return nil, err
	}
	starts, err := adm.ListStartOffsets(ctx, names...)
	if err != nil {
		return nil, err
	}
	ends, err := adm.ListEndOffsets(ctx, names...)
	if err != nil {
		return nil, err
	}
	dirs, err := adm.DescribeAllLogDirs(ctx, details.TopicsSet())
	if err != nil {
		return nil, err
	}
	sizes := map[string]map[int32]int64{}
	dirs.Each(func(d kadm.DescribedLogDir) {
		d.Topics.Each(func(p kadm.DescribedLogDirPartition) {
			if sizes[p.Topic] == nil {
				sizes[p.Topic] = map[int32]int64{}
			}
			sizes[p.Topic][p.Partition] += p.Size
		})
	})
	var out []topicDescription
	for _, name := range names {
		d := details[name]
		td := topicDescription{Topic: name, ID: topicID(d.ID), Internal: d.IsInternal, Configs: []topicConfig{}}
		if rc, err := configs.On(name, nil); err == nil && rc.Err == nil {
			for _, c := range rc.Configs {
				if !allConfigs && c.Source != kmsg.ConfigSourceDynamicTopicConfig {
					continue
				}
				td.Configs = append(td.Configs, topicConfig{Name: c.Key, Value: c.MaybeValue(), Source: configSource(c.Source)})
			}
			sort.Slice(td.Configs, func(i, j int) bool { return td.Configs[i].Name < td.Configs[j].Name })
		} else if err == nil {
			return nil, fmt.Errorf("%s: configs: %w", name, kafkaErr(rc.Err, rc.ErrMessage))
		}
		for _, p := range d.Partitions.Sorted() {
			pd := partitionDescription{Partition: p.Partition, Leader: p.Leader, LeaderEpoch: p.LeaderEpoch,
				Replicas: nodeIDs(p.Replicas), ISR: nodeIDs(p.ISR), OfflineReplicas: nodeIDs(p.OfflineReplicas),
				LogStartOffset: -1, EndOffset: -1, SizeBytes: -1}
			if o, ok := starts.Lookup(name, p.Partition); ok && o.Err == nil {
				pd.LogStartOffset = o.Offset
			}
			if o, ok := ends.Lookup(name, p.Partition); ok && o.Err == nil {
				pd.EndOffset = o.Offset
			}
			if s, ok := sizes[name][p.Partition]; ok {
				pd.SizeBytes = s
			}
			td.Partitions = append(td.Partitions, pd)
		}
		out = append(out, td)
	}
	return out, nil
}

// topicID prints a topic ID as Kafka's tools do: URL-safe base64 without
// padding, 22 characters.
func topicID(id kadm.TopicID) string {
	return base64.RawURLEncoding.EncodeToString(id[:])
}

// configSource names a config's source as Kafka's tools print it.
func configSource(s kmsg.ConfigSource) string {
	return strings.TrimSuffix(s.String(), "_CONFIG")
}

func printTopicDescription(w io.Writer, d topicDescription) error {
	if err := printTable(w, []string{"TOPIC", "ID", "PARTITIONS", "INTERNAL"}, [][]string{{d.Topic, d.ID, strconv.Itoa(len(d.Partitions)), strconv.FormatBool(d.Internal)}}); err != nil {
		return err
	}
	if len(d.Configs) > 0 {
		fmt.Fprintln(w)
		rows := make([][]string, 0, len(d.Configs))
		for _, c := range d.Configs {
			rows = append(rows, []string{c.Name, c.Value, c.Source})
		}
		if err := printTable(w, []string{"CONFIG", "VALUE", "SOURCE"}, rows); err != nil {
			return err
		}
	}
	fmt.Fprintln(w)
	rows := make([][]string, 0, len(d.Partitions))
	for _, p := range d.Partitions {
		rows = append(rows, []string{
			strconv.Itoa(int(p.Partition)), leaderCell(p.Leader), strconv.Itoa(int(p.LeaderEpoch)),
			nodeList(p.Replicas), nodeList(p.ISR), nodeList(p.OfflineReplicas),
			strconv.FormatInt(p.LogStartOffset, 10), strconv.FormatInt(p.EndOffset, 10), strconv.FormatInt(p.SizeBytes, 10),
		})
	}
	return printTable(w, []string{"PARTITION", "LEADER", "EPOCH", "REPLICAS", "ISR", "OFFLINE", "LOG-START-OFFSET", "END-OFFSET", "SIZE"}, rows)
}

// nodeIDs copies a list of node ids, in Metadata's order (for replicas,
// the preferred leader first), never nil: JSON [] rather than null.
func nodeIDs(ids []int32) []int32 {
	return append([]int32{}, ids...)
}

// nodeList prints node ids as Kafka's tools do, "1,2,3"; "-" for none.
func nodeList(ids []int32) string {
	if len(ids) == 0 {
		return "-"
	}
	s := make([]string, len(ids))
	for i, id := range ids {
		s[i] = strconv.Itoa(int(id))
	}
	return strings.Join(s, ",")
}

// leaderCell prints a partition's leader, "none" when it is offline.
func leaderCell(id int32) string {
	if id < 0 {
		return "none"
	}
	return strconv.Itoa(int(id))
}

func newTopicAlterCmd() *cobra.Command {
	var (
		set        []string
		del        []string
		partitions int
	)
	cmd := &cobra.Command{
		Use:   "alter TOPIC...",
		Short: "Set or delete topic configs and add partitions",
		Example: `  tributary topic alter events --config retention.ms=3600000 --config flush.messages=1
  tributary topic alter events --delete-config retention.ms
  tributary topic alter events --partitions 6`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, topics []string) error {
			// A count below 1 would otherwise be skipped silently and the
			// command exit 0 as if it had applied.
			if partitions < 0 || cmd.Flags().Changed("partitions") && partitions == 0 {
				return usageError{fmt.Errorf("topic alter: --partitions %d: want the new total, at least 1", partitions)}
			}
			if len(set) == 0 && len(del) == 0 && partitions == 0 {
				return usageError{errors.New("topic alter: nothing to do: give --config, --delete-config or --partitions")}
			}
			cfg, err := parseConfigs("config", set)
			if err != nil {
				return fmt.Errorf("topic alter: %w", err)
			}
			var alters []kadm.AlterConfig
			for _, k := range sortedKeys(cfg) {
				alters = append(alters, kadm.AlterConfig{Op: kadm.SetConfig, Name: k, Value: cfg[k]})
			}
			for _, k := range del {
				alters = append(alters, kadm.AlterConfig{Op: kadm.DeleteConfig, Name: k})
			}
			return withAdmin(cmd, func(ctx context.Context, adm *kadm.Client) error {
				// Configs first: a bad config leaves the partition count alone.
				if len(alters) > 0 {
					resps, err := adm.AlterTopicConfigs(ctx, alters, topics...)
					if err != nil {
						return fmt.Errorf("topic alter: %w", err)
					}
					for _, t := range topics {
						r, err := resps.On(t, nil)
						if err == nil {
							err = kafkaErr(r.Err, r.ErrMessage)
						}
						if err != nil {
							return fmt.Errorf("topic alter %s: %w", t, err)
						}
					}
				}
				if partitions > 0 {
					resps, err := adm.UpdatePartitions(ctx, partitions, topics...)
					if err != nil {
						return fmt.Errorf("topic alter: %w", err)
					}
					for _, t := range topics {
						r, ok := resps[t]
						if !ok {
							return fmt.Errorf("topic alter %s: no answer for the partition count", t)
						}
						if r.Err != nil {
							return fmt.Errorf("topic alter %s: --partitions %d: %w", t, partitions, kafkaErr(r.Err, r.ErrMessage))
						}
					}
				}
				var rows [][]string
				for _, t := range topics {
					for _, a := range alters {
						if a.Op == kadm.SetConfig {
							rows = append(rows, []string{t, "set " + a.Name + "=" + *a.Value})
						} else {
							rows = append(rows, []string{t, "deleted " + a.Name})
						}
					}
					if partitions > 0 {
						rows = append(rows, []string{t, "partitions=" + strconv.Itoa(partitions)})
					}
				}
				return printTable(cmd.OutOrStdout(), []string{"TOPIC", "CHANGE"}, rows)
			})
		},
	}
	f := cmd.Flags()
	f.StringArrayVar(&set, "config", nil, "set a topic config as name=value (repeatable)")
	f.StringArrayVarP(&del, "delete-config", "d", nil, "remove a topic config, back to the broker default (repeatable)")
	f.IntVar(&partitions, "partitions", 0, "raise the partition count to this total (partitions are never removed)")
	return cmd
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func newTopicDeleteCmd() *cobra.Command {
	var ifExists bool
	cmd := &cobra.Command{
		Use:     "delete TOPIC...",
		Aliases: []string{"rm"},
		Short:   "Delete topics and all their records",
		Example: `  tributary topic delete events
  tributary topic delete events audit --if-exists`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, topics []string) error {
			return withAdmin(cmd, func(ctx context.Context, adm *kadm.Client) error {
				resps, err := adm.DeleteTopics(ctx, topics...)
				if err != nil {
					return fmt.Errorf("topic delete: %w", err)
				}
				var rows [][]string
				var firstErr error
				for _, t := range topics {
					r, ok := resps[t]
					switch {
					case !ok:
						if firstErr == nil {
							firstErr = fmt.Errorf("topic delete %s: no answer from the broker", t)
						}
					case ifExists && errors.Is(r.Err, kerr.UnknownTopicOrPartition):
						rows = append(rows, []string{t, "absent"})
					case r.Err != nil:
						if firstErr == nil {
							firstErr = fmt.Errorf("topic delete %s: %w", t, kafkaErr(r.Err, r.ErrMessage))
						}
					default:
						rows = append(rows, []string{t, "deleted"})
					}
				}
				if len(rows) > 0 {
					if err := printTable(cmd.OutOrStdout(), []string{"TOPIC", "STATUS"}, rows); err != nil {
						return err
					}
				}
				return firstErr
			})
		},
	}
	cmd.Flags().BoolVar(&ifExists, "if-exists", false, "succeed if a topic does not exist")
	return cmd
}
