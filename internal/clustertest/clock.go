package clustertest

// Clock jumps on one node. The broker, built with -tags clockfault
// (FaultBinary) and started with Config.ClockFault, reads its wall clock
// (internal/wallclock: LogAppendTime, retention.ms, segment.ms, producer
// and offset expiry, commit timestamps) as the system's plus the offset in
// a file beside its data dir, which it maps when it starts; ClockJump
// writes that offset, and the broker's next reading has it. Its monotonic
// clock (timeouts, leases, sessions, ISR lag, fencing, etcd) is the
// system's, as a real jump leaves it.

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/tributary-io/tributary/internal/wallclock"
)

// errNoClockFault: ClockJump on a node whose broker does not read its
// clock from the offset file.
var errNoClockFault = errors.New("clustertest: wall clock cannot be moved (Config.ClockFault and a binary built with -tags clockfault are needed)")

// ClockJump sets node id's wall clock to the system's plus offset (not
// plus its previous offset): forward when offset is positive, back when
// it is negative, back to the system's with 0. It holds across restarts
// until set again.
func (c *Cluster) ClockJump(id int, offset time.Duration) error {
	return c.do(id, func(n *Node) error { return n.ClockJump(offset) })
}

// ClockJump sets the node's wall clock to the system's plus offset. A
// running node must be one that honours the offset file (its pid is in
// it): a binary built without the tag would leave its clock alone and
// the test would prove nothing.
func (n *Node) ClockJump(offset time.Duration) error {
	if !n.c.cfg.ClockFault {
		return fmt.Errorf("node %d: %w", n.ID, errNoClockFault)
	}
	if err := wallclock.SetOffset(n.clockPath(), offset); err != nil {
		return fmt.Errorf("clustertest: clock jump of node %d: %w", n.ID, err)
	}
	if !n.Running() {
		return nil
	}
	_, pid, err := wallclock.ReadOffset(n.clockPath())
	if err != nil {
		return fmt.Errorf("clustertest: clock jump of node %d: %w", n.ID, err)
	}
	if pid != n.PID() {
		return fmt.Errorf("node %d (pid %d) did not map %s (pid %d did): %w", n.ID, n.PID(), n.clockPath(), pid, errNoClockFault)
	}
	return nil
}

// ClockOffset is the node's wall clock's offset from the system's.
func (n *Node) ClockOffset() (time.Duration, error) {
	if !n.c.cfg.ClockFault {
		return 0, nil
	}
	d, _, err := wallclock.ReadOffset(n.clockPath())
	return d, err
}

// ResetClocks puts every node's wall clock back to the system's.
func (c *Cluster) ResetClocks() error {
	if !c.cfg.ClockFault {
		return nil
	}
	var errs []error
	for _, n := range c.Nodes {
		errs = append(errs, n.ClockJump(0))
	}
	return errors.Join(errs...)
}

// clockPath is the node's offset file: beside its data dir, never in it.
func (n *Node) clockPath() string {
	return filepath.Join(n.c.dir, fmt.Sprintf("node%d.clock", n.ID))
}

// childEnv is the node's environment: nil (the test's) unless a fault
// needs variables of its own (powerLossEnv, and the offset file with
// Config.ClockFault, created with a zero offset if it does not exist).
func (n *Node) childEnv() ([]string, error) {
	env := n.powerLossEnv()
	if !n.c.cfg.ClockFault {
		return env, nil
	}
	if _, err := os.Stat(n.clockPath()); errors.Is(err, os.ErrNotExist) {
		if err := wallclock.SetOffset(n.clockPath(), 0); err != nil {
			return nil, fmt.Errorf("clustertest: node %d clock: %w", n.ID, err)
		}
	}
	if env == nil {
		env = os.Environ()
	}
	return append(env, wallclock.EnvOffsetFile+"="+n.clockPath()), nil
}
