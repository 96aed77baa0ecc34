package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/tributary-io/tributary/auth"
	"github.com/tributary-io/tributary/cluster"
	"github.com/tributary-io/tributary/internal/testnet"
	tlog "github.com/tributary-io/tributary/log"
)

// testClientSource is where the test's own clients dial from, so that a
// forwarder can tell them from the nodes (127.0.0.2-4) and from a node
// that dials without binding (127.0.0.1, the kernel's choice on loopback).
const testClientSource = "127.0.0.9"

func fromTestClientSource() kgo.Opt {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(testClientSource)}, Timeout: 10 * time.Second}
	return kgo.Dialer(d.DialContext)
}

// TestClusterNodesDialFromAdvertisedIP: three nodes on 127.0.0.2-4 with
// inter.broker.source.bind.enable, each advertising its inter-broker
// listener and its voter entry (the etcd peer port, and the client port
// + 1) at recording forwarders on its own IP, in front of listeners
// bound at other ports: the quorum forms and a topic replicates through
// the forwarders (acks=all, RF 3, read back), every connection a
// forwarder of one node sees from another node comes from that node's
// IP, and each node's replica fetches and etcd client reach every other
// node. (etcd binds the source of its peer traffic only to a
// non-loopback IP: TestEmbeddedPeerTrafficFromVoterEntryHost in cluster
// covers that; here the peer forwarders only show that the voter entries
// are what the members dial.)
func TestClusterNodesDialFromAdvertisedIP(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three etcd members")
	}
	type proxied struct {
		host                string
		peer, client, kafka *testnet.Forwarder
		kafkaListen         string
		voter               Voter
	}
	nodes := make([]*proxied, 3)
	voters := make([]Voter, 3)
	for i := range nodes {
		host := fmt.Sprintf("127.0.0.%d", i+2)
		p := &proxied{host: host}
		peerAddr := freeControllerAddr(t, host)
		p.peer = testnet.Forward(t, peerAddr, "")
		h, port, _ := net.SplitHostPort(peerAddr)
		pn, _ := strconv.Atoi(port)
		p.client = testnet.Forward(t, net.JoinHostPort(h, strconv.Itoa(pn+ControllerClientPortOffset)), "")
		p.kafkaListen = testnet.FreeAddr(t, host)
		p.kafka = testnet.Forward(t, net.JoinHostPort(host, "0"), p.kafkaListen)
		p.voter = Voter{ID: int32(i + 1), Host: h, Port: uint16(pn)}
		voters[i] = p.voter
		nodes[i] = p
	}
	tc := startTestClusterWith(t, func(n *clusterTestNode, cfg *Config) {
		p := nodes[n.id-1]
		cfg.Cluster.Config.Voters = voters
		cfg.Cluster.Config.InterBrokerSourceBind = true
		// The member binds n.ctrl and its port + 1; the others dial the
		// forwarders of its voter entry.
		p.peer.SetTarget(n.ctrl)
		client, err := cluster.DeriveClientAddr(n.ctrl)
		if err != nil {
			t.Error(err)
		}
		p.client.SetTarget(client)
		n.listener = &Listener{Name: DefaultListenerName, Protocol: auth.Plaintext, Addr: p.kafkaListen, Advertise: p.kafka.Addr()}
		n.opts = []kgo.Opt{fromTestClientSource()}
	})
	ctx := testContext(t)

	cl := mustClient(t, tc.node(1).addr, fromTestClientSource(), kgo.RequiredAcks(kgo.AllISRAcks()))
	adm := kadm.NewClient(cl)
	if _, err := adm.CreateTopic(ctx, 3, 3, map[string]*string{"min.insync.replicas": kadm.StringPtr("3")}, "bound"); err != nil {
		t.Fatal(err)
	}
	const records = 30
	for i := range records {
		r := &kgo.Record{Topic: "bound", Partition: int32(i % 3), Value: []byte(strconv.Itoa(i))}
		if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatalf("acks=all produce %d through the forwarders: %v", i, err)
		}
	}
	cons := mustClient(t, tc.node(2).addr, fromTestClientSource(), kgo.ConsumeTopics("bound"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	got := map[string]bool{}
	for len(got) < records {
		fs := cons.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("read back %d of %d records: %v", len(got), records, err)
		}
		fs.EachRecord(func(r *kgo.Record) { got[string(r.Value)] = true })
	}

	// DescribeQuorum asks each member's advertised client URL: the
	// client forwarders.
	dq := kmsg.NewPtrDescribeQuorumRequest()
	dt := kmsg.NewDescribeQuorumRequestTopic()
	dt.Topic = "__cluster_metadata"
	dt.Partitions = []kmsg.DescribeQuorumRequestTopicPartition{kmsg.NewDescribeQuorumRequestTopicPartition()}
	dq.Topics = append(dq.Topics, dt)
	if dqr, err := dq.RequestWith(ctx, cl); err != nil || dqr.ErrorCode != 0 || len(dqr.Topics) != 1 || len(dqr.Topics[0].Partitions[0].CurrentVoters) != 3 {
		t.Errorf("describe quorum: %+v, %v; want three voters", dqr, err)
	}

	ips := []string{nodes[0].host, nodes[1].host, nodes[2].host}
	for i, p := range nodes {
		others := slices.Delete(slices.Clone(ips), i, i+1)
		check := func(what string, f *testnet.Forwarder, allowed, want []string) {
			t.Helper()
			src := f.Sources()
			for ip, n := range src {
				if !slices.Contains(allowed, ip) {
					t.Errorf("node %d's %s forwarder: %d connections from %s, which is no node's advertised IP (want only %v); all: %v", i+1, what, n, ip, allowed, src)
				}
			}
			for _, ip := range want {
				if src[ip] == 0 {
					t.Errorf("node %d's %s forwarder: no connection from %s; all: %v", i+1, what, ip, src)
				}
			}
		}
		// Replica fetches and fencing watches from the other nodes;
		// the test's clients from their own address.
		check("inter-broker", p.kafka, append(slices.Clone(others), testClientSource), others)
		// Every node's etcd client dials every voter's client URL, its
		// own included.
		check("etcd client", p.client, ips, ips)
		if len(p.peer.Sources()) == 0 {
			t.Errorf("node %d's etcd peer forwarder saw no connection: the members do not dial the voter entries", i+1)
		}
		t.Logf("node %d: inter-broker from %v, etcd client from %v, etcd peers from %v", i+1, p.kafka.Sources(), p.client.Sources(), p.peer.Sources())
	}
}

// TestSourceBindRefusesAnAddressNotOfThisMachine: with
// inter.broker.source.bind.enable a node whose inter-broker listener is
// advertised at a host name, or at an IP this machine does not have,
// does not join: StartCluster fails before anything is dialed, naming
// the setting and the listener.
func TestSourceBindRefusesAnAddressNotOfThisMachine(t *testing.T) {
	for _, tt := range []struct {
		advertise, want string
	}{
		{"broker1.example.com:9092", "inter.broker.source.bind.enable=true binds the connections this broker opens to other brokers and to etcd to the host of its advertised inter-broker listener PLAINTEXT (broker1.example.com), which must then be an IP address of this machine"},
		{"203.0.113.7:9092", "inter.broker.source.bind.enable=true: this broker dials other nodes from 203.0.113.7, the host of its advertised inter-broker listener PLAINTEXT, but cannot bind it"},
	} {
		t.Run(tt.advertise, func(t *testing.T) {
			mgr, err := tlog.OpenManager(t.TempDir(), tlog.Options{ReplicatedLeadership: true})
			if err != nil {
				t.Fatal(err)
			}
			defer mgr.Close()
			ctrl := freeControllerAddr(t, "127.0.0.2")
			h, p, _ := net.SplitHostPort(ctrl)
			port, _ := strconv.Atoi(p)
			cc := DefaultClusterConfig()
			cc.NodeID, cc.Voters, cc.ControllerListen = 1, []Voter{{ID: 1, Host: h, Port: uint16(port)}}, ctrl
			cc.InterBrokerSourceBind = true
			cfg := DefaultConfig()
			cfg.Cluster = &ClusterOptions{Config: cc, UnsafeNoFsync: true}
			srv, err := New(mgr, cfg, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer srv.Close()
			if _, err := srv.ListenOn(Listener{Name: DefaultListenerName, Protocol: auth.Plaintext, Addr: "127.0.0.2:0", Advertise: tt.advertise}); err != nil {
				t.Fatal(err)
			}
			err = srv.StartCluster(context.Background())
			if err == nil || !errors.Is(err, ErrClusterConfig) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("StartCluster: %v; want an error saying %q", err, tt.want)
			}
			// Nothing was started: the controller port is free.
			if ln, err := net.Listen("tcp", ctrl); err != nil {
				t.Fatalf("the controller port is taken after a refused start: %v", err)
			} else {
				ln.Close()
			}
		})
	}
}

// TestInterBrokerDialsFromLocalAddr: the fast fencer's dialer, plain and
// TLS, and a franz-go client made from InterBrokerClient.KgoOpts dial
// from InterBrokerClient.LocalAddr when it is set (StartCluster sets it
// with inter.broker.source.bind.enable), and from the kernel's choice
// (127.0.0.1 towards loopback) when it is not.
func TestInterBrokerDialsFromLocalAddr(t *testing.T) {
	tlsConf := func() *tls.Config { return &tls.Config{InsecureSkipVerify: true} }
	dialers := map[string]func(ib InterBrokerClient, addr string){
		"fencer": func(ib InterBrokerClient, addr string) {
			if c, err := interBrokerDialer(ib.TLS, ib.LocalAddr)(testContext(t), addr); err == nil {
				c.Close()
			}
		},
		"kgo": func(ib InterBrokerClient, addr string) {
			cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(addr), kgo.RequestRetries(0)}, ib.KgoOpts()...)...)
			if err != nil {
				t.Fatal(err)
			}
			defer cl.Close()
			ctx, cancel := context.WithTimeout(testContext(t), 2*time.Second)
			defer cancel()
			_ = cl.Ping(ctx)
		},
	}
	for name, dial := range dialers {
		for _, withTLS := range []bool{false, true} {
			for _, local := range []*net.TCPAddr{{IP: net.ParseIP("127.0.0.5")}, nil} {
				leader := testnet.ListenOnce(t, "127.0.0.3")
				ib := InterBrokerClient{LocalAddr: local}
				if withTLS {
					ib.TLS = tlsConf
				}
				dial(ib, leader.Addr())
				got := leader.Source()
				want := "127.0.0.1"
				if local != nil {
					want = local.IP.String()
				}
				if got != want {
					t.Errorf("%s, TLS %v, LocalAddr %v: dialed from %s, want %s", name, withTLS, local, got, want)
				}
			}
		}
	}
}
