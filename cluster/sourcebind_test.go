package cluster

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/features"
	"go.uber.org/zap"
	"google.golang.org/grpc"

	"github.com/tributary-io/tributary/internal/testnet"
)

// TestEmbedConfigBindsListenerAdvertisesVoterEntry: a member whose
// controller listener differs from its voter entry (a proxy in front)
// binds the listener and its port + 1, and advertises the voter entry
// and its port + 1, where the other voters and every broker dial it; a
// member whose listener has its entry's port keeps advertising its own
// client listener.
func TestEmbedConfigBindsListenerAdvertisesVoterEntry(t *testing.T) {
	voters := []Voter{{NodeID: 1, Host: "127.0.0.2", Port: 9093}, {NodeID: 2, Host: "127.0.0.3", Port: 9093}}
	for _, tt := range []struct {
		name                                       string
		listen, clientListen                       string
		listenPeer, advPeer, listenClient, advClnt string
	}{
		{"behind a proxy", "127.0.0.2:19093", "", "127.0.0.2:19093", "127.0.0.2:9093", "127.0.0.2:19094", "127.0.0.2:9094"},
		{"every interface behind a proxy", "0.0.0.0:19093", "", "0.0.0.0:19093", "127.0.0.2:9093", "0.0.0.0:19094", "127.0.0.2:9094"},
		{"at its entry", "127.0.0.2:9093", "", "127.0.0.2:9093", "127.0.0.2:9093", "127.0.0.2:9094", "127.0.0.2:9094"},
		{"at its entry with a client listener", "127.0.0.2:9093", "127.0.0.2:2379", "127.0.0.2:9093", "127.0.0.2:9093", "127.0.0.2:2379", "127.0.0.2:2379"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := EmbedConfig{NodeID: 1, DataDir: t.TempDir(), ControllerListen: tt.listen, ClientListen: tt.clientListen, Voters: voters}
			cfg, client, err := c.etcdConfig(nil)
			if err != nil {
				t.Fatal(err)
			}
			host := func(us []url.URL) string {
				if len(us) != 1 {
					t.Fatalf("%d URLs, want 1", len(us))
				}
				return us[0].Host
			}
			if got := host(cfg.ListenPeerUrls); got != tt.listenPeer {
				t.Errorf("listen-peer-urls %s, want %s", got, tt.listenPeer)
			}
			if got := host(cfg.AdvertisePeerUrls); got != tt.advPeer {
				t.Errorf("advertise-peer-urls %s, want %s", got, tt.advPeer)
			}
			if got := host(cfg.ListenClientUrls); got != tt.listenClient {
				t.Errorf("listen-client-urls %s, want %s", got, tt.listenClient)
			}
			if got := host(cfg.AdvertiseClientUrls); got != tt.advClnt || client != "http://"+tt.advClnt {
				t.Errorf("advertise-client-urls %s (client URL %s), want %s", got, client, tt.advClnt)
			}
			if want := "1=http://127.0.0.2:9093,2=http://127.0.0.3:9093"; cfg.InitialCluster != want {
				t.Errorf("initial cluster %s, want %s", cfg.InitialCluster, want)
			}
		})
	}
}

// TestEmbedConfigBindPeerSource: BindPeerSource turns on etcd's
// SetMemberLocalAddr, which binds the voter entry's host as the source
// of the member's peer connections when it is an IP literal that is
// neither loopback nor unspecified, and nothing otherwise (etcd v3.7's
// rule, which PeerSourceBindable states).
func TestEmbedConfigBindPeerSource(t *testing.T) {
	for _, tt := range []struct {
		name  string
		host  string
		bind  bool
		local string // what etcd binds; "" the kernel's choice
	}{
		{"off", "10.0.0.5", false, ""},
		{"on", "10.0.0.5", true, "10.0.0.5"},
		{"on, IPv6", "fd00::5", true, "fd00::5"},
		{"on, loopback", "127.0.0.2", true, ""},
		{"on, host name", "voter1.example.com", true, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			voters := []Voter{{NodeID: 1, Host: tt.host, Port: 9093}}
			c := EmbedConfig{NodeID: 1, DataDir: t.TempDir(), ControllerListen: "127.0.0.2:9093", Voters: voters, BindPeerSource: tt.bind}
			cfg, _, err := c.etcdConfig(nil)
			if err != nil {
				t.Fatal(err)
			}
			if got := cfg.ServerFeatureGate.Enabled(features.SetMemberLocalAddr); got != tt.bind {
				t.Errorf("SetMemberLocalAddr %v, want %v", got, tt.bind)
			}
			if err := cfg.Validate(); err != nil { // sets up etcd's logger, which InferLocalAddr uses
				t.Fatal(err)
			}
			if got := cfg.InferLocalAddr(); got != tt.local {
				t.Errorf("etcd's member local address %q, want %q", got, tt.local)
			}
			if got := PeerSourceBindable(tt.host); tt.bind && got != (tt.local != "") {
				t.Errorf("PeerSourceBindable(%s) = %v, want %v", tt.host, got, tt.local != "")
			}
		})
	}
}

// TestEtcdSourceDialOption: an etcd client with EtcdSourceDialOption
// dials its endpoints from the given address, not the kernel's choice
// (127.0.0.1 towards any loopback address).
func TestEtcdSourceDialOption(t *testing.T) {
	leader := testnet.ListenOnce(t, "127.0.0.3")
	cl, err := clientv3.New(clientv3.Config{
		Endpoints: []string{"http://" + leader.Addr()}, DialTimeout: time.Second, Logger: zap.NewNop(),
		DialOptions: []grpc.DialOption{EtcdSourceDialOption(&net.TCPAddr{IP: net.ParseIP("127.0.0.5")})},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	got := make(chan struct{})
	go func() { // dials; fails on the closed connection until ctx ends
		defer close(got)
		_, _ = cl.Get(ctx, "k")
	}()
	defer func() { cancel(); <-got }()
	if ip := leader.Source(); ip != "127.0.0.5" {
		t.Fatalf("the client dialed from %s, want 127.0.0.5", ip)
	}
}

// nonLoopbackIPv4 is an IPv4 address of this machine that is neither
// loopback nor link-local, or "" when it has none.
func nonLoopbackIPv4(t *testing.T) string {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil && !n.IP.IsLoopback() && !n.IP.IsLinkLocalUnicast() {
			return n.IP.String()
		}
	}
	return ""
}

// TestEmbeddedPeerTrafficFromVoterEntryHost: a member with
// BindPeerSource whose voter entry is a non-loopback IP of this machine
// dials the other voters from that IP, even towards a loopback address
// (where the kernel would pick 127.0.0.1); without it, from the kernel's
// choice. The other voter is a listener that records who dials it: the
// member never forms a quorum, and is stopped once it has dialed.
func TestEmbeddedPeerTrafficFromVoterEntryHost(t *testing.T) {
	ip := nonLoopbackIPv4(t)
	if ip == "" {
		t.Skip("this machine has no non-loopback IPv4 address: etcd binds no peer source on loopback")
	}
	for _, bind := range []bool{true, false} {
		t.Run(fmt.Sprintf("bind=%v", bind), func(t *testing.T) {
			peer, err := net.Listen("tcp", "127.0.0.3:0")
			if err != nil {
				t.Fatal(err)
			}
			defer peer.Close()
			from := make(chan string, 16)
			go func() {
				for {
					c, err := peer.Accept()
					if err != nil {
						return
					}
					select {
					case from <- c.RemoteAddr().(*net.TCPAddr).IP.String():
					default:
					}
					c.Close()
				}
			}()
			self := Voter{NodeID: 1, Host: ip, Port: freePortPair(t, ip)}
			other := Voter{NodeID: 2, Host: "127.0.0.3", Port: peer.Addr().(*net.TCPAddr).Port}
			c := EmbedConfig{NodeID: 1, DataDir: t.TempDir(), ControllerListen: self.Addr(), Voters: []Voter{self, other},
				StartTimeout: 20 * time.Second, Logger: testLogger(t), UnsafeNoFsync: true, BindPeerSource: bind}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() {
				m, err := StartEmbedded(ctx, c)
				if m != nil {
					m.Close()
				}
				done <- err
			}()
			defer func() { cancel(); <-done }()
			want := "127.0.0.1"
			if bind {
				want = ip
			}
			select {
			case got := <-from:
				if got != want {
					t.Fatalf("the member dialed its peer from %s, want %s", got, want)
				}
			case err := <-done:
				done <- err
				t.Fatalf("the member stopped before dialing its peer: %v", err)
			case <-time.After(15 * time.Second):
				t.Fatal("the member never dialed its peer")
			}
		})
	}
}
