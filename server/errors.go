package server

import (
	"context"
	"errors"
	"syscall"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/tributary-io/tributary/auth"
	tlog "github.com/tributary-io/tributary/log"
	"github.com/tributary-io/tributary/replica"
)

// errorCode maps an error from the storage layer to the Kafka error code a
// client understands. It is the one place where that mapping lives.
func errorCode(err error) int16 {
	if err == nil {
		return 0
	}
	if code, ok := groupErrorCode(err); ok {
		return code
	}
	switch {
	case errors.Is(err, tlog.ErrProducerIDBlockUnavailable):
		// InitProducerId while the cluster's producer ID blocks are out
		// of reach. Kafka's answer, retried by every client version
		// (REQUEST_TIMED_OUT would be fatal to older ones), whatever
		// the failed fetch wraps (a deadline, a lost quorum): so first.
		return kerr.CoordinatorLoadInProgress.Code
	case errors.Is(err, tlog.ErrOffsetOutOfRange):
		return kerr.OffsetOutOfRange.Code
	case errors.Is(err, tlog.ErrCorruptBatch):
		return kerr.CorruptMessage.Code
	case errors.Is(err, tlog.ErrMessageTooLarge):
		return kerr.MessageTooLarge.Code
	case errors.Is(err, tlog.ErrMissingKey), errors.Is(err, tlog.ErrInvalidRecord):
		return kerr.InvalidRecord.Code
	case errors.Is(err, tlog.ErrTransactional):
		return kerr.InvalidTxnState.Code
	case errors.Is(err, tlog.ErrDiskFull), errors.Is(err, tlog.ErrStorage), noSpace(err),
		errors.Is(err, tlog.ErrFileLimit), errors.Is(err, tlog.ErrMapLimit), outOfFiles(err):
		// Kafka's answer when a log dir fails. The log package has
		// logged which limit was hit and what raises it.
		return kerr.KafkaStorageError.Code
	case errors.Is(err, tlog.ErrClosed):
		// The partition went away under the request (topic deleted or
		// broker stopping): the client refreshes metadata and retries.
		return kerr.NotLeaderForPartition.Code
	case errors.Is(err, tlog.ErrInvalidConfig):
		return kerr.InvalidConfig.Code
	case errors.Is(err, tlog.ErrTopicExists):
		return kerr.TopicAlreadyExists.Code
	case errors.Is(err, tlog.ErrUnknownTopic):
		return kerr.UnknownTopicOrPartition.Code
	case errors.Is(err, tlog.ErrInvalidTopic):
		return kerr.InvalidTopicException.Code
	case errors.Is(err, tlog.ErrInvalidPartitions):
		return kerr.InvalidPartitions.Code
	case errors.Is(err, auth.ErrInvalidACL):
		return kerr.InvalidRequest.Code
	}
	if code, ok := replicaErrorCode(err); ok {
		return code
	}
	if code, ok := producerErrorCode(err); ok {
		return code
	}
	return kerr.UnknownServerError.Code
}

// errorMessage is the human-readable text some responses carry next to the
// code; nil when there is no error.
func errorMessage(err error) *string {
	if err == nil {
		return nil
	}
	s := err.Error()
	return &s
}

// noSpace reports a full disk (or quota) met outside an append, which the
// log reports as ErrDiskFull: topic metadata, a new partition's files.
func noSpace(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT)
}

// outOfFiles reports running out of file descriptors met outside the log
// package's own checks (topic metadata files).
func outOfFiles(err error) bool {
	return errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE)
}

// replicaErrorCode maps the replication engine's errors (package replica)
// to the codes Kafka answers them with.
func replicaErrorCode(err error) (int16, bool) {
	switch {
	case errors.Is(err, replica.ErrNotLeaderOrFollower), errors.Is(err, replica.ErrClosed):
		// Leadership moved (or the broker is stopping): the client
		// refreshes its metadata and retries at the new leader.
		return kerr.NotLeaderForPartition.Code, true
	case errors.Is(err, replica.ErrFencedLeaderEpoch):
		return kerr.FencedLeaderEpoch.Code, true
	case errors.Is(err, replica.ErrUnknownLeaderEpoch):
		return kerr.UnknownLeaderEpoch.Code, true
	case errors.Is(err, replica.ErrNotEnoughReplicas):
		return kerr.NotEnoughReplicas.Code, true
	case errors.Is(err, replica.ErrNotEnoughReplicasAfterAppend):
		return kerr.NotEnoughReplicasAfterAppend.Code, true
	case errors.Is(err, replica.ErrOffsetOutOfRange):
		return kerr.OffsetOutOfRange.Code, true
	case errors.Is(err, context.DeadlineExceeded):
		// An acks=all produce not committed within the request's timeout.
		return kerr.RequestTimedOut.Code, true
	case errors.Is(err, context.Canceled):
		// The broker shut down under a waiting request.
		return kerr.NotLeaderForPartition.Code, true
	}
	return 0, false
}
