package server

// Replication throttles (KIP-73), as Kafka names them:
//
//   - the broker settings leader.replication.throttled.rate and
//     follower.replication.throttled.rate, bytes per second (unset or 0:
//     no limit), given at start (serve settings) and changed at run time
//     with IncrementalAlterConfigs (SET, DELETE) or AlterConfigs of a
//     broker's resource (its node id, sent to that broker) or of the
//     cluster-wide default resource (""). As in Kafka, run-time values
//     are dynamic broker configs kept in the cluster metadata
//     (cluster.EtcdStore.AlterBrokerConfigs), so they survive restarts;
//     every broker takes its rate from each snapshot: its own dynamic
//     value, else the cluster-wide dynamic default, else its serve
//     setting. Each rate is one replica.Throttle, a token bucket;
//   - the topic configs leader.replication.throttled.replicas and
//     follower.replication.throttled.replicas, lists of partition:broker
//     or "*", which name the replicas those limits apply to.
//
// As in Kafka, a throttle applies only to replication traffic of listed
// replicas that are out of the ISR (a replica being added by a
// reassignment, or catching up after a restart): in-sync replicas are
// never held back, so acks=all latency does not suffer, and consumers
// never are. Leader side: a leader whose own replica of a partition is
// listed in leader.replication.throttled.replicas sends nothing to an
// out-of-sync follower's fetch of it while its throttle is in debt, and
// takes what it sends from the throttle. Follower side: a broker whose
// replica is listed in follower.replication.throttled.replicas and is
// out of the ISR leaves the partition out of its fetches while its
// throttle is in debt, and takes what it fetched from the throttle. Both
// count those bytes in tributary_replication_throttled_bytes_total
// {direction="leader"|"follower"}.
//
// Which partitions are throttled is decided once per metadata snapshot
// (the reconciler calls update), so a fetch only looks a partition up.

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/tributary-io/tributary/cluster"
	tlog "github.com/tributary-io/tributary/log"
	"github.com/tributary-io/tributary/replica"
)

// replicationThrottles are a cluster broker's two throttles and the
// partitions they apply to.
type replicationThrottles struct {
	self             int32
	leader, follower *replica.Throttle
	sets             atomic.Pointer[throttleSets] // nil: nothing throttled
	// static are the serve settings' rates, which apply where the
	// metadata has no dynamic value.
	staticLeader, staticFollower int64

	// ratesMu serialises setRates (the reconciler's snapshots and an
	// alter's own) and guards ratesRev, the revision of the snapshot the
	// rates were last taken from, so an older snapshot applied late
	// cannot undo a newer one's rates.
	ratesMu  sync.Mutex
	ratesRev int64
}

// throttleSets is what one snapshot throttles on this broker.
type throttleSets struct {
	// leader: partitions this broker leads whose replica here is listed
	// in leader.replication.throttled.replicas, with their followers
	// outside the ISR.
	leader map[cluster.TopicPartition][]int32
	// follower: partitions this broker follows whose replica here is
	// listed in follower.replication.throttled.replicas and is outside
	// the ISR.
	follower map[cluster.TopicPartition]bool
}

func newReplicationThrottles(self int32, c ClusterConfig) *replicationThrottles {
	return &replicationThrottles{
		self:           self,
		leader:         replica.NewThrottle(c.LeaderReplicationThrottledRate),
		follower:       replica.NewThrottle(c.FollowerReplicationThrottledRate),
		staticLeader:   c.LeaderReplicationThrottledRate,
		staticFollower: c.FollowerReplicationThrottledRate,
	}
}

// setRates sets both rates from s's dynamic broker configs (this
// broker's own, else the cluster-wide default, else the serve setting),
// unless rates from a newer snapshot are already set. A throttle whose
// rate does not change keeps its bucket.
func (rt *replicationThrottles) setRates(s *cluster.Snapshot) {
	rt.ratesMu.Lock()
	defer rt.ratesMu.Unlock()
	if s.Revision < rt.ratesRev {
		return
	}
	rt.ratesRev = s.Revision
	for _, th := range []struct {
		name   string
		t      *replica.Throttle
		static int64
	}{{BrokerLeaderReplicationThrottledRate, rt.leader, rt.staticLeader}, {BrokerFollowerReplicationThrottledRate, rt.follower, rt.staticFollower}} {
		rate := th.static
		if v, _, ok := s.BrokerConfig(rt.self, th.name); ok {
			// Stored values were validated when set; one that does not
			// parse (a newer broker's) leaves the serve setting.
			if r, err := parseThrottleRate(v); err == nil {
				rate = r
			}
		}
		if normalRate(rate) != th.t.Rate() {
			th.t.SetRate(rate)
		}
	}
}

// normalRate is a rate as replica.Throttle.Rate reports it: 0 for no
// limit.
func normalRate(r int64) int64 {
	if r <= 0 || r == math.MaxInt64 {
		return 0
	}
	return r
}

// parseThrottleRate reads a throttle rate's value: bytes per second, 0
// or more (0: no limit).
func parseThrottleRate(v string) (int64, error) {
	r, err := strconv.ParseInt(v, 10, 64)
	if err != nil || r < 0 {
		return 0, fmt.Errorf("server: throttle rate %q: must be a number of bytes per second >= 0 (0: no limit)", v)
	}
	return r, nil
}

// update decides from s which partitions are throttled here, and the
// rates.
func (rt *replicationThrottles) update(s *cluster.Snapshot) {
	rt.setRates(s)
	var sets *throttleSets
	for name, t := range s.Topics {
		lv, fv := t.Configs[tlog.ConfigLeaderReplicationThrottledReplicas], t.Configs[tlog.ConfigFollowerReplicationThrottledReplicas]
		if lv == "" && fv == "" {
			continue
		}
		// Stored values were validated when set; one that does not parse
		// (written by a newer broker, say) throttles nothing.
		lt, _ := tlog.ParseThrottledReplicas(lv)
		ft, _ := tlog.ParseThrottledReplicas(fv)
		for p := range t.Partitions {
			st, ok := s.Partition(name, p)
			if !ok || !st.IsReplica(rt.self) {
				continue
			}
			tp := st.TP()
			if st.Leader == rt.self && lt.Contains(p, rt.self) {
				var out []int32
				for _, r := range st.Replicas {
					if r != rt.self && !st.InISR(r) {
						out = append(out, r)
					}
				}
				if len(out) > 0 {
					if sets == nil {
						sets = &throttleSets{leader: map[cluster.TopicPartition][]int32{}, follower: map[cluster.TopicPartition]bool{}}
					}
					sets.leader[tp] = out
				}
			}
			if st.Leader != rt.self && !st.InISR(rt.self) && ft.Contains(p, rt.self) {
				if sets == nil {
					sets = &throttleSets{leader: map[cluster.TopicPartition][]int32{}, follower: map[cluster.TopicPartition]bool{}}
				}
				sets.follower[tp] = true
			}
		}
	}
	rt.sets.Store(sets)
}

// leaderThrottle is the throttle of what this leader sends follower for
// topic's partition, nil when it is not throttled.
func (rt *replicationThrottles) leaderThrottle(topic string, partition, follower int32) *replica.Throttle {
	sets := rt.sets.Load()
	if sets == nil {
		return nil
	}
	for _, f := range sets.leader[cluster.TopicPartition{Topic: topic, Partition: partition}] {
		if f == follower {
			return rt.leader
		}
	}
	return nil
}

// followerThrottled reports whether this broker's fetches of tp are
// throttled.
func (rt *replicationThrottles) followerThrottled(tp cluster.TopicPartition) bool {
	sets := rt.sets.Load()
	return sets != nil && sets.follower[tp]
}

// throttleRateConfig reports the broker configs of the throttle rates.
func throttleRateConfig(name string) bool {
	return name == BrokerLeaderReplicationThrottledRate || name == BrokerFollowerReplicationThrottledRate
}

// alterThrottleRates applies a change of a broker resource that sets
// (a value) or deletes (nil: back to the cluster-wide default, else the
// serve setting) only the throttle rates, or with replace makes changes
// the resource's whole set of dynamic configs (AlterConfigs); handled is
// false when the change names anything else, which stays refused as
// every static setting is. The resource is this broker's node id (a
// rate is per broker, as Kafka's reassignment tool sets it) or "", the
// cluster-wide default of every broker. The change is stored in the
// cluster metadata first, then this broker takes its rates from the
// snapshot that shows it; the others take theirs from the same snapshot.
func (n *brokerNode) alterThrottleRates(resource string, changes map[string]*string, replace, validateOnly bool) (code int16, msg *string, handled bool) {
	if len(changes) == 0 && !replace {
		return 0, nil, false
	}
	for name := range changes {
		if !throttleRateConfig(name) {
			return 0, nil, false
		}
	}
	if code, msg := n.s.checkBrokerResource(resource); code != 0 {
		return code, msg, true
	}
	for name, v := range changes {
		if v == nil {
			continue
		}
		if _, err := parseThrottleRate(*v); err != nil {
			return kerr.InvalidConfig.Code, adminMsg("%s=%q: must be a number of bytes per second >= 0 (0: no limit).", name, *v), true
		}
	}
	if validateOnly {
		return 0, nil, true
	}
	if !n.started.Load() {
		return clusterErrorCode(errClusterNotReady), errorMessage(errClusterNotReady), true
	}
	ctx, cancel := context.WithTimeout(n.ctx, createWaitTimeout)
	defer cancel()
	err := n.store.AlterBrokerConfigs(ctx, resource, func(cur map[string]string) (map[string]string, error) {
		if replace {
			clear(cur)
		}
		for name, v := range changes {
			if v == nil {
				delete(cur, name)
			} else {
				cur[name] = *v
			}
		}
		return cur, nil
	})
	if err != nil {
		return clusterErrorCode(err), errorMessage(fmt.Errorf("server: alter configs of broker resource %q: %w", resource, err)), true
	}
	n.throttles.setRates(n.snapshot())
	n.log.Info("server: replication throttle rates changed", "resource", resource,
		"leader_bytes_per_second", n.throttles.leader.Rate(), "follower_bytes_per_second", n.throttles.follower.Rate())
	return 0, nil, true
}

// incrementalThrottleChanges turns an IncrementalAlterConfigs broker
// resource into throttle rate changes (SET: the value, DELETE: nil);
// false when an operation is neither.
func incrementalThrottleChanges(rr *kmsg.IncrementalAlterConfigsRequestResource) (map[string]*string, bool) {
	out := make(map[string]*string, len(rr.Configs))
	for _, c := range rr.Configs {
		switch c.Op {
		case kmsg.IncrementalAlterConfigOpSet:
			if c.Value == nil {
				return nil, false
			}
			out[c.Name] = c.Value
		case kmsg.IncrementalAlterConfigOpDelete:
			out[c.Name] = nil
		default:
			return nil, false
		}
	}
	return out, true
}

// alterThrottleRates answers an IncrementalAlterConfigs broker resource
// of a cluster broker that changes only the throttle rates; ok is false
// for anything else (then answered as before: static settings refused).
func (s *Server) alterThrottleRates(rr *kmsg.IncrementalAlterConfigsRequestResource, dup, validateOnly bool) (code int16, msg *string, ok bool) {
	if s.node == nil || dup || rr.ResourceType != kmsg.ConfigResourceTypeBroker {
		return 0, nil, false
	}
	changes, ok := incrementalThrottleChanges(rr)
	if !ok {
		return 0, nil, false
	}
	return s.node.alterThrottleRates(rr.ResourceName, changes, false, validateOnly)
}

// replaceThrottleRates answers an AlterConfigs broker resource of a
// cluster broker whose configs are only throttle rates (or none): they
// become the resource's whole set of dynamic configs, a null value
// leaving the config out, as Kafka's AlterConfigs does; ok is false for
// anything else.
func (s *Server) replaceThrottleRates(rr *kmsg.AlterConfigsRequestResource, dup, validateOnly bool) (code int16, msg *string, ok bool) {
	if s.node == nil || dup || rr.ResourceType != kmsg.ConfigResourceTypeBroker {
		return 0, nil, false
	}
	changes := make(map[string]*string, len(rr.Configs))
	for _, c := range rr.Configs {
		changes[c.Name] = c.Value // the last of a repeated name wins
	}
	return s.node.alterThrottleRates(rr.ResourceName, changes, true, validateOnly)
}
