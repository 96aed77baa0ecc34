package consumergroup

import (
	"time"
)

// State is a group's state, named as Kafka names it in DescribeGroups and
// ListGroups.
type State int8

const (
	Empty State = iota
	PreparingRebalance
	CompletingRebalance
	Stable
	Dead
)

var stateNames = [...]string{"Empty", "PreparingRebalance", "CompletingRebalance", "Stable", "Dead"}

func (s State) String() string {
	if int(s) < len(stateNames) {
		return stateNames[s]
	}
	return "Unknown"
}

// ParseState returns the state of a Kafka state name, case-insensitively
// (ListGroups' states filter), and false for an unknown name.
func ParseState(name string) (State, bool) {
	for i, n := range stateNames {
		if equalFold(n, name) {
			return State(i), true
		}
	}
	return 0, false
}

func equalFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// Protocol is one assignment protocol a member supports (for consumers:
// an assignor name and the member's subscription).
type Protocol struct {
	Name     string
	Metadata []byte
}

// JoinRequest is a JoinGroup request.
type JoinRequest struct {
	Group      string
	MemberID   string  // "" for a member's first join
	InstanceID *string // group.instance.id of a static member
	ClientID   string
	ClientHost string
	// ProtocolType is "consumer" for consumers (Connect uses "connect").
	ProtocolType     string
	Protocols        []Protocol
	SessionTimeout   time.Duration
	RebalanceTimeout time.Duration
	// RequireKnownMemberID (JoinGroup v4+, KIP-394): a first join is
	// answered with MEMBER_ID_REQUIRED and the id to rejoin with.
	RequireKnownMemberID bool
	Reason               string
}

// MemberMetadata is one member as the leader sees it in its JoinGroup answer.
type MemberMetadata struct {
	MemberID   string
	InstanceID *string
	Metadata   []byte
}

// JoinResult is the JoinGroup answer. Err is one of the package's sentinel
// errors; MemberID is set even with ErrMemberIDRequired.
type JoinResult struct {
	Err          error
	Generation   int32
	ProtocolType string
	Protocol     string
	Leader       string
	MemberID     string
	// Members is filled for the leader only.
	Members []MemberMetadata
	// SkipAssignment (JoinGroup v9) tells a static leader that rejoined a
	// stable group to keep the current assignment.
	SkipAssignment bool
}

// SyncRequest is a SyncGroup request.
type SyncRequest struct {
	Group        string
	MemberID     string
	InstanceID   *string
	Generation   int32
	ProtocolType *string // v5+
	Protocol     *string // v5+
	// Assignments is the leader's assignment by member id; empty for
	// followers.
	Assignments map[string][]byte
}

// SyncResult is the SyncGroup answer.
type SyncResult struct {
	Err          error
	ProtocolType string
	Protocol     string
	Assignment   []byte
}

// HeartbeatRequest is a Heartbeat request.
type HeartbeatRequest struct {
	Group      string
	MemberID   string
	InstanceID *string
	Generation int32
}

// LeaveMember is one member leaving (LeaveGroup v3+ takes several).
type LeaveMember struct {
	MemberID   string
	InstanceID *string
	Reason     string
}

// TopicPartition names one partition.
type TopicPartition struct {
	Topic     string
	Partition int32
}

// CommitOffset is one partition's offset in a commit.
type CommitOffset struct {
	TopicPartition
	Offset      int64
	LeaderEpoch int32
	Metadata    *string
}

// CommitRequest is an OffsetCommit request.
type CommitRequest struct {
	Group      string
	MemberID   string
	InstanceID *string
	// Generation is -1 for a simple commit (no group membership).
	Generation int32
	// Retention (OffsetCommit v2-v4) overrides offsets.retention.minutes
	// for these offsets; <= 0 means the broker's setting.
	Retention time.Duration
	Offsets   []CommitOffset
}

// OffsetAndMetadata is one committed offset.
type OffsetAndMetadata struct {
	Offset      int64
	LeaderEpoch int32 // -1 when unknown
	Metadata    string
	// CommitTime is when the broker stored it (unix ms).
	CommitTime int64
	// ExpireTime is an explicit expiry (unix ms) from a v1-v4 commit
	// with a retention time, or -1.
	ExpireTime int64
}

// MemberDescription is one member in DescribeGroups.
type MemberDescription struct {
	MemberID   string
	InstanceID *string
	ClientID   string
	ClientHost string
	// Metadata is the member's metadata for the group's protocol.
	Metadata   []byte
	Assignment []byte
}

// GroupDescription is DescribeGroups' view of a group.
type GroupDescription struct {
	Group        string
	State        State
	ProtocolType string
	// Protocol is the generation's protocol; "" unless Stable, as Kafka.
	Protocol   string
	Generation int32
	Leader     string
	Members    []MemberDescription
}

// GroupListing is ListGroups' view of a group.
type GroupListing struct {
	Group        string
	ProtocolType string
	State        State
	Members      int
}

// PartitionLag is one committed offset with the partition's log end offset
// (its high watermark), for lag metrics and tools.
type PartitionLag struct {
	Group string
	TopicPartition
	Committed int64
	// LogEnd is -1 when the partition no longer exists.
	LogEnd int64
	// Lag is LogEnd - Committed, never negative; -1 when LogEnd is.
	Lag int64
}
