package server

// Replication throttles (KIP-73), as Kafka names them:
//
//   - the broker settings leader.replication.throttled.rate and
//     follower.replication.throttled.rate, bytes per second (unset or 0:
//     no limit), given at start (serve settings) and changed at run time
//     with IncrementalAlterConfigs or AlterConfigs of this broker's
//     resource (its node id), held in memory until the next restart, which
//     takes the serve setting again; each is one replica.Throttle, a
//     token bucket;
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
	"strconv"
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
		self:     self,
		leader:   replica.NewThrottle(c.LeaderReplicationThrottledRate),
		follower: replica.NewThrottle(c.FollowerReplicationThrottledRate),
	}
}

// update decides from s which partitions are throttled here.
func (rt *replicationThrottles) update(s *cluster.Snapshot) {
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

// alterThrottleRates applies a change of this broker's resource that
// sets (a value) or deletes (nil: back to the serve setting) only the
// throttle rates; handled is false when the change names anything else,
// which stays refused as every static setting is. Only this broker's own
// resource (its node id) takes them: a rate is per broker, as Kafka's
// reassignment tool sets it.
func (n *brokerNode) alterThrottleRates(resource string, changes map[string]*string, validateOnly bool) (code int16, msg *string, handled bool) {
	if len(changes) == 0 {
		return 0, nil, false
	}
	for name := range changes {
		if !throttleRateConfig(name) {
			return 0, nil, false
		}
	}
	if resource != strconv.Itoa(int(n.self)) {
		return kerr.InvalidRequest.Code, adminMsg("The replication throttle rates are per broker: alter the resource of the broker they apply to (%d here), not %q.", n.self, resource), true
	}
	rates := map[string]int64{}
	for name, v := range changes {
		rate := int64(0)
		switch {
		case v == nil && name == BrokerLeaderReplicationThrottledRate:
			rate = n.cfg.LeaderReplicationThrottledRate
		case v == nil:
			rate = n.cfg.FollowerReplicationThrottledRate
		default:
			r, err := strconv.ParseInt(*v, 10, 64)
			if err != nil || r < 0 {
				return kerr.InvalidConfig.Code, adminMsg("%s=%q: must be a number of bytes per second >= 0 (0: no limit).", name, *v), true
			}
			rate = r
		}
		rates[name] = rate
	}
	if validateOnly {
		return 0, nil, true
	}
	for name, rate := range rates {
		th := n.throttles.follower
		if name == BrokerLeaderReplicationThrottledRate {
			th = n.throttles.leader
		}
		th.SetRate(rate)
		n.log.Info("server: replication throttle rate changed", "config", name, "bytes_per_second", rate)
	}
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
	return s.node.alterThrottleRates(rr.ResourceName, changes, validateOnly)
}
