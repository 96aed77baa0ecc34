package consumergroup

// Kafka's rules for commits, offset expiry and offset deletion in groups
// with members.

import (
	"errors"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// subscription is a consumer's protocol metadata (ConsumerMemberMetadata
// v3) subscribed to topics, owning owned partitions of the first topic at
// generation gen, as Java and franz-go consumers send it.
func subscription(gen int32, owned []int32, topics ...string) []byte {
	md := kmsg.NewConsumerMemberMetadata()
	md.Version = 3
	md.Topics = topics
	md.Generation = gen
	if len(owned) > 0 {
		md.OwnedPartitions = []kmsg.ConsumerMemberMetadataOwnedPartition{{Topic: topics[0], Partitions: owned}}
	}
	return md.AppendTo(nil)
}

// TestOffsetsOfSubscribedTopicOutliveTheirExpireTime: a commit with a
// retention time (OffsetCommit v2-v4) carries an expire time; Kafka still
// never expires the offsets of a topic a live (Stable) consumer group is
// subscribed to.
func TestOffsetsOfSubscribedTopicOutliveTheirExpireTime(t *testing.T) {
	clock := &fakeClock{t: time.Unix(1_700_000_000, 0)}
	cfg := testConfig()
	cfg.Now = clock.now
	cfg.OffsetsRetention = time.Hour
	tc := startCoord(t, t.TempDir(), cfg)
	tc.topic("t", 1)
	r := joinReq("g", "", 10*time.Second)
	r.Protocols = []Protocol{{Name: "range", Metadata: subscription(-1, nil, "t")}}
	j := tc.join(r)
	tc.syncAll("g", []JoinResult{j})
	req := commitOne("g", j.MemberID, j.Generation, "t", 0, 42)
	req.Retention = time.Minute
	if errs, err := tc.c.Commit(req); err != nil || errs[0] != nil {
		t.Fatal(errs, err)
	}
	clock.add(2 * time.Minute)
	tc.c.ExpireOffsets()
	got, _ := tc.c.FetchOffsets("g", nil)
	if got[TopicPartition{"t", 0}].Offset != 42 {
		t.Fatalf("the live group lost the offset of a topic it consumes: %v", got)
	}
}

// TestCommitChecksMemberAndGenerationBeforeGroupState: Kafka validates a member's commit
// (fenced, unknown member, generation) before looking at the group's
// state, and treats a commit naming a member or instance as a member's
// commit even with generation -1.
func TestCommitChecksMemberAndGenerationBeforeGroupState(t *testing.T) {
	tc := startCoord(t, t.TempDir(), testConfig())
	tc.topic("t", 1)
	// An empty group: a commit naming a member is not a simple commit.
	if _, err := tc.c.Commit(commitOne("simple", "", -1, "t", 0, 1)); err != nil {
		t.Fatal(err)
	}
	if _, err := tc.c.Commit(commitOne("simple", "stranger", -1, "t", 0, 2)); !errors.Is(err, ErrUnknownMemberID) {
		t.Fatalf("commit naming a member into an empty group: %v, want unknown member", err)
	}
	j := tc.joinAll("g", 1, 10*time.Second)[0] // CompletingRebalance: no SyncGroup yet
	for _, tt := range []struct {
		name string
		r    CommitRequest
		want error
	}{
		{"stale generation", commitOne("g", j.MemberID, j.Generation-1, "t", 0, 1), ErrIllegalGeneration},
		{"unknown member", commitOne("g", "stranger", j.Generation, "t", 0, 1), ErrUnknownMemberID},
		{"simple commit into a live group", commitOne("g", "", -1, "t", 0, 1), ErrUnknownMemberID},
		{"current generation", commitOne("g", j.MemberID, j.Generation, "t", 0, 1), ErrRebalanceInProgress},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := tc.c.Commit(tt.r); !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
		})
	}
}

// TestDeleteOffsetsTreatsUndecodableSubscriptionAsSubscribed: when a member's
// subscription does not decode, nothing is known about what the group
// reads, so Kafka treats every topic as subscribed (OffsetDelete answers
// GROUP_SUBSCRIBED_TO_TOPIC) rather than deleting offsets in use.
func TestDeleteOffsetsTreatsUndecodableSubscriptionAsSubscribed(t *testing.T) {
	tc := startCoord(t, t.TempDir(), testConfig())
	tc.topic("t", 1)
	j := tc.join(joinReq("g", "", 10*time.Second)) // metadata "sub": no ConsumerMemberMetadata
	tc.syncAll("g", []JoinResult{j})
	if errs, err := tc.c.Commit(commitOne("g", j.MemberID, j.Generation, "t", 0, 9)); err != nil || errs[0] != nil {
		t.Fatal(errs, err)
	}
	errs, err := tc.c.DeleteOffsets("g", []TopicPartition{{"t", 0}})
	if err != nil || !errors.Is(errs[0], ErrGroupSubscribedToTopic) {
		t.Fatalf("delete offsets: %v %v, want subscribed to topic", errs, err)
	}
	if got, _ := tc.c.FetchOffsets("g", nil); len(got) != 1 {
		t.Fatalf("offsets of a live group deleted: %v", got)
	}
}
