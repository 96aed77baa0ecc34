package consumergroup

import (
	"fmt"
	"log/slog"
	"math"
	"time"
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

	// Logger receives membership and load lines; nil means slog.Default().
	Logger *slog.Logger
	// Now stamps commits and state changes (offset expiry); nil means
	// time.Now. Session and rebalance timers always use the real clock.
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
	}
	return nil
}

func (c *Config) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

func (c *Config) logger() *slog.Logger {
	if c.Logger != nil {
		return c.Logger
	}
	return slog.Default()
}
