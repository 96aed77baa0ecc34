package server

import (
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// probeSimpleCommit is a simple commit (generation -1) of offset 1 of
// topic's partition 0 for group.
func probeSimpleCommit(version int16, group, topic string) *kmsg.OffsetCommitRequest {
	req := kmsg.NewPtrOffsetCommitRequest()
	req.Version = version
	req.Group = group
	req.Generation = -1
	rt := kmsg.NewOffsetCommitRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewOffsetCommitRequestTopicPartition()
	rp.Offset, rp.LeaderEpoch = 1, -1
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	return req
}

func TestGroupCreationRateThrottlesTheConnection(t *testing.T) {
	const (
		topic = "quota"
		rate  = 5 // groups per second, and the burst
	)
	b := startGroupBroker(t, func(c *Config) { c.Groups.MaxCreationRatePerConnection = rate })
	ctx := testContext(t)
	createGroupTopic(t, ctx, b.admin(), topic, 1)
	pc := dialProbe(t, b.addr)
	commit := func(version int16, group string) (throttle time.Duration, took time.Duration) {
		t.Helper()
		start := time.Now()
		resp := pc.roundTrip(probeSimpleCommit(version, group, topic)).(*kmsg.OffsetCommitResponse)
		if code := resp.Topics[0].Partitions[0].ErrorCode; code != 0 {
			t.Fatalf("commit v%d to %s: error code %d", version, group, code)
		}
		return time.Duration(resp.ThrottleMillis) * time.Millisecond, time.Since(start)
	}

	// The burst: a second's worth of new groups, unthrottled.
	for i := 0; i < rate; i++ {
		if th, _ := commit(8, fmt.Sprintf("burst-%d", i)); th != 0 {
			t.Fatalf("new group %d of the burst: throttled %v", i, th)
		}
	}
	// Past it, each new group is served (its commit stored) with a
	// throttle time of about 1/rate...
	th, _ := commit(8, "over-0")
	if th <= 0 || th > time.Second/rate+50*time.Millisecond {
		t.Fatalf("the first group past the burst: throttle %v, want about %v", th, time.Second/rate)
	}
	// ...and the connection is not read for that long (KIP-219: a v8
	// client waits on its own; this one does not, so the broker holds
	// its next request, here a commit to an existing group, which is
	// itself not throttled).
	th2, took := commit(8, "over-0")
	if th2 != 0 {
		t.Errorf("a commit to an existing group: throttled %v", th2)
	}
	if took < th-20*time.Millisecond {
		t.Errorf("the request after a throttled one was answered after %v, want at least its throttle %v", took, th)
	}
	// A version from before KIP-219 (v3, the first with a throttle time):
	// the broker answers it later.
	th, took = commit(3, "over-old")
	if th <= 0 || took < th-20*time.Millisecond {
		t.Errorf("v3 commit past the rate: throttle %v, answered after %v; want a throttle and an answer no sooner", th, took)
	}
	got, err := b.admin().FetchOffsets(ctx, "over-old")
	if err != nil || got[topic][0].At != 1 {
		t.Errorf("the throttled group's commit: %+v %v", got, err)
	}

	// Another connection has its own rate.
	pc = dialProbe(t, b.addr)
	if th, _ := commit(8, "other-conn"); th != 0 {
		t.Errorf("a new group on another connection: throttled %v", th)
	}
	// A first JoinGroup creates its group too (here answered at once
	// with MEMBER_ID_REQUIRED): past the burst, one is throttled.
	throttled := false
	for i := 0; i < 3*rate && !throttled; i++ {
		jr := pc.roundTrip(joinReq(9, fmt.Sprintf("join-%d", i), "")).(*kmsg.JoinGroupResponse)
		throttled = jr.ThrottleMillis > 0
	}
	if !throttled {
		t.Errorf("%d new groups' JoinGroups on one connection: none throttled", 3*rate)
	}
	if n := counterValue(t, b, "tributary_consumergroup_creations_throttled_total"); n < 3 {
		t.Errorf("throttled creations counted: %v, want at least 3", n)
	}

	// A real client (franz-go, which waits out throttle times) creates
	// groups past the rate without an error.
	adm := b.admin()
	for i := 0; i < rate+3; i++ {
		offs := kadm.Offsets{}
		offs.Add(kadm.Offset{Topic: topic, Partition: 0, At: 1, LeaderEpoch: -1})
		if resp, err := adm.CommitOffsets(ctx, fmt.Sprintf("kgo-%d", i), offs); err != nil || resp.Error() != nil {
			t.Fatalf("franz-go commit %d: %v %v", i, err, resp.Error())
		}
	}
}

// counterValue is the value of a counter without labels.
func counterValue(t *testing.T, b *testBroker, name string) float64 {
	t.Helper()
	mfs, err := b.srv.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.GetMetric()) == 1 {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	t.Fatalf("no counter %s", name)
	return 0
}

func TestGroupLimitSettings(t *testing.T) {
	d := DefaultBrokerSettings()
	if m := d.Map(); m[BrokerGroupMaxCreationRatePerConnection] != "2147483647" || m[BrokerGroupMetricsMaxEmptyPartitions] != "1000" {
		t.Errorf("defaults: %s=%s %s=%s", BrokerGroupMaxCreationRatePerConnection, m[BrokerGroupMaxCreationRatePerConnection],
			BrokerGroupMetricsMaxEmptyPartitions, m[BrokerGroupMetricsMaxEmptyPartitions])
	}
	for _, tc := range []struct {
		name, value string
		ok          bool
	}{
		{BrokerGroupMaxCreationRatePerConnection, "100", true},
		{BrokerGroupMaxCreationRatePerConnection, "0", false},
		{BrokerGroupMaxCreationRatePerConnection, "fast", false},
		{BrokerGroupMetricsMaxEmptyPartitions, "0", true},
		{BrokerGroupMetricsMaxEmptyPartitions, "-1", false},
	} {
		b := DefaultBrokerSettings()
		err := b.Apply(tc.name, tc.value)
		if err == nil {
			err = b.Validate()
		}
		if (err == nil) != tc.ok {
			t.Errorf("%s=%s: %v, want ok %v", tc.name, tc.value, err, tc.ok)
		} else if tc.ok && b.Map()[tc.name] != tc.value {
			t.Errorf("%s=%s reads back as %s", tc.name, tc.value, b.Map()[tc.name])
		}
	}
}
