package cluster

// Automatic preferred-leader balancing (Kafka's auto.leader.rebalance.enable).
//
// Leadership drifts away from preferred replicas whenever a broker stops:
// its partitions elect other ISR members, and nothing moves them back when
// it returns, so the survivors keep leading more than their share. Kafka's
// controller checks every leader.imbalance.check.interval.seconds, per
// broker, what share of the partitions that prefer it (it is their first
// replica) it does not lead; where that share is above
// leader.imbalance.per.broker.percentage it runs preferred leader
// elections for them. The active controller runs the same check here
// (RunLeaderBalance), and the elections are ElectPreferredLeaders', the
// path an operator's ElectLeaders takes: a preferred replica that is not
// live or not in the ISR is left alone, so balancing never elects a
// replica that could lose acknowledged records.

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"time"
)

// Kafka's defaults of the leader balancing settings.
const (
	// DefaultLeaderImbalanceCheckInterval is
	// leader.imbalance.check.interval.seconds' default, 300 s.
	DefaultLeaderImbalanceCheckInterval = 300 * time.Second
	// DefaultLeaderImbalancePerBrokerPercentage is
	// leader.imbalance.per.broker.percentage's default, 10.
	DefaultLeaderImbalancePerBrokerPercentage = 10
)

// LeaderImbalance is one broker's standing as a preferred leader.
type LeaderImbalance struct {
	Broker int32
	// Preferred is how many partitions name Broker their preferred
	// replica (first in Replicas); NotLed how many of those Broker does
	// not lead.
	Preferred, NotLed int
}

// Percent is the share of Broker's preferred partitions it does not lead,
// 0 to 100.
func (l LeaderImbalance) Percent() float64 {
	if l.Preferred == 0 {
		return 0
	}
	return 100 * float64(l.NotLed) / float64(l.Preferred)
}

// LeaderImbalances returns, in broker ID order, the standing of every
// broker that is the preferred replica of at least one partition of s,
// live or not.
func LeaderImbalances(s *Snapshot) []LeaderImbalance {
	by := map[int32]*LeaderImbalance{}
	for _, p := range s.Partitions.All() {
		if len(p.Replicas) == 0 {
			continue
		}
		pref := p.Replicas[0]
		l := by[pref]
		if l == nil {
			l = &LeaderImbalance{Broker: pref}
			by[pref] = l
		}
		l.Preferred++
		if p.Leader != pref {
			l.NotLed++
		}
	}
	out := make([]LeaderImbalance, 0, len(by))
	for _, id := range slices.Sorted(maps.Keys(by)) {
		out = append(out, *by[id])
	}
	return out
}

// PreferredReplicaImbalance is how many partitions of s are not led by
// their preferred replica, offline ones included (Kafka's controller
// metric PreferredReplicaImbalanceCount).
func PreferredReplicaImbalance(s *Snapshot) int {
	n := 0
	for _, p := range s.Partitions.All() {
		if len(p.Replicas) > 0 && p.Leader != p.Replicas[0] {
			n++
		}
	}
	return n
}

// ImbalancedLeaders returns, in topic and partition order, the partitions
// Kafka's leader balancing elects: for each live broker whose share of
// preferred partitions it does not lead is above percent, those of them
// whose preferred replica (that broker) is in the ISR, and that are not
// being reassigned (the reassignment decides their leader; Kafka skips
// them too). A broker at or below percent is left as it is, so a percent
// of 0 restores every partition that can be, and 100 none.
func ImbalancedLeaders(s *Snapshot, percent int) []TopicPartition {
	over := map[int32]bool{}
	for _, l := range LeaderImbalances(s) {
		if s.Live(l.Broker) && l.Percent() > float64(percent) {
			over[l.Broker] = true
		}
	}
	var out []TopicPartition
	for tp, p := range s.Partitions.All() {
		if len(p.Replicas) == 0 {
			continue
		}
		pref := p.Replicas[0]
		if over[pref] && p.Leader != pref && p.InISR(pref) && !p.Reassigning() {
			out = append(out, tp)
		}
	}
	slices.SortFunc(out, compareTP)
	return out
}

func compareTP(a, b TopicPartition) int {
	if a.Topic != b.Topic {
		if a.Topic < b.Topic {
			return -1
		}
		return 1
	}
	return int(a.Partition) - int(b.Partition)
}

// LeaderBalanceConfig configures RunLeaderBalance.
type LeaderBalanceConfig struct {
	// Interval is leader.imbalance.check.interval.seconds: the pause
	// between two checks; <= 0: DefaultLeaderImbalanceCheckInterval.
	Interval time.Duration
	// Percent is leader.imbalance.per.broker.percentage.
	Percent int
}

// BalanceLeaders runs one leader balancing check against the latest
// snapshot (ImbalancedLeaders) and elects the partitions it names, and
// returns how many it moved. A partition whose state changed in between
// is decided again by ElectPreferredLeaders' own rule, so nothing it
// would refuse is elected.
func (c *Controller) BalanceLeaders(ctx context.Context, percent int) (int, error) {
	s := c.store.Snapshot()
	tps := ImbalancedLeaders(s, percent)
	if len(tps) == 0 {
		return 0, nil
	}
	errs, err := c.ElectPreferredLeaders(ctx, tps)
	if err != nil {
		return 0, fmt.Errorf("cluster: leader balancing: %w", err)
	}
	return len(tps) - len(errs), nil
}

// RunLeaderBalance checks the leader balance every cfg.Interval and
// elects preferred leaders where it is off (BalanceLeaders), until ctx
// ends; then it returns nil. Only the active controller runs it, beside
// Run, for as long as it holds the office. A failed round is logged and
// tried again at the next interval.
func (c *Controller) RunLeaderBalance(ctx context.Context, cfg LeaderBalanceConfig) error {
	interval := cfg.Interval
	if interval <= 0 {
		interval = DefaultLeaderImbalanceCheckInterval
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		moved, err := c.BalanceLeaders(ctx, cfg.Percent)
		switch {
		case err != nil && ctx.Err() == nil:
			c.log.Warn("leader balancing failed; trying again at the next check", "err", err, "interval", interval)
		case moved > 0:
			c.log.Info("leader balancing moved leadership back to preferred replicas", "partitions", moved,
				"threshold_percent", cfg.Percent)
		}
	}
}
