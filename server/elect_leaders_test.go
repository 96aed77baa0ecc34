package server

import (
	"errors"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestElectLeadersOnOneBrokerIsNeverNeeded: a single broker leads every
// partition as its only, preferred, replica, so neither a preferred nor an
// unclean election is needed; an unknown election type is refused.
func TestElectLeadersOnOneBrokerIsNeverNeeded(t *testing.T) {
	b := startBroker(t)
	ctx := testContext(t)
	adm := b.admin()
	if _, err := adm.CreateTopic(ctx, 2, 1, nil, "t"); err != nil {
		t.Fatal(err)
	}
	res, err := adm.ElectLeaders(ctx, kadm.ElectPreferredReplica, kadm.TopicsSet{"t": {0: {}, 1: {}, 5: {}}, "missing": {0: {}}})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		topic string
		p     int32
		want  error
	}{
		{"t", 0, kerr.ElectionNotNeeded},
		{"t", 1, kerr.ElectionNotNeeded},
		{"t", 5, kerr.UnknownTopicOrPartition},
		{"missing", 0, kerr.UnknownTopicOrPartition},
	} {
		if got := res[c.topic][c.p].Err; !errors.Is(got, c.want) {
			t.Errorf("%s-%d: %v, want %v", c.topic, c.p, got, c.want)
		}
	}
	// Its only replica is live: an unclean election is not needed either.
	res, err = adm.ElectLeaders(ctx, kadm.ElectLiveReplica, kadm.TopicsSet{"t": {0: {}}, "missing": {0: {}}})
	if err != nil {
		t.Fatal(err)
	}
	if got := res["t"][0].Err; !errors.Is(got, kerr.ElectionNotNeeded) {
		t.Errorf("unclean election: %v, want ELECTION_NOT_NEEDED", got)
	}
	if got := res["missing"][0].Err; !errors.Is(got, kerr.UnknownTopicOrPartition) {
		t.Errorf("unclean election of a missing topic: %v", got)
	}
	req := kmsg.NewPtrElectLeadersRequest()
	req.ElectionType = 2
	req.Topics = []kmsg.ElectLeadersRequestTopic{{Topic: "t", Partitions: []int32{0}}}
	resp, err := req.RequestWith(ctx, b.client())
	if err != nil {
		t.Fatal(err)
	}
	if got := kerr.ErrorForCode(resp.ErrorCode); !errors.Is(got, kerr.InvalidRequest) {
		t.Errorf("election type 2: %v, want INVALID_REQUEST", got)
	}
}
