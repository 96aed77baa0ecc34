package cluster

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc"
)

const (
	// DefaultSessionTimeout is broker.session.timeout.ms's default (Kafka's
	// 9000 ms): a broker whose lease is not renewed for this long is fenced.
	DefaultSessionTimeout = 9000 * time.Millisecond
	// DefaultDialTimeout bounds connecting to etcd.
	DefaultDialTimeout = 5 * time.Second
	// resyncBackoff is the pause between failed reloads of the metadata
	// (no quorum reachable), so a partitioned broker does not spin.
	resyncBackoff = 200 * time.Millisecond
	// maxResyncBackoff caps the doubling pause between failed reloads.
	maxResyncBackoff = 5 * time.Second
	// reloadTimeout bounds one reload attempt.
	reloadTimeout = 5 * time.Second
)

// EtcdStoreConfig configures an EtcdStore.
type EtcdStoreConfig struct {
	ClusterID string // required; keys live under <Root>/<ClusterID>/
	Root      string // empty: DefaultKeyRoot
	// Client is an etcd client the caller owns and closes after the
	// store. When nil, the store dials Endpoints with TLS and credentials
	// and closes that client itself.
	Client    *clientv3.Client
	Endpoints []string // e.g. Embedded.ClientURLs() or StoreURL.Endpoints
	TLS       *tls.Config
	// ReloadTLS, if set, gives the TLS of each new connection instead
	// (EtcdTLSDialOption): rotated certificate files take effect without
	// reopening the store.
	ReloadTLS   func() *tls.Config
	Username    string
	Password    string
	DialTimeout time.Duration // empty: DefaultDialTimeout
	// SessionTimeout is broker.session.timeout.ms: the TTL of a broker's
	// lease, rounded up to whole seconds (etcd's unit; etcd raises TTLs
	// below 1.5 election timeouts, 2 s by default). Empty: DefaultSessionTimeout.
	SessionTimeout time.Duration
	// Leader, if set, is a client of the quorum's raft leader that the
	// controller's partition writes go through while it is connected
	// (the Client's or Endpoints' otherwise, and again after it fails to
	// reach its member); the caller closes it after the store.
	Leader *LeaderClient
	Logger *slog.Logger // nil discards
}

// EtcdStore is the Store over etcd. A watch of the cluster prefix keeps
// an immutable Snapshot up to date; writes are etcd transactions.
type EtcdStore struct {
	client     *clientv3.Client
	ownsClient bool
	leader     *LeaderClient // nil: partition writes go through client
	prefix     string        // <root>/<cluster-id>/
	clusterID  string
	ttl        int64 // lease TTL in seconds
	log        *slog.Logger

	snap atomic.Pointer[Snapshot]

	mu      sync.Mutex
	changed chan struct{} // guarded by mu: closed and replaced on every publish

	// candidates are the controller election's keys (relative key →
	// candidate), owned by the watch goroutine.
	candidates map[string]candidate
	// staged holds, by topic, the partition keys the Snapshot does not
	// show: no topic of their name, or numbered at or past its partition
	// count (doc.go, Writes); staging names the topics with a staging/
	// claim. Both owned by the watch goroutine. parts edits the
	// Partitions of the Snapshot being built (from the previous one's,
	// copying only the buckets its events touch); also the watch
	// goroutine's.
	staged  map[string]map[int32]PartitionState
	staging map[string]bool
	parts   *partitionEdit
	// touched collects the partitions the Snapshot being built changes
	// (Snapshot.Changes); owned by the watch goroutine.
	touched []TopicPartition

	cancel context.CancelFunc
	done   chan struct{} // closed when the watch goroutine exits
}

type candidate struct {
	createRev int64
	node      int32
}

var _ Store = (*EtcdStore)(nil)

// OpenEtcdStore connects (unless given a client), loads the metadata and
// starts watching it. Close stops it.
func OpenEtcdStore(ctx context.Context, c EtcdStoreConfig) (*EtcdStore, error) {
	if c.ClusterID == "" || strings.Contains(c.ClusterID, "/") {
		return nil, fmt.Errorf("cluster: cluster id %q must be non-empty and contain no '/'", c.ClusterID)
	}
	root := c.Root
	if root == "" {
		root = DefaultKeyRoot
	}
	ttl := c.SessionTimeout
	if ttl <= 0 {
		ttl = DefaultSessionTimeout
	}
	s := &EtcdStore{
		client:    c.Client,
		leader:    c.Leader,
		prefix:    strings.TrimSuffix(root, "/") + "/" + c.ClusterID + "/",
		clusterID: c.ClusterID,
		ttl:       int64((ttl + time.Second - 1) / time.Second),
		log:       c.Logger,
		changed:   make(chan struct{}),
		done:      make(chan struct{}),
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.client == nil {
		if len(c.Endpoints) == 0 {
			return nil, errors.New("cluster: etcd store needs endpoints or a client")
		}
		dial := c.DialTimeout
		if dial <= 0 {
			dial = DefaultDialTimeout
		}
		tc := c.TLS
		var dopts []grpc.DialOption
		if c.ReloadTLS != nil {
			tc = c.ReloadTLS()
			dopts = append(dopts, EtcdTLSDialOption(c.ReloadTLS))
		}
		cl, err := clientv3.New(clientv3.Config{
			Endpoints:   c.Endpoints,
			TLS:         tc,
			DialOptions: dopts,
			Username:    c.Username,
			Password:    c.Password,
			DialTimeout: dial,
			Logger:      newZapLogger(c.Logger, nil),
		})
		if err != nil {
			return nil, fmt.Errorf("cluster: etcd client for %v: %w", c.Endpoints, err)
		}
		s.client, s.ownsClient = cl, true
	}
	snap, err := s.load(ctx)
	if err != nil {
		if s.ownsClient {
			s.client.Close()
		}
		return nil, err
	}
	s.snap.Store(snap)
	wctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	go s.watch(wctx, snap.Revision)
	return s, nil
}

// Client returns the etcd client the store uses.
func (s *EtcdStore) Client() *clientv3.Client { return s.client }

// Close stops the watch and closes the client if the store dialled it.
// Registrations made through the store must be closed first.
func (s *EtcdStore) Close() error {
	s.cancel()
	<-s.done
	if s.ownsClient {
		return s.client.Close()
	}
	return nil
}

// Snapshot implements Store.
func (s *EtcdStore) Snapshot() *Snapshot { return s.snap.Load() }

// Changed implements Store.
func (s *EtcdStore) Changed() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.changed
}

// WaitRevision waits until the Snapshot reflects store revision rev (for
// example a write's) and returns it.
func (s *EtcdStore) WaitRevision(ctx context.Context, rev int64) (*Snapshot, error) {
	for {
		ch := s.Changed()
		if snap := s.Snapshot(); snap.Revision >= rev {
			return snap, nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, fmt.Errorf("cluster: waiting for metadata revision %d: %w", rev, ctx.Err())
		}
	}
}

func (s *EtcdStore) publish(snap *Snapshot) {
	s.snap.Store(snap)
	s.mu.Lock()
	close(s.changed)
	s.changed = make(chan struct{})
	s.mu.Unlock()
}

// load reads the whole cluster prefix at one revision (a linearizable
// read) and builds its Snapshot; it resets the election candidates.
func (s *EtcdStore) load(ctx context.Context) (*Snapshot, error) {
	resp, err := s.client.Get(ctx, s.prefix, clientv3.WithPrefix())
	if err != nil {
		return nil, fmt.Errorf("cluster: load metadata under %s: %w", s.prefix, err)
	}
	return s.build(resp.Header.Revision, resp.Kvs), nil
}

// build makes the Snapshot of the whole prefix read at revision rev,
// kvs, and resets the watch goroutine's state to it.
func (s *EtcdStore) build(rev int64, kvs []*mvccpb.KeyValue) *Snapshot {
	snap := &Snapshot{
		Revision:   rev,
		ClusterID:  s.clusterID,
		Controller: -1,
		Brokers:    map[int32]Broker{},
		Topics:     map[string]Topic{},
		// Credentials and ACLs: auth_etcd.go.
		Credentials: map[CredentialKey]ScramCredential{},
		ACLs:        map[string]ACL{},
		ACLRevision: rev,
	}
	s.candidates = map[string]candidate{}
	s.staged, s.staging, s.parts = map[string]map[int32]PartitionState{}, map[string]bool{}, PartitionMap{}.edit()
	for _, kv := range kvs {
		s.applyPut(snap, strings.TrimPrefix(string(kv.Key), s.prefix), kv)
	}
	snap.Partitions = s.parts.done()
	snap.Controller = s.controller()
	snap.OrphanPartitions = s.orphans()
	// A new chain: no earlier Snapshot's changes lead here.
	snap.Changes, s.touched = &PartitionChanges{}, nil
	return snap
}

// watch keeps the Snapshot current from revision rev on until ctx ends.
// A watch that fails (compacted past rev, cancelled by the server, its
// member lost the leader) is replaced: reload by Get, watch from there.
func (s *EtcdStore) watch(ctx context.Context, rev int64) {
	defer close(s.done)
	for {
		wctx, wcancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
		wch := s.client.Watch(wctx, s.prefix, clientv3.WithPrefix(), clientv3.WithRev(rev+1))
		for wr := range wch {
			if err := wr.Err(); err != nil {
				s.log.Warn("cluster: metadata watch failed, reloading", "revision", rev, "err", err)
				break
			}
			evs, last, err := coalesce(wch, wr)
			if len(evs) > 0 {
				s.publish(s.apply(s.Snapshot(), last, evs))
				rev = last
			}
			if err != nil {
				s.log.Warn("cluster: metadata watch failed, reloading", "revision", rev, "err", err)
				break
			}
		}
		wcancel()
		for backoff := resyncBackoff; ; backoff = min(2*backoff, maxResyncBackoff) {
			if ctx.Err() != nil {
				return
			}
			lctx, lcancel := context.WithTimeout(ctx, reloadTimeout)
			snap, err := s.load(lctx)
			lcancel()
			if err == nil {
				s.publish(snap)
				rev = snap.Revision
				break
			}
			s.log.Warn("cluster: metadata reload failed", "retry_in", backoff, "err", err)
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
		}
	}
}

// coalesce returns the events of wr and of the watch responses already
// queued behind it, in order, and the revision of the last: one snapshot
// for them all. Each snapshot copies the maps its events touch, and with
// 10,000 partitions a copy of the partitions' map per response (the
// leader elections and ISR changes of a failover come as hundreds of
// small transactions) cost a broker a fifth of its CPU. err is a queued
// response's error (or the watch's end), after the events before it.
func coalesce(wch clientv3.WatchChan, wr clientv3.WatchResponse) (evs []*clientv3.Event, last int64, err error) {
	evs, last = wr.Events, wr.Header.Revision
	for {
		select {
		case more, ok := <-wch:
			if !ok {
				return evs, last, errors.New("cluster: metadata watch ended")
			}
			if err := more.Err(); err != nil {
				return evs, last, err
			}
			if len(more.Events) > 0 {
				evs, last = append(evs, more.Events...), more.Header.Revision
			}
		default:
			return evs, last, nil
		}
	}
}

// apply returns old with the events applied, copying only the maps the
// events touch.
func (s *EtcdStore) apply(old *Snapshot, rev int64, evs []*clientv3.Event) *Snapshot {
	snap := *old
	snap.Revision = rev
	s.parts = old.Partitions.edit()
	var brokers, topics, creds, acls, bcfgs bool
	for _, ev := range evs {
		key := strings.TrimPrefix(string(ev.Kv.Key), s.prefix)
		switch {
		case strings.HasPrefix(key, keyBrokers) && !brokers:
			snap.Brokers, brokers = maps.Clone(old.Brokers), true
		case strings.HasPrefix(key, keyTopics) && !topics:
			snap.Topics, topics = maps.Clone(old.Topics), true
		case strings.HasPrefix(key, keyUsers) && !creds:
			snap.Credentials, creds = maps.Clone(old.Credentials), true
		case strings.HasPrefix(key, keyACLs) && !acls:
			snap.ACLs, acls = maps.Clone(old.ACLs), true
		case strings.HasPrefix(key, keyBrokerConfigs) && !bcfgs:
			snap.BrokerConfigs, bcfgs = maps.Clone(old.BrokerConfigs), true
		}
		if ev.Type == mvccpb.DELETE {
			if !applyAuthDelete(&snap, key) && !applyBrokerConfigsDelete(&snap, key) {
				s.applyDelete(&snap, key)
			}
		} else {
			s.applyPut(&snap, key, ev.Kv)
		}
	}
	if acls {
		snap.ACLRevision = rev
	}
	snap.Partitions = s.parts.done()
	snap.Controller = s.controller()
	snap.OrphanPartitions = s.orphans()
	snap.Changes = &PartitionChanges{Partitions: s.touched}
	s.touched = nil
	if old.Changes != nil {
		old.Changes.link(snap.Changes)
	}
	return &snap
}

// applyPut applies kv, whose key relative to the prefix is key.
func (s *EtcdStore) applyPut(snap *Snapshot, key string, kv *mvccpb.KeyValue) {
	if ok, err := s.applyAuthPut(snap, key, kv); ok {
		if err != nil {
			s.log.Error("cluster: metadata key left out of the snapshot", "err", err)
		}
		return
	}
	if ok, err := applyBrokerConfigsPut(snap, key, kv.Value); ok {
		if err != nil {
			s.log.Error("cluster: metadata key left out of the snapshot", "err", err)
		}
		return
	}
	var err error
	switch {
	case strings.HasPrefix(key, keyBrokers):
		var b Broker
		if b, err = decodeBroker(key, kv.Value, kv.ModRevision); err == nil {
			snap.Brokers[b.NodeID] = b
		}
	case strings.HasPrefix(key, keyTopics):
		var t Topic
		if t, err = decodeTopic(key, kv.Value); err == nil {
			var had int32
			if old, ok := snap.Topics[t.Name]; ok {
				had = old.Partitions
			}
			snap.Topics[t.Name] = t
			s.showPartitions(snap, t.Name, had, t.Partitions)
		}
	case strings.HasPrefix(key, keyPartitions):
		var p PartitionState
		if p, err = decodePartition(key, kv.Value, kv.ModRevision); err == nil {
			s.putPartition(snap, p)
		}
	case strings.HasPrefix(key, keyStaging):
		s.staging[strings.TrimPrefix(key, keyStaging)] = true
	case strings.HasPrefix(key, keyController+"/"):
		var node int32
		if node, err = decodeController(key, kv.Value); err == nil {
			s.candidates[key] = candidate{createRev: kv.CreateRevision, node: node}
		}
	}
	if err != nil {
		s.log.Error("cluster: metadata key left out of the snapshot", "err", err)
	}
}

func (s *EtcdStore) applyDelete(snap *Snapshot, key string) {
	switch {
	case strings.HasPrefix(key, keyBrokers):
		if id, err := strconv.ParseInt(strings.TrimPrefix(key, keyBrokers), 10, 32); err == nil {
			delete(snap.Brokers, int32(id))
		}
	case strings.HasPrefix(key, keyTopics):
		name := strings.TrimPrefix(key, keyTopics)
		if t, ok := snap.Topics[name]; ok {
			delete(snap.Topics, name)
			s.showPartitions(snap, name, t.Partitions, 0)
		}
	case strings.HasPrefix(key, keyPartitions):
		rest := strings.TrimPrefix(key, keyPartitions)
		if i := strings.LastIndexByte(rest, '/'); i >= 0 {
			if p, err := strconv.ParseInt(rest[i+1:], 10, 32); err == nil {
				tp := TopicPartition{Topic: rest[:i], Partition: int32(p)}
				if _, ok := s.parts.m.Get(tp); ok {
					s.parts.delete(tp)
					s.touched = append(s.touched, tp)
				}
				if m := s.staged[tp.Topic]; m != nil {
					delete(m, tp.Partition)
					if len(m) == 0 {
						delete(s.staged, tp.Topic)
					}
				}
			}
		}
	case strings.HasPrefix(key, keyStaging):
		delete(s.staging, strings.TrimPrefix(key, keyStaging))
	case strings.HasPrefix(key, keyController+"/"):
		delete(s.candidates, key)
	}
}

// putPartition shows p if its topic is committed and counts it, and
// keeps it staged otherwise (doc.go, Writes: the visibility rule).
func (s *EtcdStore) putPartition(snap *Snapshot, p PartitionState) {
	if t, ok := snap.Topics[p.Topic]; ok && p.Partition < t.Partitions {
		s.parts.put(p)
		s.touched = append(s.touched, p.TP())
		return
	}
	m := s.staged[p.Topic]
	if m == nil {
		m = map[int32]PartitionState{}
		s.staged[p.Topic] = m
	}
	m[p.Partition] = p
}

// showPartitions moves topic's partitions between the Snapshot and the
// staged ones after its partition count went from had to has (0: the
// topic is absent): those below has are shown, the others staged.
func (s *EtcdStore) showPartitions(snap *Snapshot, topic string, had, has int32) {
	for i := has; i < had; i++ {
		tp := TopicPartition{Topic: topic, Partition: i}
		if p, ok := s.parts.m.Get(tp); ok {
			s.parts.delete(tp)
			s.touched = append(s.touched, tp)
			m := s.staged[topic]
			if m == nil {
				m = map[int32]PartitionState{}
				s.staged[topic] = m
			}
			m[i] = p
		}
	}
	m := s.staged[topic]
	for i, p := range m {
		if i < has {
			s.parts.put(p)
			s.touched = append(s.touched, p.TP())
			delete(m, i)
		}
	}
	if m != nil && len(m) == 0 {
		delete(s.staged, topic)
	}
}

// orphans counts the staged partitions of topics no staging/ key claims.
func (s *EtcdStore) orphans() int {
	n := 0
	for topic, m := range s.staged {
		if !s.staging[topic] {
			n += len(m)
		}
	}
	return n
}

// controller is the election's winner: the candidate whose key was
// created first (concurrency.Election's rule); -1 if none.
func (s *EtcdStore) controller() int32 {
	node, first := int32(-1), int64(0)
	for _, c := range s.candidates {
		if first == 0 || c.createRev < first {
			node, first = c.node, c.createRev
		}
	}
	return node
}

// CreateTopic implements Store. It returns once the write is committed
// and, unless ctx ends first, visible in Snapshot.
func (s *EtcdStore) CreateTopic(ctx context.Context, t Topic, parts []PartitionState) error {
	return s.createTopic(ctx, nil, t, parts)
}

// DeleteTopic implements Store.
func (s *EtcdStore) DeleteTopic(ctx context.Context, name string) error {
	return s.deleteTopic(ctx, nil, name)
}

// UpdatePartitions implements Store.
func (s *EtcdStore) UpdatePartitions(ctx context.Context, updates []PartitionUpdate) error {
	return s.updatePartitions(ctx, nil, updates)
}

func (s *EtcdStore) createTopic(ctx context.Context, fence []clientv3.Cmp, t Topic, parts []PartitionState) error {
	if err := checkTopicName(t.Name); err != nil {
		return err
	}
	if t.ID == [16]byte{} {
		return fmt.Errorf("cluster: create topic %q: topic id is zero", t.Name)
	}
	if int(t.Partitions) != len(parts) || t.Partitions < 1 {
		return fmt.Errorf("cluster: create topic %q: %d partitions declared, %d states given", t.Name, t.Partitions, len(parts))
	}
	seen := make([]bool, len(parts))
	for _, p := range parts {
		if p.Topic != t.Name || p.Partition < 0 || int(p.Partition) >= len(parts) || seen[p.Partition] {
			return fmt.Errorf("cluster: create topic %q: partition state %s-%d does not belong or is repeated", t.Name, p.Topic, p.Partition)
		}
		seen[p.Partition] = true
	}
	if len(parts)+1 > maxTxnOps {
		return s.createStaged(ctx, fence, t, parts)
	}
	return s.createInOneTxn(ctx, fence, t, parts)
}

// createInOneTxn creates t with parts in one transaction, if neither
// the topic nor a staged creation's claim exists; else it waits for the
// claim's outcome or returns ErrTopicExists.
func (s *EtcdStore) createInOneTxn(ctx context.Context, fence []clientv3.Cmp, t Topic, parts []PartitionState) error {
	ops := make([]clientv3.Op, 0, len(parts)+1)
	ops = append(ops, clientv3.OpPut(s.prefix+topicKey(t.Name), encodeTopic(t)))
	for _, p := range parts {
		ops = append(ops, clientv3.OpPut(s.prefix+partitionKey(p.Topic, p.Partition), encodePartition(p)))
	}
	for {
		ok, rev, err := s.txn(ctx, fence, s.nameFree(t.Name), ops)
		if err != nil {
			return fmt.Errorf("cluster: create topic %q: %w", t.Name, err)
		}
		if ok {
			s.settle(ctx, rev)
			return nil
		}
		// Taken, or claimed by a staged creation: wait for its outcome.
		if err := s.waitNameFree(ctx, t.Name); err != nil {
			return err
		}
	}
}

// AddPartitions implements PartitionAdder: the new partitions' states and
// the topic with its larger partition count, if the topic key has not
// changed since it was read, in one transaction (up to 127 partitions)
// or staged (addStaged).
func (s *EtcdStore) AddPartitions(ctx context.Context, topic string, parts []PartitionState) error {
	return s.addPartitions(ctx, nil, topic, parts)
}

func (s *EtcdStore) addPartitions(ctx context.Context, fence []clientv3.Cmp, topic string, parts []PartitionState) error {
	if err := checkTopicName(topic); err != nil {
		return err
	}
	if len(parts) == 0 {
		return fmt.Errorf("cluster: add partitions to %q: none given", topic)
	}
	key := s.prefix + topicKey(topic)
	resp, err := s.client.Get(ctx, key)
	if err != nil {
		return fmt.Errorf("cluster: add partitions to %q: %w", topic, err)
	}
	if len(resp.Kvs) == 0 {
		return fmt.Errorf("cluster: add partitions to %q: %w", topic, ErrUnknownTopic)
	}
	t, err := decodeTopic(topicKey(topic), resp.Kvs[0].Value)
	if err != nil {
		return err
	}
	if parts[0].Partition != t.Partitions {
		return fmt.Errorf("cluster: add partitions to %q: numbered from %d, the topic has %d: %w", topic, parts[0].Partition, t.Partitions, ErrConflict)
	}
	for i, p := range parts {
		if p.Topic != topic || p.Partition != t.Partitions+int32(i) {
			return fmt.Errorf("cluster: add partitions to %q: state %s-%d is not partition %d", topic, p.Topic, p.Partition, t.Partitions+int32(i))
		}
	}
	if len(parts)+1 > maxTxnOps {
		return s.addStaged(ctx, fence, t, resp.Kvs[0].ModRevision, parts)
	}
	ops := make([]clientv3.Op, 0, len(parts)+1)
	for _, p := range parts {
		ops = append(ops, clientv3.OpPut(s.prefix+partitionKey(topic, p.Partition), encodePartition(p)))
	}
	t.Partitions += int32(len(parts))
	ops = append(ops, clientv3.OpPut(key, encodeTopic(t)))
	cmps := []clientv3.Cmp{
		clientv3.Compare(clientv3.ModRevision(key), "=", resp.Kvs[0].ModRevision),
		clientv3.Compare(clientv3.CreateRevision(s.prefix+stagingKey(topic)), "=", 0),
	}
	ok, rev, err := s.txn(ctx, fence, cmps, ops)
	if err != nil {
		return fmt.Errorf("cluster: add partitions to %q: %w", topic, err)
	}
	if !ok {
		// The topic changed, or a staged growth holds it: read again
		// once no claim is held.
		if err := s.waitUnclaimed(ctx, topic, false); err != nil {
			return err
		}
		return fmt.Errorf("cluster: add partitions to %q: %w", topic, ErrConflict)
	}
	s.settle(ctx, rev)
	return nil
}

func (s *EtcdStore) deleteTopic(ctx context.Context, fence []clientv3.Cmp, name string) error {
	if err := checkTopicName(name); err != nil {
		return err
	}
	key := s.prefix + topicKey(name)
	cmps := []clientv3.Cmp{clientv3.Compare(clientv3.CreateRevision(key), ">", 0)}
	ops := []clientv3.Op{clientv3.OpDelete(key), clientv3.OpDelete(s.prefix+partitionsPrefix(name), clientv3.WithPrefix())}
	ok, rev, err := s.txn(ctx, fence, cmps, ops)
	if err != nil {
		return fmt.Errorf("cluster: delete topic %q: %w", name, err)
	}
	if !ok {
		return fmt.Errorf("cluster: delete topic %q: %w", name, ErrUnknownTopic)
	}
	s.settle(ctx, rev)
	return nil
}

func (s *EtcdStore) updatePartitions(ctx context.Context, fence []clientv3.Cmp, updates []PartitionUpdate) error {
	rev, err := s.commitPartitions(ctx, fence, updates)
	if err == nil && rev > 0 {
		s.settle(ctx, rev)
	}
	return err
}

// commitPartitions is updatePartitions without the wait for the
// Snapshot to show the write: it returns the write's revision (0 when
// there was nothing to write).
func (s *EtcdStore) commitPartitions(ctx context.Context, fence []clientv3.Cmp, updates []PartitionUpdate) (int64, error) {
	if len(updates) == 0 {
		return 0, nil
	}
	seen := make(map[TopicPartition]bool, len(updates))
	cmps := make([]clientv3.Cmp, 0, len(updates))
	ops := make([]clientv3.Op, 0, len(updates))
	for _, u := range updates {
		tp := u.Old.TP()
		if u.New.TP() != tp {
			return 0, fmt.Errorf("cluster: update partition %s-%d: new state names %s-%d", tp.Topic, tp.Partition, u.New.Topic, u.New.Partition)
		}
		if u.Old.Version <= 0 {
			return 0, fmt.Errorf("cluster: update partition %s-%d: old state has no version (not read from the store)", tp.Topic, tp.Partition)
		}
		if seen[tp] {
			return 0, fmt.Errorf("cluster: update partition %s-%d: updated twice in one call", tp.Topic, tp.Partition)
		}
		seen[tp] = true
		key := s.prefix + partitionKey(tp.Topic, tp.Partition)
		cmps = append(cmps, clientv3.Compare(clientv3.ModRevision(key), "=", u.Old.Version))
		ops = append(ops, clientv3.OpPut(key, encodePartition(u.New)))
	}
	ok, rev, err := s.partitionTxn(ctx, fence, cmps, ops)
	if err != nil {
		return 0, fmt.Errorf("cluster: update %d partitions: %w", len(updates), err)
	}
	if !ok {
		return 0, fmt.Errorf("cluster: update %d partitions: %w", len(updates), ErrConflict)
	}
	return rev, nil
}

// txn commits "if cmps then ops". With a fence (conditions that hold
// while the writer is still entitled to write: its registration, its
// controllership), the transaction is nested in one that checks the fence
// first, so one round trip tells ErrFenced from a lost compare.
func (s *EtcdStore) txn(ctx context.Context, fence, cmps []clientv3.Cmp, ops []clientv3.Op) (ok bool, rev int64, err error) {
	return s.txnOn(ctx, nil, fence, cmps, ops)
}

// errQuorumLeaderMoved is the cause a partition write in flight is
// cancelled with when the local member learns of a new raft leader.
var errQuorumLeaderMoved = errors.New("cluster: the metadata quorum's leader changed while the write was in flight")

// partitionTxn is txn for the controller's partition writes: sent
// through the raft leader's client (txnOn), and sent again if the raft
// leader changes before it is answered. A write that a member forwarded
// to a leader that has just died is lost with it, and etcd answers it
// only at its request timeout (5 s plus two election timeouts), while
// the new leader is known within an election: a failover's partition
// moves would wait those seconds. Sending it again is safe: the
// compares of a write that did commit unseen fail (ErrConflict) and the
// controller reads again, as after any lost compare.
func (s *EtcdStore) partitionTxn(ctx context.Context, fence, cmps []clientv3.Cmp, ops []clientv3.Op) (ok bool, rev int64, err error) {
	for {
		term := s.leader.term()
		if term == nil {
			return s.txnOn(ctx, nil, fence, cmps, ops)
		}
		wctx, cancel := context.WithCancelCause(ctx)
		stop := context.AfterFunc(term.ctx, func() { cancel(context.Cause(term.ctx)) })
		ok, rev, err = s.txnOn(wctx, term.ready(), fence, cmps, ops)
		stop()
		moved := errors.Is(context.Cause(wctx), errQuorumLeaderMoved)
		cancel(nil)
		if err == nil || !moved || ctx.Err() != nil {
			return ok, rev, err
		}
		s.log.Debug("cluster: the quorum leader changed while a partition write was in flight; sending it again", "err", err)
	}
}

// txnOn is txn sent through leader (LeaderClient.ready) when it is not
// nil, and through the store's client when it is, or when leader could
// not reach its member: the same transaction, to another member.
func (s *EtcdStore) txnOn(ctx context.Context, leader *clientv3.Client, fence, cmps []clientv3.Cmp, ops []clientv3.Op) (ok bool, rev int64, err error) {
	if leader != nil {
		ok, rev, err = txnVia(ctx, leader, fence, cmps, ops)
		if err == nil || !unreachable(err) || ctx.Err() != nil {
			return ok, rev, err
		}
		s.log.Debug("cluster: the quorum leader's client failed; writing through every member", "err", err)
	}
	return txnVia(ctx, s.client, fence, cmps, ops)
}

func txnVia(ctx context.Context, client *clientv3.Client, fence, cmps []clientv3.Cmp, ops []clientv3.Op) (ok bool, rev int64, err error) {
	if len(fence) == 0 {
		resp, err := client.Txn(ctx).If(cmps...).Then(ops...).Commit()
		if err != nil {
			return false, 0, err
		}
		return resp.Succeeded, resp.Header.Revision, nil
	}
	resp, err := client.Txn(ctx).If(fence...).Then(clientv3.OpTxn(cmps, ops, nil)).Commit()
	if err != nil {
		return false, 0, err
	}
	if !resp.Succeeded {
		return false, 0, ErrFenced
	}
	return resp.Responses[0].GetResponseTxn().Succeeded, resp.Header.Revision, nil
}

// settle waits, as long as ctx allows, until the Snapshot shows revision
// rev, so a writer reads its own write; the write is committed either way.
func (s *EtcdStore) settle(ctx context.Context, rev int64) {
	_, _ = s.WaitRevision(ctx, rev)
}

// fencedStore is a Store whose writes apply only while fence holds.
type fencedStore struct {
	*EtcdStore
	fence []clientv3.Cmp
}

var (
	_ Store           = fencedStore{}
	_ PartitionAdder  = fencedStore{}
	_ PartitionAdder  = (*EtcdStore)(nil)
	_ OrphanCollector = fencedStore{}
	_ OrphanCollector = (*EtcdStore)(nil)

	_ unsettledCommitter = fencedStore{}
	_ unsettledCommitter = (*EtcdStore)(nil)
)

func (f fencedStore) CreateTopic(ctx context.Context, t Topic, parts []PartitionState) error {
	return f.createTopic(ctx, f.fence, t, parts)
}

func (f fencedStore) AddPartitions(ctx context.Context, topic string, parts []PartitionState) error {
	return f.addPartitions(ctx, f.fence, topic, parts)
}

func (f fencedStore) CollectOrphans(ctx context.Context) (int, error) {
	return f.collectOrphans(ctx, f.fence)
}

func (f fencedStore) DeleteTopic(ctx context.Context, name string) error {
	return f.deleteTopic(ctx, f.fence, name)
}

func (f fencedStore) UpdatePartitions(ctx context.Context, updates []PartitionUpdate) error {
	return f.updatePartitions(ctx, f.fence, updates)
}

func (f fencedStore) commitUnsettled(ctx context.Context, updates []PartitionUpdate) (int64, error) {
	return f.commitPartitions(ctx, f.fence, updates)
}

// commitUnsettled implements unsettledCommitter.
func (s *EtcdStore) commitUnsettled(ctx context.Context, updates []PartitionUpdate) (int64, error) {
	return s.commitPartitions(ctx, nil, updates)
}
