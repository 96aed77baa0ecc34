package cluster

import (
	"context"
	"fmt"
	"maps"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// AlterTopicConfigs replaces topic's configs (Topic.Configs: its
// topic-level overrides) with change applied to what the store holds, in
// one compare-and-swap of the topic key: change receives a copy of the
// current configs and returns the new ones, or an error that aborts
// (returned as is). A concurrent change of the topic (configs, partition
// count) is re-read and change is applied again. ErrUnknownTopic if the
// topic is absent. Every broker's reconciler applies the new configs to
// its local log.
func (s *EtcdStore) AlterTopicConfigs(ctx context.Context, topic string, change func(map[string]string) (map[string]string, error)) error {
	if err := checkTopicName(topic); err != nil {
		return err
	}
	key := s.prefix + topicKey(topic)
	for {
		resp, err := s.client.Get(ctx, key)
		if err != nil {
			return fmt.Errorf("cluster: alter configs of %q: %w", topic, err)
		}
		if len(resp.Kvs) == 0 {
			return fmt.Errorf("cluster: alter configs of %q: %w", topic, ErrUnknownTopic)
		}
		t, err := decodeTopic(topicKey(topic), resp.Kvs[0].Value)
		if err != nil {
			return err
		}
		configs, err := change(maps.Clone(t.Configs))
		if err != nil {
			return err
		}
		t.Configs = configs
		if len(t.Configs) == 0 {
			t.Configs = nil
		}
		cmps := []clientv3.Cmp{clientv3.Compare(clientv3.ModRevision(key), "=", resp.Kvs[0].ModRevision)}
		ok, rev, err := s.txn(ctx, nil, cmps, []clientv3.Op{clientv3.OpPut(key, encodeTopic(t))})
		if err != nil {
			return fmt.Errorf("cluster: alter configs of %q: %w", topic, err)
		}
		if ok {
			s.settle(ctx, rev)
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("cluster: alter configs of %q: %w", topic, ctx.Err())
		}
	}
}
