package server

// ElectLeaders, versions 0-2.
//
//	v1   ElectionType (0 preferred, 1 unclean) and a top-level error code
//	v2   flexible
//
// Needs Alter on the cluster (CLUSTER_AUTHORIZATION_FAILED otherwise), as
// Kafka. Null topics mean every partition. On a single broker every
// partition is led by its only, preferred, replica: ELECTION_NOT_NEEDED.
// In a cluster a preferred election moves each named partition's
// leadership to its first replica when that replica is live and in sync
// (cluster.Controller.ElectPreferredLeaders, a compare-and-swap through
// the metadata store); PREFERRED_LEADER_NOT_AVAILABLE when it is not,
// ELECTION_NOT_NEEDED when it leads already. An unclean election (KIP-460)
// gives each named partition without a live leader one: a live ISR
// member if there is one, else its first live replica alone in the ISR,
// losing what only the lost ISR held (cluster.Controller.
// ElectUncleanLeaders, a compare-and-swap at a new leader epoch, logged at
// Warn and counted in tributary_cluster_leader_elections_total
// {kind="unclean"}); ELECTION_NOT_NEEDED where the leader is live (always
// on a single broker), ELIGIBLE_LEADERS_NOT_AVAILABLE where no replica
// is. Another election type is INVALID_REQUEST.

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/tributary-io/tributary/auth"
	"github.com/tributary-io/tributary/cluster"
)

// ElectLeaders' ElectionType values.
const (
	electionPreferred = 0
	electionUnclean   = 1
)

func init() { register(43, 0, 2, handleElectLeaders) }

func handleElectLeaders(c *conn, h *reqHeader, req *kmsg.ElectLeadersRequest) (kmsg.Response, error) {
	s := c.s
	resp := req.ResponseKind().(*kmsg.ElectLeadersResponse)
	fail := func(code int16) (kmsg.Response, error) {
		resp.ErrorCode = code
		for _, rt := range req.Topics {
			t := kmsg.NewElectLeadersResponseTopic()
			t.Topic = rt.Topic
			for _, p := range rt.Partitions {
				rp := kmsg.NewElectLeadersResponseTopicPartition()
				rp.Partition, rp.ErrorCode = p, code
				t.Partitions = append(t.Partitions, rp)
			}
			resp.Topics = append(resp.Topics, t)
		}
		s.metrics.errorCode(h.key, code)
		return resp, nil
	}
	if !c.authorize(h.key, auth.OpAlter, auth.ResourceCluster, auth.ClusterName) {
		return fail(kerr.ClusterAuthorizationFailed.Code)
	}
	unclean := req.Version >= 1 && req.ElectionType == electionUnclean
	if req.Version >= 1 && req.ElectionType != electionPreferred && !unclean {
		return fail(kerr.InvalidRequest.Code) // an unknown election type
	}
	var named []cluster.TopicPartition
	for _, rt := range req.Topics {
		for _, p := range rt.Partitions {
			named = append(named, cluster.TopicPartition{Topic: rt.Topic, Partition: p})
		}
	}
	var outcome map[cluster.TopicPartition]error
	if s.node != nil {
		if req.Topics != nil && len(named) == 0 {
			return resp, nil
		}
		timeout := time.Duration(req.TimeoutMillis) * time.Millisecond
		if timeout <= 0 || timeout > createWaitTimeout {
			timeout = createWaitTimeout
		}
		var err error
		outcome, err = s.node.electLeaders(timeout, named, unclean)
		if err != nil {
			return fail(clusterErrorCode(err))
		}
	}
	if req.Topics == nil {
		// Every partition: the answer names those whose preferred
		// replica could not take over.
		for tp, err := range outcome {
			if !errors.Is(err, cluster.ErrElectionNotNeeded) {
				named = append(named, tp)
			}
		}
		slices.SortFunc(named, func(a, b cluster.TopicPartition) int {
			return cmp.Or(strings.Compare(a.Topic, b.Topic), cmp.Compare(a.Partition, b.Partition))
		})
	}
	byTopic := map[string]int{}
	for _, tp := range named {
		i, ok := byTopic[tp.Topic]
		if !ok {
			i = len(resp.Topics)
			byTopic[tp.Topic] = i
			t := kmsg.NewElectLeadersResponseTopic()
			t.Topic = tp.Topic
			resp.Topics = append(resp.Topics, t)
		}
		rp := kmsg.NewElectLeadersResponseTopicPartition()
		rp.Partition = tp.Partition
		if s.node == nil {
			t, _ := s.topic(tp.Topic)
			if _, code := partitionOf(t, kerr.UnknownTopicOrPartition.Code, tp.Partition); code != 0 {
				rp.ErrorCode = code
			} else {
				rp.ErrorCode = kerr.ElectionNotNeeded.Code
			}
		} else if err := outcome[tp]; err != nil {
			rp.ErrorCode, rp.ErrorMessage = clusterErrorCode(err), errorMessage(err)
		}
		s.metrics.errorCode(h.key, rp.ErrorCode)
		resp.Topics[i].Partitions = append(resp.Topics[i].Partitions, rp)
	}
	return resp, nil
}

// electLeaders runs a preferred, or unclean, leader election of
// partitions (all when nil) and returns, per partition not moved, why.
// Its writes are compare-and-swaps of each partition's state at a new
// leader epoch made through this broker's registration, as its ISR
// changes are: a broker fenced meanwhile writes nothing (ErrFenced).
func (n *brokerNode) electLeaders(timeout time.Duration, partitions []cluster.TopicPartition, unclean bool) (map[cluster.TopicPartition]error, error) {
	if !n.started.Load() {
		return nil, errClusterNotReady
	}
	reg := n.currentReg()
	if reg == nil {
		return nil, fmt.Errorf("server: leader election: the broker is re-registering: %w", errClusterNotReady)
	}
	ctrl := cluster.NewController(cluster.ControllerConfig{NodeID: n.self, Store: reg.Store(), Logger: n.log, Elections: &n.elections})
	ctx, cancel := context.WithTimeout(n.ctx, timeout)
	defer cancel()
	if unclean {
		return ctrl.ElectUncleanLeaders(ctx, partitions)
	}
	return ctrl.ElectPreferredLeaders(ctx, partitions)
}
