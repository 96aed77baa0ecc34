package server

import (
	"context"
	"errors"
	"fmt"
	"syscall"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"

	tlog "github.com/tributary-io/tributary/log"
	"github.com/tributary-io/tributary/replica"
)

// TestErrorCode: every storage error a handler can meet reaches the client
// as Kafka's code, also when wrapped with context.
func TestErrorCode(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want *kerr.Error
	}{
		{tlog.ErrOffsetOutOfRange, kerr.OffsetOutOfRange},
		{tlog.ErrCorruptBatch, kerr.CorruptMessage},
		{tlog.ErrMessageTooLarge, kerr.MessageTooLarge},
		{tlog.ErrDiskFull, kerr.KafkaStorageError},
		{tlog.ErrStorage, kerr.KafkaStorageError},
		{tlog.ErrFileLimit, kerr.KafkaStorageError},
		{tlog.ErrMapLimit, kerr.KafkaStorageError},
		{syscall.EMFILE, kerr.KafkaStorageError},
		{syscall.ENFILE, kerr.KafkaStorageError},
		{tlog.ErrClosed, kerr.NotLeaderForPartition},
		{tlog.ErrInvalidConfig, kerr.InvalidConfig},
		{tlog.ErrTopicExists, kerr.TopicAlreadyExists},
		{tlog.ErrUnknownTopic, kerr.UnknownTopicOrPartition},
		{tlog.ErrInvalidTopic, kerr.InvalidTopicException},
		{tlog.ErrInvalidPartitions, kerr.InvalidPartitions},
		{tlog.ErrInvalidProducerEpoch, kerr.InvalidProducerEpoch},
		{tlog.ErrOutOfOrderSequence, kerr.OutOfOrderSequenceNumber},
		{tlog.ErrUnknownProducerID, kerr.UnknownProducerID},
		{tlog.ErrProducerIDBlockUnavailable, kerr.CoordinatorLoadInProgress},
		{fmt.Errorf("%w: %w", tlog.ErrProducerIDBlockUnavailable, context.DeadlineExceeded), kerr.CoordinatorLoadInProgress},
		{replica.ErrNotLeaderOrFollower, kerr.NotLeaderForPartition},
		{replica.ErrClosed, kerr.NotLeaderForPartition},
		{replica.ErrFencedLeaderEpoch, kerr.FencedLeaderEpoch},
		{replica.ErrUnknownLeaderEpoch, kerr.UnknownLeaderEpoch},
		{replica.ErrNotEnoughReplicas, kerr.NotEnoughReplicas},
		{replica.ErrNotEnoughReplicasAfterAppend, kerr.NotEnoughReplicasAfterAppend},
		{replica.ErrOffsetOutOfRange, kerr.OffsetOutOfRange},
		{context.DeadlineExceeded, kerr.RequestTimedOut},
		{errors.New("something else"), kerr.UnknownServerError},
	} {
		wrapped := fmt.Errorf("log: append in some/dir: %w", tc.err)
		if got := errorCode(wrapped); got != tc.want.Code {
			t.Errorf("%v: code %d, want %s (%d)", tc.err, got, tc.want.Message, tc.want.Code)
		}
	}
	if errorCode(nil) != 0 {
		t.Error("nil error has a code")
	}
}
