package server

import (
	"fmt"
	"slices"
	"sort"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tributary-io/tributary/cluster"
	"github.com/tributary-io/tributary/replica"
)

// The cluster metrics Kafka operators alert on (issue 14 item 8), under the
// names, labels and help text fixed in cluster/metrics.go. A cluster node
// registers them with attachClusterMetrics; a single broker never does, so
// its /metrics is unchanged. Every value is read at scrape time from the
// node's metadata snapshot and replica.Manager: nothing is updated on the
// produce or fetch path for them.
//
// No series is per partition or per topic: a broker with 30,000
// partitions scrapes the same dozen series as one with three. The only
// labels are a broker state (active, fenced) and a Kafka error name, both
// bounded sets.
//
// tributary_cluster_leader_elections_total is reported by its own
// collector (attachElectionMetrics): the elections this node's
// controllers wrote, as the active controller or for an ElectLeaders it
// served, so that its sum over the cluster counts every election once.

// clusterCollector reports the cluster metrics of one node.
type clusterCollector struct {
	// snapshot returns the node's latest metadata (nil before the first:
	// the snapshot's series are then left out of that scrape).
	snapshot func() *cluster.Snapshot
	self     int32            // this node's id
	rm       *replica.Manager // nil: the replication series are left out
	descs    map[string]*prometheus.Desc
}

// attachClusterMetrics registers the cluster metrics on s's registry:
// those read from the metadata when snapshot is not nil, those of
// replication when rm is not nil. With both nil it registers nothing, as
// a single broker. It fails if they are already registered.
func (s *Server) attachClusterMetrics(snapshot func() *cluster.Snapshot, self int32, rm *replica.Manager) error {
	if snapshot == nil && rm == nil {
		return nil
	}
	c := newClusterCollector(snapshot, self, rm)
	if err := s.metrics.reg.Register(c); err != nil {
		return fmt.Errorf("server: register cluster metrics: %w", err)
	}
	return nil
}

// attachElectionMetrics registers tributary_cluster_leader_elections_total
// {kind="clean"|"unclean"}, read from stats at scrape time.
func (s *Server) attachElectionMetrics(stats *cluster.ElectionStats) error {
	c := &electionCollector{stats: stats}
	for _, m := range cluster.Metrics {
		if m.Name == cluster.MetricLeaderElections {
			c.desc = prometheus.NewDesc(m.Name, m.Help, m.Labels, nil)
		}
	}
	if err := s.metrics.reg.Register(c); err != nil {
		return fmt.Errorf("server: register election metrics: %w", err)
	}
	return nil
}

// attachQuorumMetrics registers the metrics of a voter's embedded etcd
// member (cluster.QuorumMetrics), read from it at scrape time.
func (s *Server) attachQuorumMetrics(m *cluster.Embedded) error {
	c := &quorumCollector{member: m, descs: map[string]*prometheus.Desc{}}
	for _, mt := range cluster.Metrics {
		if slices.Contains(cluster.QuorumMetrics, mt.Name) {
			c.descs[mt.Name] = prometheus.NewDesc(mt.Name, mt.Help, mt.Labels, nil)
		}
	}
	if err := s.metrics.reg.Register(c); err != nil {
		return fmt.Errorf("server: register metadata quorum metrics: %w", err)
	}
	return nil
}

// quorumCollector reports one embedded member's MemberStats.
type quorumCollector struct {
	member *cluster.Embedded
	descs  map[string]*prometheus.Desc
}

func (c *quorumCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.descs {
		ch <- d
	}
}

func (c *quorumCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.member.Stats()
	for name, v := range map[string]float64{
		cluster.MetricQuorumLeader:      b2f(st.Leader),
		cluster.MetricQuorumDBSize:      float64(st.DBSize),
		cluster.MetricQuorumDBSizeInUse: float64(st.DBSizeInUse),
		cluster.MetricQuorumDBQuota:     float64(st.DBQuota),
	} {
		ch <- prometheus.MustNewConstMetric(c.descs[name], prometheus.GaugeValue, v)
	}
	ch <- prometheus.MustNewConstMetric(c.descs[cluster.MetricQuorumLeaderChanges], prometheus.CounterValue, float64(st.LeaderChanges))
	ch <- prometheus.MustNewConstMetric(c.descs[cluster.MetricQuorumDefrags], prometheus.CounterValue, float64(st.Defrags))
}

// electionCollector reports one node's ElectionStats.
type electionCollector struct {
	stats *cluster.ElectionStats
	desc  *prometheus.Desc
}

func (c *electionCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *electionCollector) Collect(ch chan<- prometheus.Metric) {
	clean, unclean := c.stats.Counts()
	ch <- prometheus.MustNewConstMetric(c.desc, prometheus.CounterValue, float64(clean), cluster.KindClean)
	ch <- prometheus.MustNewConstMetric(c.desc, prometheus.CounterValue, float64(unclean), cluster.KindUnclean)
}

func newClusterCollector(snapshot func() *cluster.Snapshot, self int32, rm *replica.Manager) *clusterCollector {
	c := &clusterCollector{snapshot: snapshot, self: self, rm: rm, descs: map[string]*prometheus.Desc{}}
	for _, m := range cluster.Metrics {
		if m.Name == cluster.MetricLeaderElections || m.Name == cluster.MetricFastFences || slices.Contains(cluster.QuorumMetrics, m.Name) {
			continue // the controller's; the fencer's (cluster_fastfence.go); a voter's member's
		}
		c.descs[m.Name] = prometheus.NewDesc(m.Name, m.Help, m.Labels, nil)
	}
	return c
}

func (c *clusterCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.descs {
		ch <- d
	}
}

func (c *clusterCollector) Collect(ch chan<- prometheus.Metric) {
	gauge := func(name string, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(c.descs[name], prometheus.GaugeValue, v, labels...)
	}
	counter := func(name string, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(c.descs[name], prometheus.CounterValue, v, labels...)
	}
	if c.snapshot != nil {
		if snap := c.snapshot(); snap != nil {
			st := clusterStandingOf(snap, c.self)
			gauge(cluster.MetricUnderReplicatedPartitions, float64(st.underReplicated))
			gauge(cluster.MetricLeaderPartitions, float64(st.leaders))
			gauge(cluster.MetricPartitions, float64(st.replicas))
			controller := snap.Controller == c.self
			gauge(cluster.MetricActiveController, b2f(controller))
			// Kafka's OfflinePartitionsCount and broker counts are the
			// active controller's; every other broker reports 0 offline
			// and no broker counts, so that a sum over the cluster is
			// the controller's view.
			if controller {
				gauge(cluster.MetricReassigningPartitions, float64(cluster.ReassignmentCount(snap)))
				gauge(cluster.MetricOfflinePartitions, float64(st.offline))
				gauge(cluster.MetricBrokers, float64(len(snap.Brokers)), cluster.StateActive)
				gauge(cluster.MetricBrokers, float64(st.fenced), cluster.StateFenced)
				gauge(cluster.MetricPreferredReplicaImbalance, float64(cluster.PreferredReplicaImbalance(snap)))
			} else {
				gauge(cluster.MetricOfflinePartitions, 0)
				gauge(cluster.MetricPreferredReplicaImbalance, 0)
				gauge(cluster.MetricReassigningPartitions, 0)
			}
		}
	}
	if c.rm != nil {
		var underMin, atMin int
		for _, ld := range c.rm.Leaders() {
			isr, _, minISR := ld.ISRStanding()
			switch {
			case isr < minISR:
				underMin++
			case isr == minISR:
				atMin++
			}
		}
		gauge(cluster.MetricUnderMinISRPartitions, float64(underMin))
		gauge(cluster.MetricAtMinISRPartitions, float64(atMin))
		st := c.rm.Stats()
		counter(cluster.MetricISRShrinks, float64(st.ISRShrinks))
		counter(cluster.MetricISRExpands, float64(st.ISRExpands))
		gauge(cluster.MetricReplicaMaxLag, float64(st.MaxLag))
		if leader, follower := c.rm.Throttles(); leader != nil && follower != nil {
			counter(cluster.MetricReplicationThrottledBytes, float64(leader.Bytes()), cluster.DirectionLeader)
			counter(cluster.MetricReplicationThrottledBytes, float64(follower.Bytes()), cluster.DirectionFollower)
		}
		fs := c.rm.FetchStats()
		counter(cluster.MetricReplicaFetchRequests, float64(fs.Requests()))
		counter(cluster.MetricReplicaFetchRestarts, float64(fs.Restarts()))
		errs := fs.Errors()
		// A zero "network" series from the start, for rate() and alerts.
		if _, ok := errs[replica.FetchErrorNetwork]; !ok {
			errs[replica.FetchErrorNetwork] = 0
		}
		names := make([]string, 0, len(errs))
		for name := range errs {
			names = append(names, name)
		}
		sort.Strings(names)
		for _, name := range names {
			counter(cluster.MetricReplicaFetchErrors, float64(errs[name]), name)
		}
	}
}

// clusterStanding is what one node's metrics read from a snapshot.
type clusterStanding struct {
	leaders         int // partitions self leads
	replicas        int // partition replicas assigned to self
	underReplicated int // led by self, ISR smaller than the replicas
	offline         int // without a leader
	fenced          int // brokers assigned a replica and not live
}

func clusterStandingOf(snap *cluster.Snapshot, self int32) clusterStanding {
	var st clusterStanding
	assigned := map[int32]bool{}
	for _, p := range snap.Partitions.All() {
		if p.Leader == cluster.NoLeader {
			st.offline++
		}
		if p.Leader == self {
			st.leaders++
			if len(p.ISR) < len(p.Replicas) {
				st.underReplicated++
			}
		}
		for _, r := range p.Replicas {
			if r == self {
				st.replicas++
			}
			assigned[r] = true
		}
	}
	// A fenced broker's registration is gone from the snapshot; it is
	// still named in the assignments it holds replicas in.
	for id := range assigned {
		if !snap.Live(id) {
			st.fenced++
		}
	}
	return st
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
