package server

// sarama's ConsumerGroup: two members share a topic (each is assigned
// partitions), consume every record between them, and their automatic
// commits reach the end of every partition.

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kadm"
)

// saramaShareHandler records the records of one member and marks them.
type saramaShareHandler struct {
	mu     *sync.Mutex
	seen   map[partitionOffset]int
	member int
	owned  map[int][]int32 // member to its claims in its latest session
}

func (h *saramaShareHandler) Setup(s sarama.ConsumerGroupSession) error {
	h.mu.Lock()
	h.owned[h.member] = s.Claims()["gsa"]
	h.mu.Unlock()
	return nil
}

func (*saramaShareHandler) Cleanup(sarama.ConsumerGroupSession) error { return nil }

func (h *saramaShareHandler) ConsumeClaim(s sarama.ConsumerGroupSession, c sarama.ConsumerGroupClaim) error {
	for m := range c.Messages() {
		h.mu.Lock()
		h.seen[partitionOffset{m.Partition, m.Offset}]++
		h.mu.Unlock()
		s.MarkMessage(m, "")
	}
	return nil
}

func TestGroupSaramaShare(t *testing.T) {
	const (
		topic      = "gsa"
		group      = "gsa-group"
		partitions = 4
	)
	b := startGroupBroker(t)
	ctx := testContext(t)
	adm := b.admin()
	createGroupTopic(t, ctx, adm, topic, partitions)

	var mu sync.Mutex
	seen := map[partitionOffset]int{}
	owned := map[int][]int32{}
	cctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }()
	for i := range 2 {
		cfg := sarama.NewConfig()
		cfg.Version = sarama.V2_8_0_0
		cfg.ClientID = "gsa"
		cfg.Consumer.Group.Session.Timeout = groupSessionTimeout
		cfg.Consumer.Group.Heartbeat.Interval = groupHeartbeat
		cfg.Consumer.Group.Rebalance.Timeout = 5 * time.Second
		cfg.Consumer.Offsets.Initial = sarama.OffsetOldest
		cfg.Consumer.Offsets.AutoCommit.Interval = 100 * time.Millisecond
		cfg.Consumer.MaxWaitTime = 100 * time.Millisecond
		cg, err := sarama.NewConsumerGroup([]string{b.addr}, group, cfg)
		if err != nil {
			t.Fatalf("sarama consumer group: %v", err)
		}
		h := &saramaShareHandler{mu: &mu, seen: seen, member: i, owned: owned}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer cg.Close() // commits and leaves
			for cctx.Err() == nil {
				if err := cg.Consume(cctx, []string{topic}, h); err != nil && !errors.Is(err, sarama.ErrClosedConsumerGroup) && cctx.Err() == nil {
					t.Errorf("member %d: consume: %v", i, err)
					return
				}
			}
		}()
	}
	dg := waitGroup(t, ctx, adm, group, "Stable", 2, func(dg kadm.DescribedGroup) bool {
		return ownsAll(dg, topic, partitions, 2, 2)
	})
	if dg.Protocol != "range" {
		t.Errorf("protocol %q, want sarama's default range", dg.Protocol)
	}
	produceKeyed(t, ctx, b.client(), topic, 0, 400)
	end := groupEndOffsets(t, ctx, adm, topic)
	waitConsumed(t, &mu, end, seen)
	mu.Lock()
	for i := range 2 {
		if len(owned[i]) != 2 {
			t.Errorf("member %d claimed %v, want 2 partitions", i, owned[i])
		}
	}
	for po, n := range seen {
		if n != 1 {
			t.Errorf("%d/%d consumed %d times", po.Partition, po.Offset, n)
		}
	}
	mu.Unlock()
	waitCommitted(t, ctx, adm, group, topic, end)
}
