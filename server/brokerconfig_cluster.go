package server

import (
	"errors"
	"fmt"
	"math"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/tributary-io/tributary/auth"
	"github.com/tributary-io/tributary/cluster"
)

// The settings that start a cluster (issue 14), by Kafka's names where
// Kafka has one. Without controller.quorum.voters and metadata.store the
// broker is the single broker it always was: these are parsed, shown by
// --print-config and otherwise change nothing (the ones that would ask a
// single broker for more than one replica are refused).
const (
	// BrokerNodeID is node.id: this node's id in the cluster, the id of
	// its controller.quorum.voters entry when it is a voter. Kafka's
	// default -1 means unset; a cluster needs it.
	BrokerNodeID = "node.id"
	// BrokerProcessRoles is process.roles: "broker" or "broker,controller"
	// (a controller-only node is not served: every node is a broker). Empty:
	// a node is a voter when its node.id is in controller.quorum.voters.
	BrokerProcessRoles = "process.roles"
	// BrokerControllerQuorumVoters is controller.quorum.voters:
	// id@host:port,... the voters of the metadata quorum (the embedded
	// etcd members) at their controller (etcd peer) addresses.
	BrokerControllerQuorumVoters = "controller.quorum.voters"
	// BrokerControllerListener is the address this voter's etcd peer
	// traffic listens on (--controller-listen). Not a Kafka name: Kafka
	// names it in listeners as CONTROLLER://host:port, which is read too
	// when this is empty. As in Kafka it is what is bound, and the node's
	// controller.quorum.voters entry is what the others dial (etcd's
	// listen-peer-urls and advertise-peer-urls): the two differ when a
	// proxy, NAT or port mapping stands in front of the member.
	BrokerControllerListener = "controller.listener"
	// BrokerControllerClientListener is the address this voter's etcd
	// serves its clients (the brokers) on. Empty: the controller
	// listener's host at its port + ControllerClientPortOffset. Not a
	// Kafka name (KRaft has no separate client port).
	BrokerControllerClientListener = "controller.client.listener"
	// BrokerControllerQuorumInitialState is
	// controller.quorum.initial.state, etcd's --initial-cluster-state:
	// how a voter whose etcd data dir is empty starts. "new" (the
	// default) forms a new quorum with the other voters; "existing" joins
	// the running quorum as the member `tributary cluster add-voter`
	// added (Kafka formats such a controller with kafka-storage format
	// --no-initial-controllers and adds it with kafka-metadata-quorum
	// add-controller, KIP-853). A voter with an etcd log rejoins from it
	// either way. Not a Kafka name.
	BrokerControllerQuorumInitialState = "controller.quorum.initial.state"
	// BrokerControllerQuorumElectionTimeoutMs is Kafka's
	// controller.quorum.election.timeout.ms: the embedded etcd members'
	// raft election timeout (etcd's --election-timeout), their heartbeat
	// a tenth of it (cluster.ElectionTicks). It bounds how long the
	// metadata quorum takes no write after its leader dies, so how long a
	// kill of the node leading it holds up fencing and leader elections.
	// Every voter should have the same.
	BrokerControllerQuorumElectionTimeoutMs = "controller.quorum.election.timeout.ms"
	// BrokerMetadataStore is metadata.store: an external etcd,
	// etcd://host:port,host:port, instead of voters embedded in the
	// brokers. Not a Kafka name.
	BrokerMetadataStore = "metadata.store"

	BrokerDefaultReplicationFactor      = "default.replication.factor"
	BrokerMinInsyncReplicas             = "min.insync.replicas"
	BrokerOffsetsTopicReplicationFactor = "offsets.topic.replication.factor"
	BrokerReplicaLagTimeMaxMs           = "replica.lag.time.max.ms"
	BrokerUncleanLeaderElectionEnable   = "unclean.leader.election.enable"
	BrokerRack                          = "broker.rack"
	BrokerSessionTimeoutMs              = "broker.session.timeout.ms"
	BrokerHeartbeatIntervalMs           = "broker.heartbeat.interval.ms"
	// BrokerInitialRegistrationTimeoutMs is Kafka's
	// initial.broker.registration.timeout.ms: how long a starting broker
	// waits for the metadata quorum to answer before it gives up and
	// exits (here: the cluster ID's read or first write in etcd).
	BrokerInitialRegistrationTimeoutMs = "initial.broker.registration.timeout.ms"
	// BrokerFastFencingEnable is broker.fast.fencing.enable: a broker
	// whose process is gone (its connections ended and its inter-broker
	// address refuses connections) is fenced at once instead of when its
	// lease lapses (cluster/fastfence.go). Not a Kafka name.
	BrokerFastFencingEnable = "broker.fast.fencing.enable"
	// BrokerInterBrokerSourceBindEnable is inter.broker.source.bind.enable:
	// every connection this broker opens to another broker or to etcd
	// binds its local address to the host of this broker's advertised
	// inter-broker listener, so that whatever sits in front of the other
	// node (a fault proxy, a firewall rule, a per-node allow list) sees
	// which node dials it by its source IP; the embedded etcd member's
	// peer traffic too, by etcd's SetMemberLocalAddr. Not a Kafka name.
	BrokerInterBrokerSourceBindEnable = "inter.broker.source.bind.enable"
	BrokerInterBrokerListenerName     = "inter.broker.listener.name"
	BrokerSecurityInterBrokerProtocol = "security.inter.broker.protocol"
	// BrokerSASLMechanismInterBrokerProtocol is Kafka's
	// sasl.mechanism.inter.broker.protocol: the mechanism a broker logs in
	// with on another broker's SASL inter-broker listener. Kafka's default
	// GSSAPI is not served, so a SASL inter-broker listener needs it set
	// (cluster_security.go).
	BrokerSASLMechanismInterBrokerProtocol = "sasl.mechanism.inter.broker.protocol"
	BrokerReplicaFetchMaxBytes             = "replica.fetch.max.bytes"
	BrokerReplicaFetchWaitMaxMs            = "replica.fetch.wait.max.ms"
	BrokerReplicaFetchMinBytes             = "replica.fetch.min.bytes"
	BrokerNumReplicaFetchers               = "num.replica.fetchers"
	BrokerAutoLeaderRebalanceEnable        = "auto.leader.rebalance.enable"
	// BrokerLeaderImbalanceCheckIntervalSeconds and
	// BrokerLeaderImbalancePerBrokerPercentage drive the leader balancing
	// auto.leader.rebalance.enable turns on (cluster/leader_balance.go).
	BrokerLeaderImbalanceCheckIntervalSeconds = "leader.imbalance.check.interval.seconds"
	BrokerLeaderImbalancePerBrokerPercentage  = "leader.imbalance.per.broker.percentage"
	// The replication throttle rates (cluster_throttle.go), bytes per
	// second; also changed at run time through this broker's config
	// resource.
	BrokerLeaderReplicationThrottledRate   = "leader.replication.throttled.rate"
	BrokerFollowerReplicationThrottledRate = "follower.replication.throttled.rate"
)

// Kafka's defaults of the cluster settings.
const (
	DefaultDefaultReplicationFactor = 1
	DefaultMinInsyncReplicas        = 1
	// DefaultOffsetsTopicReplicationFactor is Kafka's 3. As in Kafka
	// since 0.11 (KIP-115, KAFKA-3959), __consumer_offsets is not created
	// with fewer replicas: until that many brokers are live, its creation
	// is refused and FindCoordinator answers COORDINATOR_NOT_AVAILABLE. A
	// single broker keeps its one replica whatever this says.
	DefaultOffsetsTopicReplicationFactor = 3
	DefaultReplicaLagTimeMax             = 30 * time.Second
	DefaultBrokerSessionTimeout          = 9 * time.Second
	DefaultBrokerHeartbeatInterval       = 2 * time.Second
	DefaultBrokerFastFencingEnable       = true
	// DefaultQuorumElectionTimeout is Kafka's (and etcd's) 1000 ms.
	DefaultQuorumElectionTimeout       = cluster.DefaultElectionTimeout
	DefaultInterBrokerSourceBindEnable = false
	DefaultReplicaFetchMaxBytes        = 1 << 20
	DefaultReplicaFetchWaitMax         = 500 * time.Millisecond
	DefaultReplicaFetchMinBytes        = 1
	DefaultNumReplicaFetchers          = 1
	DefaultAutoLeaderRebalanceEnable   = true
	// DefaultLeaderImbalanceCheckInterval and
	// DefaultLeaderImbalancePerBrokerPercentage are Kafka's 300 s and 10.
	DefaultLeaderImbalanceCheckInterval       = cluster.DefaultLeaderImbalanceCheckInterval
	DefaultLeaderImbalancePerBrokerPercentage = cluster.DefaultLeaderImbalancePerBrokerPercentage
	// DefaultReplicationThrottledRate is Kafka's default of both throttle
	// rates, Long.MAX_VALUE: no limit.
	DefaultReplicationThrottledRate = math.MaxInt64
	// ControllerClientPortOffset derives a voter's etcd client port from
	// its controller (peer) port: 9093 serves peers, 9094 the brokers.
	// Every broker dials each voter's host at its voter entry's port plus
	// this (etcd's advertise-client-urls), and the member binds its
	// controller.listener's port plus this (listen-client-urls), so a
	// voter that overrides controller.client.listener must keep to it (or
	// its brokers name the store with metadata.store).
	ControllerClientPortOffset = 1
	// unsetNodeID is node.id's default, Kafka's -1.
	unsetNodeID = -1
)

// DefaultInitialRegistrationTimeout is initial.broker.registration.timeout.ms's
// default, Kafka's 60 s.
const DefaultInitialRegistrationTimeout = 60 * time.Second

// ErrClusterConfig is wrapped by every error in the cluster settings.
var ErrClusterConfig = errors.New("server: cluster settings")

// Voter is one entry of controller.quorum.voters: id@host:port.
type Voter struct {
	ID   int32
	Host string
	Port uint16
}

// Addr is the voter's host:port.
func (v Voter) Addr() string { return net.JoinHostPort(v.Host, strconv.Itoa(int(v.Port))) }

func (v Voter) String() string { return strconv.Itoa(int(v.ID)) + "@" + v.Addr() }

// ClusterConfig is what starts a cluster, parsed and checked: the plain
// values the cluster's wiring in serve reads. The zero value is not
// usable; DefaultClusterConfig has Kafka's defaults.
type ClusterConfig struct {
	// NodeID is node.id; -1 when not set.
	NodeID int32
	// ProcessRoles is process.roles as given ("" when not set).
	ProcessRoles string
	// Voters is controller.quorum.voters, in the order given.
	Voters []Voter
	// ControllerListen is the address this voter's etcd peer traffic
	// listens on (controller.listener, or listeners' CONTROLLER entry);
	// empty for a node that is not a voter.
	ControllerListen string
	// ControllerClientListen is controller.client.listener as given;
	// ClientListen is the address it resolves to.
	ControllerClientListen string
	// InitialState is controller.quorum.initial.state: cluster.InitialStateNew
	// or cluster.InitialStateExisting.
	InitialState string
	// QuorumElectionTimeout is controller.quorum.election.timeout.ms: the
	// embedded member's election timeout (cluster.EmbedConfig).
	QuorumElectionTimeout time.Duration
	// MetadataStore are the endpoints (host:port) of metadata.store's
	// external etcd; nil when the voters are embedded. MetadataStoreURL
	// is the whole setting (TLS, key root).
	MetadataStore    []string
	MetadataStoreURL cluster.StoreURL

	DefaultReplicationFactor      int
	MinInsyncReplicas             int
	OffsetsTopicReplicationFactor int
	ReplicaLagTimeMax             time.Duration
	Rack                          string
	SessionTimeout                time.Duration
	HeartbeatInterval             time.Duration
	// InitialRegistrationTimeout is initial.broker.registration.timeout.ms.
	InitialRegistrationTimeout time.Duration
	// FastFencing is broker.fast.fencing.enable.
	FastFencing bool
	// InterBrokerSourceBind is inter.broker.source.bind.enable: the
	// connections this node opens to other brokers and to etcd bind the
	// advertised inter-broker host, which must be an IP literal of this
	// machine (SourceBindIP).
	InterBrokerSourceBind bool
	// InterBrokerListenerName and InterBrokerProtocol are Kafka's two
	// ways of naming the listener brokers dial each other on; at most
	// one is set (InterBrokerListener resolves them).
	InterBrokerListenerName string
	InterBrokerProtocol     string
	// InterBrokerSASLMechanism is sasl.mechanism.inter.broker.protocol,
	// upper case; "" when not set.
	InterBrokerSASLMechanism string
	ReplicaFetchMaxBytes     int
	ReplicaFetchWaitMax      time.Duration
	ReplicaFetchMinBytes     int
	NumReplicaFetchers       int
	// AutoLeaderRebalanceEnable turns on the active controller's leader
	// balancing: every LeaderImbalanceCheckInterval, preferred leader
	// elections for each broker whose share of preferred partitions it
	// does not lead is above LeaderImbalancePerBrokerPercentage.
	AutoLeaderRebalanceEnable          bool
	LeaderImbalanceCheckInterval       time.Duration
	LeaderImbalancePerBrokerPercentage int
	// LeaderReplicationThrottledRate and FollowerReplicationThrottledRate
	// are the replication throttles' bytes per second at start
	// (DefaultReplicationThrottledRate: no limit).
	LeaderReplicationThrottledRate   int64
	FollowerReplicationThrottledRate int64
}

// DefaultClusterConfig has Kafka's defaults: no cluster.
func DefaultClusterConfig() ClusterConfig {
	return ClusterConfig{
		NodeID:                        unsetNodeID,
		InitialState:                  cluster.InitialStateNew,
		QuorumElectionTimeout:         DefaultQuorumElectionTimeout,
		DefaultReplicationFactor:      DefaultDefaultReplicationFactor,
		MinInsyncReplicas:             DefaultMinInsyncReplicas,
		OffsetsTopicReplicationFactor: DefaultOffsetsTopicReplicationFactor,
		ReplicaLagTimeMax:             DefaultReplicaLagTimeMax,
		SessionTimeout:                DefaultBrokerSessionTimeout,
		HeartbeatInterval:             DefaultBrokerHeartbeatInterval,
		InitialRegistrationTimeout:    DefaultInitialRegistrationTimeout,
		FastFencing:                   DefaultBrokerFastFencingEnable,
		InterBrokerSourceBind:         DefaultInterBrokerSourceBindEnable,
		ReplicaFetchMaxBytes:          DefaultReplicaFetchMaxBytes,
		ReplicaFetchWaitMax:           DefaultReplicaFetchWaitMax,
		ReplicaFetchMinBytes:          DefaultReplicaFetchMinBytes,
		NumReplicaFetchers:            DefaultNumReplicaFetchers,
		AutoLeaderRebalanceEnable:     DefaultAutoLeaderRebalanceEnable,

		// Leader balancing.
		LeaderImbalanceCheckInterval:       DefaultLeaderImbalanceCheckInterval,
		LeaderImbalancePerBrokerPercentage: DefaultLeaderImbalancePerBrokerPercentage,
		LeaderReplicationThrottledRate:     DefaultReplicationThrottledRate,
		FollowerReplicationThrottledRate:   DefaultReplicationThrottledRate,
	}
}

// Enabled says whether the settings ask for a cluster: voters or an
// external metadata store are named. Otherwise serve is one broker.
func (c *ClusterConfig) Enabled() bool { return len(c.Voters) > 0 || len(c.MetadataStore) > 0 }

// IsVoter says whether this node runs an embedded etcd member: it has a
// controller listener (Validate checks that it is in the voters then).
func (c *ClusterConfig) IsVoter() bool { return c.ControllerListen != "" }

// Voter is this node's entry in the voters, if it is one.
func (c *ClusterConfig) Voter() (Voter, bool) {
	for _, v := range c.Voters {
		if v.ID == c.NodeID {
			return v, true
		}
	}
	return Voter{}, false
}

// ClientListen is the address this voter's etcd serves the brokers on:
// controller.client.listener, or the controller listener's host at its
// port + ControllerClientPortOffset. Empty for a node that is no voter.
func (c *ClusterConfig) ClientListen() string {
	if c.ControllerClientListen != "" {
		return c.ControllerClientListen
	}
	if c.ControllerListen == "" {
		return ""
	}
	host, port, err := net.SplitHostPort(c.ControllerListen)
	if err != nil {
		return ""
	}
	p, _ := strconv.Atoi(port)
	return net.JoinHostPort(host, strconv.Itoa(p+ControllerClientPortOffset))
}

// StoreEndpoints are the etcd client endpoints (host:port) a broker dials:
// metadata.store's, or each voter's host at its port +
// ControllerClientPortOffset (this voter's own controller.client.listener
// if it set one).
func (c *ClusterConfig) StoreEndpoints() []string {
	if len(c.MetadataStore) > 0 {
		return slices.Clone(c.MetadataStore)
	}
	out := make([]string, 0, len(c.Voters))
	for _, v := range c.Voters {
		if v.ID == c.NodeID && c.ControllerClientListen != "" {
			out = append(out, advertisable(c.ControllerClientListen, v.Host))
			continue
		}
		out = append(out, net.JoinHostPort(v.Host, strconv.Itoa(int(v.Port)+ControllerClientPortOffset)))
	}
	return out
}

// advertisable is addr with an empty or unspecified host replaced by host.
func advertisable(addr, host string) string {
	h, p, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if h == "" || isUnspecified(h) {
		h = host
	}
	return net.JoinHostPort(h, p)
}

func isUnspecified(host string) bool {
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsUnspecified()
}

// ParseVoters reads controller.quorum.voters by cluster.ParseVoters, the
// one rule for it: id@host:port entries, comma-separated, with unique ids
// and unique addresses other nodes can dial. Empty is no voters.
func ParseVoters(value string) ([]Voter, error) {
	if strings.TrimSpace(value) == "" {
		return nil, nil
	}
	vs, err := cluster.ParseVoters(value)
	if err != nil {
		return nil, withoutSettingName(err, "cluster: "+BrokerControllerQuorumVoters+": ", "cluster: "+BrokerControllerQuorumVoters+" ")
	}
	out := make([]Voter, len(vs))
	for i, v := range vs {
		out[i] = Voter{ID: v.NodeID, Host: v.Host, Port: uint16(v.Port)}
	}
	return out, nil
}

// FormatVoters writes voters back as controller.quorum.voters.
func FormatVoters(voters []Voter) string {
	s := make([]string, len(voters))
	for i, v := range voters {
		s[i] = v.String()
	}
	return strings.Join(s, ",")
}

// ParseMetadataStore reads metadata.store by cluster.ParseStoreURL, the
// one rule for it: etcd://host:port,host:port[/root] (etcds:// for TLS).
// Empty is none.
func ParseMetadataStore(value string) (cluster.StoreURL, error) {
	value = strings.TrimSpace(value)
	if value == "" {
		return cluster.StoreURL{}, nil
	}
	u, err := cluster.ParseStoreURL(value)
	if err != nil {
		return cluster.StoreURL{}, withoutSettingName(err, fmt.Sprintf("cluster: %s %q: ", BrokerMetadataStore, value), "cluster: "+BrokerMetadataStore+": ")
	}
	return u, nil
}

// withoutSettingName is cluster's error about a setting without the
// prefix naming it: the broker's settings name it already.
func withoutSettingName(err error, prefixes ...string) error {
	msg := err.Error()
	for _, p := range prefixes {
		if rest, ok := strings.CutPrefix(msg, p); ok {
			return errors.New(rest)
		}
	}
	return err
}

// dialAddr reads a host:port that other nodes dial or that a node binds
// for them (IPv6 hosts in brackets), so with a port in 1-65535.
func dialAddr(addr string) (string, uint16, error) {
	host, port, err := net.SplitHostPort(strings.TrimSpace(addr))
	if err != nil {
		return "", 0, fmt.Errorf("want host:port: %w", err)
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil || p == 0 {
		return "", 0, fmt.Errorf("bad port %q: want 1-65535", port)
	}
	return host, uint16(p), nil
}

// clusterOnly are the settings that matter only in a cluster: given to a
// single broker they are accepted and named in the start-up note (why
// below), unless their value asks for more than one replica
// (checkSingleBroker).
var clusterOnly = map[string]bool{
	BrokerNodeID: true, BrokerProcessRoles: true, BrokerControllerListener: true, BrokerControllerClientListener: true,
	BrokerControllerQuorumInitialState: true, BrokerControllerQuorumElectionTimeoutMs: true,
	BrokerDefaultReplicationFactor: true, BrokerOffsetsTopicReplicationFactor: true, BrokerReplicaLagTimeMaxMs: true,
	BrokerRack: true, BrokerSessionTimeoutMs: true, BrokerHeartbeatIntervalMs: true, BrokerFastFencingEnable: true,
	BrokerInterBrokerSourceBindEnable: true,
	BrokerInterBrokerListenerName:     true, BrokerSecurityInterBrokerProtocol: true, BrokerSASLMechanismInterBrokerProtocol: true,
	BrokerReplicaFetchMaxBytes: true, BrokerReplicaFetchWaitMaxMs: true, BrokerReplicaFetchMinBytes: true,
	BrokerNumReplicaFetchers: true, BrokerAutoLeaderRebalanceEnable: true, BrokerInitialRegistrationTimeoutMs: true,
	BrokerLeaderImbalanceCheckIntervalSeconds: true, BrokerLeaderImbalancePerBrokerPercentage: true,
	BrokerLeaderReplicationThrottledRate: true, BrokerFollowerReplicationThrottledRate: true,
}

// whySingleBroker is the start-up note's reason for clusterOnly settings
// given to a single broker.
const whySingleBroker = "one broker: no controller.quorum.voters or metadata.store, so no cluster to join"

// applyCluster takes the cluster settings; handled is false for any other
// name.
func (b *BrokerSettings) applyCluster(name, value string) (handled bool, err error) {
	c := &b.Cluster
	switch name {
	case BrokerNodeID:
		var n int64
		n, err = strconv.ParseInt(value, 10, 32)
		if err == nil && n < unsetNodeID {
			err = errors.New("must be >= 0 (or -1: unset)")
		}
		c.NodeID = int32(n)
	case BrokerProcessRoles:
		err = checkProcessRoles(value)
		c.ProcessRoles = value
	case BrokerControllerQuorumVoters:
		c.Voters, err = ParseVoters(value)
	case BrokerControllerListener:
		if value != "" {
			_, _, err = dialAddr(value)
		}
		c.ControllerListen = value
	case BrokerControllerClientListener:
		if value != "" {
			_, _, err = dialAddr(value)
		}
		c.ControllerClientListen = value
	case BrokerControllerQuorumInitialState:
		if value != cluster.InitialStateNew && value != cluster.InitialStateExisting {
			err = fmt.Errorf("want %s or %s", cluster.InitialStateNew, cluster.InitialStateExisting)
		}
		c.InitialState = value
	case BrokerControllerQuorumElectionTimeoutMs:
		c.QuorumElectionTimeout, err = parseDuration(value, time.Millisecond)
		if err == nil {
			if err = cluster.CheckElectionTimeout(c.QuorumElectionTimeout); err != nil {
				err = withoutSettingName(err, "cluster: ")
			}
		}
	case BrokerMetadataStore:
		c.MetadataStoreURL, err = ParseMetadataStore(value)
		c.MetadataStore = c.MetadataStoreURL.HostPorts()
		if len(c.MetadataStore) == 0 {
			c.MetadataStore = nil
		}
	case BrokerDefaultReplicationFactor:
		c.DefaultReplicationFactor, err = atLeast(value, 1)
	case BrokerMinInsyncReplicas:
		// The topic default lives in b.Topics too, which holds only what
		// one replica meets until replication lands in log.Config; the
		// cluster's default is kept here (see Map and Validate).
		c.MinInsyncReplicas, err = atLeast(value, 1)
		if err == nil && c.MinInsyncReplicas == 1 {
			b.Topics.MinInsyncReplicas = 1
		}
	case BrokerOffsetsTopicReplicationFactor:
		c.OffsetsTopicReplicationFactor, err = atLeast(value, 1)
	case BrokerReplicaLagTimeMaxMs:
		c.ReplicaLagTimeMax, err = positiveMs(value)
	case BrokerRack:
		c.Rack = value
	case BrokerSessionTimeoutMs:
		c.SessionTimeout, err = positiveMs(value)
	case BrokerHeartbeatIntervalMs:
		c.HeartbeatInterval, err = positiveMs(value)
	case BrokerInitialRegistrationTimeoutMs:
		c.InitialRegistrationTimeout, err = positiveMs(value)
	case BrokerFastFencingEnable:
		c.FastFencing, err = strconv.ParseBool(value)
	case BrokerInterBrokerSourceBindEnable:
		c.InterBrokerSourceBind, err = strconv.ParseBool(value)
	case BrokerInterBrokerListenerName:
		c.InterBrokerListenerName = strings.ToUpper(value)
	case BrokerSecurityInterBrokerProtocol:
		if value != "" {
			_, err = auth.ParseSecurityProtocol(value)
		}
		c.InterBrokerProtocol = strings.ToUpper(value)
	case BrokerSASLMechanismInterBrokerProtocol:
		err = checkInterBrokerMechanism(value)
		c.InterBrokerSASLMechanism = strings.ToUpper(value)
	case BrokerReplicaFetchMaxBytes:
		c.ReplicaFetchMaxBytes, err = atLeast(value, 0)
	case BrokerReplicaFetchWaitMaxMs:
		c.ReplicaFetchWaitMax, err = parseDuration(value, time.Millisecond)
	case BrokerReplicaFetchMinBytes:
		c.ReplicaFetchMinBytes, err = atLeast(value, 0)
	case BrokerNumReplicaFetchers:
		c.NumReplicaFetchers, err = atLeast(value, 1)
	case BrokerAutoLeaderRebalanceEnable:
		c.AutoLeaderRebalanceEnable, err = strconv.ParseBool(value)
	case BrokerLeaderImbalanceCheckIntervalSeconds:
		var secs int
		secs, err = atLeast(value, 1)
		c.LeaderImbalanceCheckInterval = time.Duration(secs) * time.Second
	case BrokerLeaderImbalancePerBrokerPercentage:
		c.LeaderImbalancePerBrokerPercentage, err = atLeast(value, 0)
		if err == nil && c.LeaderImbalancePerBrokerPercentage > 100 {
			err = errors.New("must be <= 100")
		}
	case BrokerLeaderReplicationThrottledRate:
		c.LeaderReplicationThrottledRate, err = bytesPerSecond(value)
	case BrokerFollowerReplicationThrottledRate:
		c.FollowerReplicationThrottledRate, err = bytesPerSecond(value)
	default:
		return false, nil
	}
	if err != nil {
		return true, fmt.Errorf("server: %s=%s: %w", name, shownValue(name, value), err)
	}
	if b.clusterGiven == nil {
		b.clusterGiven = map[string]bool{}
	}
	b.clusterGiven[name] = true
	return true, nil
}

// checkProcessRoles accepts Kafka's process.roles that this broker
// serves: broker, or broker and controller.
func checkProcessRoles(value string) error {
	if strings.TrimSpace(value) == "" {
		return nil
	}
	var broker bool
	for _, r := range strings.Split(value, ",") {
		switch strings.ToLower(strings.TrimSpace(r)) {
		case "broker":
			broker = true
		case "controller":
		default:
			return fmt.Errorf("unknown role %q: want broker or broker,controller", strings.TrimSpace(r))
		}
	}
	if !broker {
		return errors.New("a controller-only node is not served: every node is a broker (broker,controller)")
	}
	return nil
}

func (c *ClusterConfig) rolesNameController() bool {
	return strings.Contains(strings.ToLower(c.ProcessRoles), "controller")
}

// bytesPerSecond parses a throttle rate: bytes per second, >= 0.
func bytesPerSecond(value string) (int64, error) {
	n, err := strconv.ParseInt(value, 10, 64)
	if err != nil {
		return 0, err
	}
	if n < 0 {
		return 0, errors.New("must be >= 0")
	}
	return n, nil
}

func atLeast(value string, least int) (int, error) {
	n, err := strconv.ParseInt(value, 10, 32)
	if err != nil {
		return 0, err
	}
	if n < int64(least) {
		return 0, fmt.Errorf("must be >= %d", least)
	}
	return int(n), nil
}

func positiveMs(value string) (time.Duration, error) {
	d, err := parseDuration(value, time.Millisecond)
	if err == nil && d <= 0 {
		err = errors.New("must be >= 1")
	}
	return d, err
}

// clusterMap lists the cluster settings with their values.
func (b *BrokerSettings) clusterMap(m map[string]string) {
	c := &b.Cluster
	m[BrokerNodeID] = strconv.Itoa(int(c.NodeID))
	m[BrokerProcessRoles] = c.ProcessRoles
	m[BrokerControllerQuorumVoters] = FormatVoters(c.Voters)
	m[BrokerControllerListener] = c.ControllerListen
	m[BrokerControllerClientListener] = c.ControllerClientListen
	m[BrokerControllerQuorumInitialState] = c.InitialState
	m[BrokerControllerQuorumElectionTimeoutMs] = strconv.FormatInt(c.QuorumElectionTimeout.Milliseconds(), 10)
	m[BrokerMetadataStore] = c.MetadataStoreURL.String()
	m[BrokerDefaultReplicationFactor] = strconv.Itoa(c.DefaultReplicationFactor)
	m[BrokerMinInsyncReplicas] = strconv.Itoa(c.MinInsyncReplicas)
	m[BrokerOffsetsTopicReplicationFactor] = strconv.Itoa(c.OffsetsTopicReplicationFactor)
	m[BrokerReplicaLagTimeMaxMs] = strconv.FormatInt(c.ReplicaLagTimeMax.Milliseconds(), 10)
	m[BrokerRack] = c.Rack
	m[BrokerSessionTimeoutMs] = strconv.FormatInt(c.SessionTimeout.Milliseconds(), 10)
	m[BrokerHeartbeatIntervalMs] = strconv.FormatInt(c.HeartbeatInterval.Milliseconds(), 10)
	m[BrokerInitialRegistrationTimeoutMs] = strconv.FormatInt(c.InitialRegistrationTimeout.Milliseconds(), 10)
	m[BrokerFastFencingEnable] = strconv.FormatBool(c.FastFencing)
	m[BrokerInterBrokerSourceBindEnable] = strconv.FormatBool(c.InterBrokerSourceBind)
	m[BrokerInterBrokerListenerName] = c.InterBrokerListenerName
	m[BrokerSecurityInterBrokerProtocol] = c.InterBrokerProtocol
	m[BrokerSASLMechanismInterBrokerProtocol] = c.InterBrokerSASLMechanism
	m[BrokerReplicaFetchMaxBytes] = strconv.Itoa(c.ReplicaFetchMaxBytes)
	m[BrokerReplicaFetchWaitMaxMs] = strconv.FormatInt(c.ReplicaFetchWaitMax.Milliseconds(), 10)
	m[BrokerReplicaFetchMinBytes] = strconv.Itoa(c.ReplicaFetchMinBytes)
	m[BrokerNumReplicaFetchers] = strconv.Itoa(c.NumReplicaFetchers)
	m[BrokerAutoLeaderRebalanceEnable] = strconv.FormatBool(c.AutoLeaderRebalanceEnable)
	m[BrokerLeaderImbalanceCheckIntervalSeconds] = strconv.FormatInt(int64(c.LeaderImbalanceCheckInterval/time.Second), 10)
	m[BrokerLeaderImbalancePerBrokerPercentage] = strconv.Itoa(c.LeaderImbalancePerBrokerPercentage)
	m[BrokerLeaderReplicationThrottledRate] = strconv.FormatInt(c.LeaderReplicationThrottledRate, 10)
	m[BrokerFollowerReplicationThrottledRate] = strconv.FormatInt(c.FollowerReplicationThrottledRate, 10)
}

// validateCluster checks the cluster settings together, once the whole
// configuration is read: the mode (single broker, embedded voters, an
// external store), this node's place in the quorum, and the bounds Kafka
// puts between settings. It resolves the controller listener from
// listeners' CONTROLLER entry when controller.listener is not set.
func (b *BrokerSettings) validateCluster() error {
	c := &b.Cluster
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: "+format, append([]any{ErrClusterConfig}, args...)...)
	}
	if c.InterBrokerListenerName != "" && c.InterBrokerProtocol != "" {
		return bad("only one of %s and %s may be set (as in Kafka): the listener name says the protocol", BrokerInterBrokerListenerName, BrokerSecurityInterBrokerProtocol)
	}
	if c.ReplicaFetchWaitMax > c.ReplicaLagTimeMax {
		return bad("%s=%d must be <= %s=%d, or followers waiting on the leader drop out of the ISR (as Kafka requires)",
			BrokerReplicaFetchWaitMaxMs, c.ReplicaFetchWaitMax.Milliseconds(), BrokerReplicaLagTimeMaxMs, c.ReplicaLagTimeMax.Milliseconds())
	}
	if c.HeartbeatInterval >= c.SessionTimeout {
		return bad("%s=%d must be below %s=%d, or a live broker's lease lapses between two heartbeats",
			BrokerHeartbeatIntervalMs, c.HeartbeatInterval.Milliseconds(), BrokerSessionTimeoutMs, c.SessionTimeout.Milliseconds())
	}
	if !c.Enabled() {
		return b.checkSingleBroker()
	}
	if len(c.Voters) > 0 && len(c.MetadataStore) > 0 {
		return bad("%s and %s are exclusive: voters embed the metadata store (etcd) in the brokers, %s names an external one",
			BrokerControllerQuorumVoters, BrokerMetadataStore, BrokerMetadataStore)
	}
	if c.NodeID < 0 {
		return bad("a cluster node needs %s (--node-id): its id among the brokers%s", BrokerNodeID, voterHint(c.Voters))
	}
	if c.ControllerListen == "" {
		if addr, ok := b.controllerListenerEntry(); ok {
			c.ControllerListen = addr
		}
	}
	if len(c.MetadataStore) > 0 {
		if c.ControllerListen != "" || c.ControllerClientListen != "" || c.rolesNameController() {
			return bad("with %s (an external etcd) no etcd is embedded here: leave out %s, %s, a CONTROLLER listener and the controller role",
				BrokerMetadataStore, BrokerControllerListener, BrokerControllerClientListener)
		}
		if c.InitialState == cluster.InitialStateExisting {
			return bad("%s=%s is an embedded voter's: with %s no etcd is embedded here", BrokerControllerQuorumInitialState, c.InitialState, BrokerMetadataStore)
		}
		if c.QuorumElectionTimeout != DefaultQuorumElectionTimeout {
			return bad("%s=%d is an embedded voter's: with %s no etcd is embedded here (set the external etcd's --election-timeout)",
				BrokerControllerQuorumElectionTimeoutMs, c.QuorumElectionTimeout.Milliseconds(), BrokerMetadataStore)
		}
		return nil
	}
	self, inVoters := c.Voter()
	voter := c.ControllerListen != "" || c.rolesNameController() || (c.ProcessRoles == "" && inVoters)
	if !voter {
		if inVoters {
			return bad("%s=%d is in %s (%s) but process.roles=%s: a broker-only node must not be a voter (as in Kafka)",
				BrokerNodeID, c.NodeID, BrokerControllerQuorumVoters, self, c.ProcessRoles)
		}
		if c.ControllerClientListen != "" {
			return bad("%s is a voter's: this node is not one", BrokerControllerClientListener)
		}
		if c.InitialState == cluster.InitialStateExisting {
			return bad("%s=%s is a voter's: this node is not one", BrokerControllerQuorumInitialState, c.InitialState)
		}
		return nil
	}
	if !inVoters {
		return bad("%s=%d is not in %s (%s): a node with a controller listener is a voter and must be one of them",
			BrokerNodeID, c.NodeID, BrokerControllerQuorumVoters, FormatVoters(c.Voters))
	}
	if c.ControllerListen == "" {
		return bad("node %d is a voter (%s): set %s (--controller-listen %s) to where its etcd peer traffic listens",
			c.NodeID, self, BrokerControllerListener, self.Addr())
	}
	// The listener may differ from the voter entry (Kafka's rule: the
	// voters list is what is dialed, the listener what is bound), for a
	// proxy, NAT or port mapping in front of the member; nothing here can
	// check that the entry reaches the listener, and a member the others
	// cannot reach says so when it does not start.
	_, port, err := dialAddr(c.ControllerListen)
	if err != nil {
		return bad("%s=%s: %v", BrokerControllerListener, c.ControllerListen, err)
	}
	if int(port)+ControllerClientPortOffset > 65535 && c.ControllerClientListen == "" {
		return bad("%s=%s: the etcd client port is derived as %d + %d, past 65535: set %s",
			BrokerControllerListener, c.ControllerListen, port, ControllerClientPortOffset, BrokerControllerClientListener)
	}
	if sameAddr(c.ClientListen(), c.ControllerListen) {
		return bad("%s=%s is the controller listener's address", BrokerControllerClientListener, c.ControllerClientListen)
	}
	for _, v := range c.Voters {
		if v.ID == c.NodeID && c.ControllerClientListen != "" {
			continue // its own client listener is named
		}
		if int(v.Port)+ControllerClientPortOffset > 65535 {
			return bad("voter %s: its etcd client port (%d + %d) is past 65535", v, v.Port, ControllerClientPortOffset)
		}
	}
	return nil
}

// voterHint names the voters' ids for an error about node.id.
func voterHint(voters []Voter) string {
	if len(voters) == 0 {
		return ""
	}
	ids := make([]string, len(voters))
	for i, v := range voters {
		ids[i] = strconv.Itoa(int(v.ID))
	}
	return " (a voter's is its id in controller.quorum.voters: " + strings.Join(ids, ", ") + ")"
}

// controllerListenerEntry is the address of a CONTROLLER entry in Kafka's
// listeners, KRaft's way of naming the controller listener.
func (b *BrokerSettings) controllerListenerEntry() (string, bool) {
	entries, err := parseListenerList(kafkaListeners, b.Listeners)
	if err != nil {
		return "", false
	}
	for _, e := range entries {
		if e.name == controllerListenerName {
			return e.addr, true
		}
	}
	return "", false
}

// checkSingleBroker refuses, for a single broker, the cluster settings
// given with a value that asks for more than one replica of a topic, and
// names the others in the start-up note. offsets.topic.replication.factor
// is not refused: its default is Kafka's 3, and a single broker keeps
// one replica of __consumer_offsets whatever it says, as it always has.
func (b *BrokerSettings) checkSingleBroker() error {
	c := &b.Cluster
	needs := func(name string, v any) error {
		return fmt.Errorf("%w: %s=%v needs a cluster: a single broker has one replica of each partition "+
			"(set controller.quorum.voters or metadata.store, or leave it out)", ErrClusterConfig, name, v)
	}
	switch {
	case b.clusterGiven[BrokerDefaultReplicationFactor] && c.DefaultReplicationFactor > 1:
		return needs(BrokerDefaultReplicationFactor, c.DefaultReplicationFactor)
	case c.MinInsyncReplicas > 1:
		return needs(BrokerMinInsyncReplicas, c.MinInsyncReplicas)
	case c.InterBrokerProtocol != "" && c.InterBrokerProtocol != auth.Plaintext.String():
		return fmt.Errorf("%w: %s=%s: TLS and SASL between brokers need a cluster (set controller.quorum.voters)", ErrClusterConfig, BrokerSecurityInterBrokerProtocol, c.InterBrokerProtocol)
	case c.ControllerListen != "" || c.ControllerClientListen != "":
		return fmt.Errorf("%w: %s is set without %s: a controller listener serves a quorum's voters", ErrClusterConfig, BrokerControllerListener, BrokerControllerQuorumVoters)
	}
	// The others are named in the note when they ask for something:
	// a file --print-config wrote restates their defaults.
	defaults := DefaultBrokerSettings()
	was, is := map[string]string{}, map[string]string{}
	defaults.clusterMap(was)
	b.clusterMap(is)
	for name := range b.clusterGiven {
		if clusterOnly[name] && is[name] != was[name] {
			b.ignore(name, whySingleBroker)
		}
	}
	return nil
}

// sameAddr says whether two host:port name one address.
func sameAddr(a, b string) bool {
	ha, pa, err1 := net.SplitHostPort(a)
	hb, pb, err2 := net.SplitHostPort(b)
	return err1 == nil && err2 == nil && pa == pb && (ha == hb || ha == "" || hb == "" || isUnspecified(ha) || isUnspecified(hb))
}

// ClusterWarnings are the cluster settings that are allowed but probably
// not meant, one sentence each: min.insync.replicas above
// default.replication.factor makes every acks=all produce to a topic
// created with the default fail with NOT_ENOUGH_REPLICAS (Kafka accepts
// it too, and fails those produces).
func (b *BrokerSettings) ClusterWarnings() []string {
	c := &b.Cluster
	var w []string
	if c.Enabled() && c.MinInsyncReplicas > c.DefaultReplicationFactor {
		w = append(w, fmt.Sprintf("%s=%d is above %s=%d: acks=all produces to topics created with the default replication factor will fail with NOT_ENOUGH_REPLICAS",
			BrokerMinInsyncReplicas, c.MinInsyncReplicas, BrokerDefaultReplicationFactor, c.DefaultReplicationFactor))
	}
	if c.Enabled() && len(c.Voters) > 0 && len(c.Voters)%2 == 0 {
		w = append(w, fmt.Sprintf("%s names %d voters: an even count tolerates no more failures than one fewer (a majority of %d is needed)",
			BrokerControllerQuorumVoters, len(c.Voters), len(c.Voters)/2+1))
	}
	return w
}

// CheckClusterAddresses checks the cluster's addresses against the
// broker's own, once serve knows them: the controller and etcd client
// listeners must not take a Kafka listener's or the metrics port, and the
// inter-broker listener (inter.broker.listener.name, or the listener
// named after security.inter.broker.protocol, or else the first) must be
// one of the listeners, advertised at an IP address with
// inter.broker.source.bind.enable. It returns the inter-broker
// listener's name.
func (c *ClusterConfig) CheckClusterAddresses(listeners []Listener, metricsListen string) (string, error) {
	if !c.Enabled() {
		return "", nil
	}
	bad := func(format string, args ...any) (string, error) {
		return "", fmt.Errorf("%w: "+format, append([]any{ErrClusterConfig}, args...)...)
	}
	own := map[string]string{}
	for _, l := range listeners {
		own["listener "+l.Name] = l.Addr
	}
	if metricsListen != "" {
		own["--metrics-listen"] = metricsListen
	}
	if c.IsVoter() {
		for what, addr := range own {
			if sameAddr(addr, c.ControllerListen) {
				return bad("%s=%s takes the address of %s (%s)", BrokerControllerListener, c.ControllerListen, what, addr)
			}
			if sameAddr(addr, c.ClientListen()) {
				return bad("the etcd client address %s (%s) takes the address of %s: set %s", c.ClientListen(), clientListenRule(c), what, BrokerControllerClientListener)
			}
		}
	}
	if len(listeners) == 0 {
		return "", nil
	}
	l, err := c.interBrokerListener(listeners)
	if err != nil {
		return "", err
	}
	if _, err := c.interBrokerPlan(l); err != nil {
		return "", err
	}
	if c.InterBrokerSourceBind {
		host, ok := listenerAdvertisedHost(l)
		if !ok {
			host = ""
		}
		if _, err := sourceBindIP(l.Name, host); err != nil {
			return "", err
		}
	}
	return l.Name, nil
}

func clientListenRule(c *ClusterConfig) string {
	if c.ControllerClientListen != "" {
		return BrokerControllerClientListener
	}
	return fmt.Sprintf("the controller port + %d", ControllerClientPortOffset)
}

// clusterConfigInfos are what DescribeConfigs says of the cluster
// settings: Kafka's types, and what each does here.
var clusterConfigInfos = map[string]configInfo{
	BrokerProcessRoles:                      {kmsg.ConfigTypeList, "The node's roles: broker, or broker,controller for a voter of the metadata quorum."},
	BrokerControllerQuorumVoters:            {kmsg.ConfigTypeList, "The voters of the metadata quorum (embedded etcd members) as id@host:port; empty on a single broker."},
	BrokerControllerListener:                {kmsg.ConfigTypeString, "The address this voter's etcd peer traffic listens on; the other voters dial its controller.quorum.voters entry."},
	BrokerControllerClientListener:          {kmsg.ConfigTypeString, "The address this voter's etcd serves the brokers on; empty: the controller port + 1."},
	BrokerControllerQuorumInitialState:      {kmsg.ConfigTypeString, "How a voter with an empty etcd data dir starts: new forms a new quorum, existing joins the running one as the member cluster add-voter added."},
	BrokerControllerQuorumElectionTimeoutMs: {kmsg.ConfigTypeInt, "The embedded etcd members' raft election timeout; their heartbeat is a tenth of it."},
	BrokerMetadataStore:                     {kmsg.ConfigTypeString, "An external etcd holding the cluster's metadata, etcd://host:port,...; empty: embedded voters or a single broker."},
	BrokerDefaultReplicationFactor:          {kmsg.ConfigTypeInt, "The replication factor of topics created without one."},
	BrokerOffsetsTopicReplicationFactor:     {kmsg.ConfigTypeShort, "The replication factor of __consumer_offsets; it is not created until this many brokers are live."},
	BrokerReplicaLagTimeMaxMs:               {kmsg.ConfigTypeLong, "A follower that has not caught up for this long leaves the ISR."},
	BrokerRack:                              {kmsg.ConfigTypeString, "The broker's rack; replicas are spread across racks."},
	BrokerSessionTimeoutMs:                  {kmsg.ConfigTypeInt, "A broker whose lease lapses this long is fenced."},
	BrokerHeartbeatIntervalMs:               {kmsg.ConfigTypeInt, "How often a broker renews its lease."},
	BrokerInitialRegistrationTimeoutMs:      {kmsg.ConfigTypeInt, "How long a starting broker waits for the metadata quorum to answer before it gives up."},
	BrokerFastFencingEnable:                 {kmsg.ConfigTypeBoolean, "Whether a broker whose process is gone (its inter-broker address refuses connections) is fenced at once, not when its lease lapses."},
	BrokerInterBrokerSourceBindEnable:       {kmsg.ConfigTypeBoolean, "Whether the connections this broker opens to other brokers and to etcd come from the host of its advertised inter-broker listener (an IP of this machine) rather than the kernel's choice."},
	BrokerInterBrokerListenerName:           {kmsg.ConfigTypeString, "The listener brokers dial each other on."},
	BrokerSecurityInterBrokerProtocol:       {kmsg.ConfigTypeString, "The security protocol brokers dial each other with."},
	BrokerSASLMechanismInterBrokerProtocol:  {kmsg.ConfigTypeString, "The SASL mechanism brokers log in to each other with; no default (Kafka's GSSAPI is not served)."},
	BrokerReplicaFetchMaxBytes:              {kmsg.ConfigTypeInt, "The bytes per partition a follower asks for in one fetch."},
	BrokerReplicaFetchWaitMaxMs:             {kmsg.ConfigTypeInt, "The longest a follower's fetch waits at the leader."},
	BrokerReplicaFetchMinBytes:              {kmsg.ConfigTypeInt, "The bytes a follower's fetch waits for at the leader."},
	BrokerNumReplicaFetchers:                {kmsg.ConfigTypeInt, "Fetcher connections a follower keeps to each leader broker."},
	BrokerAutoLeaderRebalanceEnable:         {kmsg.ConfigTypeBoolean, "Whether the controller moves leadership back to preferred replicas that are in sync."},

	// Leader balancing.
	BrokerLeaderImbalanceCheckIntervalSeconds: {kmsg.ConfigTypeLong, "How often the controller checks the leader balance."},
	BrokerLeaderImbalancePerBrokerPercentage:  {kmsg.ConfigTypeInt, "The share of a broker's preferred partitions it may not lead before the controller elects it back."},
	BrokerLeaderReplicationThrottledRate:      {kmsg.ConfigTypeLong, "Bytes per second a leader sends to out-of-sync followers of the replicas listed in leader.replication.throttled.replicas; changeable per broker at run time."},
	BrokerFollowerReplicationThrottledRate:    {kmsg.ConfigTypeLong, "Bytes per second this broker's out-of-sync replicas listed in follower.replication.throttled.replicas fetch; changeable per broker at run time."},
}
