package clustertest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/tributary-io/tributary/cluster"
)

// The process faults a Schedule draws from, by name.
const (
	// FaultKill9: kill -9 of the step's node; healed by a restart on its
	// data dir.
	FaultKill9 = "kill9"
	// FaultKill9Controller: kill -9 of the active controller; healed by a
	// restart.
	FaultKill9Controller = "kill9-controller"
	// FaultPause: SIGSTOP of the step's node; healed by SIGCONT. Held past
	// broker.session.timeout.ms, the node is fenced meanwhile.
	FaultPause = "pause"
	// FaultPauseController: SIGSTOP of the active controller; healed by
	// SIGCONT: it must not act on what it knew before the pause.
	FaultPauseController = "pause-controller"
	// FaultTerm: SIGTERM of the step's node (a controlled shutdown, which
	// must exit 0); healed by a restart.
	FaultTerm = "term"
	// FaultWipe: kill -9 of the step's node, then a restart on a data dir
	// emptied of everything but its metadata quorum member's files
	// (cluster.MetadataDir): a broker whose log disk came back empty.
	// (A voter that lost its etcd member too cannot rejoin without an etcd
	// membership change: "member ... has already been bootstrapped".)
	// Injected only into a settled cluster (NeedsHealthy).
	FaultWipe = "wipe"
)

// ProcessFaults are the process faults: every kind above, or only those
// named.
func ProcessFaults(names ...string) ([]Nemesis, error) {
	all := []Nemesis{
		processNemesis{name: FaultKill9, inject: injectKill9},
		processNemesis{name: FaultKill9Controller, controller: true, inject: injectKill9},
		processNemesis{name: FaultPause, inject: injectPause},
		processNemesis{name: FaultPauseController, controller: true, inject: injectPause},
		processNemesis{name: FaultTerm, inject: injectTerm},
		processNemesis{name: FaultWipe, healthy: true, inject: injectWipe},
	}
	return pick(all, names)
}

// processNemesis is a fault of one node's process.
type processNemesis struct {
	name string
	// controller: the node hit is the active controller, not the step's
	// node (the step is skipped when none is known).
	controller bool
	healthy    bool
	inject     func(ctx context.Context, n *Node) (heal func(context.Context) error, err error)
}

func (k processNemesis) Name() string       { return k.name }
func (k processNemesis) NeedsHealthy() bool { return k.healthy }

func (k processNemesis) Inject(ctx context.Context, c *Cluster, st Step) (Fault, error) {
	id, err := target(ctx, c, st, k.controller)
	if err != nil {
		return nil, err
	}
	n, err := c.Node(id)
	if err != nil {
		return nil, err
	}
	if !n.Running() || n.Paused() {
		return nil, fmt.Errorf("%w: node %d is down or paused", ErrSkipped, id)
	}
	heal, err := k.inject(ctx, n)
	if heal == nil {
		return nil, err
	}
	return &onceFault{nodes: []int{id}, heal: heal}, err
}

// restartIfDown restarts n unless it runs (an earlier heal, or the final
// revival, brought it back).
func restartIfDown(n *Node) func(context.Context) error {
	return func(ctx context.Context) error {
		if n.Running() {
			return nil
		}
		return n.Restart(ctx)
	}
}

func injectKill9(_ context.Context, n *Node) (func(context.Context) error, error) {
	if err := n.Kill9(); err != nil {
		return nil, err
	}
	return restartIfDown(n), nil
}

func injectPause(_ context.Context, n *Node) (func(context.Context) error, error) {
	if err := n.Stop(); err != nil {
		return nil, err
	}
	return func(context.Context) error {
		if !n.Paused() {
			return nil
		}
		return n.Cont()
	}, nil
}

// injectTerm returns the heal even when the shutdown was not clean (the
// node is down either way) and the error, which the schedule reports.
func injectTerm(_ context.Context, n *Node) (func(context.Context) error, error) {
	err := n.Term()
	if n.Running() {
		return nil, err
	}
	return restartIfDown(n), err
}

func injectWipe(_ context.Context, n *Node) (func(context.Context) error, error) {
	if err := n.Kill9(); err != nil {
		return nil, err
	}
	return func(ctx context.Context) error {
		if n.Running() {
			return nil
		}
		return n.WipeLogsAndRestart(ctx)
	}, nil
}

// WipeLogsAndRestart empties the node's data dir but for its metadata quorum
// member (cluster.MetadataDir, the embedded etcd's data) and starts it
// again: the broker comes back with no partition, no cluster ID file and
// no checkpoint, and the quorum with its member. It must not be running.
func (n *Node) WipeLogsAndRestart(ctx context.Context) error {
	n.opMu.Lock()
	defer n.opMu.Unlock()
	if n.Running() {
		return fmt.Errorf("clustertest: node %d runs (pid %d): stop it before wiping its data dir", n.ID, n.PID())
	}
	if err := wipeDataDir(n.DataDir, n.journal(), func(name string) bool { return name == cluster.MetadataDir }); err != nil {
		return fmt.Errorf("clustertest: wipe node %d: %w", n.ID, err)
	}
	return n.restart(ctx)
}

// journal is the node's sync journal with Config.PowerLoss, else "".
func (n *Node) journal() string {
	if !n.c.cfg.PowerLoss {
		return ""
	}
	return n.journalPath()
}

// wipeDataDir removes every entry of dataDir that keep does not keep (nil
// keeps none) and, given a sync journal, makes what is left, the data
// dir's own entries included, that journal's new baseline
// (writeBaseline). A wipe is a log disk replaced by an empty one: the old
// journal describes a disk that is gone. Kept, its directory records
// would name inodes the wipe freed and the file system hands out again to
// whatever the broker creates next (a new partition dir inheriting the
// old meta dir's inode), and a later power loss of the node would "rename
// back" names that were never renamed. With the data dir's entries in
// the baseline, a partition dir the broker makes afterwards survives a
// power loss only if the broker synced the data dir after making it.
func wipeDataDir(dataDir, journal string, keep func(name string) bool) error {
	ents, err := os.ReadDir(dataDir)
	if err != nil {
		return err
	}
	for _, e := range ents {
		if keep != nil && keep(e.Name()) {
			continue
		}
		if err := os.RemoveAll(filepath.Join(dataDir, e.Name())); err != nil {
			return err
		}
	}
	if journal == "" {
		return nil
	}
	return writeBaseline(dataDir, journal, true)
}
