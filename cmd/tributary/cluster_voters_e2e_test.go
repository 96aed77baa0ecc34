package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/tributary-io/tributary/cluster"
	"github.com/tributary-io/tributary/internal/testnet"
	"github.com/tributary-io/tributary/server"
)

// TestClusterAddVoterGrowsTheQuorumToFourAndRemoveVoterShrinksIt: a
// fourth voter is added to three running ones (add-voter, then the node
// started with controller.quorum.initial.state=existing and an empty data
// dir), the quorum shows four healthy voters and takes writes, then a
// stopped voter is removed back to three; an acks=all producer keeps
// working throughout. A node started to join before it was added is
// refused, and so is adding a voter twice.
func TestClusterAddVoterGrowsTheQuorumToFourAndRemoveVoterShrinksIt(t *testing.T) {
	if testing.Short() {
		t.Skip("starts four etcd members")
	}
	var c *cliCluster
	c = startCLICluster(t, func(id int32, cc *server.ClusterConfig) {
		if id != 4 {
			return
		}
		host, port, _ := net.SplitHostPort(c.ctrl[4])
		p, _ := strconv.Atoi(port)
		cc.Voters = append(slices.Clone(c.voters), server.Voter{ID: 4, Host: host, Port: uint16(p)})
		cc.InitialState = cluster.InitialStateExisting
	})
	c.ctrl[4] = net.JoinHostPort("127.0.0.5", strconv.Itoa(testnet.FreePortPair(t, "127.0.0.5")))
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if _, err := c.admin().CreateTopic(ctx, 3, 3, nil, "events"); err != nil {
		t.Fatal(err)
	}

	// The producer: acks=all, one record at a time.
	pctx, stopProducing := context.WithCancel(ctx)
	var (
		mu         sync.Mutex
		acked      int
		produceErr error
		wg         sync.WaitGroup
	)
	prod, err := kgo.NewClient(kgo.SeedBrokers(c.nodes[1].addr, c.nodes[2].addr), kgo.DefaultProduceTopic("events"),
		kgo.RequiredAcks(kgo.AllISRAcks()), kgo.RecordDeliveryTimeout(30*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	wg.Go(func() {
		for i := 0; pctx.Err() == nil; i++ {
			err := prod.ProduceSync(pctx, &kgo.Record{Value: []byte(strconv.Itoa(i))}).FirstErr()
			mu.Lock()
			if err == nil {
				acked++
			} else if !errors.Is(err, context.Canceled) {
				produceErr = fmt.Errorf("record %d: %w", i, err)
			}
			mu.Unlock()
			if err != nil {
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
	})
	progress := func(what string) {
		t.Helper()
		mu.Lock()
		from := acked
		mu.Unlock()
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			mu.Lock()
			n, err := acked, produceErr
			mu.Unlock()
			if err != nil {
				t.Fatalf("%s: the producer failed: %v", what, err)
			}
			if n >= from+20 {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: the producer stalled at %d records", what, n)
			}
		}
	}
	progress("three voters")

	// Started to join before it was added: refused, with the fix named.
	err = c.start(4)
	if !errors.Is(err, cluster.ErrNotQuorumMember) || !strings.Contains(err.Error(), "add-voter --node-id 4") {
		t.Fatalf("node 4 started to join before add-voter: %v, want %v naming add-voter", err, cluster.ErrNotQuorumMember)
	}

	// add-voter adds the learner and waits; node 4 starts meanwhile.
	added := make(chan cliResult, 1)
	seed := c.nodes[1].addr // c.nodes changes while add-voter runs
	go func() {
		added <- runCLI(t, "", "--brokers", seed, "cluster", "add-voter", "--node-id", "4", "--controller", c.ctrl[4], "--timeout", "90s")
	}()
	etcd := etcdClientOf(t, c, 1)
	for deadline := time.Now().Add(30 * time.Second); !hasLearner(ctx, etcd); time.Sleep(50 * time.Millisecond) {
		select {
		case r := <-added:
			t.Fatalf("add-voter ended before adding a learner: exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("add-voter added no learner within 30 s")
		}
	}
	if err := c.start(4); err != nil {
		t.Fatalf("node 4 joining the quorum: %v", err)
	}
	if r := <-added; r.code != 0 || !strings.Contains(r.stdout, "node 4 is a voter") {
		t.Fatalf("add-voter: exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	c.waitBrokers(4)
	waitQuorum(t, c, []int32{1, 2, 3, 4})
	progress("four voters")

	// Adding it again, or another id at its address, is refused.
	for _, args := range [][]string{
		{"--node-id", "4", "--controller", "127.0.0.5:1"},
		{"--node-id", "5", "--controller", c.ctrl[4]},
	} {
		r := c.run(t, append([]string{"cluster", "add-voter", "--timeout", "10s"}, args...)...)
		if r.code == 0 || !strings.Contains(r.stderr, "already a member of the metadata quorum") {
			t.Errorf("add-voter %v again: exit %d\nstdout: %s\nstderr: %s", args, r.code, r.stdout, r.stderr)
		}
	}

	// The metadata takes writes through the new voter's broker.
	adm4 := adminOf(t, c.nodes[4].addr)
	if _, err := adm4.CreateTopic(ctx, 2, 3, nil, "after-grow"); err != nil {
		t.Fatalf("create a topic with four voters: %v", err)
	}

	// Back to three: voter 3 stops, then leaves the quorum.
	n3 := c.nodes[3]
	c.mu.Lock()
	delete(c.nodes, 3)
	c.mu.Unlock()
	n3.srv.Close()
	n3.mgr.Close()
	if r := c.run(t, "cluster", "remove-voter", "3"); r.code != 0 {
		t.Fatalf("remove-voter 3: exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	if r := c.run(t, "cluster", "remove-voter", "3"); r.code == 0 || !strings.Contains(r.stderr, "no such member") {
		t.Errorf("remove-voter 3 again: exit %d\nstderr: %s", r.code, r.stderr)
	}
	waitQuorum(t, c, []int32{1, 2, 4})
	if _, err := adm4.CreateTopic(ctx, 2, 3, nil, "after-shrink"); err != nil {
		t.Fatalf("create a topic with voters 1, 2, 4: %v", err)
	}
	progress("voters 1, 2, 4")
	stopProducing()
	wg.Wait()
	if produceErr != nil {
		t.Fatal(produceErr)
	}
}

// waitQuorum waits until cluster status shows the quorum healthy with
// exactly voters.
func waitQuorum(t *testing.T, c *cliCluster, voters []int32) {
	t.Helper()
	var last string
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		r := c.run(t, "cluster", "status", "--output", "json")
		last = r.stdout + r.stderr
		var st clusterStatus
		if r.code != 0 || json.Unmarshal([]byte(r.stdout), &st) != nil || st.Quorum == nil {
			continue
		}
		var got []int32
		for _, m := range st.Quorum.Members {
			if m.Role == "voter" || m.Role == "leader" {
				got = append(got, m.ID)
			}
		}
		slices.Sort(got)
		if st.Quorum.Health == quorumHealthy && slices.Equal(got, voters) {
			return
		}
	}
	t.Fatalf("cluster status shows no healthy quorum of voters %v within 30 s; last:\n%s", voters, last)
}

// etcdClientOf is an etcd client of voter id's client address.
func etcdClientOf(t *testing.T, c *cliCluster, id int32) *clientv3.Client {
	t.Helper()
	ep, err := cluster.DeriveClientAddr(c.ctrl[id])
	if err != nil {
		t.Fatal(err)
	}
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{ep}, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	return cli
}

func hasLearner(ctx context.Context, cli *clientv3.Client) bool {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	list, err := cli.MemberList(ctx)
	if err != nil {
		return false
	}
	for _, m := range list.Members {
		if m.IsLearner {
			return true
		}
	}
	return false
}

func adminOf(t *testing.T, addr string) *kadm.Client {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return kadm.NewClient(cl)
}
