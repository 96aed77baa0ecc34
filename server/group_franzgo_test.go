package server

// franz-go consumer groups with an eager and a cooperative balancer: three
// members share a 12-partition topic evenly, each partition owned once,
// and together they consume every record.

import (
	"context"
	"sync"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

func TestGroupFranzGoBalancers(t *testing.T) {
	cases := []struct {
		name     string
		balancer kgo.GroupBalancer
		protocol string
	}{
		{"range", kgo.RangeBalancer(), "range"},
		{"cooperative-sticky", kgo.CooperativeStickyBalancer(), "cooperative-sticky"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			const (
				topic      = "gfb"
				group      = "gfb-group"
				partitions = 12
				members    = 3
				records    = 1200
			)
			b := startGroupBroker(t)
			ctx := testContext(t)
			adm := b.admin()
			createGroupTopic(t, ctx, adm, topic, partitions)
			produceKeyed(t, ctx, b.client(), topic, 0, records)
			end := groupEndOffsets(t, ctx, adm, topic)

			var mu sync.Mutex
			seen := make(map[partitionOffset]int)
			cctx, cancel := context.WithTimeout(ctx, groupWait)
			defer cancel()
			var wg sync.WaitGroup
			for range members {
				cl := b.client(append(groupClientOpts(group, topic), kgo.Balancers(tc.balancer))...)
				wg.Add(1)
				go func() {
					defer wg.Done()
					for cctx.Err() == nil {
						fs := cl.PollFetches(cctx)
						fs.EachError(func(tp string, p int32, err error) {
							if cctx.Err() == nil {
								t.Errorf("poll %s/%d: %v", tp, p, err)
							}
						})
						mu.Lock()
						fs.EachRecord(func(r *kgo.Record) { seen[partitionOffset{r.Partition, r.Offset}]++ })
						mu.Unlock()
					}
				}()
			}
			defer func() { cancel(); wg.Wait() }()

			dg := waitGroup(t, ctx, adm, group, "Stable", members, func(dg kadm.DescribedGroup) bool {
				return ownsAll(dg, topic, partitions, partitions/members, partitions/members)
			})
			if dg.Protocol != tc.protocol || dg.ProtocolType != "consumer" {
				t.Errorf("group protocol %s/%s, want consumer/%s", dg.ProtocolType, dg.Protocol, tc.protocol)
			}
			for _, m := range dg.Members {
				md, ok := m.Join.AsConsumer()
				if !ok || len(md.Topics) != 1 || md.Topics[0] != topic {
					t.Errorf("member %s subscription %+v (decoded %v), want [%s]", m.MemberID, md, ok, topic)
				}
				if m.ClientHost != "/127.0.0.1" {
					t.Errorf("member %s client host %q, want /127.0.0.1", m.MemberID, m.ClientHost)
				}
			}
			t.Logf("assignments: %s", describeAssignments(dg))

			// Every record is consumed by the members together.
			waitConsumed(t, &mu, end, seen)
			mu.Lock()
			total := len(seen)
			mu.Unlock()
			if total != records {
				t.Errorf("consumed %d distinct records, want %d", total, records)
			}
		})
	}
}
