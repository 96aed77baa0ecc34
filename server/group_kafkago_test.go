package server

// kafka-go Readers in a group: two members share a topic (each is
// assigned partitions), consume every record between them, and their
// commits reach the end of every partition.

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kadm"
)

func TestGroupKafkaGoShare(t *testing.T) {
	const (
		topic      = "gkg"
		group      = "gkg-group"
		partitions = 4
	)
	b := startGroupBroker(t)
	ctx := testContext(t)
	adm := b.admin()
	createGroupTopic(t, ctx, adm, topic, partitions)

	var mu sync.Mutex
	seen := map[partitionOffset]int{}
	byMember := map[int]map[int]bool{} // member to the partitions it read
	cctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }()
	for i := range 2 {
		r := kafka.NewReader(kafka.ReaderConfig{
			Brokers:           []string{b.addr},
			GroupID:           group,
			Topic:             topic,
			SessionTimeout:    groupSessionTimeout,
			HeartbeatInterval: groupHeartbeat,
			RebalanceTimeout:  5 * time.Second,
			JoinGroupBackoff:  100 * time.Millisecond,
			StartOffset:       kafka.FirstOffset,
			MaxWait:           100 * time.Millisecond,
			ReadBackoffMin:    10 * time.Millisecond,
			ReadBackoffMax:    100 * time.Millisecond,
			// CommitInterval 0: ReadMessage commits synchronously.
		})
		byMember[i] = map[int]bool{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer r.Close() // leaves the group
			for {
				m, err := r.ReadMessage(cctx)
				if err != nil {
					if cctx.Err() == nil {
						t.Errorf("member %d: read: %v", i, err)
					}
					return
				}
				mu.Lock()
				seen[partitionOffset{int32(m.Partition), m.Offset}]++
				byMember[i][m.Partition] = true
				mu.Unlock()
			}
		}()
	}
	dg := waitGroup(t, ctx, adm, group, "Stable", 2, func(dg kadm.DescribedGroup) bool {
		return ownsAll(dg, topic, partitions, 2, 2)
	})
	t.Logf("protocol %s: %s", dg.Protocol, describeAssignments(dg))
	produceKeyed(t, ctx, b.client(), topic, 0, 400)
	end := groupEndOffsets(t, ctx, adm, topic)
	waitConsumed(t, &mu, end, seen)
	waitCommitted(t, ctx, adm, group, topic, end)
	mu.Lock()
	defer mu.Unlock()
	for i, ps := range byMember {
		if len(ps) != 2 {
			t.Errorf("member %d read partitions %v, want 2 of them", i, ps)
		}
	}
	for po, n := range seen {
		if n != 1 {
			t.Errorf("%d/%d consumed %d times", po.Partition, po.Offset, n)
		}
	}
}
