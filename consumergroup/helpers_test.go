package consumergroup

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	tlog "github.com/tributary-io/tributary/log"
)

// testCoord is a coordinator over a Manager in a temp dir.
type testCoord struct {
	t   testing.TB
	dir string
	mgr *tlog.Manager
	c   *Coordinator
	cfg Config
}

func testConfig() Config {
	cfg := DefaultConfig()
	cfg.OffsetsTopicPartitions = 3
	// Long enough for members joining together to form one generation.
	cfg.InitialRebalanceDelay = 100 * time.Millisecond
	cfg.MinSessionTimeout = 10 * time.Millisecond
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	return cfg
}

func startCoord(t testing.TB, dir string, cfg Config) *testCoord {
	t.Helper()
	mgr, err := tlog.OpenManager(dir, tlog.Options{Logger: cfg.Logger})
	if err != nil {
		t.Fatal(err)
	}
	c, err := New(mgr, cfg)
	if err != nil {
		mgr.Close()
		t.Fatal(err)
	}
	c.Start()
	if err := c.WaitLoaded(); err != nil {
		t.Fatal(err)
	}
	tc := &testCoord{t: t, dir: dir, mgr: mgr, c: c, cfg: cfg}
	t.Cleanup(tc.stop)
	return tc
}

func (tc *testCoord) stop() {
	if tc.c == nil {
		return
	}
	tc.c.Close()
	if err := tc.mgr.Close(); err != nil {
		tc.t.Errorf("manager close: %v", err)
	}
	tc.c, tc.mgr = nil, nil
}

// restart closes and reopens the coordinator over the same dir.
func (tc *testCoord) restart() *testCoord {
	tc.stop()
	return startCoord(tc.t, tc.dir, tc.cfg)
}

func (tc *testCoord) topic(name string, partitions int) {
	tc.t.Helper()
	if _, err := tc.mgr.CreateTopic(name, partitions, nil); err != nil {
		tc.t.Fatal(err)
	}
}

func ctx(t testing.TB) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return c
}

var rangeProto = []Protocol{{Name: "range", Metadata: []byte("sub")}}

func joinReq(group, member string, session time.Duration) JoinRequest {
	return JoinRequest{
		Group: group, MemberID: member, ClientID: "c", ClientHost: "/127.0.0.1",
		ProtocolType: "consumer", Protocols: rangeProto,
		SessionTimeout: session, RebalanceTimeout: session, RequireKnownMemberID: true,
	}
}

// join runs the KIP-394 two-step join and returns the final answer.
func (tc *testCoord) join(r JoinRequest) JoinResult {
	tc.t.Helper()
	res := tc.c.Join(ctx(tc.t), r)
	if res.Err == ErrMemberIDRequired {
		r.MemberID = res.MemberID
		res = tc.c.Join(ctx(tc.t), r)
	}
	return res
}

// joinAll joins n members concurrently and returns their answers.
func (tc *testCoord) joinAll(group string, n int, session time.Duration) []JoinResult {
	tc.t.Helper()
	out := make([]JoinResult, n)
	done := make(chan int, n)
	for i := 0; i < n; i++ {
		go func() {
			out[i] = tc.join(joinReq(group, "", session))
			done <- i
		}()
	}
	for i := 0; i < n; i++ {
		<-done
	}
	return out
}

// syncAll syncs every member of a generation (the leader assigns each
// member its own id as assignment) and returns the assignments by member.
func (tc *testCoord) syncAll(group string, joins []JoinResult) map[string]string {
	tc.t.Helper()
	var leader JoinResult
	for _, j := range joins {
		if j.MemberID == j.Leader {
			leader = j
		}
	}
	assign := make(map[string][]byte)
	for _, m := range leader.Members {
		assign[m.MemberID] = []byte("a-" + m.MemberID)
	}
	type res struct {
		id string
		r  SyncResult
	}
	ch := make(chan res, len(joins))
	for _, j := range joins {
		go func() {
			r := SyncRequest{Group: group, MemberID: j.MemberID, Generation: j.Generation}
			if j.MemberID == j.Leader {
				r.Assignments = assign
			}
			ch <- res{j.MemberID, tc.c.Sync(ctx(tc.t), r)}
		}()
	}
	out := make(map[string]string)
	for range joins {
		r := <-ch
		if r.r.Err != nil {
			tc.t.Fatalf("sync %s: %v", r.id, r.r.Err)
		}
		out[r.id] = string(r.r.Assignment)
	}
	return out
}

// offsetsLog is the __consumer_offsets partition holding group.
func (tc *testCoord) offsetsLog(group string) *tlog.Log {
	tc.t.Helper()
	l, ok := tc.mgr.Partition(OffsetsTopic, tc.c.PartitionFor(group))
	if !ok {
		tc.t.Fatalf("no %s partition for %s", OffsetsTopic, group)
	}
	return l
}

// offsetsLogCreate is offsetsLog after creating __consumer_offsets.
func (tc *testCoord) offsetsLogCreate(group string) *tlog.Log {
	tc.t.Helper()
	if err := tc.c.EnsureOffsetsTopic(); err != nil {
		tc.t.Fatal(err)
	}
	return tc.offsetsLog(group)
}

// rejoin has the given members rejoin concurrently, with one new member
// too when newMember is not empty (its answer last).
func (tc *testCoord) rejoin(group string, ids []string, newMember string) []JoinResult {
	tc.t.Helper()
	all := append([]string(nil), ids...)
	if newMember != "" {
		all = append(all, "")
	}
	out := make([]JoinResult, len(all))
	done := make(chan struct{}, len(all))
	if newMember != "" {
		// The new member's join starts the rebalance the others then
		// learn of (by heartbeat, in a real client).
		go func() {
			out[len(all)-1] = tc.join(joinReq(group, "", time.Minute))
			done <- struct{}{}
		}()
		waitState(tc.t, tc.c, group, PreparingRebalance)
		all = all[:len(all)-1]
	}
	for i, id := range all {
		go func() {
			if id == "" {
				out[i] = tc.join(joinReq(group, "", time.Minute))
			} else {
				out[i] = tc.c.Join(ctx(tc.t), joinReq(group, id, time.Minute))
			}
			done <- struct{}{}
		}()
	}
	for range out {
		<-done
	}
	for _, r := range out {
		if r.Err != nil {
			tc.t.Fatalf("rejoin: %v", r.Err)
		}
	}
	return out
}
