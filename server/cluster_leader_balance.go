package server

// Leader balancing on the active controller (auto.leader.rebalance.enable,
// cluster/leader_balance.go): while this node holds the controller's
// office it checks, every leader.imbalance.check.interval.seconds, the
// share of each broker's preferred partitions it does not lead, and
// above leader.imbalance.per.broker.percentage elects it back where it
// is live and in the ISR. The elections go through the controller of the
// term, so a deposed controller's writes are fenced, and are counted in
// tributary_cluster_leader_elections_total{kind="clean"}; what is left
// unbalanced shows in tributary_cluster_preferred_replica_imbalance.

import (
	"context"

	"github.com/tributary-io/tributary/cluster"
)

// startLeaderBalance runs ctrl's leader balancing until ctx ends, when
// auto.leader.rebalance.enable is on; wait returns once it has stopped.
func (n *brokerNode) startLeaderBalance(ctx context.Context, ctrl *cluster.Controller) (wait func()) {
	if !n.cfg.AutoLeaderRebalanceEnable {
		return func() {}
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		cfg := cluster.LeaderBalanceConfig{Interval: n.cfg.LeaderImbalanceCheckInterval, Percent: n.cfg.LeaderImbalancePerBrokerPercentage}
		if err := ctrl.RunLeaderBalance(ctx, cfg); err != nil && ctx.Err() == nil {
			n.log.Warn("server: leader balancing stopped", "err", err)
		}
	}()
	return func() { <-done }
}
