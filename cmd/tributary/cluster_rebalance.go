package main

// `tributary cluster rebalance` and `tributary cluster decommission N`:
// kafka-reassign-partitions' --generate and --execute in one step each,
// with the plan made by cluster.PlanRebalance / PlanDecommission from
// what the brokers report (DescribeCluster: brokers and racks; Metadata:
// every partition's replicas and leader). Without --execute they only
// print the plan: a table, and Kafka's reassignment JSON (the current
// assignment first, to roll back with). With --execute they submit it
// (AlterPartitionReassignments, KIP-455), follow it
// (ListPartitionReassignments) until no partition of it is still moving
// or --timeout passes, then run preferred leader elections for the
// partitions whose preferred leader changed.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/tributary-io/tributary/cluster"
)

const (
	// defaultReassignTimeout bounds how long --execute follows a plan.
	defaultReassignTimeout = 30 * time.Minute
	// reassignPoll is how often --execute asks for the plan's progress.
	reassignPoll = time.Second
)

// rebalanceReport is a plan as the commands print it (--output json).
type rebalanceReport struct {
	Brokers       []brokerPlanLoad        `json:"brokers"`
	ReplicaMoves  int                     `json:"replica_moves"`
	Reassignments []cluster.Reassignment  `json:"reassignments"`
	Current       kafkaReassignmentConfig `json:"current"`  // to roll back with
	Proposed      kafkaReassignmentConfig `json:"proposed"` // kafka-reassign-partitions --reassignment-json-file
}

// brokerPlanLoad is one broker's replicas and preferred leaderships now
// and after the plan.
type brokerPlanLoad struct {
	Broker                  int32  `json:"broker"`
	Rack                    string `json:"rack,omitempty"`
	Replicas                int    `json:"replicas"`
	ProposedReplicas        int    `json:"proposed_replicas"`
	PreferredLeaders        int    `json:"preferred_leaders"`
	ProposedPreferredLeader int    `json:"proposed_preferred_leaders"`
}

// kafkaReassignmentConfig is Kafka's reassignment JSON, as
// kafka-reassign-partitions reads and writes it.
type kafkaReassignmentConfig struct {
	Version    int                      `json:"version"`
	Partitions []kafkaPartitionReplicas `json:"partitions"`
}

type kafkaPartitionReplicas struct {
	Topic     string   `json:"topic"`
	Partition int32    `json:"partition"`
	Replicas  []int32  `json:"replicas"`
	LogDirs   []string `json:"log_dirs"`
}

// reassignFlags are the flags rebalance and decommission share.
type reassignFlags struct {
	execute bool
	timeout time.Duration
	output  outputFormat
}

func (f *reassignFlags) add(cmd *cobra.Command) {
	cmd.Flags().BoolVar(&f.execute, "execute", false, "apply the plan (AlterPartitionReassignments) and follow it until done; without it, only print the plan")
	cmd.Flags().DurationVar(&f.timeout, "timeout", defaultReassignTimeout, "with --execute, how long to follow the plan before giving up (the brokers carry on)")
	addOutputFlag(cmd, &f.output)
}

func newClusterRebalanceCmd() *cobra.Command {
	var f reassignFlags
	var topics []string
	cmd := &cobra.Command{
		Use:   "rebalance",
		Short: "Propose (and with --execute apply) an assignment that spreads replicas and preferred leaders evenly over the live brokers",
		Long: `Plan an assignment that spreads every partition's replicas, and the
preferred leaders (first replicas), evenly over the live brokers, with
no two replicas of a partition on one rack while the racks allow it
(broker.rack on every broker), moving as few replicas as that takes:
after a broker joins, the replicas it should hold move to it and no
others. Preferred leaders are evened out by reordering replicas, which
moves no data. Replicas on brokers that are not live stay where they
are (see cluster decommission).

The plan prints as a table and as Kafka's reassignment JSON: the current
assignment (to roll back with kafka-reassign-partitions or this tool)
and the proposed one. With --execute it is submitted
(AlterPartitionReassignments, KIP-455): each partition copies its new
replicas while it serves, then leaves the old ones; the command follows
the progress (ListPartitionReassignments) until every partition is
done or --timeout passes, then elects the preferred leaders.`,
		Example: `  tributary cluster rebalance
  tributary cluster rebalance --topic events --topic orders
  tributary cluster rebalance --output json | jq .proposed > reassignment.json
  tributary cluster rebalance --execute --timeout 1h`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runReassignPlan(cmd, f, "rebalance", func(brokers []cluster.Broker, parts []cluster.PartitionState) (cluster.Plan, error) {
				return cluster.PlanRebalance(brokers, parts)
			}, topics, nil)
		},
	}
	f.add(cmd)
	cmd.Flags().StringArrayVar(&topics, "topic", nil, "plan only this topic's partitions (repeatable; default: every topic)")
	return cmd
}

func newClusterDecommissionCmd() *cobra.Command {
	var f reassignFlags
	cmd := &cobra.Command{
		Use:   "decommission BROKER-ID",
		Short: "Propose (and with --execute apply) moving every replica off a broker before it is stopped for good",
		Long: `Plan moving every replica the broker holds to the other live brokers,
each into the broker's place in its partition's assignment (so the
partitions it was preferred leader of get another), to the broker that
keeps the partition on the most racks and holds the fewest replicas.
Nothing else moves. A partition with more replicas than the other live
brokers can hold makes the command fail without a plan: add a broker
first, or lower the topic's replication factor.

Without --execute it prints the plan (a table and Kafka's reassignment
JSON). With --execute it applies it, follows it until the broker holds
no replica, and says when to stop the broker. A broker that is also a
voter of the metadata quorum leaves the quorum one member short until
etcd's membership is changed (see the README).`,
		Example: `  tributary cluster decommission 4
  tributary cluster decommission 4 --execute`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := strconv.ParseInt(args[0], 10, 32)
			if err != nil || id < 0 {
				return usageError{fmt.Errorf("decommission: broker id %q: want a node.id, 0 or more", args[0])}
			}
			node := int32(id)
			return runReassignPlan(cmd, f, fmt.Sprintf("decommission %d", node), func(brokers []cluster.Broker, parts []cluster.PartitionState) (cluster.Plan, error) {
				return cluster.PlanDecommission(brokers, parts, node)
			}, nil, func(w io.Writer, ctx context.Context, cl *kgo.Client) error {
				return checkDecommissioned(w, ctx, cl, node)
			})
		},
	}
	f.add(cmd)
	return cmd
}

// runReassignPlan reads the cluster, plans with plan, prints the plan and,
// with --execute, applies and follows it, then runs after (if not nil).
func runReassignPlan(cmd *cobra.Command, f reassignFlags, what string,
	plan func([]cluster.Broker, []cluster.PartitionState) (cluster.Plan, error),
	topics []string, after func(io.Writer, context.Context, *kgo.Client) error,
) error {
	cl, err := newClient(cmd)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(cmd.Context(), adminTimeout)
	brokers, parts, err := readAssignment(ctx, cl, topics)
	if err == nil {
		err = refuseWhileReassigning(ctx, cl, parts)
	}
	cancel()
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	p, err := plan(brokers, parts)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	report := newRebalanceReport(brokers, parts, p)
	w := cmd.OutOrStdout()
	if f.output == "json" {
		if err := writeJSON(w, report); err != nil {
			return err
		}
	} else if err := printRebalanceReport(w, report); err != nil {
		return err
	}
	if !f.execute {
		if f.output != "json" && len(p.Reassignments) > 0 {
			fmt.Fprintln(w, "\nNothing was changed: run again with --execute to apply this plan.")
		}
		return nil
	}
	// Progress goes to stderr, so that --output json stays one document.
	progress := cmd.ErrOrStderr()
	if f.output != "json" {
		progress = w
	}
	sctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := executePlan(sctx, progress, cl, p, f.timeout); err != nil {
		if sctx.Err() != nil && cmd.Context().Err() == nil {
			fmt.Fprintln(progress, "interrupted: the reassignments already submitted carry on; follow them with ListPartitionReassignments (kafka-reassign-partitions --verify) or cancel them (--cancel)")
			return errInterrupted
		}
		return fmt.Errorf("%s: %w", what, err)
	}
	if after != nil {
		ctx, cancel := context.WithTimeout(sctx, adminTimeout)
		defer cancel()
		return after(progress, ctx, cl)
	}
	return nil
}

// readAssignment is the live brokers (DescribeCluster, with racks) and
// the partitions of topics (every topic when empty) with their replicas
// and leaders (Metadata).
func readAssignment(ctx context.Context, cl *kgo.Client, topics []string) ([]cluster.Broker, []cluster.PartitionState, error) {
	dc, err := kmsg.NewPtrDescribeClusterRequest().RequestWith(ctx, cl)
	if err != nil {
		return nil, nil, fmt.Errorf("describe cluster: %w", err)
	}
	if err := kerr.ErrorForCode(dc.ErrorCode); err != nil {
		return nil, nil, fmt.Errorf("describe cluster: %w", kafkaErr(err, deref(dc.ErrorMessage)))
	}
	var brokers []cluster.Broker
	for _, b := range dc.Brokers {
		brokers = append(brokers, cluster.Broker{NodeID: b.NodeID, Rack: deref(b.Rack)})
	}
	slices.SortFunc(brokers, func(a, b cluster.Broker) int { return int(a.NodeID) - int(b.NodeID) })
	// Metadata straight from a broker: kadm's is cached for kgo's
	// MetadataMinAge, and a plan or a check made just after partitions
	// moved must see where they are now.
	req := kmsg.NewPtrMetadataRequest()
	req.AllowAutoTopicCreation = false
	if len(topics) > 0 {
		for _, t := range topics {
			rt := kmsg.NewMetadataRequestTopic()
			rt.Topic = kmsg.StringPtr(t)
			req.Topics = append(req.Topics, rt)
		}
	} else {
		req.Topics = nil // every topic
	}
	md, err := req.RequestWith(ctx, cl)
	if err != nil {
		return nil, nil, fmt.Errorf("metadata: %w", err)
	}
	var parts []cluster.PartitionState
	for _, t := range md.Topics {
		name := deref(t.Topic)
		if err := kerr.ErrorForCode(t.ErrorCode); err != nil {
			return nil, nil, fmt.Errorf("metadata of %s: %w", name, err)
		}
		for _, p := range t.Partitions {
			// An offline partition or replica is still planned: it
			// has an assignment.
			if err := kerr.ErrorForCode(p.ErrorCode); err != nil && !errors.Is(err, kerr.LeaderNotAvailable) && !errors.Is(err, kerr.ReplicaNotAvailable) {
				return nil, nil, fmt.Errorf("metadata of %s-%d: %w", name, p.Partition, err)
			}
			parts = append(parts, cluster.PartitionState{Topic: name, Partition: p.Partition, Leader: p.Leader,
				Replicas: nodeIDs(p.Replicas), ISR: nodeIDs(p.ISR)})
		}
	}
	slices.SortFunc(parts, func(a, b cluster.PartitionState) int {
		if c := strings.Compare(a.Topic, b.Topic); c != 0 {
			return c
		}
		return int(a.Partition) - int(b.Partition)
	})
	return brokers, parts, nil
}

func newRebalanceReport(brokers []cluster.Broker, parts []cluster.PartitionState, p cluster.Plan) rebalanceReport {
	before := cluster.Assignments(parts)
	after := p.Apply(before)
	// Every broker named, live or not: a decommissioned one shows
	// going to zero.
	named := map[int32]string{}
	for _, b := range brokers {
		named[b.NodeID] = b.Rack
	}
	for _, rs := range before {
		for _, b := range rs {
			if _, ok := named[b]; !ok {
				named[b] = ""
			}
		}
	}
	ids := make([]int32, 0, len(named))
	for id := range named {
		ids = append(ids, id)
	}
	was, will := cluster.Loads(ids, before), cluster.Loads(ids, after)
	r := rebalanceReport{ReplicaMoves: p.ReplicaMoves(), Reassignments: p.Reassignments,
		Current:  kafkaReassignmentConfig{Version: 1, Partitions: []kafkaPartitionReplicas{}},
		Proposed: kafkaReassignmentConfig{Version: 1, Partitions: []kafkaPartitionReplicas{}}}
	if r.Reassignments == nil {
		r.Reassignments = []cluster.Reassignment{}
	}
	for i, l := range was {
		r.Brokers = append(r.Brokers, brokerPlanLoad{Broker: l.Broker, Rack: named[l.Broker],
			Replicas: l.Replicas, ProposedReplicas: will[i].Replicas,
			PreferredLeaders: l.Preferred, ProposedPreferredLeader: will[i].Preferred})
	}
	for _, ra := range p.Reassignments {
		r.Current.Partitions = append(r.Current.Partitions, kafkaPartition(ra.Topic, ra.Partition, ra.Replicas))
		r.Proposed.Partitions = append(r.Proposed.Partitions, kafkaPartition(ra.Topic, ra.Partition, ra.Target))
	}
	return r
}

func kafkaPartition(topic string, partition int32, replicas []int32) kafkaPartitionReplicas {
	dirs := make([]string, len(replicas))
	for i := range dirs {
		dirs[i] = "any"
	}
	return kafkaPartitionReplicas{Topic: topic, Partition: partition, Replicas: slices.Clone(replicas), LogDirs: dirs}
}

func printRebalanceReport(w io.Writer, r rebalanceReport) error {
	rows := make([][]string, 0, len(r.Brokers))
	for _, b := range r.Brokers {
		rack := b.Rack
		if rack == "" {
			rack = "-"
		}
		rows = append(rows, []string{strconv.Itoa(int(b.Broker)), rack,
			strconv.Itoa(b.Replicas), strconv.Itoa(b.ProposedReplicas),
			strconv.Itoa(b.PreferredLeaders), strconv.Itoa(b.ProposedPreferredLeader)})
	}
	if err := printTable(w, []string{"BROKER", "RACK", "REPLICAS", "PROPOSED", "PREFERRED-LEADERS", "PROPOSED"}, rows); err != nil {
		return err
	}
	fmt.Fprintln(w)
	if len(r.Reassignments) == 0 {
		fmt.Fprintln(w, "The assignment is balanced: nothing to move.")
		return nil
	}
	fmt.Fprintf(w, "%d partition(s) to reassign, %d replica(s) to copy:\n\n", len(r.Reassignments), r.ReplicaMoves)
	rows = rows[:0]
	for _, ra := range r.Reassignments {
		rows = append(rows, []string{ra.Topic, strconv.Itoa(int(ra.Partition)), nodeList(ra.Replicas), nodeList(ra.Target),
			nodeList(ra.Adding()), nodeList(ra.Removing())})
	}
	if err := printTable(w, []string{"TOPIC", "PARTITION", "REPLICAS", "PROPOSED", "ADDING", "REMOVING"}, rows); err != nil {
		return err
	}
	for _, block := range []struct {
		title string
		cfg   kafkaReassignmentConfig
	}{{"Current partition replica assignment (to roll back)", r.Current}, {"Proposed partition reassignment configuration", r.Proposed}} {
		b, err := json.Marshal(block.cfg)
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "\n%s\n%s\n", block.title, b)
	}
	return nil
}

// executePlan submits p's reassignments, follows them until none is
// moving or timeout passes, then elects preferred leaders where the
// leader is not the target's first replica.
func executePlan(ctx context.Context, w io.Writer, cl *kgo.Client, p cluster.Plan, timeout time.Duration) error {
	if len(p.Reassignments) == 0 {
		return nil
	}
	adm := kadm.NewClient(cl)
	set := kadm.TopicsSet{}
	var req kadm.AlterPartitionAssignmentsReq
	for _, r := range p.Reassignments {
		set.Add(r.Topic, r.Partition)
		req.Assign(r.Topic, r.Partition, slices.Clone(r.Target))
	}
	actx, cancel := context.WithTimeout(ctx, adminTimeout)
	err := checkReassignServed(actx, cl)
	cancel()
	if err != nil {
		return err
	}
	actx, cancel = context.WithTimeout(ctx, adminTimeout)
	ongoing, err := adm.ListPartitionReassignments(actx, set)
	cancel()
	if err != nil {
		return fmt.Errorf("list partition reassignments: %w", err)
	}
	if busy := ongoing.Sorted(); len(busy) > 0 {
		// Kafka's tool refuses the same: a plan made while partitions
		// move is made against an assignment that is about to change.
		return fmt.Errorf("%s-%d (and %d more partition(s) of the plan) is being reassigned already: wait for it, or cancel it, then plan again",
			busy[0].Topic, busy[0].Partition, len(busy)-1)
	}
	actx, cancel = context.WithTimeout(ctx, adminTimeout)
	resp, err := adm.AlterPartitionAssignments(actx, req)
	cancel()
	if err != nil {
		return fmt.Errorf("alter partition reassignments: %w", err)
	}
	var failed []string
	for _, r := range resp.Sorted() {
		if r.Err != nil {
			failed = append(failed, fmt.Sprintf("%s-%d: %v", r.Topic, r.Partition, kafkaErr(r.Err, r.ErrMessage)))
			set.Delete(r.Topic, r.Partition)
		}
	}
	for _, f := range failed {
		fmt.Fprintf(w, "refused: %s\n", f)
	}
	total := partitionCount(set)
	fmt.Fprintf(w, "submitted %d reassignment(s); following them (every %s, for at most %s)\n", total, reassignPoll, timeout)
	deadline := time.Now().Add(timeout)
	last := -1 // reassignments still moving at the last answer; -1: none yet
	for total > 0 {
		actx, cancel := context.WithTimeout(ctx, adminTimeout)
		ongoing, err := adm.ListPartitionReassignments(actx, set)
		cancel()
		if err != nil && ctx.Err() != nil {
			return ctx.Err()
		}
		if err == nil {
			left := 0
			ongoing.Each(func(kadm.ListPartitionReassignmentsResponse) { left++ })
			if left != last {
				fmt.Fprintf(w, "%d of %d reassignment(s) done\n", total-left, total)
				last = left
			}
			if left == 0 {
				break
			}
		} else {
			fmt.Fprintf(w, "list partition reassignments: %v (retrying)\n", err)
		}
		if time.Now().After(deadline) {
			moving := "some"
			if last >= 0 {
				moving = strconv.Itoa(last)
			}
			return fmt.Errorf("%s of %d reassignment(s) still moving after %s: the brokers carry on (see ListPartitionReassignments, kafka-reassign-partitions --verify)", moving, total, timeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(reassignPoll):
		}
	}
	if err := electPlannedLeaders(ctx, w, adm, p, set); err != nil {
		return err
	}
	if len(failed) > 0 {
		return fmt.Errorf("%d reassignment(s) refused, the first %s", len(failed), failed[0])
	}
	return nil
}

// electPlannedLeaders runs a preferred leader election for the
// partitions of set whose plan changed the first replica.
func electPlannedLeaders(ctx context.Context, w io.Writer, adm *kadm.Client, p cluster.Plan, set kadm.TopicsSet) error {
	elect := kadm.TopicsSet{}
	for _, r := range p.Reassignments {
		if r.Target[0] != r.Replicas[0] && set.Lookup(r.Topic, r.Partition) {
			elect.Add(r.Topic, r.Partition)
		}
	}
	if len(elect) == 0 {
		return nil
	}
	actx, cancel := context.WithTimeout(ctx, adminTimeout)
	defer cancel()
	res, err := adm.ElectLeaders(actx, kadm.ElectPreferredReplica, elect)
	if err != nil {
		return fmt.Errorf("preferred leader election: %w", err)
	}
	moved, waiting := 0, 0
	for _, ps := range res {
		for _, r := range ps {
			switch {
			case r.Err == nil:
				moved++
			case errors.Is(r.Err, kerr.ElectionNotNeeded):
			default:
				waiting++
			}
		}
	}
	fmt.Fprintf(w, "preferred leaders elected for %d partition(s)", moved)
	if waiting > 0 {
		fmt.Fprintf(w, "; %d not yet (their preferred replica is not in sync: auto.leader.rebalance.enable or tributary's ElectLeaders moves them later)", waiting)
	}
	fmt.Fprintln(w)
	return nil
}

// errReassignNotServed is a cluster whose brokers do not serve the
// reassignment APIs: --execute cannot apply a plan there.
var errReassignNotServed = errors.New("the brokers do not serve AlterPartitionReassignments and ListPartitionReassignments (KIP-455): the plan cannot be applied")

// checkReassignServed asks a broker's ApiVersions whether it serves the
// reassignment APIs, so that --execute fails before it changes anything
// rather than halfway.
func checkReassignServed(ctx context.Context, cl *kgo.Client) error {
	resp, err := kmsg.NewPtrApiVersionsRequest().RequestWith(ctx, cl)
	if err != nil {
		return fmt.Errorf("api versions: %w", err)
	}
	served := 0
	for _, k := range resp.ApiKeys {
		if k.ApiKey == kmsg.AlterPartitionAssignments.Int16() || k.ApiKey == kmsg.ListPartitionReassignments.Int16() {
			served++
		}
	}
	if served < 2 {
		return errReassignNotServed
	}
	return nil
}

// checkDecommissioned waits (until ctx ends) for the metadata to show
// node holding no replica, and says what to do next. Each broker's
// metadata follows the store on its own, so the one answering may lag
// the reassignments' end by a moment.
func checkDecommissioned(w io.Writer, ctx context.Context, cl *kgo.Client, node int32) error {
	for {
		_, parts, err := readAssignment(ctx, cl, nil)
		if err != nil {
			return fmt.Errorf("decommission %d: %w", node, err)
		}
		i := slices.IndexFunc(parts, func(p cluster.PartitionState) bool { return p.IsReplica(node) })
		if i < 0 {
			break
		}
		select {
		case <-ctx.Done():
			p := parts[i]
			return fmt.Errorf("decommission %d: %s-%d still has a replica on it (replicas %s): run the command again", node, p.Topic, p.Partition, nodeList(p.Replicas))
		case <-time.After(200 * time.Millisecond):
		}
	}
	fmt.Fprintf(w, "broker %d holds no replica: stop it now (SIGTERM: a controlled shutdown); if it is a voter of controller.quorum.voters, change the quorum's membership as the README says\n", node)
	return nil
}

// refuseWhileReassigning fails if one of parts is being reassigned: its
// Metadata replicas are the union of the old and new ones then, and a
// plan made from them would be wrong. A cluster that does not serve
// ListPartitionReassignments has no reassignment to wait for.
func refuseWhileReassigning(ctx context.Context, cl *kgo.Client, parts []cluster.PartitionState) error {
	if errors.Is(checkReassignServed(ctx, cl), errReassignNotServed) {
		return nil
	}
	req := kmsg.NewPtrListPartitionReassignmentsRequest()
	req.Topics = nil // every reassignment in progress
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return fmt.Errorf("list partition reassignments: %w", err)
	}
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
		return fmt.Errorf("list partition reassignments: %w", kafkaErr(err, deref(resp.ErrorMessage)))
	}
	planned := map[cluster.TopicPartition]bool{}
	for _, p := range parts {
		planned[p.TP()] = true
	}
	var busy []string
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			if planned[cluster.TopicPartition{Topic: t.Topic, Partition: p.Partition}] {
				busy = append(busy, fmt.Sprintf("%s-%d", t.Topic, p.Partition))
			}
		}
	}
	if len(busy) > 0 {
		slices.Sort(busy)
		return fmt.Errorf("%d partition(s) are being reassigned (%s first): plan once they are done, or cancel them", len(busy), busy[0])
	}
	return nil
}

// partitionCount is how many partitions set names.
func partitionCount(set kadm.TopicsSet) int {
	n := 0
	set.Each(func(string, int32) { n++ })
	return n
}
