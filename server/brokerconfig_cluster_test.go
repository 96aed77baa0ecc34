package server

import (
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tributary-io/tributary/auth"
	"github.com/tributary-io/tributary/cluster"
)

// threeVoters is the quorum of the README's and make cluster's nodes.
const threeVoters = "1@127.0.0.2:9093,2@127.0.0.3:9093,3@127.0.0.4:9093"

// clusterSettings applies lines (name=value) and validates them.
func clusterSettings(t *testing.T, lines ...string) (BrokerSettings, error) {
	t.Helper()
	b := DefaultBrokerSettings()
	if err := b.ReadProperties(strings.NewReader(strings.Join(lines, "\n")), "test"); err != nil {
		return b, err
	}
	return b, b.Validate()
}

// TestClusterSettingsDefaults: without any cluster setting the broker is
// the single broker it was, with Kafka's defaults for the rest.
func TestClusterSettingsDefaults(t *testing.T) {
	b, err := clusterSettings(t)
	if err != nil {
		t.Fatal(err)
	}
	c := b.Cluster
	if c.Enabled() || c.IsVoter() || c.NodeID != -1 || c.ClientListen() != "" || len(c.StoreEndpoints()) != 0 {
		t.Fatalf("defaults ask for a cluster: %+v", c)
	}
	m := b.Map()
	for name, want := range map[string]string{
		"node.id": "-1", "controller.quorum.voters": "", "controller.listener": "", "metadata.store": "",
		"default.replication.factor": "1", "min.insync.replicas": "1", "offsets.topic.replication.factor": "3",
		"replica.lag.time.max.ms": "30000", "unclean.leader.election.enable": "false", "broker.rack": "",
		"broker.session.timeout.ms": "9000", "broker.heartbeat.interval.ms": "2000", "broker.fast.fencing.enable": "true",
		"inter.broker.listener.name": "", "security.inter.broker.protocol": "",
		"replica.fetch.max.bytes": "1048576", "replica.fetch.wait.max.ms": "500", "replica.fetch.min.bytes": "1",
		"num.replica.fetchers": "1", "auto.leader.rebalance.enable": "true",
		"leader.imbalance.check.interval.seconds": "300", "leader.imbalance.per.broker.percentage": "10",
	} {
		if got, ok := m[name]; !ok || got != want {
			t.Errorf("%s = %q (listed %v), want Kafka's default %q", name, got, ok, want)
		}
	}
	if len(b.Ignored) != 0 {
		t.Errorf("defaults noted as ignored: %v", b.Ignored)
	}
}

// TestClusterSettingsParse: every cluster setting, good and bad values,
// one at a time (a bad value is refused when read, or, for the bounds
// between two settings, by Validate).
func TestClusterSettingsParse(t *testing.T) {
	for _, tt := range []struct {
		line string
		want string // error text; "" for none
		got  func(c ClusterConfig) bool
	}{
		{"node.id=7", "", func(c ClusterConfig) bool { return c.NodeID == 7 }},
		{"node.id=-1", "", func(c ClusterConfig) bool { return c.NodeID == -1 }},
		{"node.id=-2", "must be >= 0", nil},
		{"node.id=one", "node.id", nil},
		{"node.id=4294967296", "out of range", nil},
		{"process.roles=broker", "", func(c ClusterConfig) bool { return c.ProcessRoles == "broker" }},
		{"process.roles=broker,controller", "", func(c ClusterConfig) bool { return c.ProcessRoles == "broker,controller" }},
		{"process.roles=controller", "a controller-only node is not served", nil},
		{"process.roles=broker,admin", `unknown role "admin"`, nil},
		{"controller.quorum.voters=" + threeVoters, "", func(c ClusterConfig) bool { return FormatVoters(c.Voters) == threeVoters }},
		{"controller.quorum.voters= 1@h1:9093 , 2@[::1]:9093 ", "", func(c ClusterConfig) bool {
			return reflect.DeepEqual(c.Voters, []Voter{{1, "h1", 9093}, {2, "::1", 9093}}) && c.Voters[1].Addr() == "[::1]:9093"
		}},
		{"controller.quorum.voters=1@h:9093,1@g:9093", "node id 1 is named twice", nil},
		{"controller.quorum.voters=1@h:9093,2@h:9093", "voters 1 and 2 both have the address h:9093", nil},
		{"controller.quorum.voters=h:9093", "want id@host:port", nil},
		{"controller.quorum.voters=x@h:9093", `the id "x" is not a node id`, nil},
		{"controller.quorum.voters=-1@h:9093", "is not a node id", nil},
		{"controller.quorum.voters=1@h", "want host:port", nil},
		{"controller.quorum.voters=1@h:0", `bad port "0"`, nil},
		{"controller.quorum.voters=1@h:65536", `bad port "65536"`, nil},
		{"controller.quorum.voters=1@h:http", `bad port "http"`, nil},
		{"controller.quorum.voters=1@:9093", "cannot be empty or unspecified", nil},
		{"controller.quorum.voters=1@0.0.0.0:9093", "cannot be empty or unspecified", nil},
		{"controller.listener=127.0.0.2:9093", "", func(c ClusterConfig) bool { return c.ControllerListen == "127.0.0.2:9093" }},
		{"controller.listener=127.0.0.2", "want host:port", nil},
		{"controller.listener=127.0.0.2:0", `bad port "0"`, nil},
		{"controller.client.listener=:2379", "", func(c ClusterConfig) bool { return c.ControllerClientListen == ":2379" }},
		{"controller.client.listener=:99999", `bad port "99999"`, nil},
		{"controller.quorum.initial.state=existing", "", func(c ClusterConfig) bool { return c.InitialState == cluster.InitialStateExisting }},
		{"controller.quorum.initial.state=new", "", func(c ClusterConfig) bool { return c.InitialState == cluster.InitialStateNew }},
		{"controller.quorum.initial.state=join", "want new or existing", nil},
		{"controller.quorum.election.timeout.ms=500", "", func(c ClusterConfig) bool { return c.QuorumElectionTimeout == 500*time.Millisecond }},
		{"controller.quorum.election.timeout.ms=10", "", func(c ClusterConfig) bool { return c.QuorumElectionTimeout == 10*time.Millisecond }},
		{"controller.quorum.election.timeout.ms=9", "controller.quorum.election.timeout.ms=\"9\": election timeout 9ms is below 10ms: etcd needs a heartbeat", nil},
		{"controller.quorum.election.timeout.ms=0", "is below 10ms", nil},
		{"controller.quorum.election.timeout.ms=50001", "above etcd's limit of 50s", nil},
		{"controller.quorum.election.timeout.ms=-1", "out of range", nil},
		{"controller.quorum.election.timeout.ms=1s", "controller.quorum.election.timeout.ms", nil},
		{"metadata.store=etcd://e1:2379,e2:2379", "", func(c ClusterConfig) bool {
			return slices.Equal(c.MetadataStore, []string{"e1:2379", "e2:2379"})
		}},
		{"metadata.store=http://e1:2379", "want etcd://host:port", nil},
		{"metadata.store=etcd://e1", "want host:port", nil},
		{"metadata.store=etcd://e1:2379,e1:2379", "named twice", nil},
		{"metadata.store=etcd://:2379", "cannot be empty", nil},
		{"default.replication.factor=0", "must be >= 1", nil},
		{"min.insync.replicas=0", "must be >= 1", nil},
		{"min.insync.replicas=-1", "must be >= 1", nil},
		{"offsets.topic.replication.factor=0", "must be >= 1", nil},
		{"offsets.topic.replication.factor=1", "", func(c ClusterConfig) bool { return c.OffsetsTopicReplicationFactor == 1 }},
		{"replica.lag.time.max.ms=0", "must be >= 1", nil},
		{"replica.lag.time.max.ms=10000", "", func(c ClusterConfig) bool { return c.ReplicaLagTimeMax == 10*time.Second }},
		{"unclean.leader.election.enable=maybe", "true or false", nil},
		{"broker.rack=eu-west-1a", "", func(c ClusterConfig) bool { return c.Rack == "eu-west-1a" }},
		{"broker.session.timeout.ms=0", "must be >= 1", nil},
		{"broker.session.timeout.ms=18000", "", func(c ClusterConfig) bool { return c.SessionTimeout == 18*time.Second }},
		{"broker.heartbeat.interval.ms=-5", "out of range", nil},
		{"broker.heartbeat.interval.ms=9000", "broker.heartbeat.interval.ms=9000 must be below broker.session.timeout.ms=9000", nil},
		{"inter.broker.listener.name=internal", "", func(c ClusterConfig) bool { return c.InterBrokerListenerName == "INTERNAL" }},
		{"security.inter.broker.protocol=PLAINTEXT", "", func(c ClusterConfig) bool { return c.InterBrokerProtocol == "PLAINTEXT" }},
		{"security.inter.broker.protocol=TLS", "security.inter.broker.protocol", nil},
		{"replica.fetch.max.bytes=-1", "must be >= 0", nil},
		{"replica.fetch.max.bytes=10485760", "", func(c ClusterConfig) bool { return c.ReplicaFetchMaxBytes == 10<<20 }},
		{"replica.fetch.min.bytes=-1", "must be >= 0", nil},
		{"replica.fetch.wait.max.ms=100", "", func(c ClusterConfig) bool { return c.ReplicaFetchWaitMax == 100*time.Millisecond }},
		{"replica.fetch.wait.max.ms=30001", "replica.fetch.wait.max.ms=30001 must be <= replica.lag.time.max.ms=30000", nil},
		{"num.replica.fetchers=0", "must be >= 1", nil},
		{"num.replica.fetchers=4", "", func(c ClusterConfig) bool { return c.NumReplicaFetchers == 4 }},
		{"auto.leader.rebalance.enable=false", "", func(c ClusterConfig) bool { return !c.AutoLeaderRebalanceEnable }},
		{"broker.fast.fencing.enable=false", "", func(c ClusterConfig) bool { return !c.FastFencing }},
		{"broker.fast.fencing.enable=maybe", "broker.fast.fencing.enable", nil},
		{"inter.broker.source.bind.enable=true", "", func(c ClusterConfig) bool { return c.InterBrokerSourceBind }},
		{"inter.broker.source.bind.enable=yes", "inter.broker.source.bind.enable", nil},
		{"auto.leader.rebalance.enable=sometimes", "auto.leader.rebalance.enable", nil},
		{"leader.imbalance.check.interval.seconds=5", "", func(c ClusterConfig) bool { return c.LeaderImbalanceCheckInterval == 5*time.Second }},
		{"leader.imbalance.check.interval.seconds=0", "must be >= 1", nil},
		{"leader.imbalance.per.broker.percentage=0", "", func(c ClusterConfig) bool { return c.LeaderImbalancePerBrokerPercentage == 0 }},
		{"leader.imbalance.per.broker.percentage=-1", "must be >= 0", nil},
		{"leader.imbalance.per.broker.percentage=101", "must be <= 100", nil},
	} {
		b := DefaultBrokerSettings()
		err := b.ReadProperties(strings.NewReader(tt.line), "test")
		if err == nil && tt.want != "" {
			err = b.Validate()
		}
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%s: %v", tt.line, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("%s: %v, want an error saying %q", tt.line, err, tt.want)
		case tt.got != nil && !tt.got(b.Cluster):
			t.Errorf("%s: parsed to %+v", tt.line, b.Cluster)
		}
		if tt.want == "" && err == nil {
			// What Map shows reads back to the same settings.
			again := DefaultBrokerSettings()
			if err := again.ReadProperties(strings.NewReader(b.Properties()), "again"); err != nil {
				t.Errorf("%s: its properties do not read back: %v", tt.line, err)
			} else if !reflect.DeepEqual(again.Cluster, b.Cluster) {
				t.Errorf("%s: read back as %+v, want %+v", tt.line, again.Cluster, b.Cluster)
			}
		}
	}
}

// TestClusterSettingsCombinations: the settings checked together, as
// they start a node of a cluster.
func TestClusterSettingsCombinations(t *testing.T) {
	voters := "controller.quorum.voters=" + threeVoters
	for _, tt := range []struct {
		name  string
		lines []string
		want  string // error text; "" for none
		check func(c ClusterConfig) bool
	}{
		{"voter", []string{"node.id=1", voters, "controller.listener=127.0.0.2:9093"}, "", func(c ClusterConfig) bool {
			return c.Enabled() && c.IsVoter() && c.ClientListen() == "127.0.0.2:9094" &&
				slices.Equal(c.StoreEndpoints(), []string{"127.0.0.2:9094", "127.0.0.3:9094", "127.0.0.4:9094"})
		}},
		{"voter binding every interface", []string{"node.id=2", voters, "controller.listener=0.0.0.0:9093"}, "", func(c ClusterConfig) bool {
			return c.IsVoter() && c.ClientListen() == "0.0.0.0:9094"
		}},
		{"voter with a client listener", []string{"node.id=3", voters, "controller.listener=:9093", "controller.client.listener=:2379"}, "", func(c ClusterConfig) bool {
			return c.ClientListen() == ":2379" && slices.Equal(c.StoreEndpoints(), []string{"127.0.0.2:9094", "127.0.0.3:9094", "127.0.0.4:2379"})
		}},
		{"voter by Kafka's CONTROLLER listener", []string{"node.id=1", voters, "listeners=PLAINTEXT://127.0.0.2:9092,CONTROLLER://127.0.0.2:9093",
			"listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT"}, "", func(c ClusterConfig) bool {
			return c.IsVoter() && c.ControllerListen == "127.0.0.2:9093"
		}},
		{"voter by node.id alone", []string{"node.id=1", voters}, "node 1 is a voter (1@127.0.0.2:9093): set controller.listener (--controller-listen 127.0.0.2:9093)", nil},
		{"voter by process.roles", []string{"node.id=1", voters, "process.roles=broker,controller"}, "set controller.listener", nil},
		{"broker joining the voters", []string{"node.id=4", voters}, "", func(c ClusterConfig) bool {
			return c.Enabled() && !c.IsVoter() && c.ClientListen() == "" && len(c.StoreEndpoints()) == 3
		}},
		{"broker-only role with a voter's id", []string{"node.id=2", voters, "process.roles=broker"}, "a broker-only node must not be a voter", nil},
		{"no node.id", []string{voters, "controller.listener=127.0.0.2:9093"}, "a cluster node needs node.id (--node-id): its id among the brokers (a voter's is its id in controller.quorum.voters: 1, 2, 3)", nil},
		{"no node.id with a store", []string{"metadata.store=etcd://e:2379"}, "a cluster node needs node.id", nil},
		{"node.id not among the voters", []string{"node.id=4", voters, "controller.listener=127.0.0.5:9093"},
			"node.id=4 is not in controller.quorum.voters (" + threeVoters + "): a node with a controller listener is a voter", nil},
		// The voter entry is dialed, the listener bound (a proxy or NAT
		// in front): the brokers still dial each voter entry's port + 1.
		{"controller listener behind its voter entry", []string{"node.id=1", voters, "controller.listener=127.0.0.3:9193"}, "", func(c ClusterConfig) bool {
			return c.IsVoter() && c.ControllerListen == "127.0.0.3:9193" && c.ClientListen() == "127.0.0.3:9194" &&
				slices.Equal(c.StoreEndpoints(), []string{"127.0.0.2:9094", "127.0.0.3:9094", "127.0.0.4:9094"})
		}},
		{"controller listener on another port", []string{"node.id=1", voters, "controller.listener=127.0.0.2:9193"}, "", func(c ClusterConfig) bool {
			return c.ClientListen() == "127.0.0.2:9194" && c.StoreEndpoints()[0] == "127.0.0.2:9094"
		}},
		{"client listener on the controller's address", []string{"node.id=1", voters, "controller.listener=127.0.0.2:9093", "controller.client.listener=127.0.0.2:9093"},
			"controller.client.listener=127.0.0.2:9093 is the controller listener's address", nil},
		{"voter joining the running quorum", []string{"node.id=1", voters, "controller.listener=127.0.0.2:9093", "controller.quorum.initial.state=existing"}, "", func(c ClusterConfig) bool {
			return c.IsVoter() && c.InitialState == cluster.InitialStateExisting
		}},
		{"a non-voter joining the quorum", []string{"node.id=4", voters, "controller.quorum.initial.state=existing"}, "controller.quorum.initial.state=existing is a voter's", nil},
		{"joining the quorum of an external store", []string{"node.id=4", "metadata.store=etcd://e1:2379", "controller.quorum.initial.state=existing"},
			"controller.quorum.initial.state=existing is an embedded voter's", nil},
		{"election timeout of an external store", []string{"node.id=4", "metadata.store=etcd://e1:2379", "controller.quorum.election.timeout.ms=500"},
			"controller.quorum.election.timeout.ms=500 is an embedded voter's", nil},
		{"default election timeout of an external store", []string{"node.id=4", "metadata.store=etcd://e1:2379", "controller.quorum.election.timeout.ms=1000"}, "", nil},
		{"client listener of a non-voter", []string{"node.id=4", voters, "controller.client.listener=:2379"}, "controller.client.listener is a voter's", nil},
		{"derived client port past 65535", []string{"node.id=1", "controller.quorum.voters=1@h:65535", "controller.listener=h:65535"}, "past 65535", nil},
		{"derived client port past 65535, overridden", []string{"node.id=1", "controller.quorum.voters=1@h:65535", "controller.listener=h:65535",
			"controller.client.listener=h:2379"}, "", nil},
		{"another voter's client port past 65535", []string{"node.id=1", "controller.quorum.voters=1@h:9093,2@g:65535", "controller.listener=h:9093"}, "voter 2@g:65535", nil},
		{"external store", []string{"node.id=5", "metadata.store=etcd://e1:2379,e2:2379"}, "", func(c ClusterConfig) bool {
			return c.Enabled() && !c.IsVoter() && slices.Equal(c.StoreEndpoints(), []string{"e1:2379", "e2:2379"})
		}},
		{"voters and a store", []string{"node.id=1", voters, "metadata.store=etcd://e1:2379"}, "controller.quorum.voters and metadata.store are exclusive", nil},
		{"store with a controller listener", []string{"node.id=1", "metadata.store=etcd://e1:2379", "controller.listener=:9093"}, "no etcd is embedded here", nil},
		{"store with the controller role", []string{"node.id=1", "metadata.store=etcd://e1:2379", "process.roles=broker,controller"}, "no etcd is embedded here", nil},
		{"listener name and protocol", []string{"node.id=4", voters, "inter.broker.listener.name=PLAINTEXT", "security.inter.broker.protocol=PLAINTEXT"},
			"only one of inter.broker.listener.name and security.inter.broker.protocol may be set", nil},
		{"replication in a cluster", []string{"node.id=4", voters, "default.replication.factor=3", "min.insync.replicas=2", "offsets.topic.replication.factor=3",
			"unclean.leader.election.enable=true", "security.inter.broker.protocol=SASL_SSL"}, "", func(c ClusterConfig) bool {
			return c.DefaultReplicationFactor == 3 && c.MinInsyncReplicas == 2 && c.OffsetsTopicReplicationFactor == 3 && c.InterBrokerProtocol == "SASL_SSL"
		}},
		// A single broker: what asks for more than one replica is refused.
		{"single broker, replication factor", []string{"default.replication.factor=3"}, "default.replication.factor=3 needs a cluster", nil},
		{"single broker, min ISR", []string{"min.insync.replicas=2"}, "min.insync.replicas=2 needs a cluster", nil},
		{"single broker, secured inter-broker", []string{"security.inter.broker.protocol=SSL"}, "TLS and SASL between brokers need a cluster", nil},
		{"single broker, controller listener", []string{"node.id=1", "controller.listener=127.0.0.2:9093"}, "controller.listener is set without controller.quorum.voters", nil},
		{"single broker, offsets factor", []string{"offsets.topic.replication.factor=3"}, "", func(c ClusterConfig) bool { return !c.Enabled() }},
		{"single broker, the rest", []string{"node.id=1", "broker.rack=r1", "replica.lag.time.max.ms=10000", "default.replication.factor=1"}, "", func(c ClusterConfig) bool { return !c.Enabled() }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			b, err := clusterSettings(t, tt.lines...)
			switch {
			case tt.want == "" && err != nil:
				t.Fatal(err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("%v, want an error saying %q", err, tt.want)
			case tt.want != "" && !errors.Is(err, ErrClusterConfig):
				t.Fatalf("%v does not wrap ErrClusterConfig", err)
			case tt.check != nil && !tt.check(b.Cluster):
				t.Fatalf("settings %+v", b.Cluster)
			}
		})
	}
}

// TestClusterSettingsSingleBrokerNote: the cluster settings a single
// broker was given are named once in its start-up note, with why, and a
// file that restates the defaults names none.
func TestClusterSettingsSingleBrokerNote(t *testing.T) {
	b, err := clusterSettings(t, "node.id=1", "broker.rack=r1", "num.replica.fetchers=2", "replica.fetch.max.bytes=1048576")
	if err != nil {
		t.Fatal(err)
	}
	note := b.IgnoredNote()
	if !strings.Contains(note, "broker.rack, node.id, num.replica.fetchers ("+whySingleBroker+")") || strings.Contains(note, "replica.fetch.max.bytes") {
		t.Errorf("note %q", note)
	}
	d := DefaultBrokerSettings()
	again := DefaultBrokerSettings()
	if err := again.ReadProperties(strings.NewReader(d.Properties()), "defaults"); err != nil {
		t.Fatal(err)
	}
	if err := again.Validate(); err != nil || len(again.Ignored) != 0 {
		t.Errorf("the defaults read back: %v, ignored %v", err, again.Ignored)
	}
}

// TestClusterWarnings: min.insync.replicas above the default replication
// factor, and an even count of voters, are allowed with a warning.
func TestClusterWarnings(t *testing.T) {
	for _, tt := range []struct {
		lines []string
		want  []string
	}{
		{[]string{"node.id=4", "controller.quorum.voters=" + threeVoters}, nil},
		{[]string{"node.id=4", "controller.quorum.voters=" + threeVoters, "min.insync.replicas=2"},
			[]string{"min.insync.replicas=2 is above default.replication.factor=1"}},
		{[]string{"node.id=4", "controller.quorum.voters=" + threeVoters, "min.insync.replicas=2", "default.replication.factor=3"}, nil},
		{[]string{"node.id=4", "controller.quorum.voters=1@a:1,2@b:1"}, []string{"names 2 voters"}},
	} {
		b, err := clusterSettings(t, tt.lines...)
		if err != nil {
			t.Fatalf("%v: %v", tt.lines, err)
		}
		w := b.ClusterWarnings()
		if len(w) != len(tt.want) {
			t.Errorf("%v: warnings %q, want %q", tt.lines, w, tt.want)
			continue
		}
		for i := range w {
			if !strings.Contains(w[i], tt.want[i]) {
				t.Errorf("%v: warning %q, want %q", tt.lines, w[i], tt.want[i])
			}
		}
	}
}

// TestCheckClusterAddresses: the controller's and etcd's addresses keep
// clear of the Kafka listeners and the metrics port, the inter-broker
// listener is one of the listeners, and with
// inter.broker.source.bind.enable it is advertised at an IP address.
func TestCheckClusterAddresses(t *testing.T) {
	plain := []Listener{{Name: "PLAINTEXT", Protocol: auth.Plaintext, Addr: "127.0.0.2:9092"}}
	two := []Listener{{Name: "INTERNAL", Protocol: auth.Plaintext, Addr: "127.0.0.2:9092"}, {Name: "SASL_SSL", Protocol: auth.SASLSSL, Addr: "127.0.0.2:9095",
		Security: map[string]string{"scram-sha-512.sasl.jaas.config": auth.JAASScramModule + ` required username="broker" password="pw";`}}}
	voter := []string{"node.id=1", "controller.quorum.voters=" + threeVoters, "controller.listener=127.0.0.2:9093"}
	const bindOn = "inter.broker.source.bind.enable=true"
	for _, tt := range []struct {
		name      string
		lines     []string
		listeners []Listener
		metrics   string
		want      string // the inter-broker listener, or the error's text
		fails     bool
	}{
		{"single broker", nil, plain, "127.0.0.2:9644", "", false},
		{"voter", voter, plain, "127.0.0.2:9644", "PLAINTEXT", false},
		{"controller on the Kafka port", []string{"node.id=1", "controller.quorum.voters=1@127.0.0.2:9092", "controller.listener=127.0.0.2:9092"}, plain, "",
			"controller.listener=127.0.0.2:9092 takes the address of listener PLAINTEXT", true},
		{"controller on the metrics port", []string{"node.id=1", "controller.quorum.voters=1@127.0.0.2:9644", "controller.listener=:9644"}, plain, "127.0.0.2:9644",
			"takes the address of --metrics-listen", true},
		{"derived client port on a listener", voter, []Listener{{Name: "PLAINTEXT", Addr: "127.0.0.2:9094"}}, "",
			"the etcd client address 127.0.0.2:9094 (the controller port + 1) takes the address of listener PLAINTEXT: set controller.client.listener", true},
		{"named listener", append(slices.Clone(voter), "inter.broker.listener.name=internal"), two, "", "INTERNAL", false},
		{"listener of the protocol", append(slices.Clone(voter), "security.inter.broker.protocol=SASL_SSL", "sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512"), two, "", "SASL_SSL", false},
		{"SASL listener without a mechanism", append(slices.Clone(voter), "security.inter.broker.protocol=SASL_SSL"), two, "",
			"inter-broker listener SASL_SSL (SASL_SSL): set sasl.mechanism.inter.broker.protocol", true},
		{"missing listener", append(slices.Clone(voter), "inter.broker.listener.name=REPLICATION"), two, "",
			"the inter-broker listener REPLICATION is not among the listeners (INTERNAL, SASL_SSL)", true},
		{"missing listener of the protocol", append(slices.Clone(voter), "security.inter.broker.protocol=SSL"), two, "",
			"security.inter.broker.protocol=SSL names the listener SSL, which is not among the listeners (INTERNAL, SASL_SSL)", true},
		{"source bind to an advertised IP", append(slices.Clone(voter), bindOn), []Listener{{Name: "PLAINTEXT", Addr: "0.0.0.0:9092", Advertise: "10.1.2.3:19092"}}, "",
			"PLAINTEXT", false},
		{"source bind to a bound IP", append(slices.Clone(voter), bindOn), plain, "", "PLAINTEXT", false},
		{"source bind to an IPv6 address", append(slices.Clone(voter), bindOn), []Listener{{Name: "PLAINTEXT", Addr: "[fd00::2]:9092"}}, "", "PLAINTEXT", false},
		{"source bind to a host name", append(slices.Clone(voter), bindOn), []Listener{{Name: "PLAINTEXT", Addr: ":9092", Advertise: "broker1.example.com:9092"}}, "",
			"inter.broker.source.bind.enable=true binds the connections this broker opens to other brokers and to etcd to the host of its advertised inter-broker listener PLAINTEXT (broker1.example.com), which must then be an IP address of this machine", true},
		{"source bind to the advertised host name of every interface", append(slices.Clone(voter), bindOn), []Listener{{Name: "PLAINTEXT", Addr: "0.0.0.0:9092"}}, "",
			"inter-broker listener PLAINTEXT (the host name, its address being empty or unspecified)", true},
		{"source bind to the named listener's host", append(slices.Clone(voter), bindOn, "inter.broker.listener.name=REPLICATION"),
			[]Listener{{Name: "PLAINTEXT", Addr: "127.0.0.2:9092"}, {Name: "REPLICATION", Addr: "127.0.0.2:9095", Advertise: "replication.local:9095"}}, "",
			"listener REPLICATION (replication.local)", true},
		{"host name without source bind", voter, []Listener{{Name: "PLAINTEXT", Addr: ":9092", Advertise: "broker1.example.com:9092"}}, "", "PLAINTEXT", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			b, err := clusterSettings(t, tt.lines...)
			if err != nil {
				t.Fatal(err)
			}
			got, err := b.Cluster.CheckClusterAddresses(tt.listeners, tt.metrics)
			if tt.fails {
				if err == nil || !strings.Contains(err.Error(), tt.want) || !errors.Is(err, ErrClusterConfig) {
					t.Fatalf("%v, want an error saying %q", err, tt.want)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("got %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

// TestClusterSettingsDescribed: DescribeConfigs has a type and a
// description for every cluster setting, and a single broker describes
// them at their defaults.
func TestClusterSettingsDescribed(t *testing.T) {
	b := DefaultBrokerSettings()
	m := map[string]string{}
	b.clusterMap(m)
	for name := range m {
		if info := configInfoOf(name); info.doc == "" {
			t.Errorf("%s: no DescribeConfigs description", name)
		}
	}
	if configInfoOf(BrokerNumReplicaFetchers).typ.String() != "INT" || configInfoOf(BrokerControllerQuorumVoters).typ.String() != "LIST" {
		t.Errorf("types: %v %v", configInfoOf(BrokerNumReplicaFetchers).typ, configInfoOf(BrokerControllerQuorumVoters).typ)
	}
}
