package log

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/tributary-io/tributary/index"
	"github.com/tributary-io/tributary/internal/wallclock"
	"github.com/tributary-io/tributary/segment"
)

// Kafka's topic config names, with Kafka's defaults below.
const (
	ConfigSegmentBytes         = "segment.bytes"
	ConfigSegmentMs            = "segment.ms"
	ConfigSegmentIndexBytes    = "segment.index.bytes"
	ConfigIndexIntervalBytes   = "index.interval.bytes"
	ConfigRetentionMs          = "retention.ms"
	ConfigRetentionBytes       = "retention.bytes"
	ConfigMaxMessageBytes      = "max.message.bytes"
	ConfigCleanupPolicy        = "cleanup.policy"
	ConfigFlushMessages        = "flush.messages"
	ConfigFlushMs              = "flush.ms"
	ConfigMessageTimestampType = "message.timestamp.type"
	ConfigCompressionType      = "compression.type"
	// ConfigMinInsyncReplicas and ConfigUncleanLeaderElectionEnable only
	// concern replication. A partition here has one replica, its leader,
	// so they change nothing; they are accepted because Kafka's tools set
	// them, and min.insync.replicas is held to the one value that can be met.
	ConfigMinInsyncReplicas           = "min.insync.replicas"
	ConfigUncleanLeaderElectionEnable = "unclean.leader.election.enable"
	// ConfigLeaderReplicationThrottledReplicas and
	// ConfigFollowerReplicationThrottledReplicas name the replicas whose
	// replication traffic the leader.replication.throttled.rate and
	// follower.replication.throttled.rate broker settings limit (KIP-73):
	// a list of partition:broker pairs, or "*" for all (see
	// ParseThrottledReplicas). Only a cluster replicates; the log keeps
	// the value.
	ConfigLeaderReplicationThrottledReplicas   = "leader.replication.throttled.replicas"
	ConfigFollowerReplicationThrottledReplicas = "follower.replication.throttled.replicas"
	// ConfigProducerIDExpirationMs is a broker-level setting in Kafka; it
	// is kept per log here so that tests and tools can shorten it.
	ConfigProducerIDExpirationMs = "producer.id.expiration.ms"
	// ConfigMaxProducersPerPartition has no counterpart in Kafka, whose
	// producer state is bounded by producer.id.expiration.ms alone; see
	// Config.MaxProducersPerPartition.
	ConfigMaxProducersPerPartition = "max.producers.per.partition"
	// Log compaction (cleanup.policy=compact), see compact.go.
	ConfigDeleteRetentionMs      = "delete.retention.ms"
	ConfigMinCleanableDirtyRatio = "min.cleanable.dirty.ratio"
	ConfigMinCompactionLagMs     = "min.compaction.lag.ms"
	ConfigMaxCompactionLagMs     = "max.compaction.lag.ms"
)

const (
	DefaultSegmentBytes           = 1 << 30                 // 1 GiB
	DefaultSegmentMs              = 7 * 24 * 60 * 60 * 1000 // 7 days
	DefaultRetentionMs            = 7 * 24 * 60 * 60 * 1000 // 7 days
	DefaultRetentionBytes         = -1                      // unlimited
	DefaultMaxMessageBytes        = 1048588                 // Kafka's 1 MiB + overhead
	DefaultFlushMessages          = math.MaxInt64           // leave flushing to the OS
	DefaultFlushMs                = math.MaxInt64
	DefaultProducerIDExpirationMs = 24 * 60 * 60 * 1000 // 1 day
	// DefaultMaxProducersPerPartition bounds a partition's producer state
	// to 1 to 2 MiB of heap (~100 bytes a producer with one cached batch,
	// ~200 with five; BenchmarkProducerState) and well under 1 MiB of
	// producer snapshot (~11 and ~44 bytes).
	DefaultMaxProducersPerPartition = 10_000
	minSegmentBytes                 = 14 // Kafka's lower bound: one log overhead + a little
	CleanupPolicyDelete             = "delete"
	CleanupPolicyCompact            = "compact"
	// DefaultDeleteRetentionMs is how long a tombstone (a record with a
	// null value) survives cleaning, so consumers reading the log from the
	// start see the delete: 1 day.
	DefaultDeleteRetentionMs = 24 * 60 * 60 * 1000
	// DefaultMinCleanableDirtyRatio: a compacted log is cleaned once the
	// bytes written since its last cleaning are half of its sealed bytes.
	DefaultMinCleanableDirtyRatio = 0.5
	// DefaultMinCompactionLagMs: records may be cleaned as soon as their
	// segment is sealed.
	DefaultMinCompactionLagMs = 0
	// DefaultMaxCompactionLagMs (Kafka's Long.MAX_VALUE): only the dirty
	// ratio decides when a log is cleaned.
	DefaultMaxCompactionLagMs = math.MaxInt64
	TimestampTypeCreateTime   = "CreateTime"
	TimestampTypeLogAppend    = "LogAppendTime"
	// CompressionProducer keeps each batch as its producer compressed it;
	// the other compression.type values make the broker re-encode batches
	// that arrive with a different codec (the server does that, before
	// Append: the log stores what it is given).
	CompressionProducer       = "producer"
	defaultIndexIntervalBytes = segment.DefaultIndexIntervalBytes
)

// Replication settings, Kafka's defaults.
const (
	DefaultMinInsyncReplicas     = 1
	DefaultUncleanLeaderElection = false
	// partitionReplicas is the replication factor of every partition: the
	// broker is each partition's only replica, so no more can be in sync.
	partitionReplicas = 1
)

// ErrInvalidConfig is returned (wrapped) for an unknown name or a bad value.
var ErrInvalidConfig = errors.New("log: invalid config")

// Config is one partition's log configuration, by Kafka's topic config names.
type Config struct {
	SegmentBytes       int64 // segment.bytes
	SegmentMs          int64 // segment.ms
	SegmentIndexBytes  int   // segment.index.bytes
	IndexIntervalBytes int   // index.interval.bytes
	RetentionMs        int64 // retention.ms; -1 keeps forever
	RetentionBytes     int64 // retention.bytes; -1 unlimited
	MaxMessageBytes    int   // max.message.bytes: the largest batch accepted
	// CleanupPolicy (cleanup.policy): "delete" (retention deletes old
	// segments), "compact" (the log cleaner keeps the latest record of each
	// key, and retention deletes nothing), or both, comma-separated in
	// either order.
	CleanupPolicy        string
	FlushMessages        int64  // flush.messages: fsync after this many records; 1 = every append
	FlushMs              int64  // flush.ms: fsync when the oldest unflushed data is this old (run by Manager)
	MessageTimestampType string // message.timestamp.type: CreateTime or LogAppendTime
	// ProducerIDExpirationMs (producer.id.expiration.ms): an idempotent
	// producer's state is dropped this long after its last append.
	ProducerIDExpirationMs int64
	// MaxProducersPerPartition (max.producers.per.partition): the most
	// idempotent producers whose state a partition keeps; a new producer
	// past it evicts the longest idle ones (by last append), which are
	// then answered as expired ones are (UNKNOWN_PRODUCER_ID unless they
	// start again at sequence 0). 0: no limit, as Kafka.
	MaxProducersPerPartition int
	// CompressionType (compression.type): producer, uncompressed, gzip,
	// snappy, lz4 or zstd.
	CompressionType string
	// MinInsyncReplicas (min.insync.replicas): the replicas that must be
	// in sync for an acks=all produce. With one replica only 1 can be met,
	// and Validate refuses more: Kafka would fail every acks=all produce
	// with NOT_ENOUGH_REPLICAS, so accepting it would mislead.
	MinInsyncReplicas int
	// UncleanLeaderElectionEnable (unclean.leader.election.enable): whether
	// an out-of-sync replica may become leader. With one replica there is
	// no other to elect; kept so Kafka's tools can set and read it.
	UncleanLeaderElectionEnable bool
	// LeaderReplicationThrottledReplicas and
	// FollowerReplicationThrottledReplicas
	// (leader.replication.throttled.replicas,
	// follower.replication.throttled.replicas): the replicas whose
	// replication the broker's throttles limit, as validated by
	// ParseThrottledReplicas; "" (Kafka's default) is none.
	LeaderReplicationThrottledReplicas   string
	FollowerReplicationThrottledReplicas string
	// DeleteRetentionMs (delete.retention.ms): a tombstone is removed by
	// the cleaner once its batch's max timestamp is this much older than
	// the clock.
	DeleteRetentionMs int64
	// MinCleanableDirtyRatio (min.cleanable.dirty.ratio): the share of a
	// compacted log's sealed bytes not yet cleaned at which the Manager
	// cleans it.
	MinCleanableDirtyRatio float64
	// MinCompactionLagMs (min.compaction.lag.ms): a sealed segment whose
	// max timestamp is younger than this is not cleaned yet.
	MinCompactionLagMs int64
	// MaxCompactionLagMs (max.compaction.lag.ms): a log whose oldest
	// uncleaned record is older than this is cleaned whatever its dirty
	// ratio.
	MaxCompactionLagMs int64

	// Logger receives recovery and retention lines; nil means slog.Default().
	Logger *slog.Logger
	// Now is the clock for retention, segment.ms, producer expiry and
	// LogAppendTime; nil means wallclock.Now (time.Now, or the offset
	// wall clock of a clockfault build).
	Now func() time.Time
	// FlushObserver, if set, is told how long each fsync of the log took
	// and whether it failed (for metrics); it must not block.
	FlushObserver func(d time.Duration, err error)
	// RecoveryObserver, if set, is told what each Open of a log
	// recovered, Lost offset ranges included (for metrics).
	RecoveryObserver func(dir string, info RecoveryInfo)
	// WrapFile injects faults into segment writes (tests only).
	WrapFile func(path string, f *os.File) segment.File
}

// DefaultConfig returns Kafka's defaults.
func DefaultConfig() Config {
	return Config{
		SegmentBytes:           DefaultSegmentBytes,
		SegmentMs:              DefaultSegmentMs,
		SegmentIndexBytes:      index.DefaultMaxIndexBytes,
		IndexIntervalBytes:     defaultIndexIntervalBytes,
		RetentionMs:            DefaultRetentionMs,
		RetentionBytes:         DefaultRetentionBytes,
		MaxMessageBytes:        DefaultMaxMessageBytes,
		CleanupPolicy:          CleanupPolicyDelete,
		FlushMessages:          DefaultFlushMessages,
		FlushMs:                DefaultFlushMs,
		MessageTimestampType:   TimestampTypeCreateTime,
		ProducerIDExpirationMs: DefaultProducerIDExpirationMs,
		CompressionType:        CompressionProducer,

		MaxProducersPerPartition: DefaultMaxProducersPerPartition,

		// Replication only.
		MinInsyncReplicas:           DefaultMinInsyncReplicas,
		UncleanLeaderElectionEnable: DefaultUncleanLeaderElection,

		// Compaction.
		DeleteRetentionMs:      DefaultDeleteRetentionMs,
		MinCleanableDirtyRatio: DefaultMinCleanableDirtyRatio,
		MinCompactionLagMs:     DefaultMinCompactionLagMs,
		MaxCompactionLagMs:     DefaultMaxCompactionLagMs,
	}
}

// ConfigNames lists the topic config names a Config understands, sorted.
func ConfigNames() []string {
	names := []string{ConfigSegmentBytes, ConfigSegmentMs, ConfigSegmentIndexBytes, ConfigIndexIntervalBytes,
		ConfigRetentionMs, ConfigRetentionBytes, ConfigMaxMessageBytes, ConfigCleanupPolicy, ConfigFlushMessages,
		ConfigFlushMs, ConfigMessageTimestampType, ConfigProducerIDExpirationMs, ConfigCompressionType,
		ConfigMaxProducersPerPartition, ConfigMinInsyncReplicas, ConfigUncleanLeaderElectionEnable,
		ConfigLeaderReplicationThrottledReplicas, ConfigFollowerReplicationThrottledReplicas,
		ConfigDeleteRetentionMs, ConfigMinCleanableDirtyRatio, ConfigMinCompactionLagMs, ConfigMaxCompactionLagMs}
	sort.Strings(names)
	return names
}

// With returns c with the given Kafka-named settings applied and validated.
func (c Config) With(settings map[string]string) (Config, error) {
	for name, v := range settings {
		if err := c.set(name, v); err != nil {
			return c, err
		}
	}
	return c, c.Validate()
}

func (c *Config) set(name, v string) error {
	bad := func(err error) error {
		return fmt.Errorf("%w: %s=%q: %v", ErrInvalidConfig, name, v, err)
	}
	i64 := func(dst *int64) error {
		n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if err != nil {
			return bad(err)
		}
		*dst = n
		return nil
	}
	i32 := func(dst *int) error {
		n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 32)
		if err != nil {
			return bad(err)
		}
		*dst = int(n)
		return nil
	}
	switch name {
	case ConfigSegmentBytes:
		return i64(&c.SegmentBytes)
	case ConfigSegmentMs:
		return i64(&c.SegmentMs)
	case ConfigSegmentIndexBytes:
		return i32(&c.SegmentIndexBytes)
	case ConfigIndexIntervalBytes:
		return i32(&c.IndexIntervalBytes)
	case ConfigRetentionMs:
		return i64(&c.RetentionMs)
	case ConfigRetentionBytes:
		return i64(&c.RetentionBytes)
	case ConfigMaxMessageBytes:
		return i32(&c.MaxMessageBytes)
	case ConfigFlushMessages:
		return i64(&c.FlushMessages)
	case ConfigFlushMs:
		return i64(&c.FlushMs)
	case ConfigProducerIDExpirationMs:
		return i64(&c.ProducerIDExpirationMs)
	case ConfigMaxProducersPerPartition:
		return i32(&c.MaxProducersPerPartition)
	case ConfigCleanupPolicy:
		c.CleanupPolicy = normalizePolicy(v)
		return nil
	case ConfigDeleteRetentionMs:
		return i64(&c.DeleteRetentionMs)
	case ConfigMinCompactionLagMs:
		return i64(&c.MinCompactionLagMs)
	case ConfigMaxCompactionLagMs:
		return i64(&c.MaxCompactionLagMs)
	case ConfigMinCleanableDirtyRatio:
		f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil {
			return bad(err)
		}
		c.MinCleanableDirtyRatio = f
		return nil
	case ConfigMessageTimestampType:
		c.MessageTimestampType = strings.TrimSpace(v)
		return nil
	case ConfigCompressionType:
		c.CompressionType = strings.TrimSpace(v)
		return nil
	case ConfigMinInsyncReplicas:
		return i32(&c.MinInsyncReplicas)
	case ConfigUncleanLeaderElectionEnable:
		// Kafka's booleans: true or false in any case, nothing else.
		switch b := strings.TrimSpace(v); {
		case strings.EqualFold(b, "true"):
			c.UncleanLeaderElectionEnable = true
		case strings.EqualFold(b, "false"):
			c.UncleanLeaderElectionEnable = false
		default:
			return bad(errors.New("must be true or false"))
		}
		return nil
	case ConfigLeaderReplicationThrottledReplicas, ConfigFollowerReplicationThrottledReplicas:
		if _, err := ParseThrottledReplicas(v); err != nil {
			return bad(err)
		}
		if name == ConfigLeaderReplicationThrottledReplicas {
			c.LeaderReplicationThrottledReplicas = strings.TrimSpace(v)
		} else {
			c.FollowerReplicationThrottledReplicas = strings.TrimSpace(v)
		}
		return nil
	}
	return fmt.Errorf("%w: unknown config %q", ErrInvalidConfig, name)
}

// Validate checks every value against Kafka's bounds.
func (c Config) Validate() error {
	bad := func(name string, v any, why string) error {
		return fmt.Errorf("%w: %s=%v: %s", ErrInvalidConfig, name, v, why)
	}
	switch {
	case c.SegmentBytes < minSegmentBytes || c.SegmentBytes > segment.MaxSegmentBytes:
		return bad(ConfigSegmentBytes, c.SegmentBytes, fmt.Sprintf("must be in [%d, %d]", minSegmentBytes, int64(segment.MaxSegmentBytes)))
	case c.SegmentMs < 1:
		return bad(ConfigSegmentMs, c.SegmentMs, "must be >= 1")
	case c.SegmentIndexBytes < 4*index.TimeEntrySize:
		return bad(ConfigSegmentIndexBytes, c.SegmentIndexBytes, fmt.Sprintf("must be >= %d", 4*index.TimeEntrySize))
	case c.IndexIntervalBytes < 0:
		return bad(ConfigIndexIntervalBytes, c.IndexIntervalBytes, "must be >= 0")
	case c.RetentionMs < -1:
		return bad(ConfigRetentionMs, c.RetentionMs, "must be >= -1")
	case c.RetentionBytes < -1:
		return bad(ConfigRetentionBytes, c.RetentionBytes, "must be >= -1")
	case c.MaxMessageBytes < 0:
		return bad(ConfigMaxMessageBytes, c.MaxMessageBytes, "must be >= 0")
	case c.FlushMessages < 1:
		return bad(ConfigFlushMessages, c.FlushMessages, "must be >= 1")
	case c.FlushMs < 0:
		return bad(ConfigFlushMs, c.FlushMs, "must be >= 0")
	case c.ProducerIDExpirationMs < 1:
		return bad(ConfigProducerIDExpirationMs, c.ProducerIDExpirationMs, "must be >= 1")
	case c.MaxProducersPerPartition < 0:
		return bad(ConfigMaxProducersPerPartition, c.MaxProducersPerPartition, "must be >= 0 (0: no limit)")
	case c.MinInsyncReplicas < 1:
		return bad(ConfigMinInsyncReplicas, c.MinInsyncReplicas, "must be >= 1")
	case c.MinInsyncReplicas > partitionReplicas:
		return bad(ConfigMinInsyncReplicas, c.MinInsyncReplicas, fmt.Sprintf(
			"a single broker has one replica of each partition, so at most %d can be in sync and "+
				"every acks=all produce would fail with NOT_ENOUGH_REPLICAS; it must be %d", partitionReplicas, partitionReplicas))
	}
	switch c.CleanupPolicy {
	case CleanupPolicyDelete, CleanupPolicyCompact, CleanupPolicyCompact + "," + CleanupPolicyDelete, CleanupPolicyDelete + "," + CleanupPolicyCompact:
	default:
		return bad(ConfigCleanupPolicy, c.CleanupPolicy, "must be delete, compact or both (compact,delete)")
	}
	switch {
	case c.DeleteRetentionMs < 0:
		return bad(ConfigDeleteRetentionMs, c.DeleteRetentionMs, "must be >= 0")
	case !(c.MinCleanableDirtyRatio >= 0 && c.MinCleanableDirtyRatio <= 1): // NaN too
		return bad(ConfigMinCleanableDirtyRatio, c.MinCleanableDirtyRatio, "must be in [0, 1]")
	case c.MinCompactionLagMs < 0:
		return bad(ConfigMinCompactionLagMs, c.MinCompactionLagMs, "must be >= 0")
	case c.MaxCompactionLagMs < 1:
		return bad(ConfigMaxCompactionLagMs, c.MaxCompactionLagMs, "must be >= 1")
	case c.MaxCompactionLagMs < c.MinCompactionLagMs:
		return bad(ConfigMaxCompactionLagMs, c.MaxCompactionLagMs,
			fmt.Sprintf("must be >= %s (%d)", ConfigMinCompactionLagMs, c.MinCompactionLagMs))
	}
	switch c.MessageTimestampType {
	case TimestampTypeCreateTime, TimestampTypeLogAppend:
	default:
		return bad(ConfigMessageTimestampType, c.MessageTimestampType, "must be CreateTime or LogAppendTime")
	}
	switch c.CompressionType {
	case CompressionProducer, "uncompressed", "gzip", "snappy", "lz4", "zstd":
	default:
		return bad(ConfigCompressionType, c.CompressionType, "must be one of producer, uncompressed, gzip, snappy, lz4, zstd")
	}
	return nil
}

// Map returns the settings by Kafka name, as strings.
func (c Config) Map() map[string]string {
	return map[string]string{
		ConfigSegmentBytes:           strconv.FormatInt(c.SegmentBytes, 10),
		ConfigSegmentMs:              strconv.FormatInt(c.SegmentMs, 10),
		ConfigSegmentIndexBytes:      strconv.Itoa(c.SegmentIndexBytes),
		ConfigIndexIntervalBytes:     strconv.Itoa(c.IndexIntervalBytes),
		ConfigRetentionMs:            strconv.FormatInt(c.RetentionMs, 10),
		ConfigRetentionBytes:         strconv.FormatInt(c.RetentionBytes, 10),
		ConfigMaxMessageBytes:        strconv.Itoa(c.MaxMessageBytes),
		ConfigCleanupPolicy:          c.CleanupPolicy,
		ConfigFlushMessages:          strconv.FormatInt(c.FlushMessages, 10),
		ConfigFlushMs:                strconv.FormatInt(c.FlushMs, 10),
		ConfigMessageTimestampType:   c.MessageTimestampType,
		ConfigProducerIDExpirationMs: strconv.FormatInt(c.ProducerIDExpirationMs, 10),
		ConfigCompressionType:        c.CompressionType,

		ConfigMaxProducersPerPartition: strconv.Itoa(c.MaxProducersPerPartition),

		// Replication only.
		ConfigMinInsyncReplicas:           strconv.Itoa(c.MinInsyncReplicas),
		ConfigUncleanLeaderElectionEnable: strconv.FormatBool(c.UncleanLeaderElectionEnable),

		ConfigLeaderReplicationThrottledReplicas:   c.LeaderReplicationThrottledReplicas,
		ConfigFollowerReplicationThrottledReplicas: c.FollowerReplicationThrottledReplicas,

		// Compaction.
		ConfigDeleteRetentionMs:      strconv.FormatInt(c.DeleteRetentionMs, 10),
		ConfigMinCleanableDirtyRatio: strconv.FormatFloat(c.MinCleanableDirtyRatio, 'g', -1, 64),
		ConfigMinCompactionLagMs:     strconv.FormatInt(c.MinCompactionLagMs, 10),
		ConfigMaxCompactionLagMs:     strconv.FormatInt(c.MaxCompactionLagMs, 10),
	}
}

// Compacted reports whether cleanup.policy includes compact: the log
// cleaner keeps the latest record of each key, and records without a key
// are refused.
func (c Config) Compacted() bool { return c.hasPolicy(CleanupPolicyCompact) }

// Deletes reports whether cleanup.policy includes delete: retention.ms and
// retention.bytes delete old segments. With compact alone they do not.
func (c Config) Deletes() bool { return c.hasPolicy(CleanupPolicyDelete) }

func (c Config) hasPolicy(p string) bool {
	// Without strings.Split: the append path asks, and must not allocate.
	for rest := c.CleanupPolicy; ; {
		item, more, found := strings.Cut(rest, ",")
		if item == p {
			return true
		}
		if !found {
			return false
		}
		rest = more
	}
}

// normalizePolicy drops the blanks around the items of a cleanup.policy
// list ("compact, delete" is "compact,delete"), as Kafka's list parser does.
func normalizePolicy(v string) string {
	items := strings.Split(v, ",")
	for i := range items {
		items[i] = strings.TrimSpace(items[i])
	}
	return strings.Join(items, ",")
}

func (c *Config) logger() *slog.Logger {
	if c.Logger != nil {
		return c.Logger
	}
	return slog.Default()
}

// now is the wall clock of timestamps (internal/wallclock): never a
// duration's.
func (c *Config) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return wallclock.Now()
}

// segmentConfig is the segments' config for a log whose cleaner has
// compacted everything below compactedBefore.
func (c *Config) segmentConfig(compactedBefore int64) segment.Config {
	// Reserve address space for a whole segment (plus one maximal batch,
	// which may overshoot segment.bytes) so the active segment is mapped
	// once; address space is free, and pages are only touched when read.
	initial := int(c.SegmentBytes) + c.MaxMessageBytes
	return segment.Config{
		IndexIntervalBytes: max(c.IndexIntervalBytes, 1),
		MaxIndexBytes:      c.indexBytes(),
		InitialMapBytes:    initial,
		WrapFile:           c.WrapFile,
		CompactedBefore:    compactedBefore,
	}
}

// indexBytes is the maximum size of each index of a new segment (what its
// mapping reserves; the file is allocated as entries are added):
// segment.index.bytes, but no more than a full segment can use. A segment
// adds at most one entry per index.interval.bytes (plus the first and the
// closing time entry), so with Kafka's defaults 3 MiB suffice where 10 MiB
// would be reserved. Sized for the larger (time) entry, and never below
// segment.index.bytes' minimum.
func (c *Config) indexBytes() int {
	need := (c.SegmentBytes/int64(max(c.IndexIntervalBytes, 1)) + 3) * index.TimeEntrySize
	page := int64(os.Getpagesize())
	need = (need + page - 1) / page * page
	return int(min(int64(c.SegmentIndexBytes), need))
}
