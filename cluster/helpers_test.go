package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/tributary-io/tributary/internal/testnet"
)

// freePortPair returns a port on ip whose next port is free too: an
// embedded member's controller port, its client port derived from it.
func freePortPair(t testing.TB, ip string) int { return testnet.FreePortPair(t, ip) }

// testLogger sends slog records (etcd's warnings among them) to t.Log.
func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(p))
	return len(p), nil
}

// testQuorum is n embedded members on 127.0.0.2, .3, ... in one process.
type testQuorum struct {
	t       testing.TB
	tls     *TLSFiles // peer and client TLS of every member, if set
	voters  []Voter
	dirs    []string
	members []*Embedded // nil while stopped
}

func newTestQuorum(t testing.TB, n int) *testQuorum {
	t.Helper()
	q := &testQuorum{t: t, members: make([]*Embedded, n)}
	for i := range n {
		ip := fmt.Sprintf("127.0.0.%d", i+2)
		q.voters = append(q.voters, Voter{NodeID: int32(i + 1), Host: ip, Port: freePortPair(t, ip)})
		q.dirs = append(q.dirs, t.TempDir())
	}
	t.Cleanup(func() {
		// The test is over: no member needs an orderly leadership
		// handover, so stop them all at once.
		var wg sync.WaitGroup
		for _, m := range q.members {
			if m != nil {
				wg.Go(func() {
					m.stopping.Store(true)
					m.etcd.Server.HardStop()
					m.Close()
				})
			}
		}
		wg.Wait()
	})
	return q
}

func (q *testQuorum) config(i int) EmbedConfig {
	return EmbedConfig{
		NodeID:           q.voters[i].NodeID,
		DataDir:          q.dirs[i],
		ControllerListen: q.voters[i].Addr(),
		Voters:           q.voters,
		StartTimeout:     20 * time.Second,
		Logger:           testLogger(q.t),
		UnsafeNoFsync:    true,
		PeerTLS:          q.tls,
		ClientTLS:        q.tls,
	}
}

// startAll starts every member at once (a new multi-member cluster only
// becomes ready when a majority runs).
func (q *testQuorum) startAll() {
	q.t.Helper()
	errs := make(chan error, len(q.members))
	for i := range q.members {
		go func() {
			m, err := StartEmbedded(context.Background(), q.config(i))
			q.members[i] = m
			errs <- err
		}()
	}
	for range q.members {
		if err := <-errs; err != nil {
			q.t.Fatal(err)
		}
	}
}

func (q *testQuorum) stop(i int) {
	if q.members[i] != nil {
		q.members[i].Close()
		q.members[i] = nil
	}
}

func (q *testQuorum) endpoints() []string {
	eps, err := VoterClientEndpoints(q.voters)
	if err != nil {
		q.t.Fatal(err)
	}
	return eps
}

// openStore opens a store on the given member's client URL only (so the
// test knows which member serves its watch), or on all when i < 0.
func openTestStore(t testing.TB, eps []string, ttl time.Duration) *EtcdStore {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := OpenEtcdStore(ctx, EtcdStoreConfig{ClusterID: "test-cluster", Endpoints: eps, SessionTimeout: ttl, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// singleMemberStore starts a quorum of one member and opens a store on
// it whose sessions last ttl.
func singleMemberStore(t testing.TB, ttl time.Duration) *EtcdStore {
	t.Helper()
	q := newTestQuorum(t, 1)
	q.startAll()
	return openTestStore(t, q.endpoints(), ttl)
}

// waitFenced waits up to d for reg to learn that it was fenced (how: by
// what), and checks that its Err says so.
func waitFenced(t testing.TB, reg *Registration, d time.Duration, how string) {
	t.Helper()
	select {
	case <-reg.Fenced():
	case <-time.After(d):
		t.Fatalf("broker %d's registration never learnt it was fenced %s", reg.Broker().NodeID, how)
	}
	if !errors.Is(reg.Err(), ErrFenced) {
		t.Fatalf("Err of broker %d's registration fenced %s = %v, want ErrFenced", reg.Broker().NodeID, how, reg.Err())
	}
}

// stillRegistered fails the test if reg learns that it was fenced within
// d (0: if it already has): while (why) nothing may end it.
func stillRegistered(t testing.TB, reg *Registration, d time.Duration, why string) {
	t.Helper()
	if d > 0 {
		select {
		case <-reg.Fenced():
		case <-time.After(d):
		}
	}
	select {
	case <-reg.Fenced():
		t.Fatalf("broker %d's registration ended %s: %v", reg.Broker().NodeID, why, reg.Err())
	default:
	}
}

// waitSnapshot waits until cond holds for s's snapshot, re-checking on every
// change, and fails the test after timeout.
func waitSnapshot(t testing.TB, s Store, timeout time.Duration, what string, cond func(*Snapshot) bool) *Snapshot {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		ch := s.Changed()
		snap := s.Snapshot()
		if cond(snap) {
			return snap
		}
		select {
		case <-ch:
		case <-deadline.C:
			t.Fatalf("after %v: %s never held; snapshot at revision %d: controller %d, brokers %v, topics %d, partitions %d",
				timeout, what, snap.Revision, snap.Controller, snap.Brokers, len(snap.Topics), snap.Partitions.Len())
		}
	}
}

func testTopic(name string, n int32, replicas ...int32) (Topic, []PartitionState) {
	t := Topic{Name: name, Partitions: n, Configs: map[string]string{"retention.ms": "1000"}}
	copy(t.ID[:], name+"-0123456789abcdef")
	parts := make([]PartitionState, n)
	for p := range n {
		parts[p] = PartitionState{Topic: name, Partition: p, Replicas: replicas, ISR: replicas, Leader: replicas[0], LeaderEpoch: 0, PartitionEpoch: 0}
	}
	return t, parts
}
