package server

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	tlog "github.com/tributary-io/tributary/log"
)

// A server.properties written for Kafka loads here as it is. Every name of
// Kafka's broker configuration reference (the ConfigDefs merged by
// AbstractKafkaConfig in Kafka 3.x and 4.x: ServerConfigs, ZkConfigs,
// KRaftConfigs, QuorumConfig, SocketServerConfigs, ServerLogConfigs,
// CleanerConfig, ReplicationConfigs, GroupCoordinatorConfig,
// ShareGroupConfig, ShareCoordinatorConfig, TransactionLogConfig,
// TransactionStateManagerConfig, QuotaConfig, MetricConfigs,
// BrokerSecurityConfigs with SslConfigs and SaslConfigs,
// DelegationTokenManagerConfigs, PasswordEncoderConfigs,
// RemoteLogManagerConfig) is one of three things:
//
//   - implemented: one of this broker's settings (Map), or one of the
//     names applyKafka translates (listeners, log.dirs, log.retention.hours
//     and the other units of a duration);
//   - accepted as not applying, with the reason (kafkaNotApplying, and
//     kafkaConditional when the value is the harmless one): they are
//     collected in Ignored and named once when the broker starts;
//   - refused, saying what is missing (kafkaRefused, and kafkaConditional
//     otherwise): TLS, SASL, Java authorizer plugins, replication above one replica,
//     tiered storage, Java plugins. Accepting them would let a broker
//     start without the protection or the copies its operator asked for.
//
// Anything else is an unknown name, an error with the closest known name
// as a suggestion.

// Reasons a Kafka setting does not apply here, as the start-up note says
// them.
const (
	whyZooKeeper   = "no ZooKeeper: metadata lives in the data dir"
	whyKRaft       = "no controller quorum: one broker is its own controller"
	whyCluster     = "one broker: no other brokers, racks or controlled shutdown"
	whyReplication = "one replica per partition: nothing to replicate, fetch or rebalance"
	whyThreads     = "Go schedules the work: no thread pools, purgatories or JVM buffers to size"
	whySockets     = "the kernel's socket buffer and backlog defaults are used"
	whyFormat      = "only the v2 record format, magic 2, is stored and served"
	whyTxn         = "transactions are not served: ApiVersions does not offer them"
	whyNewGroups   = "only the classic group protocol is served, not KIP-848 consumer or KIP-932 share groups"
	whyTiered      = "tiered storage is not served: every segment stays in the data dir"
	whyMetrics     = "metrics are served to Prometheus on --metrics-listen, not through reporters"
	whyQuotas      = "client and replication quotas are not enforced"
	whyCleaner     = "the cleaner runs for compacted topics on its own schedule and buffers"
	whyLogTasks    = "the log's own checkpoints, flushes and deletions are not scheduled by these"
	whyNoSecurity  = "no SASL or delegation tokens are configured, so these have nothing to act on"
	whyOneDir      = "one data dir: no log dir to fail over or move partitions between"
	whyUnstable    = "unreleased protocol versions are never offered"
	whyClient      = "settings of the broker's own client connections to other brokers: there are none"
	whyOffsets     = "commits are appended to __consumer_offsets uncompressed before they are answered"
	whyLimits      = "not enforced: connection limits are max.connections and max.connections.per.ip"
	whyTimestamps  = "record timestamps are stored as sent, or set by the broker with LogAppendTime, never range-checked"
	whyRoll        = "segments roll at segment.ms or segment.bytes, without jitter"
	whyPrealloc    = "segments are written with pwrite and index space is allocated as it fills"
	whyCompression = "re-encoding uses each codec's default level"
	whyProducerIDs = "idle producer ids expire as producer.id.expiration.ms says, checked with retention"
)

// kafkaNotApplying are the Kafka broker settings accepted whatever their
// value, with why they change nothing here.
var kafkaNotApplying = map[string]string{
	// Cluster membership, KRaft and ZooKeeper.
	// node.id, process.roles, controller.quorum.voters, the broker.*
	// liveness settings, broker.rack and the replica.* settings are
	// served (brokerconfig_cluster.go).
	"broker.id":                   whyKRaft,
	"broker.id.generation.enable": whyKRaft, "reserved.broker.max.id": whyKRaft,
	"controller.listener.names": whyKRaft, "control.plane.listener.name": whyKRaft,
	"server.max.startup.time.ms":      whyKRaft,
	"eligible.leader.replicas.enable": whyKRaft, "sasl.mechanism.controller.protocol": whyKRaft,
	"controller.socket.timeout.ms": whyKRaft, "early.start.listeners": whyKRaft,
	"controlled.shutdown.enable":      whyCluster,
	"controlled.shutdown.max.retries": whyCluster, "controlled.shutdown.retry.backoff.ms": whyCluster,

	// Replication.
	"replica.fetch.backoff.ms": whyReplication, "replica.fetch.response.max.bytes": whyReplication,
	"replica.high.watermark.checkpoint.interval.ms": whyReplication,
	"replica.socket.receive.buffer.bytes":           whyReplication,
	"replica.socket.timeout.ms":                     whyReplication, "unclean.leader.election.interval.ms": whyReplication,
	"replication.quota.window.num":          whyReplication,
	"replication.quota.window.size.seconds": whyReplication, "num.replica.alter.log.dirs.threads": whyOneDir,
	"alter.log.dirs.replication.quota.window.num": whyOneDir, "alter.log.dirs.replication.quota.window.size.seconds": whyOneDir,
	"replica.alter.log.dirs.io.max.bytes.per.second": whyOneDir, "log.dir.failure.timeout.ms": whyOneDir,
	"transaction.state.log.replication.factor": whyTxn, "transaction.state.log.min.isr": whyTxn,

	// Record format and protocol versions.
	"inter.broker.protocol.version": whyFormat, "log.message.format.version": whyFormat,
	"log.message.downconversion.enable": whyFormat,
	"unstable.api.versions.enable":      whyUnstable, "unstable.feature.versions.enable": whyUnstable,

	// Threads, purgatories, buffers.
	"num.network.threads": whyThreads, "num.io.threads": whyThreads, "background.threads": whyThreads,
	"num.recovery.threads.per.data.dir": whyThreads, "queued.max.requests": whyThreads,
	"group.coordinator.threads": whyThreads, "group.coordinator.append.linger.ms": whyThreads,
	"fetch.purgatory.purge.interval.requests": whyThreads, "producer.purgatory.purge.interval.requests": whyThreads,
	"delete.records.purgatory.purge.interval.requests": whyThreads, "offsets.load.buffer.size": whyThreads,
	"socket.send.buffer.bytes": whySockets, "socket.receive.buffer.bytes": whySockets,
	"socket.listen.backlog.size": whySockets,
	"request.timeout.ms":         whyClient, "socket.connection.setup.timeout.ms": whyClient,
	"socket.connection.setup.timeout.max.ms": whyClient,
	"max.connection.creation.rate":           whyLimits, "max.request.partition.size.limit": whyLimits,

	// The log.
	"log.cleaner.threads": whyCleaner, "log.cleaner.dedupe.buffer.size": whyCleaner,
	"log.cleaner.io.buffer.size": whyCleaner, "log.cleaner.io.buffer.load.factor": whyCleaner,
	"log.cleaner.io.max.bytes.per.second": whyCleaner, "log.cleaner.backoff.ms": whyCleaner,
	"log.flush.scheduler.interval.ms": whyLogTasks, "log.flush.offset.checkpoint.interval.ms": whyLogTasks,
	"log.flush.start.offset.checkpoint.interval.ms": whyLogTasks, "log.segment.delete.delay.ms": whyLogTasks,
	"log.initial.task.delay.ms": whyLogTasks,
	"log.roll.jitter.ms":        whyRoll, "log.roll.jitter.hours": whyRoll, "log.preallocate": whyPrealloc,
	"log.message.timestamp.difference.max.ms": whyTimestamps, "log.message.timestamp.before.max.ms": whyTimestamps,
	"log.message.timestamp.after.max.ms": whyTimestamps,
	"compression.gzip.level":             whyCompression, "compression.lz4.level": whyCompression, "compression.zstd.level": whyCompression,
	"producer.id.expiration.check.interval.ms": whyProducerIDs,
	"log.local.retention.ms":                   whyTiered, "log.local.retention.bytes": whyTiered,
	"remote.fetch.max.wait.ms": whyTiered, "remote.list.offsets.request.timeout.ms": whyTiered,

	// Groups and offsets.
	"offsets.commit.required.acks":          whyOffsets,
	"offsets.topic.compression.codec":       whyOffsets,
	"group.coordinator.rebalance.protocols": whyNewGroups, "group.coordinator.new.enable": whyNewGroups,

	// Transactions.
	"transaction.state.log.num.partitions": whyTxn, "transaction.state.log.segment.bytes": whyTxn,
	"transaction.state.log.load.buffer.size": whyTxn, "transaction.max.timeout.ms": whyTxn,
	"transactional.id.expiration.ms": whyTxn, "transaction.partition.verification.enable": whyTxn,
	"transaction.abort.timed.out.transaction.cleanup.interval.ms": whyTxn,
	"transaction.remove.expired.transaction.cleanup.interval.ms":  whyTxn,

	// Metrics and quotas.
	"metric.reporters": whyMetrics, "metrics.num.samples": whyMetrics, "metrics.recording.level": whyMetrics,
	"metrics.sample.window.ms": whyMetrics, "kafka.metrics.reporters": whyMetrics,
	"kafka.metrics.polling.interval.secs": whyMetrics, "telemetry.max.bytes": whyMetrics,
	"auto.include.jmx.reporter": whyMetrics,
	"quota.window.num":          whyQuotas, "quota.window.size.seconds": whyQuotas,
	"controller.quota.window.num": whyQuotas, "controller.quota.window.size.seconds": whyQuotas,

	// Security settings that do nothing without an authorizer, SASL or
	// delegation tokens (which are refused when set).
	"connection.failed.authentication.delay.ms": whyNoSecurity,
	"delegation.token.expiry.time.ms":           whyNoSecurity, "delegation.token.max.lifetime.ms": whyNoSecurity,
	"delegation.token.expiry.check.interval.ms": whyNoSecurity, "security.providers": whyNoSecurity,
	"password.encoder.secret": whyNoSecurity, "password.encoder.old.secret": whyNoSecurity,
	"password.encoder.cipher.algorithm": whyNoSecurity, "password.encoder.keyfactory.algorithm": whyNoSecurity,
	"password.encoder.iterations": whyNoSecurity, "password.encoder.key.length": whyNoSecurity,
}

// kafkaNotApplyingPrefixes cover families of names (each family's every
// member in Kafka's reference) that do not apply.
var kafkaNotApplyingPrefixes = []struct{ prefix, why string }{
	{"zookeeper.", whyZooKeeper},
	{"controller.quorum.", whyKRaft},
	{"metadata.", whyKRaft},
	{"group.consumer.", whyNewGroups},
	{"group.share.", whyNewGroups},
	{"share.coordinator.", whyNewGroups},
	{"share.fetch.", whyNewGroups},
	{"remote.log.", whyTiered},
	{"rlmm.config.", whyTiered},
	{"rsm.config.", whyTiered},
}

// What is missing, for the settings refused whatever their value.
const (
	missingTLS  = "this TLS setting is not served: keystores and truststores are PEM files or inline PEM (ssl.keystore.location, ssl.truststore.location), with unencrypted keys"
	missingSASL = "this SASL setting is not served: SASL is set by sasl.enabled.mechanisms (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512, OAUTHBEARER) and users by tributary user or AlterUserScramCredentials (no GSSAPI; a JAAS line only as the inter-broker login, listener.name.<listener>.<mechanism>.sasl.jaas.config)"
)

// kafkaRefusedPrefixes are families refused whatever the value.
var kafkaRefusedPrefixes = []struct{ prefix, missing string }{
	{"ssl.", missingTLS},
	{"sasl.", missingSASL},
	{"listener.name.", "this per-listener setting is not served (served: the listener's ssl.* and sasl.* settings that are served broker-wide, connections.max.reauth.ms, also per mechanism, and <mechanism>.sasl.jaas.config, the inter-broker login)"},
}

// kafkaConditional are the settings accepted, as not applying, only with
// the value that asks for nothing this broker lacks; ok says whether the
// value is such a one, why is the note when it is and missing the error
// when it is not.
var kafkaConditional = map[string]struct {
	ok           func(value string) bool
	why, missing string
}{
	"principal.builder.class": {empty, whyNoSecurity,
		"principals are not served yet: there is no authentication to build them from"},
	"delegation.token.secret.key": {empty, whyNoSecurity,
		"delegation tokens are not served yet (they need SASL)"},
	"create.topic.policy.class.name": {empty, "no policy class is set",
		"Java policy plugins cannot be loaded: CreateTopics is checked only against the topic configs"},
	"alter.config.policy.class.name": {empty, "no policy class is set",
		"Java policy plugins cannot be loaded: config changes are checked only against the config names"},
	"client.quota.callback.class": {empty, whyQuotas, "Java quota plugins cannot be loaded; quotas are not served yet"},
	"replica.selector.class":      {empty, whyReplication, "follower fetching is not served: there are no followers"},
	"delete.topic.enable": {equalFold("true"), "DeleteTopics is always served",
		"topic deletion cannot be turned off here (DeleteTopics is always served)"},
	"log.cleaner.enable": {equalFold("true"), whyCleaner,
		"the cleaner cannot be turned off here: compacted topics are always compacted"},
	"remote.log.storage.system.enable": {equalFold("false"), whyTiered,
		"tiered storage is not served yet: every segment stays in the data dir"},
}

func empty(v string) bool { return strings.TrimSpace(v) == "" }

func equalFold(want string) func(string) bool {
	return func(v string) bool { return strings.EqualFold(strings.TrimSpace(v), want) }
}

// Kafka server.properties names that set something here other than one
// setting one for one.
const (
	kafkaListeners           = "listeners"
	kafkaAdvertisedListeners = "advertised.listeners"
	kafkaLogDirs             = "log.dirs"
	kafkaLogDir              = "log.dir"
	kafkaRetentionMinutes    = "log.retention.minutes"
	kafkaRetentionHours      = "log.retention.hours"
	kafkaRollHours           = "log.roll.hours"
)

// kafkaNotApplyingReason is why name does not apply here, and whether it
// is one of those names.
func kafkaNotApplyingReason(name string) (string, bool) {
	switch name {
	case BrokerControllerQuorumVoters, BrokerControllerQuorumInitialState, BrokerControllerQuorumElectionTimeoutMs, BrokerMetadataStore:
		return "", false // served, in families that are not
	}
	if why, ok := kafkaNotApplying[name]; ok {
		return why, true
	}
	for _, p := range kafkaNotApplyingPrefixes {
		if strings.HasPrefix(name, p.prefix) {
			return p.why, true
		}
	}
	return "", false
}

// applyKafka takes the server.properties names of a Kafka broker that are
// not one of this broker's settings; handled is false for any other name.
func (b *BrokerSettings) applyKafka(name, value string) (handled bool, err error) {
	wrap := func(err error) (bool, error) {
		if err != nil {
			return true, fmt.Errorf("server: %s=%s: %w", name, shownValue(name, value), err)
		}
		return true, nil
	}
	if handled, err := b.applySecurity(name, value); handled {
		return true, err
	}
	if c, ok := kafkaConditional[name]; ok {
		if !c.ok(value) {
			return wrap(errors.New(c.missing))
		}
		b.ignore(name, c.why)
		return true, nil
	}
	if why, ok := kafkaNotApplying[name]; ok { // before the refused families: sasl.mechanism.controller.protocol
		b.ignore(name, why)
		return true, nil
	}
	for _, p := range kafkaRefusedPrefixes {
		if strings.HasPrefix(name, p.prefix) {
			return wrap(errors.New(p.missing))
		}
	}
	if why, ok := kafkaNotApplyingReason(name); ok {
		b.ignore(name, why)
		return true, nil
	}
	switch name {
	case kafkaLogDirs, kafkaLogDir:
		dirs := strings.Split(value, ",")
		if len(dirs) != 1 || strings.TrimSpace(dirs[0]) == "" {
			return wrap(fmt.Errorf("one data dir is served, got %d", len(dirs)))
		}
		b.DataDir = strings.TrimSpace(dirs[0])
		return true, nil
	case kafkaRetentionMinutes, kafkaRetentionHours:
		unit, rank := time.Minute, unitMinutes
		if name == kafkaRetentionHours {
			unit, rank = time.Hour, unitHours
		}
		return wrap(b.setDurationIn(&b.retentionUnit, rank, tlog.ConfigRetentionMs, value, unit))
	case kafkaRollHours:
		return wrap(b.setDurationIn(&b.rollUnit, unitHours, tlog.ConfigSegmentMs, value, time.Hour))
	}
	return false, nil
}

// ignore records a Kafka setting that does not apply, once; IgnoredNote
// finds why again.
func (b *BrokerSettings) ignore(name, _ string) {
	for _, n := range b.Ignored {
		if n == name {
			return
		}
	}
	b.Ignored = append(b.Ignored, name)
}

// IgnoredNote is the start-up note on the Kafka settings that were
// accepted but do not apply, grouped by reason: "num.io.threads,
// num.network.threads (Go schedules the work: ...); zookeeper.connect (no
// ZooKeeper: ...)". Empty when there are none.
func (b *BrokerSettings) IgnoredNote() string {
	byWhy := map[string][]string{}
	for _, n := range b.Ignored {
		why, ok := kafkaNotApplyingReason(n)
		if c, cond := kafkaConditional[n]; cond {
			why, ok = c.why, true
		}
		if clusterOnly[n] {
			why, ok = whySingleBroker, true
		}
		if !ok {
			why = "does not apply"
		}
		byWhy[why] = append(byWhy[why], n)
	}
	groups := make([]string, 0, len(byWhy))
	for why, names := range byWhy {
		sort.Strings(names)
		groups = append(groups, strings.Join(names, ", ")+" ("+why+")")
	}
	sort.Strings(groups)
	return strings.Join(groups, "; ")
}

// unknownSetting is the error for a name that is neither a setting here
// nor one of Kafka's, with the closest known name if one is close.
func (b *BrokerSettings) unknownSetting(name string) error {
	if s := Suggest(name, b.knownNames()); s != "" {
		return fmt.Errorf("server: unknown broker setting %q (did you mean %q?)", name, s)
	}
	return fmt.Errorf("server: unknown broker setting %q", name)
}

// knownNames are the names a properties file may use: this broker's
// settings, the Kafka names it translates and those it accepts.
func (b *BrokerSettings) knownNames() []string {
	var names []string
	for n := range b.Map() {
		names = append(names, n)
	}
	names = append(names, kafkaListeners, kafkaAdvertisedListeners, kafkaListenerProtocolMap, kafkaLogDirs, kafkaLogDir,
		kafkaRetentionMinutes, kafkaRetentionHours, kafkaRollHours)
	for n := range kafkaNotApplying {
		names = append(names, n)
	}
	for n := range kafkaConditional {
		names = append(names, n)
	}
	for n := range servedSecurity {
		names = append(names, n)
	}
	return names
}

// Suggest is the candidate closest to name by edit distance, if it is
// close enough to be a typo of it (at most a third of the name's length,
// and 3 edits), or "".
func Suggest(name string, candidates []string) string {
	best, bestD := "", 0
	for _, c := range candidates {
		d := editDistance(name, c)
		if best == "" || d < bestD || (d == bestD && c < best) {
			best, bestD = c, d
		}
	}
	if best == "" || bestD == 0 || bestD > 3 || bestD*3 > len(name) {
		return ""
	}
	return best
}

// editDistance is the Levenshtein distance of a and b, in bytes.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// linesError is several errors, each on its own line but read as one:
// "a; b; c" in Error, all of them for errors.Is and errors.As.
type linesError []error

func (e linesError) Error() string {
	msgs := make([]string, len(e))
	for i, err := range e {
		msgs[i] = err.Error()
	}
	return strings.Join(msgs, "; ")
}

func (e linesError) Unwrap() []error { return e }

// joinLines is nil, errs' only error, or all of them as a linesError.
func joinLines(errs []error) error {
	switch len(errs) {
	case 0:
		return nil
	case 1:
		return errs[0]
	}
	return linesError(errs)
}
