package server

import (
	"fmt"
	"math"
	"time"

	"github.com/tributary-io/tributary/auth"
	"github.com/tributary-io/tributary/cluster"
	"github.com/tributary-io/tributary/consumergroup"
)

// Broker-level defaults, named and valued as Kafka's.
const (
	// DefaultSocketRequestMaxBytes is socket.request.max.bytes: the largest
	// request frame accepted. A larger size prefix closes the connection
	// before anything is allocated.
	DefaultSocketRequestMaxBytes = 100 << 20
	// DefaultQueuedMaxRequestBytes is queued.max.request.bytes: request
	// frames of all connections being decoded and handled at once. A
	// connection whose frame does not fit waits until others finish.
	// Kafka leaves this unbounded by default; a bound keeps the broker's
	// memory flat under thousands of producers.
	DefaultQueuedMaxRequestBytes = 256 << 20
	// maxNonProduceRequestBytes caps frames of every API but Produce. Only
	// Produce carries bulk data; other requests are small, and kmsg
	// allocates each array's elements (tens of bytes) before reading them,
	// so a lying array count costs up to ~32x its frame: the cap bounds
	// what a malicious non-Produce frame can make the decoder allocate.
	// Produce is exempt (it carries the records): a lying Produce frame can
	// cost ~32x its size while kmsg decodes it; decodeAmplification makes
	// such decodes share queued.max.request.bytes. Lower
	// socket.request.max.bytes to tighten the bound for a single frame.
	maxNonProduceRequestBytes = 2 << 20
	// decodeAmplification is the most a frame is taken to cost while kmsg
	// decodes it, as a multiple of its size (measured: ~32x for a
	// Produce whose array counts lie). A frame holds that much of
	// queued.max.request.bytes until decoded, so lying frames decode a
	// few at a time; a frame whose weight exceeds the whole budget
	// decodes alone.
	decodeAmplification = 32
	// DefaultConnectionsMaxIdle is connections.max.idle.ms.
	DefaultConnectionsMaxIdle = 10 * time.Minute
	// DefaultNumPartitions is num.partitions, used by auto-created topics
	// and CreateTopics requests that leave the count to the broker.
	DefaultNumPartitions = 1
	// DefaultFetchMaxBytes is fetch.max.bytes: the broker's cap on one fetch
	// response, whatever the request asks.
	DefaultFetchMaxBytes = 55 << 20
	// DefaultMaxConnections is max.connections: client connections served
	// at once across listeners. Kafka's default, no limit.
	DefaultMaxConnections = math.MaxInt32
	// DefaultMaxConnectionsPerIP is max.connections.per.ip: connections
	// from one client address. Kafka's default, no limit.
	DefaultMaxConnectionsPerIP = math.MaxInt32
	// DefaultProducerIDQuotaWindow is producer.id.quota.window.size.seconds.
	DefaultProducerIDQuotaWindow = time.Second
	// NodeID is this broker's node id: the leader of every partition.
	NodeID = 0
)

// Config is the broker's configuration. The zero value is not usable; start
// from DefaultConfig.
type Config struct {
	// Advertise is the host:port clients are told to connect to; empty
	// means the listener's address.
	Advertise string
	// ClusterID is reported by Metadata and DescribeCluster.
	ClusterID string
	// AutoCreateTopics is auto.create.topics.enable: Metadata and Produce
	// for an unknown topic create it with NumPartitions partitions.
	AutoCreateTopics bool
	// NumPartitions is num.partitions.
	NumPartitions int
	// SocketRequestMaxBytes is socket.request.max.bytes.
	SocketRequestMaxBytes int
	// QueuedMaxRequestBytes is queued.max.request.bytes; it is raised to
	// SocketRequestMaxBytes if lower, so that any single request fits.
	QueuedMaxRequestBytes int
	// ConnectionsMaxIdle is connections.max.idle.ms.
	ConnectionsMaxIdle time.Duration
	// ConnectionsMaxReauth is connections.max.reauth.ms (KIP-368): the
	// lifetime of a SASL session, told to clients in SaslAuthenticate v1+;
	// a connection that sends anything but a re-authentication after it
	// is closed. 0: sessions do not expire. A listener's
	// listener.name.<name>[.<mechanism>].connections.max.reauth.ms
	// overrides it (listenerReauth).
	ConnectionsMaxReauth time.Duration
	// FetchMaxBytes is fetch.max.bytes.
	FetchMaxBytes int
	// FetchSessionCacheSlots is max.incremental.fetch.session.cache.slots:
	// the fetch sessions (KIP-227) the broker keeps; 0 declines them.
	FetchSessionCacheSlots int
	// MaxConnections is max.connections, Kafka's broker-wide limit: with
	// that many connections open the broker accepts one more and waits
	// for a slot before reading from it, so later clients wait in the
	// listen backlog until a connection closes (nothing is refused).
	MaxConnections int
	// MaxConnectionsPerIP is max.connections.per.ip: a connection from an
	// address that already has that many is closed as soon as accepted.
	// 0 is allowed only with overrides: then only the overridden
	// addresses may connect.
	MaxConnectionsPerIP int
	// MaxConnectionsPerIPOverrides is max.connections.per.ip.overrides:
	// per-address limits replacing MaxConnectionsPerIP, keyed by the
	// address in canonical form (netip.Addr.String of the unmapped
	// address); BrokerSettings reads Kafka's "ip:n,ip:n" syntax.
	MaxConnectionsPerIPOverrides map[string]int
	// ProducerIDQuotaRate is producer.id.quota.rate: the new producer ids
	// (InitProducerId) one client id may have per second, KIP-936-style;
	// 0, the default, is no limit. See 22_init_producer_id.go.
	ProducerIDQuotaRate float64
	// ProducerIDQuotaWindow is producer.id.quota.window.size.seconds: a
	// client may take the rate times this window of ids at once.
	ProducerIDQuotaWindow time.Duration
	// ShutdownTimeout bounds how long Close waits for in-flight requests.
	ShutdownTimeout time.Duration
	// Groups configures the group coordinator (group.* and offsets.*).
	Groups consumergroup.Config
	// Cluster makes the broker a node of a cluster (cluster_node.go),
	// joined by StartCluster once its listeners are open; the
	// log.Manager must be opened with Options.ReplicatedLeadership. Nil:
	// a single broker.
	Cluster *ClusterOptions

	// Authorizer is authorizer.class.name: empty serves no ACLs (every
	// request is allowed, and the ACL APIs answer SECURITY_DISABLED);
	// Kafka's StandardAuthorizer or AclAuthorizer class name checks every
	// request against the ACLs kept in the data dir (meta/acls).
	Authorizer string
	// SuperUsers is super.users: principals ("User:admin") that the
	// authorizer allows everything.
	SuperUsers []string
	// AllowEveryoneIfNoACLFound is allow.everyone.if.no.acl.found: with
	// an authorizer, a resource that has no ACL is open to everyone
	// instead of to super users only.
	AllowEveryoneIfNoACLFound bool

	// principalByHost is set by tests only (export_test.go): the
	// principal of connections from a client address, standing in for
	// authentication until SASL and mutual TLS set principals.
	principalByHost map[string]auth.Principal
	// stalledFollower is set by tests only: a follower's fetch of a
	// partition this broker leads for which it reports true is refused
	// (REPLICA_NOT_AVAILABLE: the follower backs off and retries) before
	// the leader records anything of it, so the follower makes no
	// progress there, as a frozen or cut-off follower (its ISR standing
	// lapses after replica.lag.time.max.ms).
	stalledFollower func(topic string, partition, follower int32) bool
	// fetchNotOpen is set by tests only: a fetch in a cluster that found
	// a partition not open here (not known, or not led) calls it with
	// its replica ID (-1: a consumer's) between resolving the request
	// and looking whether this broker is about to lead the partition
	// (awaitLeading), where the reconciler may open it.
	fetchNotOpen func(follower int32)
	// beforeReconcile is set by tests only: the reconciler calls it with
	// each snapshot before applying it, so that a test can hold one
	// broker's metadata back behind the others'.
	beforeReconcile func(*cluster.Snapshot)
	// replicaFetchBackoff is set by tests only: the followers' rest after
	// a failed fetch (replica.FetcherConfig.Backoff; 0: Kafka's
	// replica.fetch.backoff.ms, 1 s).
	replicaFetchBackoff time.Duration
}

// DefaultConfig returns Kafka's defaults.
func DefaultConfig() Config {
	return Config{
		ClusterID:              "tributary",
		AutoCreateTopics:       true,
		NumPartitions:          DefaultNumPartitions,
		SocketRequestMaxBytes:  DefaultSocketRequestMaxBytes,
		QueuedMaxRequestBytes:  DefaultQueuedMaxRequestBytes,
		ConnectionsMaxIdle:     DefaultConnectionsMaxIdle,
		FetchMaxBytes:          DefaultFetchMaxBytes,
		FetchSessionCacheSlots: DefaultFetchSessionCacheSlots,
		MaxConnections:         DefaultMaxConnections,
		MaxConnectionsPerIP:    DefaultMaxConnectionsPerIP,
		ProducerIDQuotaWindow:  DefaultProducerIDQuotaWindow,
		ShutdownTimeout:        30 * time.Second,
		Groups:                 consumergroup.DefaultConfig(),
	}
}

// Validate reports the first setting out of range.
func (c Config) Validate() error {
	switch {
	case c.NumPartitions < 1:
		return fmt.Errorf("server: num.partitions must be at least 1, got %d", c.NumPartitions)
	case c.SocketRequestMaxBytes < 1024:
		return fmt.Errorf("server: socket.request.max.bytes must be at least 1024, got %d", c.SocketRequestMaxBytes)
	case c.ConnectionsMaxIdle <= 0:
		return fmt.Errorf("server: connections.max.idle.ms must be positive, got %v", c.ConnectionsMaxIdle)
	case c.QueuedMaxRequestBytes < 0:
		return fmt.Errorf("server: queued.max.request.bytes must not be negative, got %d", c.QueuedMaxRequestBytes)
	case c.FetchMaxBytes < 1024:
		return fmt.Errorf("server: fetch.max.bytes must be at least 1024, got %d", c.FetchMaxBytes)
	case c.FetchSessionCacheSlots < 0:
		return fmt.Errorf("server: max.incremental.fetch.session.cache.slots must not be negative, got %d", c.FetchSessionCacheSlots)
	case c.MaxConnections < 1:
		// Kafka takes 0, which makes a broker that never serves a
		// client: refused as a mistake rather than obeyed.
		return fmt.Errorf("server: max.connections must be at least 1, got %d", c.MaxConnections)
	case c.ProducerIDQuotaRate < 0 || math.IsNaN(c.ProducerIDQuotaRate) || math.IsInf(c.ProducerIDQuotaRate, 0):
		return fmt.Errorf("server: producer.id.quota.rate must be a number >= 0 (0: no limit), got %v", c.ProducerIDQuotaRate)
	case c.ProducerIDQuotaWindow < time.Second:
		return fmt.Errorf("server: producer.id.quota.window.size.seconds must be at least 1, got %v", c.ProducerIDQuotaWindow)
	case c.MaxConnectionsPerIP < 0:
		return fmt.Errorf("server: max.connections.per.ip must not be negative, got %d", c.MaxConnectionsPerIP)
	case c.MaxConnectionsPerIP == 0 && len(c.MaxConnectionsPerIPOverrides) == 0:
		// Kafka's rule: 0 only makes sense with addresses let through.
		return fmt.Errorf("server: max.connections.per.ip can be 0 only if max.connections.per.ip.overrides is set")
	}
	if err := auth.CheckAuthorizerClass(c.Authorizer); err != nil {
		return fmt.Errorf("server: authorizer.class.name: %w", err)
	}
	for _, p := range c.SuperUsers {
		if _, err := auth.ParsePrincipal(p); err != nil {
			return fmt.Errorf("server: super.users: %w", err)
		}
	}
	for ip, n := range c.MaxConnectionsPerIPOverrides {
		if n < 0 {
			return fmt.Errorf("server: max.connections.per.ip.overrides: %s: limit must not be negative, got %d", ip, n)
		}
	}
	return c.Groups.Validate()
}

// maxConnectionsFrom is the connection limit of client address ip.
func (c *Config) maxConnectionsFrom(ip string) int {
	if n, ok := c.MaxConnectionsPerIPOverrides[ip]; ok {
		return n
	}
	return c.MaxConnectionsPerIP
}
