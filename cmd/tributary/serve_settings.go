package main

import (
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"

	"github.com/spf13/pflag"

	"github.com/tributary-io/tributary/server"
)

// Broker configuration is a Java properties file with Kafka's
// server.properties names (serve --config), chosen over YAML so that an
// operator's existing server.properties lines carry over unchanged and the
// names match what `tributary topic describe` and Kafka's docs show. Every
// setting is also a flag of the same name (--num.partitions 3) and an
// environment variable TRIBUTARY_<NAME> (TRIBUTARY_NUM_PARTITIONS=3).
// Precedence, lowest first: defaults, --config file, environment, flags
// (--<name> and --set name=value, the later one on the command line wins).

// envPrefix starts every environment variable tributary reads.
const envPrefix = "TRIBUTARY_"

// Environment variables for serve's own flags (not broker settings).
const (
	envConfig        = envPrefix + "CONFIG"
	envDataDir       = envPrefix + "DATA_DIR"
	envListen        = envPrefix + "LISTEN"
	envAdvertise     = envPrefix + "ADVERTISE"
	envMetricsListen = envPrefix + "METRICS_LISTEN"
)

// settingDocs is the one-line description of every broker setting, shown
// by `serve --help` and in deploy/tributary.properties. A test checks that
// it covers exactly the settings server.BrokerSettings knows.
var settingDocs = map[string]string{
	"auto.create.topics.enable":                 "create an unknown topic when a client produces to it or asks for its metadata",
	"compression.type":                          "default codec of stored batches; producer keeps what the producer sent",
	"connections.max.idle.ms":                   "close a client connection idle for this long",
	"connections.max.reauth.ms":                 "lifetime of a SASL session (KIP-368): told to clients, which re-authenticate before it ends; a connection that does not is closed (0: no limit)",
	"fetch.max.bytes":                           "cap on the bytes of one fetch response, whatever the client asks",
	"max.incremental.fetch.session.cache.slots": "incremental fetch sessions (KIP-227) kept; past it the least valuable is evicted or the client fetches in full (0: no sessions)",
	"group.initial.rebalance.delay.ms":          "wait this long for more members before the first rebalance of an empty group",
	"group.max.session.timeout.ms":              "largest session timeout a group member may ask for",
	"group.max.size":                            "most members one consumer group may have",
	"group.min.session.timeout.ms":              "smallest session timeout a group member may ask for",
	"log.cleaner.delete.retention.ms":           "default delete.retention.ms: how long compaction keeps tombstones",
	"log.cleaner.max.compaction.lag.ms":         "default max.compaction.lag.ms: longest a record may stay uncompacted",
	"log.cleaner.min.cleanable.ratio":           "default min.cleanable.dirty.ratio: dirty share of a log that triggers compaction",
	"log.cleaner.min.compaction.lag.ms":         "default min.compaction.lag.ms: shortest a record stays uncompacted",
	"log.cleanup.policy":                        "default cleanup.policy: delete, compact, or compact,delete",
	"log.flush.interval.messages":               "default flush.messages: fsync after this many records (1: every append)",
	"log.flush.interval.ms":                     "default flush.ms: fsync at least this often",
	"log.index.interval.bytes":                  "default index.interval.bytes: log bytes between two sparse index entries",
	"log.index.size.max.bytes":                  "default segment.index.bytes: most bytes of each index file of a segment",
	"log.level":                                 "least severe level of the broker's log lines: debug, info, warn or error (also --log-level)",
	"log.format":                                "format of the broker's log lines on stderr: text (logfmt) or json, for log aggregators (also --log-format)",
	"log.message.timestamp.type":                "default message.timestamp.type: CreateTime or LogAppendTime",
	"log.retention.bytes":                       "default retention.bytes: delete old segments past this partition size (-1: no limit)",
	"log.retention.ms":                          "default retention.ms: delete segments older than this (-1: keep forever)",
	"log.roll.ms":                               "default segment.ms: roll a new segment after this long",
	"log.retention.check.interval.ms":           "how often retention looks for segments to delete",
	"log.segment.bytes":                         "default segment.bytes: roll a new segment at this size",
	"max.connections":                           "client connections served at once; past it new ones wait in the listen backlog until one closes",
	"max.connections.per.ip":                    "connections from one IP address; a further one is closed as soon as it is accepted",
	"max.connections.per.ip.overrides":          "per-address limits replacing max.connections.per.ip: ip:limit,ip:limit (IP literals, no host names)",
	"message.max.bytes":                         "default max.message.bytes: largest record batch a topic accepts",
	"min.insync.replicas":                       "default min.insync.replicas: replicas in the ISR an acks=all produce needs, else NOT_ENOUGH_REPLICAS; a single broker accepts only 1 (cluster)",
	"num.partitions":                            "partitions of an auto-created topic or one created without a count",
	"offset.metadata.max.bytes":                 "longest metadata string a committed offset may carry",
	"offsets.commit.timeout.ms":                 "in a cluster, how long a commit or a group's assignment waits for the in-sync replicas of __consumer_offsets before COORDINATOR_NOT_AVAILABLE",
	"offsets.retention.check.interval.ms":       "how often expired committed offsets are looked for",
	"offsets.retention.minutes":                 "keep an empty group's committed offsets this long",
	"offsets.topic.num.partitions":              "partitions of __consumer_offsets (fixed once created)",
	"offsets.topic.segment.bytes":               "segment.bytes of __consumer_offsets",
	"producer.id.expiration.ms":                 "default producer.id.expiration.ms: forget an idle idempotent producer after this long",
	"queued.max.request.bytes":                  "bytes of requests read but not yet answered, across connections (0: no limit)",
	"socket.request.max.bytes":                  "largest request a client may send",
	"unclean.leader.election.enable":            "default unclean.leader.election.enable: whether a replica outside the ISR may become leader, losing acknowledged records (cluster)",

	// Bounds on what groups cost (not Kafka settings).
	"group.max.creation.rate.per.connection": "groups one connection may create per second; past it the connection is throttled as Kafka's quotas throttle (throttle_time_ms)",
	"group.metrics.max.empty.partitions":     "committed partitions of groups without members given their own series in /metrics, newest commits first (groups with members always are)",

	// Idempotent producer state.
	"max.producers.per.partition":           "default max.producers.per.partition: idempotent producers a partition keeps state for; past it the longest idle is evicted (0: no limit)",
	"producer.id.quota.rate":                "new producer ids (InitProducerId) one client id may get per second; past it THROTTLING_QUOTA_EXCEEDED with a throttle time (0: no limit)",
	"producer.id.quota.window.size.seconds": "burst of producer.id.quota.rate: a client may take the rate times this many seconds of ids at once",

	// Starting a cluster (issue 14): without controller.quorum.voters or
	// metadata.store the broker is a single broker and these change
	// nothing.
	"node.id":                               "this node's id in the cluster, its id in controller.quorum.voters if it is a voter; -1: unset (also --node-id)",
	"process.roles":                         "Kafka's roles: broker, or broker,controller for a voter; empty: a voter when node.id is in controller.quorum.voters",
	"controller.quorum.voters":              "the metadata quorum's voters (embedded etcd members) at their controller addresses: 1@host:port,2@host:port,3@host:port; empty: a single broker (also --controller-quorum-voters)",
	"controller.listener":                   "where this voter's etcd peer traffic listens (an empty or 0.0.0.0 host binds every interface); its controller.quorum.voters entry is what the others dial, and may differ (a proxy, NAT or port mapping in front: as in Kafka, the voters list is dialed, the listener bound); empty: listeners' CONTROLLER entry (also --controller-listen)",
	"controller.client.listener":            "where this voter's etcd serves the brokers; empty: the controller listener's host at its port + 1 (9093 -> 9094); every broker dials each voter at its voter entry's port + 1",
	"controller.quorum.initial.state":       "how a voter whose etcd data dir is empty starts: new (form a new quorum with the other voters) or existing (join the running quorum as the member tributary cluster add-voter added; etcd's --initial-cluster-state); a voter with an etcd log rejoins from it either way",
	"controller.quorum.election.timeout.ms": "the embedded etcd members' raft election timeout (etcd's --election-timeout; their heartbeat is a tenth of it, 10-50000): how long the metadata quorum takes no write when its leader dies, so how long a kill of that node holds up fencing and leader elections; shorter risks needless elections on a slow or loaded machine; give every voter the same",
	"metadata.store":                        "an external etcd instead of embedded voters: etcd://host:port,host:port (exclusive with controller.quorum.voters)",
	"default.replication.factor":            "replicas of an auto-created topic or one created without a replication factor (more than 1 needs a cluster)",
	"offsets.topic.replication.factor":      "replicas of __consumer_offsets; as in Kafka its creation waits (COORDINATOR_NOT_AVAILABLE) until this many brokers are live; a single broker keeps one",
	"replica.lag.time.max.ms":               "a follower that has not caught up with the leader for this long leaves the ISR",
	"broker.rack":                           "this broker's rack: replicas of a partition are spread across racks",
	"broker.session.timeout.ms":             "a broker whose lease (heartbeats) lapses for this long is fenced: it leaves every ISR and cannot lead",
	"broker.heartbeat.interval.ms":          "how often a broker renews its lease; below broker.session.timeout.ms",
	"broker.fast.fencing.enable":            "fence a broker whose process is gone (its connections closed and its inter-broker address refuses connections) at once instead of when its lease lapses; a paused, cut-off or powered-off broker still waits for broker.session.timeout.ms",
	"inter.broker.source.bind.enable":       "dial every connection to another broker or to etcd (replica fetches, fencing probes, the etcd client, etcd's peer traffic) from the host of this broker's advertised inter-broker listener, which must then be an IP of this machine, so a proxy or firewall in front of each node knows which node dials it; etcd binds its peer traffic only to a non-loopback IP",
	"inter.broker.listener.name":            "the listener brokers dial each other on (exclusive with security.inter.broker.protocol); empty: the first listener",
	"security.inter.broker.protocol":        "the protocol brokers dial each other with, naming the listener of that name (exclusive with inter.broker.listener.name)",
	"sasl.mechanism.inter.broker.protocol":  "the SASL mechanism a broker logs in to another broker's SASL inter-broker listener with, as the user of listener.name.<listener>.<mechanism>.sasl.jaas.config; no default (Kafka's GSSAPI is not served)",
	"replica.fetch.max.bytes":               "bytes a follower asks for per partition in one replica fetch",
	"replica.fetch.wait.max.ms":             "longest a follower's fetch waits at the leader for replica.fetch.min.bytes; at most replica.lag.time.max.ms",
	"replica.fetch.min.bytes":               "bytes a follower's fetch waits for at the leader",
	"num.replica.fetchers":                  "fetcher connections a follower keeps to each leader broker",
	"auto.leader.rebalance.enable":          "the active controller moves leadership back to preferred replicas (first in the assignment) that are live and in the ISR, per leader.imbalance.* (cluster)",

	// Replication throttles (KIP-73), for partition reassignments.
	"leader.replication.throttled.rate":   "bytes/s a leader sends to out-of-sync followers of the replicas a topic's leader.replication.throttled.replicas lists (default: no limit); changeable per broker at run time",
	"follower.replication.throttled.rate": "bytes/s this broker's out-of-sync replicas that a topic's follower.replication.throttled.replicas lists fetch (default: no limit); changeable per broker at run time",

	// Leader balancing (auto.leader.rebalance.enable).
	"leader.imbalance.check.interval.seconds": "how often the active controller checks the leader balance",
	"leader.imbalance.per.broker.percentage":  "share of a broker's preferred partitions (0-100) it may not lead before the controller elects it their leader again",

	// Start-up.
	"initial.broker.registration.timeout.ms": "how long a starting broker of a cluster waits for the metadata quorum to answer (the cluster ID in etcd) before it exits with an error naming the endpoints it waited for",

	// Authorization (ACLs).
	"authorizer.class.name":          "ACLs: org.apache.kafka.metadata.authorizer.StandardAuthorizer (or kafka.security.authorizer.AclAuthorizer) checks every request; empty allows everything",
	"super.users":                    "principals allowed everything by the authorizer, semicolon-separated: User:admin;User:ops",
	"allow.everyone.if.no.acl.found": "with an authorizer, a resource without any ACL is open to everyone (false: to super users only)",
}

// settingEnv is the environment variable of a broker setting:
// num.partitions → TRIBUTARY_NUM_PARTITIONS.
func settingEnv(name string) string {
	return envPrefix + strings.ToUpper(strings.NewReplacer(".", "_", "-", "_").Replace(name))
}

// settingNames lists the broker settings, sorted.
func settingNames() []string {
	d := server.DefaultBrokerSettings()
	m := d.Map()
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}

// override is one setting given on the command line, by --set name=value
// or --name value.
type override struct{ name, value string }

// overrides collects the command line's settings in order, so that the
// later of two wins as it does for any repeated flag.
type overrides struct{ list []override }

// settingFlag is the --<name> flag of one broker setting.
type settingFlag struct {
	o          *overrides
	name, def  string
	typ, value string
}

func (f *settingFlag) String() string {
	if f.value != "" {
		return f.value
	}
	return f.def
}

func (f *settingFlag) Set(v string) error {
	f.value = v
	f.o.list = append(f.o.list, override{f.name, v})
	return nil
}

func (f *settingFlag) Type() string { return f.typ }

// setFlag is --set name=value.
type setFlag struct{ o *overrides }

func (f setFlag) String() string { return "" }
func (f setFlag) Type() string   { return "name=value" }

func (f setFlag) Set(kv string) error {
	name, value, ok := strings.Cut(kv, "=")
	if !ok {
		return fmt.Errorf("--set %q: want name=value", kv)
	}
	f.o.list = append(f.o.list, override{strings.TrimSpace(name), value})
	return nil
}

// settingFlags returns a flag for every broker setting, feeding o.
func settingFlags(o *overrides) *pflag.FlagSet {
	fs := pflag.NewFlagSet("settings", pflag.ContinueOnError)
	def := server.DefaultBrokerSettings()
	defaults := def.Map()
	for _, name := range settingNames() {
		v := defaults[name]
		typ := "string"
		if _, err := strconv.ParseInt(v, 10, 64); err == nil {
			typ = "int"
		} else if _, err := strconv.ParseBool(v); err == nil {
			typ = "true|false"
		} else if _, err := strconv.ParseFloat(v, 64); err == nil {
			typ = "float"
		}
		fs.Var(&settingFlag{o: o, name: name, def: v, typ: typ}, name, settingDocs[name]+" (env "+settingEnv(name)+")")
	}
	return fs
}

// lookupEnv is os.LookupEnv; tests replace it.
type lookupEnv func(string) (string, bool)

// settingSource says where a setting's value came from, for --print-config.
type settingSource map[string]string

// brokerSettings layers defaults, the config file, the environment and the
// command line's overrides, in that order, and validates the result. A
// bad setting in one layer does not hide those of the others: the error
// names them all.
func brokerSettings(file string, env lookupEnv, sets []override) (server.BrokerSettings, settingSource, error) {
	settings := server.DefaultBrokerSettings()
	src := settingSource{}
	var errs []error
	if file != "" {
		raw, err := os.ReadFile(file)
		if err != nil {
			return settings, src, fmt.Errorf("serve: config: %w", err)
		}
		content := string(raw)
		before := settings.Map()
		if err := settings.ReadProperties(strings.NewReader(content), file); err != nil {
			errs = append(errs, err)
		}
		for k, v := range settings.Map() {
			if before[k] != v {
				src[k] = "--config " + file
			}
		}
		// A line that restates the default still came from the file.
		for _, line := range strings.Split(content, "\n") {
			line = strings.TrimSpace(line)
			if i := strings.IndexAny(line, "=:"); i > 0 && line[0] != '#' && line[0] != '!' {
				src[strings.TrimSpace(line[:i])] = "--config " + file
			}
		}
	}
	for _, name := range settingNames() {
		key := settingEnv(name)
		if v, ok := env(key); ok {
			if err := settings.Apply(name, v); err != nil {
				errs = append(errs, fmt.Errorf("serve: env %s: %w", key, err))
			}
			src[name] = "env " + key
		}
	}
	for _, s := range sets {
		if err := settings.Apply(s.name, s.value); err != nil {
			errs = append(errs, err)
		}
		src[s.name] = "flag"
	}
	if len(errs) > 0 {
		return settings, src, oneError(errs)
	}
	err := settings.Validate() // before settings is returned: it may resolve and note settings
	return settings, src, err
}

// oneError is errs as one error whose message lists them all, separated
// by "; ".
func oneError(errs []error) error {
	if len(errs) == 1 {
		return errs[0]
	}
	msgs := make([]string, len(errs))
	for i, err := range errs {
		msgs[i] = err.Error()
	}
	return fmt.Errorf("%s%w", strings.Join(msgs[:len(msgs)-1], "; ")+"; ", errs[len(errs)-1])
}

// toolEnvPrefixes are the TRIBUTARY_* variables of the repository's test
// and benchmark harnesses (bench, chaos, crash, overload and scale tests), which
// start brokers with them in the environment, and the client commands'
// security settings (TRIBUTARY_CLIENT_*); serve leaves them alone.
var toolEnvPrefixes = []string{clientEnvPrefix, envPrefix + "BENCH_", envPrefix + "TEST_", envPrefix + "CHAOS_", envPrefix + "CRASH_", envPrefix + "OVERLOAD_", envPrefix + "SCALE_",
	// the binary the harnesses run (internal/clustertest, bench)
	envPrefix + "BIN", envPrefix + "SECURITY_BIN", envPrefix + "POWERLOSS_BIN"}

// checkEnv fails on TRIBUTARY_* variables in environ that name no setting
// or flag of serve, as an unknown name in the --config file or a flag
// does: a typo there would otherwise fall back to a default silently. The
// error names each, with the closest known variable when one is close.
func checkEnv(environ []string) error {
	known := map[string]bool{envBrokers: true, envCommandConfig: true, envConfig: true, envDataDir: true, envListen: true, envAdvertise: true, envMetricsListen: true}
	for _, name := range settingNames() {
		known[settingEnv(name)] = true
	}
	names := make([]string, 0, len(known))
	for k := range known {
		names = append(names, k)
	}
	var unknown []string
	for _, kv := range environ {
		k, _, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(k, envPrefix) || known[k] || hasAnyPrefix(k, toolEnvPrefixes) {
			continue
		}
		if s := server.Suggest(k, names); s != "" {
			k += " (did you mean " + s + "?)"
		}
		unknown = append(unknown, k)
	}
	if len(unknown) == 0 {
		return nil
	}
	sort.Strings(unknown)
	return fmt.Errorf("serve: unknown environment variable %s: no such setting", strings.Join(unknown, ", "))
}

func hasAnyPrefix(s string, prefixes []string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}
