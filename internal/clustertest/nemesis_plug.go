package clustertest

import (
	"context"
	"fmt"
	"sync"
)

// Network and power-loss faults, for whatever cuts links between nodes
// (the cluster's fault-proxy network) or drops a node's unsynced writes:
// each is a small interface here, and the kinds below use it, so that the
// schedule draws them as soon as a cluster offers one.
const (
	// FaultIsolate: the step's node cut from every other node (clients
	// still reach it); healed by healing the network.
	FaultIsolate = "isolate"
	// FaultIsolateController: the active controller isolated.
	FaultIsolateController = "isolate-controller"
	// FaultCutOneWay: what the step's node sends its peer is dropped;
	// the other direction flows.
	FaultCutOneWay = "cut-one-way"
	// FaultFreeze: every link of the step's node holds its bytes, as a
	// dead network does (nothing is refused, nothing arrives).
	FaultFreeze = "freeze"
	// FaultPowerLoss: the step's node killed and every write it made
	// since its last fsync dropped; healed by a restart. Injected only
	// into a settled cluster (NeedsHealthy): a power loss of the last ISR
	// member loses what only it had, in Kafka too.
	FaultPowerLoss = "power-loss"
)

// NemesisNet cuts links between nodes (by node ID, 1..N); a Cluster
// started with Config.Faults is one. Heal undoes every fault it made.
type NemesisNet interface {
	Isolate(node int) error
	CutOneWay(from, to int) error
	Freeze(node int) error
	Heal() error
}

// NemesisPower drops what a node wrote since its last fsync, killing it;
// a Cluster started with Config.PowerLoss is one.
type NemesisPower interface {
	PowerLoss(node int) (PowerLossResult, error)
}

// NetFaults are the network kinds over n: every one, or those named.
func NetFaults(n NemesisNet, names ...string) ([]Nemesis, error) {
	all := []Nemesis{
		netNemesis{name: FaultIsolate, n: n, inject: func(st Step, id int) error { return n.Isolate(id) }},
		netNemesis{name: FaultIsolateController, n: n, controller: true, inject: func(st Step, id int) error { return n.Isolate(id) }},
		netNemesis{name: FaultCutOneWay, n: n, peer: true, inject: func(st Step, id int) error { return n.CutOneWay(id, st.Peer) }},
		netNemesis{name: FaultFreeze, n: n, inject: func(st Step, id int) error { return n.Freeze(id) }},
	}
	return pick(all, names)
}

// PowerLossFault is the power-loss kind over p.
func PowerLossFault(p NemesisPower) Nemesis { return powerNemesis{p: p} }

// pick returns the kinds of all named (all of them without names).
func pick(all []Nemesis, names []string) ([]Nemesis, error) {
	if len(names) == 0 {
		return all, nil
	}
	var out []Nemesis
	for _, name := range names {
		i := -1
		for j, k := range all {
			if k.Name() == name {
				i = j
			}
		}
		if i < 0 {
			return nil, fmt.Errorf("clustertest: no fault kind %q", name)
		}
		out = append(out, all[i])
	}
	return out, nil
}

// target resolves the node a step hits: the active controller for a
// controller kind, else the step's node.
func target(ctx context.Context, c *Cluster, st Step, controller bool) (int, error) {
	if !controller {
		return st.Node, nil
	}
	ctl, err := c.Controller(ctx)
	if err != nil || ctl == 0 {
		return 0, fmt.Errorf("%w: no active controller known (%v)", ErrSkipped, err)
	}
	return ctl, nil
}

type netNemesis struct {
	name       string
	n          NemesisNet
	controller bool // hit the active controller
	peer       bool // the fault is between the node and the step's peer
	inject     func(st Step, id int) error
}

func (k netNemesis) Name() string { return k.name }

func (k netNemesis) Inject(ctx context.Context, c *Cluster, st Step) (Fault, error) {
	id, err := target(ctx, c, st, k.controller)
	if err != nil {
		return nil, err
	}
	if k.peer && st.Peer == 0 {
		return nil, fmt.Errorf("%w: a one-node cluster has no peer", ErrSkipped)
	}
	if err := k.inject(st, id); err != nil {
		// Whatever part of it took is undone.
		return nil, fmt.Errorf("clustertest: %s of node %d: %w (heal: %v)", k.name, id, err, k.n.Heal())
	}
	nodes := []int{id}
	if k.peer {
		nodes = append(nodes, st.Peer)
	}
	return &onceFault{nodes: nodes, heal: func(context.Context) error { return k.n.Heal() }}, nil
}

type powerNemesis struct{ p NemesisPower }

func (powerNemesis) Name() string       { return FaultPowerLoss }
func (powerNemesis) NeedsHealthy() bool { return true }

func (k powerNemesis) Inject(ctx context.Context, c *Cluster, st Step) (Fault, error) {
	n, err := c.Node(st.Node)
	if err != nil {
		return nil, err
	}
	if !n.Running() || n.Paused() {
		return nil, fmt.Errorf("%w: node %d is down or paused", ErrSkipped, st.Node)
	}
	f := &powerFault{onceFault: &onceFault{nodes: []int{st.Node}, heal: restartIfDown(n)}}
	if f.res, err = k.p.PowerLoss(st.Node); err != nil {
		// The node may be killed already, its data dir half restored:
		// the fault is returned with the error, so that the schedule
		// reports it and the heal restarts the node on what is left.
		return f, err
	}
	return f, nil
}

// powerFault is a power loss; the timeline says what it dropped.
type powerFault struct {
	*onceFault
	res PowerLossResult
}

func (f *powerFault) Detail() string { return f.res.String() }

// onceFault heals once: a heal that succeeded is not repeated.
type onceFault struct {
	nodes []int
	heal  func(context.Context) error

	mu     sync.Mutex
	healed bool // guarded by mu
}

func (f *onceFault) Nodes() []int { return f.nodes }

func (f *onceFault) Heal(ctx context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.healed {
		return nil
	}
	if err := f.heal(ctx); err != nil {
		return err
	}
	f.healed = true
	return nil
}
