package cluster

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"
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
