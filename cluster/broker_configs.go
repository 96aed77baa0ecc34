package cluster

// Dynamic broker configs: the broker settings an operator changes at run
// time (IncrementalAlterConfigs of a BROKER resource), kept in the
// metadata as Kafka keeps them in its metadata log, so they survive a
// restart of the broker and apply on every broker they name:
//
//	broker-configs/<node-id>   one broker's own (Kafka's DYNAMIC_BROKER_CONFIG)
//	broker-configs/default     every broker's, unless its own sets the
//	                           config (DYNAMIC_DEFAULT_BROKER_CONFIG; Kafka's
//	                           resource name "")
//
// Each value is a brokerConfigsV1 of FormatVersion 1, added within version
// 1: a broker that predates these keys leaves them out of its Snapshot
// (applyPut ignores key kinds it does not know), so it keeps its serve
// settings, as it did before; nothing it reads changes meaning. A key is
// deleted when its last config is, so an empty set is never stored.

import (
	"context"
	"fmt"
	"maps"
	"strconv"
	"strings"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// keyBrokerConfigs is the key kind of dynamic broker configs.
const keyBrokerConfigs = "broker-configs/"

// brokerConfigsDefault is the key name of the cluster-wide defaults,
// whose resource name is "" as in Kafka.
const brokerConfigsDefault = "default"

type brokerConfigsV1 struct {
	V int `json:"v"`
	// Resource is the BROKER resource name: a node id, or "" for the
	// cluster-wide defaults.
	Resource string            `json:"resource"`
	Configs  map[string]string `json:"configs"`
}

// brokerConfigsKey is the key of a BROKER resource's dynamic configs:
// "" (the cluster-wide defaults) or a node id in decimal.
func brokerConfigsKey(resource string) (string, error) {
	if resource == "" {
		return keyBrokerConfigs + brokerConfigsDefault, nil
	}
	id, err := strconv.ParseInt(resource, 10, 32)
	if err != nil || id < 0 || strconv.FormatInt(id, 10) != resource {
		return "", fmt.Errorf("cluster: broker resource %q: not a node id or \"\"", resource)
	}
	return keyBrokerConfigs + resource, nil
}

func decodeBrokerConfigs(key string, val []byte) (string, map[string]string, error) {
	var v brokerConfigsV1
	if err := decodeValue(key, val, &v); err != nil {
		return "", nil, err
	}
	if want, err := brokerConfigsKey(v.Resource); err != nil || want != key {
		return "", nil, fmt.Errorf("cluster: key %s holds the configs of broker resource %q", key, v.Resource)
	}
	return v.Resource, v.Configs, nil
}

// applyBrokerConfigsPut and applyBrokerConfigsDelete keep the Snapshot's
// BrokerConfigs; they report whether key was one of theirs.
func applyBrokerConfigsPut(snap *Snapshot, key string, val []byte) (bool, error) {
	if !strings.HasPrefix(key, keyBrokerConfigs) {
		return false, nil
	}
	res, configs, err := decodeBrokerConfigs(key, val)
	if err == nil {
		if snap.BrokerConfigs == nil {
			snap.BrokerConfigs = map[string]map[string]string{}
		}
		snap.BrokerConfigs[res] = configs
	}
	return true, err
}

func applyBrokerConfigsDelete(snap *Snapshot, key string) bool {
	name, ok := strings.CutPrefix(key, keyBrokerConfigs)
	if !ok {
		return false
	}
	if name == brokerConfigsDefault {
		name = ""
	}
	delete(snap.BrokerConfigs, name)
	return true
}

// BrokerConfig is the dynamic value of a broker config on node: the
// node's own (perBroker true), else the cluster-wide default; ok is false
// when neither sets it.
func (s *Snapshot) BrokerConfig(node int32, name string) (value string, perBroker, ok bool) {
	if v, ok := s.BrokerConfigs[strconv.FormatInt(int64(node), 10)][name]; ok {
		return v, true, true
	}
	v, ok := s.BrokerConfigs[""][name]
	return v, false, ok
}

// AlterBrokerConfigs replaces the dynamic configs of a BROKER resource
// (a node id, or "" for the cluster-wide defaults) with change applied to
// what the store holds, in one compare-and-swap of its key: change
// receives a copy of the current configs (empty when none) and returns
// the new ones, or an error that aborts (returned as is). A concurrent
// change is re-read and change applied again. It returns once the write
// is committed and, unless ctx ends first, visible in Snapshot.
func (s *EtcdStore) AlterBrokerConfigs(ctx context.Context, resource string, change func(map[string]string) (map[string]string, error)) error {
	rel, err := brokerConfigsKey(resource)
	if err != nil {
		return err
	}
	key := s.prefix + rel
	for {
		resp, err := s.client.Get(ctx, key)
		if err != nil {
			return fmt.Errorf("cluster: alter configs of broker resource %q: %w", resource, err)
		}
		cur := map[string]string{}
		cmp := clientv3.Compare(clientv3.CreateRevision(key), "=", 0)
		if len(resp.Kvs) > 0 {
			_, stored, err := decodeBrokerConfigs(rel, resp.Kvs[0].Value)
			if err != nil {
				return err
			}
			maps.Copy(cur, stored)
			cmp = clientv3.Compare(clientv3.ModRevision(key), "=", resp.Kvs[0].ModRevision)
		}
		next, err := change(maps.Clone(cur))
		if err != nil {
			return err
		}
		if maps.Equal(next, cur) {
			return nil
		}
		op := clientv3.OpDelete(key)
		if len(next) > 0 {
			op = clientv3.OpPut(key, mustJSON(brokerConfigsV1{V: FormatVersion, Resource: resource, Configs: next}))
		}
		ok, rev, err := s.txn(ctx, nil, []clientv3.Cmp{cmp}, []clientv3.Op{op})
		if err != nil {
			return fmt.Errorf("cluster: alter configs of broker resource %q: %w", resource, err)
		}
		if ok {
			s.settle(ctx, rev)
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("cluster: alter configs of broker resource %q: %w", resource, ctx.Err())
		}
	}
}
