package cluster

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"go.etcd.io/etcd/client/pkg/v3/types"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
)

func TestEmbeddedMemberRestartKeepsMetadata(t *testing.T) {
	q := newTestQuorum(t, 1)
	start := time.Now()
	m, err := StartEmbedded(context.Background(), q.config(0))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("one-member start took %v", time.Since(start))
	q.members[0] = m
	if !hasWAL(EtcdDataDir(q.dirs[0])) {
		t.Fatalf("no etcd WAL under %s", EtcdDataDir(q.dirs[0]))
	}
	s := openTestStore(t, m.ClientURLs(), 0)
	topic, parts := testTopic("orders", 3, 1)
	if err := s.CreateTopic(context.Background(), topic, parts); err != nil {
		t.Fatal(err)
	}
	s.Close()
	q.stop(0)

	m, err = StartEmbedded(context.Background(), q.config(0))
	if err != nil {
		t.Fatalf("restart: %v", err)
	}
	q.members[0] = m
	s = openTestStore(t, m.ClientURLs(), 0)
	snap := s.Snapshot()
	got, ok := snap.Topics["orders"]
	if !ok || got.ID != topic.ID || got.Partitions != 3 || got.Configs["retention.ms"] != "1000" {
		t.Fatalf("after restart topic orders = %+v, %v; want %+v", got, ok, topic)
	}
	if snap.Partitions.Len() != 3 {
		t.Fatalf("after restart %d partitions, want 3", snap.Partitions.Len())
	}
}

func TestEmbeddedConfigErrors(t *testing.T) {
	voters := []Voter{{NodeID: 1, Host: "127.0.0.2", Port: 9093}}
	for _, tc := range []struct {
		name    string
		c       EmbedConfig
		wantErr string
	}{
		{"no data dir", EmbedConfig{NodeID: 1, ControllerListen: "127.0.0.2:9093", Voters: voters}, "data dir"},
		{"not a voter", EmbedConfig{NodeID: 2, DataDir: "d", ControllerListen: "127.0.0.2:9093", Voters: voters}, "not in controller.quorum.voters"},
		{"bad listen", EmbedConfig{NodeID: 1, DataDir: "d", ControllerListen: "127.0.0.2", Voters: voters}, "controller listen"},
		{"bad client listen", EmbedConfig{NodeID: 1, DataDir: "d", ControllerListen: "127.0.0.2:9093", ClientListen: "x", Voters: voters}, "client listen"},
	} {
		_, err := StartEmbedded(context.Background(), tc.c)
		if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
			t.Errorf("%s: err = %v, want one containing %q", tc.name, err, tc.wantErr)
		}
	}
}

func TestEmbeddedStartTimesOutWithoutQuorum(t *testing.T) {
	q := newTestQuorum(t, 3)
	c := q.config(0)
	c.StartTimeout = 1500 * time.Millisecond
	_, err := StartEmbedded(context.Background(), c)
	if err == nil || !strings.Contains(err.Error(), "not ready after") || !strings.Contains(err.Error(), "2 of 3") {
		t.Fatalf("start of one of three voters: err = %v, want a timeout naming the majority", err)
	}
	// The failed member let go of its ports.
	for _, addr := range []string{c.ControllerListen, q.endpoints()[0]} {
		l, err := net.Listen("tcp", addr)
		if err != nil {
			t.Fatalf("after a failed start, %s is still taken: %v", addr, err)
		}
		l.Close()
	}
}
func TestDeriveClientAddr(t *testing.T) {
	got, err := DeriveClientAddr("127.0.0.2:9093")
	if err != nil || got != "127.0.0.2:9094" {
		t.Fatalf("DeriveClientAddr = %q, %v; want 127.0.0.2:9094", got, err)
	}
	if _, err := DeriveClientAddr("127.0.0.2:65535"); err == nil {
		t.Fatal("DeriveClientAddr of port 65535 succeeded")
	}
}

// TestEmbeddedElectionTimeoutReachesEtcd: the member runs with the
// election timeout it is given and a heartbeat of a tenth of it, which
// etcd's lessor shows to a client: no lease is granted a TTL below 1.5
// election timeouts rounded up to a second, so a 1 s lease is granted 2 s
// at the default timeout and 1 s at 300 ms.
func TestEmbeddedElectionTimeoutReachesEtcd(t *testing.T) {
	for _, tc := range []struct {
		timeout      time.Duration
		tickMs       uint
		electionTick int
		leaseTTL     int64
	}{
		{0, 100, 10, 2},
		{300 * time.Millisecond, 30, 10, 1},
	} {
		t.Run(fmt.Sprint(tc.timeout), func(t *testing.T) {
			q := newTestQuorum(t, 1)
			c := q.config(0)
			c.ElectionTimeout = tc.timeout
			m, err := StartEmbedded(context.Background(), c)
			if err != nil {
				t.Fatal(err)
			}
			q.members[0] = m
			if got := m.etcd.Server.Cfg; got.TickMs != tc.tickMs || got.ElectionTicks != tc.electionTick {
				t.Fatalf("etcd runs with heartbeat %d ms and %d election ticks, want %d ms and %d", got.TickMs, got.ElectionTicks, tc.tickMs, tc.electionTick)
			}
			cli, err := clientv3.New(clientv3.Config{Endpoints: m.ClientURLs(), DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
			if err != nil {
				t.Fatal(err)
			}
			defer cli.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			lease, err := cli.Grant(ctx, 1)
			if err != nil {
				t.Fatal(err)
			}
			if lease.TTL != tc.leaseTTL {
				t.Fatalf("a 1 s lease was granted %d s, want %d s (etcd's minimum TTL for this election timeout)", lease.TTL, tc.leaseTTL)
			}
		})
	}
}

func TestEmbeddedRefusesElectionTimeoutEtcdRefuses(t *testing.T) {
	voters := []Voter{{NodeID: 1, Host: "127.0.0.2", Port: 9093}}
	for _, tc := range []struct {
		timeout time.Duration
		wantErr string
	}{
		{9 * time.Millisecond, "below 10ms"},
		{-time.Second, "below 10ms"},
		{50*time.Second + time.Millisecond, "above etcd's limit of 50s"},
		{1500 * time.Microsecond, "whole number of milliseconds"},
	} {
		c := EmbedConfig{NodeID: 1, DataDir: t.TempDir(), ControllerListen: "127.0.0.2:9093", Voters: voters, ElectionTimeout: tc.timeout}
		_, err := StartEmbedded(context.Background(), c)
		if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
			t.Errorf("election timeout %v: err = %v, want one containing %q", tc.timeout, err, tc.wantErr)
		}
	}
	for _, ok := range []time.Duration{MinElectionTimeout, DefaultElectionTimeout, MaxElectionTimeout} {
		if err := CheckElectionTimeout(ok); err != nil {
			t.Errorf("CheckElectionTimeout(%v) = %v, want nil", ok, err)
		}
		if election, tick := electionMs(ok); 5*tick > election || tick == 0 {
			t.Errorf("election timeout %v: etcd would get %d ms and a %d ms heartbeat, which it refuses", ok, election, tick)
		}
	}
}

// logBuffer collects slog text lines.
type logBuffer struct {
	mu    sync.Mutex
	lines []string
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.lines = append(b.lines, string(p))
	return len(p), nil
}

func (b *logBuffer) has(parts ...string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, l := range b.lines {
		all := true
		for _, p := range parts {
			all = all && strings.Contains(l, p)
		}
		if all {
			return true
		}
	}
	return false
}

// TestEmbeddedLogsTheNewQuorumLeader: when the member leading the raft
// stops, the others log the leader they elect instead, by node id, with
// the term it was elected at.
func TestEmbeddedLogsTheNewQuorumLeader(t *testing.T) {
	q := newTestQuorum(t, 3)
	logs := make([]*logBuffer, 3)
	q.startAllWith(func(i int, c *EmbedConfig) {
		logs[i] = &logBuffer{}
		c.ElectionTimeout = 200 * time.Millisecond
		c.Logger = slog.New(slog.NewTextHandler(logs[i], &slog.HandlerOptions{Level: slog.LevelInfo}))
	})
	leader := -1
	for i, m := range q.members {
		if m.etcd.Server.Leader() == m.etcd.Server.MemberID() {
			leader = i
		}
	}
	if leader < 0 {
		t.Fatal("no member leads")
	}
	old := q.members[leader].etcd.Server.MemberID()
	q.members[leader].stopping.Store(true)
	q.members[leader].etcd.Server.HardStop()
	q.stop(leader)
	deadline := time.Now().Add(20 * time.Second)
	for {
		for i, m := range q.members {
			if m == nil {
				continue
			}
			now := m.etcd.Server.Leader()
			if now == types.ID(0) || now == old {
				continue
			}
			name := m.etcd.Server.Cluster().Member(now)
			// The term is the one it was elected at: a later election
			// may have kept the same leader (not a leader change).
			if name != nil && logs[i].has(`msg="cluster: metadata quorum leader elected"`, "leader="+name.Name+" ", "term=") {
				return
			}
		}
		if time.Now().After(deadline) {
			for i := range logs {
				t.Logf("member %d log: %v", i, logs[i].lines)
			}
			t.Fatal("no surviving member logged the leader it elected")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestEmbeddedKeepsMinutesOfHistoryAndShortWAL: the member compacts its
// history periodically keeping minutes of it, not an hour, and takes a
// raft snapshot every thousand entries, not ten thousand: both bound
// what a restarted member reads back before it serves
// (BenchmarkEmbeddedRestart). Minutes still outlast a broker's watch
// reconnect, which resumes from its last revision
// (TestWatchResyncsAfterCompaction covers one that fell behind).
func TestEmbeddedKeepsMinutesOfHistoryAndShortWAL(t *testing.T) {
	q := newTestQuorum(t, 1)
	m, err := StartEmbedded(context.Background(), q.config(0))
	if err != nil {
		t.Fatal(err)
	}
	q.members[0] = m
	got := m.etcd.Server.Cfg
	if got.AutoCompactionMode != embed.CompactorModePeriodic || got.AutoCompactionRetention != embedCompactionRetention {
		t.Fatalf("etcd compacts in mode %q keeping %v, want %q keeping %v", got.AutoCompactionMode, got.AutoCompactionRetention, embed.CompactorModePeriodic, embedCompactionRetention)
	}
	if r := got.AutoCompactionRetention; r < time.Minute || r > 10*time.Minute {
		t.Fatalf("etcd keeps %v of history: want minutes (longer than a watch reconnect, shorter than the hour that made restarts slow)", r)
	}
	if got.SnapshotCount == 0 || got.SnapshotCount > 1000 {
		t.Fatalf("etcd takes a snapshot every %d entries: a restarted member would replay up to that many transactions of its WAL", got.SnapshotCount)
	}
	if got.WarningApplyDuration != embedWarningApplyDuration {
		t.Fatalf("etcd logs applies slower than %v with their text, want %v", got.WarningApplyDuration, embedWarningApplyDuration)
	}
}
