package server

import (
	"errors"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
)

// TestElectLeadersOnOneBrokerIsNeverNeeded: a single broker leads every
// partition as its only, preferred, replica.
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
	// Unclean elections on request are refused, at the top or per partition.
	res, err = adm.ElectLeaders(ctx, kadm.ElectLiveReplica, kadm.TopicsSet{"t": {0: {}}})
	if err == nil {
		err = res["t"][0].Err
	}
	if !errors.Is(err, kerr.InvalidRequest) {
		t.Errorf("unclean election: %v, want INVALID_REQUEST", err)
	}
}
