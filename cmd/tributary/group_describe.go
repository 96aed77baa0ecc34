package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"sort"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
)

// groupDescription is `group describe` of one group.
type groupDescription struct {
	Group        string           `json:"group"`
	State        string           `json:"state"`
	ProtocolType string           `json:"protocol_type"`
	Protocol     string           `json:"protocol"` // the assignor, while Stable
	Coordinator  groupCoordinator `json:"coordinator"`
	Members      []groupMember    `json:"members"`
	Offsets      []groupOffset    `json:"offsets"`
	// TotalLag sums the lag of the partitions that have a committed offset.
	TotalLag int64 `json:"total_lag"`
}

type groupCoordinator struct {
	NodeID int32  `json:"node_id"`
	Host   string `json:"host"`
	Port   int32  `json:"port"`
}

type groupMember struct {
	MemberID   string                 `json:"member_id"`
	InstanceID string                 `json:"instance_id,omitempty"` // static members (KIP-345)
	ClientID   string                 `json:"client_id"`
	Host       string                 `json:"host"`
	Assignment []groupTopicPartitions `json:"assignment"`
}

type groupTopicPartitions struct {
	Topic      string  `json:"topic"`
	Partitions []int32 `json:"partitions"`
}

// groupOffset is one partition the group has a committed offset for or a
// member is assigned. A nil offset or lag is unknown: nothing committed,
// or the partition's end could not be listed.
type groupOffset struct {
	Topic         string `json:"topic"`
	Partition     int32  `json:"partition"`
	CurrentOffset *int64 `json:"current_offset"`
	LogEndOffset  *int64 `json:"log_end_offset"`
	Lag           *int64 `json:"lag"`
	MemberID      string `json:"member_id,omitempty"` // the member assigned the partition, if any
}

func newGroupDescribeCmd() *cobra.Command {
	var output outputFormat
	cmd := &cobra.Command{
		Use:   "describe GROUP...",
		Short: "Show a group's state, members and per partition its committed offset and lag",
		Long: `Show a consumer group's state, assignor and coordinator; its members with
their client id, host and assigned partitions; and for every partition the
group has committed an offset for or a member is assigned: the committed
(current) offset, the log end offset (high watermark), the lag between them,
and the member that owns it ("-": none). A partition with nothing committed
has no lag ("-").`,
		Example: `  tributary group describe readers
  tributary group describe readers audit --output json
  watch -n1 tributary group describe readers`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, groups []string) error {
			return withAdmin(cmd, func(ctx context.Context, adm *kadm.Client) error {
				descs, err := describeGroups(ctx, adm, groups)
				w := cmd.OutOrStdout()
				if output == "json" {
					if jerr := writeJSON(w, descs); jerr != nil {
						return jerr
					}
				} else {
					for i, d := range descs {
						if i > 0 {
							fmt.Fprintln(w)
						}
						if perr := printGroupDescription(w, d); perr != nil {
							return perr
						}
					}
				}
				if err != nil {
					return fmt.Errorf("group describe: %w", err)
				}
				return nil
			})
		},
	}
	addOutputFlag(cmd, &output)
	return cmd
}

// describeGroups describes the groups that exist and returns, with them,
// an error naming the first one that does not (or failed to describe).
func describeGroups(ctx context.Context, adm *kadm.Client, groups []string) ([]groupDescription, error) {
	described, err := adm.DescribeGroups(ctx, groups...)
	if err != nil {
		return nil, err
	}
	out := []groupDescription{}
	var firstErr error
	fail := func(err error) {
		if firstErr == nil {
			firstErr = err
		}
	}
	type found struct {
		d       kadm.DescribedGroup
		commits kadm.OffsetResponses
	}
	var present []found
	topics := make(kadm.TopicsSet)
	seen := map[string]bool{}
	for _, g := range groups {
		if seen[g] {
			continue
		}
		seen[g] = true
		d, ok := described[g]
		switch {
		case !ok:
			fail(fmt.Errorf("%s: no answer from the broker", g))
			continue
		case groupMissing(d):
			fail(errGroupNotFound(g))
			continue
		case d.Err != nil:
			fail(fmt.Errorf("%s: %w", g, kafkaErr(d.Err, d.ErrMessage)))
			continue
		}
		commits, err := adm.FetchOffsets(ctx, g)
		if err != nil {
			fail(fmt.Errorf("%s: committed offsets: %w", g, err))
			continue
		}
		topics.Merge(d.AssignedPartitions())
		commits.Each(func(o kadm.OffsetResponse) {
			if o.Err == nil && o.At >= 0 {
				topics.Add(o.Topic, o.Partition)
			}
		})
		present = append(present, found{d, commits})
	}
	var ends kadm.ListedOffsets
	if len(topics) > 0 {
		// A topic that is gone (its offsets outlive it) answers with an
		// error for its partitions, shown as an unknown end; a whole
		// failure fails the command.
		ends, err = adm.ListEndOffsets(ctx, topics.Topics()...)
		if err != nil && len(ends) == 0 {
			return out, err
		}
	}
	for _, f := range present {
		out = append(out, groupDescriptionOf(f.d, f.commits, ends))
	}
	return out, firstErr
}

// groupDescriptionOf joins a group's description, its committed offsets
// and the log end offsets into what describe prints.
func groupDescriptionOf(d kadm.DescribedGroup, commits kadm.OffsetResponses, ends kadm.ListedOffsets) groupDescription {
	gd := groupDescription{
		Group:        d.Group,
		State:        d.State,
		ProtocolType: d.ProtocolType,
		Protocol:     d.Protocol,
		Coordinator:  groupCoordinator{NodeID: d.Coordinator.NodeID, Host: d.Coordinator.Host, Port: d.Coordinator.Port},
		Members:      []groupMember{},
		Offsets:      []groupOffset{},
	}
	owner := map[topicPartition]string{}
	partitions := make(kadm.TopicsSet)
	for _, m := range d.Members {
		gm := groupMember{MemberID: m.MemberID, ClientID: m.ClientID, Host: m.ClientHost, Assignment: []groupTopicPartitions{}}
		if m.InstanceID != nil {
			gm.InstanceID = *m.InstanceID
		}
		if a, ok := m.Assigned.AsConsumer(); ok {
			for _, t := range a.Topics {
				ps := append([]int32(nil), t.Partitions...)
				sort.Slice(ps, func(i, j int) bool { return ps[i] < ps[j] })
				gm.Assignment = append(gm.Assignment, groupTopicPartitions{Topic: t.Topic, Partitions: ps})
				for _, p := range ps {
					owner[topicPartition{t.Topic, p}] = m.MemberID
					partitions.Add(t.Topic, p)
				}
			}
			sort.Slice(gm.Assignment, func(i, j int) bool { return gm.Assignment[i].Topic < gm.Assignment[j].Topic })
		}
		gd.Members = append(gd.Members, gm)
	}
	commits.Each(func(o kadm.OffsetResponse) {
		if o.Err == nil && o.At >= 0 {
			partitions.Add(o.Topic, o.Partition)
		}
	})
	for _, tp := range sortedTopicPartitions(partitions) {
		o := groupOffset{Topic: tp.topic, Partition: tp.partition, MemberID: owner[tp]}
		if c, ok := commits.Lookup(tp.topic, tp.partition); ok && c.Err == nil && c.At >= 0 {
			o.CurrentOffset = &c.At
		}
		if e, ok := ends.Lookup(tp.topic, tp.partition); ok && e.Err == nil && e.Offset >= 0 {
			o.LogEndOffset = &e.Offset
		}
		if o.CurrentOffset != nil && o.LogEndOffset != nil {
			// A commit past the end (the log was truncated or deleted
			// and recreated) is no lag, as Kafka's tool shows it.
			lag := max(*o.LogEndOffset-*o.CurrentOffset, 0)
			o.Lag = &lag
			gd.TotalLag += lag
		}
		gd.Offsets = append(gd.Offsets, o)
	}
	return gd
}

func printGroupDescription(w io.Writer, d groupDescription) error {
	coordinator := fmt.Sprintf("%d (%s)", d.Coordinator.NodeID, net.JoinHostPort(d.Coordinator.Host, strconv.Itoa(int(d.Coordinator.Port))))
	if err := printTable(w, []string{"GROUP", "STATE", "PROTOCOL-TYPE", "ASSIGNOR", "COORDINATOR", "MEMBERS", "TOTAL-LAG"}, [][]string{{
		d.Group, d.State, orDash(d.ProtocolType), orDash(d.Protocol), coordinator, strconv.Itoa(len(d.Members)), strconv.FormatInt(d.TotalLag, 10),
	}}); err != nil {
		return err
	}
	if len(d.Members) > 0 {
		fmt.Fprintln(w)
		rows := make([][]string, 0, len(d.Members))
		for _, m := range d.Members {
			var assigned []string
			for _, a := range m.Assignment {
				ps := make([]string, len(a.Partitions))
				for i, p := range a.Partitions {
					ps[i] = strconv.Itoa(int(p))
				}
				assigned = append(assigned, a.Topic+":"+strings.Join(ps, ","))
			}
			rows = append(rows, []string{m.MemberID, orDash(m.InstanceID), m.ClientID, m.Host, orDash(strings.Join(assigned, " "))})
		}
		if err := printTable(w, []string{"MEMBER-ID", "INSTANCE-ID", "CLIENT-ID", "HOST", "PARTITIONS"}, rows); err != nil {
			return err
		}
	}
	if len(d.Offsets) > 0 {
		fmt.Fprintln(w)
		rows := make([][]string, 0, len(d.Offsets))
		for _, o := range d.Offsets {
			rows = append(rows, []string{
				o.Topic, strconv.Itoa(int(o.Partition)),
				offsetCell(o.CurrentOffset), offsetCell(o.LogEndOffset), offsetCell(o.Lag), orDash(o.MemberID),
			})
		}
		if err := printTable(w, []string{"TOPIC", "PARTITION", "CURRENT-OFFSET", "LOG-END-OFFSET", "LAG", "MEMBER-ID"}, rows); err != nil {
			return err
		}
	}
	return nil
}
