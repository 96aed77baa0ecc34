package clustertest

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// QuorumLeader returns the node that leads the metadata quorum's raft
// (etcd's leader member), as DescribeQuorum names it (the leader of
// __cluster_metadata-0); 0 when no live node answers or none leads.
func (c *Cluster) QuorumLeader(ctx context.Context) (int, error) {
	var lastErr error
	for _, n := range c.live() {
		req := kmsg.NewPtrDescribeQuorumRequest()
		rt := kmsg.NewDescribeQuorumRequestTopic()
		rt.Topic = "__cluster_metadata"
		rp := kmsg.NewDescribeQuorumRequestTopicPartition()
		rp.Partition = 0
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp, err := n.ask(ctx, req)
		if err != nil {
			lastErr = err
			continue
		}
		dq := resp.(*kmsg.DescribeQuorumResponse)
		if dq.ErrorCode != 0 || len(dq.Topics) != 1 || len(dq.Topics[0].Partitions) != 1 || dq.Topics[0].Partitions[0].ErrorCode != 0 {
			lastErr = fmt.Errorf("clustertest: node %d: describe quorum: error codes in %+v", n.ID, dq)
			continue
		}
		if id := dq.Topics[0].Partitions[0].LeaderID; id >= 0 {
			return int(id), nil
		}
		return 0, nil
	}
	return 0, fmt.Errorf("clustertest: describe quorum: no live node answered: %w", lastErr)
}
