package clustertest

import (
	"context"
	"fmt"
	"time"
)

// FaultClockJump: the step's node's wall clock jumped forward or back by
// one of ClockJumps (drawn with the step's Rand); healed by putting it
// back to the system's, itself a jump the other way.
const FaultClockJump = "clock-jump"

// ClockJumps are the offsets the clock-jump kind draws from: seconds to
// hours, either way. The longest stays below every default the chaos
// run's topics and groups keep by time (retention.ms and
// offsets.retention.minutes, 7 days; producer.id.expiration.ms, 1 day):
// a jump beyond them expires data, as it does in Kafka (see the package
// doc), which is no fault of the broker's.
var ClockJumps = []time.Duration{
	5 * time.Second, 90 * time.Second, 10 * time.Minute, 2 * time.Hour, 6 * time.Hour,
	-5 * time.Second, -90 * time.Second, -10 * time.Minute, -2 * time.Hour, -6 * time.Hour,
}

// NemesisClock moves a node's wall clock (by node ID, 1..N); a Cluster
// started with Config.ClockFault is one.
type NemesisClock interface {
	ClockJump(node int, offset time.Duration) error
}

// ClockJumpFault is the clock-jump kind over k, drawing its offsets from
// jumps (ClockJumps when none are given).
func ClockJumpFault(k NemesisClock, jumps ...time.Duration) Nemesis {
	if len(jumps) == 0 {
		jumps = ClockJumps
	}
	return clockNemesis{k: k, jumps: jumps}
}

type clockNemesis struct {
	k     NemesisClock
	jumps []time.Duration
}

func (clockNemesis) Name() string { return FaultClockJump }

func (k clockNemesis) Inject(ctx context.Context, c *Cluster, st Step) (Fault, error) {
	d := k.jumps[st.Rand%uint64(len(k.jumps))]
	if err := k.k.ClockJump(st.Node, d); err != nil {
		// Whatever took is undone.
		return nil, fmt.Errorf("clustertest: clock jump of node %d by %v: %w (reset: %v)", st.Node, d, err, k.k.ClockJump(st.Node, 0))
	}
	return &clockFault{onceFault: onceFault{nodes: []int{st.Node},
		heal: func(context.Context) error { return k.k.ClockJump(st.Node, 0) }}, offset: d}, nil
}

// clockFault is a jump, healed once; its Detail names the offset in the
// timeline.
type clockFault struct {
	onceFault
	offset time.Duration
}

func (f *clockFault) Detail() string {
	if f.offset > 0 {
		return fmt.Sprintf("clock +%v", f.offset)
	}
	return fmt.Sprintf("clock %v", f.offset)
}
