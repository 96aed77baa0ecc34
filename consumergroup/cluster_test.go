package consumergroup

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	tlog "github.com/tributary-io/tributary/log"
)

// startClusterCoord is a coordinator in cluster mode over a Manager that
// holds a replica of every __consumer_offsets partition, as a broker's
// would once the cluster created the topic; no partition is loaded.
func startClusterCoord(t testing.TB, cfg Config, hook func(p int32)) *testCoord {
	t.Helper()
	cfg.Cluster = true
	dir := t.TempDir()
	mgr, err := tlog.OpenManager(dir, tlog.Options{Logger: cfg.Logger})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := mgr.CreateTopic(OffsetsTopic, cfg.OffsetsTopicPartitions, map[string]string{
		tlog.ConfigCleanupPolicy: tlog.CleanupPolicyCompact,
	}); err != nil {
		mgr.Close()
		t.Fatal(err)
	}
	c, err := New(mgr, cfg)
	if err != nil {
		mgr.Close()
		t.Fatal(err)
	}
	c.loadHook = hook
	c.Start()
	if err := c.WaitLoaded(); err != nil {
		t.Fatal(err)
	}
	tc := &testCoord{t: t, dir: dir, mgr: mgr, c: c, cfg: cfg}
	t.Cleanup(tc.stop)
	return tc
}

// load loads the partition of group at epoch and waits for its replay.
func (tc *testCoord) load(group string, epoch int32) {
	tc.t.Helper()
	p := tc.c.PartitionFor(group)
	tc.c.LoadPartition(p, epoch)
	tc.c.mu.Lock()
	ps := tc.c.parts[p]
	tc.c.mu.Unlock()
	if ps == nil {
		tc.t.Fatalf("partition %d not loading after LoadPartition", p)
	}
	select {
	case <-ps.loaded:
	case <-time.After(20 * time.Second):
		tc.t.Fatalf("partition %d still loading", p)
	}
}

func (tc *testCoord) unload(group string, epoch int32) {
	tc.c.UnloadPartition(tc.c.PartitionFor(group), epoch)
}

// commitOne commits offset for topic t partition 0 as a simple commit.
func (tc *testCoord) commitOne(group string, offset int64) error {
	errs, err := tc.c.Commit(CommitRequest{Group: group, Generation: -1,
		Offsets: []CommitOffset{{TopicPartition: TopicPartition{Topic: "t", Partition: 0}, Offset: offset, LeaderEpoch: -1}}})
	if err != nil {
		return err
	}
	return errs[0]
}

// committed is the offset OffsetFetch shows for topic t partition 0; -1
// when none.
func (tc *testCoord) committed(group string) (int64, error) {
	tp := TopicPartition{Topic: "t", Partition: 0}
	got, err := tc.c.FetchOffsets(group, []TopicPartition{tp})
	if err != nil {
		return -1, err
	}
	if om, ok := got[tp]; ok {
		return om.Offset, nil
	}
	return -1, nil
}

// noGoroutineLeak fails the test if, at its end, more goroutines run
// than at its start (after a grace period for the ones ending).
func noGoroutineLeak(t *testing.T) {
	t.Helper()
	check := goroutinesBack(t)
	t.Cleanup(check)
}

// goroutinesBack returns a check that fails the test unless, within a
// grace period, no more goroutines run than when it was made.
func goroutinesBack(t *testing.T) func() {
	before := runtime.NumGoroutine()
	return func() {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for {
			n := runtime.NumGoroutine()
			if n <= before {
				return
			}
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<20)
				buf = buf[:runtime.Stack(buf, true)]
				t.Errorf("%d goroutines, %d before:\n%s", n, before, buf)
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}

func TestClusterCommitSurvivesUnloadAndReload(t *testing.T) {
	for _, tt := range []struct {
		name        string
		reloadEpoch int32
	}{
		{"same epoch", 1},
		{"higher epoch", 2},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tc := startClusterCoord(t, testConfig(), nil)
			tc.topic("t", 1)
			tc.load("g", 1)
			if err := tc.commitOne("g", 42); err != nil {
				t.Fatal(err)
			}
			l := tc.offsetsLog("g")
			end := l.NextOffset()
			tc.unload("g", 1)
			if tc.c.Owns("g") {
				t.Fatal("owns the group after its partition was unloaded")
			}
			if l.NextOffset() != end {
				t.Fatalf("unload wrote to the offsets topic: end %d, was %d", l.NextOffset(), end)
			}
			if _, err := tc.committed("g"); !errors.Is(err, ErrNotCoordinatorForGroup) {
				t.Fatalf("OffsetFetch after unload: %v, want ErrNotCoordinatorForGroup", err)
			}
			if err := tc.commitOne("g", 43); !errors.Is(err, ErrNotCoordinatorForGroup) {
				t.Fatalf("OffsetCommit after unload: %v, want ErrNotCoordinatorForGroup", err)
			}
			tc.load("g", tt.reloadEpoch)
			if !tc.c.Owns("g") {
				t.Fatal("does not own the group after its partition was loaded")
			}
			if got, err := tc.committed("g"); err != nil || got != 42 {
				t.Fatalf("OffsetFetch after reload: %d, %v; want 42", got, err)
			}
		})
	}
}

func TestClusterRequestsForGroupsNotOwnedAnswerNotCoordinator(t *testing.T) {
	tc := startClusterCoord(t, testConfig(), nil)
	tc.topic("t", 1)
	for name, err := range map[string]error{
		"join":      tc.c.Join(ctx(t), joinReq("g", "", time.Minute)).Err,
		"sync":      tc.c.Sync(ctx(t), SyncRequest{Group: "g", MemberID: "m", Generation: 1}).Err,
		"heartbeat": tc.c.Heartbeat(HeartbeatRequest{Group: "g", MemberID: "m", Generation: 1}),
		"commit":    tc.commitOne("g", 1),
		"delete":    tc.c.DeleteGroup("g"),
		"describe": func() error {
			_, err := tc.c.DescribeGroup("g")
			return err
		}(),
		"leave": func() error {
			_, err := tc.c.Leave("g", []LeaveMember{{MemberID: "m"}})
			return err
		}(),
		"fetch": func() error {
			_, err := tc.committed("g")
			return err
		}(),
	} {
		if !errors.Is(err, ErrNotCoordinatorForGroup) {
			t.Errorf("%s of a group whose partition is not loaded: %v, want ErrNotCoordinatorForGroup", name, err)
		}
	}
	if tc.c.Owns("g") {
		t.Error("owns a group whose partition was never loaded")
	}
}

func TestClusterStaleEpochsAreIgnored(t *testing.T) {
	type step struct {
		load  bool // else unload
		epoch int32
	}
	for _, tt := range []struct {
		name  string
		steps []step
		owned bool
	}{
		{"unload older than the load", []step{{true, 5}, {false, 4}}, true},
		{"load older than the unload", []step{{true, 5}, {false, 5}, {true, 4}}, false},
		{"load older than an unload never preceded by a load", []step{{false, 3}, {true, 2}}, false},
		{"load at the unload's epoch", []step{{false, 3}, {true, 3}}, true},
		{"reload at a higher epoch keeps the partition", []step{{true, 1}, {true, 2}, {false, 1}}, true},
		{"unload at the latest epoch", []step{{true, 1}, {true, 2}, {false, 2}}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tc := startClusterCoord(t, testConfig(), nil)
			tc.topic("t", 1)
			for _, s := range tt.steps {
				if s.load {
					tc.load("g", s.epoch)
				} else {
					tc.unload("g", s.epoch)
				}
			}
			if got := tc.c.Owns("g"); got != tt.owned {
				t.Fatalf("owns: %v, want %v", got, tt.owned)
			}
			err := tc.commitOne("g", 7)
			if tt.owned && err != nil || !tt.owned && !errors.Is(err, ErrNotCoordinatorForGroup) {
				t.Fatalf("commit: %v (owned %v)", err, tt.owned)
			}
		})
	}
}

func TestClusterUnloadAnswersWaitingMembersNotCoordinator(t *testing.T) {
	noGoroutineLeak(t)
	cfg := testConfig()
	cfg.InitialRebalanceDelay = time.Minute // the first JoinGroup waits
	tc := startClusterCoord(t, cfg, nil)
	tc.topic("t", 1)
	tc.load("g", 1)
	groupsStopped := goroutinesBack(t)
	joined := make(chan JoinResult, 1)
	go func() { joined <- tc.join(joinReq("g", "", time.Minute)) }()
	waitState(t, tc.c, "g", PreparingRebalance)
	end := tc.offsetsLog("g").NextOffset()
	tc.unload("g", 1)
	select {
	case res := <-joined:
		if !errors.Is(res.Err, ErrNotCoordinatorForGroup) {
			t.Fatalf("waiting JoinGroup answered %v, want ErrNotCoordinatorForGroup", res.Err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("waiting JoinGroup not answered after unload")
	}
	groupsStopped() // the group's loop ended with the unload
	if got := tc.offsetsLog("g").NextOffset(); got != end {
		t.Fatalf("unload wrote to the offsets topic: end %d, was %d", got, end)
	}
	if err := tc.c.Heartbeat(HeartbeatRequest{Group: "g", MemberID: "m", Generation: 0}); !errors.Is(err, ErrNotCoordinatorForGroup) {
		t.Fatalf("heartbeat after unload: %v", err)
	}
}

func TestClusterUnloadAnswersWaitingSyncNotCoordinator(t *testing.T) {
	noGoroutineLeak(t)
	tc := startClusterCoord(t, testConfig(), nil)
	tc.topic("t", 1)
	tc.load("g", 1)
	groupsStopped := goroutinesBack(t)
	joins := tc.joinAll("g", 2, time.Minute)
	var follower JoinResult
	for _, j := range joins {
		if j.Err != nil {
			t.Fatal(j.Err)
		}
		if j.MemberID != j.Leader {
			follower = j
		}
	}
	synced := make(chan SyncResult, 1)
	go func() {
		synced <- tc.c.Sync(ctx(t), SyncRequest{Group: "g", MemberID: follower.MemberID, Generation: follower.Generation})
	}()
	// The follower's SyncGroup waits for the leader's, which never comes.
	time.Sleep(50 * time.Millisecond)
	tc.unload("g", 1)
	select {
	case res := <-synced:
		if !errors.Is(res.Err, ErrNotCoordinatorForGroup) {
			t.Fatalf("waiting SyncGroup answered %v, want ErrNotCoordinatorForGroup", res.Err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("waiting SyncGroup not answered after unload")
	}
	groupsStopped()
	if err := tc.c.Heartbeat(HeartbeatRequest{Group: "g", MemberID: follower.MemberID, Generation: follower.Generation}); !errors.Is(err, ErrNotCoordinatorForGroup) {
		t.Fatalf("heartbeat after unload: %v", err)
	}
}

// TestClusterLoadingPartitionAnswersLoadInProgress: while a partition
// loads its groups answer ErrLoadInProgress, except a heartbeat, answered
// blindly, and FindCoordinator's check, which names this broker already.
func TestClusterLoadingPartitionAnswersLoadInProgress(t *testing.T) {
	noGoroutineLeak(t)
	release := make(chan struct{})
	tc := startClusterCoord(t, testConfig(), func(int32) { <-release })
	tc.topic("t", 1)
	p := tc.c.PartitionFor("g")
	tc.c.LoadPartition(p, 1)
	if !tc.c.Owns("g") {
		t.Fatal("a loading partition's group is not owned")
	}
	if err := tc.commitOne("g", 1); !errors.Is(err, ErrLoadInProgress) {
		t.Fatalf("commit while loading: %v, want ErrLoadInProgress", err)
	}
	if res := tc.c.Join(ctx(t), joinReq("g", "", time.Minute)); !errors.Is(res.Err, ErrLoadInProgress) {
		t.Fatalf("join while loading: %v, want ErrLoadInProgress", res.Err)
	}
	if _, err := tc.c.ListGroups(); !errors.Is(err, ErrLoadInProgress) {
		t.Fatalf("list groups while loading: %v, want ErrLoadInProgress", err)
	}
	// As Kafka: a heartbeat is answered blindly while the group loads.
	if err := tc.c.Heartbeat(HeartbeatRequest{Group: "g", MemberID: "m", Generation: 1}); err != nil {
		t.Fatalf("heartbeat while loading: %v, want nil", err)
	}
	if err := tc.c.EnsureOffsetsTopic(); err != nil {
		t.Fatalf("FindCoordinator's check while loading: %v, want nil", err)
	}
	close(release)
	tc.load("g", 1)
	if err := tc.commitOne("g", 1); err != nil {
		t.Fatalf("commit once loaded: %v", err)
	}
}

func TestClusterUnloadWhileLoadingDropsTheLoad(t *testing.T) {
	noGoroutineLeak(t)
	// Commit at epoch 1, then unload and load again with a replay held.
	hold := make(chan chan struct{}, 1)
	tc := startClusterCoord(t, testConfig(), func(int32) {
		select {
		case ch := <-hold:
			<-ch
		default:
		}
	})
	tc.topic("t", 1)
	tc.load("g", 1)
	if err := tc.commitOne("g", 9); err != nil {
		t.Fatal(err)
	}
	tc.unload("g", 1)
	release := make(chan struct{})
	hold <- release
	p := tc.c.PartitionFor("g")
	tc.c.LoadPartition(p, 2)
	unloaded := make(chan struct{})
	go func() {
		tc.c.UnloadPartition(p, 2)
		close(unloaded)
	}()
	// UnloadPartition waits for the replay it cancelled.
	select {
	case <-unloaded:
		t.Fatal("UnloadPartition returned while the replay it stopped still ran")
	case <-time.After(50 * time.Millisecond):
	}
	close(release)
	<-unloaded
	if tc.c.Owns("g") || tc.c.HasGroup("g") {
		t.Fatal("a load cancelled by an unload installed its groups")
	}
	tc.load("g", 3)
	if got, err := tc.committed("g"); err != nil || got != 9 {
		t.Fatalf("after reload: %d, %v; want 9", got, err)
	}
}

func TestClusterCommitVisibleOnlyOnceReplicated(t *testing.T) {
	errNotLeader := fmt.Errorf("replica: leadership moved: %w", ErrNotCoordinatorForGroup)
	for _, tt := range []struct {
		name string
		// wait is the hook's answer to the second commit.
		wait func(ctx context.Context) error
		want error
	}{
		{"leadership moved", func(context.Context) error { return errNotLeader }, ErrNotCoordinatorForGroup},
		{"not enough replicas", func(context.Context) error { return errors.New("replica: ISR below min.insync.replicas") }, ErrCoordinatorNotAvailable},
		{"timeout", func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() }, ErrCoordinatorNotAvailable},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var calls atomic.Int32
			var mu sync.Mutex
			var gotPartition int32
			var gotOffset int64
			cfg := testConfig()
			cfg.OffsetsCommitTimeout = 50 * time.Millisecond
			cfg.WaitAppended = func(ctx context.Context, p int32, last int64) error {
				mu.Lock()
				gotPartition, gotOffset = p, last
				mu.Unlock()
				if calls.Add(1) == 1 {
					return nil
				}
				return tt.wait(ctx)
			}
			tc := startClusterCoord(t, cfg, nil)
			tc.topic("t", 1)
			tc.load("g", 1)
			if err := tc.commitOne("g", 10); err != nil {
				t.Fatal(err)
			}
			l := tc.offsetsLog("g")
			mu.Lock()
			if gotPartition != tc.c.PartitionFor("g") || gotOffset != l.NextOffset()-1 {
				t.Fatalf("hook got partition %d offset %d, want %d, %d", gotPartition, gotOffset, tc.c.PartitionFor("g"), l.NextOffset()-1)
			}
			mu.Unlock()
			err := tc.commitOne("g", 11)
			if !errors.Is(err, tt.want) {
				t.Fatalf("commit not replicated: %v, want %v", err, tt.want)
			}
			if tt.want == ErrCoordinatorNotAvailable && errors.Is(err, ErrNotCoordinatorForGroup) {
				t.Fatalf("commit not replicated: %v, also NOT_COORDINATOR", err)
			}
			if got, err := tc.committed("g"); err != nil || got != 10 {
				t.Fatalf("OffsetFetch after a commit that was not replicated: %d, %v; want 10", got, err)
			}
		})
	}
}

func TestClusterGroupMetadataWriteWaitsForReplicas(t *testing.T) {
	// The leader's SyncGroup stores the assignment; when that write is
	// not replicated the generation does not become Stable.
	var fail atomic.Bool
	cfg := testConfig()
	cfg.WaitAppended = func(context.Context, int32, int64) error {
		if fail.Load() {
			return errors.New("replica: ISR below min.insync.replicas")
		}
		return nil
	}
	tc := startClusterCoord(t, cfg, nil)
	tc.topic("t", 1)
	tc.load("g", 1)
	j := tc.join(joinReq("g", "", time.Minute))
	if j.Err != nil {
		t.Fatal(j.Err)
	}
	fail.Store(true)
	res := tc.c.Sync(ctx(t), SyncRequest{Group: "g", MemberID: j.MemberID, Generation: j.Generation,
		Assignments: map[string][]byte{j.MemberID: []byte("a")}})
	if !errors.Is(res.Err, ErrCoordinatorNotAvailable) {
		t.Fatalf("SyncGroup whose assignment was not replicated: %v, want ErrCoordinatorNotAvailable", res.Err)
	}
	if d, err := tc.c.DescribeGroup("g"); err != nil || d.State == Stable {
		t.Fatalf("group after an assignment that was not replicated: %v, %v", d.State, err)
	}
}

func TestClusterUnloadEndsCommitWaitingForReplicas(t *testing.T) {
	noGoroutineLeak(t)
	waiting := make(chan struct{})
	cfg := testConfig()
	cfg.OffsetsCommitTimeout = time.Minute
	cfg.WaitAppended = func(ctx context.Context, _ int32, _ int64) error {
		close(waiting)
		<-ctx.Done()
		return ctx.Err()
	}
	tc := startClusterCoord(t, cfg, nil)
	tc.topic("t", 1)
	tc.load("g", 1)
	done := make(chan error, 1)
	go func() { done <- tc.commitOne("g", 5) }()
	<-waiting
	tc.unload("g", 1)
	select {
	case err := <-done:
		if !errors.Is(err, ErrNotCoordinatorForGroup) {
			t.Fatalf("commit waiting for replicas when unloaded: %v, want ErrNotCoordinatorForGroup", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("commit still waiting after unload")
	}
}

func TestCloseEndsCommitWaitingForReplicas(t *testing.T) {
	waiting := make(chan struct{})
	cfg := testConfig()
	cfg.OffsetsCommitTimeout = time.Minute
	cfg.WaitAppended = func(ctx context.Context, _ int32, _ int64) error {
		close(waiting)
		<-ctx.Done()
		return ctx.Err()
	}
	tc := startCoord(t, t.TempDir(), cfg) // a single broker may wait too
	tc.topic("t", 1)
	done := make(chan error, 1)
	go func() { done <- tc.commitOne("g", 5) }()
	<-waiting
	closed := make(chan struct{})
	go func() { tc.c.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Fatal("Close waits for a commit waiting for its replicas")
	}
	if err := <-done; !errors.Is(err, ErrCoordinatorNotAvailable) {
		t.Fatalf("commit cut by Close: %v, want ErrCoordinatorNotAvailable", err)
	}
}

func TestCreateOffsetsTopicGoesThroughTheHook(t *testing.T) {
	var calls atomic.Int32
	var live atomic.Bool
	cfg := testConfig()
	cfg.CreateOffsetsTopic = func(partitions int) error {
		calls.Add(1)
		if partitions != cfg.OffsetsTopicPartitions {
			t.Errorf("hook asked for %d partitions, want %d", partitions, cfg.OffsetsTopicPartitions)
		}
		if !live.Load() {
			return fmt.Errorf("cluster: 1 live broker, replication factor 3: %w", ErrNotEnoughLiveBrokers)
		}
		return nil
	}
	tc := startCoord(t, t.TempDir(), cfg)
	err := tc.c.EnsureOffsetsTopic()
	if !errors.Is(err, ErrNotEnoughLiveBrokers) || !errors.Is(err, ErrCoordinatorNotAvailable) {
		t.Fatalf("EnsureOffsetsTopic with too few brokers: %v", err)
	}
	live.Store(true)
	for range 3 {
		if err := tc.c.EnsureOffsetsTopic(); err != nil {
			t.Fatal(err)
		}
	}
	if n := calls.Load(); n != 2 {
		t.Fatalf("hook called %d times, want 2 (once more after it succeeded)", n)
	}
	if _, ok := tc.mgr.Topic(OffsetsTopic); ok {
		t.Fatal("the offsets topic was created in the local Manager")
	}
}

func TestLoadPartitionDoesNothingOnASingleBroker(t *testing.T) {
	tc := startCoord(t, t.TempDir(), testConfig())
	tc.topic("t", 1)
	if err := tc.commitOne("g", 3); err != nil {
		t.Fatal(err)
	}
	tc.c.UnloadPartition(tc.c.PartitionFor("g"), 1)
	tc.c.LoadPartition(tc.c.PartitionFor("g"), 0)
	if !tc.c.Owns("g") {
		t.Fatal("a single broker does not own a group")
	}
	if got, err := tc.committed("g"); err != nil || got != 3 {
		t.Fatalf("after UnloadPartition on a single broker: %d, %v; want 3", got, err)
	}
}

func TestClusterCommitChecksTopicsWithTheHook(t *testing.T) {
	cfg := testConfig()
	cfg.LookupTopic = func(name string) ([16]byte, int, bool) {
		if name == "remote" {
			return [16]byte{1}, 2, true
		}
		return [16]byte{}, 0, false
	}
	tc := startClusterCoord(t, cfg, nil)
	tc.load("g", 1)
	errs, err := tc.c.Commit(CommitRequest{Group: "g", Generation: -1, Offsets: []CommitOffset{
		{TopicPartition: TopicPartition{Topic: "remote", Partition: 1}, Offset: 4, LeaderEpoch: -1},
		{TopicPartition: TopicPartition{Topic: "remote", Partition: 2}, Offset: 4, LeaderEpoch: -1},
		{TopicPartition: TopicPartition{Topic: "nowhere", Partition: 0}, Offset: 4, LeaderEpoch: -1},
	}})
	if err != nil {
		t.Fatal(err)
	}
	want := []error{nil, ErrUnknownTopicOrPartition, ErrUnknownTopicOrPartition}
	for i := range want {
		if !errors.Is(errs[i], want[i]) || (want[i] == nil) != (errs[i] == nil) {
			t.Fatalf("commit %d: %v, want %v", i, errs[i], want[i])
		}
	}
}

func TestClusterCommitAnsweredOnceTheHighWatermarkPassesIt(t *testing.T) {
	// The hook as a leader's: wait for the replicated partition's high
	// watermark to pass the append, which the "followers" (the test)
	// move.
	var l *tlog.Log
	cfg := testConfig()
	cfg.OffsetsCommitTimeout = 20 * time.Second
	cfg.WaitAppended = func(ctx context.Context, _ int32, last int64) error {
		for l.HighWatermark() <= last {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(time.Millisecond):
			}
		}
		return nil
	}
	tc := startClusterCoord(t, cfg, nil)
	tc.topic("t", 1)
	l = tc.offsetsLog("g")
	l.SetReplicated(true)
	tc.load("g", 1)
	done := make(chan error, 1)
	go func() { done <- tc.commitOne("g", 77) }()
	deadline := time.Now().Add(10 * time.Second)
	for l.NextOffset() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("commit not appended")
		}
		time.Sleep(time.Millisecond)
	}
	select {
	case err := <-done:
		t.Fatalf("commit answered (%v) before its high watermark passed it", err)
	case <-time.After(50 * time.Millisecond):
	}
	l.SetHighWatermark(l.NextOffset())
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("commit not answered once its high watermark passed it")
	}
	if got, err := tc.committed("g"); err != nil || got != 77 {
		t.Fatalf("OffsetFetch: %d, %v; want 77", got, err)
	}
}

func TestClusterReloadedGroupKeepsItsGeneration(t *testing.T) {
	tc := startClusterCoord(t, testConfig(), nil)
	tc.topic("t", 1)
	tc.load("g", 1)
	joins := tc.joinAll("g", 2, time.Minute)
	assigned := tc.syncAll("g", joins)
	tc.unload("g", 1)
	tc.load("g", 2) // the leadership came back, as after a failover
	for _, j := range joins {
		if err := tc.c.Heartbeat(HeartbeatRequest{Group: "g", MemberID: j.MemberID, Generation: j.Generation}); err != nil {
			t.Fatalf("heartbeat of %s after reload: %v", j.MemberID, err)
		}
		res := tc.c.Sync(ctx(t), SyncRequest{Group: "g", MemberID: j.MemberID, Generation: j.Generation})
		if res.Err != nil || string(res.Assignment) != assigned[j.MemberID] {
			t.Fatalf("sync of %s after reload: %q, %v; want %q", j.MemberID, res.Assignment, res.Err, assigned[j.MemberID])
		}
	}
	d, err := tc.c.DescribeGroup("g")
	if err != nil || d.State != Stable || len(d.Members) != 2 || d.Generation != joins[0].Generation {
		t.Fatalf("describe after reload: %+v, %v", d, err)
	}
}

// Every write to __consumer_offsets goes through Config.AppendAsLeader
// when set: a refusal because leadership moved (before the partition is
// unloaded) appends nothing and is answered NOT_COORDINATOR, one for too
// few in-sync replicas COORDINATOR_NOT_AVAILABLE, and the commit takes
// no effect.
func TestClusterAppendAsLeaderRefusalAppendsNothing(t *testing.T) {
	for _, tt := range []struct {
		name   string
		refuse error
		want   error
	}{
		{"leadership moved", fmt.Errorf("server: not led here: %w", ErrNotCoordinatorForGroup), ErrNotCoordinatorForGroup},
		{"not enough replicas", errors.New("replica: ISR below min.insync.replicas"), ErrCoordinatorNotAvailable},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var refuse atomic.Bool
			var calls atomic.Int32
			cfg := testConfig()
			cfg.AppendAsLeader = func(p int32, appendFn func([]byte) (tlog.AppendInfo, error), b []byte) (tlog.AppendInfo, error) {
				calls.Add(1)
				if refuse.Load() {
					return tlog.AppendInfo{}, tt.refuse
				}
				return appendFn(b)
			}
			tc := startClusterCoord(t, cfg, nil)
			tc.topic("t", 1)
			tc.load("g", 1)
			if err := tc.commitOne("g", 10); err != nil {
				t.Fatal(err)
			}
			if calls.Load() == 0 {
				t.Fatal("the commit did not go through AppendAsLeader")
			}
			l := tc.offsetsLog("g")
			end := l.NextOffset()
			refuse.Store(true)
			err := tc.commitOne("g", 11)
			if !errors.Is(err, tt.want) {
				t.Fatalf("commit refused by AppendAsLeader: %v, want %v", err, tt.want)
			}
			if tt.want == ErrCoordinatorNotAvailable && errors.Is(err, ErrNotCoordinatorForGroup) {
				t.Fatalf("commit refused for too few replicas: %v, also NOT_COORDINATOR", err)
			}
			if got := l.NextOffset(); got != end {
				t.Fatalf("a refused commit moved the offsets log end from %d to %d", end, got)
			}
			if got, err := tc.committed("g"); err != nil || got != 10 {
				t.Fatalf("OffsetFetch after a refused commit: %d, %v; want 10", got, err)
			}
		})
	}
}
