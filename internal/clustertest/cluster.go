package clustertest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/tributary-io/tributary/internal/faultproxy"
)

// Cluster defaults.
const (
	// DefaultStartTimeout bounds a node's start: until it answers
	// ApiVersions and Metadata (and, in a quorum, sees every node).
	DefaultStartTimeout = 60 * time.Second
	// DefaultTermTimeout bounds a node's exit after SIGTERM (a
	// controlled shutdown moves its leaderships first).
	DefaultTermTimeout = 30 * time.Second
	// probeEvery is the pause between two readiness probes.
	probeEvery = 20 * time.Millisecond
	// probeTimeout bounds one readiness probe.
	probeTimeout = time.Second
	// quitGrace is how long a node that did not exit after SIGTERM has
	// to write its goroutines' stacks after SIGQUIT before SIGKILL.
	quitGrace = 5 * time.Second
	// logTailLines is how much of each node's log a failed test prints.
	logTailLines = 80
	// firstHost is the last byte of node 1's loopback address: node n
	// listens on 127.0.0.(firstHost+n-1).
	firstHost = 2
)

// Config describes a cluster to start.
type Config struct {
	// Nodes is how many brokers (default 1).
	Nodes int
	// Quorum makes every node a voter of the metadata quorum (--node-id,
	// --controller-listen, --controller-quorum-voters). It is implied by
	// Nodes > 1; with one node and no Quorum the broker is today's single
	// broker, with no new port.
	Quorum bool
	// Faults puts a fault proxy in front of every listener of every node
	// (net.go): the Cluster's Partition, Isolate, Freeze, CutOneWay,
	// Delay and Heal, and Net, then inject network faults.
	Faults bool
	// Bin is the tributary binary (default Binary(t)).
	Bin string
	// Args are extra serve flags for every node (broker settings:
	// "--min.insync.replicas", "2", ...); NodeArgs adds a node's own.
	Args     []string
	NodeArgs func(node int) []string
	// Rand picks the ports (default: seeded from Seed(t)).
	Rand *rand.Rand
	// StartTimeout and TermTimeout default to DefaultStartTimeout and
	// DefaultTermTimeout.
	StartTimeout, TermTimeout time.Duration
	// PowerLoss makes every node journal its fsyncs, so that PowerLoss
	// can drop what a node had not made durable (powerloss.go). Bin then
	// defaults to FaultBinary(t).
	PowerLoss bool
	// ClockFault makes every node read its wall clock through an offset
	// file, so that ClockJump can move it (clock.go). Bin then defaults
	// to FaultBinary(t).
	ClockFault bool
}

// Cluster is N `tributary serve` child processes. Its methods are safe for
// concurrent use; a node's operations are serialised by the node.
type Cluster struct {
	t     testing.TB
	cfg   Config
	bin   string
	dir   string // the work dir: data dirs and logs
	Nodes []*Node

	voters string // --controller-quorum-voters; empty for a single broker

	net *faultproxy.Net // the proxies with Faults (net.go); nil without

	adminOnce sync.Once
	admin     *kadm.Client
}

// Node is one broker: its addresses, data dir and log file stay the same
// across restarts.
type Node struct {
	ID                                int // node.id: 1..N
	Host                              string
	Addr, MetricsAddr, ControllerAddr string
	DataDir, LogPath                  string

	c    *Cluster
	bind *nodeBind // the addresses bound behind the proxies with Faults; nil without

	opMu sync.Mutex // serialises the node's operations

	mu           sync.Mutex
	cmd          *exec.Cmd     // guarded by mu; nil before the first start
	done         chan struct{} // guarded by mu; closed once cmd is reaped
	werr         error         // guarded by mu; cmd's exit, once done
	paused       bool          // guarded by mu: SIGSTOPped
	incarnations int           // guarded by mu
}

// Start starts the cluster cfg describes and waits until every node
// answers (in a quorum: is registered, and a controller is active); it
// fails the test if one does not. Every node is killed by
// t.Cleanup, by PID; a failed test prints each node's log tail and keeps
// the work dir.
func Start(t testing.TB, cfg Config) *Cluster {
	t.Helper()
	c := newCluster(t, cfg)
	// A quorum's voters wait for each other: start every process first,
	// then wait for each.
	for _, n := range c.Nodes {
		if err := n.spawn(); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.cfg.StartTimeout)
	defer cancel()
	for _, n := range c.Nodes {
		if err := n.waitReady(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.WaitBrokers(ctx, len(c.Nodes)); err != nil {
		t.Fatal(err)
	}
	if c.cfg.Quorum {
		// Every node is registered before one has won the controller's
		// election: a test that starts with the controller's work (or
		// asks who it is) waits for it here.
		for {
			ctl, err := c.Controller(ctx)
			if err == nil && ctl != 0 {
				break
			}
			select {
			case <-ctx.Done():
				t.Fatalf("clustertest: no active controller after start: %v (last: %d, %v)", ctx.Err(), ctl, err)
			case <-time.After(waitEvery):
			}
		}
	}
	t.Logf("clustertest: %d node(s) up in %s: %s", len(c.Nodes), c.dir, strings.Join(c.Seeds(), ","))
	return c
}

// newCluster lays out the cluster cfg describes (addresses, ports, data
// dirs, flags) without starting anything, and registers its cleanup.
func newCluster(t testing.TB, cfg Config) *Cluster {
	t.Helper()
	if cfg.Nodes <= 0 {
		cfg.Nodes = 1
	}
	if cfg.Nodes > 1 {
		cfg.Quorum = true
	}
	if cfg.Nodes > 250 {
		t.Fatalf("clustertest: %d nodes do not fit 127.0.0.2-254", cfg.Nodes)
	}
	if cfg.StartTimeout <= 0 {
		cfg.StartTimeout = DefaultStartTimeout
	}
	if cfg.TermTimeout <= 0 {
		cfg.TermTimeout = DefaultTermTimeout
	}
	if cfg.Rand == nil {
		_, cfg.Rand = Seed(t)
	}
	bin := cfg.Bin
	if bin == "" && (cfg.PowerLoss || cfg.ClockFault) {
		bin = FaultBinary(t)
	} else if bin == "" {
		bin = Binary(t)
	}
	dir, err := os.MkdirTemp("", "clustertest-")
	if err != nil {
		t.Fatal(err)
	}
	c := &Cluster{t: t, cfg: cfg, bin: bin, dir: dir}
	t.Cleanup(c.cleanup)

	var voters []string
	for i := 1; i <= cfg.Nodes; i++ {
		host := fmt.Sprintf("127.0.0.%d", firstHost+i-1)
		ports, err := pickPorts(cfg.Rand, host)
		if err != nil {
			t.Fatal(err)
		}
		n := &Node{
			ID: i, Host: host, c: c,
			Addr:        net.JoinHostPort(host, strconv.Itoa(ports.kafka)),
			MetricsAddr: net.JoinHostPort(host, strconv.Itoa(ports.metrics)),
			DataDir:     filepath.Join(dir, fmt.Sprintf("d%d", i)),
			LogPath:     filepath.Join(dir, fmt.Sprintf("node%d.log", i)),
		}
		if cfg.Quorum {
			n.ControllerAddr = net.JoinHostPort(host, strconv.Itoa(ports.controller))
			voters = append(voters, fmt.Sprintf("%d@%s", i, n.ControllerAddr))
		}
		if err := os.MkdirAll(n.DataDir, 0o755); err != nil {
			t.Fatal(err)
		}
		if cfg.PowerLoss {
			// The empty data dir is durable: whatever the broker makes
			// in it survives a power loss only if the broker synced it.
			if err := writeBaseline(n.DataDir, n.journalPath(), true); err != nil {
				t.Fatal(err)
			}
		}
		c.Nodes = append(c.Nodes, n)
	}
	if cfg.Quorum {
		c.voters = strings.Join(voters, ",")
	}
	if cfg.Faults {
		if err := c.startNet(); err != nil {
			t.Fatal(err)
		}
	}
	return c
}

// Dir is the cluster's work dir (data dirs d1..dN, logs node1.log...).
func (c *Cluster) Dir() string { return c.dir }

// Seeds are every node's Kafka address.
func (c *Cluster) Seeds() []string {
	s := make([]string, len(c.Nodes))
	for i, n := range c.Nodes {
		s[i] = n.Addr
	}
	return s
}

// Node returns node id (1..N).
func (c *Cluster) Node(id int) (*Node, error) {
	if id < 1 || id > len(c.Nodes) {
		return nil, fmt.Errorf("%w: %d of %d", errNoNode, id, len(c.Nodes))
	}
	return c.Nodes[id-1], nil
}

// do runs op on node id, or returns errNoNode.
func (c *Cluster) do(id int, op func(n *Node) error) error {
	n, err := c.Node(id)
	if err != nil {
		return err
	}
	return op(n)
}

// Kill9 kills node id with SIGKILL and waits until it is reaped: none of
// its shutdown path runs.
func (c *Cluster) Kill9(id int) error { return c.do(id, (*Node).Kill9) }

// Term sends SIGTERM to node id (a controlled shutdown) and waits for it
// to exit, up to the TermTimeout, after which it is killed; an exit
// status other than 0 is an error.
func (c *Cluster) Term(id int) error { return c.do(id, (*Node).Term) }

// Stop freezes node id with SIGSTOP: it holds its sockets and answers
// nothing until Cont.
func (c *Cluster) Stop(id int) error { return c.do(id, (*Node).Stop) }

// Cont resumes node id after Stop, with SIGCONT.
func (c *Cluster) Cont(id int) error { return c.do(id, (*Node).Cont) }

// Restart starts node id again, on the same data dir and addresses, and
// waits until it answers. It must not be running.
func (c *Cluster) Restart(ctx context.Context, id int) error {
	return c.do(id, func(n *Node) error { return n.Restart(ctx) })
}

// WipeAndRestart empties node id's data dir and starts it again: a
// broker that comes back with nothing. It must not be running.
func (c *Cluster) WipeAndRestart(ctx context.Context, id int) error {
	return c.do(id, func(n *Node) error { return n.WipeAndRestart(ctx) })
}

// TermAll stops every running node with SIGTERM, one after the other,
// and returns every error.
func (c *Cluster) TermAll() error {
	var errs []error
	for _, n := range c.Nodes {
		if n.Running() {
			errs = append(errs, n.Term())
		}
	}
	return errors.Join(errs...)
}

// KillAll kills every running node with SIGKILL.
func (c *Cluster) KillAll() {
	for _, n := range c.Nodes {
		_ = n.Kill9()
	}
}

// ReadReplicas reads topics from every node's data dir (ReadReplica).
// Every node must be stopped: a running broker's files change under the
// reader.
func (c *Cluster) ReadReplicas(topics ...string) ([]Replica, error) {
	var reps []Replica
	for _, n := range c.Nodes {
		if n.Running() {
			return nil, fmt.Errorf("clustertest: node %d (pid %d) still runs: stop it before reading its data dir", n.ID, n.PID())
		}
		r, err := ReadReplica(n.ID, n.DataDir, topics...)
		if err != nil {
			return nil, err
		}
		reps = append(reps, r)
	}
	return reps, nil
}

// cleanup kills every node by PID; a failed test gets each node's log
// tail and keeps the work dir.
func (c *Cluster) cleanup() {
	c.KillAll()
	c.closeNet()
	if c.t.Failed() {
		for _, n := range c.Nodes {
			c.t.Logf("clustertest: node %d (%s) log tail, %s:\n%s", n.ID, n.Addr, n.LogPath, tail(n.LogPath, logTailLines))
		}
	}
	if c.t.Failed() || os.Getenv(EnvKeep) != "" {
		c.t.Logf("clustertest: work dir kept: %s", c.dir)
		return
	}
	os.RemoveAll(c.dir)
}

// tail returns the last n lines of the file at path.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := bytes.Split(bytes.TrimRight(b, "\n"), []byte{'\n'})
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, []byte{'\n'}))
}

// args are node n's serve flags.
func (n *Node) args() []string {
	c := n.c
	a := []string{"serve", "--data-dir", n.DataDir, "--listen", n.listenAddr(), "--metrics-listen", n.MetricsAddr}
	if c.cfg.Quorum {
		a = append(a, "--node-id", strconv.Itoa(n.ID), "--controller-listen", n.controllerListen(),
			"--controller-quorum-voters", c.voters)
	}
	a = append(a, n.bindArgs()...)
	a = append(a, c.cfg.Args...)
	if c.cfg.NodeArgs != nil {
		a = append(a, c.cfg.NodeArgs(n.ID)...)
	}
	return a
}

// spawn starts the process (it must not be running) with its output
// appended to the node's log file.
func (n *Node) spawn() error {
	if n.Running() {
		return fmt.Errorf("clustertest: node %d already runs (pid %d)", n.ID, n.PID())
	}
	logf, err := os.OpenFile(n.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("clustertest: node %d log: %w", n.ID, err)
	}
	args := n.args()
	n.mu.Lock()
	n.incarnations++
	inc := n.incarnations
	n.mu.Unlock()
	fmt.Fprintf(logf, "=== clustertest: node %d incarnation %d at %s: %s %s\n", n.ID, inc, time.Now().Format(time.RFC3339Nano), n.c.bin, strings.Join(args, " "))
	cmd := exec.Command(n.c.bin, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if cmd.Env, err = n.childEnv(); err != nil {
		logf.Close()
		return err
	}
	cmd.SysProcAttr = childProcAttr()
	if err := n.netUp(); err != nil {
		logf.Close()
		return err
	}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("clustertest: start node %d: %w", n.ID, err)
	}
	done := make(chan struct{})
	n.mu.Lock()
	n.cmd, n.done, n.werr, n.paused = cmd, done, nil, false
	n.mu.Unlock()
	go func() {
		err := cmd.Wait()
		logf.Close()
		n.netDown()
		n.mu.Lock()
		n.werr = err
		n.mu.Unlock()
		close(done)
	}()
	return nil
}

// waitReady waits until the node answers ApiVersions and Metadata and, in
// a quorum, lists itself as a registered broker.
func (n *Node) waitReady(ctx context.Context) error {
	n.mu.Lock()
	cmd, done := n.cmd, n.done
	n.mu.Unlock()
	cl, err := kgo.NewClient(append(n.direct(), kgo.DialTimeout(probeTimeout), kgo.RequestRetries(0),
		kgo.RetryBackoffFn(func(int) time.Duration { return probeEvery }))...)
	if err != nil {
		return fmt.Errorf("clustertest: probe client: %w", err)
	}
	defer cl.Close()
	began := time.Now()
	for {
		pctx, cancel := context.WithTimeout(ctx, probeTimeout)
		_, err := kmsg.NewPtrApiVersionsRequest().RequestWith(pctx, cl)
		if err == nil {
			var md *kmsg.MetadataResponse
			md, err = kmsg.NewPtrMetadataRequest().RequestWith(pctx, cl)
			if err == nil && n.c.cfg.Quorum && !slices.ContainsFunc(md.Brokers, func(b kmsg.MetadataResponseBroker) bool { return b.NodeID == int32(n.ID) }) {
				// A node answers on its listener before it has joined the
				// cluster (a Metadata with no broker), and may still fail
				// to join: it is up once it is registered.
				err = fmt.Errorf("clustertest: node %d not registered yet", n.ID)
			}
		}
		cancel()
		if err == nil {
			return nil
		}
		select {
		case <-done:
			return fmt.Errorf("clustertest: node %d (pid %d) exited while starting: %v; log tail:\n%s",
				n.ID, cmd.Process.Pid, n.exitErr(), tail(n.LogPath, 20))
		case <-ctx.Done():
			return fmt.Errorf("clustertest: node %d (pid %d) not answering after %v: %w (last: %v)",
				n.ID, cmd.Process.Pid, time.Since(began).Round(time.Millisecond), ctx.Err(), err)
		case <-time.After(probeEvery):
		}
	}
}

func (n *Node) exitErr() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.werr
}

// PID is the current incarnation's process ID (0 before the first start).
func (n *Node) PID() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cmd == nil {
		return 0
	}
	return n.cmd.Process.Pid
}

// Running reports whether an incarnation runs (or is paused, or not yet
// reaped).
func (n *Node) Running() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.done == nil {
		return false
	}
	select {
	case <-n.done:
		return false
	default:
		return true
	}
}

// Paused reports whether the node is stopped with SIGSTOP.
func (n *Node) Paused() bool {
	n.mu.Lock()
	paused, done := n.paused, n.done
	n.mu.Unlock()
	if !paused || done == nil {
		return false
	}
	select {
	case <-done:
		return false // killed while paused
	default:
		return true
	}
}

// Incarnations is how many times the node was started.
func (n *Node) Incarnations() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.incarnations
}

// signal sends sig to the running incarnation and returns its done
// channel; nil when nothing runs.
func (n *Node) signal(sig syscall.Signal) (<-chan struct{}, error) {
	n.mu.Lock()
	cmd, done := n.cmd, n.done
	n.mu.Unlock()
	if cmd == nil {
		return nil, nil
	}
	select {
	case <-done:
		return nil, nil
	default:
	}
	if err := cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return done, fmt.Errorf("clustertest: node %d (pid %d): %v: %w", n.ID, cmd.Process.Pid, sig, err)
	}
	return done, nil
}

// Kill9 kills the node with SIGKILL and waits until it is reaped.
func (n *Node) Kill9() error {
	n.opMu.Lock()
	defer n.opMu.Unlock()
	done, err := n.signal(syscall.SIGKILL)
	if done != nil {
		<-done
	}
	return err
}

// Term sends SIGTERM (SIGCONT first if the node is paused) and waits for
// a clean exit, killing the node after the TermTimeout.
func (n *Node) Term() error {
	n.opMu.Lock()
	defer n.opMu.Unlock()
	if n.Paused() {
		if _, err := n.signal(syscall.SIGCONT); err != nil {
			return err
		}
	}
	done, err := n.signal(syscall.SIGTERM)
	if done == nil || err != nil {
		return err
	}
	pid := n.PID()
	select {
	case <-done:
	case <-time.After(n.c.cfg.TermTimeout):
		// SIGQUIT first: the Go runtime writes every goroutine's stack
		// to stderr, the node's log, so that what it waited on shows.
		_, _ = n.signal(syscall.SIGQUIT)
		select {
		case <-done:
		case <-time.After(quitGrace):
			_, _ = n.signal(syscall.SIGKILL)
			<-done
		}
		return fmt.Errorf("clustertest: node %d (pid %d) did not exit within %v of SIGTERM; killed (its goroutines are in its log)", n.ID, pid, n.c.cfg.TermTimeout)
	}
	if err := n.exitErr(); err != nil {
		return fmt.Errorf("clustertest: node %d (pid %d) after SIGTERM: %w", n.ID, pid, err)
	}
	return nil
}

// Stop freezes the node with SIGSTOP and waits until the kernel has
// stopped it (the signal is delivered asynchronously: a request could
// otherwise still be answered right after Stop returns).
func (n *Node) Stop() error {
	n.opMu.Lock()
	defer n.opMu.Unlock()
	done, err := n.signal(syscall.SIGSTOP)
	if done == nil && err == nil {
		return fmt.Errorf("clustertest: node %d is not running", n.ID)
	}
	if err != nil {
		return err
	}
	n.mu.Lock()
	n.paused = true
	n.mu.Unlock()
	return n.waitState(done, true)
}

// Cont resumes the node after Stop, with SIGCONT, and waits until it runs.
func (n *Node) Cont() error {
	n.opMu.Lock()
	defer n.opMu.Unlock()
	done, err := n.signal(syscall.SIGCONT)
	if done == nil && err == nil {
		return fmt.Errorf("clustertest: node %d is not running", n.ID)
	}
	if err != nil {
		return err
	}
	n.mu.Lock()
	n.paused = false
	n.mu.Unlock()
	return n.waitState(done, false)
}

// stateTimeout bounds the wait for a SIGSTOP or SIGCONT to take effect.
const stateTimeout = 5 * time.Second

// waitState waits until the process is stopped (or no longer stopped),
// as /proc tells; where it cannot tell, it returns at once.
func (n *Node) waitState(done <-chan struct{}, stopped bool) error {
	pid := n.PID()
	deadline := time.Now().Add(stateTimeout)
	for {
		st := processState(pid)
		if st == 0 || (st == 'T') == stopped {
			return nil
		}
		select {
		case <-done:
			return fmt.Errorf("clustertest: node %d (pid %d) exited", n.ID, pid)
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("clustertest: node %d (pid %d) in state %c %v after the signal", n.ID, pid, st, stateTimeout)
		}
		time.Sleep(time.Millisecond)
	}
}

// Restart starts the node again on its data dir and addresses and waits
// until it answers, within ctx and the StartTimeout.
func (n *Node) Restart(ctx context.Context) error {
	n.opMu.Lock()
	defer n.opMu.Unlock()
	return n.restart(ctx)
}

func (n *Node) restart(ctx context.Context) error {
	if err := n.spawn(); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, n.c.cfg.StartTimeout)
	defer cancel()
	return n.waitReady(ctx)
}

// WipeAndRestart empties the node's data dir and starts it again.
func (n *Node) WipeAndRestart(ctx context.Context) error {
	n.opMu.Lock()
	defer n.opMu.Unlock()
	if n.Running() {
		return fmt.Errorf("clustertest: node %d runs (pid %d): stop it before wiping its data dir", n.ID, n.PID())
	}
	if err := wipeDataDir(n.DataDir, n.journal(), nil); err != nil {
		return fmt.Errorf("clustertest: wipe node %d: %w", n.ID, err)
	}
	return n.restart(ctx)
}
