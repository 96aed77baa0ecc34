package server

// A broker of a cluster (issue 14): the node's life beside the Kafka
// listeners. On a single broker (no controller.quorum.voters, no
// metadata.store) none of this runs: s.node is nil, no etcd starts, no
// port opens and no goroutine runs here.
//
// Start (StartCluster, once the listeners are bound, since a broker
// registers their advertised addresses):
//
//  1. a voter starts its embedded etcd member (peer on
//     controller.listener, clients on its port + 1; dialed at its
//     controller.quorum.voters entry and that port + 1);
//  2. the node dials the voters' client endpoints (or metadata.store's),
//     agrees on the cluster ID: the first node of a cluster stores one
//     under <root>/cluster-id (create-if-absent), every node checks it
//     against <data-dir>/meta/cluster-id, written on its first start,
//     so a data dir never joins another cluster;
//  3. it opens the watched store under that cluster ID and registers the
//     broker (every listener's advertised endpoint, broker.rack) under a
//     lease; a single broker's data dir prepared to join registers its
//     topics now (cluster_migrate.go);
//  4. it campaigns for controller and runs cluster.Controller while it
//     holds the office (a lost term campaigns again), and the reconciler
//     (cluster_reconcile.go) makes the local logs and the replica.Manager
//     follow every snapshot.
//
// When the registration is fenced (its lease lapsed: paused, cut off),
// the node stops leading and following every partition at once, drops
// any controllership, and registers again under a new broker epoch; the
// reconciler then takes the partitions up again from the metadata.
//
// Close (Server.Close): a controlled shutdown first (leadership moves to
// other ISR members, bounded by controlledShutdownTimeout), then the
// listeners close, then controller, reconciler, replicas, registration,
// store and member stop, in that order.

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/tributary-io/tributary/cluster"
	"github.com/tributary-io/tributary/consumergroup"
	"github.com/tributary-io/tributary/internal/syncjournal"
	"github.com/tributary-io/tributary/replica"
)

const (
	// clusterIDFile is the data dir's record of the cluster it belongs
	// to, under meta/.
	clusterIDFile = "cluster-id"
	// clusterIDKey is the etcd key, under the key root, holding the
	// cluster's ID; written once by the first node.
	clusterIDKey = "cluster-id"
	// controlledShutdownTimeout bounds how long Close waits for this
	// node's leaderships to move before it stops anyway.
	controlledShutdownTimeout = 10 * time.Second
	// clusterRetryBackoff is the pause between failed registrations or
	// campaigns.
	clusterRetryBackoff = 500 * time.Millisecond
	// joinProgressLog is how often a start waiting for the metadata
	// quorum says so.
	joinProgressLog = 10 * time.Second
	// closeCampaignGrace bounds how long close waits for the campaign to
	// end before it closes the etcd client under it: etcd's
	// Election.Campaign, when its context ends while it waits, resigns
	// on the client's own context, and without a quorum (the other
	// voters already gone) that resign never returns otherwise.
	closeCampaignGrace = 3 * time.Second
	// createWaitTimeout bounds how long a topic creation waits for this
	// node's snapshot and logs to show the new topic.
	createWaitTimeout = 10 * time.Second
	// etcdKeepAliveTime is the etcd client's keepalive ping interval:
	// gRPC's shortest (it raises anything shorter to 10 s).
	etcdKeepAliveTime = 10 * time.Second
)

// ErrClusterIDMismatch is a data dir that belongs to another cluster than
// the one its metadata store holds.
var ErrClusterIDMismatch = errors.New("server: the data dir belongs to another cluster")

// ClusterOptions is what StartCluster needs besides the settings.
type ClusterOptions struct {
	// Config is the node's cluster settings, validated.
	Config ClusterConfig
	// InterBroker is the listener other brokers dial this one on
	// (ClusterConfig.CheckClusterAddresses' answer); empty: the first.
	InterBroker string
	// UncleanLeaderElection is unclean.leader.election.enable's broker
	// default.
	UncleanLeaderElection bool
	// StartTimeout bounds the embedded member's start; 0: etcd's default
	// wait for a quorum (cluster.DefaultEmbedStartTimeout).
	StartTimeout time.Duration
	// UnsafeNoFsync skips etcd's fsyncs: tests only.
	UnsafeNoFsync bool
	// Security is the node's own traffic's security: the inter-broker
	// clients' TLS and SASL, etcd's peer and client TLS
	// (BrokerSettings.ClusterSecurity); zero: plaintext.
	Security ClusterSecurity
}

// brokerNode is the cluster side of a Server; nil on a single broker.
type brokerNode struct {
	s           *Server
	cfg         ClusterConfig
	opts        ClusterOptions
	self        int32
	interBroker string
	log         *slog.Logger

	member    *cluster.Embedded
	client    *clientv3.Client
	leaderCli *cluster.LeaderClient // nil unless a voter: the controller's partition writes
	root      string                // the metadata's etcd key root
	store     *cluster.EtcdStore
	clusterID string
	admin     *cluster.Controller // any broker's requests (CreateTopic, ...)
	replicas  *replica.Manager
	rec       *reconciler
	fencer    *cluster.FastFencer    // nil unless this node watches (cluster_fastfence.go)
	guard     *cluster.EndpointGuard // the etcd client's dialer; leaves members that stop answering
	throttles *replicationThrottles  // cluster_throttle.go

	// elections counts the leaders admin and this node's active
	// controller elected (tributary_cluster_leader_elections_total).
	elections cluster.ElectionStats

	regMu sync.Mutex
	reg   *cluster.Registration // current; nil while re-registering
	// registered is whether reg is live: the reconciler takes partitions
	// up only then.
	registered atomic.Bool

	ctx    context.Context // cancelled by close
	cancel context.CancelFunc
	wg     sync.WaitGroup
	// started is set once StartCluster has set every field above:
	// handlers touch store and admin only after it.
	started atomic.Bool
	// joined is closed once started is set and the fencer started
	// (cluster_joining.go).
	joined chan struct{}
	// stopAuth ends cluster_auth.go's ACL watch; nil until StartCluster
	// switched the credentials and ACLs to the cluster's store.
	stopAuth func()
	// abrupt skips the controlled shutdown (tests: a killed broker).
	abrupt atomic.Bool
	// crash also leaves the registration to lapse, unrevoked, and a
	// controller term unresigned (tests: a killed process's lease, and
	// the controller candidacy it holds, outlive it).
	crash     atomic.Bool
	closeOnce sync.Once
}

// ClusterID is the cluster's ID once StartCluster joined it, else the
// configured one (a single broker's).
func (s *Server) ClusterID() string {
	if n := s.node; n != nil && n.started.Load() {
		return n.clusterID
	}
	return s.cfg.ClusterID
}

// prepareCluster makes s a node of the cluster o.Config names (New, for
// Config.Cluster), to be joined by StartCluster: the data path and
// Metadata take the cluster's paths from the first request on (until
// StartCluster has joined, Metadata waits for it, cluster_joining.go, and
// partitions are led by nobody), and gcfg, the group coordinator's configuration, gets
// the cluster's hooks.
func (s *Server) prepareCluster(o ClusterOptions, gcfg *consumergroup.Config) error {
	c := o.Config
	if !c.Enabled() {
		return fmt.Errorf("server: cluster: %w: no controller.quorum.voters or metadata.store", ErrClusterConfig)
	}
	if c.NodeID < 0 {
		return fmt.Errorf("server: cluster: %w: node.id is not set", ErrClusterConfig)
	}
	if s.node != nil {
		return errors.New("server: cluster: already prepared")
	}
	if err := checkMigrateNode(s.mgr.Dir(), c.NodeID); err != nil {
		return err
	}
	n := &brokerNode{s: s, cfg: c, opts: o, self: c.NodeID, interBroker: o.InterBroker,
		log: s.logger.With("node", c.NodeID)}
	n.ctx, n.cancel = context.WithCancel(context.Background())
	n.joined = make(chan struct{})
	n.throttles = newReplicationThrottles(n.self, c)
	n.replicas = replica.NewManager(replica.Config{
		Self:       n.self,
		LagTimeMax: c.ReplicaLagTimeMax,
		AlterISR:   n.alterISR,
		AlterISRs:  n.alterISRs,
		TopicID: func(topic string) [16]byte {
			return n.snapshot().Topics[topic].ID
		},
		Alive:           n.brokerAlive,
		RegisteredEpoch: n.registeredEpoch,
		Fetch: replica.FetcherConfig{
			MaxWait:           c.ReplicaFetchWaitMax,
			Backoff:           s.cfg.replicaFetchBackoff,
			MinBytes:          int32(c.ReplicaFetchMinBytes),
			PartitionMaxBytes: int32(min(c.ReplicaFetchMaxBytes, 1<<30)),
			Throttle:          n.throttles.follower,
			Throttled:         n.throttles.followerThrottled,
		},
		LeaderThrottle: n.throttles.leader,
		Logger:         n.log,
	})
	n.rec = newReconciler(n)
	s.attachReplicas(n.replicas, clusterHooks{leaderHint: n.leaderHint, brokerEndpoint: n.brokerEndpoint,
		leadingSoon: n.leadingSoon, reconciled: n.rec.reconciled, leaderThrottle: n.throttles.leaderThrottle})
	s.node = n
	gcfg.Cluster = true
	gcfg.WaitAppended = n.waitOffsetsAppended
	gcfg.AppendAsLeader = n.appendOffsets
	gcfg.CreateOffsetsTopic = n.createOffsetsTopic
	gcfg.LookupTopic = n.lookupTopic
	return nil
}

// StartCluster joins the cluster Config.Cluster named: it starts the
// embedded etcd member of a voter, agrees on the cluster ID, opens the
// metadata store, registers the broker with every listener's advertised
// endpoint and starts the controller campaign and the reconciler. Call it
// once every listener is open. On error the node is closed: close the
// Server.
func (s *Server) StartCluster(ctx context.Context) (err error) {
	n := s.node
	if n == nil {
		return errors.New("server: start cluster: Config.Cluster is not set")
	}
	c := n.cfg
	defer func() {
		if err != nil {
			n.close()
		}
	}()
	endpoints, err := n.endpoints()
	if err != nil {
		return err
	}
	if n.interBroker == "" {
		n.interBroker = endpoints[0].Listener
	}
	sl := n.listener(n.interBroker)
	switch {
	case sl == nil:
		return fmt.Errorf("server: start cluster: %w: the inter-broker listener %s is not served", ErrClusterConfig, n.interBroker)
	case (sl.protocol.SASL() || sl.protocol.TLS()) && n.opts.Security.InterBrokerConn.TLS == nil && n.opts.Security.InterBrokerConn.SASL == nil:
		// The fetchers dial the other brokers with the security
		// BrokerSettings.ClusterSecurity built from this listener's
		// ssl.* and sasl.mechanism.inter.broker.protocol settings.
		return fmt.Errorf("server: start cluster: %w: the inter-broker listener %s is %s but ClusterOptions.Security has no inter-broker client settings", ErrClusterConfig, n.interBroker, sl.protocol)
	}
	if c.InterBrokerSourceBind {
		// Every connection to another node comes from here on
		// (cluster_sourcebind.go): set before the first is dialed.
		local, err := sourceBindAddr(n.interBroker, sl.advHost)
		if err != nil {
			return fmt.Errorf("server: start cluster: %w", err)
		}
		n.opts.Security.InterBrokerConn.LocalAddr = local
		// InterBroker is InterBrokerConn as kgo options: made again.
		n.opts.Security.InterBroker = n.opts.Security.InterBrokerConn.KgoOpts()
	}
	if c.IsVoter() {
		if v, ok := c.Voter(); ok && !sameAddr(v.Addr(), c.ControllerListen) {
			// Allowed (a proxy or NAT in front), and the first thing to
			// check when the quorum does not form.
			n.log.Info("server: the other voters dial this member at its voter entry, not where it listens: it must be forwarded there",
				"voter_entry", v.Addr(), "controller_listener", c.ControllerListen, "client_listener", c.ClientListen())
		}
		if n.member, err = cluster.StartEmbedded(ctx, n.embedConfig()); err != nil {
			return fmt.Errorf("server: start cluster: %w", err)
		}
	}
	eps, root := c.MetadataStoreURL.Endpoints, c.MetadataStoreURL.Root
	switch {
	case c.MetadataStoreURL.TLS && n.opts.Security.Metadata.Client == nil:
		return fmt.Errorf("server: start cluster: %w: metadata.store %s is TLS: map CONTROLLER:SSL with listener.name.controller.ssl.keystore.location and ssl.truststore.location", ErrClusterConfig, c.MetadataStoreURL)
	case len(eps) == 0:
		root = cluster.DefaultKeyRoot
		scheme := "http://"
		if n.opts.Security.Metadata.Client != nil {
			scheme = "https://"
		}
		for _, ep := range c.StoreEndpoints() {
			eps = append(eps, scheme+ep)
		}
	}
	n.root = root
	// A member that stopped answering without closing its sockets (cut
	// off, paused) is left by the endpoint guard within a third of the
	// session timeout (cluster/endpoint_guard.go), so that watches and
	// lease keep-alives move to another member before the lease lapses.
	// Keepalive pings stay as a backstop: gRPC sends them every 10 s at
	// the most often (it raises shorter intervals), which an external
	// etcd's default policy (5 s) and the embedded members' accept.
	n.guard = cluster.NewEndpointGuard(n.opts.Security.InterBrokerConn.LocalAddr)
	ccfg := clientv3.Config{
		Endpoints: eps, DialTimeout: cluster.DefaultDialTimeout, Logger: zap.NewNop(),
		DialKeepAliveTime: etcdKeepAliveTime, DialKeepAliveTimeout: 2 * time.Second, PermitWithoutStream: true,
		TLS:         n.opts.Security.Metadata.Client,
		DialOptions: metadataDialOptions(n.opts.Security.Metadata, n.guard),
	}
	n.client, err = clientv3.New(ccfg)
	if err != nil {
		return fmt.Errorf("server: start cluster: etcd client for %v: %w", eps, err)
	}
	if n.member != nil {
		// The controller's partition writes go to the raft leader, which
		// the local member knows of: a follower would forward each
		// (cluster.LeaderClient).
		if n.leaderCli, err = cluster.NewLeaderClient(ccfg, n.member); err != nil {
			return fmt.Errorf("server: start cluster: %w", err)
		}
	}
	n.guard.Start(n.client, eps, c.SessionTimeout/12, n.log)
	if n.clusterID, err = n.joinClusterID(ctx); err != nil {
		return err
	}
	n.store, err = cluster.OpenEtcdStore(ctx, cluster.EtcdStoreConfig{
		ClusterID: n.clusterID, Root: n.root, Client: n.client, Leader: n.leaderCli, SessionTimeout: c.SessionTimeout, Logger: n.log,
	})
	if err != nil {
		return fmt.Errorf("server: start cluster: %w", err)
	}
	// Users and ACLs are the cluster's from here on, before the broker
	// registers and clients are sent to it.
	if n.stopAuth, err = s.useClusterAuth(ctx, n.store); err != nil {
		return fmt.Errorf("server: start cluster: %w", err)
	}
	policy := cluster.Policy{UncleanLeaderElection: n.opts.UncleanLeaderElection, MinInsyncReplicas: c.MinInsyncReplicas}
	n.admin = cluster.NewController(cluster.ControllerConfig{NodeID: n.self, Store: n.store, Policy: policy, Logger: n.log, Elections: &n.elections})
	broker := cluster.Broker{NodeID: n.self, Rack: c.Rack, Endpoints: endpoints}
	reg, err := n.store.Register(ctx, broker)
	if err != nil {
		return fmt.Errorf("server: start cluster: %w", err)
	}
	n.replicas.SetBrokerEpoch(reg.Epoch())
	n.setReg(reg)
	// A single broker's data dir prepared to join (cluster_migrate.go):
	// its topics enter the metadata before the reconciler first runs.
	if err := n.migrateSingleBroker(ctx); err != nil {
		return err
	}
	n.started.Store(true)
	if err := n.startFastFencer(); err != nil {
		return err
	}
	// After the fencer: Metadata reads it once joined.
	close(n.joined)
	// cluster-ops' DescribeQuorum and metrics read the quorum and the
	// snapshot from here on.
	s.setQuorumDescriber(func(ctx context.Context) (cluster.QuorumStatus, error) {
		return cluster.DescribeQuorum(ctx, n.client)
	})
	if err := s.attachClusterMetrics(func() *cluster.Snapshot {
		if !n.started.Load() {
			return nil
		}
		return n.store.Snapshot()
	}, n.self, n.replicas); err != nil {
		return err
	}
	if err := s.attachElectionMetrics(&n.elections); err != nil {
		return err
	}
	if n.member != nil {
		if err := s.attachQuorumMetrics(n.member); err != nil {
			return err
		}
	}
	n.wg.Add(2)
	go n.lifecycle(policy)
	go n.rec.run(n.ctx)
	n.log.Info("server: joined the cluster", "cluster_id", n.clusterID, "broker_epoch", reg.Epoch(),
		"voter", c.IsVoter(), "inter_broker_listener", n.interBroker)
	return nil
}

// listener is s's listener named name, nil if none.
func (n *brokerNode) listener(name string) *listener {
	n.s.mu.Lock()
	defer n.s.mu.Unlock()
	for _, sl := range n.s.listeners {
		if sl.name == name {
			return sl
		}
	}
	return nil
}

// endpoints are the advertised endpoints of every listener s serves,
// by listener name.
func (n *brokerNode) endpoints() ([]cluster.Endpoint, error) {
	s := n.s
	s.mu.Lock()
	var eps []cluster.Endpoint
	for _, sl := range s.listeners {
		eps = append(eps, cluster.Endpoint{Listener: sl.name, SecurityProtocol: sl.protocol.String(), Host: sl.advHost, Port: sl.advPort})
	}
	s.mu.Unlock()
	if len(eps) == 0 {
		return nil, errors.New("server: start cluster: no listener is open: call ListenOn first")
	}
	slices.SortFunc(eps, func(a, b cluster.Endpoint) int { return strings.Compare(a.Listener, b.Listener) })
	return eps, nil
}

func (n *brokerNode) embedConfig() cluster.EmbedConfig {
	voters := make([]cluster.Voter, len(n.cfg.Voters))
	for i, v := range n.cfg.Voters {
		voters[i] = cluster.Voter{NodeID: v.ID, Host: v.Host, Port: int(v.Port)}
	}
	return cluster.EmbedConfig{
		NodeID:           n.self,
		DataDir:          n.s.mgr.Dir(),
		ControllerListen: n.cfg.ControllerListen,
		ClientListen:     n.cfg.ControllerClientListen,
		Voters:           voters,
		StartTimeout:     n.opts.StartTimeout,
		Logger:           n.log,
		UnsafeNoFsync:    n.opts.UnsafeNoFsync,
		PeerTLS:          n.opts.Security.Metadata.Peer,
		ClientTLS:        n.opts.Security.Metadata.Serve,
		BindPeerSource:   n.cfg.InterBrokerSourceBind,
		JoinExisting:     n.cfg.InitialState == cluster.InitialStateExisting,
		ElectionTimeout:  n.cfg.QuorumElectionTimeout,
	}
}

// joinClusterID returns the cluster's ID: the one in etcd, stored there
// now by the first node (a new random one, or this data dir's), checked
// against the data dir's record, which it writes on a first start. A
// data dir that holds topics but no record is a single broker's: it is
// refused, since the reconciler would drop its topics, unless its
// migration was prepared (cluster_migrate.go).
func (n *brokerNode) joinClusterID(ctx context.Context) (string, error) {
	path := filepath.Join(n.s.mgr.Dir(), "meta", clusterIDFile)
	local := ""
	switch b, err := os.ReadFile(path); {
	case err == nil:
		local = strings.TrimSpace(string(b))
	case !errors.Is(err, os.ErrNotExist):
		return "", fmt.Errorf("server: cluster id: %w", err)
	}
	if local == "" && len(n.s.mgr.Topics()) > 0 {
		// Unless the operator prepared it (cluster_migrate.go).
		switch m, err := readMigrateMarker(n.s.mgr.Dir()); {
		case err != nil:
			return "", err
		case m == nil:
			return "", fmt.Errorf("server: %w: %s holds topics of a single broker (no %s): a cluster node starts on an empty data dir or its own; to make a single broker's data dir a cluster member, stop it and run tributary cluster migrate first",
				ErrClusterIDMismatch, n.s.mgr.Dir(), filepath.Join("meta", clusterIDFile))
		}
	}
	proposed := local
	if proposed == "" {
		var b [16]byte
		if _, err := rand.Read(b[:]); err != nil {
			return "", fmt.Errorf("server: cluster id: %w", err)
		}
		proposed = base64.RawURLEncoding.EncodeToString(b[:])
	}
	key := strings.TrimSuffix(n.root, "/") + "/" + clusterIDKey
	// A loaded machine (or a quorum still electing) may take long to
	// answer: the wait is the operator's to set, as in Kafka.
	limit := n.cfg.InitialRegistrationTimeout
	if limit <= 0 {
		limit = DefaultInitialRegistrationTimeout
	}
	start := time.Now()
	cctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	var stored string
	lastLog := start
	for attempt := 1; ; attempt++ {
		resp, err := n.client.Txn(cctx).
			If(clientv3.Compare(clientv3.CreateRevision(key), "=", 0)).
			Then(clientv3.OpPut(key, proposed)).
			Else(clientv3.OpGet(key)).Commit()
		if err == nil {
			stored = proposed
			if !resp.Succeeded {
				if kvs := resp.Responses[0].GetResponseRange().Kvs; len(kvs) > 0 {
					stored = string(kvs[0].Value)
				}
			}
			break
		}
		if cctx.Err() != nil {
			if ctx.Err() == nil {
				return "", fmt.Errorf("server: start cluster: the metadata quorum at %s did not answer the read of the cluster ID (%s) in %v (%s=%d), %d attempts: %w",
					strings.Join(n.client.Endpoints(), ","), key, time.Since(start).Round(time.Millisecond),
					BrokerInitialRegistrationTimeoutMs, limit.Milliseconds(), attempt, err)
			}
			return "", fmt.Errorf("server: cluster id from the metadata store: %w", err)
		}
		if time.Since(lastLog) >= joinProgressLog {
			lastLog = time.Now()
			n.log.Warn("server: waiting for the metadata quorum to answer", "endpoints", n.client.Endpoints(),
				"waited", time.Since(start).Round(time.Millisecond), "limit", limit, "attempts", attempt, "err", err)
		}
		select {
		case <-cctx.Done():
		case <-time.After(clusterRetryBackoff):
		}
	}
	if local != "" && local != stored {
		return "", fmt.Errorf("server: %w: %s is of cluster %s, the metadata store's is %s", ErrClusterIDMismatch, n.s.mgr.Dir(), local, stored)
	}
	if local == "" {
		if err := writeFileSynced(path, []byte(stored+"\n")); err != nil {
			return "", fmt.Errorf("server: cluster id: %w", err)
		}
	}
	return stored, nil
}

// writeFileSynced writes path through a synced temporary file and a
// rename, then syncs the directory.
func writeFileSynced(path string, b []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := syncjournal.Sync(f); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	d, err := os.Open(filepath.Dir(path))
	if err != nil {
		return err
	}
	defer d.Close()
	return syncjournal.Sync(d)
}

func (n *brokerNode) setReg(r *cluster.Registration) {
	n.regMu.Lock()
	n.reg = r
	n.regMu.Unlock()
	n.registered.Store(r != nil)
}

func (n *brokerNode) currentReg() *cluster.Registration {
	n.regMu.Lock()
	defer n.regMu.Unlock()
	return n.reg
}

// lifecycle runs the controller campaign of the current registration and
// re-registers after a fencing, until the node closes.
func (n *brokerNode) lifecycle(policy cluster.Policy) {
	defer n.wg.Done()
	for {
		reg := n.currentReg()
		lctx, lcancel := context.WithCancel(n.ctx)
		done := make(chan struct{})
		go func() {
			defer close(done)
			n.campaign(lctx, reg, policy)
		}()
		select {
		case <-n.ctx.Done():
			lcancel()
			<-done
			return
		case <-reg.Fenced():
		}
		lcancel()
		<-done
		select {
		case <-n.s.closing:
			// Its listeners are closed: another broker may have ended
			// the registration (fast fencing) before close does.
			n.log.Info("server: registration ended while closing", "epoch", reg.Epoch(), "err", reg.Err())
			n.registered.Store(false)
			n.rec.stopAll()
			return
		default:
		}
		n.log.Warn("server: broker fenced: stepping down from every partition and registering again", "epoch", reg.Epoch(), "err", reg.Err())
		n.registered.Store(false)
		n.rec.stopAll()
		reg.Close()
		n.setReg(nil)
		for {
			rctx, cancel := context.WithTimeout(n.ctx, 10*time.Second)
			r, err := n.store.Register(rctx, reg.Broker())
			cancel()
			if err == nil {
				n.replicas.SetBrokerEpoch(r.Epoch())
				n.setReg(r)
				n.log.Info("server: registered again", "broker_epoch", r.Epoch())
				n.rec.wake()
				break
			}
			n.log.Warn("server: registering again failed", "err", err)
			select {
			case <-n.ctx.Done():
				return
			case <-time.After(clusterRetryBackoff):
			}
		}
	}
}

// campaign campaigns for controller under reg and acts as controller
// while elected, until ctx ends.
func (n *brokerNode) campaign(ctx context.Context, reg *cluster.Registration, policy cluster.Policy) {
	for ctx.Err() == nil {
		l, err := reg.Campaign(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			n.log.Warn("server: controller campaign failed", "err", err)
			select {
			case <-ctx.Done():
				return
			case <-reg.Fenced():
				return
			case <-time.After(clusterRetryBackoff):
			}
			continue
		}
		ctrl := cluster.NewController(cluster.ControllerConfig{NodeID: n.self, Store: l.Store(), Policy: policy, Logger: n.log, Elections: &n.elections})
		cctx, cancel := context.WithCancel(ctx)
		ran := make(chan struct{})
		go func() {
			defer close(ran)
			if err := ctrl.Run(cctx); err != nil && cctx.Err() == nil {
				n.log.Warn("server: controller stopped", "err", err)
			}
		}()
		balanced := n.startLeaderBalance(cctx, ctrl)
		select {
		case <-l.Lost():
			n.log.Warn("server: controller term lost")
		case <-ctx.Done():
		}
		cancel()
		<-ran
		balanced()
		if ctx.Err() != nil {
			if n.crash.Load() {
				// A killed process cannot resign: its term ends with its
				// lease (or a fast fencing), as the successor then sees it.
				l.Abandon()
				return
			}
			rctx, rcancel := context.WithTimeout(context.Background(), 2*time.Second)
			_ = l.Resign(rctx)
			rcancel()
			return
		}
	}
}

// alterISR is the replica.Manager's ISR proposal: a compare-and-swap
// through the registration's fenced store, so a fenced broker's
// proposal fails.
func (n *brokerNode) alterISR(ctx context.Context, old cluster.PartitionState, newISR []int32, newISREpochs []int64) error {
	reg := n.currentReg()
	if reg == nil {
		return fmt.Errorf("server: ISR change of %s-%d: %w", old.Topic, old.Partition, cluster.ErrFenced)
	}
	ctrl := cluster.NewController(cluster.ControllerConfig{NodeID: n.self, Store: reg.Store(), Logger: n.log})
	_, err := ctrl.AlterISR(ctx, cluster.ISRChange{
		Topic: old.Topic, Partition: old.Partition,
		Leader: n.self, BrokerEpoch: reg.Epoch(),
		LeaderEpoch: old.LeaderEpoch, PartitionEpoch: old.PartitionEpoch,
		NewISR: newISR, NewISREpochs: newISREpochs,
	})
	return err
}

// alterISRs is alterISR of many partitions, in one transaction per
// cluster.MaxUpdatesPerTxn of them (replica.Config.AlterISRs).
func (n *brokerNode) alterISRs(ctx context.Context, props []replica.ISRProposal) []error {
	errs := make([]error, len(props))
	reg := n.currentReg()
	if reg == nil {
		for i, p := range props {
			errs[i] = fmt.Errorf("server: ISR change of %s-%d: %w", p.Old.Topic, p.Old.Partition, cluster.ErrFenced)
		}
		return errs
	}
	reqs := make([]cluster.ISRChange, len(props))
	for i, p := range props {
		reqs[i] = cluster.ISRChange{
			Topic: p.Old.Topic, Partition: p.Old.Partition,
			Leader: n.self, BrokerEpoch: reg.Epoch(),
			LeaderEpoch: p.Old.LeaderEpoch, PartitionEpoch: p.Old.PartitionEpoch,
			NewISR: p.NewISR, NewISREpochs: p.NewISREpochs,
		}
	}
	ctrl := cluster.NewController(cluster.ControllerConfig{NodeID: n.self, Store: reg.Store(), Logger: n.log})
	return ctrl.AlterISRs(ctx, reqs)
}

// snapshot is the latest metadata; an empty one before the store opens.
func (n *brokerNode) snapshot() *cluster.Snapshot {
	if n == nil || !n.started.Load() {
		return &cluster.Snapshot{Controller: -1}
	}
	return n.store.Snapshot()
}

// leaderHint is the data path's view of a partition's leader (cluster-data's
// clusterHooks.leaderHint).
func (n *brokerNode) leaderHint(topic string, partition int32) (leader, epoch int32, ok bool) {
	p, ok := n.snapshot().Partition(topic, partition)
	if !ok || p.Leader == cluster.NoLeader {
		return -1, -1, false
	}
	return p.Leader, p.LeaderEpoch, true
}

// brokerAlive reports whether broker id is registered and not fenced
// (replica.Config.Alive: only live followers hold a DeleteRecords up).
func (n *brokerNode) brokerAlive(id int32) bool {
	_, ok := n.snapshot().Brokers[id]
	return ok
}

// registeredEpoch is broker id's registered broker epoch, 0 if it is
// not registered (replica.Config.RegisteredEpoch: a follower joins an ISR only
// under the registration the metadata shows).
func (n *brokerNode) registeredEpoch(id int32) int64 {
	return n.snapshot().Brokers[id].Epoch
}

// brokerEndpoint is where clients of listener reach broker id
// (cluster-data's clusterHooks.brokerEndpoint).
func (n *brokerNode) brokerEndpoint(listener string, id int32) (host string, port int32, rack *string, ok bool) {
	b, ok := n.snapshot().Brokers[id]
	if !ok {
		return "", 0, nil, false
	}
	e, ok := b.Endpoint(listener)
	if !ok {
		return "", 0, nil, false
	}
	if b.Rack != "" {
		r := b.Rack
		rack = &r
	}
	return e.Host, e.Port, rack, true
}

// controlledShutdown asks the cluster to move this node's leaderships to
// other ISR members, and waits (bounded) until the snapshot shows it
// leading nothing another live ISR member could lead.
func (n *brokerNode) controlledShutdown() {
	if n.abrupt.Load() || !n.started.Load() {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), controlledShutdownTimeout)
	defer cancel()
	start := time.Now()
	for {
		changed := n.store.Changed()
		remaining, err := n.admin.ControlledShutdown(ctx, n.self)
		if err != nil {
			n.log.Warn("server: controlled shutdown", "err", err)
		} else if movable := n.movableLeaderships(n.store.Snapshot()); movable == 0 {
			n.log.Info("server: controlled shutdown: leadership moved", "offline_after_stop", remaining, "took", time.Since(start))
			return
		}
		select {
		case <-ctx.Done():
			n.log.Warn("server: controlled shutdown timed out; stopping anyway", "still_leading", n.movableLeaderships(n.store.Snapshot()))
			return
		case <-changed:
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// movableLeaderships counts the partitions this node leads whose ISR
// holds another live broker.
func (n *brokerNode) movableLeaderships(s *cluster.Snapshot) int {
	count := 0
	for _, p := range s.Partitions.All() {
		if p.Leader != n.self {
			continue
		}
		for _, r := range p.ISR {
			if r != n.self && s.Live(r) {
				count++
				break
			}
		}
	}
	return count
}

// close stops the node's parts in order: controller and campaign,
// reconciler, replicas, registration, store, member.
func (n *brokerNode) close() {
	n.closeOnce.Do(n.closeAll)
}

func (n *brokerNode) closeAll() {
	n.cancel()
	waited := make(chan struct{})
	go func() {
		n.wg.Wait()
		close(waited)
	}()
	clientClosed := false
	select {
	case <-waited:
	case <-time.After(closeCampaignGrace):
		n.log.Warn("server: the controller campaign did not end on close; closing the metadata client under it", "waited", closeCampaignGrace)
		if n.client != nil {
			n.client.Close()
			clientClosed = true
		}
		if n.leaderCli != nil {
			n.leaderCli.Close()
			n.leaderCli = nil
		}
		<-waited
	}
	if n.fencer != nil {
		n.fencer.Close()
	}
	if n.rec != nil {
		n.rec.close()
	}
	if n.replicas != nil {
		n.replicas.Close()
	}
	if n.rec != nil {
		n.rec.closeRequesters()
	}
	if reg := n.currentReg(); reg != nil && n.crash.Load() {
		reg.Abandon()
		n.setReg(nil)
	} else if reg != nil {
		if err := reg.Close(); err != nil {
			n.log.Warn("server: deregister", "err", err)
		}
		n.setReg(nil)
	}
	n.s.setQuorumDescriber(nil)
	if n.stopAuth != nil {
		n.stopAuth()
	}
	if n.store != nil {
		n.store.Close()
	}
	if n.guard != nil {
		n.guard.Close()
	}
	if n.leaderCli != nil {
		n.leaderCli.Close()
	}
	if n.client != nil && !clientClosed {
		n.client.Close()
	}
	if n.member != nil {
		n.member.Close()
	}
}

// ProducerIDBlock is a cluster node's source of producer IDs for its
// Manager (log.Options.ProducerIDBlocks): a block of the cluster-wide
// counter (cluster.EtcdStore.AllocateProducerIDBlock), so no two brokers
// hand out one ID. Before the node has joined its cluster it fails, and
// InitProducerId answers COORDINATOR_LOAD_IN_PROGRESS, which clients
// retry. s may be nil (not built yet) or a single broker: the same.
func (s *Server) ProducerIDBlock() (first, last int64, err error) {
	if s == nil || s.node == nil || !s.node.started.Load() {
		return 0, 0, errClusterNotReady
	}
	return s.node.store.ProducerIDBlocks(cluster.DefaultProducerIDBlockSize)()
}
