package server

// The group coordinator of a broker in a cluster (consumergroup's
// Config.Cluster hooks): it coordinates the groups of the
// __consumer_offsets partitions this broker leads, which the reconciler
// hands it (LoadPartition) and takes back (UnloadPartition) with their
// leader epochs; its writes are answered once the partition's in-sync
// replicas hold them; the topic is created in the cluster's metadata.

import (
	"context"
	"errors"
	"fmt"

	"github.com/tributary-io/tributary/cluster"
	"github.com/tributary-io/tributary/consumergroup"
	tlog "github.com/tributary-io/tributary/log"
	"github.com/tributary-io/tributary/replica"
)

// waitOffsetsAppended waits until the high watermark of __consumer_offsets
// partition p passes lastOffset (consumergroup.Config.WaitAppended).
func (n *brokerNode) waitOffsetsAppended(ctx context.Context, p int32, lastOffset int64) error {
	ld, ok := n.replicas.Leader(cluster.TopicPartition{Topic: consumergroup.OffsetsTopic, Partition: p})
	if !ok {
		return fmt.Errorf("server: %s-%d is not led here: %w", consumergroup.OffsetsTopic, p, consumergroup.ErrNotCoordinatorForGroup)
	}
	err := ld.WaitCommitted(ctx, lastOffset)
	if errors.Is(err, replica.ErrNotLeaderOrFollower) {
		return fmt.Errorf("server: %w: %w", consumergroup.ErrNotCoordinatorForGroup, err)
	}
	return err
}

// appendOffsets appends to __consumer_offsets partition p as its leader,
// under the leader's append lock (consumergroup.Config.AppendAsLeader):
// nothing is written once this broker no longer leads it, even before
// the reconciler unloads the partition's groups. Like Kafka's
// coordinator, whose writes go out with acks=all, it refuses to append
// while the ISR is below min.insync.replicas.
func (n *brokerNode) appendOffsets(p int32, appendFn func([]byte) (tlog.AppendInfo, error), batches []byte) (tlog.AppendInfo, error) {
	ld, ok := n.replicas.Leader(cluster.TopicPartition{Topic: consumergroup.OffsetsTopic, Partition: p})
	if !ok {
		return tlog.AppendInfo{}, fmt.Errorf("server: %s-%d is not led here: %w", consumergroup.OffsetsTopic, p, consumergroup.ErrNotCoordinatorForGroup)
	}
	info, err := ld.Append(appendFn, batches, true)
	if errors.Is(err, replica.ErrNotLeaderOrFollower) {
		return info, fmt.Errorf("server: %w: %w", consumergroup.ErrNotCoordinatorForGroup, err)
	}
	return info, err
}

// createOffsetsTopic creates __consumer_offsets in the cluster with
// offsets.topic.replication.factor replicas, refused (KIP-115) while fewer
// brokers are live (consumergroup.Config.CreateOffsetsTopic).
func (n *brokerNode) createOffsetsTopic(partitions int) error {
	if _, ok := n.snapshot().Topics[consumergroup.OffsetsTopic]; ok {
		return nil
	}
	rf := n.cfg.OffsetsTopicReplicationFactor
	if live := n.liveBrokers(); live < rf {
		return fmt.Errorf("server: %d broker(s) live, offsets.topic.replication.factor=%d: %w", live, rf, consumergroup.ErrNotEnoughLiveBrokers)
	}
	_, err := n.createTopic(consumergroup.OffsetsTopic, int32(partitions), rf, nil, map[string]string{
		tlog.ConfigCleanupPolicy: tlog.CleanupPolicyCompact,
		tlog.ConfigSegmentBytes:  fmt.Sprint(n.s.cfg.Groups.OffsetsTopicSegmentBytes),
	})
	if errors.Is(err, cluster.ErrTopicExists) {
		return nil
	}
	return err
}

// lookupTopic is a topic's ID and partition count from the metadata
// (consumergroup.Config.LookupTopic).
func (n *brokerNode) lookupTopic(name string) (id [16]byte, partitions int, ok bool) {
	t, ok := n.snapshot().Topics[name]
	return t.ID, int(t.Partitions), ok
}
