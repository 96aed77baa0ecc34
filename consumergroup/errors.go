package consumergroup

import "errors"

// Conditions callers branch on; the server maps each to its Kafka error
// code (named in the comment) in one place.
var (
	// ErrInvalidGroupID: an empty group id (INVALID_GROUP_ID).
	ErrInvalidGroupID = errors.New("consumergroup: invalid group id")
	// ErrInvalidSessionTimeout: outside group.min/max.session.timeout.ms
	// (INVALID_SESSION_TIMEOUT).
	ErrInvalidSessionTimeout = errors.New("consumergroup: session timeout outside the broker's bounds")
	// ErrInconsistentProtocol: the member's protocol type or protocols
	// match no protocol every member supports (INCONSISTENT_GROUP_PROTOCOL).
	ErrInconsistentProtocol = errors.New("consumergroup: no protocol in common with the group")
	// ErrUnknownMemberID: the member is not in the group (UNKNOWN_MEMBER_ID).
	ErrUnknownMemberID = errors.New("consumergroup: unknown member id")
	// ErrMemberIDRequired: first JoinGroup of a member (KIP-394); the
	// answer carries the id to rejoin with (MEMBER_ID_REQUIRED).
	ErrMemberIDRequired = errors.New("consumergroup: member id required")
	// ErrIllegalGeneration: a generation other than the group's
	// (ILLEGAL_GENERATION).
	ErrIllegalGeneration = errors.New("consumergroup: illegal generation")
	// ErrRebalanceInProgress: the group is rebalancing; rejoin
	// (REBALANCE_IN_PROGRESS).
	ErrRebalanceInProgress = errors.New("consumergroup: rebalance in progress")
	// ErrFencedInstanceID: another member holds this group.instance.id
	// (FENCED_INSTANCE_ID).
	ErrFencedInstanceID = errors.New("consumergroup: static member fenced by a newer instance")
	// ErrGroupMaxSize: the group has group.max.size members
	// (GROUP_MAX_SIZE_REACHED).
	ErrGroupMaxSize = errors.New("consumergroup: group is full")
	// ErrCoordinatorNotAvailable: the coordinator is stopping, the group
	// is being removed, or __consumer_offsets cannot be written; retry
	// (COORDINATOR_NOT_AVAILABLE).
	ErrCoordinatorNotAvailable = errors.New("consumergroup: coordinator not available")
	// ErrNotCoordinator: __consumer_offsets could not be written because
	// the storage failed or is full; the client looks the coordinator up
	// again and retries (NOT_COORDINATOR, Kafka's answer to a storage
	// error on the offsets topic).
	ErrNotCoordinator = errors.New("consumergroup: offsets topic storage failed")
	// ErrNotCoordinatorForGroup: in a cluster, this broker does not own
	// (no longer, or not yet) the __consumer_offsets partition of the
	// group; the client looks the coordinator up again (NOT_COORDINATOR).
	ErrNotCoordinatorForGroup = errors.New("consumergroup: not the coordinator of the group")
	// ErrNotEnoughLiveBrokers: __consumer_offsets cannot be created yet,
	// fewer brokers are live than offsets.topic.replication.factor
	// (COORDINATOR_NOT_AVAILABLE, KIP-115). Config.CreateOffsetsTopic
	// wraps it; the coordinator's error wraps it and
	// ErrCoordinatorNotAvailable.
	ErrNotEnoughLiveBrokers = errors.New("consumergroup: fewer live brokers than offsets.topic.replication.factor")
	// ErrLoadInProgress: __consumer_offsets (in a cluster: the group's
	// partition of it) is still being replayed
	// (COORDINATOR_LOAD_IN_PROGRESS).
	ErrLoadInProgress = errors.New("consumergroup: offsets are loading")
	// ErrGroupNotFound: no such group (GROUP_ID_NOT_FOUND).
	ErrGroupNotFound = errors.New("consumergroup: group not found")
	// ErrNonEmptyGroup: the group has members (NON_EMPTY_GROUP).
	ErrNonEmptyGroup = errors.New("consumergroup: group has members")
	// ErrUnknownTopicOrPartition: a commit for a partition that does not
	// exist (UNKNOWN_TOPIC_OR_PARTITION).
	ErrUnknownTopicOrPartition = errors.New("consumergroup: unknown topic or partition")
	// ErrMetadataTooLarge: commit metadata over offset.metadata.max.bytes
	// (OFFSET_METADATA_TOO_LARGE).
	ErrMetadataTooLarge = errors.New("consumergroup: offset metadata too large")
	// ErrCommitTooLarge: one commit's records exceed what one append to
	// __consumer_offsets takes (INVALID_COMMIT_OFFSET_SIZE).
	ErrCommitTooLarge = errors.New("consumergroup: commit too large")
	// ErrGroupSubscribedToTopic: OffsetDelete of a topic a member still
	// subscribes to (GROUP_SUBSCRIBED_TO_TOPIC).
	ErrGroupSubscribedToTopic = errors.New("consumergroup: group is subscribed to the topic")
	// ErrInvalidRequest: a request no valid client sends, such as a
	// SyncGroup naming another protocol (INCONSISTENT_GROUP_PROTOCOL is
	// used for that; this is for malformed member lists) (INVALID_REQUEST).
	ErrInvalidRequest = errors.New("consumergroup: invalid request")
)
