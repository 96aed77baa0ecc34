package server

// The group metrics of the server's registry: committed offsets, lag to
// the high watermark, and members, per group.

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// groupGauges returns the value of each series of metric whose labels
// include all of match, keyed by the remaining labels' values.
func groupGauges(t *testing.T, b *testBroker, metric string, match map[string]string) map[string]float64 {
	t.Helper()
	mfs, err := b.srv.Registry().Gather()
	if err != nil {
		t.Fatalf("gather metrics: %v", err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != metric {
			continue
		}
	series:
		for _, m := range mf.GetMetric() {
			rest := ""
			matched := 0
			for _, lp := range m.GetLabel() {
				if v, ok := match[lp.GetName()]; ok {
					if v != lp.GetValue() {
						continue series
					}
					matched++
					continue
				}
				rest += lp.GetName() + "=" + lp.GetValue() + " "
			}
			if matched == len(match) {
				out[rest] = m.GetGauge().GetValue()
			}
		}
	}
	return out
}

func TestGroupLagMetrics(t *testing.T) {
	const (
		topic = "glag"
		group = "glag-group"
	)
	b := startGroupBroker(t)
	ctx := testContext(t)
	adm := b.admin()
	createGroupTopic(t, ctx, adm, topic, 2)
	prod := manualPartitionClient(b)
	produceToPartitions(t, ctx, prod, topic, 2, 15) // 15 records in each

	cl := b.client(append(groupClientOpts(group, topic), kgo.DisableAutoCommit())...)
	for n := 0; n < 30 && ctx.Err() == nil; {
		n += cl.PollFetches(ctx).NumRecords()
	}
	waitGroup(t, ctx, adm, group, "Stable", 1, nil)
	commitSync(t, ctx, cl, topic, map[int32]int64{0: 4, 1: 15})

	// A second group, of simple commits, on the same topic.
	offs := kadm.Offsets{}
	offs.Add(kadm.Offset{Topic: topic, Partition: 1, At: 2, LeaderEpoch: -1})
	if resp, err := adm.CommitOffsets(ctx, "glag-simple", offs); err != nil || resp.Error() != nil {
		t.Fatalf("simple commit: %v %v", err, resp.Error())
	}

	check := func(name string, match map[string]string, want map[string]float64) {
		t.Helper()
		if got := groupGauges(t, b, name, match); !mapsEqual(got, want) {
			t.Errorf("%s%v: %v, want %v", name, match, got, want)
		}
	}
	g := map[string]string{"group": group}
	check("tributary_consumergroup_committed_offset", g, map[string]float64{"partition=0 topic=glag ": 4, "partition=1 topic=glag ": 15})
	check("tributary_consumergroup_lag", g, map[string]float64{"partition=0 topic=glag ": 11, "partition=1 topic=glag ": 0})
	check("tributary_consumergroup_members", g, map[string]float64{"state=Stable ": 1})
	s := map[string]string{"group": "glag-simple"}
	check("tributary_consumergroup_committed_offset", s, map[string]float64{"partition=1 topic=glag ": 2})
	check("tributary_consumergroup_lag", s, map[string]float64{"partition=1 topic=glag ": 13})
	check("tributary_consumergroup_members", s, map[string]float64{"state=Empty ": 0})

	// The lag follows the high watermark.
	produceToPartitions(t, ctx, prod, topic, 2, 5)
	check("tributary_consumergroup_lag", g, map[string]float64{"partition=0 topic=glag ": 16, "partition=1 topic=glag ": 5})

	// And the commits.
	commitSync(t, ctx, cl, topic, map[int32]int64{0: 20, 1: 20})
	check("tributary_consumergroup_lag", g, map[string]float64{"partition=0 topic=glag ": 0, "partition=1 topic=glag ": 0})
	check("tributary_consumergroup_committed_offset", g, map[string]float64{"partition=0 topic=glag ": 20, "partition=1 topic=glag ": 20})

	// A member that leaves: the group is Empty with no members.
	cl.Close()
	waitGroup(t, ctx, adm, group, "Empty", 0, nil)
	check("tributary_consumergroup_members", g, map[string]float64{"state=Empty ": 0})
}

func TestGroupMetricsBoundGroupsWithoutMembers(t *testing.T) {
	const topic = "gbound"
	b := startGroupBroker(t, func(c *Config) { c.Groups.MetricsMaxEmptyPartitions = 1 })
	ctx := testContext(t)
	adm := b.admin()
	createGroupTopic(t, ctx, adm, topic, 1)
	cl := b.client()
	simpleCommits(t, ctx, nil, cl, topic, "old", 1)
	time.Sleep(5 * time.Millisecond) // commit times are in ms
	simpleCommits(t, ctx, nil, cl, topic, "new", 1)

	// Only the most recent simple group fits the cap of one partition.
	if got := groupGauges(t, b, "tributary_consumergroup_committed_offset", nil); !mapsEqual(got, map[string]float64{"group=new-0000000 partition=0 topic=gbound ": 0}) {
		t.Errorf("committed offset series: %v", got)
	}
	if got := groupGauges(t, b, "tributary_consumergroup_members", nil); !mapsEqual(got, map[string]float64{"group=new-0000000 state=Empty ": 0}) {
		t.Errorf("members series: %v", got)
	}
	// Every group is counted.
	if got := groupGauges(t, b, "tributary_consumergroups", map[string]string{"state": "Empty"}); !mapsEqual(got, map[string]float64{"": 2}) {
		t.Errorf("tributary_consumergroups{state=Empty}: %v", got)
	}
	if got := groupGauges(t, b, "tributary_consumergroups_unlisted", nil); !mapsEqual(got, map[string]float64{"": 1}) {
		t.Errorf("tributary_consumergroups_unlisted: %v", got)
	}
}
