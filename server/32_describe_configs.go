package server

// DescribeConfigs, versions 0-4.
//
//	v1   IncludeSynonyms in the request; Source per config and synonyms in
//	     the response (IsDefault is v0's field)
//	v2   no wire change (throttle applied after the response, KIP-219)
//	v3   IncludeDocumentation; config type and documentation (KIP-569)
//	v4   flexible
//
// Topic resources list every topic config of package log: a topic's own
// override (DYNAMIC_TOPIC_CONFIG), else the broker's default for it
// (STATIC_BROKER_CONFIG when the broker's properties set it, DEFAULT_CONFIG
// when it is Kafka's default). Synonyms list the same chain, highest
// precedence first, under the topic name then Kafka's broker name.
//
// Broker resources list the broker's settings by Kafka's server.properties
// names. A broker answers for its own node.id (0 on a single broker; a
// cluster broker's node.id), and for "", Kafka's name of the cluster-wide
// dynamic defaults: in a cluster those alone, as Kafka describes them; a
// single broker has none, and describes its own settings there too.
// Another broker's id is refused with INVALID_REQUEST, as Kafka's broker
// refuses it: clients (kadm, kafka-configs) send a broker's resource to
// that broker. Identity settings (node.id,
// broker.id, broker.rack, advertised.listeners, log.dirs) carry this
// node's values. Every setting is read-only but a cluster broker's
// replication throttle rates, whose dynamic values come from the cluster
// metadata (cluster_throttle.go).

import (
	"net"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/tributary-io/tributary/auth"
	tlog "github.com/tributary-io/tributary/log"
)

func init() { register(32, 0, 4, handleDescribeConfigs) }

func handleDescribeConfigs(c *conn, h *reqHeader, req *kmsg.DescribeConfigsRequest) (kmsg.Response, error) {
	s := c.s
	resp := req.ResponseKind().(*kmsg.DescribeConfigsResponse)
	d := s.newConfigDescriber(req.Version >= 1 && req.IncludeSynonyms, req.Version >= 3 && req.IncludeDocumentation)
	resp.Resources = make([]kmsg.DescribeConfigsResponseResource, len(req.Resources))
	for i := range req.Resources {
		rr := &req.Resources[i]
		sr := &resp.Resources[i]
		*sr = kmsg.NewDescribeConfigsResponseResource()
		sr.ResourceType, sr.ResourceName = rr.ResourceType, rr.ResourceName
		if code := c.authorizeConfigs(h.key, auth.OpDescribeConfigs, rr.ResourceType, rr.ResourceName); code != 0 {
			sr.ErrorCode = code
			s.metrics.errorCode(h.key, sr.ErrorCode)
			continue
		}
		switch rr.ResourceType {
		case kmsg.ConfigResourceTypeTopic:
			if err := tlog.ValidateTopicName(rr.ResourceName); err != nil {
				sr.ErrorCode, sr.ErrorMessage = kerr.InvalidTopicException.Code, errorMessage(err)
				break
			}
			t, ok := s.topic(rr.ResourceName)
			if !ok {
				sr.ErrorCode = kerr.UnknownTopicOrPartition.Code
				sr.ErrorMessage = adminMsg("Topic %q does not exist.", rr.ResourceName)
				break
			}
			sr.Configs = d.topic(t, rr.ConfigNames)
		case kmsg.ConfigResourceTypeBroker:
			if code, msg := s.checkBrokerResource(rr.ResourceName); code != 0 {
				sr.ErrorCode, sr.ErrorMessage = code, msg
				break
			}
			sr.Configs = d.broker(rr.ResourceName, rr.ConfigNames)
		default:
			sr.ErrorCode = kerr.InvalidRequest.Code
			sr.ErrorMessage = adminMsg("Unsupported resource type %v (%d): this broker describes TOPIC and BROKER configs.", rr.ResourceType, int8(rr.ResourceType))
		}
		if sr.ErrorCode == 0 && !d.spend(sr.Configs) {
			sr.Configs = nil
			sr.ErrorCode = kerr.InvalidRequest.Code
			if !d.refused {
				// Only the first refusal says why, so the
				// refusals cost no more than the request did.
				sr.ErrorMessage, d.refused = msgTooManyConfigs, true
			}
		}
		s.metrics.errorCode(h.key, sr.ErrorCode)
	}
	return resp, nil
}

// maxDescribedConfigBytes bounds the config descriptions one request may
// ask for (DescribeConfigs, or CreateTopics v5+ which describes each new
// topic). A resource of a few bytes asks for a dozen configs with synonyms
// and documentation, so without a cap a request repeating one resource
// would make the broker build a response hundreds of times its size. Kafka
// has no such cap; at about 750 bytes per topic described with synonyms,
// this one passes some 20,000 topics per request, and resources past it
// are refused with INVALID_REQUEST (describe them in another request).
const maxDescribedConfigBytes = 16 << 20

var msgTooManyConfigs = adminMsg("Too many configs described in one request (over %d MiB): describe fewer resources per request.", maxDescribedConfigBytes>>20)

// configDescriber describes configs for one request: the defaults are read
// once, a topic asked for again shares its first answer, and the total is
// held to maxDescribedConfigBytes.
type configDescriber struct {
	s              *Server
	synonyms, docs bool
	brokerDefaults map[string]string // topic config name -> the broker's default
	kafkaDefaults  map[string]string // topic config name -> Kafka's default
	topics         map[*tlog.Topic][]kmsg.DescribeConfigsResponseResourceConfig
	brokerConfigs  []kmsg.DescribeConfigsResponseResourceConfig
	budget         int  // bytes of descriptions left
	refused        bool // a resource was refused for lack of budget
}

func (s *Server) newConfigDescriber(synonyms, docs bool) *configDescriber {
	return &configDescriber{
		s:              s,
		synonyms:       synonyms,
		docs:           docs,
		brokerDefaults: s.topicDefaults(),
		kafkaDefaults:  tlog.DefaultConfig().Map(),
		topics:         make(map[*tlog.Topic][]kmsg.DescribeConfigsResponseResourceConfig),
		budget:         maxDescribedConfigBytes,
	}
}

// spend takes the encoded size of cs from the budget, or reports that it
// does not fit.
func (d *configDescriber) spend(cs []kmsg.DescribeConfigsResponseResourceConfig) bool {
	n := 0
	for i := range cs {
		c := &cs[i]
		n += 16 + len(c.Name) // flags, source, type and length prefixes
		if c.Value != nil {
			n += len(*c.Value)
		}
		for _, sy := range c.ConfigSynonyms {
			n += 8 + len(sy.Name) + len(*sy.Value)
		}
		if c.Documentation != nil {
			n += len(*c.Documentation)
		}
	}
	if n > d.budget {
		return false
	}
	d.budget -= n
	return true
}

// topic describes a topic's configs, all of them when names is nil.
func (d *configDescriber) topic(t *tlog.Topic, names []string) []kmsg.DescribeConfigsResponseResourceConfig {
	if names == nil {
		if cs, ok := d.topics[t]; ok {
			return cs
		}
	}
	cs := d.topicConfigs(d.s.topicOverrides(t), configFilter(names))
	if names == nil {
		d.topics[t] = cs
	}
	return cs
}

// broker describes the broker resource's settings, all of them when
// names is nil: in a cluster, "" is the cluster-wide dynamic defaults
// alone, as in Kafka; else this broker's settings.
func (d *configDescriber) broker(resource string, names []string) []kmsg.DescribeConfigsResponseResourceConfig {
	if resource == "" && d.s.node != nil {
		return d.clusterDefaults(configFilter(names))
	}
	if names == nil && d.brokerConfigs != nil {
		return d.brokerConfigs
	}
	cs := d.brokerSettings(configFilter(names))
	if names == nil {
		d.brokerConfigs = cs
	}
	return cs
}

// configFilter is the requested ConfigNames as a predicate; nil keeps all,
// as a null list asks for every config (an empty list asks for none).
func configFilter(names []string) func(string) bool {
	if names == nil {
		return nil
	}
	set := make(map[string]bool, len(names))
	for _, n := range names {
		set[n] = true
	}
	return func(n string) bool { return set[n] }
}

// checkBrokerResource accepts the names Kafka accepts for a broker
// resource on this broker: its id, or "" for the cluster's defaults.
func (s *Server) checkBrokerResource(name string) (int16, *string) {
	if name == "" {
		return 0, nil
	}
	id, err := strconv.ParseInt(name, 10, 32)
	if err != nil {
		return kerr.InvalidRequest.Code, adminMsg("Broker id must be an integer, but it is: %q.", name)
	}
	if self := s.nodeID(); id != int64(self) {
		return kerr.InvalidRequest.Code, adminMsg("Unexpected broker id, expected %d or empty string, but received %d: describe or alter a broker's configs on that broker.", self, id)
	}
	return 0, nil
}

// nodeID is this broker's node.id: a cluster node's own, else NodeID.
func (s *Server) nodeID() int32 {
	if s.node != nil {
		return s.node.self
	}
	return NodeID
}

// topicConfigs describes every topic config of package log for a topic
// with the given overrides, keeping those keep accepts (all if nil).
func (d *configDescriber) topicConfigs(overrides map[string]string, keep func(string) bool) []kmsg.DescribeConfigsResponseResourceConfig {
	broker, kafka := d.brokerDefaults, d.kafkaDefaults
	var out []kmsg.DescribeConfigsResponseResourceConfig
	for _, name := range tlog.ConfigNames() {
		if keep != nil && !keep(name) {
			continue
		}
		bname := brokerNameOf(name)
		// Precedence chain, highest first: the topic's override, the
		// broker's setting when it differs from Kafka's, Kafka's default.
		var chain []kmsg.DescribeConfigsResponseResourceConfigConfigSynonym
		if v, ok := overrides[name]; ok {
			chain = append(chain, synonym(name, v, kmsg.ConfigSourceDynamicTopicConfig))
		}
		if broker[name] != kafka[name] {
			chain = append(chain, synonym(bname, broker[name], kmsg.ConfigSourceStaticBrokerConfig))
		}
		chain = append(chain, synonym(bname, kafka[name], kmsg.ConfigSourceDefaultConfig))
		out = append(out, describedConfig(name, chain, false, d.synonyms, d.docs))
	}
	return out
}

// brokerSettings describes the broker's settings by Kafka's broker names,
// keeping those keep accepts (all if nil).
func (d *configDescriber) brokerSettings(keep func(string) bool) []kmsg.DescribeConfigsResponseResourceConfig {
	s := d.s
	// A single broker's cluster settings are the defaults; a cluster
	// node's are the ones it started with.
	cc := DefaultClusterConfig()
	if s.node != nil {
		cc = s.node.cfg
	}
	settings := BrokerSettings{Server: s.cfg, Topics: s.mgr.Defaults(), Cluster: cc, RetentionCheckInterval: s.mgr.RetentionCheckInterval()}
	values := settings.Map()
	kafka := DefaultBrokerSettings()
	defaults := kafka.Map()
	// Identity settings Kafka reports too; none has a usable default.
	id := strconv.Itoa(int(s.nodeID()))
	dir := s.mgr.Dir()
	if abs, err := filepath.Abs(dir); err == nil {
		dir = abs
	}
	for name, v := range map[string]string{"node.id": id, "broker.id": id, "log.dirs": dir, kafkaAdvertisedListeners: s.advertisedListeners()} {
		values[name] = v
		defaults[name] = kafkaBrokerIdentityDefaults[name]
	}
	names := make([]string, 0, len(values))
	for n := range values {
		if keep == nil || keep(n) {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	snap := s.node.snapshot() // a single broker's is empty
	out := make([]kmsg.DescribeConfigsResponseResourceConfig, 0, len(names))
	for _, name := range names {
		// Precedence, highest first: this broker's dynamic config, the
		// cluster-wide dynamic default, the static setting, Kafka's
		// default. Only the throttle rates are dynamic.
		var chain []kmsg.DescribeConfigsResponseResourceConfigConfigSynonym
		dynamic := s.node != nil && throttleRateConfig(name)
		if dynamic {
			if v, ok := snap.BrokerConfigs[strconv.Itoa(int(s.node.self))][name]; ok {
				chain = append(chain, synonym(name, v, kmsg.ConfigSourceDynamicBrokerConfig))
			}
			if v, ok := snap.BrokerConfigs[""][name]; ok {
				chain = append(chain, synonym(name, v, kmsg.ConfigSourceDynamicDefaultBrokerConfig))
			}
		}
		if values[name] != defaults[name] {
			chain = append(chain, synonym(name, values[name], kmsg.ConfigSourceStaticBrokerConfig))
		}
		chain = append(chain, synonym(name, defaults[name], kmsg.ConfigSourceDefaultConfig))
		out = append(out, describedConfig(name, chain, !dynamic, d.synonyms, d.docs))
	}
	return out
}

// clusterDefaults describes the cluster-wide dynamic broker configs (the
// resource ""), keeping those keep accepts (all if nil).
func (d *configDescriber) clusterDefaults(keep func(string) bool) []kmsg.DescribeConfigsResponseResourceConfig {
	set := d.s.node.snapshot().BrokerConfigs[""]
	names := make([]string, 0, len(set))
	for n := range set {
		if keep == nil || keep(n) {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	out := make([]kmsg.DescribeConfigsResponseResourceConfig, 0, len(names))
	for _, name := range names {
		chain := []kmsg.DescribeConfigsResponseResourceConfigConfigSynonym{synonym(name, set[name], kmsg.ConfigSourceDynamicDefaultBrokerConfig)}
		out = append(out, describedConfig(name, chain, false, d.synonyms, d.docs))
	}
	return out
}

// kafkaBrokerIdentityDefaults are Kafka's defaults of the identity
// settings describeBrokerConfigs adds.
var kafkaBrokerIdentityDefaults = map[string]string{"node.id": "-1", "broker.id": "-1", "log.dirs": "/tmp/kafka-logs", kafkaAdvertisedListeners: ""}

// advertisedListeners is advertised.listeners as Kafka writes it,
// NAME://host:port of every listener served, sorted by name.
func (s *Server) advertisedListeners() string {
	s.mu.Lock()
	eps := make([]string, 0, len(s.listeners))
	for _, sl := range s.listeners {
		eps = append(eps, sl.name+"://"+net.JoinHostPort(sl.advHost, strconv.Itoa(int(sl.advPort))))
	}
	s.mu.Unlock()
	sort.Strings(eps)
	return strings.Join(eps, ",")
}

func synonym(name, value string, src kmsg.ConfigSource) kmsg.DescribeConfigsResponseResourceConfigConfigSynonym {
	sy := kmsg.NewDescribeConfigsResponseResourceConfigConfigSynonym()
	sy.Name, sy.Value, sy.Source = name, &value, src
	return sy
}

// describedConfig is one config whose effective value is the head of its
// precedence chain.
func describedConfig(name string, chain []kmsg.DescribeConfigsResponseResourceConfigConfigSynonym, readOnly, synonyms, docs bool) kmsg.DescribeConfigsResponseResourceConfig {
	dc := kmsg.NewDescribeConfigsResponseResourceConfig()
	dc.Name = name
	dc.Value = chain[0].Value
	dc.Source = chain[0].Source
	dc.IsDefault = dc.Source == kmsg.ConfigSourceDefaultConfig
	dc.ReadOnly = readOnly
	if synonyms {
		dc.ConfigSynonyms = chain
	}
	info := configInfoOf(name)
	dc.ConfigType = info.typ
	if docs {
		doc := info.doc
		dc.Documentation = &doc
	}
	return dc
}

// configInfo is what DescribeConfigs v3+ says about a setting.
type configInfo struct {
	typ kmsg.ConfigType
	doc string
}

// topicConfigInfos describe the topic configs by their topic names; their
// broker-level defaults share them.
var topicConfigInfos = map[string]configInfo{
	tlog.ConfigSegmentBytes:           {kmsg.ConfigTypeInt, "The size of a segment file: the log rolls to a new segment when the active one would grow past it."},
	tlog.ConfigSegmentMs:              {kmsg.ConfigTypeLong, "The time after which the log rolls to a new segment even if the active one is not full, so retention can delete old data."},
	tlog.ConfigSegmentIndexBytes:      {kmsg.ConfigTypeInt, "The size of the offset and time indexes of a segment."},
	tlog.ConfigIndexIntervalBytes:     {kmsg.ConfigTypeInt, "How many bytes of batches the log appends between two entries of the sparse offset index."},
	tlog.ConfigRetentionMs:            {kmsg.ConfigTypeLong, "The maximum time a segment is kept before it is deleted; -1 keeps data forever."},
	tlog.ConfigRetentionBytes:         {kmsg.ConfigTypeLong, "The maximum size a partition's log grows to before its oldest segments are deleted; -1 is unlimited."},
	tlog.ConfigMaxMessageBytes:        {kmsg.ConfigTypeInt, "The largest record batch the log accepts."},
	tlog.ConfigCleanupPolicy:          {kmsg.ConfigTypeList, "The retention policy of old segments: delete removes them by retention.ms and retention.bytes, compact keeps the latest record of each key (the log cleaner), or both."},
	tlog.ConfigFlushMessages:          {kmsg.ConfigTypeLong, "The number of records appended after which the log is fsynced; 1 fsyncs every append."},
	tlog.ConfigFlushMs:                {kmsg.ConfigTypeLong, "The maximum time appended data stays in the page cache before the log is fsynced."},
	tlog.ConfigMessageTimestampType:   {kmsg.ConfigTypeString, "Whether record timestamps are the producer's (CreateTime) or the broker's append time (LogAppendTime)."},
	tlog.ConfigProducerIDExpirationMs: {kmsg.ConfigTypeInt, "How long an idempotent producer's state is kept after its last append."},
	"compression.type":                {kmsg.ConfigTypeString, "The compression codec of stored batches; producer keeps the codec the producer used."},
	tlog.ConfigDeleteRetentionMs:      {kmsg.ConfigTypeLong, "How long a tombstone (a record with a null value) of a compacted topic is kept after it was written, so consumers reading from the start see the delete."},
	tlog.ConfigMinCleanableDirtyRatio: {kmsg.ConfigTypeDouble, "The share of a compacted log's sealed bytes not yet cleaned at which the log cleaner cleans it."},
	tlog.ConfigMinCompactionLagMs:     {kmsg.ConfigTypeLong, "The minimum time a record stays uncompacted after it was written."},
	tlog.ConfigMaxCompactionLagMs:     {kmsg.ConfigTypeLong, "The maximum time a record stays uncompacted: past it the log is cleaned whatever its dirty ratio."},

	// Not Kafka's: Kafka bounds producer state by producer.id.expiration.ms alone.
	tlog.ConfigMaxProducersPerPartition: {kmsg.ConfigTypeInt, "The most idempotent producers a partition keeps state for; a new one past it evicts the one whose last append is the oldest, which is then answered as an expired producer. 0 is no limit."},

	// Replication only: each partition has one replica here.
	tlog.ConfigMinInsyncReplicas:                    {kmsg.ConfigTypeInt, "The replicas that must be in sync for an acks=all produce to succeed. Each partition has one replica on this single broker, so 1 is the only value accepted."},
	tlog.ConfigLeaderReplicationThrottledReplicas:   {kmsg.ConfigTypeList, "The replicas, as partition:broker pairs or * for all, whose leaders limit what they send to out-of-sync followers to the broker's leader.replication.throttled.rate (in a cluster)."},
	tlog.ConfigFollowerReplicationThrottledReplicas: {kmsg.ConfigTypeList, "The replicas, as partition:broker pairs or * for all, that fetch from their leaders at most the broker's follower.replication.throttled.rate while out of sync (in a cluster)."},
	tlog.ConfigUncleanLeaderElectionEnable:          {kmsg.ConfigTypeBoolean, "Whether a replica that is not in sync may be elected leader, at the risk of data loss. Each partition has one replica on this single broker, so there is never another to elect; the setting has no effect."},
}

// brokerConfigInfos describe the broker's own settings.
var brokerConfigInfos = map[string]configInfo{
	BrokerAutoCreateTopics:             {kmsg.ConfigTypeBoolean, "Whether Metadata and Produce requests for an unknown topic create it."},
	BrokerNumPartitions:                {kmsg.ConfigTypeInt, "The number of partitions of auto-created topics and of CreateTopics requests that leave it to the broker."},
	BrokerSocketRequestMaxBytes:        {kmsg.ConfigTypeInt, "The largest request the broker reads; a larger one closes the connection."},
	BrokerConnectionsMaxIdleMs:         {kmsg.ConfigTypeLong, "How long a connection may stay idle before the broker closes it."},
	BrokerFetchMaxBytes:                {kmsg.ConfigTypeInt, "The broker's cap on the size of one fetch response."},
	BrokerFetchSessionCacheSlots:       {kmsg.ConfigTypeInt, "The incremental fetch sessions (KIP-227) the broker keeps; 0 declines them."},
	BrokerQueuedMaxRequestBytes:        {kmsg.ConfigTypeInt, "Request bytes the broker decodes and handles at once across connections; a request that does not fit waits."},
	BrokerMaxConnections:               {kmsg.ConfigTypeInt, "The most client connections served at once; past it new connections wait in the listen backlog until one closes."},
	BrokerMaxConnectionsPerIP:          {kmsg.ConfigTypeInt, "The most connections from one IP address; a further one is closed as soon as it is accepted."},
	BrokerMaxConnectionsPerIPOverrides: {kmsg.ConfigTypeString, "Per-address limits replacing max.connections.per.ip, as a comma-separated list of address:limit (IP addresses only)."},
	"node.id":                          {kmsg.ConfigTypeInt, "The broker's node id: 0 on a single broker (the only broker and controller), the id among the brokers in a cluster."},
	kafkaAdvertisedListeners:           {kmsg.ConfigTypeList, "The listeners' addresses clients are told to connect to, as NAME://host:port."},
	"broker.id":                        {kmsg.ConfigTypeInt, "The broker's id: the same as node.id."},
	"log.dirs":                         {kmsg.ConfigTypeList, "The data directory holding every partition's log."},
}

// extraBrokerNames are Kafka's broker names of topic configs whose default
// the broker's properties cannot set (so BrokerTopicDefaults lacks them).
var extraBrokerNames = map[string]string{
	tlog.ConfigSegmentIndexBytes: "log.index.size.max.bytes",
}

// brokerNameOf is the Kafka broker-level name of a topic config's default.
func brokerNameOf(topicName string) string {
	for b, t := range BrokerTopicDefaults {
		if t == topicName {
			return b
		}
	}
	if b, ok := extraBrokerNames[topicName]; ok {
		return b
	}
	return topicName
}

func configInfoOf(name string) configInfo {
	if info, ok := topicConfigInfos[name]; ok {
		return info
	}
	if t, ok := BrokerTopicDefaults[name]; ok {
		if info, ok := topicConfigInfos[t]; ok {
			return info
		}
	}
	if info, ok := brokerConfigInfos[name]; ok {
		return info
	}
	if info, ok := clusterConfigInfos[name]; ok {
		return info
	}
	return configInfo{typ: kmsg.ConfigTypeString}
}

// listConfig reports the configs whose values are comma-separated lists,
// the only ones IncrementalAlterConfigs may APPEND to or SUBTRACT from.
func listConfig(name string) bool {
	return configInfoOf(name).typ == kmsg.ConfigTypeList
}
