package cluster

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"syscall"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// BenchmarkControllerFailoverWrites times the controller's writes after
// a broker of three leaves 10,000 partitions of replication factor 3
// (one election or ISR shrink each), from the first transaction sent to
// the writer's snapshot showing the last elected leader (elect-) and the
// last write, over a three-member embedded
// quorum, by transaction size (partitionTxnSize; more than 126 only the
// embedded quorum takes). Each iteration puts the broker back into
// every ISR (not timed) and removes it again. The writes go through
// a client of every member, and at MaxUpdatesPerTxn and 32 also through one of
// the raft leader only (via=leader, LeaderClient).
func BenchmarkControllerFailoverWrites(b *testing.B) {
	const partitions = 10000
	q := newTestQuorum(b, 3)
	q.startAll()
	ctx := context.Background()
	// The writes go through a client of every member (as an external
	// etcd's store has them) or of the raft leader only (LeaderClient,
	// as a voter's): they take turns too.
	lc, err := NewLeaderClient(clientv3.Config{Endpoints: q.endpoints(), DialTimeout: DefaultDialTimeout, Logger: zap.NewNop()}, q.members[0])
	if err != nil {
		b.Fatal(err)
	}
	defer lc.Close()
	s, err := OpenEtcdStore(ctx, EtcdStoreConfig{ClusterID: "bench", Endpoints: q.endpoints(), SessionTimeout: 10 * time.Second,
		Logger: slog.New(slog.DiscardHandler), Leader: lc})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	var regs []*Registration
	for id := int32(1); id <= 3; id++ {
		r, err := s.Register(ctx, testBroker(id))
		if err != nil {
			b.Fatal(err)
		}
		defer r.Close()
		regs = append(regs, r)
	}
	lead, err := regs[0].Campaign(ctx)
	if err != nil {
		b.Fatal(err)
	}
	c := NewController(ControllerConfig{NodeID: 1, Store: lead.Store(), Logger: slog.New(slog.DiscardHandler), Seed: 1})
	if _, err := c.CreateTopic(ctx, "big", partitions, 3, nil); err != nil {
		b.Fatal(err)
	}
	led := map[TopicPartition]int32{}
	for _, p := range s.Snapshot().Partitions.All() {
		led[p.TP()] = p.Leader
	}
	// without is the update taking broker 3 out of p, electing the next
	// replica when it led.
	without := func(p PartitionState) PartitionUpdate {
		n := p.Clone()
		n.ISR = slices.DeleteFunc(n.ISR, func(r int32) bool { return r == 3 })
		if n.Leader == 3 {
			n.Leader = n.ISR[0]
			n.LeaderEpoch++
		}
		n.PartitionEpoch++
		return PartitionUpdate{Old: p, New: n}
	}
	with := func(p PartitionState) PartitionUpdate {
		n := p.Clone()
		n.ISR = append(n.ISR, 3)
		if l := led[p.TP()]; l != n.Leader {
			n.Leader = l
			n.LeaderEpoch++
		}
		n.PartitionEpoch++
		return PartitionUpdate{Old: p, New: n}
	}
	each := func(f func(PartitionState) PartitionUpdate) []PartitionUpdate {
		var us []PartitionUpdate
		for _, p := range s.Snapshot().Partitions.All() {
			us = append(us, f(p))
		}
		return us
	}
	restore := func() {
		for _, p := range s.Snapshot().Partitions.All() {
			if !p.InISR(3) {
				if err := c.apply(ctx, each(with), "bench restore"); err != nil {
					b.Fatal(err)
				}
				return
			}
		}
	}
	// The sizes take turns, so that each sees the same load (the
	// machine is shared).
	type config struct {
		per    int
		leader bool
	}
	sizes := []config{{MaxUpdatesPerTxn, false}, {MaxUpdatesPerTxn, true}, {32, false}, {32, true}, {96, false}, {1024, false}}
	took := make([][]time.Duration, len(sizes))
	elect := make([][]time.Duration, len(sizes))
	// cpu is the process's CPU time (the three members' included) over
	// the same span: what a write forwarded by a follower costs the
	// quorum shows there even when other processes slow the clock.
	cpu := make([][]time.Duration, len(sizes))
	defer func(per int) { partitionTxnSize = per }(partitionTxnSize)
	b.StopTimer()
	for range b.N {
		for i, cf := range sizes {
			restore()
			partitionTxnSize = cf.per
			s.leader = nil
			if cf.leader {
				s.leader = lc
			}
			ups := each(without)
			var moved []TopicPartition
			for _, u := range ups {
				if u.New.Leader != u.Old.Leader {
					moved = append(moved, u.New.TP())
				}
			}
			b.StartTimer()
			cpu0 := processCPU(b)
			start := time.Now()
			elected := make(chan time.Duration, 1)
			go func() {
				for {
					ch := s.Changed()
					snap := s.Snapshot()
					all := true
					for _, tp := range moved {
						if p, _ := snap.Partitions.Get(tp); p.Leader == 3 {
							all = false
							break
						}
					}
					if all {
						elected <- time.Since(start)
						return
					}
					<-ch
				}
			}()
			if err := c.apply(ctx, ups, "bench"); err != nil {
				b.Fatal(err)
			}
			took[i] = append(took[i], time.Since(start))
			elect[i] = append(elect[i], <-elected)
			cpu[i] = append(cpu[i], processCPU(b)-cpu0)
			b.StopTimer()
		}
	}
	for i, cf := range sizes {
		name := fmt.Sprintf("per-txn=%d", cf.per)
		if cf.leader {
			name += ",via=leader"
		}
		slices.Sort(took[i])
		b.ReportMetric(float64(took[i][len(took[i])/2].Milliseconds()), "p50-ms/"+name)
		b.ReportMetric(float64(took[i][len(took[i])-1].Milliseconds()), "max-ms/"+name)
		slices.Sort(elect[i])
		b.ReportMetric(float64(elect[i][len(elect[i])/2].Milliseconds()), "elect-p50-ms/"+name)
		b.ReportMetric(float64(elect[i][len(elect[i])-1].Milliseconds()), "elect-max-ms/"+name)
		slices.Sort(cpu[i])
		b.ReportMetric(float64(cpu[i][len(cpu[i])/2].Milliseconds()), "cpu-p50-ms/"+name)
	}
}

// processCPU is the user and system CPU time the process has used.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
