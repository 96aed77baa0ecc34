package log

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// ThrottledReplicas is a parsed leader.replication.throttled.replicas or
// follower.replication.throttled.replicas value: the replicas, named by
// partition and broker, whose replication traffic a broker's throttle
// limits. The zero value names none.
type ThrottledReplicas struct {
	// All is "*": every replica of the topic.
	All bool
	// Replicas are the partition:broker pairs listed.
	Replicas map[ThrottledReplica]struct{}
}

// ThrottledReplica is one partition:broker pair of a list.
type ThrottledReplica struct {
	Partition, Broker int32
}

// Contains reports whether the replica of partition on broker is
// throttled.
func (t ThrottledReplicas) Contains(partition, broker int32) bool {
	if t.All {
		return true
	}
	_, ok := t.Replicas[ThrottledReplica{partition, broker}]
	return ok
}

// ParseThrottledReplicas parses a throttled replicas list as Kafka's
// validator accepts it: "" (none), "*" (all), or comma-separated
// partition:broker pairs of non-negative integers, spaces around items
// allowed.
func ParseThrottledReplicas(v string) (ThrottledReplicas, error) {
	v = strings.TrimSpace(v)
	switch v {
	case "":
		return ThrottledReplicas{}, nil
	case "*":
		return ThrottledReplicas{All: true}, nil
	}
	out := ThrottledReplicas{Replicas: map[ThrottledReplica]struct{}{}}
	for item := range strings.SplitSeq(v, ",") {
		item = strings.TrimSpace(item)
		ps, bs, ok := strings.Cut(item, ":")
		if !ok {
			return ThrottledReplicas{}, fmt.Errorf("%q is not partition:broker; the list must be \"*\" or partition:broker pairs", item)
		}
		p, perr := strconv.ParseInt(strings.TrimSpace(ps), 10, 32)
		b, berr := strconv.ParseInt(strings.TrimSpace(bs), 10, 32)
		if err := errors.Join(perr, berr); err != nil || p < 0 || b < 0 {
			return ThrottledReplicas{}, fmt.Errorf("%q is not partition:broker of non-negative integers", item)
		}
		out.Replicas[ThrottledReplica{int32(p), int32(b)}] = struct{}{}
	}
	return out, nil
}
