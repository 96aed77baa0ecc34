package server

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
)

// TestDeleteTopicDropsCommittedOffsets: as in Kafka, deleting a topic drops
// every group's commits for it, so a topic created again under the same
// name is not read from the old topic's offsets; other topics' commits and
// the group stay.
func TestDeleteTopicDropsCommittedOffsets(t *testing.T) {
	b := startGroupBroker(t)
	ctx := testContext(t)
	adm := b.admin()
	createGroupTopic(t, ctx, adm, "gone", 2)
	createGroupTopic(t, ctx, adm, "kept", 1)
	cl := b.client()
	produceKeyed(t, ctx, cl, "gone", 0, 20)
	produceKeyed(t, ctx, cl, "kept", 0, 5)
	offsets := make(kadm.Offsets)
	offsets.Add(kadm.Offset{Topic: "gone", Partition: 0, At: 4, LeaderEpoch: -1})
	offsets.Add(kadm.Offset{Topic: "gone", Partition: 1, At: 6, LeaderEpoch: -1})
	offsets.Add(kadm.Offset{Topic: "kept", Partition: 0, At: 3, LeaderEpoch: -1})
	resp, err := adm.CommitOffsets(ctx, "g", offsets)
	if err == nil {
		err = resp.Error()
	}
	if err != nil {
		t.Fatalf("commit: %v", err)
	}
	if got := committedOffsets(t, ctx, adm, "g", "gone"); len(got) != 2 {
		t.Fatalf("before delete: %v", got)
	}
	dresp, err := adm.DeleteTopics(ctx, "gone")
	if err == nil {
		err = dresp.Error()
	}
	if err != nil {
		t.Fatalf("delete topic: %v", err)
	}
	createGroupTopic(t, ctx, adm, "gone", 2)
	if got := committedOffsets(t, ctx, adm, "g", "gone"); len(got) != 0 {
		t.Fatalf("the re-created topic has the old topic's commits: %v", got)
	}
	if got := committedOffsets(t, ctx, adm, "g", "kept"); got[0] != 3 || len(got) != 1 {
		t.Fatalf("another topic's commits: %v, want 0=3", got)
	}
}
