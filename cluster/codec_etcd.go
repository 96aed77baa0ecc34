package cluster

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// FormatVersion is the version every value this code writes carries in
// its "v" field. Compatibility rule: a reader reads versions 1 through
// FormatVersion; fields are only ever added within a version (older
// readers ignore them), and a change an older reader would misread bumps
// the version. A value of a higher version than the reader knows is not
// guessed at: the key is left out of the Snapshot and logged as an error,
// so a cluster is upgraded (every broker reads N) before anything writes N.
const FormatVersion = 1

// Key kinds under a cluster's prefix, /<root>/<cluster-id>/.
const (
	keyBrokers    = "brokers/"    // brokers/<node-id>: Broker, bound to the broker's lease
	keyTopics     = "topics/"     // topics/<name>: Topic
	keyPartitions = "partitions/" // partitions/<topic>/<partition>: PartitionState
	keyController = "controller"  // controller/<lease-id hex>: election candidates
	// keyStaging marks a topic whose partitions are being written in
	// several transactions (stage_etcd.go): staging/<name>: stagingV1,
	// bound to the writer's lease. A key kind older brokers ignore.
	keyStaging = "staging/"
	// keyProducerIDs is the next producer ID no broker has taken a block
	// of (producerids.go); not part of the Snapshot.
	keyProducerIDs = "producer-ids"
)

type endpointV1 struct {
	Listener         string `json:"listener"`
	SecurityProtocol string `json:"security_protocol"`
	Host             string `json:"host"`
	Port             int32  `json:"port"`
}

type brokerV1 struct {
	V         int          `json:"v"`
	NodeID    int32        `json:"node_id"`
	Rack      string       `json:"rack,omitempty"`
	Endpoints []endpointV1 `json:"endpoints"`
	// Incarnation is Broker.Incarnation when this registration is not
	// the process's first; absent (0), it is this key's create revision.
	Incarnation int64 `json:"incarnation,omitempty"`
}

type topicV1 struct {
	V          int               `json:"v"`
	Name       string            `json:"name"`
	ID         string            `json:"id"` // 32 hex digits
	Partitions int32             `json:"partitions"`
	Configs    map[string]string `json:"configs,omitempty"`
}

type partitionV1 struct {
	V              int     `json:"v"`
	Topic          string  `json:"topic"`
	Partition      int32   `json:"partition"`
	Replicas       []int32 `json:"replicas"`
	ISR            []int32 `json:"isr"`
	Leader         int32   `json:"leader"`
	LeaderEpoch    int32   `json:"leader_epoch"`
	PartitionEpoch int32   `json:"partition_epoch"`
	// A reassignment in progress (added within version 1: a reader
	// that ignores them sees the union of old and new replicas).
	TargetReplicas   []int32 `json:"target_replicas,omitempty"`
	AddingReplicas   []int32 `json:"adding_replicas,omitempty"`
	RemovingReplicas []int32 `json:"removing_replicas,omitempty"`
}

// stagingV1 is a staged creation's or growth's claim on a topic name:
// partitions From to To-1 of the topic ID are being written.
type stagingV1 struct {
	V    int    `json:"v"`
	ID   string `json:"id"` // 32 hex digits
	From int32  `json:"from"`
	To   int32  `json:"to"`
}

type controllerV1 struct {
	V      int   `json:"v"`
	NodeID int32 `json:"node_id"`
}

type producerIDsV1 struct {
	V int `json:"v"`
	// Next is required: a value without it must not restart the IDs at 0.
	Next *int64 `json:"next"`
}

func encodeBroker(b Broker) string {
	v := brokerV1{V: FormatVersion, NodeID: b.NodeID, Rack: b.Rack, Endpoints: []endpointV1{}, Incarnation: b.Incarnation}
	for _, e := range b.Endpoints {
		v.Endpoints = append(v.Endpoints, endpointV1(e))
	}
	return mustJSON(v)
}

func encodeTopic(t Topic) string {
	return mustJSON(topicV1{V: FormatVersion, Name: t.Name, ID: hex.EncodeToString(t.ID[:]), Partitions: t.Partitions, Configs: t.Configs})
}

func encodePartition(p PartitionState) string {
	if b, ok := appendPartitionV1(make([]byte, 0, 128), p); ok {
		return string(b)
	}
	return mustJSON(partitionV1{
		V: FormatVersion, Topic: p.Topic, Partition: p.Partition,
		Replicas: nonNil(p.Replicas), ISR: nonNil(p.ISR),
		Leader: p.Leader, LeaderEpoch: p.LeaderEpoch, PartitionEpoch: p.PartitionEpoch,
		TargetReplicas: p.TargetReplicas, AddingReplicas: p.AddingReplicas, RemovingReplicas: p.RemovingReplicas,
	})
}

func encodeStaging(id [16]byte, from, to int32) string {
	return mustJSON(stagingV1{V: FormatVersion, ID: hex.EncodeToString(id[:]), From: from, To: to})
}

func encodeController(node int32) string {
	return mustJSON(controllerV1{V: FormatVersion, NodeID: node})
}

func encodeProducerIDs(next int64) string {
	return mustJSON(producerIDsV1{V: FormatVersion, Next: &next})
}

func nonNil(s []int32) []int32 {
	if s == nil {
		return []int32{}
	}
	return s
}

// mustJSON marshals values built from plain fields, which cannot fail.
func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic("cluster: marshal " + err.Error())
	}
	return string(b)
}

// decodeValue unmarshals a value after checking its format version.
func decodeValue(key string, val []byte, v any) error {
	var head struct {
		V int `json:"v"`
	}
	if err := json.Unmarshal(val, &head); err != nil {
		return fmt.Errorf("cluster: key %s: %w", key, err)
	}
	if head.V < 1 || head.V > FormatVersion {
		return fmt.Errorf("cluster: key %s: format version %d, this broker reads 1 to %d", key, head.V, FormatVersion)
	}
	if err := json.Unmarshal(val, v); err != nil {
		return fmt.Errorf("cluster: key %s: %w", key, err)
	}
	return nil
}

func decodeBroker(key string, val []byte, epoch int64) (Broker, error) {
	var v brokerV1
	if err := decodeValue(key, val, &v); err != nil {
		return Broker{}, err
	}
	if strconv.FormatInt(int64(v.NodeID), 10) != strings.TrimPrefix(key, keyBrokers) {
		return Broker{}, fmt.Errorf("cluster: key %s holds node %d", key, v.NodeID)
	}
	b := Broker{NodeID: v.NodeID, Rack: v.Rack, Epoch: epoch, Incarnation: v.Incarnation}
	if b.Incarnation <= 0 || b.Incarnation > epoch {
		b.Incarnation = epoch
	}
	for _, e := range v.Endpoints {
		b.Endpoints = append(b.Endpoints, Endpoint(e))
	}
	return b, nil
}

func decodeTopic(key string, val []byte) (Topic, error) {
	var v topicV1
	if err := decodeValue(key, val, &v); err != nil {
		return Topic{}, err
	}
	if v.Name != strings.TrimPrefix(key, keyTopics) {
		return Topic{}, fmt.Errorf("cluster: key %s holds topic %q", key, v.Name)
	}
	t := Topic{Name: v.Name, Partitions: v.Partitions, Configs: v.Configs}
	id, err := hex.DecodeString(v.ID)
	if err != nil || len(id) != len(t.ID) {
		return Topic{}, fmt.Errorf("cluster: key %s: topic id %q is not 32 hex digits", key, v.ID)
	}
	copy(t.ID[:], id)
	return t, nil
}

func decodePartition(key string, val []byte, version int64) (PartitionState, error) {
	if p, ok := parsePartitionV1(val); ok {
		if !isPartitionKey(key, p.Topic, p.Partition) {
			return PartitionState{}, fmt.Errorf("cluster: key %s holds partition %s-%d", key, p.Topic, p.Partition)
		}
		p.Version = version
		return p, nil
	}
	return decodePartitionJSON(key, val, version)
}

// decodePartitionJSON is decodePartition through encoding/json: any form
// of the value the fast path (parsePartitionV1) declines.
func decodePartitionJSON(key string, val []byte, version int64) (PartitionState, error) {
	var v partitionV1
	if err := decodeValue(key, val, &v); err != nil {
		return PartitionState{}, err
	}
	if partitionKey(v.Topic, v.Partition) != key {
		return PartitionState{}, fmt.Errorf("cluster: key %s holds partition %s-%d", key, v.Topic, v.Partition)
	}
	return PartitionState{
		Topic: v.Topic, Partition: v.Partition, Replicas: v.Replicas, ISR: v.ISR,
		Leader: v.Leader, LeaderEpoch: v.LeaderEpoch, PartitionEpoch: v.PartitionEpoch,
		TargetReplicas: v.TargetReplicas, AddingReplicas: v.AddingReplicas, RemovingReplicas: v.RemovingReplicas,
		Version: version,
	}, nil
}

func decodeController(key string, val []byte) (int32, error) {
	var v controllerV1
	if err := decodeValue(key, val, &v); err != nil {
		return 0, err
	}
	return v.NodeID, nil
}

func decodeProducerIDs(key string, val []byte) (int64, error) {
	var v producerIDsV1
	if err := decodeValue(key, val, &v); err != nil {
		return 0, err
	}
	switch {
	case v.Next == nil:
		return 0, fmt.Errorf("cluster: key %s: no next producer id", key)
	case *v.Next < 0:
		return 0, fmt.Errorf("cluster: key %s: negative next producer id %d", key, *v.Next)
	}
	return *v.Next, nil
}

// Keys relative to the cluster prefix.
func brokerKey(node int32) string    { return keyBrokers + strconv.FormatInt(int64(node), 10) }
func topicKey(name string) string    { return keyTopics + name }
func stagingKey(topic string) string { return keyStaging + topic }
func partitionsPrefix(topic string) string {
	return keyPartitions + topic + "/"
}
func partitionKey(topic string, p int32) string {
	return partitionsPrefix(topic) + strconv.FormatInt(int64(p), 10)
}

// maxTopicNameLen is Kafka's limit on a topic name's length.
const maxTopicNameLen = 249

// checkTopicName rejects names that are not Kafka topic names (legal
// characters [a-zA-Z0-9._-]); they could not be keys under our layout.
func checkTopicName(name string) error {
	if name == "" || name == "." || name == ".." || len(name) > maxTopicNameLen {
		return fmt.Errorf("cluster: invalid topic name %q", name)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return fmt.Errorf("cluster: invalid topic name %q: only [a-zA-Z0-9._-] allowed", name)
		}
	}
	return nil
}
