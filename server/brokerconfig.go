package server

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/tributary-io/tributary/auth"
	tlog "github.com/tributary-io/tributary/log"
)

// Broker settings by Kafka's server.properties names.
const (
	BrokerAutoCreateTopics       = "auto.create.topics.enable"
	BrokerNumPartitions          = "num.partitions"
	BrokerSocketRequestMaxBytes  = "socket.request.max.bytes"
	BrokerConnectionsMaxIdleMs   = "connections.max.idle.ms"
	BrokerConnectionsMaxReauthMs = "connections.max.reauth.ms"
	BrokerFetchMaxBytes          = "fetch.max.bytes"
	// BrokerFetchSessionCacheSlots is the fetch sessions (KIP-227) kept.
	BrokerFetchSessionCacheSlots = "max.incremental.fetch.session.cache.slots"
	BrokerQueuedMaxRequestBytes  = "queued.max.request.bytes"

	BrokerMaxConnections               = "max.connections"
	BrokerMaxConnectionsPerIP          = "max.connections.per.ip"
	BrokerMaxConnectionsPerIPOverrides = "max.connections.per.ip.overrides"

	// KIP-936-style throttling of new producer ids, per client id: at
	// most producer.id.quota.rate a second (0: off, the default), in
	// bursts of the rate times producer.id.quota.window.size.seconds.
	BrokerProducerIDQuotaRate       = "producer.id.quota.rate"
	BrokerProducerIDQuotaWindowSize = "producer.id.quota.window.size.seconds"

	// The group coordinator's settings.
	BrokerOffsetsTopicPartitions        = "offsets.topic.num.partitions"
	BrokerOffsetsTopicSegmentBytes      = "offsets.topic.segment.bytes"
	BrokerOffsetsRetentionMinutes       = "offsets.retention.minutes"
	BrokerOffsetsRetentionCheckInterval = "offsets.retention.check.interval.ms"
	// BrokerOffsetsCommitTimeoutMs is how long, in a cluster, a write to
	// __consumer_offsets (a commit, a generation's assignment) waits for
	// the partition's in-sync replicas before it is answered
	// COORDINATOR_NOT_AVAILABLE; the group's other requests are served
	// meanwhile. A single broker answers once appended.
	BrokerOffsetsCommitTimeoutMs = "offsets.commit.timeout.ms"
	// BrokerLogRetentionCheckInterval is how often retention (retention.ms,
	// retention.bytes, DeleteRecords' log start) deletes segments.
	BrokerLogRetentionCheckInterval    = "log.retention.check.interval.ms"
	BrokerGroupInitialRebalanceDelayMs = "group.initial.rebalance.delay.ms"
	BrokerGroupMinSessionTimeoutMs     = "group.min.session.timeout.ms"
	BrokerGroupMaxSessionTimeoutMs     = "group.max.session.timeout.ms"
	BrokerGroupMaxSize                 = "group.max.size"
	BrokerOffsetMetadataMaxBytes       = "offset.metadata.max.bytes"
	// BrokerGroupMaxCreationRatePerConnection is the groups one
	// connection may create per second (a simple OffsetCommit or a first
	// JoinGroup naming a group that does not exist yet). Past it, the
	// group is still created, and the connection is throttled as Kafka's
	// quotas throttle: the answer carries throttle_time_ms and the broker
	// reads nothing more from the connection for that long (an older
	// client, which does not throttle itself, gets its answer that much
	// later). Not a Kafka setting: Kafka has no limit, and neither does
	// the default (2147483647). With max.connections.per.ip it bounds
	// the groups one address creates per second.
	BrokerGroupMaxCreationRatePerConnection = "group.max.creation.rate.per.connection"
	// BrokerGroupMetricsMaxEmptyPartitions bounds the per-partition series
	// of groups without members in /metrics: tributary_consumergroup_lag
	// and _committed_offset are exported for every group with members and
	// for the most recently committed groups without, up to this many
	// committed partitions in all; the rest are counted in
	// tributary_consumergroups_unlisted. Not a Kafka setting (Kafka
	// exports no lag).
	BrokerGroupMetricsMaxEmptyPartitions = "group.metrics.max.empty.partitions"

	// Authorization (ACLs), Kafka's names.
	BrokerAuthorizerClassName       = "authorizer.class.name"
	BrokerSuperUsers                = "super.users"
	BrokerAllowEveryoneIfNoACLFound = "allow.everyone.if.no.acl.found"

	// The broker's own log lines (not Kafka's names: Kafka configures
	// log4j in a file of its own).
	BrokerLogLevel  = "log.level"  // debug, info, warn or error
	BrokerLogFormat = "log.format" // text (logfmt) or json, for log aggregators
)

// BrokerTopicDefaults maps Kafka's broker-level names of topic defaults
// (server.properties) to the topic config each one is the default of.
var BrokerTopicDefaults = map[string]string{
	"log.retention.ms":            tlog.ConfigRetentionMs,
	"log.retention.bytes":         tlog.ConfigRetentionBytes,
	"log.segment.bytes":           tlog.ConfigSegmentBytes,
	"log.roll.ms":                 tlog.ConfigSegmentMs,
	"log.index.interval.bytes":    tlog.ConfigIndexIntervalBytes,
	"message.max.bytes":           tlog.ConfigMaxMessageBytes,
	"log.cleanup.policy":          tlog.ConfigCleanupPolicy,
	"log.flush.interval.messages": tlog.ConfigFlushMessages,
	"log.flush.interval.ms":       tlog.ConfigFlushMs,
	"log.message.timestamp.type":  tlog.ConfigMessageTimestampType,
	"producer.id.expiration.ms":   tlog.ConfigProducerIDExpirationMs,
	// Not Kafka's: the most idempotent producers a partition keeps state
	// for, the longest idle evicted first (see log.Config).
	"max.producers.per.partition": tlog.ConfigMaxProducersPerPartition,
	"compression.type":            tlog.ConfigCompressionType,
	"log.index.size.max.bytes":    tlog.ConfigSegmentIndexBytes,
	// Compaction defaults (Kafka's log.cleaner.* names).
	"log.cleaner.delete.retention.ms":   tlog.ConfigDeleteRetentionMs,
	"log.cleaner.min.cleanable.ratio":   tlog.ConfigMinCleanableDirtyRatio,
	"log.cleaner.min.compaction.lag.ms": tlog.ConfigMinCompactionLagMs,
	"log.cleaner.max.compaction.lag.ms": tlog.ConfigMaxCompactionLagMs,
	// Replication (brokerconfig_cluster.go); min.insync.replicas is
	// applied as a cluster setting first, and held in Topics only while
	// it is 1, which is all log.Config accepts until it replicates.
	"min.insync.replicas":            tlog.ConfigMinInsyncReplicas,
	"unclean.leader.election.enable": tlog.ConfigUncleanLeaderElectionEnable,
}

// Kafka's precedence among the units of one duration: a value in ms beats
// one in minutes, which beats one in hours, whatever their order in the file.
const (
	unitHours = iota + 1
	unitMinutes
	unitMs
)

// BrokerSettings is everything a properties file can set: the server's own
// settings and the topic defaults of the data dir.
type BrokerSettings struct {
	Server Config
	Topics tlog.Config
	// DataDir comes from Kafka's log.dirs; empty when not set (serve's
	// flags decide then).
	DataDir string
	// Listeners, AdvertisedListeners and ListenerProtocolMap are Kafka's
	// listeners, advertised.listeners and listener.security.protocol.map
	// as written; ResolveListeners reads them together. Empty listeners:
	// serve's --listen decides.
	Listeners, AdvertisedListeners, ListenerProtocolMap string
	// Security holds the served ssl.* and sasl.* settings by the names
	// they were given, listener.name.<name>.<setting> included.
	Security map[string]string
	// RetentionCheckInterval is log.retention.check.interval.ms, the data
	// dir's (log.Options) rather than the server's.
	RetentionCheckInterval time.Duration
	// LogLevel and LogFormat are log.level and log.format.
	LogLevel, LogFormat string
	// Cluster holds the settings that start a cluster
	// (brokerconfig_cluster.go); Cluster.Enabled is false for the single
	// broker of the defaults.
	Cluster ClusterConfig
	// Ignored lists the Kafka settings accepted that do not apply here
	// (brokerconfig_kafka.go); IgnoredNote says why.
	Ignored []string

	// clusterGiven are the cluster settings given, by name: a single
	// broker refuses some and names the others in its start-up note.
	clusterGiven map[string]bool

	retentionUnit, rollUnit int // the unit that set retention.ms and segment.ms
}

// DefaultBrokerSettings are Kafka's defaults.
func DefaultBrokerSettings() BrokerSettings {
	return BrokerSettings{Server: DefaultConfig(), Topics: tlog.DefaultConfig(), Cluster: DefaultClusterConfig(),
		RetentionCheckInterval: tlog.DefaultRetentionCheckInterval, LogLevel: "info", LogFormat: "text"}
}

// Apply sets one setting by its Kafka broker name.
func (b *BrokerSettings) Apply(name, value string) error {
	value = strings.TrimSpace(value)
	switch name {
	case "log.retention.ms":
		b.retentionUnit = unitMs
	case "log.roll.ms":
		b.rollUnit = unitMs
	}
	// Before the topic defaults: min.insync.replicas is both.
	if handled, err := b.applyCluster(name, value); handled {
		return err
	}
	if topicName, ok := BrokerTopicDefaults[name]; ok {
		c, err := b.Topics.With(map[string]string{topicName: value})
		if err != nil {
			return fmt.Errorf("server: %s: %w", name, err)
		}
		b.Topics = c
		return nil
	}
	var err error
	switch name {
	case BrokerAutoCreateTopics:
		b.Server.AutoCreateTopics, err = strconv.ParseBool(value)
	case BrokerNumPartitions:
		b.Server.NumPartitions, err = strconv.Atoi(value)
	case BrokerSocketRequestMaxBytes:
		b.Server.SocketRequestMaxBytes, err = strconv.Atoi(value)
	case BrokerFetchMaxBytes:
		b.Server.FetchMaxBytes, err = strconv.Atoi(value)
	case BrokerFetchSessionCacheSlots:
		b.Server.FetchSessionCacheSlots, err = strconv.Atoi(value)
	case BrokerQueuedMaxRequestBytes:
		b.Server.QueuedMaxRequestBytes, err = strconv.Atoi(value)
	case BrokerConnectionsMaxIdleMs:
		b.Server.ConnectionsMaxIdle, err = parseDuration(value, time.Millisecond)
	case BrokerConnectionsMaxReauthMs:
		b.Server.ConnectionsMaxReauth, err = parseDuration(value, time.Millisecond)
	case BrokerMaxConnections:
		b.Server.MaxConnections, err = strconv.Atoi(value)
	case BrokerMaxConnectionsPerIP:
		b.Server.MaxConnectionsPerIP, err = strconv.Atoi(value)
	case BrokerMaxConnectionsPerIPOverrides:
		b.Server.MaxConnectionsPerIPOverrides, err = parseConnectionOverrides(value)
	case BrokerProducerIDQuotaRate:
		b.Server.ProducerIDQuotaRate, err = strconv.ParseFloat(value, 64)
	case BrokerProducerIDQuotaWindowSize:
		b.Server.ProducerIDQuotaWindow, err = parseDuration(value, time.Second)
	case BrokerOffsetsTopicPartitions:
		b.Server.Groups.OffsetsTopicPartitions, err = strconv.Atoi(value)
	case BrokerOffsetsTopicSegmentBytes:
		b.Server.Groups.OffsetsTopicSegmentBytes, err = strconv.ParseInt(value, 10, 64)
	case BrokerOffsetsRetentionMinutes:
		b.Server.Groups.OffsetsRetention, err = parseDuration(value, time.Minute)
	case BrokerOffsetsRetentionCheckInterval:
		b.Server.Groups.OffsetsRetentionCheckInterval, err = parseDuration(value, time.Millisecond)
	case BrokerOffsetsCommitTimeoutMs:
		b.Server.Groups.OffsetsCommitTimeout, err = parseDuration(value, time.Millisecond)
		if err == nil && b.Server.Groups.OffsetsCommitTimeout <= 0 {
			err = errors.New("must be positive")
		}
	case BrokerLogRetentionCheckInterval:
		b.RetentionCheckInterval, err = parseDuration(value, time.Millisecond)
		if err == nil && b.RetentionCheckInterval <= 0 {
			err = errors.New("must be positive")
		}
	case BrokerGroupInitialRebalanceDelayMs:
		b.Server.Groups.InitialRebalanceDelay, err = parseDuration(value, time.Millisecond)
	case BrokerGroupMinSessionTimeoutMs:
		b.Server.Groups.MinSessionTimeout, err = parseDuration(value, time.Millisecond)
	case BrokerGroupMaxSessionTimeoutMs:
		b.Server.Groups.MaxSessionTimeout, err = parseDuration(value, time.Millisecond)
	case BrokerGroupMaxSize:
		b.Server.Groups.MaxGroupSize, err = strconv.Atoi(value)
	case BrokerOffsetMetadataMaxBytes:
		b.Server.Groups.OffsetMetadataMaxBytes, err = strconv.Atoi(value)
	case BrokerGroupMaxCreationRatePerConnection:
		b.Server.Groups.MaxCreationRatePerConnection, err = strconv.Atoi(value)
	case BrokerGroupMetricsMaxEmptyPartitions:
		b.Server.Groups.MetricsMaxEmptyPartitions, err = strconv.Atoi(value)
	case BrokerAuthorizerClassName:
		err = auth.CheckAuthorizerClass(value)
		b.Server.Authorizer = value
	case BrokerSuperUsers:
		b.Server.SuperUsers, err = auth.ParseSuperUsers(value)
	case BrokerAllowEveryoneIfNoACLFound:
		b.Server.AllowEveryoneIfNoACLFound, err = strconv.ParseBool(value)
	case BrokerLogLevel:
		b.LogLevel, err = oneOf(strings.ToLower(value), "debug", "info", "warn", "error")
	case BrokerLogFormat:
		b.LogFormat, err = oneOf(strings.ToLower(value), "text", "json")
	default:
		// Kafka's names that are not settings here (brokerconfig_kafka.go):
		// looked up last, so a setting served here always wins.
		if handled, err := b.applyKafka(name, value); handled {
			return err
		}
		return b.unknownSetting(name)
	}
	if err != nil {
		return fmt.Errorf("server: %s=%s: %w", name, shownValue(name, value), err)
	}
	return nil
}

// setDurationIn sets topic config cfg from a count of unit, unless a finer
// unit (higher rank) already set it, as Kafka resolves log.retention.*.
func (b *BrokerSettings) setDurationIn(set *int, rank int, cfg, value string, unit time.Duration) error {
	if *set > rank {
		return nil
	}
	n, err := strconv.ParseInt(value, 10, 64)
	if err != nil {
		return err
	}
	ms := int64(-1) // Kafka: a negative retention keeps forever
	if n >= 0 {
		if n > math.MaxInt64/int64(unit/time.Millisecond) {
			return fmt.Errorf("out of range")
		}
		ms = n * int64(unit/time.Millisecond)
	}
	c, err := b.Topics.With(map[string]string{cfg: strconv.FormatInt(ms, 10)})
	if err != nil {
		return err
	}
	b.Topics, *set = c, rank
	return nil
}

// parseConnectionOverrides reads max.connections.per.ip.overrides in
// Kafka's syntax, "address:limit" pairs separated by commas
// ("10.0.0.1:200,::1:50"; the limit follows the last colon, so IPv6
// addresses need no brackets). Kafka also takes host names, resolved once
// when the broker starts; here an address must be an IP literal, so that
// reading a setting never waits on DNS and the limit applies to the
// address clients really come from.
func parseConnectionOverrides(value string) (map[string]int, error) {
	if strings.TrimSpace(value) == "" {
		return nil, nil
	}
	m := make(map[string]int)
	for _, entry := range strings.Split(value, ",") {
		entry = strings.TrimSpace(entry)
		i := strings.LastIndexByte(entry, ':')
		if i < 0 {
			return nil, fmt.Errorf("entry %q: want address:limit", entry)
		}
		host := strings.Trim(strings.TrimSpace(entry[:i]), "[]")
		addr, err := netip.ParseAddr(host)
		if err != nil {
			return nil, fmt.Errorf("entry %q: %q is not an IP address (host names are not resolved)", entry, host)
		}
		n, err := strconv.Atoi(strings.TrimSpace(entry[i+1:]))
		if err != nil {
			return nil, fmt.Errorf("entry %q: %w", entry, err)
		}
		m[addr.Unmap().String()] = n
	}
	return m, nil
}

// formatConnectionOverrides writes overrides back in Kafka's syntax,
// sorted by address.
func formatConnectionOverrides(m map[string]int) string {
	ips := make([]string, 0, len(m))
	for ip := range m {
		ips = append(ips, ip)
	}
	sort.Strings(ips)
	var sb strings.Builder
	for i, ip := range ips {
		if i > 0 {
			sb.WriteByte(',')
		}
		fmt.Fprintf(&sb, "%s:%d", ip, m[ip])
	}
	return sb.String()
}

// oneOf is v if it is one of allowed.
func oneOf(v string, allowed ...string) (string, error) {
	for _, a := range allowed {
		if v == a {
			return v, nil
		}
	}
	return "", fmt.Errorf("want one of %s", strings.Join(allowed, ", "))
}

// parseDuration reads an integer count of unit.
func parseDuration(value string, unit time.Duration) (time.Duration, error) {
	n, err := strconv.ParseInt(value, 10, 64)
	if err != nil {
		return 0, err
	}
	if n < 0 || n > int64(math.MaxInt64/unit) {
		return 0, fmt.Errorf("out of range")
	}
	return time.Duration(n) * unit, nil
}

// Map lists every setting by its broker name with its current value.
func (b *BrokerSettings) Map() map[string]string {
	m := map[string]string{
		BrokerAutoCreateTopics:       strconv.FormatBool(b.Server.AutoCreateTopics),
		BrokerNumPartitions:          strconv.Itoa(b.Server.NumPartitions),
		BrokerSocketRequestMaxBytes:  strconv.Itoa(b.Server.SocketRequestMaxBytes),
		BrokerFetchMaxBytes:          strconv.Itoa(b.Server.FetchMaxBytes),
		BrokerFetchSessionCacheSlots: strconv.Itoa(b.Server.FetchSessionCacheSlots),
		BrokerQueuedMaxRequestBytes:  strconv.Itoa(b.Server.QueuedMaxRequestBytes),
		BrokerConnectionsMaxIdleMs:   strconv.FormatInt(b.Server.ConnectionsMaxIdle.Milliseconds(), 10),
		BrokerConnectionsMaxReauthMs: strconv.FormatInt(b.Server.ConnectionsMaxReauth.Milliseconds(), 10),

		BrokerMaxConnections:               strconv.Itoa(b.Server.MaxConnections),
		BrokerMaxConnectionsPerIP:          strconv.Itoa(b.Server.MaxConnectionsPerIP),
		BrokerMaxConnectionsPerIPOverrides: formatConnectionOverrides(b.Server.MaxConnectionsPerIPOverrides),

		BrokerProducerIDQuotaRate:       strconv.FormatFloat(b.Server.ProducerIDQuotaRate, 'g', -1, 64),
		BrokerProducerIDQuotaWindowSize: strconv.FormatInt(int64(b.Server.ProducerIDQuotaWindow/time.Second), 10),

		BrokerOffsetsTopicPartitions:        strconv.Itoa(b.Server.Groups.OffsetsTopicPartitions),
		BrokerOffsetsTopicSegmentBytes:      strconv.FormatInt(b.Server.Groups.OffsetsTopicSegmentBytes, 10),
		BrokerOffsetsRetentionMinutes:       strconv.FormatInt(int64(b.Server.Groups.OffsetsRetention/time.Minute), 10),
		BrokerOffsetsRetentionCheckInterval: strconv.FormatInt(b.Server.Groups.OffsetsRetentionCheckInterval.Milliseconds(), 10),
		BrokerOffsetsCommitTimeoutMs:        strconv.FormatInt(b.Server.Groups.OffsetsCommitTimeout.Milliseconds(), 10),
		BrokerLogRetentionCheckInterval:     strconv.FormatInt(b.RetentionCheckInterval.Milliseconds(), 10),
		BrokerGroupInitialRebalanceDelayMs:  strconv.FormatInt(b.Server.Groups.InitialRebalanceDelay.Milliseconds(), 10),
		BrokerGroupMinSessionTimeoutMs:      strconv.FormatInt(b.Server.Groups.MinSessionTimeout.Milliseconds(), 10),
		BrokerGroupMaxSessionTimeoutMs:      strconv.FormatInt(b.Server.Groups.MaxSessionTimeout.Milliseconds(), 10),
		BrokerGroupMaxSize:                  strconv.Itoa(b.Server.Groups.MaxGroupSize),
		BrokerOffsetMetadataMaxBytes:        strconv.Itoa(b.Server.Groups.OffsetMetadataMaxBytes),

		BrokerGroupMaxCreationRatePerConnection: strconv.Itoa(b.Server.Groups.MaxCreationRatePerConnection),
		BrokerGroupMetricsMaxEmptyPartitions:    strconv.Itoa(b.Server.Groups.MetricsMaxEmptyPartitions),
		BrokerLogLevel:                          b.LogLevel,
		BrokerAuthorizerClassName:               b.Server.Authorizer,
		BrokerSuperUsers:                        strings.Join(b.Server.SuperUsers, ";"),
		BrokerAllowEveryoneIfNoACLFound:         strconv.FormatBool(b.Server.AllowEveryoneIfNoACLFound),
		BrokerLogFormat:                         b.LogFormat,
	}
	topic := b.Topics.Map()
	for broker, t := range BrokerTopicDefaults {
		m[broker] = topic[t]
	}
	b.clusterMap(m)
	return m
}

// Validate checks the server's settings, the topic defaults and the
// cluster's settings; it may add to Ignored and resolve
// Cluster.ControllerListen from listeners.
func (b *BrokerSettings) Validate() error {
	if err := b.Server.Validate(); err != nil {
		return err
	}
	if _, err := b.ResolveListeners(); err != nil {
		return err
	}
	if err := b.Topics.Validate(); err != nil {
		return fmt.Errorf("server: topic defaults: %w", err)
	}
	if err := b.validateCluster(); err != nil {
		return err
	}
	return b.validateClusterSecurity()
}

// ReadProperties applies a Java-style properties file (key=value, key:
// value or key value per line, # and ! comments, backslash escapes and
// continued lines as java.util.Properties.load reads them) with Kafka's
// broker names.
// Unknown names are an error, so a typo does not silently fall back to a
// default; every bad line of the file is reported at once, not only the
// first.
func (b *BrokerSettings) ReadProperties(r io.Reader, source string) error {
	var errs []error
	err := ScanPropertyLines(r, func(pl PropertyLine) {
		k, v, err := SplitProperty(pl.Text)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s:%d: %w", source, pl.Last, err))
			return
		}
		if err := b.Apply(k, v); err != nil {
			errs = append(errs, fmt.Errorf("%s:%d: %w", source, pl.Last, err))
		}
	})
	if err != nil {
		errs = append(errs, fmt.Errorf("server: read %s: %w", source, err))
	}
	return joinLines(errs)
}

// PropertyLine is one logical line of a Java-style properties file: its
// text, trimmed, with continuation lines joined, and the file lines it
// spans.
type PropertyLine struct {
	Text        string
	First, Last int
}

// ScanPropertyLines calls fn for each logical line of a Java-style
// properties file, skipping blank lines and # and ! comments. A line
// ending in an odd number of backslashes goes on on the next one, whose
// leading blanks are dropped (inline PEM values are written so). Lines
// up to 1 MiB are read. How a line splits into key and value is the
// caller's: the broker's and the clients' files differ there.
func ScanPropertyLines(r io.Reader, fn func(PropertyLine)) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' || line[0] == '!' {
			continue
		}
		first := n
		for continues(line) && sc.Scan() {
			n++
			line = line[:len(line)-1] + strings.TrimLeft(sc.Text(), " \t")
		}
		fn(PropertyLine{Text: line, First: first, Last: n})
	}
	return sc.Err()
}

// continues says whether a properties line goes on on the next: it ends
// in an odd number of backslashes.
func continues(line string) bool {
	n := 0
	for i := len(line) - 1; i >= 0 && line[i] == '\\'; i-- {
		n++
	}
	return n%2 == 1
}

// Properties renders the settings as a properties file, sorted by name.
func (b *BrokerSettings) Properties() string {
	m := b.Map()
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	sort.Strings(names)
	var sb strings.Builder
	for _, k := range names {
		fmt.Fprintf(&sb, "%s=%s\n", k, m[k])
	}
	return sb.String()
}
