package server

// DescribeQuorum, versions 0-2 (flexible from v0; KIP-595, KIP-836,
// KIP-853).
//
//	v0   the metadata partition's leader, epoch, high watermark, and each
//	     voter's and observer's log end offset
//	v1   each replica's last fetch and last caught-up times (KIP-836)
//	v2   error messages, replica directory ids, and the voters' listeners
//	     (KIP-853)
//
// Kafka answers it for the KRaft quorum that holds the cluster metadata,
// the partition __cluster_metadata-0. Here the quorum is etcd's (embedded
// in the voters, or external), and the node wiring hands the server a
// function that reads its members and their raft status
// (setQuorumDescriber, with cluster.DescribeQuorum); the answer maps raft
// onto Kafka's fields: the
// raft leader is the partition's leader, the raft term its leader epoch,
// the raft commit index its high watermark, and each member's raft index
// its log end offset. Any broker answers (Kafka's brokers forward it to
// the active controller), as any etcd member can be asked for the
// quorum's status.
//
// A request that asks for anything but __cluster_metadata-0 gets
// UNKNOWN_TOPIC_OR_PARTITION for each partition it names, as Kafka's raft
// client answers. A single broker has no quorum: it answers
// UNSUPPORTED_VERSION at the top level, what a Kafka broker without KRaft
// (which never advertised the API) left its clients with. Like Kafka, it
// needs Describe on the cluster (CLUSTER_AUTHORIZATION_FAILED otherwise).

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/tributary-io/tributary/auth"
	"github.com/tributary-io/tributary/cluster"
)

// Kafka's metadata partition, the one DescribeQuorum describes.
const (
	quorumTopic     = "__cluster_metadata"
	quorumPartition = 0
	// quorumListener names a voter's controller (etcd peer) address in a
	// v2 answer's nodes, as Kafka's controller listener is named.
	quorumListener = "CONTROLLER"
	// describeQuorumTimeout bounds one read of the quorum's status.
	describeQuorumTimeout = 5 * time.Second
)

// quorumDescriber reads the metadata quorum's status; the node wiring
// makes it cluster.DescribeQuorum on its etcd client.
type quorumDescriber func(ctx context.Context) (cluster.QuorumStatus, error)

// setQuorumDescriber makes DescribeQuorum answer from f (nil: no quorum,
// a single broker).
func (s *Server) setQuorumDescriber(f quorumDescriber) {
	if f == nil {
		s.quorum.Store(nil)
		return
	}
	s.quorum.Store(&f)
}

func init() { register(55, 0, 2, handleDescribeQuorum) }

func handleDescribeQuorum(c *conn, h *reqHeader, req *kmsg.DescribeQuorumRequest) (kmsg.Response, error) {
	s := c.s
	resp := req.ResponseKind().(*kmsg.DescribeQuorumResponse)
	fail := func(code int16, msg string) (kmsg.Response, error) {
		resp.ErrorCode = code
		if req.Version >= 2 {
			resp.ErrorMessage = &msg
		}
		s.metrics.errorCode(h.key, code)
		return resp, nil
	}
	if !c.authorizeCluster(h.key, auth.OpDescribe) {
		return fail(kerr.ClusterAuthorizationFailed.Code, "DescribeQuorum needs Describe on the cluster.")
	}
	describe := s.quorum.Load()
	if describe == nil {
		return fail(kerr.UnsupportedVersion.Code, "This broker runs without a metadata quorum (no controller.quorum.voters or metadata.store): there is no quorum to describe.")
	}
	if len(req.Topics) != 1 || req.Topics[0].Topic != quorumTopic ||
		len(req.Topics[0].Partitions) != 1 || req.Topics[0].Partitions[0].Partition != quorumPartition {
		for _, rt := range req.Topics {
			t := kmsg.NewDescribeQuorumResponseTopic()
			t.Topic = rt.Topic
			for _, rp := range rt.Partitions {
				p := kmsg.NewDescribeQuorumResponseTopicPartition()
				p.Partition, p.ErrorCode, p.LeaderID = rp.Partition, kerr.UnknownTopicOrPartition.Code, -1
				if req.Version >= 2 {
					p.ErrorMessage = adminMsg("Only %s-%d, the metadata quorum, can be described.", quorumTopic, quorumPartition)
				}
				s.metrics.errorCode(h.key, p.ErrorCode)
				t.Partitions = append(t.Partitions, p)
			}
			resp.Topics = append(resp.Topics, t)
		}
		return resp, nil
	}
	ctx, cancel := context.WithTimeout(s.ctx, describeQuorumTimeout)
	defer cancel()
	st, err := (*describe)(ctx)
	t := kmsg.NewDescribeQuorumResponseTopic()
	t.Topic = quorumTopic
	p := kmsg.NewDescribeQuorumResponseTopicPartition()
	p.Partition = quorumPartition
	if err != nil {
		// The quorum did not answer (no leader, no member reachable):
		// the partition's error, as a Kafka controller without a leader
		// answers, with what went wrong in v2.
		s.logger.Warn("server: describe quorum failed", "err", err)
		p.ErrorCode, p.LeaderID = kerr.UnknownServerError.Code, -1
		if errors.Is(err, context.DeadlineExceeded) {
			p.ErrorCode = kerr.RequestTimedOut.Code
		}
		if req.Version >= 2 {
			p.ErrorMessage = adminMsg("Reading the metadata quorum's status failed: %v", err)
		}
		s.metrics.errorCode(h.key, p.ErrorCode)
		t.Partitions = append(t.Partitions, p)
		resp.Topics = append(resp.Topics, t)
		return resp, nil
	}
	p.LeaderID, p.LeaderEpoch, p.HighWatermark = st.LeaderID, st.LeaderEpoch, st.HighWatermark
	p.CurrentVoters = quorumReplicaStates(st.Voters)
	p.Observers = quorumReplicaStates(st.Observers)
	t.Partitions = append(t.Partitions, p)
	resp.Topics = append(resp.Topics, t)
	if req.Version >= 2 {
		for _, v := range append(slices.Clone(st.Voters), st.Observers...) {
			if v.Host == "" {
				continue
			}
			n := kmsg.NewDescribeQuorumResponseNode()
			n.NodeID = v.ID
			l := kmsg.NewDescribeQuorumResponseNodeListener()
			l.Name, l.Host, l.Port = quorumListener, v.Host, v.Port
			n.Listeners = append(n.Listeners, l)
			resp.Nodes = append(resp.Nodes, n)
		}
	}
	return resp, nil
}

func quorumReplicaStates(rs []cluster.QuorumMember) []kmsg.DescribeQuorumResponseTopicPartitionReplicaState {
	out := make([]kmsg.DescribeQuorumResponseTopicPartitionReplicaState, 0, len(rs))
	for _, r := range rs {
		st := kmsg.NewDescribeQuorumResponseTopicPartitionReplicaState()
		st.ReplicaID, st.LogEndOffset = r.ID, r.LogEndOffset
		st.LastFetchTimestamp, st.LastCaughtUpTimestamp = r.LastFetchTimestamp, r.LastCaughtUpTimestamp
		out = append(out, st)
	}
	return out
}
