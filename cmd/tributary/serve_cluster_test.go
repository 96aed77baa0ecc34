package main

import (
	"net"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	tlog "github.com/tributary-io/tributary/log"
	"github.com/tributary-io/tributary/server"
)

// clusterNode1 is issue 14's command line for node 1 of three on
// 127.0.0.2-4, as the README and make cluster give it.
var clusterNode1 = []string{"--node-id", "1", "--data-dir", "d1", "--listen", "127.0.0.2:9092", "--metrics-listen", "127.0.0.2:9644",
	"--controller-listen", "127.0.0.2:9093", "--controller-quorum-voters", "1@127.0.0.2:9093,2@127.0.0.3:9093,3@127.0.0.4:9093"}

func noEnv(string) (string, bool) { return "", false }

// TestServeClusterFlagsParse: the cluster's command line parses into the
// settings the cluster's wiring reads.
func TestServeClusterFlagsParse(t *testing.T) {
	o := &serveOptions{}
	cmd := newServeCmdFor(o)
	if err := cmd.ParseFlags(clusterNode1); err != nil {
		t.Fatal(err)
	}
	settings, _, err := brokerSettings("", noEnv, o.overrides.list)
	if err != nil {
		t.Fatal(err)
	}
	want := server.DefaultClusterConfig()
	want.NodeID = 1
	want.ControllerListen = "127.0.0.2:9093"
	want.Voters = []server.Voter{{ID: 1, Host: "127.0.0.2", Port: 9093}, {ID: 2, Host: "127.0.0.3", Port: 9093}, {ID: 3, Host: "127.0.0.4", Port: 9093}}
	if !reflect.DeepEqual(settings.Cluster, want) {
		t.Fatalf("parsed %+v\nwant   %+v", settings.Cluster, want)
	}
	if o.dataDir != "d1" || o.listen != "127.0.0.2:9092" || o.metricsListen != "127.0.0.2:9644" {
		t.Errorf("serve's own flags: %+v", o)
	}
	c := settings.Cluster
	if !c.Enabled() || !c.IsVoter() || c.ClientListen() != "127.0.0.2:9094" ||
		strings.Join(c.StoreEndpoints(), ",") != "127.0.0.2:9094,127.0.0.3:9094,127.0.0.4:9094" {
		t.Errorf("derived: voter %v, client %s, endpoints %v", c.IsVoter(), c.ClientListen(), c.StoreEndpoints())
	}
}

// TestServeClusterVoterBehindProxy: a voter may bind its controller
// listener at another address than its voter entry, which the others
// dial (a proxy in front), and dial every other node from its
// advertised inter-broker IP; --print-config says both.
func TestServeClusterVoterBehindProxy(t *testing.T) {
	m, out := printConfig(t, "--node-id", "1", "--listen", "127.0.0.2:19092", "--advertise", "127.0.0.2:9092", "--metrics-listen", "127.0.0.2:9644",
		"--controller-listen", "127.0.0.2:19093", "--controller-quorum-voters", "1@127.0.0.2:9093,2@127.0.0.3:9093,3@127.0.0.4:9093",
		"--inter.broker.source.bind.enable", "true")
	if m["controller.listener"] != "127.0.0.2:19093" || m["inter.broker.source.bind.enable"] != "true" {
		t.Errorf("settings: %v", m)
	}
	for _, want := range []string{
		"# cluster: node 1, a voter of 3: etcd peers on 127.0.0.2:19093, etcd clients on 127.0.0.2:19094; dialed at its voter entry 127.0.0.2:9093\n",
		"# cluster: metadata store endpoints 127.0.0.2:9094,127.0.0.3:9094,127.0.0.4:9094; inter-broker listener PLAINTEXT",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("--print-config lacks %q:\n%s", want, out)
		}
	}
}

// TestServeClusterPrintConfig: --print-config shows the cluster settings
// as given and what they resolve to, and reads back; the environment
// sets them as TRIBUTARY_*.
func TestServeClusterPrintConfig(t *testing.T) {
	m, out := printConfig(t, append(slicesClone(clusterNode1), "--broker.rack", "r1", "--set", "min.insync.replicas=2", "--default.replication.factor", "3")...)
	for name, want := range map[string]string{
		"node.id": "1", "controller.listener": "127.0.0.2:9093", "controller.quorum.voters": "1@127.0.0.2:9093,2@127.0.0.3:9093,3@127.0.0.4:9093",
		"broker.rack": "r1", "min.insync.replicas": "2", "default.replication.factor": "3", "offsets.topic.replication.factor": "3",
		"replica.lag.time.max.ms": "30000", "broker.session.timeout.ms": "9000", "metadata.store": "",
	} {
		if m[name] != want {
			t.Errorf("%s=%q, want %q", name, m[name], want)
		}
	}
	for _, want := range []string{
		"# cluster: node 1, a voter of 3: etcd peers on 127.0.0.2:9093, etcd clients on 127.0.0.2:9094\n",
		"# cluster: metadata store endpoints 127.0.0.2:9094,127.0.0.3:9094,127.0.0.4:9094; inter-broker listener PLAINTEXT",
		"# from flag\nnode.id=1\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("--print-config lacks %q:\n%s", want, out)
		}
	}
	// What it printed starts the same node again.
	props := filepath.Join(t.TempDir(), "node1.properties")
	writeFile(t, props, out)
	m2, _ := printConfig(t, "--config", props, "--listen", "127.0.0.2:9092", "--metrics-listen", "127.0.0.2:9644")
	if !reflect.DeepEqual(m, m2) {
		t.Errorf("--print-config does not read back")
	}

	_, out = printConfig(t)
	if !strings.Contains(out, "# cluster: off (a single broker") {
		t.Errorf("single broker not shown:\n%s", out)
	}

	t.Setenv("TRIBUTARY_NODE_ID", "2")
	t.Setenv("TRIBUTARY_CONTROLLER_LISTENER", "127.0.0.3:9093")
	t.Setenv("TRIBUTARY_CONTROLLER_QUORUM_VOTERS", "1@127.0.0.2:9093,2@127.0.0.3:9093,3@127.0.0.4:9093")
	m, out = printConfig(t, "--listen", "127.0.0.3:9092", "--metrics-listen", "127.0.0.3:9644")
	if m["node.id"] != "2" || !strings.Contains(out, "# from env TRIBUTARY_NODE_ID\n") || !strings.Contains(out, "node 2, a voter of 3") {
		t.Errorf("environment not taken:\n%s", out)
	}

}

func slicesClone(s []string) []string { return append([]string(nil), s...) }

// TestServeClusterRefusesASingleBrokersDataDir: a data dir holding a
// single broker's topics (no meta/cluster-id) does not join a cluster,
// whose reconciler would drop those topics: serve fails in one line and
// the topic is still there.
func TestServeClusterRefusesASingleBrokersDataDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "d1")
	m, err := tlog.OpenManager(dir, tlog.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.CreateTopic("kept", 1, nil); err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	ctrl := freeLoopbackAddr(t)
	r := runCLI(t, "", "serve", "--data-dir", dir, "--node-id", "1", "--listen", "127.0.0.1:0", "--metrics-listen", "",
		"--controller-listen", ctrl, "--controller-quorum-voters", "1@"+ctrl)
	if r.code != 1 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	checkOneLineError(t, r.stderr, "the data dir belongs to another cluster")
	m, err = tlog.OpenManager(dir, tlog.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if _, ok := m.Topic("kept"); !ok {
		t.Error("the single broker's topic is gone")
	}
}

// freeLoopbackAddr is a 127.0.0.1 port free now whose next port is free
// too (an embedded etcd member's client port is its controller port + 1).
func freeLoopbackAddr(t *testing.T) string {
	t.Helper()
	for range 50 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().(*net.TCPAddr)
		next, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(addr.Port+1)))
		ln.Close()
		if err == nil {
			next.Close()
			return addr.String()
		}
	}
	t.Fatal("no two consecutive free ports")
	return ""
}

// TestServeClusterErrors: each bad combination of the cluster's flags
// fails with an error saying what is wrong, in one line.
func TestServeClusterErrors(t *testing.T) {
	voters := "1@127.0.0.2:9093,2@127.0.0.3:9093,3@127.0.0.4:9093"
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--controller-listen", "127.0.0.2:9093", "--controller-quorum-voters", voters},
			"a cluster node needs node.id (--node-id)"},
		{[]string{"--node-id", "4", "--controller-listen", "127.0.0.5:9093", "--controller-quorum-voters", voters},
			"node.id=4 is not in controller.quorum.voters"},
		{[]string{"--node-id", "1", "--controller-listen", "127.0.0.2:9093", "--controller-quorum-voters", "1@127.0.0.2:9093,1@127.0.0.3:9093"},
			"node id 1 is named twice"},
		{[]string{"--node-id", "1", "--controller-listen", "127.0.0.2:9093", "--controller-quorum-voters", "1@127.0.0.2:9093,2@127.0.0.2:9093"},
			"voters 1 and 2 both have the address 127.0.0.2:9093"},
		{[]string{"--node-id", "1", "--controller-listen", "127.0.0.2:9093", "--controller-quorum-voters", "1@127.0.0.2:90930"},
			`bad port "90930"`},
		{[]string{"--node-id", "1", "--controller-quorum-voters", voters, "--metadata.store", "etcd://127.0.0.9:2379"},
			"controller.quorum.voters and metadata.store are exclusive"},
		{[]string{"--node-id", "1", "--controller-listen", "127.0.0.2:9092", "--controller-quorum-voters", "1@127.0.0.2:9092", "--listen", "127.0.0.2:9092"},
			"controller.listener=127.0.0.2:9092 takes the address of listener PLAINTEXT"},
		{[]string{"--node-id", "4", "--controller-quorum-voters", voters, "--inter.broker.listener.name", "PLAINTEXT", "--security.inter.broker.protocol", "PLAINTEXT"},
			"only one of inter.broker.listener.name and security.inter.broker.protocol may be set"},
		{[]string{"--node-id", "4", "--controller-quorum-voters", voters, "--inter.broker.listener.name", "INTERNAL"},
			"the inter-broker listener INTERNAL is not among the listeners (PLAINTEXT)"},
		{[]string{"--controller-listen", "127.0.0.2:9093"}, "controller.listener is set without controller.quorum.voters"},
		{[]string{"--default.replication.factor", "3"}, "default.replication.factor=3 needs a cluster"},
		{[]string{"--node-id", "4", "--controller-quorum-voters", voters, "--inter.broker.source.bind.enable", "true", "--listen", "127.0.0.5:9092", "--advertise", "broker4.example.com:9092"},
			"inter.broker.source.bind.enable=true binds the connections this broker opens to other brokers and to etcd to the host of its advertised inter-broker listener PLAINTEXT (broker4.example.com), which must then be an IP address of this machine"},
	} {
		r := runCLI(t, "", append([]string{"serve", "--print-config", "--metrics-listen", ""}, tt.args...)...)
		if r.code != 1 {
			t.Errorf("%v: exit %d, want 1: %s", tt.args, r.code, r.stdout)
			continue
		}
		checkOneLineError(t, r.stderr, tt.want)
	}
}

// TestServeClusterWarns: min.insync.replicas above
// default.replication.factor is allowed, with a warning, as Kafka allows
// it (its acks=all produces fail with NOT_ENOUGH_REPLICAS).
func TestServeClusterWarns(t *testing.T) {
	r := runCLI(t, "", append([]string{"serve", "--print-config", "--min.insync.replicas", "2"}, clusterNode1...)...)
	if r.code != 0 || !strings.Contains(r.stderr, "tributary: warning: min.insync.replicas=2 is above default.replication.factor=1") {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
}
