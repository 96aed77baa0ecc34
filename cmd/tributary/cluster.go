package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { rootCmd.AddCommand(newClusterCmd()) }

// Kafka's metadata partition, which DescribeQuorum describes (the server
// answers it for its etcd quorum).
const (
	quorumTopic     = "__cluster_metadata"
	quorumPartition = 0
)

// newClusterCmd is `tributary cluster`, the kafka-metadata-quorum and
// kafka-broker-api-versions of tributary.
func newClusterCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "cluster",
		Short: "Show the cluster: brokers, controller, metadata quorum, partitions at risk",
		Example: `  tributary cluster status
  tributary cluster status --output json
  tributary cluster rebalance --execute
  tributary cluster decommission 4 --execute
  tributary cluster add-voter --node-id 4 --controller 127.0.0.5:9093
  tributary cluster remove-voter 3
  tributary cluster migrate --data-dir /var/lib/tributary --node-id 1`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return cmd.Help() },
	}
	cmd.AddCommand(newClusterStatusCmd(), newClusterRebalanceCmd(), newClusterDecommissionCmd(),
		newClusterAddVoterCmd(), newClusterRemoveVoterCmd(), newClusterMigrateCmd())
	return cmd
}

// clusterStatus is `cluster status`.
type clusterStatus struct {
	ClusterID  string          `json:"cluster_id"`
	Controller int32           `json:"controller"` // -1: none
	Brokers    []clusterBroker `json:"brokers"`
	Partitions int             `json:"partitions"`
	// UnderReplicated are the partitions whose ISR is smaller than their
	// replicas; Offline those without a leader.
	UnderReplicated []partitionStanding `json:"under_replicated_partitions"`
	Offline         []partitionStanding `json:"offline_partitions"`
	// Quorum is the metadata quorum (DescribeQuorum); nil when there is
	// none (a single broker) or it could not be read, and QuorumError
	// then says why.
	Quorum      *quorumStatus `json:"quorum"`
	QuorumError string        `json:"quorum_error,omitempty"`
}

type clusterBroker struct {
	ID        int32    `json:"id"`
	Rack      string   `json:"rack,omitempty"`
	Endpoints []string `json:"endpoints"` // host:port
}

type partitionStanding struct {
	Topic           string  `json:"topic"`
	Partition       int32   `json:"partition"`
	Leader          int32   `json:"leader"`
	Replicas        []int32 `json:"replicas"`
	ISR             []int32 `json:"isr"`
	OfflineReplicas []int32 `json:"offline_replicas"`
}

// quorumStatus is the metadata quorum in Kafka's terms: the raft leader,
// its term as the epoch, the commit index as the high watermark, and each
// member's raft index as its log end offset.
type quorumStatus struct {
	Leader        int32          `json:"leader"` // -1: none
	Epoch         int32          `json:"epoch"`
	HighWatermark int64          `json:"high_watermark"`
	Health        string         `json:"health"` // quorumHealthy, quorumDegraded or quorumUnavailable
	Members       []quorumMember `json:"members"`
}

type quorumMember struct {
	ID           int32  `json:"id"`
	Role         string `json:"role"`           // leader, voter or observer
	LogEndOffset int64  `json:"log_end_offset"` // -1: did not answer
	// Lag is the high watermark minus the log end offset (0 if ahead),
	// -1 when the member did not answer.
	Lag int64 `json:"lag"`
	// LastCaughtUp is when the member last had every committed entry
	// (RFC 3339), empty when unknown.
	LastCaughtUp string `json:"last_caught_up,omitempty"`
}

// The quorum's health.
const (
	// quorumHealthy: a leader, and every voter answered.
	quorumHealthy = "healthy"
	// quorumDegraded: a leader and a majority of voters answered, not all:
	// one more loss may stop metadata changes.
	quorumDegraded = "degraded"
	// quorumUnavailable: no leader, or no majority of voters answered:
	// no metadata change (leader election, ISR change, topic creation)
	// can commit.
	quorumUnavailable = "unavailable"
)

func newClusterStatusCmd() *cobra.Command {
	var output outputFormat
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show brokers, controller, cluster id, metadata quorum and under-replicated and offline partitions",
		Long: `Show the cluster as the brokers see it: its id, the active controller,
every live broker (id, rack, endpoint), the metadata quorum (DescribeQuorum:
the etcd leader, term, commit index, and each member's raft index and lag)
with its health, and the partitions that are under-replicated (ISR smaller
than the replicas) or offline (no leader), from Metadata. A single broker
has no quorum: it shows "none" there.`,
		Example: `  tributary cluster status
  tributary cluster status --output json
  tributary --brokers 127.0.0.2:9092 cluster status`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cl, err := newClient(cmd)
			if err != nil {
				return fmt.Errorf("cluster status: %w", err)
			}
			defer cl.Close()
			ctx, cancel := context.WithTimeout(cmd.Context(), adminTimeout)
			defer cancel()
			st, err := readClusterStatus(ctx, cl)
			if err != nil {
				return fmt.Errorf("cluster status: %w", err)
			}
			w := cmd.OutOrStdout()
			if output == "json" {
				return writeJSON(w, st)
			}
			return printClusterStatus(w, st)
		},
	}
	addOutputFlag(cmd, &output)
	return cmd
}

// readClusterStatus asks DescribeCluster for the brokers, controller and
// cluster id, Metadata for every partition, and DescribeQuorum for the
// quorum.
func readClusterStatus(ctx context.Context, cl *kgo.Client) (clusterStatus, error) {
	st := clusterStatus{UnderReplicated: []partitionStanding{}, Offline: []partitionStanding{}, Brokers: []clusterBroker{}}
	dc, err := kmsg.NewPtrDescribeClusterRequest().RequestWith(ctx, cl)
	if err != nil {
		return st, fmt.Errorf("describe cluster: %w", err)
	}
	if err := kerr.ErrorForCode(dc.ErrorCode); err != nil {
		return st, fmt.Errorf("describe cluster: %w", kafkaErr(err, deref(dc.ErrorMessage)))
	}
	st.ClusterID, st.Controller = dc.ClusterID, dc.ControllerID
	for _, b := range dc.Brokers {
		st.Brokers = append(st.Brokers, clusterBroker{ID: b.NodeID, Rack: deref(b.Rack),
			Endpoints: []string{hostPort(b.Host, b.Port)}})
	}
	sort.Slice(st.Brokers, func(i, j int) bool { return st.Brokers[i].ID < st.Brokers[j].ID })

	md, err := kadm.NewClient(cl).Metadata(ctx)
	if err != nil {
		return st, fmt.Errorf("metadata: %w", err)
	}
	for _, t := range md.Topics.Sorted() {
		if t.Err != nil {
			return st, fmt.Errorf("metadata of %s: %w", t.Topic, t.Err)
		}
		for _, p := range t.Partitions.Sorted() {
			st.Partitions++
			ps := partitionStanding{Topic: p.Topic, Partition: p.Partition, Leader: p.Leader,
				Replicas: nodeIDs(p.Replicas), ISR: nodeIDs(p.ISR), OfflineReplicas: nodeIDs(p.OfflineReplicas)}
			if p.Leader < 0 {
				st.Offline = append(st.Offline, ps)
			}
			if len(p.ISR) < len(p.Replicas) {
				st.UnderReplicated = append(st.UnderReplicated, ps)
			}
		}
	}

	st.Quorum, err = describeQuorum(ctx, cl)
	if err != nil {
		st.QuorumError = err.Error()
	}
	return st, nil
}

// describeQuorum asks for the metadata quorum's status.
func describeQuorum(ctx context.Context, cl *kgo.Client) (*quorumStatus, error) {
	resp, err := requestQuorum(ctx, cl)
	if err != nil {
		return nil, err
	}
	return quorumFromResponse(resp)
}

// requestQuorum sends DescribeQuorum for the metadata partition.
func requestQuorum(ctx context.Context, cl *kgo.Client) (*kmsg.DescribeQuorumResponse, error) {
	req := kmsg.NewPtrDescribeQuorumRequest()
	t := kmsg.NewDescribeQuorumRequestTopic()
	t.Topic = quorumTopic
	p := kmsg.NewDescribeQuorumRequestTopicPartition()
	p.Partition = quorumPartition
	t.Partitions = append(t.Partitions, p)
	req.Topics = append(req.Topics, t)
	return req.RequestWith(ctx, cl)
}

// errNoQuorum is a cluster without a metadata quorum: a single broker.
var errNoQuorum = errors.New("none: a single broker has no metadata quorum")

// quorumFromResponse reads a DescribeQuorum answer.
func quorumFromResponse(resp *kmsg.DescribeQuorumResponse) (*quorumStatus, error) {
	if resp.ErrorCode == kerr.UnsupportedVersion.Code {
		return nil, errNoQuorum
	}
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
		return nil, kafkaErr(err, deref(resp.ErrorMessage))
	}
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		return nil, fmt.Errorf("answer names %d topics, want %s-%d alone", len(resp.Topics), quorumTopic, quorumPartition)
	}
	p := resp.Topics[0].Partitions[0]
	if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
		return nil, kafkaErr(err, deref(p.ErrorMessage))
	}
	q := &quorumStatus{Leader: p.LeaderID, Epoch: p.LeaderEpoch, HighWatermark: p.HighWatermark, Members: []quorumMember{}}
	answered := 0
	add := func(rs []kmsg.DescribeQuorumResponseTopicPartitionReplicaState, role string) {
		for _, r := range rs {
			m := quorumMember{ID: r.ReplicaID, Role: role, LogEndOffset: r.LogEndOffset, Lag: -1}
			if role == "voter" && r.ReplicaID == p.LeaderID {
				m.Role = "leader"
			}
			if r.LogEndOffset >= 0 {
				m.Lag = max(0, p.HighWatermark-r.LogEndOffset)
				if role == "voter" {
					answered++
				}
			}
			if r.LastCaughtUpTimestamp >= 0 {
				m.LastCaughtUp = time.UnixMilli(r.LastCaughtUpTimestamp).UTC().Format(time.RFC3339)
			}
			q.Members = append(q.Members, m)
		}
	}
	add(p.CurrentVoters, "voter")
	add(p.Observers, "observer")
	voters := len(p.CurrentVoters)
	switch {
	case p.LeaderID < 0 || answered <= voters/2:
		q.Health = quorumUnavailable
	case answered < voters:
		q.Health = quorumDegraded
	default:
		q.Health = quorumHealthy
	}
	return q, nil
}

func printClusterStatus(w io.Writer, st clusterStatus) error {
	controller := strconv.Itoa(int(st.Controller))
	if st.Controller < 0 {
		controller = "none"
	}
	if err := printTable(w, []string{"CLUSTER-ID", "CONTROLLER", "BROKERS", "PARTITIONS", "UNDER-REPLICATED", "OFFLINE"}, [][]string{{
		st.ClusterID, controller, strconv.Itoa(len(st.Brokers)), strconv.Itoa(st.Partitions),
		strconv.Itoa(len(st.UnderReplicated)), strconv.Itoa(len(st.Offline)),
	}}); err != nil {
		return err
	}
	fmt.Fprintln(w)
	rows := make([][]string, 0, len(st.Brokers))
	for _, b := range st.Brokers {
		rack := b.Rack
		if rack == "" {
			rack = "-"
		}
		role := "broker"
		if b.ID == st.Controller {
			role = "broker,controller"
		}
		rows = append(rows, []string{strconv.Itoa(int(b.ID)), rack, strings.Join(b.Endpoints, ","), role})
	}
	if err := printTable(w, []string{"BROKER", "RACK", "ENDPOINTS", "ROLE"}, rows); err != nil {
		return err
	}
	fmt.Fprintln(w)
	if st.Quorum == nil {
		fmt.Fprintf(w, "QUORUM  %s\n", st.QuorumError)
	} else {
		q := st.Quorum
		if err := printTable(w, []string{"QUORUM", "LEADER", "EPOCH", "HIGH-WATERMARK"}, [][]string{{
			q.Health, leaderCell(q.Leader), strconv.Itoa(int(q.Epoch)), strconv.FormatInt(q.HighWatermark, 10),
		}}); err != nil {
			return err
		}
		fmt.Fprintln(w)
		rows := make([][]string, 0, len(q.Members))
		for _, m := range q.Members {
			leo, lag, caught := strconv.FormatInt(m.LogEndOffset, 10), strconv.FormatInt(m.Lag, 10), m.LastCaughtUp
			if m.LogEndOffset < 0 {
				leo, lag = "unreachable", "-"
			}
			if caught == "" {
				caught = "-"
			}
			rows = append(rows, []string{strconv.Itoa(int(m.ID)), m.Role, leo, lag, caught})
		}
		if err := printTable(w, []string{"MEMBER", "ROLE", "LOG-END-OFFSET", "LAG", "LAST-CAUGHT-UP"}, rows); err != nil {
			return err
		}
	}
	var atRisk [][]string
	for _, set := range []struct {
		state string
		parts []partitionStanding
	}{{"under-replicated", st.UnderReplicated}, {"offline", st.Offline}} {
		for _, p := range set.parts {
			atRisk = append(atRisk, []string{p.Topic, strconv.Itoa(int(p.Partition)), set.state, leaderCell(p.Leader),
				nodeList(p.Replicas), nodeList(p.ISR), nodeList(p.OfflineReplicas)})
		}
	}
	if len(atRisk) == 0 {
		return nil
	}
	fmt.Fprintln(w)
	return printTable(w, []string{"TOPIC", "PARTITION", "STATE", "LEADER", "REPLICAS", "ISR", "OFFLINE"}, atRisk)
}

func hostPort(host string, port int32) string {
	return net.JoinHostPort(host, strconv.Itoa(int(port)))
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
