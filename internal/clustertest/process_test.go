package clustertest

import (
	"context"
	"crypto/sha256"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// singleArgs make a single broker's groups quick to form and reform.
var singleArgs = []string{
	"--group.initial.rebalance.delay.ms", "0",
	"--group.min.session.timeout.ms", "500",
	"--offsets.topic.num.partitions", "4",
}

func skipShort(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("starts real tributary processes: skipped with -short")
	}
}

// answers reports whether node n answers Metadata within d.
func answers(n *Node, d time.Duration) bool {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	_, err := n.ask(ctx, kmsg.NewPtrMetadataRequest())
	return err == nil
}

// alive reports whether a process with this pid exists (a zombie counts).
func alive(pid int) bool {
	return syscall.Kill(pid, 0) == nil
}

func TestHarnessOperationsActOnTheBrokerProcess(t *testing.T) {
	skipShort(t)
	var pids []int
	t.Run("operations", func(t *testing.T) {
		_, rng := Seed(t)
		c := Start(t, Config{Nodes: 1, Rand: rng, Args: singleArgs})
		n := c.Nodes[0]
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if n.Host != "127.0.0.2" || n.ControllerAddr != "" {
			t.Fatalf("node 1 on %s with controller %q, want 127.0.0.2 and none in single mode", n.Addr, n.ControllerAddr)
		}
		if err := c.CreateTopic(ctx, "ops", 2, 1, nil); err != nil {
			t.Fatal(err)
		}
		if leaders, err := c.Leaders(ctx, "ops"); err != nil || leaders[0] != 1 || leaders[1] != 1 {
			t.Fatalf("leaders %v, %v: want node 1 for both partitions", leaders, err)
		}
		if ctl, err := c.Controller(ctx); err != nil || ctl != 1 {
			t.Fatalf("controller %d, %v: want node 1", ctl, err)
		}
		pids = append(pids, n.PID())

		// Load bounded by count stops by itself.
		h := NewHistory()
		p, err := StartProducer(ctx, ProducerConfig{ID: 1, Seeds: c.Seeds(), Topic: "ops", Partitions: 2, Count: 50, Duration: 20 * time.Second}, h)
		if err != nil {
			t.Fatal(err)
		}
		cons, err := StartConsumer(ctx, ConsumerConfig{ID: 2, Seeds: c.Seeds(), Topic: "ops", Partitions: 2, Count: 50, Duration: 20 * time.Second}, h)
		if err != nil {
			t.Fatal(err)
		}
		if st := p.Wait(); st.Sent != 50 || st.Acked != 50 {
			t.Fatalf("producer with Count 50: %s", st)
		}
		select {
		case <-cons.Done():
		case <-ctx.Done():
			t.Fatal("consumer with Count 50 did not stop by itself")
		}
		if cons.Polled() != 50 || h.Count(EvPoll) != 50 || h.Count(EvSend) != 50 || h.Count(EvAck) != 50 {
			t.Fatalf("polled %d, history: %d polls, %d sends, %d acks", cons.Polled(), h.Count(EvPoll), h.Count(EvSend), h.Count(EvAck))
		}

		if err := c.Stop(1); err != nil {
			t.Fatal(err)
		}
		if answers(n, 300*time.Millisecond) {
			t.Fatal("a SIGSTOPped broker answered Metadata")
		}
		if err := c.Cont(1); err != nil {
			t.Fatal(err)
		}
		if !answers(n, 5*time.Second) {
			t.Fatal("broker does not answer after SIGCONT")
		}

		// SIGTERM of a paused broker resumes it first; it exits 0.
		if err := c.Stop(1); err != nil {
			t.Fatal(err)
		}
		if err := c.Term(1); err != nil {
			t.Fatal(err)
		}
		if n.Running() || answers(n, 300*time.Millisecond) {
			t.Fatal("broker still runs after Term")
		}
		if err := c.Restart(ctx, 1); err != nil {
			t.Fatal(err)
		}
		pids = append(pids, n.PID())
		if _, err := c.Partitions(ctx, "ops"); err != nil {
			t.Fatalf("topic gone after a restart on the same data dir: %v", err)
		}
		if err := c.Restart(ctx, 1); err == nil {
			t.Fatal("Restart of a running node succeeded")
		}

		if err := c.Kill9(1); err != nil {
			t.Fatal(err)
		}
		if err := c.WipeAndRestart(ctx, 1); err != nil {
			t.Fatal(err)
		}
		pids = append(pids, n.PID())
		if _, err := c.Partitions(ctx, "ops"); err == nil {
			t.Fatal("topic still there after WipeAndRestart")
		}
		// kill -9 of a paused broker: neither paused nor running after.
		if err := c.Stop(1); err != nil {
			t.Fatal(err)
		}
		if err := c.Kill9(1); err != nil {
			t.Fatal(err)
		}
		if n.Paused() || n.Running() {
			t.Fatalf("after kill -9 of a paused broker: paused %v, running %v", n.Paused(), n.Running())
		}
		if err := c.Restart(ctx, 1); err != nil {
			t.Fatal(err)
		}
		pids = append(pids, n.PID())
		if got := n.Incarnations(); got != 4 {
			t.Fatalf("%d incarnations, want 4", got)
		}
		if err := c.Kill9(7); !errors.Is(err, errNoNode) {
			t.Fatalf("Kill9 of node 7 of 1: %v, want errNoNode", err)
		}
	})
	// The subtest's cleanup killed the last incarnation: none is left.
	for _, pid := range pids {
		if alive(pid) {
			t.Errorf("broker pid %d outlived its test", pid)
		}
	}
}

// dirSums hashes every file under dir, by path.
func dirSums(t *testing.T, dir string) map[string][32]byte {
	t.Helper()
	sums := map[string][32]byte{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		sums[path] = sha256.Sum256(b)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return sums
}

func TestSingleBrokerKilledMidLoadLosesNoAcknowledgedRecord(t *testing.T) {
	skipShort(t)
	seed, rng := Seed(t)
	c := Start(t, Config{Nodes: 1, Rand: rng, Args: singleArgs})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Second)
	defer cancel()
	const topic, parts = "load", 4
	if err := c.CreateTopic(ctx, topic, parts, 1, nil); err != nil {
		t.Fatal(err)
	}

	h := NewHistory()
	var prods []*Producer
	for id := 1; id <= 2; id++ {
		p, err := StartProducer(ctx, ProducerConfig{ID: id, Seeds: c.Seeds(), Topic: topic, Partitions: parts,
			Rate: 400, Duration: 5 * time.Second, DeliveryTimeout: 15 * time.Second}, h)
		if err != nil {
			t.Fatal(err)
		}
		prods = append(prods, p)
	}
	group, err := StartConsumer(ctx, ConsumerConfig{ID: 101, Seeds: c.Seeds(), Topic: topic, Group: "ct-group",
		CommitEvery: 200 * time.Millisecond, Duration: 40 * time.Second}, h)
	if err != nil {
		t.Fatal(err)
	}
	direct, err := StartConsumer(ctx, ConsumerConfig{ID: 102, Seeds: c.Seeds(), Topic: topic, Partitions: parts,
		Duration: 40 * time.Second}, h)
	if err != nil {
		t.Fatal(err)
	}

	// kill -9 under load, restart at once on the same data dir.
	if err := prods[0].WaitAcked(ctx, 300); err != nil {
		t.Fatal(err)
	}
	if err := c.Kill9(1); err != nil {
		t.Fatal(err)
	}
	ackedAtKill := prods[0].Acked() + prods[1].Acked()
	time.Sleep(time.Duration(50+rng.IntN(250)) * time.Millisecond)
	if err := c.Restart(ctx, 1); err != nil {
		t.Fatal(err)
	}
	// A new group member takes over mid-load: it must resume from the
	// group's commits, neither skipping nor rewinding below them.
	group.Stop()
	group, err = StartConsumer(ctx, ConsumerConfig{ID: 103, Seeds: c.Seeds(), Topic: topic, Group: "ct-group",
		CommitEvery: 200 * time.Millisecond, Duration: 40 * time.Second}, h)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range prods {
		t.Log(p.Wait())
	}
	if acked := prods[0].Acked() + prods[1].Acked(); acked <= ackedAtKill {
		t.Fatalf("no record acknowledged after the restart (%d at the kill, %d in the end)", ackedAtKill, acked)
	}

	ends, err := c.EndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	if err := direct.WaitCaughtUp(ctx, ends); err != nil {
		t.Fatal(err)
	}
	if err := c.WaitGroupCommitted(ctx, "ct-group", topic, ends); err != nil {
		t.Fatal(err)
	}
	direct.Stop()
	group.Stop()
	// The group really was exercised: assigned, polled and committed.
	if h.Count(EvAssign) <= parts || h.Count(EvCommitAck) == 0 {
		t.Fatalf("group member: %d assignments (direct consumer: %d), %d commits acknowledged", h.Count(EvAssign)-parts, parts, h.Count(EvCommitAck))
	}
	if err := c.TermAll(); err != nil {
		t.Fatal(err)
	}

	before := dirSums(t, c.Nodes[0].DataDir)
	reps, err := c.ReadReplicas(topic)
	if err != nil {
		t.Fatal(err)
	}
	if after := dirSums(t, c.Nodes[0].DataDir); len(after) != len(before) {
		t.Fatalf("reading the replica changed the data dir: %d files, then %d", len(before), len(after))
	} else {
		for p, s := range before {
			if after[p] != s {
				t.Fatalf("reading the replica changed %s", p)
			}
		}
	}
	res := Check(h.Events(), reps, CheckOptions{Seed: seed, ConsumedAll: true})
	t.Log(res.Report())
	if !res.OK() {
		t.Fatalf("checker found broken guarantees (seed %d)", seed)
	}
	if res.Acked == 0 || res.Records < res.Acked || res.Partitions != parts {
		t.Fatalf("checked too little: %s", res)
	}

	// The same history against the log with its last record of
	// partition 0 gone: the checker sees the loss on real data too.
	pl := reps[0].Logs[TopicPartition{topic, 0}]
	cut := *pl
	cut.End--
	cut.Records = cut.Records[:len(cut.Records)-1]
	reps[0].Logs[TopicPartition{topic, 0}] = &cut
	if got := Check(h.Events(), reps, CheckOptions{Seed: seed}).Found(); len(got) != 2 || got[0] != Lost || got[1] != ConsumedPhantom {
		t.Fatalf("a log without its last acknowledged record: found %v, want [lost consumed-phantom]", got)
	}
}
