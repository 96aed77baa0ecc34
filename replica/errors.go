package replica

import "errors"

// Sentinel errors callers branch on. The server maps each to the Kafka
// error code named in its comment, in its one error-mapping place.
var (
	// ErrNotLeaderOrFollower: this broker does not lead (or no longer
	// leads) the partition (NOT_LEADER_OR_FOLLOWER).
	ErrNotLeaderOrFollower = errors.New("replica: not the leader or follower of the partition")
	// ErrFencedLeaderEpoch: the request's leader epoch is older than the
	// partition's (FENCED_LEADER_EPOCH).
	ErrFencedLeaderEpoch = errors.New("replica: fenced leader epoch")
	// ErrUnknownLeaderEpoch: the request's leader epoch is newer than the
	// partition's as this broker knows it (UNKNOWN_LEADER_EPOCH).
	ErrUnknownLeaderEpoch = errors.New("replica: unknown leader epoch")
	// ErrNotEnoughReplicas: an acks=all produce while the ISR is smaller
	// than min.insync.replicas; nothing was appended (NOT_ENOUGH_REPLICAS).
	ErrNotEnoughReplicas = errors.New("replica: fewer in-sync replicas than min.insync.replicas")
	// ErrNotEnoughReplicasAfterAppend: the batch was appended but the ISR
	// shrank below min.insync.replicas before it was committed
	// (NOT_ENOUGH_REPLICAS_AFTER_APPEND).
	ErrNotEnoughReplicasAfterAppend = errors.New("replica: in-sync replicas fell below min.insync.replicas after the append")
	// ErrOffsetOutOfRange: a follower fetched below the log start or past
	// the log end (OFFSET_OUT_OF_RANGE).
	ErrOffsetOutOfRange = errors.New("replica: fetch offset out of range")
	// ErrCorruptFetch: a fetch response's records do not check out (bad
	// CRC, bad framing, offsets that do not follow the log); nothing of
	// them was appended.
	ErrCorruptFetch = errors.New("replica: corrupt records in fetch response")
	// ErrClosed: the Manager or fetcher is closed.
	ErrClosed = errors.New("replica: closed")
)
