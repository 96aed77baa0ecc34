package cluster

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/etcd/client/pkg/v3/transport"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.etcd.io/etcd/server/v3/features"
	"go.etcd.io/etcd/server/v3/storage"
	"go.uber.org/zap"
)

const (
	// MetadataDir is the directory under a broker's data dir that holds
	// cluster metadata; the embedded etcd member lives in its EtcdDir.
	MetadataDir = "metadata"
	// EtcdDir is the embedded member's etcd data dir under MetadataDir.
	EtcdDir = "etcd"
	// ClientPortOffset derives an embedded member's client port from its
	// controller (peer) port: clients dial controller port + 1 unless the
	// member is given its own client address. Brokers that are not voters
	// find the quorum's client URLs by the same rule.
	ClientPortOffset = 1
	// DefaultEmbedStartTimeout bounds how long StartEmbedded waits for the
	// member to join a quorum and serve. A member of a new multi-voter
	// cluster waits here until a majority of voters has started.
	DefaultEmbedStartTimeout = 60 * time.Second
	// DefaultClusterToken is etcd's initial-cluster-token for a new
	// quorum: members only form a cluster with members of the same token.
	DefaultClusterToken = "tributary"
	// EmbedMaxTxnOps is the embedded member's limit on operations per
	// transaction (etcd's --max-txn-ops, default 128). This release
	// writes at most 128 (doc.go, Writes); the higher limit is for
	// brokers of the previous release during a rolling upgrade, which
	// create a topic in one transaction of its partition count + 1.
	EmbedMaxTxnOps = 10000
	// EmbedMaxRequestBytes is the embedded member's request size limit
	// (etcd's --max-request-bytes, default 1.5 MiB); etcd warns above 10 MiB.
	EmbedMaxRequestBytes = 10 << 20
	// EmbedGRPCKeepAliveMinTime is the shortest keepalive ping interval
	// the embedded member accepts from a client (etcd's
	// --grpc-keepalive-min-time, 5 s by default), lenient so that no
	// client's pings are answered with too_many_pings. Brokers' clients
	// ping every 10 s, gRPC's floor; what moves them off a member that
	// stopped answering within seconds is the EndpointGuard
	// (endpoint_guard.go), not the pings.
	EmbedGRPCKeepAliveMinTime = time.Second
	// embedCompactionRetention is the history of revisions the members
	// keep (etcd's periodic compaction, --auto-compaction-retention):
	// every 5 minutes each compacts away what is older than 5 minutes.
	// Tributary reads no old revision but to resume a watch: a broker's
	// watch resumes from its last revision after a reconnect (seconds)
	// and one that fell behind a compaction reloads by Get
	// (EtcdStore.watch, Registration.guard). What is kept costs a
	// restarted member its start: it rebuilds its key index from every
	// revision its backend holds (BenchmarkEmbeddedRestart), and a
	// failover at 10,000 partitions writes ~20,000, so an hour of
	// failovers made a voter's restart grow by seconds.
	embedCompactionRetention = 5 * time.Minute
	// embedSnapshotCount is etcd's --snapshot-count (10,000 by default):
	// the entries applied between two raft snapshots, hence the most of
	// its WAL a restarted member replays. Tributary's entries are
	// transactions of up to 128 partition states (~40 KB), so 10,000 of
	// them were ~400 MB of WAL to read back; a snapshot is cheap (etcd
	// keeps its data in the backend, not in the snapshot file), and a
	// follower behind by up to etcd's 5,000 catch-up entries still
	// catches up from the log.
	embedSnapshotCount = 1000
	// embedWarningApplyDuration is etcd's --warning-apply-duration (100 ms
	// by default): an apply slower than it is logged at Warn with the
	// whole request's text. A failover at 10,000 partitions sends
	// transactions of 64 partition states (~13 KB of text each) whose
	// applies took 100-260 ms on a loaded 2-core machine: etcd built and
	// logged that text for nearly every one, on the busiest member, in
	// the middle of the storm. Half a second still names an apply slow
	// enough to matter (half the default election timeout).
	embedWarningApplyDuration = 500 * time.Millisecond

	// DefaultElectionTimeout is the embedded member's raft election
	// timeout (etcd's --election-timeout, and KRaft's
	// controller.quorum.election.timeout.ms, both 1 s). A follower that
	// hears nothing from the leader for a random time in [timeout,
	// 2*timeout) campaigns, so it also bounds how long the quorum takes
	// no write after its leader dies. etcd derives two more times from
	// it: a new leader extends every lease by one timeout (lessor.Promote)
	// and no lease is granted a TTL below 1.5 timeouts, rounded up to a
	// second.
	DefaultElectionTimeout = time.Second
	// ElectionTicks is the election timeout in heartbeats: the member's
	// heartbeat interval (etcd's --heartbeat-interval, TickMs) is the
	// election timeout over this, etcd's own ratio of 100 ms to 1 s.
	// Kafka has no heartbeat setting for its quorum either (the leader's
	// fetch timeouts derive from the election timeout).
	ElectionTicks = 10
	// MinElectionTimeout and MaxElectionTimeout are what etcd accepts
	// with the heartbeat derived by ElectionTicks: a heartbeat of at
	// least 1 ms (TickMs > 0; an election timeout of at least five
	// heartbeats holds by ElectionTicks) and an election timeout of at
	// most 50 s (etcd's maxElectionMs).
	MinElectionTimeout = ElectionTicks * time.Millisecond
	MaxElectionTimeout = 50 * time.Second
)

// CheckElectionTimeout refuses an election timeout the embedded member
// cannot run with: outside [MinElectionTimeout, MaxElectionTimeout], or
// not whole milliseconds (etcd's unit).
func CheckElectionTimeout(d time.Duration) error {
	switch {
	case d%time.Millisecond != 0:
		return fmt.Errorf("cluster: election timeout %v is not a whole number of milliseconds", d)
	case d < MinElectionTimeout:
		return fmt.Errorf("cluster: election timeout %v is below %v: etcd needs a heartbeat (a %dth of it) of at least 1 ms", d, MinElectionTimeout, ElectionTicks)
	case d > MaxElectionTimeout:
		return fmt.Errorf("cluster: election timeout %v is above etcd's limit of %v", d, MaxElectionTimeout)
	}
	return nil
}

// electionMs is etcd's ElectionMs and TickMs for an election timeout
// (zero: DefaultElectionTimeout) that CheckElectionTimeout accepts.
func electionMs(d time.Duration) (election, tick uint) {
	if d == 0 {
		d = DefaultElectionTimeout
	}
	election = uint(d / time.Millisecond)
	return election, election / ElectionTicks
}

// TLSFiles are the PEM files of one side (peer or client) of an embedded
// member. etcd's server takes files, not a *tls.Config, so that it can
// reload certificates: it reads CertFile and KeyFile again at every
// handshake (a rotated certificate is served and presented at the next
// connection) but TrustedCAFile only at start (transport.TLSInfo of
// etcd v3.7). Embedded.ClientTLS builds the matching client side.
type TLSFiles struct {
	CertFile      string // server certificate (also the client certificate when ClientCertAuth)
	KeyFile       string
	TrustedCAFile string // CA that signs peers'/clients' certificates
	// ClientCertAuth requires the other side to present a certificate
	// signed by TrustedCAFile (mutual TLS).
	ClientCertAuth bool
}

// EmbedConfig configures one voter's embedded etcd member.
type EmbedConfig struct {
	NodeID  int32  // node.id: the member's name is its decimal node ID
	DataDir string // the broker's data dir; etcd keeps <DataDir>/metadata/etcd
	// ControllerListen is host:port the member binds for etcd peer
	// (raft) traffic: --controller-listen (etcd's listen-peer-urls).
	// Other voters reach it at the address controller.quorum.voters
	// gives for NodeID (advertise-peer-urls), which may differ: a proxy,
	// NAT or port mapping in between.
	ControllerListen string
	// ClientListen is host:port the member binds for etcd clients
	// (listen-client-urls). Empty: ControllerListen's host and port +
	// ClientPortOffset. Clients are told (advertise-client-urls) the
	// voter entry's host at the voter entry's port + ClientPortOffset,
	// where every broker dials it, unless ControllerListen has the voter
	// entry's port: then ClientListen's port, as it is bound.
	ClientListen string
	Voters       []Voter // controller.quorum.voters; must contain NodeID
	ClusterToken string  // empty: DefaultClusterToken
	PeerTLS      *TLSFiles
	ClientTLS    *TLSFiles
	StartTimeout time.Duration // empty: DefaultEmbedStartTimeout
	Logger       *slog.Logger  // etcd's warnings and errors; nil discards them
	// UnsafeNoFsync skips etcd's fsyncs: tests only, a crash loses metadata.
	UnsafeNoFsync bool
	// ElectionTimeout is controller.quorum.election.timeout.ms, the
	// member's raft election timeout; its heartbeat is a tenth of it
	// (ElectionTicks). Every voter of a quorum should have the same.
	// Empty: DefaultElectionTimeout.
	ElectionTimeout time.Duration
	// BindPeerSource makes the member dial the other voters from its
	// voter entry's host (inter.broker.source.bind.enable), by etcd's
	// SetMemberLocalAddr feature gate. etcd (v3.7) applies it only to an
	// IP literal that is neither loopback nor unspecified: a voter whose
	// entry is 127.x.x.x or a host name dials its peers from the
	// kernel's choice of address still (StartEmbedded logs so).
	BindPeerSource bool
	// JoinExisting (controller.quorum.initial.state=existing) starts a
	// member whose etcd data dir holds no write-ahead log as a new member
	// of the running quorum, which must have been told of it (AddVoter):
	// its initial cluster is the quorum's membership, read from the other
	// voters' client addresses, and it serves only once promoted from
	// learner to voter. A member with a log rejoins from it either way.
	JoinExisting bool
	// defrag is the member's online defragmentation (defrag.go); the
	// zero value is defaultDefragPolicy. Tests shorten it.
	defrag defragPolicy
	// snapshotCount overrides embedSnapshotCount when not 0 (benchmarks
	// compare the two).
	snapshotCount uint64
}

// Embedded is a running embedded etcd member.
type Embedded struct {
	etcd       *embed.Etcd
	clientURLs []string
	clientTLS  *TLSFiles
	stopping   *atomic.Bool // quiets etcd's shutdown noise
	closeOnce  sync.Once
	done       chan struct{}  // closed by Close: ends watchLeaders and the defragmenter
	wg         sync.WaitGroup // watchLeaders, the defragmenter

	// leaderChanges counts the raft leaders this member learned of, the
	// first one included (etcd's leader_changes_seen), written by
	// watchLeaders only.
	leaderChanges atomic.Int64
	// defrags counts this member's defragmentations (defrag.go).
	defrags atomic.Int64
}

// EtcdDataDir returns the embedded member's etcd data dir under a broker
// data dir.
func EtcdDataDir(dataDir string) string { return filepath.Join(dataDir, MetadataDir, EtcdDir) }

// DeriveClientAddr returns the etcd client address derived from a
// controller address: same host, port + ClientPortOffset.
func DeriveClientAddr(controllerAddr string) (string, error) {
	host, port, err := splitHostPort(controllerAddr)
	if err != nil {
		return "", fmt.Errorf("cluster: controller address: %w", err)
	}
	if port+ClientPortOffset > 65535 {
		return "", fmt.Errorf("cluster: controller address %q: client port %d is out of range; give the client address explicitly", controllerAddr, port+ClientPortOffset)
	}
	return net.JoinHostPort(host, strconv.Itoa(port+ClientPortOffset)), nil
}

// VoterClientEndpoints returns the etcd client endpoints (host:port) of
// the voters by the ClientPortOffset rule: what a broker that is not a
// voter dials.
func VoterClientEndpoints(voters []Voter) ([]string, error) {
	eps := make([]string, 0, len(voters))
	for _, v := range voters {
		ep, err := DeriveClientAddr(v.Addr())
		if err != nil {
			return nil, err
		}
		eps = append(eps, ep)
	}
	return eps, nil
}

// StartEmbedded starts the member and waits until it serves clients, at
// most StartTimeout (or until ctx ends). The member starts a new cluster
// from Voters when its etcd data dir holds no write-ahead log (or, with
// JoinExisting, joins the running quorum and waits to be promoted from
// learner to voter), and rejoins its existing cluster from the log
// otherwise.
func StartEmbedded(ctx context.Context, c EmbedConfig) (*Embedded, error) {
	stopping := new(atomic.Bool)
	cfg, clientURL, err := c.etcdConfig(stopping)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("cluster: etcd data dir: %w", err)
	}
	timeout := c.StartTimeout
	if timeout <= 0 {
		timeout = DefaultEmbedStartTimeout
	}
	if c.BindPeerSource && c.Logger != nil {
		if host := cfg.AdvertisePeerUrls[0].Hostname(); !PeerSourceBindable(host) {
			c.Logger.Warn("cluster: etcd binds the source of its peer connections only to a voter host that is an IP literal, not loopback and not unspecified: this member dials the other voters from the kernel's choice of address",
				"voter_host", host, "node", c.NodeID)
		}
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	joining := c.JoinExisting && !hasWAL(cfg.Dir)
	if joining {
		jctx, cancel := context.WithTimeout(ctx, timeout)
		initial, err := c.existingCluster(jctx, cfg.AdvertisePeerUrls[0].String())
		cancel()
		if err != nil {
			return nil, err
		}
		cfg.InitialCluster, cfg.ClusterState = initial, embed.ClusterStateFlagExisting
	}
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		return nil, fmt.Errorf("cluster: start etcd member %d (peer %s, client %s): %w", c.NodeID, c.ControllerListen, clientURL, err)
	}
	select {
	case <-e.Server.ReadyNotify():
	case err := <-e.Err():
		stopping.Store(true)
		closeUnready(e)
		return nil, fmt.Errorf("cluster: etcd member %d: %w", c.NodeID, err)
	case <-t.C:
		stopping.Store(true)
		closeUnready(e)
		return nil, fmt.Errorf("cluster: etcd member %d not ready after %v: is a majority of controller.quorum.voters (%d of %d) started and reachable on their controller addresses?",
			c.NodeID, timeout, len(c.Voters)/2+1, len(c.Voters))
	case <-ctx.Done():
		stopping.Store(true)
		closeUnready(e)
		return nil, fmt.Errorf("cluster: etcd member %d not ready: %w", c.NodeID, ctx.Err())
	}
	if e.Server.IsLearner() {
		// A learner answers almost no client request: the broker on it
		// starts once the member votes. Joining, or restarted from its
		// log before it was promoted.
		if err := waitPromoted(ctx, e, t.C); err != nil {
			stopping.Store(true)
			e.Close()
			return nil, fmt.Errorf("cluster: etcd member %d joined the quorum as a learner: %w", c.NodeID, err)
		}
	}
	m := &Embedded{etcd: e, clientURLs: []string{clientURL}, clientTLS: c.ClientTLS, stopping: stopping, done: make(chan struct{})}
	log := slog.New(slog.DiscardHandler)
	if c.Logger != nil {
		log = c.Logger.With("node", c.NodeID)
	}
	// Subscribed before the goroutine runs: a leader change from here on
	// is counted even if it comes before the goroutine's first wait.
	changed := e.Server.LeaderChangedNotify()
	if e.Server.Leader() != 0 {
		m.leaderChanges.Add(1) // the leader the member started under
	}
	m.wg.Go(func() { m.watchLeaders(changed, log) })
	if !c.defrag.off {
		p := c.defrag.withDefaults()
		m.wg.Go(func() { m.defragLoop(p, log) })
	}
	return m, nil
}

// watchLeaders counts and logs every raft leader the member learns of,
// with its term: etcd logs elections below the warnings it is let log,
// and an election is when the metadata quorum takes writes again after
// its leader died (and, unasked for, a sign of a member too slow for its
// election timeout: tributary_cluster_quorum_leader_changes_total).
func (m *Embedded) watchLeaders(changed <-chan struct{}, log *slog.Logger) {
	srv := m.etcd.Server
	for {
		select {
		case <-changed:
		case <-m.done:
			return
		case <-srv.StopNotify():
			return
		}
		changed = srv.LeaderChangedNotify()
		m.leaderChanges.Add(1)
		leader := srv.Leader()
		name := leader.String()
		if mem := srv.Cluster().Member(leader); mem != nil {
			name = mem.Name
		}
		log.Info("cluster: metadata quorum leader elected", "leader", name, "term", srv.Term())
	}
}

// waitPromoted waits until e is a voter: AddVoter's caller promotes it
// once it has caught up.
func waitPromoted(ctx context.Context, e *embed.Etcd, timeout <-chan time.Time) error {
	tick := time.NewTicker(promotePoll)
	defer tick.Stop()
	for e.Server.IsLearner() {
		select {
		case <-tick.C:
		case err := <-e.Err():
			return err
		case <-timeout:
			return errors.New("not promoted to voter before the start timeout: is `tributary cluster add-voter` (or etcdctl member promote) running?")
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// existingCluster is the initial cluster of a member joining the running
// quorum at peerURL, from the membership the other voters report.
func (c EmbedConfig) existingCluster(ctx context.Context, peerURL string) (string, error) {
	var others []Voter
	for _, v := range c.Voters {
		if v.NodeID != c.NodeID {
			others = append(others, v)
		}
	}
	if len(others) == 0 {
		return "", fmt.Errorf("cluster: node %d joins an existing quorum (controller.quorum.initial.state=%s) but controller.quorum.voters names no other voter to reach it through", c.NodeID, InitialStateExisting)
	}
	eps, err := VoterClientEndpoints(others)
	if err != nil {
		return "", err
	}
	var tlsCfg *tls.Config
	if c.ClientTLS != nil {
		if tlsCfg, err = (&Embedded{clientTLS: c.ClientTLS}).ClientTLS(); err != nil {
			return "", err
		}
		for i := range eps {
			eps[i] = "https://" + eps[i]
		}
	}
	cli, err := clientv3.New(clientv3.Config{Endpoints: eps, DialTimeout: DefaultDialTimeout, TLS: tlsCfg, Logger: zap.NewNop()})
	if err != nil {
		return "", fmt.Errorf("cluster: node %d joins an existing quorum: etcd client for %v: %w", c.NodeID, eps, err)
	}
	defer cli.Close()
	list, err := cli.MemberList(ctx)
	if err != nil {
		return "", fmt.Errorf("cluster: node %d joins an existing quorum: member list from %v: %w", c.NodeID, eps, err)
	}
	initial, err := JoinInitialCluster(list.Members, c.NodeID, peerURL, c.Voters)
	if err != nil {
		return "", fmt.Errorf("cluster: node %d cannot join the quorum: %w", c.NodeID, err)
	}
	return initial, nil
}

// closeUnready stops a member that never became ready. embed.Etcd.Close
// alone waits for client servers that only start once the member is
// ready, so the server is stopped first, which releases them.
func closeUnready(e *embed.Etcd) {
	e.Server.HardStop()
	e.Close()
}

func (c EmbedConfig) etcdConfig(stopping *atomic.Bool) (*embed.Config, string, error) {
	if c.DataDir == "" {
		return nil, "", errors.New("cluster: embedded etcd needs a data dir")
	}
	var self *Voter
	for i := range c.Voters {
		if c.Voters[i].NodeID == c.NodeID {
			self = &c.Voters[i]
		}
	}
	if self == nil {
		return nil, "", fmt.Errorf("cluster: node %d is not in controller.quorum.voters, so it runs no etcd member", c.NodeID)
	}
	if _, _, err := splitHostPort(c.ControllerListen); err != nil {
		return nil, "", fmt.Errorf("cluster: controller listen: %w", err)
	}
	if c.ElectionTimeout != 0 {
		if err := CheckElectionTimeout(c.ElectionTimeout); err != nil {
			return nil, "", err
		}
	}
	clientListen := c.ClientListen
	if clientListen == "" {
		var err error
		if clientListen, err = DeriveClientAddr(c.ControllerListen); err != nil {
			return nil, "", err
		}
	} else if _, _, err := splitHostPort(clientListen); err != nil {
		return nil, "", fmt.Errorf("cluster: client listen: %w", err)
	}
	_, clientPort, _ := splitHostPort(clientListen)
	_, listenPort, _ := splitHostPort(c.ControllerListen)
	if advPort := self.Port + ClientPortOffset; listenPort != self.Port && advPort <= 65535 {
		// Bound at one port, dialed at another: brokers dial the voter
		// entry's port + ClientPortOffset (VoterClientEndpoints).
		clientPort = advPort
	}
	peerScheme, clientScheme := "http", "http"
	if c.PeerTLS != nil {
		peerScheme = "https"
	}
	if c.ClientTLS != nil {
		clientScheme = "https"
	}

	cfg := embed.NewConfig()
	cfg.Name = memberName(c.NodeID)
	cfg.Dir = EtcdDataDir(c.DataDir)
	cfg.ListenPeerUrls = []url.URL{{Scheme: peerScheme, Host: c.ControllerListen}}
	cfg.AdvertisePeerUrls = []url.URL{{Scheme: peerScheme, Host: self.Addr()}}
	cfg.ListenClientUrls = []url.URL{{Scheme: clientScheme, Host: clientListen}}
	advClient := url.URL{Scheme: clientScheme, Host: net.JoinHostPort(self.Host, strconv.Itoa(clientPort))}
	cfg.AdvertiseClientUrls = []url.URL{advClient}
	initial := ""
	for i, v := range c.Voters {
		if i > 0 {
			initial += ","
		}
		initial += memberName(v.NodeID) + "=" + (&url.URL{Scheme: peerScheme, Host: v.Addr()}).String()
	}
	cfg.InitialCluster = initial
	cfg.InitialClusterToken = c.ClusterToken
	if cfg.InitialClusterToken == "" {
		cfg.InitialClusterToken = DefaultClusterToken
	}
	cfg.ClusterState = embed.ClusterStateFlagNew
	if hasWAL(cfg.Dir) {
		cfg.ClusterState = embed.ClusterStateFlagExisting
	}
	if c.PeerTLS != nil {
		cfg.PeerTLSInfo = c.PeerTLS.info()
	}
	if c.ClientTLS != nil {
		cfg.ClientTLSInfo = c.ClientTLS.info()
	}
	cfg.MaxTxnOps = EmbedMaxTxnOps
	cfg.GRPCKeepAliveMinTime = EmbedGRPCKeepAliveMinTime
	cfg.MaxRequestBytes = EmbedMaxRequestBytes
	cfg.AutoCompactionMode = embed.CompactorModePeriodic
	cfg.AutoCompactionRetention = embedCompactionRetention.String()
	cfg.SnapshotCount = embedSnapshotCount
	cfg.WarningApplyDuration = embedWarningApplyDuration
	if c.snapshotCount != 0 {
		cfg.SnapshotCount = c.snapshotCount
	}
	cfg.EnableGRPCGateway = false
	cfg.UnsafeNoFsync = c.UnsafeNoFsync
	cfg.ElectionMs, cfg.TickMs = electionMs(c.ElectionTimeout)
	cfg.Logger = "zap"
	cfg.LogLevel = "warn"
	cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(newZapLogger(c.Logger, stopping))
	if c.BindPeerSource {
		fg, ok := cfg.ServerFeatureGate.(interface{ SetFromMap(map[string]bool) error })
		if !ok {
			return nil, "", errors.New("cluster: etcd's server feature gates cannot be set: no peer source binding")
		}
		if err := fg.SetFromMap(map[string]bool{string(features.SetMemberLocalAddr): true}); err != nil {
			return nil, "", fmt.Errorf("cluster: etcd feature gate %s: %w", features.SetMemberLocalAddr, err)
		}
	}
	return cfg, advClient.String(), nil
}

// PeerSourceBindable says whether etcd's SetMemberLocalAddr binds the
// source of a member's peer connections to host, its advertised peer
// host: only an IP literal that is neither loopback nor unspecified
// (embed.Config.InferLocalAddr of etcd v3.7).
func PeerSourceBindable(host string) bool {
	ip, err := netip.ParseAddr(host)
	return err == nil && !ip.IsLoopback() && !ip.IsUnspecified()
}

func memberName(id int32) string { return strconv.FormatInt(int64(id), 10) }

// hasWAL reports whether an etcd data dir holds a member's write-ahead
// log, i.e. the member was part of a cluster before.
func hasWAL(dir string) bool {
	ents, err := os.ReadDir(filepath.Join(dir, "member", "wal"))
	return err == nil && len(ents) > 0
}

func (f *TLSFiles) info() transport.TLSInfo {
	return transport.TLSInfo{
		CertFile:       f.CertFile,
		KeyFile:        f.KeyFile,
		TrustedCAFile:  f.TrustedCAFile,
		ClientCertAuth: f.ClientCertAuth,
	}
}

// ElectionTimeout is the raft election timeout the member runs with.
func (m *Embedded) ElectionTimeout() time.Duration {
	cfg := m.etcd.Server.Cfg
	return time.Duration(cfg.ElectionTicks) * time.Duration(cfg.TickMs) * time.Millisecond
}

// MemberStats is what a member's metrics read (server/metrics_cluster.go).
type MemberStats struct {
	// LeaderChanges counts the raft leaders the member learned of since
	// it started, the first one included.
	LeaderChanges int64
	// Leader is whether the member leads the raft now.
	Leader bool
	// DBSize is the size of the member's backend file (bbolt), free
	// pages included; DBSizeInUse what its data uses of it. Compaction
	// frees pages; only a defragmentation gives them back to the disk.
	DBSize, DBSizeInUse int64
	// DBQuota is the size at which etcd raises its NOSPACE alarm and
	// takes no more writes (--quota-backend-bytes).
	DBQuota int64
	// Defrags counts the member's defragmentations since it started.
	Defrags int64
}

// Stats returns the member's counters and sizes as they are now.
func (m *Embedded) Stats() MemberStats {
	srv := m.etcd.Server
	be := srv.Backend()
	quota := srv.Cfg.QuotaBackendBytes
	if quota <= 0 {
		quota = storage.DefaultQuotaBytes
	}
	return MemberStats{
		LeaderChanges: m.leaderChanges.Load(),
		Leader:        srv.Leader() == srv.MemberID(),
		DBSize:        be.Size(),
		DBSizeInUse:   be.SizeInUse(),
		DBQuota:       quota,
		Defrags:       m.defrags.Load(),
	}
}

// LeaderClientURLs returns the client URLs of the raft leader this
// member knows of (itself, when it leads), nil while it knows of none
// (LeaderSource).
func (m *Embedded) LeaderClientURLs() []string {
	srv := m.etcd.Server
	id := srv.Leader()
	if id == 0 {
		return nil
	}
	if mem := srv.Cluster().Member(id); mem != nil {
		return append([]string(nil), mem.ClientURLs...)
	}
	return nil
}

// LeaderChanged returns a channel closed when the member next learns of
// a new raft leader (LeaderSource).
func (m *Embedded) LeaderChanged() <-chan struct{} { return m.etcd.Server.LeaderChangedNotify() }

// ClientURLs returns the URLs clients of this member dial.
func (m *Embedded) ClientURLs() []string { return m.clientURLs }

// ClientTLS returns the client-side TLS config for this member's client
// URLs (nil when they are plaintext): it trusts TrustedCAFile and, with
// ClientCertAuth, presents CertFile.
func (m *Embedded) ClientTLS() (*tls.Config, error) {
	if m.clientTLS == nil {
		return nil, nil
	}
	info := transport.TLSInfo{TrustedCAFile: m.clientTLS.TrustedCAFile}
	if m.clientTLS.ClientCertAuth {
		info.CertFile, info.KeyFile = m.clientTLS.CertFile, m.clientTLS.KeyFile
	}
	cfg, err := info.ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("cluster: etcd client TLS: %w", err)
	}
	return cfg, nil
}

// Close stops the member and waits for it. Safe to call more than once.
func (m *Embedded) Close() {
	m.closeOnce.Do(func() {
		m.stopping.Store(true)
		close(m.done)
		m.wg.Wait()
		m.etcd.Close()
	})
}
