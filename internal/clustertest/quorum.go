package clustertest

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
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

// EtcdClientAddr is the address node n's etcd member serves clients on
// (host:port), around its proxy when it has one: for a test that watches
// the quorum itself.
func (n *Node) EtcdClientAddr() string { return n.etcdClientAddr() }

// etcdClientAddr is the address node n's etcd member serves clients on,
// around its proxy when it has one.
func (n *Node) etcdClientAddr() string {
	if n.bind != nil {
		return n.bind.controllerClient
	}
	return clientAddr(n.ControllerAddr)
}

// moveLeaderTimeout bounds MoveQuorumLeader.
const moveLeaderTimeout = 30 * time.Second

// MoveQuorumLeader makes node id's etcd member lead the metadata quorum's
// raft (etcd's leadership transfer), so that a fault on that node is the
// worst one for the others: their lease keep-alives and watches stall
// until the rest elect another leader. It talks to the members around
// the proxies, and returns once id's member names itself leader.
func (c *Cluster) MoveQuorumLeader(ctx context.Context, id int) error {
	if !c.cfg.Quorum {
		return fmt.Errorf("clustertest: move quorum leader: the cluster runs without a quorum")
	}
	target, err := c.Node(id)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, moveLeaderTimeout)
	defer cancel()
	for {
		err := c.moveQuorumLeaderOnce(ctx, target)
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("clustertest: move quorum leader to node %d: %w", id, err)
		case <-time.After(waitEvery):
		}
	}
}

// moveQuorumLeaderOnce asks the current leader to hand over to target's
// member and checks that target's member leads.
func (c *Cluster) moveQuorumLeaderOnce(ctx context.Context, target *Node) error {
	ask := func(n *Node, f func(*clientv3.Client) error) error {
		cli, err := clientv3.New(clientv3.Config{Endpoints: []string{"http://" + n.etcdClientAddr()},
			DialTimeout: 2 * time.Second, Logger: zap.NewNop()})
		if err != nil {
			return err
		}
		defer cli.Close()
		return f(cli)
	}
	var targetID, leaderID uint64
	if err := ask(target, func(cli *clientv3.Client) error {
		rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		st, err := cli.Status(rctx, "http://"+target.etcdClientAddr())
		if err != nil {
			return err
		}
		targetID, leaderID = st.Header.MemberId, st.Leader
		return nil
	}); err != nil {
		return err
	}
	if leaderID == targetID {
		return nil
	}
	if leaderID == 0 {
		return fmt.Errorf("no quorum leader")
	}
	var leader *Node
	if err := ask(target, func(cli *clientv3.Client) error {
		rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		ml, err := cli.MemberList(rctx)
		if err != nil {
			return err
		}
		for _, m := range ml.Members {
			if m.ID == leaderID {
				id, err := strconv.Atoi(m.Name)
				if err != nil {
					return fmt.Errorf("leader member %x is named %q, not a node id", m.ID, m.Name)
				}
				leader, err = c.Node(id)
				return err
			}
		}
		return fmt.Errorf("leader member %x is not in the member list", leaderID)
	}); err != nil {
		return err
	}
	if err := ask(leader, func(cli *clientv3.Client) error {
		rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		_, err := cli.MoveLeader(rctx, targetID)
		return err
	}); err != nil {
		return err
	}
	return fmt.Errorf("moved, not yet confirmed")
}
