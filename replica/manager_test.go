package replica

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/tributary-io/tributary/cluster"
	"github.com/tributary-io/tributary/log"
)

// slowEpochLog is a fakeLog whose BecomeLeader (the leader-epoch
// checkpoint write) waits for release, after closing entered.
type slowEpochLog struct {
	*fakeLog
	entered, release chan struct{}
}

func (l *slowEpochLog) BecomeLeader(epoch int32) error {
	close(l.entered)
	<-l.release
	return l.fakeLog.BecomeLeader(epoch)
}

// within fails the test if f does not return within a generous bound: it
// is held behind something it must not wait for.
func within(t *testing.T, what string, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatalf("%s is held up", what)
	}
}

func TestPartitionWritingItsEpochCheckpointHoldsUpNoOtherPartitionAndIsNotLedUntilDone(t *testing.T) {
	m := newFollowerManager(t, 1)
	slow := &slowEpochLog{fakeLog: newFakeLog(), entered: make(chan struct{}), release: make(chan struct{})}
	a := leaderState(3)
	b := leaderState(3)
	b.Partition = 1
	led := make(chan error, 1)
	go func() {
		_, err := m.BecomeLeader(slow, a, 1)
		led <- err
	}()
	<-slow.entered

	within(t, "another partition's takeover, behind this one's checkpoint", func() {
		if _, err := m.BecomeLeader(newFakeLog(), b, 1); err != nil {
			t.Errorf("lead %v: %v", b.TP(), err)
		}
	})
	within(t, "a leader lookup, behind a checkpoint", func() {
		if _, ok := m.Leader(b.TP()); !ok {
			t.Errorf("%v is not led once BecomeLeader returned", b.TP())
		}
		// Not published before its epoch is durable: nothing may be
		// acknowledged at an epoch a crash could take back.
		if _, ok := m.Leader(a.TP()); ok {
			t.Errorf("%v is led before its leader epoch checkpoint is written", a.TP())
		}
	})

	close(slow.release)
	if err := <-led; err != nil {
		t.Fatalf("lead %v: %v", a.TP(), err)
	}
	if _, ok := m.Leader(a.TP()); !ok {
		t.Fatalf("%v is not led once its checkpoint is written", a.TP())
	}
	if got := slow.LeaderEpoch(); got != 3 {
		t.Fatalf("log's leader epoch %d, want 3", got)
	}
}

func TestRoleChangesOfOnePartitionRunOneAtATime(t *testing.T) {
	m := newFollowerManager(t, 1)
	slow := &slowEpochLog{fakeLog: newFakeLog(), entered: make(chan struct{}), release: make(chan struct{})}
	a := leaderState(3)
	led := make(chan error, 1)
	go func() {
		_, err := m.BecomeLeader(slow, a, 1)
		led <- err
	}()
	<-slow.entered
	stopped := make(chan struct{})
	go func() {
		m.Stop(a.TP())
		close(stopped)
	}()
	// The Stop waits for the takeover in progress: it cannot finish
	// before the checkpoint is released.
	eventually(t, "the Stop to wait for the takeover", func() bool {
		m.mu.Lock()
		defer m.mu.Unlock()
		return m.claimWaiters > 0
	})
	select {
	case <-stopped:
		t.Fatal("Stop returned while the takeover of its partition was in progress")
	default:
	}
	close(slow.release)
	if err := <-led; err != nil {
		t.Fatalf("lead %v: %v", a.TP(), err)
	}
	<-stopped
	if _, ok := m.Leader(a.TP()); ok {
		t.Fatalf("%v is still led after a Stop that followed its takeover", a.TP())
	}
}

func TestCloseWaitsForTakeoverInProgress(t *testing.T) {
	m := NewManager(Config{Self: 1, Fetch: testFetch, TopicID: topicID, Logger: quiet})
	slow := &slowEpochLog{fakeLog: newFakeLog(), entered: make(chan struct{}), release: make(chan struct{})}
	a := leaderState(3)
	var ld *Leader
	led := make(chan error, 1)
	go func() {
		var err error
		ld, err = m.BecomeLeader(slow, a, 1)
		led <- err
	}()
	<-slow.entered
	closed := make(chan struct{})
	go func() {
		m.Close()
		close(closed)
	}()
	eventually(t, "Close to begin", func() bool {
		m.mu.Lock()
		defer m.mu.Unlock()
		return m.closed
	})
	select {
	case <-closed:
		t.Fatal("Close returned while a takeover was writing its epoch")
	default:
	}
	close(slow.release)
	<-closed
	// Close returned: the takeover's log write is done (nothing touches
	// the log after Close), and the takeover is refused.
	if got := slow.LeaderEpoch(); got != 3 {
		t.Fatalf("Close returned before the takeover's epoch write ended (log at epoch %d)", got)
	}
	if err := <-led; err == nil {
		t.Fatalf("BecomeLeader of %v succeeded on a closed Manager (leader %p)", a.TP(), ld)
	}
	if _, ok := m.Leader(cluster.TopicPartition{Topic: "t", Partition: 0}); ok {
		t.Fatal("a partition is led after Close")
	}
}

// barrierLog is a fakeLog whose AppendAsFollower waits until every log
// sharing arrive has entered its own.
type barrierLog struct {
	*fakeLog
	arrive *sync.WaitGroup
}

func (l *barrierLog) AppendAsFollower(batches []byte) (log.AppendInfo, error) {
	l.arrive.Done()
	l.arrive.Wait()
	return l.fakeLog.AppendAsFollower(batches)
}

func TestFollowerAppliesAnAnswersNewLeaderEpochsConcurrently(t *testing.T) {
	// Two partitions whose answer opens a leader epoch their logs do not
	// have yet (each append writes the epoch checkpoint): applied one
	// after the other, the first would wait for the second forever.
	var arrive sync.WaitGroup
	arrive.Add(2)
	cfg := FetcherConfig{Logger: quiet}
	cfg.setDefaults()
	f := &Fetcher{leader: 1, req: noRequester{}, cfg: cfg, parts: map[cluster.TopicPartition]*followed{},
		retryAt: map[*followed]time.Time{}, wake: make(chan struct{}, 1)}
	inFlight := map[cluster.TopicPartition]sent{}
	resp := kmsg.NewPtrFetchResponse()
	resp.Version = 12
	rt := kmsg.NewFetchResponseTopic()
	rt.Topic = "t"
	var logs []*barrierLog
	for i := range int32(2) {
		l := &barrierLog{fakeLog: newFakeLog(), arrive: &arrive}
		l.SetReplicated(true)
		logs = append(logs, l)
		p := &followed{tp: cluster.TopicPartition{Topic: "t", Partition: i}, topicID: topicID("t"), log: l, epoch: fuzzEpoch}
		f.parts[p.tp] = p
		inFlight[p.tp] = sent{p: p, fetchOffset: 0}
		rp := kmsg.NewFetchResponseTopicPartition()
		rp.Partition = i
		rp.HighWatermark = 2
		rp.RecordBatches = leaderBatches(0, fuzzEpoch, 2)
		rt.Partitions = append(rt.Partitions, rp)
	}
	resp.Topics = append(resp.Topics, rt)
	within(t, "a partition opening a new epoch, behind another's", func() {
		if progress, rested := f.handleResponse(context.Background(), resp, inFlight); !progress || rested {
			t.Errorf("handleResponse: progress %v, rested %v; want progress and no rest", progress, rested)
		}
	})
	for i, l := range logs {
		if l.NextOffset() != 2 || l.LeaderEpoch() != fuzzEpoch || l.HighWatermark() != 2 {
			t.Errorf("partition %d: end %d, epoch %d, hw %d; want 2, %d, 2", i, l.NextOffset(), l.LeaderEpoch(), l.HighWatermark(), fuzzEpoch)
		}
	}
}
