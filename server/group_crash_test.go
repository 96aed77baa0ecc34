package server

// A consumer-group member that crashes: three members, each a child
// process (this test binary re-run as TestHelperGroupConsumer), process a
// stream of keyed records and commit what they processed; one of them is
// killed with SIGKILL, so it never leaves the group. After its session
// timeout the others take over its partitions from its last commits while
// the stream keeps growing. Nothing is lost, and the only records
// processed twice are the ones the killed member processed after its last
// successful commit (at-least-once). One test per client library.

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Environment of a helper child (TestHelperGroupConsumer).
const (
	helperEnvClient   = "TRIBUTARY_GROUP_HELPER" // franzgo, sarama or kafkago; unset: not a helper
	helperEnvBroker   = "TRIBUTARY_GROUP_BROKER"
	helperEnvGroup    = "TRIBUTARY_GROUP_NAME"
	helperEnvTopic    = "TRIBUTARY_GROUP_TOPIC"
	helperEnvDeadline = "TRIBUTARY_GROUP_DEADLINE" // unix ms; the child exits by itself then
	// helperEnvCommitEvery: a Go duration; the child commits at most
	// this often (unset: after every batch it processed).
	helperEnvCommitEvery = "TRIBUTARY_GROUP_COMMIT_EVERY"
	helperEnvClientID    = "TRIBUTARY_GROUP_CLIENT_ID"
)

const (
	crashPartitions = 6
	crashMembers    = 3
	// crashBatch records are produced every crashProduceEvery.
	crashBatch        = 10
	crashProduceEvery = 10 * time.Millisecond
	// crashMaxRecords bounds the stream.
	crashMaxRecords = 20000
	// crashAfterKill: the stream keeps growing this long after the kill,
	// past the session timeout and the rebalance.
	crashAfterKill = 2500 * time.Millisecond
	// crashChildLife bounds a child's life if the parent never stops it.
	crashChildLife = 90 * time.Second
	// crashVictim is the child that is killed.
	crashVictim = 0
)

func TestGroupCrashFranzGo(t *testing.T) { runGroupCrash(t, "franzgo", false) }
func TestGroupCrashSarama(t *testing.T)  { runGroupCrash(t, "sarama", false) }

// kafka-go hands the application messages its reader fetched before a
// rebalance ended the generation; their commit can land after the next
// generation read the committed offsets, so a healthy member may process
// the record at its last commit twice. Such duplicates are allowed, but
// only after the group's commit at the kill: an earlier one would be a
// lost commit.
func TestGroupCrashKafkaGo(t *testing.T) { runGroupCrash(t, "kafkago", true) }

// crashChild is one helper process and what it reported.
type crashChild struct {
	idx   int
	cmd   *exec.Cmd
	stdin io.WriteCloser
	done  chan struct{} // closed when its stdout reached EOF
}

// crashLog is everything the children reported, guarded by mu.
type crashLog struct {
	mu sync.Mutex
	// processed: each record and which children processed it, in order.
	processed map[partitionOffset][]int
	keys      map[partitionOffset]string
	// commits: each child's last successful commit per partition (the
	// next offset to consume, as Kafka commits).
	commits []map[int32]int64
	// count of records processed by each child.
	count []int
	// bad lines, for the failure message.
	bad []string
}

func (l *crashLog) line(child int, s string) {
	f := strings.Fields(s)
	if len(f) < 3 || (f[0] != "rec" && f[0] != "commit") {
		return // the test framework's own output
	}
	p, err1 := strconv.ParseInt(f[1], 10, 32)
	o, err2 := strconv.ParseInt(f[2], 10, 64)
	l.mu.Lock()
	defer l.mu.Unlock()
	if err1 != nil || err2 != nil {
		l.bad = append(l.bad, s)
		return
	}
	po := partitionOffset{int32(p), o}
	switch f[0] {
	case "rec":
		if len(f) != 4 {
			l.bad = append(l.bad, s)
			return
		}
		l.processed[po] = append(l.processed[po], child)
		if k, ok := l.keys[po]; ok && k != f[3] {
			l.bad = append(l.bad, fmt.Sprintf("child %d: %d/%d has key %s, first seen as %s", child, p, o, f[3], k))
		}
		l.keys[po] = f[3]
		l.count[child]++
	case "commit":
		if o < l.commits[child][po.Partition] {
			l.bad = append(l.bad, fmt.Sprintf("child %d: commit of %d went back from %d to %d", child, p, l.commits[child][po.Partition], o))
		}
		l.commits[child][po.Partition] = o
	}
}

// uncommitted counts the records child processed after its last commit
// of their partition. Caller holds mu.
func (l *crashLog) uncommitted(child int) int {
	n := 0
	for po, who := range l.processed {
		if slices.Contains(who, child) && po.Offset >= l.commits[child][po.Partition] {
			n++
		}
	}
	return n
}

func runGroupCrash(t *testing.T, client string, survivorDups bool) {
	if testing.Short() {
		t.Skip("spawns consumer processes: skipped with -short")
	}
	topic, group := "crash-"+client, "crash-group-"+client
	b := startGroupBroker(t)
	ctx := testContext(t)
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	adm := b.admin()
	createGroupTopic(t, ctx, adm, topic, crashPartitions)

	log := &crashLog{processed: map[partitionOffset][]int{}, keys: map[partitionOffset]string{}}
	children := make([]*crashChild, crashMembers)
	for i := range children {
		log.commits = append(log.commits, map[int32]int64{})
		log.count = append(log.count, 0)
		children[i] = startCrashChild(t, i, client, b.addr, group, topic, log)
	}

	// Start the stream once every member holds its share, so that the
	// first rebalances process nothing.
	per := crashPartitions / crashMembers
	waitGroup(t, ctx, adm, group, "Stable", crashMembers, func(dg kadm.DescribedGroup) bool {
		return ownsAll(dg, topic, crashPartitions, per, per)
	})
	prod := b.client()
	stop := make(chan struct{})
	var produced int
	prodDone := make(chan struct{})
	produceErr := make(chan error, 1)
	go func() {
		defer close(prodDone)
		tick := time.NewTicker(crashProduceEvery)
		defer tick.Stop()
		for produced < crashMaxRecords {
			recs := make([]*kgo.Record, crashBatch)
			for i := range recs {
				recs[i] = &kgo.Record{Topic: topic, Key: []byte(groupKey(produced + i)), Value: []byte("v")}
			}
			if err := prod.ProduceSync(ctx, recs...).FirstErr(); err != nil {
				produceErr <- err
				return
			}
			produced += crashBatch
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	}()
	stopProducing := sync.OnceFunc(func() { close(stop); <-prodDone })
	defer stopProducing()

	// Kill the victim once it has processed and committed a good part of
	// its share, mid-stream.
	const victim = crashVictim
	deadline := time.Now().Add(groupWait)
	for {
		log.mu.Lock()
		ready := log.count[victim] >= 100 && len(log.commits[victim]) == per
		// Best, it dies with processed records it did not commit yet.
		ready = ready && (log.uncommitted(victim) > 0 || time.Until(deadline) < groupWait/2)
		status := fmt.Sprintf("victim processed %d records and committed %v", log.count[victim], log.commits[victim])
		log.mu.Unlock()
		if ready {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s within %v", status, groupWait)
		}
		time.Sleep(10 * time.Millisecond)
	}
	before := waitGroup(t, ctx, adm, group, "Stable", crashMembers, nil)
	victimMember := ""
	for _, m := range before.Members {
		if m.ClientID == childClientID(client, victim) {
			victimMember = m.MemberID
		}
	}
	as, _ := groupAssignments(before)
	victimParts := as[victimMember][topic]
	if len(victimParts) != per {
		t.Fatalf("victim (client id %s, member %q) owns %v before the kill; group %s", childClientID(client, victim), victimMember, victimParts, describeAssignments(before))
	}
	if err := children[victim].cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatalf("kill victim: %v", err)
	}
	killed := time.Now()
	<-children[victim].done // its last lines are read
	// A commit the victim had already written to its socket may still be
	// applied; its session is far from expired, so nobody else commits
	// its partitions meanwhile.
	time.Sleep(200 * time.Millisecond)
	atKill := committedOffsets(t, ctx, adm, group, topic)
	t.Logf("killed the victim (member %s, partitions %v) after it processed %d records; its commits %v; the group's commits %v",
		victimMember, victimParts, log.count[victim], log.commits[victim], atKill)

	time.Sleep(time.Until(killed.Add(crashAfterKill)))
	stopProducing()
	select {
	case err := <-produceErr:
		t.Fatalf("produce: %v", err)
	default:
	}
	end := groupEndOffsets(t, ctx, adm, topic)
	var total int64
	for _, e := range end {
		total += e
	}
	if total != int64(produced) {
		t.Fatalf("log end offsets %v sum to %d, produced %d", end, total, produced)
	}

	// The survivors process everything.
	deadline = time.Now().Add(groupWait)
	for {
		log.mu.Lock()
		seen := make(map[partitionOffset]int, len(log.processed))
		for po, who := range log.processed {
			seen[po] = len(who)
		}
		log.mu.Unlock()
		n, first := missingRecords(end, seen)
		if n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d records never processed (first %v); victim's partitions %v, commits at kill %v", n, total, first, victimParts, atKill)
		}
		time.Sleep(20 * time.Millisecond)
	}
	after := waitGroup(t, ctx, adm, group, "Stable", crashMembers-1, func(dg kadm.DescribedGroup) bool {
		return ownsAll(dg, topic, crashPartitions, per, per+1)
	})
	for _, m := range after.Members {
		if m.MemberID == victimMember {
			t.Errorf("the killed member %s is still in the group", victimMember)
		}
	}
	t.Logf("group after the kill: %s (took over %v after the kill)", describeAssignments(after), time.Since(killed).Round(time.Millisecond))

	for _, c := range children[1:] {
		c.stdin.Close() // the survivors leave the group and exit
	}
	for _, c := range children[1:] {
		select {
		case <-c.done:
		case <-time.After(15 * time.Second):
			t.Errorf("child %d did not exit within 15s of being told to", c.idx)
		}
	}

	log.mu.Lock()
	defer log.mu.Unlock()
	for _, s := range log.bad {
		t.Errorf("bad helper line: %s", s)
	}
	victimCommit := log.commits[victim]
	victimDups, survivorDupCount := 0, 0
	for po, who := range log.processed {
		if len(who) == 1 {
			continue
		}
		byVictim, bySurvivors := 0, 0
		for _, c := range who {
			if c == victim {
				byVictim++
			} else {
				bySurvivors++
			}
		}
		threshold, ok := victimCommit[po.Partition]
		if !ok {
			threshold = atKill[po.Partition]
		}
		switch {
		case survivorDups && byVictim == 0 && bySurvivors == 2 && po.Offset >= atKill[po.Partition]:
			survivorDupCount++
		case byVictim != 1 || bySurvivors != 1:
			t.Errorf("%d/%d processed by children %v: a duplicate not caused by the killed member", po.Partition, po.Offset, who)
		case po.Offset < threshold:
			t.Errorf("%d/%d processed again although the killed member committed %d", po.Partition, po.Offset, threshold)
		default:
			victimDups++
		}
	}
	// The survivors resumed each of the victim's partitions exactly at
	// its committed offset.
	for _, p := range victimParts {
		first := int64(-1)
		for po, who := range log.processed {
			if po.Partition != p {
				continue
			}
			for _, c := range who {
				if c != victim && (first < 0 || po.Offset < first) {
					first = po.Offset
				}
			}
		}
		if first != atKill[p] {
			t.Errorf("partition %d: survivors started at %d, the committed offset at the kill was %d", p, first, atKill[p])
		}
		if c, ok := victimCommit[p]; ok && c > atKill[p] {
			t.Errorf("partition %d: the killed member's commit of %d was acknowledged but the group has %d", p, c, atKill[p])
		}
	}
	for _, c := range children[1:] {
		if log.count[c.idx] == 0 {
			t.Errorf("child %d processed nothing", c.idx)
		}
	}
	t.Logf("%d records; processed %v by child; %d duplicates after the killed member's last commit, %d of records in flight at the rebalance",
		total, log.count, victimDups, survivorDupCount)
}

func childClientID(client string, i int) string { return fmt.Sprintf("crash-%s-%d", client, i) }

// startCrashChild starts helper i; its lines go to log. It is killed at
// the end of the test if still running.
func startCrashChild(t *testing.T, i int, client, addr, group, topic string, log *crashLog) *crashChild {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperGroupConsumer$", "-test.count=1")
	cmd.Env = append(os.Environ(),
		helperEnvClient+"="+client,
		helperEnvBroker+"="+addr,
		helperEnvGroup+"="+group,
		helperEnvTopic+"="+topic,
		helperEnvDeadline+"="+strconv.FormatInt(time.Now().Add(crashChildLife).UnixMilli(), 10),
		helperEnvClientID+"="+childClientID(client, i),
	)
	if i == crashVictim {
		// The victim commits lazily, so that it dies with processed,
		// uncommitted records: those, and only those, are processed
		// twice.
		cmd.Env = append(cmd.Env, helperEnvCommitEvery+"=300ms")
	}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	var stderrMu sync.Mutex
	cmd.Stderr = writerFunc(func(p []byte) (int, error) {
		stderrMu.Lock()
		defer stderrMu.Unlock()
		if stderr.Len() < 64<<10 {
			stderr.Write(p)
		}
		return len(p), nil
	})
	if err := cmd.Start(); err != nil {
		t.Fatalf("start helper %d: %v", i, err)
	}
	c := &crashChild{idx: i, cmd: cmd, stdin: stdin, done: make(chan struct{})}
	go func() {
		defer close(c.done)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			log.line(i, sc.Text())
		}
	}()
	t.Cleanup(func() {
		stdin.Close()
		select {
		case <-c.done:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-c.done
		}
		err := cmd.Wait()
		stderrMu.Lock()
		defer stderrMu.Unlock()
		if t.Failed() || (err != nil && i != 0) {
			t.Logf("helper %d exited: %v; stderr:\n%s", i, err, stderr.String())
		}
	})
	return c
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
