package consumergroup

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"time"

	"github.com/tributary-io/tributary/internal/wallclock"
	tlog "github.com/tributary-io/tributary/log"
)

// Kafka's broker defaults for the group coordinator.
const (
	// DefaultOffsetsTopicPartitions is offsets.topic.num.partitions.
	DefaultOffsetsTopicPartitions = 50
	// DefaultOffsetsTopicSegmentBytes is offsets.topic.segment.bytes:
	// small segments so that compaction can clean all but the newest.
	DefaultOffsetsTopicSegmentBytes = 100 << 20
	// DefaultOffsetsRetention is offsets.retention.minutes (7 days).
	DefaultOffsetsRetention = 7 * 24 * time.Hour
	// DefaultOffsetsRetentionCheckInterval is offsets.retention.check.interval.ms.
	DefaultOffsetsRetentionCheckInterval = 10 * time.Minute
	// DefaultInitialRebalanceDelay is group.initial.rebalance.delay.ms.
	DefaultInitialRebalanceDelay = 3 * time.Second
	// DefaultMinSessionTimeout is group.min.session.timeout.ms.
	DefaultMinSessionTimeout = 6 * time.Second
	// DefaultMaxSessionTimeout is group.max.session.timeout.ms.
	DefaultMaxSessionTimeout = 30 * time.Minute
	// DefaultMaxGroupSize is group.max.size: unlimited.
	DefaultMaxGroupSize = math.MaxInt32
	// DefaultOffsetMetadataMaxBytes is offset.metadata.max.bytes.
	DefaultOffsetMetadataMaxBytes = 4096
	// DefaultMetricsMaxEmptyPartitions is group.metrics.max.empty.partitions:
	// about 2,000 series (committed offset and lag) of groups without
	// members, ~200 KB of /metrics with short group ids.
	DefaultMetricsMaxEmptyPartitions = 1000
	// DefaultMaxCreationRatePerConnection is
	// group.max.creation.rate.per.connection: unlimited, as Kafka, which
	// has no such limit.
	DefaultMaxCreationRatePerConnection = math.MaxInt32
	// DefaultOffsetsCommitTimeout is offsets.commit.timeout.ms: how long a
	// write to __consumer_offsets waits for its partition's in-sync
	// replicas (Config.WaitAppended) before it is answered
	// COORDINATOR_NOT_AVAILABLE.
	DefaultOffsetsCommitTimeout = 5 * time.Second
)

// OffsetsTopic is the internal topic holding commits and group metadata.
const OffsetsTopic = "__consumer_offsets"

// Config is the coordinator's configuration, by Kafka's broker setting names.
type Config struct {
	OffsetsTopicPartitions        int           // offsets.topic.num.partitions
	OffsetsTopicSegmentBytes      int64         // offsets.topic.segment.bytes
	OffsetsRetention              time.Duration // offsets.retention.minutes
	OffsetsRetentionCheckInterval time.Duration // offsets.retention.check.interval.ms
	InitialRebalanceDelay         time.Duration // group.initial.rebalance.delay.ms
	MinSessionTimeout             time.Duration // group.min.session.timeout.ms
	MaxSessionTimeout             time.Duration // group.max.session.timeout.ms
	MaxGroupSize                  int           // group.max.size
	OffsetMetadataMaxBytes        int           // offset.metadata.max.bytes
	// MetricsMaxEmptyPartitions (group.metrics.max.empty.partitions)
	// bounds the commits of groups without members that get their own
	// series in Metrics; groups with members always do.
	MetricsMaxEmptyPartitions int
	// MaxCreationRatePerConnection (group.max.creation.rate.per.connection)
	// is the groups one connection may create per second (a simple commit
	// or a first JoinGroup naming a group that does not exist); the server
	// throttles a connection past it, as Kafka's quotas do.
	// DefaultMaxCreationRatePerConnection (math.MaxInt32) is unlimited.
	MaxCreationRatePerConnection int
	OffsetsCommitTimeout         time.Duration // offsets.commit.timeout.ms

	// Cluster makes the coordinator one of a cluster's: it coordinates
	// only the groups of the __consumer_offsets partitions the caller
	// hands it with LoadPartition (the partitions this broker leads) until
	// UnloadPartition, and Start replays nothing. Off (a single broker):
	// it owns every partition and Start replays them all.
	Cluster bool
	// WaitAppended, when set, is called after every append to
	// __consumer_offsets with the partition and the append's last offset,
	// and the write (a commit, a group's assignment) is answered, and
	// takes effect in memory, only once it returns nil: in a cluster, the
	// server waits there for the partition's in-sync replicas (the high
	// watermark past lastOffset). ctx ends at offsets.commit.timeout.ms,
	// when the partition is unloaded, or at Close. An error that wraps
	// ErrNotCoordinatorForGroup (the broker no longer leads the
	// partition) is answered NOT_COORDINATOR; any other error (too few
	// in-sync replicas, the timeout) COORDINATOR_NOT_AVAILABLE, as
	// Kafka's group coordinator maps its append errors. Nil: a write is
	// answered once appended to the local log.
	WaitAppended func(ctx context.Context, partition int32, lastOffset int64) error
	// AppendAsLeader, when set, makes every append to __consumer_offsets
	// partition: it calls appendFn(batches) (the local log's append) only
	// while this broker leads the partition, under the partition
	// leader's lock, as a produce appends, so that nothing is written
	// once leadership moved, even before UnloadPartition (in a cluster,
	// replica.Leader.Append). An error wrapping
	// ErrNotCoordinatorForGroup is answered NOT_COORDINATOR, any other
	// of its own (too few in-sync replicas) COORDINATOR_NOT_AVAILABLE.
	// Nil: the coordinator appends to the local log itself.
	AppendAsLeader func(partition int32, appendFn func([]byte) (tlog.AppendInfo, error), batches []byte) (tlog.AppendInfo, error)
	// CreateOffsetsTopic, when set, creates __consumer_offsets with this
	// many partitions (through the cluster's metadata, replicated with
	// offsets.topic.replication.factor) instead of in the local Manager.
	// It must return nil when the topic exists already; its error should
	// wrap ErrNotEnoughLiveBrokers when fewer brokers are live than the
	// replication factor (KIP-115). Any error is answered
	// COORDINATOR_NOT_AVAILABLE. Nil: the topic is created locally.
	CreateOffsetsTopic func(partitions int) error
	// LookupTopic, when set, tells whether a topic exists, with its ID and
	// partition count, for the checks of a commit: in a cluster the
	// server answers from its metadata, as this broker may hold no
	// replica of a topic its groups commit. Nil: the local Manager's.
	LookupTopic func(name string) (id [16]byte, partitions int, ok bool)

	// LoadHook, when set, runs on the load's goroutine before a replay:
	// of partition p by LoadPartition (Config.Cluster), or of the whole
	// topic by Start (p = -1, a single broker). Tests hold a load open
	// with it to see what clients get meanwhile. Nil: nothing.
	LoadHook func(partition int32)

	// Logger receives membership and load lines; nil means slog.Default().
	Logger *slog.Logger
	// Now stamps commits and state changes (offset expiry); nil means
	// wallclock.Now. Session and rebalance timers always use the
	// monotonic clock (time.Now), which a wall-clock jump leaves alone.
	Now func() time.Time
}

// DefaultConfig returns Kafka's defaults.
func DefaultConfig() Config {
	return Config{
		OffsetsTopicPartitions:        DefaultOffsetsTopicPartitions,
		OffsetsTopicSegmentBytes:      DefaultOffsetsTopicSegmentBytes,
		OffsetsRetention:              DefaultOffsetsRetention,
		OffsetsRetentionCheckInterval: DefaultOffsetsRetentionCheckInterval,
		InitialRebalanceDelay:         DefaultInitialRebalanceDelay,
		MinSessionTimeout:             DefaultMinSessionTimeout,
		MaxSessionTimeout:             DefaultMaxSessionTimeout,
		MaxGroupSize:                  DefaultMaxGroupSize,
		OffsetMetadataMaxBytes:        DefaultOffsetMetadataMaxBytes,
		MetricsMaxEmptyPartitions:     DefaultMetricsMaxEmptyPartitions,
		MaxCreationRatePerConnection:  DefaultMaxCreationRatePerConnection,
		OffsetsCommitTimeout:          DefaultOffsetsCommitTimeout,
	}
}

// Validate reports the first setting out of range.
func (c Config) Validate() error {
	switch {
	case c.OffsetsTopicPartitions < 1:
		return fmt.Errorf("consumergroup: offsets.topic.num.partitions must be at least 1, got %d", c.OffsetsTopicPartitions)
	case c.OffsetsTopicSegmentBytes < 1024:
		return fmt.Errorf("consumergroup: offsets.topic.segment.bytes must be at least 1024, got %d", c.OffsetsTopicSegmentBytes)
	case c.OffsetsRetention <= 0:
		return fmt.Errorf("consumergroup: offsets.retention.minutes must be positive, got %v", c.OffsetsRetention)
	case c.OffsetsRetentionCheckInterval <= 0:
		return fmt.Errorf("consumergroup: offsets.retention.check.interval.ms must be positive, got %v", c.OffsetsRetentionCheckInterval)
	case c.InitialRebalanceDelay < 0:
		return fmt.Errorf("consumergroup: group.initial.rebalance.delay.ms must not be negative, got %v", c.InitialRebalanceDelay)
	case c.MinSessionTimeout < 0 || c.MaxSessionTimeout < c.MinSessionTimeout:
		return fmt.Errorf("consumergroup: group session timeouts out of order: min %v, max %v", c.MinSessionTimeout, c.MaxSessionTimeout)
	case c.MaxGroupSize < 1:
		return fmt.Errorf("consumergroup: group.max.size must be at least 1, got %d", c.MaxGroupSize)
	case c.OffsetMetadataMaxBytes < 0:
		return fmt.Errorf("consumergroup: offset.metadata.max.bytes must not be negative, got %d", c.OffsetMetadataMaxBytes)
	case c.MetricsMaxEmptyPartitions < 0:
		return fmt.Errorf("consumergroup: group.metrics.max.empty.partitions must not be negative, got %d", c.MetricsMaxEmptyPartitions)
	case c.MaxCreationRatePerConnection < 1:
		return fmt.Errorf("consumergroup: group.max.creation.rate.per.connection must be at least 1, got %d", c.MaxCreationRatePerConnection)
	case c.WaitAppended != nil && c.OffsetsCommitTimeout <= 0:
		return fmt.Errorf("consumergroup: offsets.commit.timeout.ms must be positive, got %v", c.OffsetsCommitTimeout)
	}
	return nil
}

// now is the wall clock of commit and state timestamps
// (internal/wallclock): never a timer's.
func (c *Config) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return wallclock.Now()
}

func (c *Config) logger() *slog.Logger {
	if c.Logger != nil {
		return c.Logger
	}
	return slog.Default()
}
