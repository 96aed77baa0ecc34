package server

import (
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/tributary-io/tributary/consumergroup"
)

// groupErrorCode maps the coordinator's errors. It is consulted first by
// errorCode: a coordinator error may wrap a storage error (a commit that
// could not be appended), and the client must see the coordinator's code,
// which it knows how to retry, not the storage one.
func groupErrorCode(err error) (int16, bool) {
	for _, e := range groupErrors {
		if errors.Is(err, e.err) {
			return e.code, true
		}
	}
	return 0, false
}

var groupErrors = []struct {
	err  error
	code int16
}{
	{consumergroup.ErrInvalidGroupID, kerr.InvalidGroupID.Code},
	{consumergroup.ErrInvalidSessionTimeout, kerr.InvalidSessionTimeout.Code},
	{consumergroup.ErrInconsistentProtocol, kerr.InconsistentGroupProtocol.Code},
	{consumergroup.ErrUnknownMemberID, kerr.UnknownMemberID.Code},
	{consumergroup.ErrMemberIDRequired, kerr.MemberIDRequired.Code},
	{consumergroup.ErrIllegalGeneration, kerr.IllegalGeneration.Code},
	{consumergroup.ErrRebalanceInProgress, kerr.RebalanceInProgress.Code},
	{consumergroup.ErrFencedInstanceID, kerr.FencedInstanceID.Code},
	{consumergroup.ErrGroupMaxSize, kerr.GroupMaxSizeReached.Code},
	// In a cluster: before ErrCoordinatorNotAvailable, so that a write
	// whose replication failed because the leadership moved is answered
	// NOT_COORDINATOR whatever else its error wraps.
	{consumergroup.ErrNotCoordinatorForGroup, kerr.NotCoordinator.Code},
	{consumergroup.ErrNotEnoughLiveBrokers, kerr.CoordinatorNotAvailable.Code},
	{consumergroup.ErrCoordinatorNotAvailable, kerr.CoordinatorNotAvailable.Code},
	{consumergroup.ErrNotCoordinator, kerr.NotCoordinator.Code},
	{consumergroup.ErrLoadInProgress, kerr.CoordinatorLoadInProgress.Code},
	{consumergroup.ErrGroupNotFound, kerr.GroupIDNotFound.Code},
	{consumergroup.ErrNonEmptyGroup, kerr.NonEmptyGroup.Code},
	{consumergroup.ErrUnknownTopicOrPartition, kerr.UnknownTopicOrPartition.Code},
	{consumergroup.ErrMetadataTooLarge, kerr.OffsetMetadataTooLarge.Code},
	{consumergroup.ErrCommitTooLarge, kerr.InvalidCommitOffsetSize.Code},
	{consumergroup.ErrGroupSubscribedToTopic, kerr.GroupSubscribedToTopic.Code},
	{consumergroup.ErrInvalidRequest, kerr.InvalidRequest.Code},
}
